"""Measured power and energy: sensors (NVML GPUs, RAPL CPU packages and DRAM), device discovery
(devices.py), a sampler thread, the idle baseline (idle.py), the power trace file (trace.py),
and the measurement window that turns them into energy per window (monitor.py).

``monitor.py`` is the entry point (``PowerMonitor``); the sensors hide their libraries
behind ``sensor.Sensor``. Nothing here imports the op counter or the cost model.
"""
