"""The pre-flight checks a whole run before anything is written and returns what the run uses."""

from __future__ import annotations

import pytest

from energybench.engine import preflight as pf
from energybench.engine.executors import LocalExecutor, RayExecutor
from energybench.engine.preflight import make_config, preflight
from energybench.errors import UserError

SMALL = {"methods": "finetune,lwf", "seeds": "0,1", "sharing": "0,0.2,0.4", "epochs": 1, "train_per_class": 8,
         "test_per_class": 4}


def test_it_resolves_the_run_once_and_writes_nothing(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(pf, "build_backbone", lambda *a: built.append(a))
    out = tmp_path / "runs"
    run = preflight(make_config(SMALL, {"out": str(out), "weights": __file__}), LocalExecutor.driver_device)
    assert run.methods == ["finetune", "lwf"] and run.cfg.methods == ["finetune", "lwf"]
    assert sorted(run.scenarios) == [0, 1] and run.in_shape == (1, 8, 8)
    assert run.plan.levels == [0.0, 0.2] and run.plan.collapsed == {0.4: 0.2}  # tiny_cnn: 0.2, 0.4 cut alike
    assert str(run.device) == "cpu" and run.threads == 1 and run.hardware.table is not None
    assert len(built) == 1  # the backbone with its --weights: built once, here
    assert not out.exists()


def test_the_driver_device_is_the_executors_choice():
    cfg = make_config(SMALL)
    assert str(RayExecutor.driver_device(cfg)) == "cpu"  # under Ray the driver only reads and writes states
    assert LocalExecutor.driver_device(cfg).type in ("cpu", "cuda")


def test_a_bad_option_stops_it_with_the_methods_message():
    with pytest.raises(UserError, match="unknown option 'lambda' \\(did you mean 'lamb'\\?\\) for method lwf"):
        preflight(make_config(SMALL, {"options": {"lwf": {"lambda": 1}}}), LocalExecutor.driver_device)


def test_a_first_phase_of_one_class_is_said_to_learn_nothing():
    with pytest.warns(UserWarning, match=r"^scenario B0-1x10: phase 0 has one class, and cross-entropy over one "
                                         r"class is 0 whatever the network"):
        preflight(make_config(SMALL, {"scenario": "B0-1x10"}), LocalExecutor.driver_device)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preflight(make_config(SMALL, {"scenario": "B2-2x4"}), LocalExecutor.driver_device)
