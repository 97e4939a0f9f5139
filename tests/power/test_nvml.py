"""NVML GPU sensors, with pynvml patched at its function boundary (as Zeus's tests do)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import pynvml
import pytest

from energybench.power import monitor as power
from energybench.power import nvml as power_nvml
from energybench.power.monitor import PowerMeasurementWarning, PowerMonitor
from energybench.power.nvml import MigVisibleError, discover_gpus, visible_nvml_indices
from energybench.power.sensor import NullSensor, SensorError

UUIDS = [
    "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6",
    "GPU-12345678-aaaa-bbbb-cccc-000000000001",
    "GPU-12345678-aaaa-bbbb-cccc-000000000002",
]


@dataclass
class FakeGpu:
    uuid: str
    counter_mj: int | None = 0  # None: NotSupported
    instant_mw: list[int] | None = None  # successive instant readings; None: field unsupported
    average_mw: int | None = 250_000  # None: NotSupported
    mig: bool = False
    fail: type | None = None  # once set, every read raises this NVMLError class
    calls: list[str] = field(default_factory=list)


class FakeNvml:
    """Patches the pynvml functions the sensors call; state lives in FakeGpu objects."""

    def __init__(self, monkeypatch, gpus: list[FakeGpu]) -> None:
        self.gpus = gpus
        self.inits = 0
        self.init_error: type | None = None
        patch = lambda name, fn: monkeypatch.setattr(pynvml, name, fn)  # noqa: E731
        patch("nvmlInit", self.init)
        patch("nvmlShutdown", self.shutdown)
        patch("nvmlDeviceGetCount", lambda: len(self.gpus))
        patch("nvmlDeviceGetHandleByIndex", lambda i: self.gpus[i])
        patch("nvmlDeviceGetUUID", lambda h: h.uuid)
        patch("nvmlDeviceGetName", lambda h: "NVIDIA H100 80GB HBM3")
        patch("nvmlDeviceGetMigMode", self.mig_mode)
        patch("nvmlDeviceGetTotalEnergyConsumption", self.energy)
        patch("nvmlDeviceGetFieldValues", self.field_values)
        patch("nvmlDeviceGetPowerUsage", self.power_usage)
        # CUDA is not initialised in these tests; make sure the torch path stays out.
        monkeypatch.setattr(power_nvml, "_torch_uuids", lambda ordinals: None)
        # The fake counter moves only when a test moves it: give it a known step period
        # (0: as good as continuous) instead of timing it.
        self.counter_period_s = 0.0
        monkeypatch.setattr(power_nvml, "counter_update_period", lambda nvml, h: self.counter_period_s)

    def init(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.inits += 1

    def shutdown(self) -> None:
        self.inits -= 1

    @staticmethod
    def _check(gpu: FakeGpu) -> None:
        if gpu.fail is not None:
            raise gpu.fail()

    def mig_mode(self, gpu: FakeGpu):
        if not gpu.mig:
            raise pynvml.NVMLError_NotSupported()
        return [pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE]

    def energy(self, gpu: FakeGpu) -> int:
        self._check(gpu)
        gpu.calls.append("energy")
        if gpu.counter_mj is None:
            raise pynvml.NVMLError_NotSupported()
        return gpu.counter_mj

    def field_values(self, gpu: FakeGpu, fields):
        self._check(gpu)
        values = (pynvml.c_nvmlFieldValue_t * len(fields))()
        for i, (field_id, scope) in enumerate(fields):
            assert field_id == pynvml.NVML_FI_DEV_POWER_INSTANT and scope == 0
            values[i].fieldId = field_id
            values[i].valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
            if gpu.instant_mw is None:
                values[i].nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
            else:
                values[i].nvmlReturn = pynvml.NVML_SUCCESS
                reading = gpu.instant_mw.pop(0) if len(gpu.instant_mw) > 1 else gpu.instant_mw[0]
                values[i].value.uiVal = reading
        gpu.calls.append("instant")
        return values

    def power_usage(self, gpu: FakeGpu) -> int:
        self._check(gpu)
        gpu.calls.append("average")
        if gpu.average_mw is None:
            raise pynvml.NVMLError_NotSupported()
        return gpu.average_mw


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(power, "_warned", set())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


# -- CUDA_VISIBLE_DEVICES ----------------------------------------------------------


@pytest.mark.parametrize("visible, expected", [
    (None, [0, 1, 2]),
    ("2,0", [2, 0]),
    (" 1 ", [1]),
    ("1,7,0", [1]),  # an index past the last GPU ends the list
    ("0,-1,2", [0]),  # so does -1
    ("", []),
    ("0,0", []),  # a repeated device makes the whole list invalid
    ("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", [0]),
    ("GPU-8932f937", [0]),  # abbreviated UUID
    ("GPU-12345678-aaaa-bbbb-cccc-000000000002,GPU-8932", [2, 0]),
    ("8932f937", [0]),  # UUID without the GPU- prefix
    ("GPU-12345678", []),  # ambiguous prefix names no device
    ("GPU-8932f937,GPU-ffff", [0]),
])
def test_visible_devices_map_to_nvml_indices(visible, expected) -> None:
    assert visible_nvml_indices(visible, UUIDS) == expected


def test_mig_slices_are_refused() -> None:
    with pytest.raises(MigVisibleError):
        visible_nvml_indices("MIG-GPU-8932f937-d72c-4106-c12f-20bd9faed9f6/1/2", UUIDS)


def test_discovery_measures_only_the_run_gpu_by_index(monkeypatch) -> None:
    FakeNvml(monkeypatch, [FakeGpu(u) for u in UUIDS])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,1")
    (sensor,) = discover_gpus([1])
    assert sensor.name == "cuda:1" and "NVML index 1" in sensor.detail


def test_discovery_maps_uuids(monkeypatch) -> None:
    FakeNvml(monkeypatch, [FakeGpu(u) for u in UUIDS])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES",
                       "GPU-12345678-aaaa-bbbb-cccc-000000000002,GPU-8932f937")
    sensors = discover_gpus(None)
    assert [(s.name, s.detail.split(", ")[1]) for s in sensors] == [
        ("cuda:0", "NVML index 2"), ("cuda:1", "NVML index 0")]


def test_ordinal_past_the_visible_gpus_is_a_reason(monkeypatch) -> None:
    FakeNvml(monkeypatch, [FakeGpu(u) for u in UUIDS])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    (null,) = discover_gpus([1])
    assert isinstance(null, NullSensor) and "cuda:1 is not a visible GPU" in null.reason


def test_mig_mode_gpu_is_refused(monkeypatch) -> None:
    FakeNvml(monkeypatch, [FakeGpu(UUIDS[0], mig=True)])
    (null,) = discover_gpus(None)
    assert isinstance(null, NullSensor) and "MIG" in null.reason


# -- energy paths ------------------------------------------------------------------


def test_counter_path(monkeypatch) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=5_000_000, instant_mw=[300_000])
    fake = FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])
    assert sensor.method == "nvml-energy-counter"
    assert fake.inits == 1  # discovery released its own NVML reference
    gpu.counter_mj += 123_456
    assert sensor.energy_j(1.0) == 123.456
    assert sensor.sample(1.0) == 300.0  # the trace still gets instant power
    sensor.close()
    assert fake.inits == 0


def test_instant_power_trapezoid_is_exact(monkeypatch) -> None:
    # Piecewise-linear power: 100 W at t=0, 200 W at t=1 and t=3, 50 W at t=4, 50 W at t=6.
    gpu = FakeGpu(UUIDS[0], counter_mj=None,
                  instant_mw=[999_000, 100_000, 200_000, 200_000, 50_000, 50_000])
    FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])  # the probe reads (and discards) one value
    assert sensor.method == "nvml-instant-power-trapezoid"
    assert sensor.energy_j(0.0) == 0.0
    assert sensor.sample(1.0) == 200.0
    assert sensor.sample(3.0) == 200.0
    assert sensor.energy_j(4.0) == 150.0 + 400.0 + 125.0
    assert sensor.energy_j(6.0) == 675.0 + 100.0
    assert "average" not in gpu.calls[1:]  # never the 1-second average when instant works


def test_not_supported_falls_back_to_average_power(monkeypatch) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=None, instant_mw=None, average_mw=80_000)
    FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])
    assert sensor.method == "nvml-average-power-trapezoid"
    sensor.energy_j(10.0)
    assert sensor.energy_j(12.5) == 200.0


def test_counter_without_power_readings_measures_but_does_not_trace(monkeypatch) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=0, instant_mw=None, average_mw=None)
    FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])
    assert sensor.method == "nvml-energy-counter" and not sensor.traces_power
    assert sensor.sample(1.0) is None


def test_gpu_without_any_reading_is_a_reason(monkeypatch) -> None:
    FakeNvml(monkeypatch, [FakeGpu(UUIDS[0], counter_mj=None, instant_mw=None, average_mw=None)])
    (null,) = discover_gpus([0])
    assert isinstance(null, NullSensor) and "neither" in null.reason


@pytest.mark.parametrize("error, words", [
    (pynvml.NVMLError_LibraryNotFound, "libnvidia-ml.so.1"),
    (pynvml.NVMLError_DriverNotLoaded, "driver is not loaded"),
])
def test_nvml_that_cannot_start_is_a_reason(monkeypatch, error, words) -> None:
    fake = FakeNvml(monkeypatch, [])
    fake.init_error = error
    (null,) = discover_gpus(None)
    assert isinstance(null, NullSensor) and words in null.reason


def test_sensor_error_mid_run(monkeypatch) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=0, instant_mw=[100_000])
    FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])
    gpu.fail = pynvml.NVMLError_GpuIsLost
    with pytest.raises(SensorError, match="GPU is lost"):
        sensor.energy_j(1.0)
    with pytest.raises(SensorError, match="GPU is lost"):
        sensor.sample(1.0)


def test_counter_going_backwards_is_an_error(monkeypatch) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=10_000)
    FakeNvml(monkeypatch, [gpu])
    (sensor,) = discover_gpus([0])
    gpu.counter_mj = 5
    with pytest.raises(SensorError, match="backwards"):
        sensor.energy_j(1.0)


# -- through the monitor -------------------------------------------------------------


def test_monitor_measures_the_gpu_and_survives_it_failing(monkeypatch, tmp_path) -> None:
    gpu = FakeGpu(UUIDS[1], counter_mj=1_000, instant_mw=[200_000])
    fake = FakeNvml(monkeypatch, [FakeGpu(UUIDS[0]), gpu])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monitor = PowerMonitor("cuda:0", rate_hz=50, idle_seconds=0, powercap_root=tmp_path / "no-rapl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.start()
        with monitor.window("phase 0") as w0:
            gpu.counter_mj += 2_500
        gpu.fail = pynvml.NVMLError_GpuIsLost
        with monitor.window("phase 1") as w1:
            pass
        with monitor.window("phase 2") as w2:
            pass
        monitor.close()
    assert w0.result["measured_energy_j"] == 2.5
    assert w0.result["measured_energy_method"] == "nvml-energy-counter"
    for w in (w1, w2):  # never a zero for "not measured", and a note that says why
        assert all(w.result[k] is None for k in power.POWER_FIELDS if k != "measured_note")
        assert w.result["measured_note"].startswith("not measured: every sensor failed (cuda:0: ")
        assert "GPU is lost" in w.result["measured_note"]
    assert w0.result["measured_devices"] == f"gpu:{UUIDS[1]}"  # named by UUID, not by CUDA ordinal
    messages = [str(c.message) for c in caught if c.category is PowerMeasurementWarning]
    assert sum("cuda:0 stopped working" in m for m in messages) == 1  # one warning per cause
    assert sum("CPU/DRAM energy is not measured" in m for m in messages) == 1
    states = {d["device"]: d for d in monitor.describe()}
    assert states["cuda:0"]["available"] is False and "GPU is lost" in states["cuda:0"]["reason"]
    assert fake.inits == 0


# -- a counter that advances in steps (NVML's: every 100 ms on an H100) --------------------


class SteppingCounter:
    """An energy counter that steps every `period` seconds of real time, by 1 J per step."""

    def __init__(self, period: float) -> None:
        self.period, self.t0 = period, time.perf_counter()

    def __call__(self, handle) -> int:
        return int((time.perf_counter() - self.t0) / self.period) * 1000


def test_counter_update_period_is_timed_between_two_steps(monkeypatch) -> None:
    # A clock that advances 1 ms per reading, so that machine load cannot stretch the timing.
    now = iter(i * 0.001 for i in range(100_000))
    monkeypatch.setattr(power_nvml.time, "perf_counter", lambda: next(now))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", SteppingCounter(0.02))
    assert power_nvml.counter_update_period(pynvml, None, limit_s=1.0) == pytest.approx(0.02, abs=0.0021)


def test_a_counter_that_never_steps_counts_as_stepping_no_faster_than_the_limit(monkeypatch) -> None:
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lambda h: 7)
    assert power_nvml.counter_update_period(pynvml, None, limit_s=0.05) == 0.05


def test_discovery_reports_the_counter_step(monkeypatch) -> None:
    fake = FakeNvml(monkeypatch, [FakeGpu(UUIDS[0], counter_mj=0, instant_mw=[100_000])])
    fake.counter_period_s = 0.1
    (sensor,) = discover_gpus([0])
    assert sensor.resolution_s == 0.1 and sensor.detail.endswith("energy counter steps every 100 ms")
    assert sensor.integral_method == "nvml-instant-power-trapezoid"


class ManualClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
def test_windows_shorter_than_ten_counter_steps_integrate_power(monkeypatch, tmp_path) -> None:
    # Seen on an H100: a 40 ms phase read 0 J from its 100 ms-step counter.
    gpu = FakeGpu(UUIDS[0], counter_mj=1_000_000, instant_mw=[150_000])  # a steady 150 W
    fake = FakeNvml(monkeypatch, [gpu])
    fake.counter_period_s = 0.1
    clock = ManualClock()
    with PowerMonitor("cuda:0", rate_hz=1000, clock=clock, idle_seconds=0, powercap_root=tmp_path / "none") as monitor:
        with monitor.window("short") as short:
            clock.now += 0.04  # the counter did not step
        with monitor.window("just short") as just_short:
            clock.now += 0.99
            gpu.counter_mj += 100_000  # one step of a different size: not what is reported
        with monitor.window("long") as long:
            clock.now += 1.0
            gpu.counter_mj += 151_234
    assert short.result["measured_energy_j"] == 6.0  # 150 W x 40 ms, not 0
    assert short.result["measured_energy_method"] == "nvml-instant-power-trapezoid"
    assert short.result["mean_power_w"] == 150.0
    assert just_short.result["measured_energy_j"] == 148.5
    assert long.result["measured_energy_j"] == 151.234
    assert long.result["measured_energy_method"] == "nvml-energy-counter"


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
def test_short_windows_of_a_counter_without_power_readings_still_use_the_counter(monkeypatch, tmp_path) -> None:
    gpu = FakeGpu(UUIDS[0], counter_mj=0, instant_mw=None, average_mw=None)
    fake = FakeNvml(monkeypatch, [gpu])
    fake.counter_period_s = 0.1
    clock = ManualClock()
    with PowerMonitor("cuda:0", clock=clock, idle_seconds=0, powercap_root=tmp_path / "none") as monitor:
        with monitor.window("short") as w:
            clock.now += 0.05
            gpu.counter_mj += 12_000
    assert w.result["measured_energy_j"] == 12.0
    assert w.result["measured_energy_method"] == "nvml-energy-counter"


# -- several GPUs: only the one the run uses ------------------------------------------------


@pytest.mark.filterwarnings("ignore::energybench.power.monitor.PowerMeasurementWarning")
@pytest.mark.parametrize("how", ["cuda:1", "current device", "uuid from torch"])
def test_with_two_gpus_only_the_one_in_use_is_measured(monkeypatch, tmp_path, how) -> None:
    other = FakeGpu(UUIDS[0], counter_mj=0, instant_mw=[250_000])
    used = FakeGpu(UUIDS[1], counter_mj=0, instant_mw=[300_000])
    FakeNvml(monkeypatch, [other, used])
    device = how
    if how == "current device":  # the runner's torch.device("cuda"): CUDA's current device, here 1
        torch = pytest.importorskip("torch")
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
        device = "cuda"
    elif how == "uuid from torch":  # CUDA's ordinal 0 is NVML's index 1 (CUDA_DEVICE_ORDER=FASTEST_FIRST)
        monkeypatch.setattr(power_nvml, "_torch_uuids", lambda ordinals: [UUIDS[1] for _ in ordinals])
        device = "cuda:0"
    clock = ManualClock()
    with PowerMonitor(device, clock=clock, idle_seconds=0, powercap_root=tmp_path / "none") as monitor:
        with monitor.window("phase 1") as w:
            clock.now += 2.0
            used.counter_mj += 600_000
            other.counter_mj += 500_000  # another job on the other GPU: not this run's energy
    assert w.result["measured_energy_j"] == w.result["gpu_energy_j"] == 600.0
    assert w.result["measured_devices"] == f"gpu:{UUIDS[1]}"
    assert monitor.record()["measured_devices"] == [f"gpu:{UUIDS[1]}"]
    assert other.calls == []  # the other GPU is never read: not probed, not sampled
