"""An interrupted run is reported as unfinished: its cells short of the last phase are named and
left out of everything "final" (summary.json, the report's figures and tables), never shown as if
their last finished phase were the last phase."""

import csv
import json
import warnings

import pytest
import yaml

from energybench import results
from energybench.cli import main
from energybench.engine.cell import CellWork
from energybench.report.rundir import load_run

TINY = ["--method", "finetune,lwf", "--sharing", "0,0.5", "--epochs", "1", "--batch-size", "8",
        "--train-per-class", "12", "--test-per-class", "10", "--no-power", "--no-report", "--quiet"]


def interrupted(tmp_path, monkeypatch, method: str, at: int):
    """A run of TINY stopped by Ctrl-C as `method` starts phase `at` (digits, B4-3x2: 3 phases)."""
    phase = CellWork.phase

    def stop(self, m, trainer, ph, *a, **k):
        if type(m).__name__.lower() == method and ph.index == at:
            raise KeyboardInterrupt
        return phase(self, m, trainer, ph, *a, **k)

    monkeypatch.setattr(CellWork, "phase", stop)
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "cut"]) == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    return tmp_path / "cut"


def test_an_interrupted_runs_report_leaves_its_unfinished_cells_out_and_names_them(tmp_path, monkeypatch, capsys):
    root = interrupted(tmp_path, monkeypatch, "lwf", 2)
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    # finetune finished at both levels; lwf trained its base phase and phase 1 at sharing 0 only
    assert sorted({(r["method"], r["sharing"]) for r in rows if r["phase"] == "2"}) == [("finetune", "0.0"),
                                                                                       ("finetune", "0.5")]
    lwf = [(r["sharing"], r["phase"]) for r in rows if r["method"] == "lwf"]
    assert lwf == [("0.0", "0"), ("0.0", "1")]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["levels_per_method"] == {"finetune": [0.0, 0.5], "lwf": [0.0, 0.5]}
    expected = [{"method": "lwf", "sharing": 0.0, "seed": 0, "phases_done": 2, "phases": 3},
                {"method": "lwf", "sharing": 0.5, "seed": 0, "phases_done": 0, "phases": 3}]
    with pytest.warns(UserWarning, match=r"is unfinished: lwf at sharing 0, seed 0 \(2 of 3 phases\); lwf at "
                                         r"sharing 0.5, seed 0 \(not started\); what is reported covers"):
        run = load_run(root)
    assert run.unfinished == expected
    assert run.methods == ["finetune"] and set(run.frame["method"]) == {"finetune"}
    assert list(run.summary["methods"]) == ["finetune"] and run.summary["unfinished"] == expected
    # the report says so at its top, and builds from the finished cells
    capsys.readouterr()
    assert main(["report", str(root), "--report-format", "html"]) == 0
    err = capsys.readouterr().err
    assert "is unfinished: lwf at sharing 0, seed 0 (2 of 3 phases)" in err
    html = (root / "report.html").read_text()
    assert ("Unfinished run: 2 of 4 cells trained all 3 phases. Not finished: lwf at sharing 0, seed 0 (2 of 3 "
            "phases); lwf at sharing 0.5, seed 0 (not started).") in html
    assert f"Continue it with: energybench run --resume {root}" in html
    # resumed to the end: nothing is unfinished, and summary.json has no such key
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    summary = json.loads((root / "summary.json").read_text())
    assert "unfinished" not in summary and list(summary["methods"]) == ["finetune", "lwf"]
    # forgetting after the last phase is summarised beside BWT (one seed: the cell's own value)
    last = {(r["method"], float(r["sharing"])): r for r in csv.DictReader(open(root / "metrics.csv"))
            if r["phase"] == "2"}
    for (m, s), r in last.items():
        level = summary["methods"][m]["levels"][f"{s:g}"]
        assert level["final_forgetting"] == pytest.approx(float(r["forgetting"]), abs=1e-9)
        assert level["bwt"] == pytest.approx(float(r["bwt"]), abs=1e-9)
    assert max(float(r["forgetting"]) for r in last.values()) > 0  # finetune forgets
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unfinished" warning now
        assert load_run(root).unfinished == []


def test_the_python_api_reads_an_unfinished_run_as_summary_json_does(tmp_path, monkeypatch, capsys):
    root = interrupted(tmp_path, monkeypatch, "lwf", 2)
    # the stop wrote summary.json: the finished cells, the others listed as unfinished
    written = json.loads((root / "summary.json").read_text())
    assert list(written["methods"]) == ["finetune"] and [u["method"] for u in written["unfinished"]] == ["lwf", "lwf"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert results.summary(root) == written  # (empty figures None, as JSON's null: the file exactly)
    # load(): the unfinished cells' rows left out, said once; unfinished=True keeps every row
    with pytest.warns(UserWarning, match=r"is unfinished: lwf at sharing 0, seed 0 \(2 of 3 phases\); lwf at sharing "
                                         r"0.5, seed 0 \(not started\); their rows are left out"):
        df = results.load(root)
    assert set(df["method"]) == {"finetune"} and set(results.cells(df).index.get_level_values("method")) == {"finetune"}
    assert len(results.load(root, unfinished=True)) == len(df) + 2  # lwf's phases 0 and 1
    with pytest.warns(UserWarning, match="is unfinished"):
        assert results.load(root / "metrics.csv").equals(df)  # the file named: its run directory is read
    # a column that does not exist is a mistake, not "not measured"
    with pytest.raises(KeyError, match=r"'compute_energy' is not a metrics.csv column \(did you mean "
                                       r"'compute_energy_j'\?\)"):
        results.incremental_totals(df, ["compute_energy"])
    one = results.incremental_totals(df, "compute_energy_j")  # one name, not its letters
    assert list(one.columns) == ["compute_energy_j"]
    assert one.equals(results.incremental_totals(df, ["compute_energy_j"]))


def test_a_run_stopped_in_its_first_cell_has_nothing_final_to_report(tmp_path, monkeypatch, capsys):
    root = interrupted(tmp_path, monkeypatch, "finetune", 2)
    capsys.readouterr()
    assert main(["report", str(root), "--report-format", "html"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"energybench report: error: {root} is unfinished and none of its cells has trained all 3 "
                          "phases yet (finetune at sharing 0, seed 0 (2 of 3 phases); finetune at sharing 0.5, seed 0 "
                          "(not started); lwf at sharing 0, seed 0 (not started); and 1 more)")
    assert err.endswith(f"continue it with: energybench run --resume {root}") and len(err.splitlines()) == 1
    assert not (root / "report.html").exists()
    # a run that names user code resumes only with --trust-code: the command given says so
    config = yaml.safe_load((root / "config.yaml").read_text())
    (root / "config.yaml").write_text(yaml.safe_dump({**config, "methods": ["finetune", "my_meths:Raises"]}))
    assert main(["report", str(root), "--report-format", "html"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"continue it with: energybench run --resume {root} --trust-code")
