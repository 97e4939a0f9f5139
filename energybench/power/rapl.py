"""CPU package and DRAM energy from RAPL counters under /sys/class/powercap.

Which zones count: ``package-N`` zones and ``dram`` subzones, summed. Left out on
purpose, because they would count the same joules twice: ``core``/``uncore``
subzones (part of their package), ``psys`` (the whole platform, package and DRAM
included) and ``intel-rapl-mmio:*`` (the same package counter read over MMIO).
AMD Zen CPUs appear under the same ``intel-rapl`` names on Linux 5.17 and newer.

``energy_uj`` wraps to 0 after ``max_energy_range_uj``; a wrap is seen as a reading
below the previous one and corrected by adding the range. Two wraps between reads
cannot be told apart from one, so the sampler must read every zone well within one
wrap period (about 60 s for a package at 4 kW; the 10 Hz sampler reads every 0.1 s).

Since Linux 5.10 ``energy_uj`` is readable only by root (CVE-2020-8694); the
reason for an unreadable zone says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from energybench.power.sensor import NullSensor, Sensor, SensorError

POWERCAP_ROOT = Path("/sys/class/powercap")
RAPL_METHOD = "rapl-counter"

# intel-rapl:<socket> and intel-rapl:<socket>:<subzone>; not intel-rapl-mmio:*.
_ZONE_DIR = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


def _read_int(path: Path) -> int:
    with open(path, "rb") as f:
        return int(f.read().strip())


def _read_text(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class RaplZoneSensor(Sensor):
    """One RAPL zone's energy counter, extended past its wraparounds."""

    kind = "rapl"
    method = RAPL_METHOD

    def __init__(self, zone_dir: Path, label: str) -> None:
        self.name = f"rapl:{label}"
        self.component = "dram" if label.startswith("dram") else "cpu_package"
        self.detail = str(zone_dir)
        self._energy_path = zone_dir / "energy_uj"
        self._max_range_uj = _read_int(zone_dir / "max_energy_range_uj")
        if self._max_range_uj <= 0:
            raise ValueError(f"{zone_dir}/max_energy_range_uj is {self._max_range_uj}")
        self._last_uj = _read_int(self._energy_path)
        self._total_uj = 0
        self._tick: tuple[float, float] | None = None  # (t, energy) at the last sample

    def energy_j(self, t: float) -> float:
        try:
            raw = _read_int(self._energy_path)
        except (OSError, ValueError) as exc:
            raise SensorError(f"reading {self._energy_path} failed: {exc}") from exc
        delta = raw - self._last_uj
        if delta < 0:  # the counter wrapped past max_energy_range_uj
            delta += self._max_range_uj
        self._last_uj = raw
        self._total_uj += delta
        return self._total_uj / 1e6

    def sample(self, t: float) -> float | None:
        energy = self.energy_j(t)
        last, self._tick = self._tick, (t, energy)
        if last is None or t <= last[0]:
            return None  # a rate needs two readings
        return (energy - last[1]) / (t - last[0])


def _zone_dirs(root: Path) -> list[tuple[Path, int, int | None]]:
    """RAPL zone directories (both the flat symlink and the nested layout), deduplicated."""
    found: dict[Path, tuple[Path, int, int | None]] = {}
    candidates = list(root.glob("intel-rapl:*")) + list(root.glob("intel-rapl:*/intel-rapl:*"))
    for path in sorted(candidates):
        match = _ZONE_DIR.match(path.name)
        if match is None or not path.is_dir():
            continue
        socket, sub = int(match.group(1)), match.group(2)
        found.setdefault(path.resolve(), (path, socket, None if sub is None else int(sub)))
    return sorted(found.values(), key=lambda z: (z[1], -1 if z[2] is None else z[2]))


def _zone_label(name: str, socket: int, sub: int | None) -> str | None:
    """The label of a zone that counts, or None for zones that would double count."""
    if sub is None and name.startswith("package"):
        return name  # "package-0"
    if name == "dram":
        return f"dram-{socket}"
    return None  # psys, core, uncore, and anything unknown


def discover_rapl(root: Path | str = POWERCAP_ROOT) -> list[Sensor]:
    """Readable package/DRAM zones as sensors, plus a NullSensor for each reason a zone is not."""
    root = Path(root)
    if not root.is_dir():
        return [NullSensor("rapl", f"{root} does not exist: this kernel exposes no powercap "
                                   "(not Linux, or a container without /sys/class/powercap)")]
    zones = _zone_dirs(root)
    if not zones:
        return [NullSensor("rapl", f"no intel-rapl zone under {root}: the CPU or kernel has no "
                                   "RAPL driver (intel_rapl_msr)")]
    sensors: list[Sensor] = []
    denied: list[str] = []
    problems: list[Sensor] = []
    for path, socket, sub in zones:
        try:
            name = _read_text(path / "name")
        except OSError as exc:
            problems.append(NullSensor("rapl", f"{path}/name: {exc.strerror or exc}"))
            continue
        label = _zone_label(name, socket, sub)
        if label is None:
            continue
        try:
            sensors.append(RaplZoneSensor(path, label))
        except PermissionError:
            denied.append(path.name)
        except (OSError, ValueError) as exc:
            problems.append(
                NullSensor("rapl", f"cannot read {path}/energy_uj: {exc}", f"rapl:{label}"))
    if denied:
        problems.insert(0, NullSensor(
            "rapl",
            f"permission denied reading energy_uj of {', '.join(denied)} under {root} (since "
            "Linux 5.10 RAPL energy is readable only by root: run as root or grant read "
            "access to those energy_uj files)",
        ))
    if not sensors and not problems:
        problems.append(NullSensor("rapl", f"no package or dram zone under {root}"))
    # Readable zones first; unreadable ones stay listed so the user learns why.
    return sensors + problems
