"""scripts/study_tables.py: several run directories read as one study (the rows of each, summarised by
energybench's own rule), its table and its points with Pareto flags."""

import importlib.util
from pathlib import Path

import pytest
from rundir_factory import make_run_dir

from energybench.report.rundir import load_run

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "study_tables.py"


def _script():
    spec = importlib.util.spec_from_file_location("study_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_runs_of_distinct_cells_read_as_one_with_each_runs_figures(tmp_path):
    study = _script()
    a = make_run_dir(tmp_path / "a", methods=("icarl", "lucir"), sharing=(0.0,), seeds=(0, 1))
    b = make_run_dir(tmp_path / "b", methods=("icarl",), sharing=(0.5,), seeds=(0, 1), offset=-3.0)
    run = study.merged([str(a), str(b)])
    assert run.methods == ["icarl", "lucir"]
    assert run.levels("icarl") == [0.0, 0.5] and run.levels("lucir") == [0.0]
    alone_a, alone_b = load_run(a), load_run(b)
    for key in ("final_acc", "total_train_macs", "storage_bytes"):  # each level keeps its own run's figures
        assert run.value("icarl", 0.0, key) == alone_a.value("icarl", 0.0, key)
        assert run.value("icarl", 0.5, key) == alone_b.value("icarl", 0.5, key)
    rows = study.table(run).splitlines()
    assert len(rows) == 2 + 3 and rows[2].startswith("| icarl | 0 (") and rows[4].startswith("| lucir | 0 (")
    study.main([str(a), str(b), "--out", str(tmp_path / "out"), "--name", "s"])
    points = (tmp_path / "out" / "s_points.csv").read_text().splitlines()
    assert points[0].startswith("method,sharing,") and len(points) == 1 + 3
    assert (tmp_path / "out" / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_runs_that_share_a_cell_are_refused(tmp_path):
    a = make_run_dir(tmp_path / "a", methods=("icarl",), sharing=(0.0,))
    b = make_run_dir(tmp_path / "b", methods=("icarl",), sharing=(0.0,))
    with pytest.raises(SystemExit, match="overlap"):
        _script().merged([str(a), str(b)])
