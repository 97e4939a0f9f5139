"""energybench.rundir owns the run directory: what the writer writes reads back typed, one rule
reads missing and NaN values, an older layout still reads, a newer one is refused, and no other
module parses metrics.csv."""

from __future__ import annotations

import ast
import json
import math
import warnings
from pathlib import Path

import pytest

from energybench import rundir
from energybench.engine.store import RunStore
from energybench.errors import UserError
from energybench.report.rundir import load_run
from energybench.results import cells

PKG = Path(__file__).resolve().parents[2] / "energybench"


def test_a_run_directory_written_today_reads_back_typed(tmp_path):
    store = RunStore(tmp_path / "r")
    store.write_config({"methods": ["lucir"], "tolerance": 1.0})
    store.write_manifest({"energybench": "x", "seeds": [3]})
    store.append({"method": "lucir", "sharing": 0.5, "seed": 3, "phase": 0, "classes_seen": 4, "acc_all": 0.1 + 0.2,
                  "cache_shared": True, "energy_table": "horowitz45", "measured_energy_j": float("nan"),
                  "mean_power_w": None, "train_macs": 12345678901, "acc_nme": 81.5})
    store.append({"method": "lucir", "sharing": 0.5, "seed": 3, "phase": 1, "classes_seen": 8, "acc_all": 70.0,
                  "cache_shared": False, "energy_table": "horowitz45", "measured_energy_j": 2.5e-3})
    df = rundir.load(tmp_path / "r")
    first, second = df.iloc[0], df.iloc[1]
    assert list(df.columns) == list(rundir.SCHEMA) + ["acc_nme"]
    assert first["run_id"] == "r" and first["method"] == "lucir" and first["energy_table"] == "horowitz45"
    assert type(first["seed"]) is not float and int(first["seed"]) == 3 and int(second["phase"]) == 1
    assert first["sharing"] == 0.5 and first["acc_all"] == 0.30000000000000004  # full precision, not 0.3
    assert first["train_macs"] == 12345678901.0 and first["acc_nme"] == 81.5 and math.isnan(second["acc_nme"])
    assert first["cache_shared"] == 1.0 and second["cache_shared"] == 0.0
    assert math.isnan(first["measured_energy_j"]) and math.isnan(first["mean_power_w"])
    assert second["measured_energy_j"] == 2.5e-3 and first["measured_note"] is None
    assert rundir.read_config(tmp_path / "r") == {"methods": ["lucir"], "tolerance": 1.0}
    assert rundir.read_manifest(tmp_path / "r") == {"energybench": "x", "seeds": [3],
                                                    rundir.FORMAT_KEY: rundir.FORMAT}
    assert RunStore(tmp_path / "r").rows[0]["acc_all"] == "0.30000000000000004"  # the writer's text, unchanged


def test_each_phase_writes_the_whole_file_but_formats_only_its_new_rows(tmp_path, monkeypatch):
    """metrics.csv is written whole after every phase; rows written before are not formatted again (that
    grew with the square of a sweep's rows), yet the file is always what the rows give written afresh,
    also when a new row brings a column the others lack or a cell's rows are dropped."""
    from energybench.rundir import write

    formatted = []
    monkeypatch.setattr(write, "fmt", lambda v, real=write.fmt: formatted.append(v) or real(v))

    def row(phase, **extra):  # with run_id, which the store adds: 6 cells
        return {"method": "lwf", "sharing": 0.5, "seed": 0, "phase": phase, "acc_all": 50.0 + phase, **extra}

    store = RunStore(tmp_path / "r")
    path = tmp_path / "r" / "metrics.csv"

    def afresh() -> str:  # the file's text from new row objects, nothing reused (and not counted)
        counted = len(formatted)
        text = rundir.MetricsText().render([dict(r) for r in store.rows])
        del formatted[counted:]
        return text

    store.append(row(0), row(0, sharing=0.8))
    assert len(formatted) == 12 and path.read_text() == afresh()
    store.append(row(1))
    assert len(formatted) == 18 and path.read_text() == afresh()  # (every row again would be 30)
    store.append(row(2, acc_nme=61.5))  # a new column: every line gains a cell
    assert len(formatted) == 18 + 6 + 6 + 6 + 7
    text = path.read_text()
    assert text == afresh() and text.splitlines()[0].endswith(",acc_nme") and text.splitlines()[1].endswith(",")
    assert text.splitlines()[4].endswith(",61.5") and len(text.splitlines()) == 5
    store.drop_partial("lwf", 0.5, 0, keep_upto=0)  # phases 1 and 2 of that cell will be trained again
    assert path.read_text() == afresh() and len(path.read_text().splitlines()) == 3
    assert "acc_nme" not in path.read_text()  # the column left with the only row that had it
    store.append(row(1))
    assert path.read_text() == afresh() and [r["phase"] for r in rundir.read_rows(path)] == ["0", "0", "1"]


def test_missing_and_nan_read_under_one_rule(tmp_path):
    """An empty cell and a 'nan' cell both read as NaN (not measured), never 0; only the 'nan' one
    is named in a warning (an empty cell is how the writer spells it); an empty text cell is None."""
    path = tmp_path / "metrics.csv"
    path.write_text("method,sharing,seed,phase,acc_all,measured_energy_j,mean_power_w,cache_shared,measured_note\n"
                    "joint,0,0,0,90.5,,nan,,\n"
                    "joint,0,0,1,80.25,1.5,2,True,idle\n")
    with pytest.warns(UserWarning) as caught:
        df = rundir.read_metrics(path)
    notices = [str(w.message) for w in caught if "finite" in str(w.message)]
    assert notices == [f"{path}: 1 cell(s) are not finite numbers (line 2 mean_power_w 'nan'); read as not measured"]
    row, full = df.iloc[0], df.iloc[1]
    assert row["acc_all"] == 90.5 and math.isnan(row["measured_energy_j"]) and math.isnan(row["mean_power_w"])
    assert math.isnan(row["cache_shared"]) and row["measured_note"] is None
    assert (full["measured_energy_j"], full["mean_power_w"], full["cache_shared"], full["measured_note"]) == \
        (1.5, 2.0, 1.0, "idle")
    # the writer spells NaN and None alike, as an empty cell; the scalar rule reads them back as NaN
    line = rundir.render_csv([{"method": "m", "acc_all": float("nan"), "acc_old": None, "acc_new": 0.0}])
    cols = line.splitlines()[0].split(",")
    values = dict(zip(cols, line.splitlines()[1].split(",")))
    assert (values["acc_all"], values["acc_old"], values["acc_new"]) == ("", "", "0.0")
    assert [math.isnan(rundir.num(v)) for v in ("", None, "nan", "abc")] == [True] * 4 and rundir.num("0") == 0.0


# metrics.csv as energybench 0.0.9 wrote it: none of the sharing_achieved, continual-learning, element-wise,
# hardware or measured columns; no format in manifest.json and no summary.json yet.
OLD_HEADER = ("run_id,method,sharing,seed,phase,classes_seen,new_classes,acc_all,acc_old,acc_new,iters,train_time_s,"
              "train_macs,mem_reads,mem_writes,compute_energy_j,memory_energy_j,energy_table,precision,storage_bytes")


def old_run(root: Path) -> Path:
    root.mkdir()
    lines = [OLD_HEADER]
    for sharing, accs in ((0.0, (90.0, 60.0)), (0.5, (90.0, 59.5))):
        for phase, acc in enumerate(accs):
            lines.append(f"old,finetune,{sharing},0,{phase},{2 + 2 * phase},2,{acc},{acc},{acc},10,1.0,1000,"
                         f"100,50,{4.0 - 2 * sharing},2.0,horowitz45,fp32,{1000 - 400 * sharing:.0f}")
    (root / "metrics.csv").write_text("\n".join(lines) + "\n")
    (root / "config.yaml").write_text("methods: [finetune]\ntolerance: 1.0\n")
    (root / "manifest.json").write_text(json.dumps({"energybench": "0.0.9", "seeds": [0]}))
    return root


def test_an_older_layout_reads(tmp_path):
    root = old_run(tmp_path / "old")
    assert rundir.written_format(root) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = load_run(root)
    told = " ".join(str(w.message) for w in caught)
    assert "lacks the columns sharing_achieved, shared_blocks, avg_inc_acc" in told
    assert "was written by energybench 0.0.9" in told
    assert "sharing_achieved" not in run.frame and run.frame["acc_all"].tolist() == [90.0, 60.0, 90.0, 59.5]
    by_cell = cells(run.frame)
    assert by_cell["final_acc"].tolist() == [60.0, 59.5] and math.isnan(by_cell["bwt"].iloc[0])
    lv = run.summary["methods"]["finetune"]["levels"]  # derived: the old run wrote no summary.json
    assert lv["0.5"]["total_compute_energy_j"] == 3.0 and lv["0.5"]["normalised_to_sharing_0"][
        "total_compute_energy_j"] == 0.75
    assert run.summary["methods"]["finetune"]["optimal_sharing"] == 0.5


@pytest.mark.filterwarnings("ignore:.*lacks the columns")
def test_a_newer_format_is_refused(tmp_path):
    root = old_run(tmp_path / "new")
    newer = rundir.FORMAT + 1
    (root / "manifest.json").write_text(json.dumps({"energybench": "9.0", rundir.FORMAT_KEY: newer}))
    message = (f"run directory {root} was written by a newer energybench (format {newer}); "
               f"this version reads up to {rundir.FORMAT}")
    for read in (rundir.load, load_run, RunStore):
        with pytest.raises(UserError) as err:
            read(root)
        assert str(err.value) == message
    (root / "manifest.json").write_text(json.dumps({rundir.FORMAT_KEY: rundir.FORMAT}))
    assert len(rundir.load(root)) == 4  # the version this code writes reads


PARSERS = {"reader", "DictReader", "read_csv", "loadtxt", "genfromtxt", "read_table"}
# Modules that parse other CSV files: confusion matrices, cost/'s shipped tables, scikit-learn's digits file.
OTHER_CSV = ("energybench/confusion.py", "energybench/cost/", "energybench/data/digits.py")


def csv_parses(source: str) -> list[str]:
    """The CSV-parsing calls in a module's source (csv.reader, csv.DictReader, pd.read_csv, ...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in PARSERS:
                found.append(f"line {node.lineno}: {ast.unparse(f)}")
    return found


def test_the_detector_sees_csv_parsing():
    assert csv_parses("import csv\nrows = list(csv.DictReader(open('metrics.csv')))\n") == ["line 2: csv.DictReader"]
    assert csv_parses("from pandas import read_csv\ndf = read_csv(p)\n") == ["line 2: read_csv"]
    assert csv_parses("text = open('metrics.csv').read().splitlines()\n") == []


def test_no_module_but_the_owner_parses_metrics_csv():
    """Outside energybench/rundir/, a module that parses CSV reads a file that is not metrics.csv:
    it mentions no metrics.csv and is one of the known readers of other CSV files."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if rel.startswith("energybench/rundir/"):
            continue
        source = path.read_text()
        parses = csv_parses(source)
        if parses and ("metrics.csv" in source or "METRICS" in source or not rel.startswith(OTHER_CSV)):
            bad += [f"{rel} {p}" for p in parses]
    assert bad == []
