"""`energybench run --tracker mlflow,tensorboard` on the quick benchmark: the stores read back
with MLflow's client and TensorBoard's own reader hold metrics.csv's numbers exactly; CO2e,
the pycil class order and the accuracy matrix of the same run; a failing tracker costs nothing."""

import csv
import json
import math

import pytest

from energybench import results
from energybench.cli import main
from energybench.errors import UserError
from energybench.trackers.base import metric_kind

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

QUICK = ["--method", "finetune", "--sharing", "0,0.5", "--epochs", "2", "--test-per-class", "10", "--no-power",
         "--quiet"]
CELLS = {"finetune s=0 seed 0", "finetune s=0.5 seed 0"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = main(["run", *QUICK, "--out", str(out), "--run-id", "t", "--report-format", "html",
                 "--tracker", "mlflow,tensorboard", "--carbon-intensity", "400", "--pue", "1.2",
                 "--class-order", "pycil"])
    assert code == 0
    return out / "t"


def _rows(root):
    return list(csv.DictReader(open(root / "metrics.csv")))


def _expected(row):
    """metrics.csv's numbers of one row, as `<kind>/<column>` keys."""
    out = {}
    for column, text in row.items():
        kind = metric_kind(column)
        if kind is None or text in ("", "True", "False"):
            continue
        assert kind != "other", column  # every built-in column says where its number came from
        out[f"{kind}/{column}"] = float(text)
    return out


def _cell(row):
    return f"{row['method']} s={float(row['sharing']):g} seed {row['seed']}"


def test_mlflow_store_holds_every_cell_with_the_csv_numbers(run_dir):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("energybench")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "t" and parents[0].info.status == "FINISHED"
    parent = parents[0]
    params = parent.data.params
    assert params["backbone"] == "tiny_cnn" and params["class_order_rule"] == "pycil" and params["scenario"] == "B4-3x2"
    assert (params["arch"], params["node_nm"], params["precision"], params["energy_table"]) == (
        "layer_buffer", "45", "fp32", "horowitz45")
    assert params["version_torch"] and params["energybench"] and params["pue"] == "1.2"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == CELLS  # every cell is a run, nested under the sweep's
    rows = _rows(run_dir)
    for name, run in children.items():
        assert run.info.status == "FINISHED"
        assert run.data.params["class_order"] == "4,2,7,6,0,3,5,8,9,1"
        mine = [r for r in rows if _cell(r) == name]
        assert len(mine) == 3
        logged = {}
        for key in run.data.metrics:
            for m in client.get_metric_history(run.info.run_id, key):
                logged.setdefault(m.step, {})[key] = m.value
        for r in mine:
            want = _expected(r)
            assert len(want) > 25 and "modelled/compute_energy_j" in want and "counted/train_macs" in want
            assert logged[int(r["phase"])] == want  # the same keys, the same numbers, bit for bit
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"accuracy_matrix.csv", "energy_levels_phase1.csv", "confusion_phase2.csv"} <= files
    assert {"metrics.csv", "summary.json", "manifest.json", "config.yaml", "report.html"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)}


def test_tensorboard_events_hold_the_csv_numbers(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    folders = sorted(p.name for p in (run_dir / "tensorboard").iterdir())
    assert folders == ["finetune_s0.5_seed0", "finetune_s0_seed0"]
    rows = _rows(run_dir)
    for folder in folders:
        acc = EventAccumulator(str(run_dir / "tensorboard" / folder), size_guidance={"tensors": 0})
        acc.Reload()
        logged = {}
        for tag in acc.Tags()["tensors"]:
            if tag == "parameters":
                text = tensor_util.make_ndarray(acc.Tensors(tag)[0].tensor_proto).item().decode()
                assert "| class_order | 4,2,7,6,0,3,5,8,9,1 |" in text
                continue
            for event in acc.Tensors(tag):
                logged.setdefault(event.step, {})[tag] = tensor_util.make_ndarray(event.tensor_proto).item()
        sharing = folder.split("_s")[1].split("_")[0]
        mine = [r for r in rows if f"{float(r['sharing']):g}" == sharing]
        assert sorted(logged) == [0, 1, 2]
        for r in mine:
            assert logged[int(r["phase"])] == _expected(r)


def test_co2e_is_kwh_times_intensity_times_pue(run_dir):
    rows = _rows(run_dir)
    for r in rows:
        joules = float(r["compute_energy_j"]) + float(r["memory_energy_j"])
        for part in ("elementwise_compute_energy_j", "elementwise_memory_energy_j"):  # priced too, in this order
            joules += float(r[part])
        assert float(r["co2e_modelled_g"]) == joules / 3.6e6 * 400 * 1.2  # unrounded
        assert float(r["co2e_modelled_g"]) == pytest.approx(joules * 1.3333333333333333e-4, rel=1e-12)
        assert r["co2e_measured_g"] == ""  # not measured: never filled from the model
    summary = json.loads((run_dir / "summary.json").read_text())
    level = summary["methods"]["finetune"]["levels"]["0"]
    incremental = sum(float(r["co2e_modelled_g"]) for r in rows if r["sharing"] == "0.0" and r["phase"] != "0")
    assert level["total_co2e_modelled_g"] == pytest.approx(incremental, rel=1e-12)
    assert level["total_co2e_measured_g"] is None  # strict JSON: null, never NaN
    carbon = json.loads((run_dir / "manifest.json").read_text())["carbon"]
    assert carbon["g_per_kwh"] == 400 and carbon["pue"] == 1.2 and "x a PUE of 1.2" in carbon["sentence"]


def test_pycil_order_recorded_and_reported(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["class_order"] == {"0": [4, 2, 7, 6, 0, 3, 5, 8, 9, 1]}
    assert manifest["class_order_rule"] == "pycil"
    html = (run_dir / "report.html").read_text()
    assert "Seed 0 class order (pycil): 4, 2, 7, 6, 0, 3, 5, 8, 9, 1." in html
    # BWT, and the CO2e assumptions in one sentence, in the report
    assert "BWT: backward transfer (Lopez-Paz and Ranzato 2017)" in html
    assert "CO2e is energy (kWh) x a carbon intensity of 400 g CO2e/kWh x a PUE of 1.2" in html
    for fid in ("accuracy-matrix", "bwt-vs-energy", "co2e-saved"):
        assert f'id="{fid}"' in html


def test_figures_export_holds_the_protocol_figures(run_dir, tmp_path, capsys):
    """`report --figures` writes every figure of the report, the heatmap, BWT and CO2e ones too."""
    out = tmp_path / "figs"
    assert main(["report", str(run_dir), "--figures", str(out), "--figure-format", "svg"]) == 0
    captions = (out / "captions.md").read_text()
    for fid, title in (("accuracy-matrix", "Accuracy matrix per method"),
                       ("bwt-vs-energy", "Backward transfer vs training energy"),
                       ("co2e-saved", "CO2e saved per sharing level")):
        assert (out / f"{fid}.svg").is_file(), fid
        assert f"## {fid}: {title}\n" in captions
    # against sharing: the achieved fraction (0.5 achieves 17.6 % on tiny_cnn), the request on top
    svg = (out / "co2e-saved.svg").read_text()
    assert ">sharing achieved (%)<" in svg and ">sharing requested (%)<" in svg and ">sharing level<" not in svg
    capsys.readouterr()


def test_accuracy_matrix_bwt_and_summary(run_dir):
    matrix = results.accuracy_matrix(run_dir)
    rows = _rows(run_dir)
    assert len(matrix) == 6 and list(matrix.columns) == ["method", "sharing", "seed", "after_phase", "phase_0",
                                                         "phase_1", "phase_2"]
    for (sharing, _), cell in matrix.groupby(["sharing", "seed"]):
        r = cell.set_index("after_phase")
        assert math.isnan(r.loc[0, "phase_1"]) and math.isnan(r.loc[1, "phase_2"])
        bwt = ((r.loc[2, "phase_0"] - r.loc[0, "phase_0"]) + (r.loc[2, "phase_1"] - r.loc[1, "phase_1"])) / 2
        last = next(x for x in rows if float(x["sharing"]) == sharing and x["phase"] == "2")
        assert float(last["bwt"]) == pytest.approx(bwt, abs=1e-9)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["methods"]["finetune"]["levels"][f"{sharing:g}"]["bwt"] == pytest.approx(bwt, abs=1e-9)
        # phase 2 sees 10 classes: top-5 and task-aware accuracy are there, and no lower than top-1
        assert float(last["acc_top5"]) >= float(last["acc_all"])
        assert float(last["acc_task_aware"]) >= float(last["acc_all"])
    assert all(r["acc_top5"] == "" for r in rows if r["phase"] == "0")  # 4 classes: top-5 says nothing


def test_a_failing_tracker_warns_once_and_costs_no_result(tmp_path, capsys):
    broken = tmp_path / "m.db"
    broken.write_text("not an SQLite database")  # found by a look at the URI, refused only when MLflow opens it
    code = main(["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "8",
                 "--test-per-class", "5", "--no-power", "--no-report", "--quiet", "--out", str(tmp_path),
                 "--run-id", "r", "--tracker", "mlflow", "--tracking-uri", f"sqlite:///{broken}"])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("mlflow tracker failed") == 1, err  # once, though three phases and the end came after
    assert len(_rows(tmp_path / "r")) == 3 and (tmp_path / "r" / "summary.json").is_file()


def test_resume_finds_the_same_runs_again(run_dir, capsys):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("energybench")
    before = sorted(r.info.run_id for r in client.search_runs([exp.experiment_id]))
    assert main(["run", "--resume", str(run_dir), "--tracker", "mlflow", "--no-report", "--quiet"]) == 0
    after = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_id for r in after) == before  # no second parent, no cell logged twice
    assert all(r.info.status == "FINISHED" for r in after)
    for run in after:  # and no phase logged twice
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "accuracy/acc_all")]
        assert steps == ([0, 1, 2] if "mlflow.parentRunId" in run.data.tags else []), steps


def test_a_tracker_added_on_resume_logs_the_rows_written_before_each_once(tmp_path, monkeypatch, capsys):
    """README: trackers do not change results, so --resume may add them. A finished run resumed with
    trackers, by a relative path, logs its rows (metrics.csv's numbers); resumed again, nothing twice."""
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    monkeypatch.chdir(tmp_path)
    assert main(["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "8",
                 "--test-per-class", "5", "--no-power", "--quiet", "--no-report", "--run-id", "r"]) == 0
    rows = _rows(tmp_path / "runs" / "r")
    for _ in range(2):
        assert main(["run", "--resume", "runs/r", "--tracker", "mlflow,tensorboard", "--no-report", "--quiet"]) == 0
        assert "tracker failed" not in capsys.readouterr().err
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'r' / 'mlflow.db'}")
    [cell] = [r for r in client.search_runs([client.get_experiment_by_name("energybench").experiment_id])
              if "mlflow.parentRunId" in r.data.tags]
    assert cell.info.status == "FINISHED" and cell.data.tags["energybench.run_dir"] == str(tmp_path / "runs" / "r")
    logged = {}
    for key in cell.data.metrics:
        for m in client.get_metric_history(cell.info.run_id, key):
            assert m.step not in logged.get(key, {}), (key, m.step)  # once each
            logged.setdefault(key, {})[m.step] = m.value
    assert {step: {k: v[step] for k, v in logged.items() if step in v} for step in (0, 1, 2)} == {
        int(r["phase"]): _expected(r) for r in rows}
    folder = tmp_path / "runs" / "r" / "tensorboard" / "finetune_s0_seed0"
    events = [e for path in sorted(folder.glob("events.out.tfevents.*")) for e in EventFileLoader(str(path)).Load()]
    assert sorted(e.step for e in events if any(v.tag == "accuracy/acc_all" for v in e.summary.value)) == [0, 1, 2]
    assert sum(v.tag == "parameters" for e in events for v in e.summary.value) == 1


@pytest.mark.parametrize("stop,code,status", [(KeyboardInterrupt, 130, "KILLED"),
                                              (UserError("the report cannot be drawn"), 2, "FAILED")])
def test_a_run_whose_reports_stop_ends_its_tracker_runs(tmp_path, monkeypatch, capsys, stop, code, status):
    """Interrupted or failed while the reports are written, after every row: the MLflow runs are not left RUNNING."""
    from mlflow.tracking import MlflowClient

    from energybench.report.worker import ReportWorker

    def stopped(self, run_dir, formats):
        raise stop

    monkeypatch.setattr(ReportWorker, "build", stopped)
    argv = ["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "8",
            "--test-per-class", "5", "--no-power", "--quiet", "--report-format", "html", "--out", str(tmp_path),
            "--run-id", "r", "--tracker", "mlflow"]
    assert main(argv) == code
    assert len(_rows(tmp_path / "r")) == 3  # every row was written first
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'r' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("energybench").experiment_id])
    ended = {"cell" if "mlflow.parentRunId" in r.data.tags else "parent": r.info.status for r in runs}
    assert len(runs) == 2 and ended == {"cell": "FINISHED", "parent": status}  # the cell had finished with its phases
    # a resume writes the reports into the same parent (not into the cell, which carries the run's tag too)
    monkeypatch.undo()
    assert main(["run", "--resume", str(tmp_path / "r"), "--tracker", "mlflow", "--quiet"]) == 0
    after = {r.info.run_id: r for r in client.search_runs([runs[0].info.experiment_id])}
    assert sorted(after) == sorted(r.info.run_id for r in runs)
    [parent] = [r for r in after.values() if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED"
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
