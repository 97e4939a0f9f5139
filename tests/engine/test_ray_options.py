"""A refused Ray option is said by `energybench run` itself, before it starts the driver process
(which imports torch and boots Ray: seconds): engine/ray_options.refuse_early."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import free_port

# The watching process as the CLI runs it, but a started driver is an error: it must not be reached.
PROBE = """
import json, sys
import energybench.commands.run as run
from energybench.cli import main
run.supervise = lambda argv: sys.exit("the driver was started for " + " ".join(argv))
code = main(["run", *json.loads(sys.argv[1])])
print(json.dumps([code, "torch" in sys.modules]))
"""


def _refused(argv: list[str], tmp_path, **env) -> str:
    """The refusal's stderr; asserts exit 2, no driver started, no torch imported, nothing written."""
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([*argv, "--out", str(out)])], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [2, False]
    assert not out.exists()
    return proc.stderr


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
    (["--workers", "1000000"], "--workers: at most "),
    (["--workers", "1", "--cpus-per-cell", "0"], "--cpus-per-cell: must be more than 0, got 0.0"),
    # the cluster --workers starts is this machine: no more CPUs than it has (1,000,000 on any machine)
    (["--workers", "1", "--cpus-per-cell", "1000000"], "--cpus-per-cell: 1 worker(s) x 1,000,000 CPU(s) "
                                                       "a cell = 1,000,000 CPUs, more than this machine's "),
    (["--workers", "1", "--gpus-per-cell", "-1"], "--gpus-per-cell: must be 0 or more"),
    # nor more GPUs than it has (Ray's count, before a cluster boots to find out)
    (["--workers", "1", "--gpus-per-cell", "1000000"], "--gpus-per-cell: 1,000,000 asks for more GPUs than "
                                                       "this machine has ("),
    (["--workers", "2", "--ray-address", "127.0.0.1:6379"], "--workers: give either workers"),
    (["--executor", "dask"], "--executor: unknown executor 'dask'"),
    (["--ray-address", "nowhere"], "--ray-address 'nowhere' is not HOST:PORT"),
])
def test_a_refused_ray_option_is_said_without_starting_the_driver(tmp_path, argv, message):
    err = _refused(argv, tmp_path)
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_address_where_nothing_listens_is_refused_before_the_driver_starts(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    assert f"no Ray cluster answers at --ray-address {address}" in _refused(["--ray-address", address], tmp_path)
    # RAY_ADDRESS is the cluster of `--executor ray` alone, as ray.init reads it; --workers N starts its own
    err = _refused(["--executor", "ray"], tmp_path, RAY_ADDRESS=address)
    assert f"no Ray cluster answers at RAY_ADDRESS {address}" in err


def test_a_config_files_ray_keys_are_checked_before_the_driver_starts(tmp_path):
    (tmp_path / "run.yaml").write_text("executor: ray\nworkers: 2\ncpus_per_cell: -1\n")
    err = _refused([str(tmp_path / "run.yaml")], tmp_path)
    assert "config key 'cpus_per_cell': must be more than 0, got -1.0" in err
