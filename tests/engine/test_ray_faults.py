"""Ray faults that used to end a sweep with Ray's traceback or with no message at all: a stale
`ray_current_cluster` file left by a `ray start` that was killed, and a cluster whose node died
under the driver. Real Ray, real processes."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
        "--no-power", "--no-report", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_workers_start_their_own_cluster_whatever_a_stale_address_file_says(tmp_path, ray_tmp):
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")  # a killed `ray start --head`
    done = subprocess.run([sys.executable, "-m", "energybench", "run", *TINY, "--workers", "1", "--out", str(tmp_path),
                           "--run-id", "r"], env=env_for(ray_tmp), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))) == 3
