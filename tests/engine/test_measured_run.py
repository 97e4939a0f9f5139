"""A run's measured columns, with fake sensors in place of the machine's: the idle baseline is
taken by default and subtracted, energy is split by component, every measured column is empty
(never 0) without a sensor and measured_note says why, and the manifest names what was measured."""

from __future__ import annotations

import csv
import importlib.util
import json
import warnings
from pathlib import Path

import pytest

from energybench.cli import main
from energybench.power import monitor as power
from energybench.power.monitor import POWER_FIELDS, PowerMonitor
from energybench.power.sensor import NullSensor, Sensor

TINY = ["--method", "finetune", "--epochs", "1", "--train-per-class", "8", "--test-per-class", "5",
        "--no-report", "--quiet"]
IDLE_S = 0.2  # the default baseline, shortened for the test


class FakeZone(Sensor):
    """A RAPL zone drawing `idle_w` until the monitor's idle baseline ends, then `busy_w`;
    energy integrates that over the monitor's (real) clock."""

    kind, method, detail = "rapl", "rapl-counter", "fake zone"

    def __init__(self, label: str, idle_w: float, busy_w: float) -> None:
        self.name = f"rapl:{label}"
        self.component = "dram" if label.startswith("dram") else "cpu_package"
        self.watts, self.busy_w = idle_w, busy_w
        self.t: float | None = None
        self.energy = 0.0

    def energy_j(self, t: float) -> float:
        if self.t is not None and t > self.t:
            self.energy += self.watts * (t - self.t)
        self.t = t if self.t is None else max(self.t, t)
        return self.energy

    def sample(self, t: float) -> float | None:
        return self.watts


@pytest.fixture
def fake_rapl(monkeypatch):
    """Package and DRAM zones at 8 + 2 W idle and 30 + 10 W busy; no GPU is looked for (CPU run)."""
    zones = [FakeZone("package-0", 8.0, 30.0), FakeZone("dram-0", 2.0, 10.0)]
    monkeypatch.setattr(power, "discover_rapl", lambda root: zones)
    monkeypatch.setattr(power, "DEFAULT_IDLE_SECONDS", IDLE_S)
    monkeypatch.setattr(power, "_warned", set())
    measure_idle = PowerMonitor._measure_idle

    def idle_then_busy(self):
        measure_idle(self)
        for zone in zones:
            zone.energy_j(self._clock())  # the idle stretch ends at idle power
            zone.watts = zone.busy_w

    monkeypatch.setattr(PowerMonitor, "_measure_idle", idle_then_busy)
    return zones


def calibration_note():
    """scripts/calibration_note.py, which writes the GPU machine's note for reports/."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "calibration_note.py"
    spec = importlib.util.spec_from_file_location("calibration_note", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows_of(root):
    return list(csv.DictReader(open(root / "metrics.csv")))


def test_the_idle_baseline_is_taken_by_default_and_subtracted(tmp_path, fake_rapl):
    argv = ["run", *TINY, "--sharing", "0,0.5", "--power-rate", "50", "--out", str(tmp_path), "--run-id", "r"]
    assert main(argv) == 0
    root = tmp_path / "r"
    rows = rows_of(root)
    assert len(rows) == 6
    for r in rows:
        energy = float(r["measured_energy_j"])
        assert energy > 0 and float(r["idle_power_w"]) == 10.0  # 8 + 2 W, nobody asked for a baseline
        # busy 40 W, idle 10 W: above idle is 3/4 of the energy; package 30/40, DRAM 10/40 of it
        assert float(r["measured_energy_above_idle_j"]) == pytest.approx(0.75 * energy, abs=2e-3)
        assert float(r["cpu_package_energy_j"]) == pytest.approx(0.75 * energy, abs=2e-3)
        assert float(r["dram_energy_j"]) == pytest.approx(0.25 * energy, abs=2e-3)
        assert r["gpu_energy_j"] == ""  # no GPU sensor: empty, not 0
        assert r["measured_devices"] == "rapl:package-0+rapl:dram-0" and r["measured_note"] == ""
        # finetune trains once over the phase's new classes: 4 (base) or 3 classes x 8 samples, 1 epoch
        assert int(r["train_samples"]) == (32 if r["phase"] == "0" else 24)
        # per sample comes from the unrounded energy: the energy column keeps 3 decimals (off by up to 5e-4 J) and
        # the per-sample column 6 significant digits (off by up to half a unit in the 6th), so allow both
        n = int(r["train_samples"])
        per_sample = float(r["measured_energy_per_sample_j"])
        assert per_sample == pytest.approx(energy / n, abs=5e-4 / n + 5e-6 * per_sample)
    manifest = json.loads((root / "manifest.json").read_text())["power"]
    assert manifest["measured_devices"] == ["rapl:package-0", "rapl:dram-0"]
    baseline = manifest["idle_baseline"]
    assert baseline["seconds"] == IDLE_S and baseline["duration_s"] >= IDLE_S and baseline["mean_w"] == 10.0
    assert baseline["per_device_w"] == {"rapl:package-0": 8.0, "rapl:dram-0": 2.0}
    assert baseline["readings"] >= 2 and baseline["std_w"] == 0.0  # 50 Hz readings over 0.2 s of a steady 10 W
    assert (baseline["min_w"], baseline["max_w"]) == (10.0, 10.0)
    summary = json.loads((root / "summary.json").read_text())
    assert summary["measured_energy"]["column"] == "measured_energy_above_idle_j"
    assert summary["measured_energy"]["idle_power_w"] == [10.0]
    level = summary["methods"]["finetune"]["levels"]["0.5"]
    inc = [r for r in rows if r["sharing"] == "0.5" and r["phase"] != "0"]
    assert level["total_measured_energy_above_idle_j"] == pytest.approx(
        sum(float(r["measured_energy_above_idle_j"]) for r in inc))
    assert level["total_train_samples"] == 48
    block = summary["modelled_vs_measured"]
    assert block["available"] and block["measured"] == "measured_energy_above_idle_j"
    assert block["fit"]["points"] == 4  # phases 1 and 2 at two sharing levels; phase 0 not fitted
    assert len(block["points"]) == 5 and sum(not p["fitted"] for p in block["points"]) == 1
    assert set(block["savings"]["finetune"]) == {"0", "0.5"}
    assert block["savings"]["finetune"]["0"]["measured_saving_x"] == 1.0
    text, _ = calibration_note().note(root, "energybench run ...")
    assert "Idle baseline (before the first phase, CUDA context open): 10 W over" in text
    assert "Measured devices: rapl:package-0, rapl:dram-0 (rapl-counter)" in text
    assert f"**{block['fit']['slope_j_per_modelled_j']:.4g} J measured per modelled J**" in text
    assert text.count("| finetune | 0.5 |") == 3  # its saving, then its points of phases 1 and 2


def test_without_a_sensor_every_measured_column_is_empty_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(power, "discover_rapl", lambda root: [NullSensor("rapl", "no powercap here")])
    monkeypatch.setattr(power, "_warned", set())
    slept = []
    monkeypatch.setattr(PowerMonitor, "_measure_idle", lambda self: slept.append(self))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", power.PowerMeasurementWarning)
        assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    for r in rows_of(root):
        assert all(r[k] == "" for k in POWER_FIELDS if k != "measured_note"), r  # never 0
        assert r["measured_note"] == "not measured: rapl: no powercap here"
    assert slept == []  # no sensor, no baseline to wait for
    manifest = json.loads((root / "manifest.json").read_text())["power"]
    assert manifest["measured_devices"] == [] and manifest["idle_baseline"] is None
    summary = json.loads((root / "summary.json").read_text())
    assert summary["measured_energy"] == {"column": None, "basis": None,
                                          "note": "not measured: rapl: no powercap here"}
    assert summary["modelled_vs_measured"] == {
        "available": False, "reason": "this run measured no energy: rapl: no powercap here"}
    assert calibration_note().note(root, None) == (None, summary["modelled_vs_measured"]["reason"])


def test_no_power_says_so(tmp_path):
    assert main(["run", *TINY, "--no-power", "--out", str(tmp_path), "--run-id", "r"]) == 0
    rows = rows_of(tmp_path / "r")
    assert {r["measured_note"] for r in rows} == {"not measured: power measurement is off (--no-power)"}
    assert all(r["measured_energy_j"] == "" and r["measured_energy_above_idle_j"] == "" for r in rows)
