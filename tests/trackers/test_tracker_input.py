"""Bad tracker, carbon and class-order input: exit 2, one line naming the valid values,
nothing written."""

import pytest

from energybench.cli import main

QUICK = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--no-power", "--no-report", "--quiet"]

CASES = [
    ("unknown tracker", ["--tracker", "wandb"], "unknown tracker 'wandb'; valid trackers: mlflow, tensorboard"),
    ("tracker typo", ["--tracker", "mlflow,tensorbord"], "unknown tracker 'tensorbord' (did you mean 'tensorboard'?)"),
    ("unknown region", ["--grid", "XYZ"], "unknown grid region 'XYZ'"),
    ("region lists codes", ["--grid", "FRANCE"], "valid grid regions: ABW, AFG,"),
    # the list shows 40 of 213 codes: a country's two-letter code or name is answered with its three-letter one
    ("region by two letters", ["--grid", "fr"], "unknown grid region 'FR' (did you mean 'FRA' (France) or 'FRO' "
                                                "(Faroe Islands)?)"),
    ("region by name", ["--grid", "germany"], "unknown grid region 'GERMANY' (did you mean 'DEU' (Germany)?)"),
    ("region uk", ["--grid", "uk"], "(did you mean 'GBR' (United Kingdom) or 'UKR' (Ukraine)?)"),
    ("negative intensity", ["--carbon-intensity", "-5"],
     "--carbon-intensity: must be 0 or more grams of CO2e per kWh, got -5.0"),
    ("pue below 1", ["--carbon-intensity", "400", "--pue", "0.9"],
     "--pue: a power usage effectiveness is 1 (no overhead) or more, got 0.9"),
    ("pue alone", ["--pue", "1.5"], "--pue: applies to CO2e only"),
    ("grid and intensity", ["--grid", "FRA", "--carbon-intensity", "400"], "not both"),
    ("uri without mlflow", ["--tracking-uri", "http://localhost:5000"], "add --tracker mlflow"),
    ("class order", ["--class-order", "pycl"], "must be 'seeded', 'natural', 'pycil' or a list of class indices "
     "(e.g. [3, 1, 0, 2] or 3,1,0,2), got 'pycl' (did you mean 'pycil'?)"),
    # URIs MLflow would refuse only at the first phase (the tracker then dropped, the run going on)
    ("uri scheme", ["--tracker", "mlflow", "--tracking-uri", "bogus://x"],
     "--tracking-uri: unknown MLflow tracking URI scheme 'bogus://' in 'bogus://x'; valid schemes: "
     "http, https, sqlite, postgresql, mysql, mssql, databricks"),
    ("uri folder", ["--tracker", "mlflow", "--tracking-uri", "/tmp/mlruns"],
     "'/tmp/mlruns' names a folder, MLflow's file store, which MLflow 3 keeps in maintenance mode and refuses; "
     "give a database file, e.g. sqlite:////tmp/mlruns/mlflow.db, or a tracking server's http(s):// address"),
    ("uri sqlite folder", ["--tracker", "mlflow", "--tracking-uri", "sqlite:////no/such/dir/m.db"],
     "the SQLite file of 'sqlite:////no/such/dir/m.db' would be in /no/such/dir, which is not a directory"),
    # a folder nothing can be written in: MLflow retried for about 100 s before the tracker was dropped
    ("uri sqlite unwritable", ["--tracker", "mlflow", "--tracking-uri", "sqlite:////proc/m.db"],
     "--tracking-uri: the SQLite file of 'sqlite:////proc/m.db' cannot be written (/proc: "),
]


@pytest.mark.parametrize("argv,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_the_valid_values(argv, message, tmp_path, capsys):
    if "mlflow" in argv:  # the URI is checked once the tracker's package is found
        pytest.importorskip("mlflow")
        if "file store" in message and int(pytest.importorskip("mlflow").__version__.split(".")[0]) < 3:
            pytest.skip("MLflow 2 writes its file store")
    code = main(["run", *QUICK, "--out", str(tmp_path / "runs"), *argv])
    out, err = capsys.readouterr()
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("tracker,extra",
                         [("mlflow", "energybench[mlflow]"), ("tensorboard", "energybench[tensorboard]")])
def test_tracker_without_its_extra_names_the_extra(tracker, extra, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == tracker else real(name, *a))
    code = main(["run", *QUICK, "--out", str(tmp_path / "runs"), "--tracker", tracker])
    err = capsys.readouterr().err
    assert code == 2
    assert f"tracker '{tracker}' needs the {tracker} package, which is not installed; install it with: pip install " \
           f"'{extra}'" in err
    assert not (tmp_path / "runs").exists()


def test_none_is_no_tracker_as_the_help_calls_the_default():
    from energybench.config import parse_config

    for given in ("none", "None", " NONE "):
        assert parse_config({"trackers": given})[0].trackers == []
    assert parse_config({"trackers": "mlflow"})[0].trackers == ["mlflow"]
