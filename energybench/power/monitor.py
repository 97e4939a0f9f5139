"""Live power measurement: energy per window (phase, sweep cell) and a power trace. This module
is the measurement window; the sensors are found by devices.py, the idle baseline is computed
by idle.py and the trace file written by trace.py (their names are importable from here too).

Usage::

    from energybench.power.monitor import PowerMonitor, POWER_FIELDS

    monitor = PowerMonitor(device="cuda:0", rate_hz=10.0,
                           trace_path=run_dir / "power_trace.csv")
    monitor.start()           # finds sensors, starts the sampler, then (when a sensor exists)
                              #   blocks idle_seconds (default DEFAULT_IDLE_SECONDS; 0: off)
                              #   measuring idle power; never raises for missing sensors
    with monitor.window("phase 0") as w:   # synchronises CUDA at both edges
        ...                   # training
        w.samples = n         # training samples processed (for measured_energy_per_sample_j)
    row.update(w.result)      # exactly POWER_FIELDS; every value None where nothing was measured,
                              #   except measured_note, which then says why
    w.summary                 # result + label, duration_s, per_device_energy_j, samples
    monitor.record()          # for the manifest: devices measured, sensors, idle baseline
    monitor.close()           # stops the sampler, flushes the trace, releases NVML

Start the monitor after the model is on its CUDA device: with CUDA initialised the
GPU is matched to NVML by UUID, exact even when CUDA_DEVICE_ORDER is not PCI order.

``PowerMonitor`` is also a context manager (start on enter, close on exit), and
``window()`` starts it if needed. ``monitor.describe()`` lists each sensor found and,
for each kind that is unavailable, why (the ``energybench power`` command prints it).

What is measured: ``device`` "cpu" measures the CPU packages and DRAM through RAPL;
"cuda" / "cuda:N" / a torch.device measures that one GPU (the current CUDA device for
"cuda"; matched to NVML by UUID) through NVML plus RAPL; "auto" measures every visible
GPU plus RAPL. ``exclude={"rapl": "why"}`` leaves a kind of sensor out on purpose (a
host shared with other runs) and the reason shows wherever its columns are empty.

The columns (POWER_FIELDS): ``measured_energy_j`` is the sum over the sensors;
``gpu_energy_j``, ``cpu_package_energy_j`` and ``dram_energy_j`` split it by component
(each None where no sensor of that component measured the window, never 0);
``measured_devices`` names them ("gpu:GPU-<uuid>+rapl:package-0+rapl:dram-0");
``measured_energy_method`` says how ("nvml-energy-counter",
"nvml-instant-power-trapezoid", "nvml-average-power-trapezoid", "rapl-counter",
joined with "+" when mixed); ``measured_energy_per_sample_j`` is measured_energy_j over
the window's ``samples``; ``measured_note`` says why something is empty (a sensor kind
not available or excluded, a sensor that failed, no idle baseline), None when nothing is.

A counter that advances in steps (NVML's, every 100 ms on an H100) measures only
windows at least ``COUNTER_MIN_STEPS`` steps long; shorter windows integrate the
sensor's power readings (the sampler's and one at each edge) and the method string
says so. ``mean_power_w`` is energy / window duration;
``peak_power_w`` the highest summed sampler reading inside the window (None for a
window shorter than one sampling period); ``idle_power_w`` the idle baseline measured
by ``start()`` over ``idle_seconds`` before any window (None when off), and
``measured_energy_above_idle_j`` is energy minus idle power times duration, not clamped
at 0 (within the baseline's spread it can be slightly negative). The baseline's duration,
mean, spread (std, min, max of the summed readings) and per-device power are in
``monitor.idle_baseline`` and ``record()``.

Failure is never fatal: a missing library, driver, GPU or permission, or a sensor
that fails mid-run, leaves the fields None (never 0) and emits one
``PowerMeasurementWarning`` per cause. A sensor that fails is dropped from the window
it failed in onwards; those windows measure the others and their method string says
which. RAPL and NVML count whole devices: other processes on them are included.

The sampler thread reads every sensor ``rate_hz`` times a second into the trace
(``power_trace.csv``: time_s as Unix time, device, watts), appended atomically at
the end of every window and on close. RAPL needs these regular reads to see its
counter wrap around, so keep ``rate_hz`` at 1 Hz or more.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from energybench.power import rapl as power_rapl
from energybench.power.devices import KINDS, find_sensors, parse_power_device
from energybench.power.idle import idle_baseline
from energybench.power.nvml import discover_gpus
from energybench.power.rapl import discover_rapl
from energybench.power.sampler import Sampler
from energybench.power.sensor import NullSensor, Sensor, SensorError
from energybench.power.trace import TRACE_COLUMNS, append_power_trace

__all__ = [
    "POWER_FIELDS",
    "TRACE_COLUMNS",
    "PowerMeasurementWarning",
    "PowerMonitor",
    "PowerWindow",
    "Sensor",
    "NullSensor",
    "SensorError",
    "append_power_trace",
    "empty_power_result",
    "parse_power_device",
]

# The columns a run's metrics.csv gains, in order.
POWER_FIELDS = (
    "measured_energy_j",
    "measured_energy_method",
    "mean_power_w",
    "peak_power_w",
    "idle_power_w",
    "measured_energy_above_idle_j",
    "gpu_energy_j",
    "cpu_package_energy_j",
    "dram_energy_j",
    "measured_energy_per_sample_j",
    "measured_devices",
    "measured_note",
)
# Sensor.component -> the column its energy adds to.
COMPONENT_FIELDS = {"gpu": "gpu_energy_j", "cpu_package": "cpu_package_energy_j", "dram": "dram_energy_j"}

# The idle baseline when none is asked for and a sensor exists: an H100's energy counter
# needs 1 s (10 steps) and its idle power settles within a second of the CUDA context
# opening; 3 s also gives a 10 Hz sampler 30 readings for the spread.
DEFAULT_IDLE_SECONDS = 3.0

# A stepping energy counter (NVML's) is used only for windows at least this many steps
# long: its error is at most one step at each edge, so under ~10% even for the shortest
# (about 3% on average at steady power); shorter windows integrate power readings.
COUNTER_MIN_STEPS = 10

_warned: set[str] = set()  # causes already warned about in this process


class PowerMeasurementWarning(RuntimeWarning):
    """Power could not be measured (fully or in part); the message says why."""


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, PowerMeasurementWarning, stacklevel=2)


def empty_power_result(note: str | None = None) -> dict:
    """The POWER_FIELDS row of a run or window where nothing was measured, and why."""
    return {**dict.fromkeys(POWER_FIELDS), "measured_note": note}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _significant(value: float | None, digits: int = 6) -> float | None:
    """Per-sample energies are millijoules or less: keep significant digits, not decimals."""
    return None if value is None else float(f"{value:.{digits}g}")


class PowerWindow:
    """One measured stretch of the run; ``result`` is filled when the ``with`` block ends."""

    def __init__(self, monitor: PowerMonitor, label: str) -> None:
        self.label = label
        self.samples: int | None = None  # training samples processed, set inside the block
        self.result: dict = empty_power_result()
        self.summary: dict = {"label": label, **self.result, "duration_s": None,
                              "per_device_energy_j": {}, "samples": 0}
        self._monitor = monitor
        self._t0: float | None = None
        self._e0: list[tuple[float, float | None] | None] = []
        self._tick0 = 0

    def __enter__(self) -> PowerWindow:
        self._monitor._open_window(self)
        return self

    def __exit__(self, *exc_info) -> None:
        self._monitor._close_window(self)


class PowerMonitor:
    """Samples the run's power sensors on a background thread and measures windows."""

    def __init__(
        self,
        device="auto",
        rate_hz: float = 10.0,
        idle_seconds: float | None = None,
        trace_path: Path | str | None = None,
        *,
        exclude: Mapping[str, str] | None = None,
        sensors: Sequence[Sensor] | None = None,
        powercap_root: Path | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``idle_seconds`` None: DEFAULT_IDLE_SECONDS when a sensor exists; 0: no baseline.
        ``exclude`` maps sensor kinds ("nvml", "rapl") not to measure to the reason why.
        ``sensors`` replaces discovery (tests, benchmarks); ``powercap_root`` moves RAPL
        (default: /sys/class/powercap); ``clock`` and ``sleep`` drive the idle baseline."""
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        if idle_seconds is not None and not (idle_seconds >= 0 and math.isfinite(idle_seconds)):
            raise ValueError(f"idle_seconds must be a finite number >= 0 or None, got {idle_seconds}")
        unknown = sorted(set(exclude or ()) - set(KINDS))
        if unknown:
            raise ValueError(f"exclude: unknown sensor kind {unknown[0]!r}; valid kinds: {', '.join(KINDS)}")
        self.device = device
        self._kind, self._ordinal = parse_power_device(device)
        self.rate_hz = float(rate_hz)
        self.idle_seconds = DEFAULT_IDLE_SECONDS if idle_seconds is None else float(idle_seconds)
        self.trace_path = None if trace_path is None else Path(trace_path)
        self._exclude = dict(exclude or {})
        self._given = None if sensors is None else list(sensors)
        self._powercap_root = powercap_root
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # guards sensors and ticks: sampler vs. window edges
        self._trace_lock = threading.Lock()  # one trace append at a time
        self._sensors: list[Sensor] = []  # measuring sensors; index-aligned with tick values
        self._failed: list[str | None] = []  # why sensor i stopped, or None while it works
        self._unavailable: list[NullSensor] = []
        self._discovered = False
        self._sampler: Sampler | None = None
        self._ticks: list[tuple[float, tuple[float | None, ...]]] = []
        self._tick_base = 0  # absolute index of self._ticks[0]
        self._flushed = 0  # absolute index of the first tick not yet in the trace file
        self._open: list[PowerWindow] = []
        self._idle_w: list[float | None] | None = None  # per sensor, index-aligned
        self.idle_baseline: dict | None = None  # duration, mean, spread, per device (record())
        self._idle_note: str | None = None  # why there is no baseline
        self._epoch_offset = time.time() - clock()
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> PowerMonitor:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> PowerMonitor:
        """Find sensors, start sampling, measure the idle baseline if asked. Never raises
        for a missing or failing sensor."""
        if self._started:
            return self
        self._started = True
        self._discover()
        self._warn_unavailable()
        if not self._sensors:
            return self
        self._sampler = Sampler(self._tick, self.rate_hz, self._clock)
        self._sampler.start()
        if self.idle_seconds > 0:
            self._measure_idle()
        else:
            self._idle_note = "no idle baseline (idle_seconds 0), so no above-idle energy"
        return self

    def close(self) -> None:
        """Stop the sampler, flush the trace, release the sensors. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._sampler is not None:
            self._sampler.stop()
        self._flush_trace()
        for sensor in self._sensors:
            sensor.close()

    def window(self, label: str) -> PowerWindow:
        """A context manager measuring energy between entering and leaving it; windows
        may nest (a sweep cell around its phases)."""
        return PowerWindow(self, label)

    # -- what there is -----------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether any sensor is measuring."""
        self._discover()
        return any(reason is None for reason in self._failed)

    def describe(self) -> list[dict]:
        """One dict per sensor (kind, device, available, method, detail, reason), sensors
        that measure first, then each unavailable kind or device with the reason."""
        self._discover()
        out = []
        for sensor, failure in zip(self._sensors, self._failed):
            entry = sensor.describe()
            if failure is not None:
                entry.update(available=False, reason=f"failed during the run: {failure}")
            out.append(entry)
        return out + [null.describe() for null in self._unavailable]

    def record(self) -> dict:
        """What a run's manifest says about measurement: the devices measured (by
        ``device_id``), every sensor found or why a kind is missing, the sampling rate and
        the idle baseline (None, with ``idle_note`` saying why, when there is none)."""
        self._discover()
        return {
            "measured_devices": [s.device_id for s, failure in zip(self._sensors, self._failed)
                                 if failure is None],
            "sensors": self.describe(),
            "rate_hz": self.rate_hz,
            "idle_baseline": self.idle_baseline,
            "idle_note": None if self.idle_baseline is not None else (
                self._idle_note or "no sensor, so no idle baseline"),
        }

    @property
    def sampler_cpu_time_s(self) -> float:
        """CPU time the sampler thread has used so far (for the overhead benchmark)."""
        return 0.0 if self._sampler is None else self._sampler.cpu_time_s

    @property
    def sampler_ticks(self) -> int:
        return 0 if self._sampler is None else self._sampler.ticks

    # -- internals ---------------------------------------------------------------

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        root = power_rapl.POWERCAP_ROOT if self._powercap_root is None else self._powercap_root
        self._sensors, self._unavailable = find_sensors(self._kind, self._ordinal, self._exclude, self._given,
                                                        discover_gpus, discover_rapl, root)
        self._failed = [None] * len(self._sensors)

    def _warn_unavailable(self) -> None:
        if not self._sensors:
            reasons = "; ".join(f"{n.kind}: {n.reason}" for n in self._unavailable)
            _warn_once("no power sensor is available, so measured energy and power stay empty "
                       f"({reasons or 'no sensor was given'})")
            return
        for null in self._unavailable:
            what = "GPU" if null.kind == "nvml" else "CPU/DRAM"
            _warn_once(f"{what} energy is not measured: {null.reason}")

    def _notes(self, used: list[int], idle: float | None) -> str | None:
        """Why some of a window's columns are empty (None when none is for a reason)."""
        if not used:
            if not self._sensors:
                reasons = "; ".join(f"{n.kind}: {n.reason}" for n in self._unavailable)
                return f"not measured: {reasons or 'no power sensor'}"
            failures = "; ".join(f"{s.name}: {f}" for s, f in zip(self._sensors, self._failed) if f)
            return f"not measured: every sensor failed ({failures or 'no reading'})"
        notes = []
        for null in self._unavailable:
            where = f"{KINDS.get(null.kind, null.kind)}{' ' + null.name if null.name else ''}"
            notes.append(f"{where} not measured: {null.reason}")
        for i, sensor in enumerate(self._sensors):
            if i not in used:
                notes.append(f"{sensor.name} not measured: it failed during the run "
                             f"({self._failed[i] or 'no reading'})")
        components = {self._sensors[i].component for i in used}
        if "cpu_package" in components and "dram" not in components:
            notes.append("DRAM not measured: RAPL has no readable dram zone here")
        if idle is None:
            notes.append(self._idle_note or "no idle baseline for every measured sensor, so no above-idle energy")
        return "; ".join(notes) or None

    def _fail(self, i: int, exc: Exception) -> None:
        sensor = self._sensors[i]
        reason = str(exc) if isinstance(exc, SensorError) else f"{type(exc).__name__}: {exc}"
        self._failed[i] = reason
        _warn_once(f"power sensor {sensor.name} stopped working and is left out from now on: "
                   f"{reason}")

    def _tick(self, t: float) -> None:
        with self._lock:
            values = []
            for i, sensor in enumerate(self._sensors):
                watts = None
                if self._failed[i] is None:
                    try:
                        watts = sensor.sample(t)
                    except Exception as exc:
                        self._fail(i, exc)
                values.append(watts)
            self._ticks.append((t, tuple(values)))

    def _energies(self, t: float) -> list[tuple[float, float | None] | None]:
        """Every working sensor's cumulative (energy, power integral) now; None for failed
        ones. Holds the lock."""
        out: list[tuple[float, float | None] | None] = []
        for i, sensor in enumerate(self._sensors):
            reading = None
            if self._failed[i] is None:
                try:
                    reading = (sensor.energy_j(t), sensor.power_integral_j(t))
                except Exception as exc:
                    self._fail(i, exc)
            out.append(reading)
        return out

    def _delta(self, i: int, start: tuple, end: tuple, duration: float) -> tuple[float, str]:
        """Sensor i's energy between two readings and how it was obtained: its counter, unless
        the stretch spans fewer than COUNTER_MIN_STEPS of the counter's steps and the power
        integral exists (a stepping counter can read 0 J, or a whole step, for a short one)."""
        sensor = self._sensors[i]
        if (start[1] is not None and end[1] is not None
                and duration < COUNTER_MIN_STEPS * sensor.resolution_s):
            return end[1] - start[1], sensor.integral_method
        return end[0] - start[0], sensor.method

    def _sync_cuda(self) -> None:
        """Wait for queued GPU work so it lands in the window that launched it."""
        if self._kind == "auto" or self._kind == "cpu":
            return
        torch = sys.modules.get("torch")  # a run on CUDA has imported torch already
        try:
            if torch is not None and torch.cuda.is_initialized():
                torch.cuda.synchronize(None if self._ordinal is None else self._ordinal)
        except Exception:
            pass  # a broken context surfaces in the training code, not here

    def _open_window(self, window: PowerWindow) -> None:
        self.start()
        if self._closed or not self._sensors:
            window._t0 = self._clock()  # still timed, so the summary has a duration
            return
        self._sync_cuda()
        with self._lock:
            window._t0 = self._clock()
            window._e0 = self._energies(window._t0)
            window._tick0 = self._tick_base + len(self._ticks)
            self._open.append(window)

    def _close_window(self, window: PowerWindow) -> None:
        if window not in self._open:  # the monitor had no sensor or was already closed
            note = "not measured: the power monitor was closed" if self._closed else self._notes([], None)
            window.result = empty_power_result(note)
            window.summary.update(window.result)
            if window._t0 is not None:
                window.summary["duration_s"] = _round(self._clock() - window._t0, 4)
            return
        self._sync_cuda()
        with self._lock:
            t1 = self._clock()
            e1 = self._energies(t1)
            ticks = self._ticks[window._tick0 - self._tick_base:]
            self._open.remove(window)
            window.result, window.summary = self._measure(window, t1, e1, ticks)
        self._flush_trace()

    def _measure(self, window: PowerWindow, t1: float, e1: list[tuple | None],
                 ticks: list[tuple[float, tuple]]) -> tuple[dict, dict]:
        duration = t1 - window._t0
        used = [i for i, (a, b) in enumerate(zip(window._e0, e1))
                if a is not None and b is not None and self._failed[i] is None]
        idle = None
        if used and self._idle_w is not None and all(self._idle_w[i] is not None for i in used):
            idle = sum(self._idle_w[i] for i in used)
        result = empty_power_result(self._notes(used, idle))
        summary = {"label": window.label, **result, "duration_s": _round(duration, 4),
                   "per_device_energy_j": {}, "samples": len(ticks)}
        if not used:
            return result, summary
        deltas = {i: self._delta(i, window._e0[i], e1[i], duration) for i in used}
        per_device = {self._sensors[i].name: deltas[i][0] for i in used}
        energy = sum(per_device.values())
        traced = [i for i in used if self._sensors[i].traces_power]
        sums = [sum(values[i] for i in traced) for _, values in ticks
                if traced and all(values[i] is not None for i in traced)]
        for component, field in COMPONENT_FIELDS.items():
            parts = [deltas[i][0] for i in used if self._sensors[i].component == component]
            result[field] = _round(sum(parts)) if parts else None
        result.update(
            measured_energy_j=_round(energy),
            measured_energy_method="+".join(dict.fromkeys(deltas[i][1] for i in used)),
            mean_power_w=_round(energy / duration) if duration > 0 else None,
            peak_power_w=_round(max(sums)) if sums else None,
            idle_power_w=_round(idle),
            measured_energy_above_idle_j=None if idle is None else _round(energy - idle * duration),
            measured_energy_per_sample_j=_significant(energy / window.samples) if window.samples else None,
            measured_devices="+".join(dict.fromkeys(self._sensors[i].device_id for i in used)),
        )
        summary.update(result)
        summary["per_device_energy_j"] = {k: _round(v) for k, v in per_device.items()}
        return result, summary

    def _measure_idle(self) -> None:
        """Per-sensor idle power over ``idle_seconds``, before any window, and the spread of
        the summed power readings the sampler took meanwhile."""
        self._sync_cuda()
        with self._lock:
            t0 = self._clock()
            e0 = self._energies(t0)
            k0 = self._tick_base + len(self._ticks)  # no window is open: nothing is dropped
        self._sleep(self.idle_seconds)
        with self._lock:
            t1 = self._clock()
            e1 = self._energies(t1)
            ticks = self._ticks[k0 - self._tick_base:]
        self._idle_w, self.idle_baseline, self._idle_note = idle_baseline(
            self.idle_seconds, t1 - t0, e0, e1, ticks, self._sensors, self._delta)

    def _flush_trace(self) -> None:
        """Append the ticks not yet written to the trace, then forget what no window needs."""
        with self._trace_lock:
            self._flush_trace_locked()

    def _flush_trace_locked(self) -> None:
        with self._lock:
            start = self._flushed - self._tick_base
            pending = self._ticks[start:] if self.trace_path is not None else []
            self._flushed = self._tick_base + len(self._ticks)
            keep_from = min((w._tick0 for w in self._open), default=self._flushed)
            drop = max(0, keep_from - self._tick_base)
            del self._ticks[:drop]
            self._tick_base += drop
            names = [s.name for s in self._sensors]
            offset = self._epoch_offset
        if not pending:
            return
        rows = [(t + offset, names[i], watts) for t, values in pending
                for i, watts in enumerate(values) if watts is not None]
        try:
            append_power_trace(self.trace_path, rows)
        except OSError as exc:
            _warn_once(f"cannot write the power trace {self.trace_path}: {exc}")
