"""RAPL sensors read a fake powercap tree through the real file-reading code."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from energybench.power.rapl import RAPL_METHOD, RaplZoneSensor, discover_rapl
from energybench.power.sensor import NullSensor, SensorError


def make_zone(root: Path, rel: str, name: str, energy_uj: int, max_uj: int = 262143328850) -> Path:
    zone = root / rel
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two sockets, nested layout: package with core/uncore/dram subzones, plus psys and mmio."""
    root = tmp_path / "powercap"
    make_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    make_zone(root, "intel-rapl:0/intel-rapl:0:0", "core", 500_000)
    make_zone(root, "intel-rapl:0/intel-rapl:0:1", "uncore", 100_000)
    make_zone(root, "intel-rapl:0/intel-rapl:0:2", "dram", 2_000_000)
    make_zone(root, "intel-rapl:1", "package-1", 3_000_000)
    make_zone(root, "intel-rapl:2", "psys", 9_000_000)
    make_zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def test_discovers_packages_and_dram_only(tree: Path) -> None:
    sensors = discover_rapl(tree)
    assert [s.name for s in sensors] == ["rapl:package-0", "rapl:dram-0", "rapl:package-1"]
    assert all(s.method == RAPL_METHOD and s.kind == "rapl" for s in sensors)


def test_flat_symlink_layout_is_not_counted_twice(tmp_path: Path) -> None:
    """/sys/class/powercap lists every zone, subzones too, as a top-level symlink."""
    real = tmp_path / "devices"
    make_zone(real, "intel-rapl:0", "package-0", 10)
    make_zone(real, "intel-rapl:0/intel-rapl:0:0", "dram", 20)
    root = tmp_path / "powercap"
    root.mkdir()
    os.symlink(real / "intel-rapl:0", root / "intel-rapl:0")
    os.symlink(real / "intel-rapl:0" / "intel-rapl:0:0", root / "intel-rapl:0:0")
    assert [s.name for s in discover_rapl(root)] == ["rapl:package-0", "rapl:dram-0"]


def test_energy_is_exact_joules_since_creation(tree: Path) -> None:
    package = RaplZoneSensor(tree / "intel-rapl:0", "package-0")
    set_energy(tree / "intel-rapl:0", 1_000_000 + 12_345_678)
    assert package.energy_j(1.0) == 12.345678
    set_energy(tree / "intel-rapl:0", 1_000_000 + 20_000_000)
    assert package.energy_j(2.0) == 20.0


def test_wraparound_adds_the_counter_range(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, max_uj=1_000_000_000)
    sensor = RaplZoneSensor(zone, "package-0")
    set_energy(zone, 999_500_000)  # +0.5 J
    assert sensor.energy_j(1.0) == 0.5
    set_energy(zone, 250_000)  # wrapped: +0.5 J to the top, +0.25 J after it
    assert sensor.energy_j(2.0) == 1.25
    set_energy(zone, 3_250_000)  # +3 J
    assert sensor.energy_j(3.0) == 4.25


def test_sample_is_power_between_samples(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=1_000_000_000)
    sensor = RaplZoneSensor(zone, "package-0")
    assert sensor.sample(10.0) is None  # a rate needs two readings
    set_energy(zone, 999_000_000)
    assert sensor.sample(11.0) == 999.0
    set_energy(zone, 49_000_000)  # wrapped: 1 J + 49 J in 0.5 s
    assert sensor.sample(11.5) == 100.0


def test_permission_denied_is_a_reason_not_an_error(tree: Path, monkeypatch) -> None:
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if str(file).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    found = discover_rapl(tree)
    assert len(found) == 1 and isinstance(found[0], NullSensor)
    reason = found[0].describe()["reason"]
    assert "permission denied" in reason and "root" in reason
    assert "intel-rapl:0" in reason and "intel-rapl:1" in reason


def test_unreadable_zone_is_listed_beside_readable_ones(tree: Path) -> None:
    dram_energy = tree / "intel-rapl:0" / "intel-rapl:0:2" / "energy_uj"
    dram_energy.unlink()
    dram_energy.mkdir()  # reading a directory fails with an OSError
    found = discover_rapl(tree)
    assert [s.name for s in found if not isinstance(s, NullSensor)] == [
        "rapl:package-0", "rapl:package-1"]
    nulls = [s.describe() for s in found if isinstance(s, NullSensor)]
    assert len(nulls) == 1 and nulls[0]["device"] == "rapl:dram-0"
    assert "energy_uj" in nulls[0]["reason"]


def test_read_failing_mid_run_raises_sensor_error(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    sensor = RaplZoneSensor(zone, "package-0")
    (zone / "energy_uj").unlink()
    with pytest.raises(SensorError, match="energy_uj"):
        sensor.energy_j(1.0)


def test_missing_root_and_empty_root_say_why(tmp_path: Path) -> None:
    (missing,) = discover_rapl(tmp_path / "nope")
    assert isinstance(missing, NullSensor) and "does not exist" in missing.reason
    (tmp_path / "empty").mkdir()
    (empty,) = discover_rapl(tmp_path / "empty")
    assert isinstance(empty, NullSensor) and "no intel-rapl zone" in empty.reason
