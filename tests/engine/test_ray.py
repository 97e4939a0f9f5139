"""Sweeps on Ray itself (no mock): an embedded cluster (--workers), a real cluster started with
`ray start --head` (--ray-address), a worker killed mid-cell, a driver killed mid-sweep, and the
inputs Ray runs can get wrong. The numbers must equal the local executor's."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
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
from energybench.engine import ray_options

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ["--method", "sharing,finetune,lucir", "--sharing", "0,0.5,0.99", "--seed", "0,1", "--epochs", "1",
         "--train-per-class", "10", "--test-per-class", "6", "--no-report", "--quiet"]
NOT_COMPARED = {"run_id", "train_time_s", "time_per_iter_s", "train_cpu_s", "measured_energy_j",
                "measured_energy_method", "mean_power_w", "peak_power_w", "idle_power_w",
                "measured_energy_above_idle_j", "gpu_energy_j", "cpu_package_energy_j", "dram_energy_j",
                "measured_energy_per_sample_j", "measured_devices", "measured_note"}


def rows(run_dir: Path) -> list[tuple]:
    """metrics.csv rows, sorted, without timing and measured-power columns."""
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in NOT_COMPARED))
                  for r in csv.DictReader(open(run_dir / "metrics.csv")))


def energybench(*argv: str, **kw) -> subprocess.Popen:
    """The CLI in a process of its own session (so the test can kill it and what it started)."""
    return subprocess.Popen([sys.executable, "-m", "energybench", *argv], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def assert_group_ends(run: subprocess.Popen, what: str, timeout_s: float = 30) -> None:
    """The processes of `run`'s group (the Ray processes it started) end within timeout_s of it."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            os.killpg(run.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    pytest.fail(f"Ray processes of {what} were still running {timeout_s:g} s after it exited")


def count_rows(metrics: Path) -> int:
    with open(metrics) as f:
        return sum(1 for _ in f) - 1


def wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if path.is_file() and count_rows(path) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {n} rows: {proc.stdout.read()}")
        time.sleep(0.2)
    pytest.fail(f"no {n} rows in {path} after {timeout_s} s")


@pytest.fixture(scope="session")
def local_sweep(tmp_path_factory) -> Path:
    """The local executor's sweep, run once for the whole session: conftest spreads this file's tests over the
    pytest-xdist workers, so each would run it again (about 12 s); the first worker runs it, the others wait
    for it (a file lock in the folder all workers' temporary folders share) and read its rows."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out, done = shared / "ray-local-sweep", shared / "ray-local-sweep.done"
    with FileLock(str(shared / "ray-local-sweep.lock")):
        if not done.is_file():
            shutil.rmtree(out, ignore_errors=True)  # what a failed first try left
            assert main(["run", *SWEEP, "--no-power", "--out", str(out), "--run-id", "local"]) == 0
            done.touch()
    return out / "local"


def test_two_workers_give_the_local_executors_numbers(local_sweep, tmp_path, capsys):
    assert main(["run", *SWEEP, "--workers", "2", "--out", str(tmp_path), "--run-id", "ray"]) == 0
    got = rows(tmp_path / "ray")
    assert len(got) == 3 * 3 * 2 * 3  # methods x levels x seeds x phases
    assert got == rows(local_sweep)
    # power under Ray: two cells share this host's CPU package, so RAPL is left out, with the reason
    notes = {r["measured_note"] for r in csv.DictReader(open(tmp_path / "ray" / "metrics.csv"))}
    assert all(n for n in notes)
    # the workers are this run's own processes: their states are written as the local executor's, not loaded back
    executor = json.loads((tmp_path / "ray" / "manifest.json").read_text())["executor"]
    assert executor["address"] == "embedded" and executor["sent_states_checked"] is False


def test_a_sweep_on_a_cluster_started_with_ray_start(local_sweep, tmp_path, monkeypatch, capsys):
    port = free_port()
    # Ray's socket paths must fit in 107 bytes: a short session folder, not pytest's long tmp_path
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    # Token authentication, as on a real cluster: the same secret in every node's and the driver's environment
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    ray_cli = Path(sys.executable).with_name("ray")  # the venv's, beside its python
    head = subprocess.Popen([str(ray_cli) if ray_cli.exists() else "ray", "start", "--head", "--block",
                             f"--port={port}",
                             "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                             "--disable-usage-stats", f"--temp-dir={temp}"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    try:
        from energybench.engine.executors.ray import wait_for_cluster

        wait_for_cluster(f"127.0.0.1:{port}", timeout_s=120)
        # the CLI in this process: its driver is the watched child it starts, which inherits the token
        monkeypatch.setenv("RAY_AUTH_MODE", env["RAY_AUTH_MODE"])
        monkeypatch.setenv("RAY_AUTH_TOKEN", env["RAY_AUTH_TOKEN"])
        # a joined cluster's GPUs are known once joined (this one was started with none), and checked then
        assert main(["run", *SWEEP, "--ray-address", f"127.0.0.1:{port}", "--gpus-per-cell", "1", "--out",
                     str(tmp_path), "--run-id", "gpu"]) == 2
        assert "--gpus-per-cell 1 asks for more GPUs than the Ray cluster has (0)" in capsys.readouterr().err
        assert not (tmp_path / "gpu").exists()
        code = main(["run", *SWEEP, "--ray-address", f"127.0.0.1:{port}", "--out", str(tmp_path),
                     "--run-id", "cluster", "--no-power"])
        assert code == 0, capsys.readouterr().err
        executor = json.loads((tmp_path / "cluster" / "manifest.json").read_text())["executor"]
        assert executor["name"] == "ray" and executor["address"] == f"127.0.0.1:{port}" and executor["cpus"] == 2
        assert executor["sent_states_checked"] is True  # a joined cluster's states are loaded back before written
        assert rows(tmp_path / "cluster") == rows(local_sweep)
        assert (tmp_path / "cluster" / "summary.json").is_file()
        assert sorted(p.name for p in (tmp_path / "cluster" / "cells").glob("*_base.pt")) == sorted(
            f"{m}_seed{s}_base.pt" for m in ("sharing", "finetune", "lucir") for s in (0, 1))
    finally:
        # SIGTERM to `ray start --block` alone: it stops its processes in order (2 s). Sent to its whole group at
        # once, the autoscaler's monitor outlived the GCS it reports to and kept the head up for 30-60 s.
        os.kill(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=90)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)  # whatever of the head is still running
        shutil.rmtree(temp, ignore_errors=True)


def cell_task_processes(root: int) -> list[int]:
    """Pids of the Ray workers below process `root` (a run's driver) running a cell now (Ray names a busy
    worker's process after its task). Only that run's: another test's Ray sweep may be running beside it."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue

    def below_root(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == root:
                return True
        return False

    found = []
    for pid in filter(below_root, parent):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::cell_task"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_killed_worker_costs_only_its_phase(tmp_path):
    # longer cells (3 epochs on 60 images a class), to kill one in the middle of a phase
    sweep = [{"10": "60", "1": "3"}.get(a, a) for a in SWEEP]
    assert main(["run", *sweep, "--no-power", "--out", str(tmp_path), "--run-id", "whole"]) == 0
    run = energybench("run", *[a for a in sweep if a != "--quiet"], "--workers", "2", "--no-power",
                      "--out", str(tmp_path), "--run-id", "killed")
    try:
        # from the first row on: the workers then run the whole sweep in 2-4 s (measured beside 3 busy processes);
        # looks a second apart, from the 10th row on, once found no worker busy in a full suite run
        wait_for_rows(tmp_path / "killed" / "metrics.csv", 1, run)
        busy, end = [], time.monotonic() + 120
        while not busy and run.poll() is None and time.monotonic() < end:  # a worker in a cell for 0.2 s
            first = set(cell_task_processes(run.pid))
            time.sleep(0.2)
            busy = sorted(first & set(cell_task_processes(run.pid)))
        rows_now = count_rows(tmp_path / "killed" / "metrics.csv")
        assert busy, f"no worker was running a cell (run ended: {run.poll()}; rows: {rows_now})"
        os.kill(busy[0], signal.SIGKILL)
        out, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, out
    assert "died (WorkerCrashedError); sending it again from its last finished phase" in out
    assert rows(tmp_path / "killed") == rows(tmp_path / "whole")


def test_a_killed_driver_resumes_to_the_same_numbers(local_sweep, tmp_path):
    run = energybench("run", *SWEEP, "--workers", "2", "--no-power", "--out", str(tmp_path), "--run-id", "cut")
    wait_for_rows(tmp_path / "cut" / "metrics.csv", 12, run)
    os.killpg(run.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    run.wait()
    assert_group_ends(run, "the killed driver")  # (the driver, a child, holds the run's lock until it is gone)
    # another executor may finish it: here the local one, in this process (the SIGTERM test resumes on Ray)
    assert main(["run", "--resume", str(tmp_path / "cut"), "--executor", "local", "--quiet"]) == 0
    assert rows(tmp_path / "cut") == rows(local_sweep)


def test_a_driver_sent_sigterm_stops_like_ctrl_c_and_closes_its_cluster(local_sweep, tmp_path):
    """kill or Slurm's SIGTERM to the driver alone: its message and exit 143 (ray.init installs a handler that
    just exits), the embedded cluster shut down, and a resume to the local executor's numbers."""
    run = energybench("run", *SWEEP, "--workers", "2", "--no-power", "--out", str(tmp_path), "--run-id", "term")
    try:
        wait_for_rows(tmp_path / "term" / "metrics.csv", 12, run)
        os.kill(run.pid, signal.SIGTERM)
        out, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 143, out
    root = tmp_path / "term"
    kept = len((root / "metrics.csv").read_text().splitlines()) - 1
    assert out.endswith(f"energybench run: interrupted by SIGTERM; every finished phase is saved in {root} ({kept} "
                        f"row(s) in metrics.csv).\nContinue with: energybench run --resume {root}\n"), out
    assert_group_ends(run, "the stopped driver")  # the Ray processes it started are gone too
    assert main(["run", "--resume", str(root), "--quiet"]) == 0  # on Ray again, as recorded: the same command
    assert rows(root) == rows(local_sweep)


SCALED_NET = """
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x):
        return x * self.gain


class Net(nn.Module):
    def __init__(self, in_shape=(1, 8, 8), width=1.0):
        super().__init__()
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_shape[0], 8, 3, padding=1), Scale(8), nn.ReLU()),
            nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), Scale(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        ])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x
"""


def test_a_users_own_layer_class_travels_in_the_states_ray_sends(user_dir, tmp_path, monkeypatch, capsys):
    """A user's backbone with a layer class of its own (Scale): the base state the worker sends back, and the
    driver sends on to each sharing level's cell, holds that class; the workers accept it as the run's own
    code (the driver tells them which modules those are) and give the local executor's numbers."""
    (user_dir / "my_scaled.py").write_text(SCALED_NET)
    monkeypatch.chdir(user_dir)  # the driver (a child process) and Ray's workers find the module here
    argv = ["run", "--backbone", "my_scaled:Net", "--method", "finetune", "--sharing", "0,0.6", "--epochs", "1",
            "--train-per-class", "8", "--test-per-class", "5", "--no-power", "--no-report", "--quiet",
            "--out", str(tmp_path)]
    assert main([*argv, "--run-id", "local"]) == 0, capsys.readouterr().err
    assert main([*argv, "--run-id", "ray", "--workers", "1"]) == 0, capsys.readouterr().err
    assert len(rows(tmp_path / "ray")) == 2 * 3 and rows(tmp_path / "ray") == rows(tmp_path / "local")


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
    (["--workers", "-2"], "--workers: must be at least 1, got -2"),
    (["--workers", "1.5"], "argument --workers: invalid int value: '1.5'"),
    (["--workers", "2", "--executor", "local"], "--workers: applies to the ray executor only"),
    (["--cpus-per-cell", "0", "--workers", "1"], "--cpus-per-cell: must be more than 0, got 0.0"),
    (["--ray-address", "nowhere"], "--ray-address 'nowhere' is not HOST:PORT"),
])
def test_bad_ray_options_exit_2_before_anything_is_written(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) if "invalid int" in message else _nothing():
        code = main(["run", *SWEEP, *argv, "--out", str(tmp_path)])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_an_address_where_no_cluster_listens_fails_fast_naming_it(tmp_path, capsys):
    address = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    assert main(["run", *SWEEP, "--ray-address", address, "--out", str(tmp_path)]) == 2
    assert time.monotonic() - start < 30
    assert f"no Ray cluster answers at --ray-address {address}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_ray_address_variable_is_joined_by_the_ray_executor_only(tmp_path, capsys, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert main(["run", *SWEEP, "--executor", "ray", "--out", str(tmp_path / "ray")]) == 2
    assert f"no Ray cluster answers at RAY_ADDRESS {address}" in capsys.readouterr().err
    assert not (tmp_path / "ray").exists()
    # the local executor (the default) never looks at it
    assert main(["run", *SWEEP, "--sharing", "0", "--out", str(tmp_path / "local"), "--run-id", "r"]) == 0
    assert (tmp_path / "local" / "r" / "metrics.csv").is_file()


def test_more_gpus_per_cell_than_this_machine_has_exits_2_before_a_cluster_boots(tmp_path, capsys):
    from energybench.engine import ray_start

    gpus = ray_options.machine_gpus()
    assert gpus is not None and gpus >= 0  # Ray's own count of this machine, not "unknown"
    assert main(["run", *SWEEP, "--workers", "1", "--gpus-per-cell", "1000000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--gpus-per-cell: 1,000,000 asks for more GPUs than this machine has ({gpus})" in err
    assert not ray_start.booting() and not any(tmp_path.iterdir())


FAILING = '''
from energybench.methods.finetune import Finetune


class Failing(Finetune):
    """Fine-tuning that raises in phase 2 of sharing level 0.5 (a bug in a user's method)."""

    name = "failing"

    def learn(self, phase):
        if phase.index == 2 and self.ctx.sharing == 0.5:
            raise ValueError("the loss went NaN in phase 2")
        super().learn(phase)
'''


def test_a_cell_that_raises_stops_the_sweep_after_the_running_cells_naming_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "failing_method.py").write_text(FAILING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the workers import it too
    argv = ["run", "--method", "failing_method:Failing,finetune", "--sharing", "0,0.5", "--epochs", "1",
            "--train-per-class", "10", "--test-per-class", "6", "--no-report", "--no-power", "--quiet",
            "--workers", "2", "--out", str(tmp_path), "--run-id", "f"]
    assert main(argv) == 2  # the user's code: as under the local executor
    err = capsys.readouterr().err
    assert ("energybench run: error: method failing (failing_method:Failing) raised ValueError: the loss went NaN in "
            "phase 2 in failing sharing 0.5 seed 0 phase 2. That is the method's own code") in err
    assert f"energybench run --resume {tmp_path / 'f'}" in err and "Traceback" not in err
    done = {(r["method"], r["sharing"], r["phase"]) for r in csv.DictReader(open(tmp_path / "f" / "metrics.csv"))}
    assert ("failing", "0.5", "2") not in done and ("failing", "0.5", "1") in done  # what finished is kept
    assert ("failing", "0.0", "2") in done  # the cell before it finished


def sigterm_in_a_fork() -> int:
    """How a SIGTERM sent now would end this process, tried on a fork of it (which keeps its signal
    dispositions): 7 if Python's handler ran (it raises), -15 if the signal killed it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        except BaseException:
            os._exit(7)
        os._exit(0)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the fork had not ended 30 s after its SIGTERM")


@pytest.fixture
def sigterm_raises():
    """SIGTERM handled in Python while the test runs (it raises Terminated), as every command has it."""
    from energybench.errors import Terminated

    def stop(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_preflight_error_while_the_cluster_boots_writes_nothing_and_shuts_the_cluster_down(tmp_path, monkeypatch,
                                                                                              sigterm_raises):
    """The embedded cluster starts booting before pre-flight loads the data: a data error there is
    still the run's error (exit 2 from the CLI), and the cluster it started is shut down. SIGTERM then
    still reaches Python's handler: Ray's core worker left it at the system's default, which ended a
    driver without a word (an interruption sent again after the shutdown, a SIGTERM during the reports)."""
    import ray

    from energybench.engine import ray_start
    from energybench.engine.executors import ray as ray_executor
    from energybench.engine.preflight import make_config
    from energybench.engine.runner import Runner
    from energybench.errors import UserError

    after_shutdown, real_shutdown = [], ray_start.shutdown
    monkeypatch.setattr(ray_start, "shutdown", lambda: (real_shutdown(), after_shutdown.append(sigterm_in_a_fork())))
    started = []

    class Recorded(ray_executor._Start):
        def __init__(self, cfg):
            super().__init__(cfg)
            started.append(self)

    monkeypatch.setattr(ray_executor, "_Start", Recorded)
    cfg = make_config({"dataset": "mnist", "data_root": str(tmp_path / "none"), "workers": 1,
                       "out": str(tmp_path / "runs")})
    with pytest.raises(UserError, match="mnist not found"):
        Runner(cfg, progress=False, log=lambda *a: None)
    assert len(started) == 1 and started[0].started.is_set() and not started[0].thread.is_alive()
    assert not ray.is_initialized() and ray_executor._starting is None
    assert not (tmp_path / "runs").exists()
    assert after_shutdown == [7]


def test_a_refused_flag_while_the_early_cluster_boots_says_one_line_and_leaves_no_ray_process(tmp_path):
    """`--workers N` boots Ray before the flags are checked (engine/ray_start): a refused value is still one
    line on the output (Ray's own notices held back) and exit 2; that cluster is shut down before the command
    ends, and nothing is written."""
    run = energybench("run", "--workers", "1", "--method", "bogus", "--out", str(tmp_path / "runs"))
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 2
    assert out.startswith("energybench run: error: --method: unknown method 'bogus'; valid methods: ")
    assert len(out.splitlines()) == 1, out
    assert_group_ends(run, "the refused run")
    assert not (tmp_path / "runs").exists()
