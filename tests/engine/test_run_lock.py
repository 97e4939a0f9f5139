"""One writer per run directory, with real processes: the lock is taken before anything of the
run directory is read, so a second writer can never write back a stale copy of metrics.csv.

Two `energybench run` processes on one directory, held at chosen points by file barriers in the
user code they run (a method and a backbone factory of their own): A stops inside its second
phase; B starts then, and the test lets A finish before B may go on. Before the fix, B had read
metrics.csv (one row) before it waited; it then rewrote it and dropped A's finished rows."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energybench.cli import main
from energybench.engine.lock import RunLock
from energybench.errors import UserError

REPO = Path(__file__).resolve().parents[2]

GATE = '''
import os, time
from pathlib import Path
from torch import nn
from energybench.methods.finetune import Finetune

BARRIER = Path(os.environ["GATE_DIR"])
ROLE = os.environ.get("GATE_ROLE", "")


def wait(name, timeout=120):
    end = time.monotonic() + timeout
    while not (BARRIER / name).exists():
        if time.monotonic() > end:
            raise SystemExit(f"barrier {name} never opened")
        time.sleep(0.05)


class Gate(Finetune):
    name = "gate"

    def learn(self, phase):
        if ROLE == "A" and phase.index == 1:
            (BARRIER / "A_in_phase1").touch()
            wait("A_go")
        if ROLE == "B":  # B dies in its first training step (a killed writer)
            (BARRIER / "B_trains").touch()
            os._exit(9)
        super().learn(phase)


def net(in_shape=(1, 8, 8), width=1.0):
    if ROLE == "B":  # while B builds its network (before any cell), it waits until A has finished
        (BARRIER / "B_building").touch()
        wait("B_go")
    return nn.Sequential(nn.Sequential(nn.Conv2d(in_shape[0], 4, 3, padding=1), nn.ReLU()),
                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
'''

ARGS = ["--method", "my_gate:Gate", "--backbone", "my_gate:net", "--sharing", "0", "--scenario", "B4-3x2",
        "--epochs", "1", "--train-per-class", "8", "--test-per-class", "4", "--no-power", "--no-report", "--quiet"]


def start(tmp_path: Path, role: str, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'code'}{os.pathsep}{REPO}", "GATE_DIR": str(tmp_path / "gate"),
           "GATE_ROLE": role, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "energybench", "run", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def until(check, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        if proc is not None and proc.poll() is not None:
            return
        time.sleep(0.05)


def rows(root: Path) -> list[dict]:
    with open(root / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_second_writer_never_loses_a_finished_row(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "my_gate.py").write_text(GATE)
    gate = tmp_path / "gate"
    gate.mkdir()
    root = tmp_path / "runs" / "r"
    a = start(tmp_path, "A", *ARGS, "--out", str(tmp_path / "runs"), "--run-id", "r")
    b = None
    try:
        until(lambda: (gate / "A_in_phase1").exists(), a)
        assert a.poll() is None, a.communicate()
        assert len(rows(root)) == 1  # A finished phase 0 and holds its lock inside phase 1
        b = start(tmp_path, "B", "--resume", str(root))
        until(lambda: (gate / "B_building").exists(), b)  # B either is refused or reaches its network
        (gate / "A_go").touch()
        assert a.wait(timeout=120) == 0, a.communicate()
        finished = rows(root)
        assert [int(r["phase"]) for r in finished] == [0, 1, 2]
        (gate / "B_go").touch()
        b.wait(timeout=120)
        _, err = b.communicate()
        assert b.returncode == 2, err  # refused at once: the lock was held by A
        assert not (gate / "B_building").exists() and not (gate / "B_trains").exists()  # B read nothing, ran nothing
        assert f"{root} is in use by energybench process {a.pid} on " in err and ", started 20" in err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert rows(root) == finished  # every row A wrote is still there, unchanged
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_notice(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid names no running process now
    root = tmp_path / "r"
    root.mkdir()
    host = os.uname().nodename
    (root / ".lock").write_text(f"energybench process {dead.pid} on {host}, started 2026-01-02 03:04:05\n")
    assert main(["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6",
                 "--test-per-class", "3", "--no-power", "--no-report", "--quiet", "--out", str(tmp_path),
                 "--run-id", "r"]) == 0
    err = capsys.readouterr().err
    assert (f"notice: {root} was locked by energybench process {dead.pid} on {host}, started 2026-01-02 03:04:05, "
            "which is no longer running; taking the lock over") in err
    assert (root / ".lock").read_text() == ""  # released cleanly: the next run takes it without a notice
    assert len(rows(root)) == 3


def test_a_report_into_the_run_waits_for_no_writer(tmp_path, capsys):
    """`energybench report` writes into the run directory: it takes the run's lock too."""
    root = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", "import time; from energybench.engine.lock import RunLock;"
                               f" RunLock({str(root)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["report", str(root), "--report-format", "html"]) == 2
        err = capsys.readouterr().err
        assert f"{root} is in use by energybench process {holder.pid}" in err
        assert "give --out DIR to write the reports elsewhere" in err
        assert sorted(p.name for p in root.iterdir()) == [".lock"]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_refused_command_leaves_no_lock_file_in_a_folder_that_is_not_a_run(tmp_path, capsys):
    empty, mine = tmp_path / "empty", tmp_path / "mine"
    empty.mkdir()
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's own folder")
    assert main(["run", "--resume", str(empty)]) == 2
    assert main(["report", str(empty)]) == 2
    assert main(["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--out", str(tmp_path),
                 "--run-id", "mine", "--no-report"]) == 2
    assert "mine exists and is not a run directory (no config.yaml); it is left untouched" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["empty", "mine", "notes.txt"]


def test_discarding_removes_only_a_lock_file_this_lock_made(tmp_path):
    mine = RunLock(tmp_path)
    mine.acquire()
    mine.release(discard=True)
    assert not (tmp_path / ".lock").exists()
    (tmp_path / ".lock").write_text("")  # a run's own lock file, there before
    found = RunLock(tmp_path)
    found.acquire()
    found.release(discard=True)
    assert (tmp_path / ".lock").read_text() == ""


def test_a_lock_file_removed_after_another_process_opened_it_is_not_held_by_both(tmp_path, monkeypatch):
    """A refused start removes the lock file it made (release(discard=True)); a process that had opened
    that file before and locks it afterwards would hold a lock on a file no path names, beside whoever
    locks the new one: it sees the path names another file, and locks that."""
    stale = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    os.unlink(tmp_path / ".lock")  # opened, then removed by a refused start before this locked it
    real_open, opened = RunLock._open, []

    def first_the_stale_one(self):
        opened.append(self)
        return stale if len(opened) == 1 else real_open(self)

    monkeypatch.setattr(RunLock, "_open", first_the_stale_one)
    lock = RunLock(tmp_path)
    lock.acquire()
    assert len(opened) == 2 and lock.held and (tmp_path / ".lock").read_text().startswith("energybench process")
    with pytest.raises(UserError, match="is in use by energybench process"):
        RunLock(tmp_path).acquire()  # the lock is on the file the path names
    lock.release()
