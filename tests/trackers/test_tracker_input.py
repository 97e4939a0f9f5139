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
    ("negative intensity", ["--carbon-intensity", "-5"],
     "config key 'carbon_intensity': must be 0 or more grams of CO2e per kWh, got -5.0"),
    ("pue below 1", ["--carbon-intensity", "400", "--pue", "0.9"],
     "config key 'pue': a power usage effectiveness is 1 (no overhead) or more, got 0.9"),
    ("pue alone", ["--pue", "1.5"], "config key 'pue': applies to CO2e only"),
    ("grid and intensity", ["--grid", "FRA", "--carbon-intensity", "400"], "not both"),
    ("uri without mlflow", ["--tracking-uri", "http://localhost:5000"], "add --tracker mlflow"),
    ("class order", ["--class-order", "pycl"], "must be 'seeded', 'natural', 'pycil' or a list"),
]


@pytest.mark.parametrize("argv,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_the_valid_values(argv, message, tmp_path, capsys):
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
