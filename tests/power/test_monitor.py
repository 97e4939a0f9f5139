"""PowerMonitor: windows, results, idle baseline, trace file, failures; with scripted sensors."""

from __future__ import annotations

import csv
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

from energybench.power import monitor as power
from energybench.power.monitor import (
    POWER_FIELDS,
    PowerMeasurementWarning,
    PowerMonitor,
    append_power_trace,
    empty_power_result,
    parse_power_device,
)
from energybench.power.rapl import RaplZoneSensor
from energybench.power.sampler import Sampler
from energybench.power.sensor import NullSensor, Sensor, SensorError


class ConstantSensor(Sensor):
    """Draws `watts` (which a test may change); energy integrates it over the clock the monitor
    passes in, piecewise constant between reads."""

    def __init__(self, name: str, watts: float, method: str = "fake-counter", component: str = "",
                 kind: str = "fake") -> None:
        self.name, self.watts, self.method, self.kind = name, watts, method, kind
        self.component = component
        self.detail = "scripted"
        self.broken: str | None = None
        self.t0: float | None = None
        self.energy = 0.0
        self.closed = False

    def energy_j(self, t: float) -> float:
        if self.broken:
            raise SensorError(self.broken)
        if self.t0 is not None and t > self.t0:
            self.energy += self.watts * (t - self.t0)
        self.t0 = t if self.t0 is None else max(self.t0, t)
        return self.energy

    def sample(self, t: float) -> float | None:
        if self.broken:
            raise SensorError(self.broken)
        return self.watts

    def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(power, "_warned", set())


def power_warnings(caught) -> list[str]:
    return [str(c.message) for c in caught if issubclass(c.category, PowerMeasurementWarning)]


def test_window_result_has_exactly_the_metric_fields() -> None:
    clock = FakeClock()
    gpu = ConstantSensor("cuda:0", 300.0)
    cpu = ConstantSensor("rapl:package-0", 50.0, "rapl-counter")
    with PowerMonitor("cuda:0", sensors=[gpu, cpu], clock=clock, rate_hz=1000, idle_seconds=0) as monitor:
        with monitor.window("phase 0") as w:
            clock.advance(2.0)
            time.sleep(0.05)  # let the sampler tick at least once inside the window
    assert tuple(w.result) == POWER_FIELDS
    assert w.result["measured_energy_j"] == 700.0
    assert w.result["measured_energy_method"] == "fake-counter+rapl-counter"
    assert w.result["mean_power_w"] == 350.0
    assert w.result["peak_power_w"] == 350.0
    assert w.result["idle_power_w"] is None and w.result["measured_energy_above_idle_j"] is None
    assert w.result["measured_note"] == "no idle baseline (idle_seconds 0), so no above-idle energy"
    assert w.result["measured_devices"] == "cuda:0+rapl:package-0"  # fakes: named as they are
    assert w.summary["per_device_energy_j"] == {"cuda:0": 600.0, "rapl:package-0": 100.0}
    assert w.summary["duration_s"] == 2.0 and w.summary["samples"] >= 1
    assert gpu.closed and cpu.closed


def test_no_sensor_gives_empty_fields_and_one_warning() -> None:
    nulls = [NullSensor("nvml", "no driver"), NullSensor("rapl", "no powercap")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # a second monitor in the same process: no second warning
            with PowerMonitor("auto", sensors=nulls) as monitor:
                with monitor.window("phase 0") as w:
                    pass
    assert w.result == empty_power_result("not measured: nvml: no driver; rapl: no powercap")
    assert all(w.result[k] is None for k in POWER_FIELDS if k != "measured_note")  # never 0
    assert monitor.record()["idle_baseline"] is None and monitor.record()["measured_devices"] == []
    assert w.summary["duration_s"] is not None
    (message,) = power_warnings(caught)
    assert "no driver" in message and "no powercap" in message
    assert not monitor.available
    assert [d["reason"] for d in monitor.describe()] == ["no driver", "no powercap"]


def idle_then(clock: FakeClock, sensors: list[ConstantSensor], busy: list[float]):
    """A sleep for the monitor's idle baseline: the fake clock advances over it, then the
    sensors draw their `busy` power (training starts)."""
    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        for sensor, watts in zip(sensors, busy):
            sensor.energy_j(clock())  # the idle stretch is integrated at idle power
            sensor.watts = watts
    return sleep


def test_idle_baseline_is_taken_by_default_and_subtracted() -> None:
    clock = FakeClock()
    gpu = ConstantSensor("cuda:0", 40.0, component="gpu")
    cpu = ConstantSensor("rapl:package-0", 10.0, "rapl-counter", component="cpu_package")
    with PowerMonitor("cuda:0", sensors=[gpu, cpu], clock=clock,
                      sleep=idle_then(clock, [gpu, cpu], [100.0, 25.0])) as monitor:
        with monitor.window("phase 0") as w:
            clock.advance(10.0)
            w.samples = 500
    assert monitor.idle_seconds == power.DEFAULT_IDLE_SECONDS  # nobody asked for it
    assert w.result["idle_power_w"] == 50.0
    assert w.result["measured_energy_j"] == 1250.0
    assert w.result["measured_energy_above_idle_j"] == 1250.0 - 50.0 * 10.0
    assert (w.result["gpu_energy_j"], w.result["cpu_package_energy_j"]) == (1000.0, 250.0)
    assert w.result["dram_energy_j"] is None  # no DRAM zone: empty, not 0, and the note says why
    assert w.result["measured_note"] == "DRAM not measured: RAPL has no readable dram zone here"
    assert w.result["measured_energy_per_sample_j"] == 2.5
    baseline = monitor.record()["idle_baseline"]
    assert baseline["seconds"] == 3.0 and baseline["duration_s"] == 3.0 and baseline["mean_w"] == 50.0
    assert baseline["per_device_w"] == {"cuda:0": 40.0, "rapl:package-0": 10.0}


def test_idle_seconds_0_turns_the_baseline_off() -> None:
    clock = FakeClock()
    sensor = ConstantSensor("cuda:0", 100.0)
    slept = []
    with PowerMonitor("cuda:0", sensors=[sensor], clock=clock, idle_seconds=0, sleep=slept.append) as monitor:
        with monitor.window("phase 0") as w:
            clock.advance(1.0)
    assert slept == [] and w.result["measured_energy_j"] == 100.0
    assert w.result["idle_power_w"] is None and w.result["measured_energy_above_idle_j"] is None
    record = monitor.record()
    assert record["idle_baseline"] is None and "idle_seconds 0" in record["idle_note"]


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
def test_no_baseline_is_waited_for_without_a_sensor() -> None:
    slept = []
    with PowerMonitor("cpu", sensors=[NullSensor("rapl", "no powercap")], sleep=slept.append) as monitor:
        pass
    assert slept == [] and monitor.record()["idle_note"] == "no sensor, so no idle baseline"


def test_idle_baseline_records_mean_and_spread_of_the_readings() -> None:
    class Alternating(ConstantSensor):  # readings 38, 42, 38, ... around a 40 W mean
        readings = 0

        def sample(self, t):
            self.readings += 1
            return 38.0 if self.readings % 2 else 42.0

    sensor = Alternating("cuda:0", 40.0)
    with PowerMonitor("cuda:0", sensors=[sensor], idle_seconds=0.3, rate_hz=100) as monitor:
        pass
    baseline = monitor.idle_baseline
    assert baseline["mean_w"] == pytest.approx(40.0)  # from the energy: 40 W over the real clock
    assert (baseline["min_w"], baseline["max_w"]) == (38.0, 42.0)
    assert baseline["std_w"] == pytest.approx(2.0, abs=0.2) and baseline["readings"] >= 10
    assert baseline["duration_s"] >= 0.3 and baseline["spread_of"] == "cuda:0"


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
def test_excluded_kind_is_not_measured_and_says_why() -> None:
    clock = FakeClock()
    gpu = ConstantSensor("cuda:0", 100.0, kind="nvml", component="gpu")
    cpu = ConstantSensor("rapl:package-0", 30.0, kind="rapl", component="cpu_package")
    with PowerMonitor("cuda:0", sensors=[gpu, cpu], clock=clock, idle_seconds=0,
                      exclude={"rapl": "3 runs share this host"}) as monitor:
        with monitor.window("cell") as w:
            clock.advance(2.0)
    assert w.result["measured_energy_j"] == w.result["gpu_energy_j"] == 200.0
    assert w.result["cpu_package_energy_j"] is None
    assert w.result["measured_note"].startswith("CPU package and DRAM not measured: 3 runs share this host")
    assert [d["reason"] for d in monitor.describe() if not d["available"]] == ["3 runs share this host"]
    with pytest.raises(ValueError, match="valid kinds: nvml, rapl"):
        PowerMonitor(exclude={"gpu": "no"})


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
def test_excluding_a_package_the_host_lacks_says_the_hosts_own_reason(monkeypatch) -> None:
    """Ray leaves the CPU package out where cells share it; a host with no RAPL at all says that instead
    (a user would otherwise take --workers 1 for the way to a measurement)."""
    import energybench.power.monitor as monitor_module
    from energybench.power.sensor import NullSensor

    monkeypatch.setattr(monitor_module, "discover_rapl", lambda root: [NullSensor("rapl", "no powercap zones here")])
    with PowerMonitor("cpu", idle_seconds=0, exclude={"rapl": "other cells share it (Ray)"}) as monitor:
        pass
    assert [d["reason"] for d in monitor.describe() if not d["available"]] == ["no powercap zones here"]
    cpu = ConstantSensor("rapl:package-0", 30.0, kind="rapl", component="cpu_package")
    monkeypatch.setattr(monitor_module, "discover_rapl", lambda root: [cpu])  # a package there: left out, said why
    with PowerMonitor("cpu", idle_seconds=0, exclude={"rapl": "other cells share it (Ray)"}) as monitor:
        pass
    assert [d["reason"] for d in monitor.describe() if not d["available"]] == ["other cells share it (Ray)"]


def test_sensor_failing_mid_run_is_dropped_and_warned_once() -> None:
    clock = FakeClock()
    gpu = ConstantSensor("cuda:0", 300.0)
    cpu = ConstantSensor("rapl:package-0", 50.0, "rapl-counter")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with PowerMonitor("cuda:0", sensors=[gpu, cpu], clock=clock, rate_hz=200, idle_seconds=0) as monitor:
            with monitor.window("phase 0") as w0:
                clock.advance(1.0)
                cpu.broken = "energy_uj vanished"
                time.sleep(0.03)  # the sampler trips over it
            with monitor.window("phase 1") as w1:
                clock.advance(1.0)
            gpu.broken = "GPU is lost"
            with monitor.window("phase 2") as w2:
                clock.advance(1.0)
    assert w0.result["measured_energy_j"] == 300.0  # the GPU, over the whole window
    assert w0.result["measured_energy_method"] == "fake-counter"
    assert w0.result["measured_devices"] == "cuda:0"
    assert "rapl:package-0 not measured: it failed during the run (energy_uj vanished)" in w0.result["measured_note"]
    assert w1.result["measured_energy_j"] == 300.0
    assert w2.result == empty_power_result(
        "not measured: every sensor failed (cuda:0: GPU is lost; rapl:package-0: energy_uj vanished)")
    messages = power_warnings(caught)
    assert len(messages) == 2
    assert "rapl:package-0" in messages[0] and "energy_uj vanished" in messages[0]
    assert "cuda:0" in messages[1] and "GPU is lost" in messages[1]


def test_nested_windows_share_the_sampler() -> None:
    clock = FakeClock()
    sensor = ConstantSensor("cuda:0", 10.0)
    with PowerMonitor("cuda:0", sensors=[sensor], clock=clock, idle_seconds=0) as monitor:
        with monitor.window("cell") as cell:
            with monitor.window("phase 0") as p0:
                clock.advance(1.0)
            with monitor.window("phase 1") as p1:
                clock.advance(2.0)
    assert (p0.result["measured_energy_j"], p1.result["measured_energy_j"]) == (10.0, 20.0)
    assert cell.result["measured_energy_j"] == 30.0


def test_trace_is_appended_across_windows(tmp_path: Path) -> None:
    trace = tmp_path / "run" / "power_trace.csv"
    sensor = ConstantSensor("cuda:0", 123.0)
    with PowerMonitor("cuda:0", sensors=[sensor], rate_hz=200, trace_path=trace, idle_seconds=0) as monitor:
        with monitor.window("phase 0"):
            time.sleep(0.05)
        with trace.open() as f:
            first = list(csv.DictReader(f))
        with monitor.window("phase 1"):
            time.sleep(0.05)
    with trace.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["time_s", "device", "watts"]
    assert first and len(rows) > len(first) and rows[: len(first)] == first
    assert {r["device"] for r in rows} == {"cuda:0"} and {r["watts"] for r in rows} == {"123.000"}
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 60  # Unix time
    assert [p.name for p in trace.parent.iterdir()] == ["power_trace.csv"]  # no temp file left


def test_append_power_trace_is_atomic(tmp_path: Path, monkeypatch) -> None:
    trace = tmp_path / "power_trace.csv"
    append_power_trace(trace, [(1.0, "cuda:0", 2.0)])
    before = trace.read_text()

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        append_power_trace(trace, [(2.0, "cuda:0", 3.0)])
    assert trace.read_text() == before == "time_s,device,watts\n1.000,cuda:0,2.000\n"
    assert [p.name for p in tmp_path.iterdir()] == ["power_trace.csv"]


def test_monitor_reads_a_fake_powercap_tree(tmp_path: Path) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("0\n")
    (zone / "max_energy_range_uj").write_text("1000000000\n")
    dram = tmp_path / "intel-rapl:0" / "intel-rapl:0:0"
    dram.mkdir()
    (dram / "name").write_text("dram\n")
    (dram / "energy_uj").write_text("100\n")
    (dram / "max_energy_range_uj").write_text("1000000000\n")
    with PowerMonitor("cpu", powercap_root=tmp_path, idle_seconds=0) as monitor:
        assert [d["device"] for d in monitor.describe()] == ["rapl:package-0", "rapl:dram-0"]
        with monitor.window("phase 0") as w:
            (zone / "energy_uj").write_text("7250000\n")
            (dram / "energy_uj").write_text("1500100\n")
    assert w.result["measured_energy_j"] == 8.75
    assert (w.result["cpu_package_energy_j"], w.result["dram_energy_j"], w.result["gpu_energy_j"]) == (7.25, 1.5, None)
    assert w.result["measured_devices"] == "rapl:package-0+rapl:dram-0"
    assert w.result["measured_energy_method"] == "rapl-counter"
    assert isinstance(monitor._sensors[0], RaplZoneSensor)


@pytest.mark.parametrize("device, parsed", [
    ("auto", ("auto", None)), ("cpu", ("cpu", None)), ("cuda", ("cuda", None)),
    ("cuda:3", ("cuda", 3)), (" CUDA:1 ", ("cuda", 1)), ("mps", ("cpu", None)),
])
def test_parse_power_device(device, parsed) -> None:
    assert parse_power_device(device) == parsed


def test_parse_power_device_accepts_torch_devices() -> None:
    torch = pytest.importorskip("torch")
    assert parse_power_device(torch.device("cuda", 2)) == ("cuda", 2)
    assert parse_power_device(torch.device("cpu")) == ("cpu", None)


@pytest.mark.parametrize("device", ["cuda:x", "gpu 0", "auto:1", ""])
def test_parse_power_device_rejects_text(device) -> None:
    with pytest.raises(ValueError):
        parse_power_device(device)


def test_bad_rate_and_idle_are_value_errors() -> None:
    with pytest.raises(ValueError):
        PowerMonitor(rate_hz=0)
    with pytest.raises(ValueError):
        PowerMonitor(idle_seconds=-1)
    with pytest.raises(ValueError):
        PowerMonitor(idle_seconds=float("nan"))


def test_sampler_keeps_its_rate_and_counts_its_cpu_time() -> None:
    ticks: list[float] = []
    sampler = Sampler(ticks.append, rate_hz=100)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    assert not sampler.running
    assert 15 <= len(ticks) <= 40 and sampler.ticks == len(ticks)
    assert 0 < sampler.cpu_time_s < 0.3
