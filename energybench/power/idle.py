"""The idle baseline: each sensor's power before any window, from two energy readings
`idle_seconds` apart, and the spread of the summed power readings the sampler took meanwhile
(what `measured_energy_above_idle_j` subtracts, and what the manifest records)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from energybench.power.sensor import Sensor


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def idle_baseline(seconds: float, dt: float, e0: list, e1: list, ticks: list[tuple[float, tuple]],
                  sensors: Sequence[Sensor], delta: Callable) -> tuple[list[float | None], dict | None, str | None]:
    """(idle watts per sensor, None where it could not be read; the baseline's record, None
    when no sensor was read; why some or all sensors have no baseline, None when all do).
    `e0`, `e1`: each sensor's (energy, power integral) at the edges (None: failed); `ticks`:
    the sampler's (time, per-sensor watts) in between; `delta(i, start, end, dt)` -> (joules, method)."""
    idle_w = [None if a is None or b is None or dt <= 0 else delta(i, a, b, dt)[0] / dt
              for i, (a, b) in enumerate(zip(e0, e1))]
    measured = [i for i, w in enumerate(idle_w) if w is not None]
    if not measured:
        return idle_w, None, ("no idle baseline: no sensor could be read over it" if dt > 0 else
                              "no idle baseline: the clock did not advance over it")
    traced = [i for i in measured if sensors[i].traces_power]
    sums = [sum(values[i] for i in traced) for _, values in ticks
            if traced and all(values[i] is not None for i in traced)]
    baseline = {
        "seconds": seconds,
        "duration_s": _round(dt, 4),
        "mean_w": _round(sum(idle_w[i] for i in measured)),
        "std_w": _round(statistics.pstdev(sums)) if len(sums) >= 2 else None,
        "min_w": _round(min(sums)) if sums else None,
        "max_w": _round(max(sums)) if sums else None,
        "readings": len(sums),
        "per_device_w": {sensors[i].device_id: _round(idle_w[i]) for i in measured},
        "spread_of": "+".join(sensors[i].name for i in traced) or None,
    }
    note = None
    if len(measured) < len(sensors):
        note = ("no idle baseline for " + ", ".join(sensors[i].name for i in range(len(sensors)) if i not in measured)
                + ": it could not be read over the baseline")
    return idle_w, baseline, note
