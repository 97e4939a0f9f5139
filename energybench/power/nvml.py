"""NVIDIA GPU energy through NVML (the nvidia-ml-py bindings, imported as ``pynvml``).

How energy is obtained, best first; the chosen way is the sensor's ``method``:

- ``nvml-energy-counter``: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since the
  driver loaded; Volta and newer) read at window edges. Exact over long windows, but
  the counter advances in steps: on an H100 every 100 ms, by that 100 ms's energy
  (benchmarks/nvml_counter_probe.py). The sensor measures its update period at start
  (``resolution_s``) and also integrates its power readings, so the monitor can use
  the integral for windows too short for the counter (a 40 ms phase read 0 J).
- ``nvml-instant-power-trapezoid``: ``NVML_FI_DEV_POWER_INSTANT`` through
  ``nvmlDeviceGetFieldValues``, integrated with the trapezoid rule over the
  sampler's readings. Needed where the counter is not supported, and preferred over
  ``nvmlDeviceGetPowerUsage``, which on Ampere and newer is a 1-second average.
- ``nvml-average-power-trapezoid``: ``nvmlDeviceGetPowerUsage`` integrated likewise,
  on drivers that lack the instant field.

The power trace uses the instant field where it works, else the averaged value.

Only the GPUs the run uses are measured. A CUDA ordinal is mapped to an NVML device
through the UUIDs torch reports when CUDA is already initialised (exact even when
CUDA_DEVICE_ORDER differs from NVML's PCI order), else through CUDA_VISIBLE_DEVICES,
parsed as the CUDA driver does: indices, ``GPU-`` UUIDs and unique UUID prefixes;
the list ends at the first entry that names no device. MIG slices are refused: NVML
reports power only for the whole GPU, which other MIG instances share.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Sequence

from energybench.power.sensor import NullSensor, Sensor, SensorError

COUNTER_METHOD = "nvml-energy-counter"
_FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT, for bindings that predate the name
_POWER_SCOPE_GPU = 0  # NVML_POWER_SCOPE_GPU
_MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE
# How long discovery watches the energy counter for two steps: 100 ms steps (H100) need
# at most 0.2 s. A counter still unchanged after this counts as stepping this slowly.
COUNTER_PROBE_S = 0.5
_DIGITS = re.compile(r"^\d+$")
_UUID_PREFIX = re.compile(r"^(GPU-)?[0-9a-fA-F][0-9a-fA-F-]*$")


class MigVisibleError(Exception):
    """CUDA_VISIBLE_DEVICES names MIG slices, whose power NVML cannot tell apart."""


def visible_nvml_indices(visible: str | None, nvml_uuids: Sequence[str]) -> list[int]:
    """NVML indices of the GPUs CUDA sees, in CUDA ordinal order.

    ``visible`` is CUDA_VISIBLE_DEVICES (None when unset); ``nvml_uuids[i]`` is the
    UUID of NVML device ``i`` ("GPU-...").
    """
    if visible is None:
        return list(range(len(nvml_uuids)))
    indices: list[int] = []
    for entry in (e.strip() for e in visible.split(",")):
        if entry.startswith("MIG-"):
            raise MigVisibleError(entry)
        if _DIGITS.match(entry):
            index = int(entry)
            if index >= len(nvml_uuids):
                break  # CUDA stops at the first index that names no device
        elif _UUID_PREFIX.match(entry):
            prefix = entry.lower() if entry.startswith("GPU-") else "gpu-" + entry.lower()
            matches = [i for i, u in enumerate(nvml_uuids) if u.lower().startswith(prefix)]
            if len(matches) != 1:
                break  # unknown or ambiguous prefix: CUDA stops there too
            index = matches[0]
        else:
            break  # e.g. "-1" or "none": nothing from here on is visible
        if index in indices:
            return []  # CUDA treats a repeated device as an invalid list: no GPU visible
        indices.append(index)
    return indices


def _torch_uuids(ordinals: Sequence[int]) -> list[str] | None:
    """NVML-style UUIDs of the given CUDA ordinals, when torch has CUDA initialised."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return None
        return [f"GPU-{torch.cuda.get_device_properties(o).uuid}" for o in ordinals]
    except Exception:  # any torch trouble: fall back to CUDA_VISIBLE_DEVICES
        return None


def _as_str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field_number(value) -> float:
    """The number in an nvmlFieldValue_t, whatever its value type."""
    member = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
    vt = int(value.valueType)
    return float(getattr(value.value, member[vt] if 0 <= vt < len(member) else "uiVal"))


class NvmlGpuSensor(Sensor):
    """One GPU: energy from the counter or integrated power, power from NVML."""

    kind = "nvml"
    component = "gpu"

    def __init__(self, nvml, handle, label: str, detail: str,
                 use_counter: bool, power_source: str | None, resolution_s: float = 0.0,
                 uuid: str | None = None) -> None:
        self._nvml = nvml
        self._handle = handle
        self.name = label
        self.detail = detail
        self.uuid = uuid  # NVML's "GPU-..." UUID: names the board whatever the CUDA ordinal
        self._use_counter = use_counter
        self._power_source = power_source  # "instant" | "average" | None
        self.traces_power = power_source is not None
        integral = None if power_source is None else f"nvml-{power_source}-power-trapezoid"
        self.method = COUNTER_METHOD if use_counter else integral
        # Beside a stepping counter, the power integral serves windows too short for it.
        self.integral_method = integral if use_counter else None
        self.resolution_s = resolution_s if use_counter else 0.0
        self._counter0 = self._counter_mj() if use_counter else 0
        self._last_counter = self._counter0
        nvml.nvmlInit()  # NVML is reference counted: this sensor holds one reference
        self._open = True
        self._integral_j = 0.0
        self._last: tuple[float, float] | None = None  # (t, watts) of the last power reading

    @property
    def device_id(self) -> str:
        return f"gpu:{self.uuid}" if self.uuid else self.name

    def _counter_mj(self) -> int:
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    def _power_w(self) -> float:
        nvml = self._nvml
        if self._power_source == "instant":
            field = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", _FI_POWER_INSTANT)
            value = nvml.nvmlDeviceGetFieldValues(self._handle, [(field, _POWER_SCOPE_GPU)])[0]
            if value.nvmlReturn != nvml.NVML_SUCCESS:
                raise nvml.NVMLError(value.nvmlReturn)
            return _field_number(value) / 1000.0  # mW
        return nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0  # mW

    def _integrate(self, t: float, watts: float) -> float:
        if self._last is not None and t > self._last[0]:
            self._integral_j += (self._last[1] + watts) / 2.0 * (t - self._last[0])
        if self._last is None or t >= self._last[0]:
            self._last = (t, watts)
        return self._integral_j

    def energy_j(self, t: float) -> float:
        try:
            if self._use_counter:
                counter = self._counter_mj()
                if counter < self._last_counter:
                    raise SensorError(f"{self.name}: the NVML energy counter went backwards "
                                      "(driver reloaded or GPU reset)")
                self._last_counter = counter
                return (counter - self._counter0) / 1000.0
            return self._integrate(t, self._power_w())
        except self._nvml.NVMLError as exc:
            raise SensorError(f"{self.name}: NVML read failed: {exc}") from exc

    def power_integral_j(self, t: float) -> float | None:
        if not self._use_counter or self._power_source is None:
            return None  # without a counter, energy_j is the integral already
        try:
            return self._integrate(t, self._power_w())
        except self._nvml.NVMLError as exc:
            raise SensorError(f"{self.name}: NVML read failed: {exc}") from exc

    def sample(self, t: float) -> float | None:
        if self._power_source is None:
            return None
        try:
            watts = self._power_w()
        except self._nvml.NVMLError as exc:
            raise SensorError(f"{self.name}: NVML read failed: {exc}") from exc
        self._integrate(t, watts)
        return watts

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


def _nvml_start_reason(nvml, exc: Exception) -> str:
    value = getattr(exc, "value", None)
    if value == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", None):
        return "the NVML library (libnvidia-ml.so.1) was not found: no NVIDIA driver is installed"
    if value == getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", None):
        return "the NVIDIA driver is not loaded (NVML: Driver Not Loaded)"
    if value == getattr(nvml, "NVML_ERROR_NO_PERMISSION", None):
        return "NVML refused access (Insufficient Permissions) to the NVIDIA driver"
    return f"NVML could not start: {exc}"


def _import_nvml():
    """The official bindings, or a reason why they cannot be used."""
    try:
        import pynvml
    except ImportError:
        return None, "the nvidia-ml-py package (module pynvml) is not installed"
    if not hasattr(pynvml, "_nvmlGetFunctionPointer"):
        return None, ("an unofficial 'pynvml' package shadows nvidia-ml-py: "
                      "pip uninstall pynvml && pip install nvidia-ml-py")
    return pynvml, None


def _probe(nvml, handle) -> tuple[bool, str | None]:
    """Whether the energy counter works, and the best power reading that does."""
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        use_counter = True
    except nvml.NVMLError:  # NotSupported before Volta, and on some virtual GPUs
        use_counter = False
    try:
        field = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", _FI_POWER_INSTANT)
        value = nvml.nvmlDeviceGetFieldValues(handle, [(field, _POWER_SCOPE_GPU)])[0]
        if value.nvmlReturn == nvml.NVML_SUCCESS:
            return use_counter, "instant"
    except nvml.NVMLError:
        pass
    try:
        nvml.nvmlDeviceGetPowerUsage(handle)
        return use_counter, "average"
    except nvml.NVMLError:
        return use_counter, None


def counter_update_period(nvml, handle, limit_s: float | None = None) -> float:
    """Seconds between the energy counter's steps, timed between two steps seen by polling
    (one NVML read takes ~4 ms on an H100); the limit (default COUNTER_PROBE_S) when fewer
    than two are seen."""
    limit_s = COUNTER_PROBE_S if limit_s is None else limit_s
    t_end = time.perf_counter() + limit_s
    last, steps = nvml.nvmlDeviceGetTotalEnergyConsumption(handle), []
    while (t := time.perf_counter()) < t_end and len(steps) < 2:
        value = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        if value != last:
            steps.append(t)
            last = value
    return steps[1] - steps[0] if len(steps) == 2 else limit_s


def _mig_enabled(nvml, handle) -> bool:
    try:
        return nvml.nvmlDeviceGetMigMode(handle)[0] == _MIG_ENABLED
    except (nvml.NVMLError, AttributeError):  # NotSupported: a GPU without MIG
        return False


def discover_gpus(ordinals: Sequence[int] | None = None) -> list[Sensor]:
    """GPU sensors for the given CUDA ordinals (None: every visible GPU).

    Never raises: each GPU or cause that cannot be measured becomes a NullSensor
    whose reason says why.
    """
    nvml, reason = _import_nvml()
    if nvml is None:
        return [NullSensor("nvml", reason)]
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return [NullSensor("nvml", _nvml_start_reason(nvml, exc))]
    try:
        return _discover(nvml, ordinals)
    except nvml.NVMLError as exc:
        return [NullSensor("nvml", f"NVML failed while listing GPUs: {exc}")]
    finally:
        try:
            nvml.nvmlShutdown()  # each sensor holds its own reference
        except nvml.NVMLError:
            pass


def _discover(nvml, ordinals: Sequence[int] | None) -> list[Sensor]:
    count = nvml.nvmlDeviceGetCount()
    if count == 0:
        return [NullSensor("nvml", "NVML is installed but reports no GPU")]
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    uuids = [_as_str(nvml.nvmlDeviceGetUUID(h)) for h in handles]
    visible_env = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        visible = visible_nvml_indices(visible_env, uuids)
    except MigVisibleError as exc:
        return [NullSensor("nvml", f"CUDA_VISIBLE_DEVICES names a MIG slice ({exc}): NVML reports "
                                   "power only for the whole GPU, shared by every MIG instance")]
    if not visible:
        return [NullSensor("nvml", f"CUDA_VISIBLE_DEVICES={visible_env!r} hides every GPU")]
    if any(_mig_enabled(nvml, handles[i]) for i in visible):
        return [NullSensor("nvml", "MIG mode is enabled on a visible GPU: NVML reports power only "
                                   "for the whole GPU, shared by every MIG instance")]
    wanted = list(range(len(visible))) if ordinals is None else list(ordinals)
    from_torch = _torch_uuids(wanted)
    if from_torch is not None and all(u in uuids for u in from_torch):
        mapping = {o: uuids.index(u) for o, u in zip(wanted, from_torch)}
    else:
        mapping = {o: visible[o] for o in wanted if 0 <= o < len(visible)}
    sensors: list[Sensor] = []
    for ordinal in wanted:
        label = f"cuda:{ordinal}"
        if ordinal not in mapping:
            reason = (f"{label} is not a visible GPU ({len(visible)} visible, "
                      f"CUDA_VISIBLE_DEVICES={visible_env!r})")
            sensors.append(NullSensor("nvml", reason, label))
            continue
        index = mapping[ordinal]
        handle = handles[index]
        use_counter, power_source = _probe(nvml, handle)
        if not use_counter and power_source is None:
            sensors.append(NullSensor("nvml", f"{label} (NVML index {index}) supports neither the "
                                              "energy counter nor power readings", label))
            continue
        try:
            model = _as_str(nvml.nvmlDeviceGetName(handle))
        except nvml.NVMLError:
            model = "NVIDIA GPU"
        detail = f"{model}, NVML index {index}, {uuids[index]}"
        try:
            resolution = counter_update_period(nvml, handle) if use_counter else 0.0
            if use_counter:
                detail += f", energy counter steps every {resolution * 1e3:.0f} ms"
            sensors.append(NvmlGpuSensor(nvml, handle, label, detail, use_counter, power_source,
                                         resolution, uuids[index]))
        except nvml.NVMLError as exc:
            sensors.append(NullSensor("nvml", f"{label}: NVML read failed: {exc}", label))
    return sensors
