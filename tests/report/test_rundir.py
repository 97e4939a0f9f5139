"""Reading a run directory for the report: what is not one, and the aggregates the figures use."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rundir_factory import make_run_dir, single_run, sweep

from energybench.engine.store import render_csv
from energybench.errors import UserError
from energybench.report.rundir import load_run, num


def test_num_reads_empty_as_nan_not_zero():
    assert math.isnan(num("")) and math.isnan(num(None)) and math.isnan(num("abc"))
    assert num("0") == 0.0 and num("2.5") == 2.5


@pytest.mark.parametrize("setup,msg", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is not a directory"),
    (lambda p: p, "is not a run directory: it has no metrics.csv"),
    (lambda p: (single_run(p / "a"), single_run(p / "b")) and p, "is a folder of run directories"),
    # a run that has started (config.yaml and manifest.json written first) but finished no phase
    (lambda p: ((p / "config.yaml").write_text("epochs: 1\n"), (p / "manifest.json").write_text("{}")) and p,
     "has no metrics.csv yet: no phase of this run has finished"),
])
def test_not_a_run_directory(tmp_path, setup, msg):
    with pytest.raises(UserError, match=msg):
        load_run(setup(tmp_path))


def test_folder_of_runs_names_them(tmp_path):
    single_run(tmp_path / "a")
    with pytest.raises(UserError) as err:
        load_run(tmp_path)
    assert str(tmp_path / "a") in str(err.value)


def test_empty_or_foreign_metrics(tmp_path):
    (tmp_path / "metrics.csv").write_text(render_csv([]) or "run_id,method,sharing,seed,phase,classes_seen,acc_all\n")
    with pytest.raises(UserError, match="has no rows yet"):
        load_run(tmp_path)
    (tmp_path / "metrics.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="lacks the columns acc_all, classes_seen, method, phase, seed, sharing"):
        load_run(tmp_path)


def test_broken_summary_is_a_user_error(tmp_path):
    root = single_run(tmp_path / "r")
    (root / "summary.json").write_text("{not json")
    with pytest.raises(UserError, match="summary.json is not valid JSON"):
        load_run(root)
    for name in ("summary.json", "manifest.json"):  # bytes that are not UTF-8: the same one-line error
        (root / name).write_bytes(b"\x00\xff")
        with pytest.raises(UserError, match=rf"{name} is not valid JSON \(not UTF-8 text: byte 1\)"):
            load_run(root)


def test_missing_summary_is_derived_as_the_run_writes_it(tmp_path):
    a = load_run(make_run_dir(tmp_path / "a", methods=("finetune",), sharing=(0.0, 0.5)))
    b = load_run(make_run_dir(tmp_path / "b", methods=("finetune",), sharing=(0.0, 0.5), summary=False))
    assert not (tmp_path / "b" / "summary.json").exists()
    assert b.value("finetune", 0.5, "total_compute_energy_j") == pytest.approx(
        a.value("finetune", 0.5, "total_compute_energy_j"))
    # sharing 0.5 achieves 0.4 and loses 30 * 0.4**3 = 1.92 pp > 1 pp: the optimum is sharing 0
    assert b.optimal_sharing("finetune") == a.optimal_sharing("finetune") == 0.0


def test_methods_follow_config_order_and_levels_are_sorted(tmp_path):
    run = load_run(sweep(tmp_path / "s", seeds=(0,)))
    assert run.methods == ["finetune", "sharing", "lucir"]
    assert run.levels("lucir") == [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95]
    assert run.seeds == [0]
    assert run.energy_table == "horowitz45" and run.precision == "fp32"
    assert run.mac_pj == pytest.approx(3.7 + 0.9)
    assert run.energy_sources[0].startswith("Horowitz")


def test_incremental_total_by_hand(tmp_path):
    run = load_run(sweep(tmp_path / "s"))
    # lucir, sharing 0.4 (achieved 0.4): per incremental phase 10 iterations of
    # forward 2e6 * 1.5 + backward 4e6 * (1 - 0.4) = 5.4e6 MACs at 4.6 pJ and 1e5 * 0.6 update
    # ops at 2.3 pJ; two incremental phases
    expected = 2 * 10 * (5.4e6 * 4.6e-12 + 6e4 * 2.3e-12)
    assert run.incremental_total("lucir", 0.4, "compute_energy_j") == pytest.approx(expected)
    assert run.incremental_total("lucir", 0.4, "update_ops") == pytest.approx(2 * 10 * 1e5 * 0.6)
    # not recorded anywhere -> NaN, never 0
    assert math.isnan(run.incremental_total("lucir", 0.4, "measured_energy_j"))


def test_a_partly_measured_cell_is_not_summed(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0,), seeds=(0, 1), power=True)
    run = load_run(root)
    # seed 0 lost phase 2's reading: its sum would undercount, so only seed 1 counts
    f = run.frame
    f.loc[(f["seed"] == 0) & (f["phase"] == 2), "measured_energy_j"] = math.nan
    assert run.incremental_total("finetune", 0.0, "measured_energy_j") == pytest.approx(2 * 0.2 * 10)


def test_class_names_follow_each_seeds_order(tmp_path):
    root = single_run(tmp_path / "r")
    manifest = json.loads((root / "manifest.json").read_text())
    # original labels 0, 1, 2 are a, b, c; manifest.class_names holds the LAST seed's order
    manifest.update(class_order={"0": [2, 0, 1], "1": [1, 2, 0]}, class_names=["b", "c", "a"], seeds=[0, 1])
    (root / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(root)
    assert run.class_names(0) == ["c", "a", "b"]
    assert run.class_names(1) == ["b", "c", "a"]


def test_power_trace_is_split_by_device_from_the_first_reading(tmp_path):
    root = single_run(tmp_path / "r")
    (root / "power_trace.csv").write_text("time_s,device,watts\n100.5,gpu,50\n100.0,cpu,10\n101.0,cpu,12\n"
                                          "101.5,gpu,\n")
    run = load_run(root)
    assert list(run.power) == ["cpu", "gpu"]
    np.testing.assert_allclose(run.power["cpu"][0], [0.0, 1.0])
    np.testing.assert_allclose(run.power["gpu"][0], [0.5])  # the empty reading is dropped
    np.testing.assert_allclose(run.power["cpu"][1], [10, 12])


def test_confusion_is_the_optimal_levels_last_phase(tmp_path):
    run = load_run(sweep(tmp_path / "s"))
    c = run.confusion("sharing")
    assert (c.sharing, c.seed, c.phase) == (0.2, 0, 2)  # sharing's optimal point is 0.2 (see factory)
    assert c.matrix.shape == (10, 10) and c.matrix[0, 0] == 19  # 1 + (20 - phase 2) on the diagonal
    assert c.labels == run.class_names(0)
    assert c.phase_sizes == [4, 3, 3]


def test_confusion_labels_come_from_the_file_when_it_has_them(tmp_path):
    root = single_run(tmp_path / "r")
    (root / "cells" / "finetune_s0_seed0" / "confusion_phase2.csv").write_text(
        "true\\predicted,a,b\na,5,1\nb,2,7\n")
    c = load_run(root).confusion("finetune")
    assert c.labels == ["a", "b"] and c.matrix.tolist() == [[5, 1], [2, 7]]


def test_confusion_that_is_not_square_is_a_user_error(tmp_path):
    root = single_run(tmp_path / "r")
    (root / "cells" / "finetune_s0_seed0" / "confusion_phase2.csv").write_text("1,2\n3,4\n5,6\n")
    with pytest.raises(UserError, match="3x2; a confusion matrix must be square"):
        load_run(root).confusion("finetune")


def test_a_summary_behind_the_metrics_is_rederived(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.5))
    stale = json.loads((root / "summary.json").read_text())
    del stale["methods"]["finetune"]["levels"]["0.5"]  # written before the 0.5 cell ran
    (root / "summary.json").write_text(json.dumps(stale))
    run = load_run(root)
    assert run.levels("finetune") == [0.0, 0.5]
    assert run.value("finetune", 0.5, "sharing_achieved") == pytest.approx(0.4)
