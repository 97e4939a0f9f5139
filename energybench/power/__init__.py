"""Measured power and energy: sensors (NVML GPUs, RAPL CPU packages and DRAM), a sampler
thread, the power trace file, and the monitor that turns them into energy per window.

``monitor.py`` is the entry point (``PowerMonitor``); the sensors hide their libraries
behind ``sensor.Sensor``. Nothing here imports the op counter or the cost model.
"""
