"""The embedded cluster that `run --workers N` boots before torch is imported (engine/ray_start):
which flags start it, and how the Ray executor takes it over or replaces it once the config is
known. A stand-in for the booting cluster records what is asked of it; no Ray process starts."""

from __future__ import annotations

import subprocess
import sys
from argparse import Namespace

import pytest

from energybench.engine import ray_start
from energybench.engine.executors import ray as ray_executor
from energybench.engine.preflight import make_config


class Booting:
    """Records a cluster start (its ray.init options) and whether it was shut down."""

    def __init__(self, cfg):
        self.options = ray_start._init_options(cfg)
        self.ended = False

    def end(self):
        self.ended = True


@pytest.fixture
def booted(monkeypatch):
    """Every start, in order; neither module's cluster is left behind by the test."""
    starts: list[Booting] = []

    def record(cfg):
        starts.append(Booting(cfg))
        return starts[-1]

    monkeypatch.setattr(ray_start, "_Start", record)
    monkeypatch.setattr(ray_executor, "_Start", record)
    monkeypatch.setattr(ray_start, "_early", None)
    monkeypatch.setattr(ray_executor, "_starting", None)
    return starts


def flags(**given) -> Namespace:
    return Namespace(**{"workers": None, "cpus_per_cell": None, "ray_address": None, "executor": None,
                        "config": None, **given})


def test_the_workers_flag_boots_the_cluster_that_the_executor_then_takes_over(booted):
    ray_start.boot_from_flags(flags(workers=2))
    assert [b.options["num_cpus"] for b in booted] == [2.0]
    ray_executor.RayExecutor.prestart(make_config({"workers": 2}))
    assert ray_executor._starting is booted[0] and len(booted) == 1 and not booted[0].ended
    assert ray_start.take_early() is None  # handed over once


def test_a_config_that_asks_for_another_cluster_replaces_the_early_one(booted):
    ray_start.boot_from_flags(flags(workers=1, cpus_per_cell=1.0))
    ray_executor.RayExecutor.prestart(make_config({"workers": 1, "cpus_per_cell": 2.0}))
    assert booted[0].ended and [b.options["num_cpus"] for b in booted] == [1.0, 2.0]
    assert ray_executor._starting is booted[1]


def test_a_run_that_fails_before_the_executor_exists_shuts_the_early_cluster_down(booted):
    ray_start.boot_from_flags(flags(workers=1))
    ray_executor.RayExecutor.abandon_prestart()
    assert booted[0].ended and ray_start.take_early() is None


@pytest.mark.parametrize("given", [
    {},  # no --workers: the config decides (local, or a cluster's address)
    {"workers": 2, "executor": "local"},  # refused by the config checks
    {"workers": 2, "ray_address": "127.0.0.1:6379"},  # joins a cluster instead
    {"workers": 2, "config": "run.yaml"},  # the file may set --cpus-per-cell
    {"workers": 0}, {"workers": 10**6}, {"workers": 1, "cpus_per_cell": 0.0},  # refused by the config checks
    {"workers": 1, "cpus_per_cell": float("inf")}, {"workers": 1, "gpus_per_cell": -1.0},
    {"workers": 1, "gpus_per_cell": float("nan")},
])
def test_flags_that_do_not_decide_an_embedded_cluster_start_nothing(booted, given):
    ray_start.boot_from_flags(flags(**given))
    assert booted == [] and ray_start.take_early() is None


def test_booting_the_cluster_imports_no_torch():
    """The point of the early start: it runs while the driver imports torch, not after."""
    code = ("import sys, energybench.commands.run, energybench.engine.ray_start; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_workers_warm_up_imports_no_pandas():
    """A Ray worker imports the training code before its first cell (warm_task), while the cluster's other
    processes start on the same cores: pandas (0.4 s) is the readers' (results, report), not the cells'."""
    code = ("import sys, energybench.engine.ray_start as r; r.warm_task(); "
            "print(sorted(m for m in ('torch', 'energybench.engine.cell', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['energybench.engine.cell', 'torch']"
