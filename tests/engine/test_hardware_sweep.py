"""A run sweeping hardware (--node 45,7 --arch layer_buffer,eyeriss_like): each phase is trained
once and priced at every (node, arch), one row per point, each equal to the row a run at that
one point writes; a phase missing a point's row is recomputed on resume; a bad point is refused
before anything is written; summary and report read the first point, plus one table of all."""

from __future__ import annotations

import csv
import shutil

import pytest

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.errors import UserError
from energybench.report.rundir import load_run
from energybench.report.tables import hardware_table
from energybench.results import load

TINY = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
        "--no-power", "--no-report", "--quiet"]
SWEEP = ["--node", "45,7", "--arch", "layer_buffer,eyeriss_like"]
POINTS = [("45", "layer_buffer"), ("45", "eyeriss_like"), ("7", "layer_buffer"), ("7", "eyeriss_like")]
# what differs between two runs of the same work: the clocks, and the run's name
TIMING = {"train_time_s", "time_per_iter_s", "train_cpu_s", "run_id"}
TRAINING = ("acc_all", "acc_old", "acc_new", "avg_inc_acc", "forgetting", "iters", "train_samples", "fwd_macs",
            "bwd_input_macs", "bwd_weight_macs", "train_macs", "eval_macs", "mem_reads", "mem_writes", "storage_bytes")


def rows(root):
    return list(csv.DictReader(open(root / "metrics.csv")))


def priced(row):
    return {k: v for k, v in row.items() if k not in TIMING and not k.startswith("measured_")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    assert main(["run", *TINY, *SWEEP, "--out", str(out), "--run-id", "sweep"]) == 0
    assert main(["run", *TINY, "--out", str(out), "--run-id", "default"]) == 0
    assert main(["run", *TINY, "--node", "7", "--arch", "eyeriss_like", "--out", str(out), "--run-id", "last"]) == 0
    return out


def test_four_rows_per_phase_with_the_same_training(runs):
    found = rows(runs / "sweep")
    assert [(r["phase"], r["node_nm"], r["arch"]) for r in found] == [(str(p), *pt) for p in range(3) for pt in POINTS]
    for phase in range(3):
        mine = [r for r in found if r["phase"] == str(phase)]
        for col in TRAINING:
            assert len({r[col] for r in mine}) == 1, (phase, col)  # training is the same at every point
        energy = {(r["node_nm"], r["arch"]): float(r["compute_energy_j"]) + float(r["memory_energy_j"]) for r in mine}
        for arch in ("layer_buffer", "eyeriss_like"):
            assert energy[("7", arch)] < 0.5 * energy[("45", arch)]
        assert len(set(energy.values())) == 4


def test_each_point_is_priced_as_a_run_at_that_point_alone(runs):
    """The sweep's first and last points' rows are the single-point runs' rows, column for column."""
    found = rows(runs / "sweep")
    for name, point in (("default", POINTS[0]), ("last", POINTS[-1])):
        alone = rows(runs / name)
        assert len(alone) == 3
        at_point = [r for r in found if (r["node_nm"], r["arch"]) == point]
        assert [priced(r) for r in at_point] == [priced(r) for r in alone], name


def test_each_point_has_its_breakdown_file(runs):
    cell = runs / "sweep" / "cells" / "finetune_s0_seed0"
    names = {p.name for p in cell.glob("energy_levels_phase*.csv")}
    assert names == {f"energy_levels_phase{p}{suffix}.csv" for p in range(3)
                     for suffix in ("", "_eyeriss_like_45nm", "_layer_buffer_7nm", "_eyeriss_like_7nm")}
    # the first point's file is the default run's, byte for byte
    default = runs / "default" / "cells" / "finetune_s0_seed0"
    for p in range(3):
        assert (cell / f"energy_levels_phase{p}.csv").read_bytes() == (
            default / f"energy_levels_phase{p}.csv").read_bytes()


@pytest.mark.parametrize("lost", ["phase", "point"])
def test_resume_recomputes_a_phase_missing_any_points_row(runs, tmp_path, lost):
    """Rows of the last phase deleted (all of them, or one point's): a resume recomputes the phase,
    identically, and writes each row once."""
    root = tmp_path / "r"
    shutil.copytree(runs / "sweep", root)
    text = (root / "metrics.csv").read_text().splitlines(keepends=True)
    kept = [line for line, r in zip(text[1:], rows(root))
            if not (r["phase"] == "2" and (lost == "phase" or (r["node_nm"], r["arch"]) == POINTS[-1]))]
    assert len(kept) == 12 - (4 if lost == "phase" else 1)
    (root / "metrics.csv").write_text(text[0] + "".join(kept))
    assert main(["run", "--resume", str(root), "--quiet", "--no-report"]) == 0
    assert [priced(r) for r in rows(root)] == [priced(r) for r in rows(runs / "sweep")]


def test_summary_and_report_read_the_first_point(runs):
    every = load(runs / "sweep", every_point=True)
    assert len(every) == 12 and len(load(runs / "sweep")) == 3
    run = load_run(runs / "sweep")
    default = load_run(runs / "default")
    level = run.summary["methods"]["finetune"]["levels"]["0"]
    alone = default.summary["methods"]["finetune"]["levels"]["0"]
    for key in ("total_energy_j", "total_compute_energy_j", "total_memory_energy_j", "final_acc"):
        assert level[key] == alone[key]  # the first point's, not a mean over points
    assert run.summary["hardware_points"] == [{"node_nm": 45.0, "arch": "layer_buffer"},
                                              {"node_nm": 45.0, "arch": "eyeriss_like"},
                                              {"node_nm": 7.0, "arch": "layer_buffer"},
                                              {"node_nm": 7.0, "arch": "eyeriss_like"}]
    table = hardware_table(run)
    assert [c.title for c in table.columns][2:] == ["45 nm layer_buffer", "45 nm eyeriss_like", "7 nm layer_buffer",
                                                    "7 nm eyeriss_like"]
    assert len(table.rows) == 1 and table.rows[0][:2] == ["finetune", "0"]
    assert "first point, 45 nm layer_buffer" in table.note
    assert hardware_table(default) is None  # one point: no such table


@pytest.mark.parametrize("flags,words", [
    (["--node", "45,8"], ["unknown technology node 8 nm", "valid nodes (nm): 90, 65, 45"]),
    (["--arch", "layer_buffer,nope"], ["nope", "eyeriss_like"]),
    (["--node", "45,7", "--vdd", "0.8"], ["--vdd:", "0.8 V", "45, 7 nm"]),
    (["--node", "7,7"], ["--node:", "repeat"]),
])
def test_a_bad_point_is_refused_before_anything_is_written(tmp_path, capsys, flags, words):
    assert main(["run", *TINY, *flags, "--out", str(tmp_path / "o"), "--run-id", "x"]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not (tmp_path / "o").exists()


def test_yaml_takes_a_list_or_one_value():
    cfg = make_config({"node": [45, 7], "arch": "layer_buffer, EYERISS_LIKE"})
    assert cfg.hardware_points() == [(45, "layer_buffer"), (45, "eyeriss_like"), (7, "layer_buffer"),
                                     (7, "eyeriss_like")]
    one = make_config({"node": 7, "arch": ["tpu_like"]})
    assert (one.node, one.arch, one.hardware_points()) == (7, "tpu_like", [(7, "tpu_like")])
    assert make_config({}).hardware_points() == [(None, None)]
    with pytest.raises(UserError, match="config key 'node': 'x' .* is not a whole number"):
        make_config({"node": "45,x"})


def test_trackers_log_the_axes_as_lists():
    from energybench.trackers.base import run_params

    manifest = {"hardware": {"node_nm": 45, "vdd": 0.9}}
    sweep = run_params(make_config({"node": "45,7", "arch": ["eyeriss_like", "tpu_like"]}), manifest)
    assert (sweep["node_nm"], sweep["arch"]) == ("45,7", "eyeriss_like,tpu_like")
    one = run_params(make_config({}), manifest)
    assert (one["node_nm"], one["arch"]) == ("45", "layer_buffer")
