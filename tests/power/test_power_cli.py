"""`energybench power`: exit codes, JSON, and what it says with and without sensors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energybench.cli import main
from energybench.power import monitor as power
from energybench.power import rapl as power_rapl
from energybench.power.sensor import NullSensor


@pytest.fixture
def no_sensors(monkeypatch, tmp_path: Path) -> None:
    """This machine as if it had no NVIDIA driver and no powercap, whatever it really has."""
    monkeypatch.setattr(power, "discover_gpus", lambda ordinals: [
        NullSensor("nvml", "the NVML library (libnvidia-ml.so.1) was not found")])
    monkeypatch.setattr(power_rapl, "POWERCAP_ROOT", tmp_path / "missing")
    monkeypatch.setattr(power, "_warned", set())


def test_json_without_sensors_exits_0_and_says_why(no_sensors, capsys) -> None:
    assert main(["power", "--json", "--duration", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["available"] is False and report["measurement"] is None
    assert "No power sensor is available" in report["message"]
    reasons = {s["kind"]: s["reason"] for s in report["sensors"]}
    assert "libnvidia-ml.so.1" in reasons["nvml"] and "does not exist" in reasons["rapl"]


def test_text_without_sensors(no_sensors, capsys) -> None:
    assert main(["power", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "none" in out and "rapl:" in out and "nothing was measured" in out
    assert "nvml" not in out  # --device cpu does not look for GPUs


def test_measures_a_fake_rapl_tree(monkeypatch, tmp_path: Path, capsys) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("5\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    monkeypatch.setattr(power_rapl, "POWERCAP_ROOT", tmp_path)
    assert main(["power", "--device", "cpu", "--duration", "0.2", "--power-rate", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["available"] is True
    assert report["sensors"][0]["device"] == "rapl:package-0"
    m = report["measurement"]
    assert m["measured_energy_j"] == 0.0  # the counter did not move: 0 J measured, not missing
    assert m["measured_energy_method"] == "rapl-counter" and m["duration_s"] >= 0.2


@pytest.mark.parametrize("argv, words", [
    (["--duration", "-1"], "--duration"),
    (["--power-rate", "0"], "--power-rate"),
    (["--power-rate", "nan"], "--power-rate"),
    (["--device", "gpu"], "--device"),
    (["--device", "mps"], "--device"),
])
def test_bad_input_exits_2(no_sensors, capsys, argv, words) -> None:
    assert main(["power", *argv]) == 2
    assert words in capsys.readouterr().err


def test_cuda_without_a_gpu_exits_2(no_sensors, monkeypatch, capsys) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert main(["power", "--device", "cuda"]) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err
