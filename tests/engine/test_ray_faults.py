"""Ray faults that used to end a sweep with Ray's traceback or with no message at all: a stale
`ray_current_cluster` file left by a `ray start` that was killed, and a cluster whose node died
under the driver. Real Ray, real processes."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import free_port

from energybench.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
        "--no-power", "--no-report", "--quiet"]


@pytest.fixture
def ray_tmp():
    """Ray's temporary folder for this test alone (short: Ray's socket paths must fit 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="ebray-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def env_for(ray_tmp: Path) -> dict:
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    return env


def in_env_for(ray_tmp: Path, monkeypatch) -> None:
    """env_for(ray_tmp) for the CLI called in this process: a Ray run's driver is a child process of it (the
    watched driver), which inherits this environment; the child is the only python the run starts."""
    for name, value in env_for(ray_tmp).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_workers_start_their_own_cluster_whatever_a_stale_address_file_says(tmp_path, ray_tmp, monkeypatch, capsys):
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")  # a killed `ray start --head`
    in_env_for(ray_tmp, monkeypatch)
    code = main(["run", *TINY, "--workers", "1", "--out", str(tmp_path), "--run-id", "r"])
    assert code == 0, capsys.readouterr().err
    assert len(list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))) == 3


def test_auto_with_a_stale_address_file_exits_2_at_once_naming_the_file(tmp_path, ray_tmp, monkeypatch, capsys):
    (ray_tmp / "ray").mkdir()
    port = free_port()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
    in_env_for(ray_tmp, monkeypatch)
    start = time.monotonic()
    code = main(["run", *TINY, "--ray-address", "auto", "--out", str(tmp_path / "runs")])
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert time.monotonic() - start < 60  # (Ray alone waited for minutes on the dead address)
    assert (f"no Ray cluster answers at --ray-address auto (the address {ray_tmp / 'ray' / 'ray_current_cluster'} "
            f"records) 127.0.0.1:{port}") in stderr
    assert "That file is left by a `ray start` that ended" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = {}, [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            try:
                found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
            except OSError:
                continue
            stack.append(child)
    return found


def test_a_sweep_whose_ray_node_dies_ends_with_a_message_and_resumes(tmp_path, ray_tmp):
    """Killing ray::DashboardAgent makes Ray mark the node dead, and Ray ends the driver's process from C++."""
    sweep = ["--method", "finetune,sharing", "--sharing", "0,0.5", "--seed", "0,1", "--epochs", "30",
             "--train-per-class", "40", "--test-per-class", "3", "--no-power", "--no-report", "--quiet"]
    root = tmp_path / "r"
    run = subprocess.Popen([sys.executable, "-m", "energybench", "run", *sweep, "--workers", "2", "--out",
                            str(tmp_path), "--run-id", "r"], env=env_for(ray_tmp), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        end = time.monotonic() + 300
        while not ((root / "metrics.csv").is_file() and len((root / "metrics.csv").read_text().splitlines()) > 1):
            assert run.poll() is None and time.monotonic() < end, run.communicate()
            time.sleep(0.2)
        agents = [p for p, cmd in descendants(run.pid).items() if cmd.startswith("ray::DashboardAgent")]
        assert len(agents) == 1
        os.kill(agents[0], signal.SIGKILL)
        _, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 1, err
    kept = len((root / "metrics.csv").read_text().splitlines()) - 1  # (a cell sent again drops its copied base row)
    assert kept < 24
    assert err.endswith(f"Every phase finished before that is saved in {root} ({kept} row(s) in metrics.csv).\n"
                        f"Continue with: energybench run --resume {root}\n"), err
    assert "energybench run: the sweep stopped" in err
    # the local executor runs in this process (as test_ray's resumes do): no python start-up of its own
    assert main(["run", "--resume", str(root), "--executor", "local", "--quiet"]) == 0
    assert len((root / "metrics.csv").read_text().splitlines()) - 1 == 24
