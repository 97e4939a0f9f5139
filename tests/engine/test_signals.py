"""SIGTERM and Ctrl-C in every command end with a message that says what was kept and how to
go on, and the shell's status (143, 130): here while the reports are being written, by
`energybench report` and at the end of `energybench run` (before, the process died silently)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energybench.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
        "--no-power", "--quiet"]


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def report_processes(run_pid: int) -> list[int]:
    """The report processes (report/worker.py) a run started, alive or not yet reaped: their command line
    ends with the run's pid."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or it ended meanwhile
            continue
        if b"energybench.report.worker" in argv and argv[-2:] == [str(run_pid).encode(), b""]:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def drawing(pid: int) -> bool:
    """Whether a report process is drawing: it has forked its second drawer, a copy of itself that
    stays one (report/fork.py; the fc-list it runs while laying out is a copy only until its exec).
    Well past every import (matplotlib's font renderer is loaded as early as the report code's imports,
    and a signal inside a C extension's initialisation crashes CPython itself)."""
    drawers = [c for c in children(pid) if cmdline(c) == cmdline(pid)]
    if not drawers:
        return False
    time.sleep(0.1)
    return any(cmdline(c) == cmdline(pid) for c in drawers)


def run_drawing(pid: int) -> bool:
    """Whether a run's report process (which loads matplotlib while the cells train) is drawing."""
    return any(drawing(worker) for worker in report_processes(pid))


def interrupt_while_drawing(cmd: list[str], sig: int, drawing=drawing) -> subprocess.CompletedProcess:
    # Ctrl-C's default action even when pytest itself was started in the background (`... &` in a script),
    # where SIGINT is ignored and the ignore is inherited: Python then installs no KeyboardInterrupt
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    end = time.monotonic() + 120
    while not drawing(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end
        time.sleep(0.02)
    # inside the drawing, well before the end: the reports of this run take about 2 s more to draw and write
    time.sleep(0.3)
    assert proc.poll() is None, "the reports were written before the signal: the test must interrupt them sooner"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.parametrize("sig,status,how", [(signal.SIGTERM, 143, " by SIGTERM"), (signal.SIGINT, 130, "")])
def test_a_report_interrupted_while_drawing_says_what_was_kept(tmp_path, capsys, sig, status, how):
    assert main(["run", *TINY, "--no-report", "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    before = sorted(p.name for p in root.iterdir())
    done = interrupt_while_drawing([sys.executable, "-m", "energybench", "report", str(root)], sig)
    assert done.returncode == status, done.stderr
    assert done.stderr == (f"energybench report: interrupted{how}; the run directory {root} is unchanged and every "
                           "report or figure file is either complete or as it was before (each is written whole or not "
                           f"at all).\nWrite them again with: energybench report {root}\n")
    assert sorted(p.name for p in root.iterdir()) == before  # no report, no temporary file, the lock released
    assert (root / ".lock").read_text() == ""


def test_a_run_interrupted_while_writing_its_reports_keeps_the_run(tmp_path):
    root = tmp_path / "r"
    pids = []
    done = interrupt_while_drawing([sys.executable, "-m", "energybench", "run", *TINY, "--out", str(tmp_path),
                                    "--run-id", "r"], signal.SIGTERM,
                                   drawing=lambda pid: bool(pids.append(pid)) or run_drawing(pid))
    assert report_processes(pids[0]) == []  # the run stopped its report process before it ended
    assert done.returncode == 143, done.stderr
    assert done.stderr.endswith(f"energybench run: interrupted by SIGTERM while writing the reports; the run is "
                                f"finished and every row is saved in {root} (a report is written whole or not at "
                                f"all).\nWrite the reports with: energybench report {root}\n")
    assert len((root / "metrics.csv").read_text().splitlines()) == 1 + 3
    assert not list(root.rglob(".*.tmp"))
    # a report finished before the signal may stay (once it raced the signal under load); any that is there is whole
    for report in root.glob("report.*"):
        end = {".html": b"</html>", ".pdf": b"%%EOF"}[report.suffix]
        assert report.read_bytes().rstrip().endswith(end), report
