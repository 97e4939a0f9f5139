"""The one small interface every power sensor implements, and the null sensor.

A sensor measures one device (a GPU, a CPU package, a DRAM domain). The monitor
calls it from one thread at a time (it holds a lock), so sensors keep plain state.

- ``energy_j(t)``: joules consumed since the sensor was created, read now. Counter
  sensors read their hardware counter; sensors without one integrate power samples
  up to ``t`` (the caller's monotonic clock), so every call adds a point.
- ``sample(t)``: power in watts now, for the trace; None when the sensor cannot
  give a power figure (then it is left out of the trace and of the peak).
- ``resolution_s``: a counter that advances only in steps this far apart (NVML's);
  0 for counters that are as good as continuous (RAPL) and for integrating sensors.
- ``power_integral_j(t)``: for such a counter, the integral of the sensor's own power
  readings up to ``t`` (method ``integral_method``), which the monitor uses for windows
  too short for the counter's steps; None where there is no such integral.
- ``component``: which metrics column its energy adds to ("gpu" -> ``gpu_energy_j``,
  "cpu_package" -> ``cpu_package_energy_j``, "dram" -> ``dram_energy_j``; "" for none).
- ``device_id``: the device as ``measured_devices`` names it, stable across processes and
  device orderings: "gpu:<NVML UUID>" for a GPU, "rapl:package-0" for a RAPL zone.

Any failure is raised as ``SensorError`` with a message that says why; the monitor
then drops the sensor for the rest of the run and warns once.
"""

from __future__ import annotations


class SensorError(Exception):
    """A sensor could not be read; the message says why in words a user understands."""


class Sensor:
    """Base class: one measured device."""

    kind: str = "null"  # "nvml" | "rapl" | "null": the backend, also used to group reasons
    name: str = ""  # label in the trace and in per-device results, e.g. "cuda:0"
    method: str = ""  # how energy is obtained, e.g. "nvml-energy-counter"
    detail: str = ""  # what exactly is read, for the sensor listing
    traces_power: bool = True  # False where sample() always returns None
    resolution_s: float = 0.0  # seconds between the energy counter's steps
    integral_method: str | None = None  # method of power_integral_j, where there is one
    component: str = ""  # "gpu" | "cpu_package" | "dram" | "": the per-component column it adds to

    @property
    def device_id(self) -> str:
        return self.name

    def energy_j(self, t: float) -> float:
        raise NotImplementedError

    def power_integral_j(self, t: float) -> float | None:
        return None

    def sample(self, t: float) -> float | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release whatever the sensor holds; never raises."""

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "device": self.name,
            "device_id": self.device_id,
            "available": True,
            "method": self.method,
            "detail": self.detail,
            "reason": None,
        }


class NullSensor(Sensor):
    """A sensor kind that is not available here, and why: it measures nothing.

    Discovery returns one for each kind it could not use, so the sensor listing
    (``PowerMonitor.describe()``, ``energybench power``) says why per kind.
    """

    traces_power = False

    def __init__(self, kind: str, reason: str, device: str | None = None) -> None:
        self.kind = kind
        self.reason = reason
        self.name = device or ""

    def energy_j(self, t: float) -> float:
        raise SensorError(self.reason)

    def sample(self, t: float) -> float | None:
        return None

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "device": self.name or None,
            "device_id": None,
            "available": False,
            "method": None,
            "detail": None,
            "reason": self.reason,
        }
