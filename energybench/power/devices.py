"""Which power sensors measure a run: the device a run names (auto, cpu, cuda, cuda:N), and
the sensors found for it (NVML GPUs, RAPL zones), with a NullSensor saying why for each kind
that is unavailable or left out on purpose. Discovery never raises: a failing library is a
NullSensor too."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from energybench.power.sensor import NullSensor, Sensor

KINDS = {"nvml": "GPU", "rapl": "CPU package and DRAM"}  # sensor kinds, as notes name them

_DEVICE = re.compile(r"^([a-z_]+)(?::(\d+))?$")


def parse_power_device(device) -> tuple[str, int | None]:
    """("auto", None), ("cpu", None) or ("cuda", ordinal or None) from a string or torch.device.

    Device types other than cuda (mps, xpu, ...) measure the host only, like "cpu".
    Raises ValueError for text that is not a device.
    """
    text = str(device).strip().lower()
    match = _DEVICE.match(text)
    if match is None:
        raise ValueError(f"not a device: {device!r} (expected auto, cpu, cuda or cuda:N)")
    kind, index = match.group(1), match.group(2)
    if kind == "auto" and index is None:
        return "auto", None
    if kind == "cuda":
        return "cuda", None if index is None else int(index)
    if kind == "auto":
        raise ValueError(f"not a device: {device!r} (expected auto, cpu, cuda or cuda:N)")
    return "cpu", None


def find_sensors(kind: str, ordinal: int | None, exclude: Mapping[str, str], given: Sequence[Sensor] | None,
                 find_gpus: Callable, find_rapl: Callable, powercap_root: Path | str) -> tuple[list[Sensor],
                                                                                             list[NullSensor]]:
    """(measuring sensors, NullSensors of the kinds that are not) for a parsed device. `given`
    replaces discovery; `find_gpus(ordinals or None)` and `find_rapl(root)` discover (passed in,
    so the monitor's module names them and tests can replace them there)."""
    if "rapl" in exclude:  # a package to leave out only where there is one: else why it is unmeasured is its own
        rapl = [s for s in given if s.kind == "rapl"] if given is not None else \
            _guarded("rapl", lambda: find_rapl(powercap_root))
        if all(isinstance(s, NullSensor) for s in rapl):
            exclude = {k: v for k, v in exclude.items() if k != "rapl"}
    if given is not None:
        found = [s for s in given if s.kind not in exclude]
    else:
        found = []
        if kind != "cpu" and "nvml" not in exclude:
            found += _guarded("nvml", lambda: find_gpus(None if kind == "auto" else [_cuda_ordinal(ordinal)]))
        if "rapl" not in exclude:
            found += _guarded("rapl", lambda: find_rapl(powercap_root))
    found += [NullSensor(k, reason) for k, reason in exclude.items() if k == "rapl" or kind != "cpu"]
    return ([s for s in found if not isinstance(s, NullSensor)], [s for s in found if isinstance(s, NullSensor)])


def _guarded(kind: str, find: Callable[[], list[Sensor]]) -> list[Sensor]:
    try:
        return find()
    except Exception as exc:  # a discovery bug must not stop the run
        return [NullSensor(kind, f"sensor discovery failed: {type(exc).__name__}: {exc}")]


def _cuda_ordinal(ordinal: int | None) -> int:
    """The GPU a run on "cuda" measures: the one named, else torch's current device."""
    if ordinal is not None:
        return ordinal
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return torch.cuda.current_device()
    except Exception:
        pass
    return 0
