"""What each metrics.csv column is logged as, and the guard that keeps a failing tracker from
costing a result."""

import warnings

import pytest

from energybench.trackers.base import Trackers, metric_kind, phase_metrics


@pytest.mark.parametrize("column,kind", [
    ("acc_all", "accuracy"), ("acc_top5", "accuracy"), ("acc_task_aware", "accuracy"), ("bwt", "accuracy"),
    ("train_macs", "counted"), ("mem_reads", "modelled"), ("storage_bytes", "counted"),
    ("compute_energy_j", "modelled"), ("level_dram_energy_j", "modelled"), ("co2e_modelled_g", "modelled"),
    ("measured_energy_j", "measured"), ("dram_energy_j", "measured"), ("train_time_s", "measured"),
    ("co2e_measured_g", "measured"), ("classes_seen", "protocol"), ("acc_nme", "accuracy"),
    ("method", None), ("node_nm", None), ("reused_base", None), ("some_method_figure", "other"),
    ("latency_s", "modelled"), ("utilisation", "modelled"), ("area_mm2", "modelled"), ("edp_js", "modelled"),
    ("mapper", None),
])
def test_metric_kinds(column, kind):
    assert metric_kind(column) == kind


def test_phase_metrics_skip_text_flags_and_empty():
    row = {"method": "lwf", "phase": 2, "acc_all": 51.25, "train_macs": 7, "measured_energy_j": float("nan"),
           "cache_shared": False, "co2e_measured_g": None}
    assert phase_metrics(row) == {"accuracy/acc_all": 51.25, "counted/train_macs": 7.0}


class Recorder:
    name = "recorder"

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def phase(self, cell, row, manifest, last):
        if self.fail_on == "phase":
            raise OSError(28, "No space left on device")
        self.calls.append(("phase", row["phase"]))

    def finish(self, root, files):
        self.calls.append(("finish",))

    def abort(self, status):
        self.calls.append(("abort", status))


def test_a_failing_tracker_warns_once_and_the_others_go_on():
    good, bad = Recorder(), Recorder(fail_on="phase")
    trackers = Trackers([("good", lambda: good), ("bad", lambda: bad)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for p in range(3):
            trackers.phase(None, {"phase": p}, {}, p == 2)
        trackers.finish(None, [])
    assert [str(w.message) for w in caught] == [
        "recorder tracker failed (phase: OSError: [Errno 28] No space left on device); it logs nothing more in "
        "this run, whose results are all in the run directory"]
    assert good.calls == [("phase", 0), ("phase", 1), ("phase", 2), ("finish",)]
    assert trackers.failed == ["recorder"]


def test_a_tracker_that_cannot_start_is_dropped():
    def broken():
        raise ConnectionError("server down")

    trackers = Trackers([("mlflow", broken)])
    with pytest.warns(UserWarning, match=r"mlflow tracker failed \(start: ConnectionError: server down\)"):
        trackers.phase(None, {"phase": 0}, {}, False)
    trackers.phase(None, {"phase": 1}, {}, False)  # no second warning: pytest would fail on an error
    assert trackers.failed == ["mlflow"]


def test_abort_before_any_phase_starts_nothing():
    started = []
    trackers = Trackers([("r", lambda: started.append(1) or Recorder())])
    trackers.abort()
    assert started == []


def test_a_hardware_sweeps_parameters_name_the_point_its_metrics_are():
    from energybench.engine.preflight import make_config
    from energybench.trackers.base import run_params

    sweep = make_config({"node": [45, 7], "arch": ["layer_buffer", "eyeriss_like"]})
    params = run_params(sweep, {"hardware": {"node_nm": 45}})
    assert params["arch"] == "layer_buffer,eyeriss_like" and params["node_nm"] == "45,7"
    assert params["metrics_point"] == ("45 nm layer_buffer: the first of 4 (node, arch) points; metrics.csv holds "
                                       "every point's rows")
    assert "metrics_point" not in run_params(make_config({}), {"hardware": {"node_nm": 45}})  # one point
