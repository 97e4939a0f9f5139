"""Refactoring changes no number: a fixed-seed run of every method on digits (the quick
benchmark's configuration before it became a sharing sweep: sharing 0, seed 0, B4-3x2, 8
epochs) must give the metrics.csv rows and summary.json recorded in tests/engine/data/ by
the code of commit 2637da9, in every column but timing and measured power.

Counts and modelled energies must match exactly (they are counted, not trained: a wrong
count is wrong by a whole op); accuracies too, since training on one CPU under a seed is
deterministic. If a deliberate change moves a number, rerecord the files and say why in
the commit.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from energybench.cli import main

DATA = Path(__file__).parent / "data"
NOT_PINNED = {"run_id", "train_time_s", "time_per_iter_s", "train_cpu_s", "measured_energy_j",
              "measured_energy_method", "mean_power_w", "peak_power_w", "idle_power_w", "reused_base",
              # columns added after the recording
              "measured_energy_above_idle_j", "measured_energy_per_sample_j", "measured_devices",
              "gpu_energy_j", "cpu_package_energy_j", "dram_energy_j", "measured_note"}
SUMMARY_TIMING = {"time_per_iter_s", "cpu_time_per_iter_s", "total_train_time_s", "total_train_cpu_s"}


def same(recorded: str, now: str) -> bool:
    if recorded == now:
        return True
    try:
        a, b = float(recorded), float(now)
    except ValueError:
        return recorded.lower() == now.lower()  # booleans written as True/true
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))


def compare_json(recorded, now, path="summary"):
    if isinstance(recorded, dict):
        assert isinstance(now, dict), path
        for key, value in recorded.items():
            if key in SUMMARY_TIMING:
                continue
            assert key in now, f"{path}.{key} is missing"
            compare_json(value, now[key], f"{path}.{key}")
    elif isinstance(recorded, list):
        assert len(recorded) == len(now), path
        for i, (a, b) in enumerate(zip(recorded, now)):
            compare_json(a, b, f"{path}[{i}]")
    elif isinstance(recorded, float) and isinstance(now, (int, float)):
        assert math.isclose(recorded, now, rel_tol=1e-12) or (math.isnan(recorded) and math.isnan(now)), \
            f"{path}: recorded {recorded!r}, now {now!r}"
    else:
        assert recorded == now, f"{path}: recorded {recorded!r}, now {now!r}"


@pytest.fixture(scope="module")
def pinned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinned")
    code = main(["run", "--sharing", "0", "--seed", "0", "--scenario", "B4-3x2", "--epochs", "8", "--no-report",
                 "--no-power", "--quiet", "--out", str(out), "--run-id", "pinned"])
    assert code == 0
    return out / "pinned"


def test_every_metric_of_the_pinned_run_is_unchanged(pinned_run):
    recorded = list(csv.DictReader(open(DATA / "default_run_metrics.csv")))
    now = list(csv.DictReader(open(pinned_run / "metrics.csv")))
    key = lambda r: (r["method"], float(r["sharing"]), int(r["seed"]), int(r["phase"]))  # noqa: E731
    assert sorted(map(key, recorded)) == sorted(map(key, now))
    now_by_key = {key(r): r for r in now}
    differ = []
    for r in recorded:
        n = now_by_key[key(r)]
        for column, value in r.items():
            if column in NOT_PINNED:
                continue
            if not same(value, n.get(column, "")):
                differ.append(f"{key(r)} {column}: recorded {value!r}, now {n.get(column)!r}")
    assert differ == []


def test_the_pinned_summary_is_unchanged(pinned_run):
    recorded = json.loads((DATA / "default_run_summary.json").read_text())
    now = json.loads((pinned_run / "summary.json").read_text())
    compare_json(recorded, now)
