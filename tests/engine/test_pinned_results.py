"""Refactoring changes no number: a fixed-seed run of every method on digits (the quick
benchmark's configuration before it became a sharing sweep: sharing 0, seed 0, B4-3x2, 8
epochs) must give the metrics.csv rows and summary.json recorded in tests/engine/data/ by
the code of commit 2637da9, in every column but timing and measured power.

Counted and modelled numbers (MACs, accesses, energies, storage) must match exactly: a wrong
count is wrong by a whole op. Trained numbers (accuracies, forgetting) are compared within a
tolerance: training under a seed is deterministic on one machine, but float kernels differ
between CPU families (AVX2 and AVX-512 sum in another order), and a few test samples flip.
Measured on an AMD EPYC (AVX2) against the recording: mean |difference| 0.35 points over the
164 trained values, largest 5.7 (LUCIR phase 2 acc_new: 9 of 159 samples), and no column with
20 values or more moved by over 0.24 on average (flips go both ways). The tolerances, 12 points
for one value, 1.5 for the mean |difference| and 1.0 for a column's mean signed difference, are
above that and below what a real regression does: test_a_one_line_regression_is_caught runs
finetune with the learning rate cut tenfold (the default's one line) and the comparison fails;
test_the_comparison_itself_on_edited_copies_of_the_recording shows each check at work.

Three methods decide from accuracy what they train: tree (when to clone or flatten a branch,
hence its shape, storage and the eval MACs of samples routed through it), progressive and
scratch (when a stage plateaus: on an AMD EPYC, scratch's last phase reached its epoch budget
where the recording's plateaued at the same epoch). Their counted numbers are compared exactly when the run took the
recorded decisions (tree eval MACs then within 1e-5: a test sample routed to the other branch
moves them by a few hundred MACs of 1e9); when it took others, they are checked against the
run's own rows instead (train MACs = forward + both backward parts; summary totals = the sum
of its incremental phases). If a deliberate change moves a number, rerecord the files and
say why in the commit.
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


# Trained values, in percentage points; and each method's decisions taken from accuracy.
TRAINED = {"acc_all", "acc_old", "acc_new", "avg_inc_acc", "forgetting", "acc_before_finetune",
           "acc_before_finetune_new", "acc_before_finetune_old", "acc_cnn", "acc_cnn_new", "acc_cnn_old", "acc_nme",
           "acc_nme_new", "acc_nme_old", "val_acc", "val_branch_acc", "branch0_acc", "branch1_acc", "branch2_acc",
           "final_acc"}
ONE_VALUE_PP, MEAN_PP = 12.0, 1.5
BIAS_PP, BIAS_MIN_VALUES = 1.0, 20  # a column's mean signed difference, where it has that many values
PLATEAU = ("stage_epochs", "stage_steps", "stage_stopped_by", "stage_lr_drops")
DECISIONS = {"tree": ("tree_depth", "tree_leaves", "clone_increments", "flat_increments"),
             "progressive": PLATEAU, "scratch": PLATEAU}
ROUTED = {("tree", "eval_macs"): 1e-5}  # relative


def same(recorded: str, now: str, rel_tol: float = 1e-12) -> bool:
    if recorded == now:
        return True
    try:
        a, b = float(recorded), float(now)
    except ValueError:
        return recorded.lower() == now.lower()  # booleans written as True/true
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))


def key(r):
    return r["method"], float(r["sharing"]), int(r["seed"]), int(r["phase"])


def other_decisions(recorded: list[dict], now: list[dict]) -> set[str]:
    """Methods whose accuracy-driven decisions differ from the recording in some phase."""
    now_by_key = {key(r): r for r in now}
    return {r["method"] for r in recorded if key(r) in now_by_key
            for c in DECISIONS.get(r["method"], ()) if r[c] != now_by_key[key(r)][c]}


def compare_rows(recorded: list[dict], now: list[dict]) -> list[str]:
    """What differs beyond the tolerances: one line per value, and one for the trained mean."""
    now_by_key = {key(r): r for r in now}
    decided_otherwise = other_decisions(recorded, now)
    differ, trained, signed = [], [], {}
    for r in recorded:
        if key(r) not in now_by_key:
            continue
        n = now_by_key[key(r)]
        for column, value in r.items():
            if column in NOT_PINNED:
                continue
            if column in TRAINED and value != "":
                gap = abs(float(value) - float(n[column]))
                trained.append(gap)
                signed.setdefault(column, []).append(float(n[column]) - float(value))
                if not gap <= ONE_VALUE_PP:
                    differ.append(f"{key(r)} {column}: recorded {value!r}, now {n[column]!r} (over {ONE_VALUE_PP} pp)")
            elif r["method"] in decided_otherwise and int(r["phase"]) > 0:
                continue  # checked against the run's own rows, below
            elif not same(value, n.get(column, ""), ROUTED.get((r["method"], column), 1e-12)):
                differ.append(f"{key(r)} {column}: recorded {value!r}, now {n.get(column)!r}")
    for n in now:
        if n["method"] in decided_otherwise and int(n["train_macs"]) != sum(
                int(n[c]) for c in ("fwd_macs", "bwd_input_macs", "bwd_weight_macs")):
            differ.append(f"{key(n)}: train_macs {n['train_macs']} is not forward + backward")
    if trained and not sum(trained) / len(trained) <= MEAN_PP:
        differ.append(f"trained values differ by {sum(trained) / len(trained):.2f} pp on average (over {MEAN_PP})")
    for column, gaps in signed.items():  # CPUs flip samples both ways; a regression moves a column one way
        if len(gaps) >= BIAS_MIN_VALUES and not abs(sum(gaps) / len(gaps)) <= BIAS_PP:
            differ.append(f"{column} moved by {sum(gaps) / len(gaps):+.2f} pp on average (over {BIAS_PP})")
    return differ


def compare_json(recorded, now, path="summary", decided_otherwise=frozenset(), gaps=None):
    if isinstance(recorded, dict):
        assert isinstance(now, dict), path
        for key_, value in recorded.items():
            if key_ in SUMMARY_TIMING:
                continue
            if path.endswith(".methods") and key_ in decided_otherwise:
                continue  # checked against the run's own rows
            assert key_ in now, f"{path}.{key_} is missing"
            compare_json(value, now[key_], f"{path}.{key_}", decided_otherwise, gaps)
    elif isinstance(recorded, list):
        assert len(recorded) == len(now), path
        for i, (a, b) in enumerate(zip(recorded, now)):
            compare_json(a, b, f"{path}[{i}]", decided_otherwise, gaps)
    elif isinstance(recorded, float) and isinstance(now, (int, float)) and path.rsplit(".", 1)[-1] in TRAINED:
        assert abs(recorded - now) <= ONE_VALUE_PP, f"{path}: recorded {recorded!r}, now {now!r}"
        if gaps is not None:
            gaps.append(abs(recorded - now))
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
    assert sorted(map(key, recorded)) == sorted(map(key, now))
    assert compare_rows(recorded, now) == []


def test_the_pinned_summary_is_unchanged(pinned_run):
    recorded = json.loads((DATA / "default_run_summary.json").read_text())
    now = json.loads((pinned_run / "summary.json").read_text())
    rows = list(csv.DictReader(open(pinned_run / "metrics.csv")))
    decided_otherwise = other_decisions(list(csv.DictReader(open(DATA / "default_run_metrics.csv"))), rows)
    gaps: list[float] = []
    compare_json(recorded, now, decided_otherwise=decided_otherwise, gaps=gaps)
    assert sum(gaps) / len(gaps) <= MEAN_PP
    for method in decided_otherwise:  # totals over the incremental phases of the run's own rows
        level = now["methods"][method]["levels"]["0"]
        assert level["total_train_macs"] == sum(int(r["train_macs"]) for r in rows
                                                if r["method"] == method and int(r["phase"]) > 0)


def test_a_one_line_regression_is_caught(tmp_path):
    """The tolerance is no blindfold: finetune trained at a tenth of the default learning rate
    (RunConfig.lr 0.05 -> 0.005, one line) is caught by the same comparison."""
    code = main(["run", "--method", "finetune", "--sharing", "0", "--seed", "0", "--scenario", "B4-3x2", "--epochs",
                 "8", "--lr", "0.005", "--no-report", "--no-power", "--quiet", "--out", str(tmp_path), "--run-id", "r"])
    assert code == 0
    recorded = [r for r in csv.DictReader(open(DATA / "default_run_metrics.csv")) if r["method"] == "finetune"]
    now = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    differ = compare_rows(recorded, now)
    assert any("acc_" in d or "on average" in d for d in differ), differ
    assert not any("macs" in d or "energy" in d for d in differ), differ  # the counts do not move: same steps


def test_the_comparison_itself_on_edited_copies_of_the_recording():
    """No training: what compare_rows lets through and what it catches, on the recorded rows."""
    recorded = list(csv.DictReader(open(DATA / "default_run_metrics.csv")))

    def edited(method, phase, **changes):
        rows = [dict(r) for r in recorded]
        row = next(r for r in rows if r["method"] == method and r["phase"] == str(phase))
        for column, value in changes.items():
            row[column] = str(value(row[column]) if callable(value) else value)
        return rows

    assert compare_rows(recorded, recorded) == []
    assert compare_rows(recorded, edited("finetune", 2, acc_all=lambda v: float(v) + 5)) == []  # one flipped sample
    assert compare_rows(recorded, edited("finetune", 2, acc_all=lambda v: float(v) + 13))[0].endswith("(over 12.0 pp)")
    assert compare_rows(recorded, edited("finetune", 2, fwd_macs=lambda v: int(v) + 1)) != []  # counts are exact
    # tree routed a few test samples through the other branch: its eval MACs move by hundreds of 1e9
    assert compare_rows(recorded, edited("tree", 2, eval_macs=lambda v: int(v) + 704)) == []
    assert compare_rows(recorded, edited("tree", 2, eval_macs=lambda v: int(v) + 10**6)) != []
    # tree grew another leaf: its counts follow, checked against its own row, not the recording
    grown = edited("tree", 2, tree_leaves=3, fwd_macs=lambda v: int(v) + 10, train_macs=lambda v: int(v) + 10)
    assert compare_rows(recorded, grown) == []
    broken = edited("tree", 2, tree_leaves=3, fwd_macs=lambda v: int(v) + 10)
    assert [d for d in compare_rows(recorded, broken) if "is not forward + backward" in d] != []
    # many values drifting a little, as a changed loss would: the mean catches it
    drifted = [dict(r, acc_all=str(float(r["acc_all"]) - 2)) for r in recorded]
    assert compare_rows(recorded, drifted) == ["acc_all moved by -2.00 pp on average (over 1.0)"]
