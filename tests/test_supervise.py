"""The watcher of a Ray sweep's driver (commands/supervise.py) and SIGTERM around the driver's start: sent
before the driver exists, it stops the command with nothing started; sent once it exists, the driver has it too
and the watcher never ends alone, leaving a driver that runs on unwatched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from energybench.commands import supervise as watcher
from energybench.commands.interrupt import SigtermAsInterrupt
from energybench.errors import Terminated

POPEN = subprocess.Popen  # the real one (the tests replace it where the watcher calls it)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]  # stands for the driver: ends only if stopped


def test_a_sigterm_that_comes_as_the_driver_starts_reaches_the_driver(monkeypatch, capsys):
    started = []

    def popen_then_sigterm(argv, **kw):
        started.append(POPEN(SLEEPER, **kw))
        os.kill(os.getpid(), signal.SIGTERM)  # the moment the driver exists, before anything else of the watcher
        return started[0]

    monkeypatch.setattr(watcher.subprocess, "Popen", popen_then_sigterm)
    try:
        with SigtermAsInterrupt():  # the CLI's handler, around every command
            code = watcher.supervise(["run", "--workers", "2"])
    except KeyboardInterrupt:  # the watcher stopped alone
        code = None
    finally:
        if started and started[0].poll() is None:
            started[0].kill()
    assert started[0].returncode == -signal.SIGTERM, "the driver was left running"
    assert code == 143
    assert "energybench run: the driver ended (signal 15) before it wrote anything" in capsys.readouterr().err


def test_a_sigterm_before_the_driver_starts_stops_the_command_with_no_driver(monkeypatch):
    started = []
    monkeypatch.setattr(watcher.subprocess, "Popen", lambda *a, **k: started.append(a))
    path = watcher._python_path

    def sigterm_while_preparing():
        os.kill(os.getpid(), signal.SIGTERM)
        return path()

    monkeypatch.setattr(watcher, "_python_path", sigterm_while_preparing)
    with SigtermAsInterrupt() as sigterm:
        with pytest.raises(Terminated) as stopped:
            watcher.supervise(["run", "--workers", "2"])
        assert signal.getsignal(signal.SIGTERM) == sigterm._stop  # the caller's handler is back
    assert stopped.value.status == 143 and started == []


def test_a_sigterm_while_the_driver_runs_is_passed_on_and_ctrl_c_left_to_the_terminal(monkeypatch, capsys):
    started = []

    def popen(argv, **kw):
        started.append(POPEN(SLEEPER, **kw))
        return started[0]

    def wait_after_signals(proc):
        os.kill(os.getpid(), signal.SIGINT)  # a terminal's Ctrl-C reaches the driver by itself: not sent again
        with pytest.raises(subprocess.TimeoutExpired):  # (Python ends on a Ctrl-C within milliseconds)
            proc.wait(timeout=0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        return wait(proc)

    monkeypatch.setattr(watcher.subprocess, "Popen", popen)
    wait = watcher._wait
    monkeypatch.setattr(watcher, "_wait", wait_after_signals)
    try:
        with SigtermAsInterrupt():
            code = watcher.supervise(["run", "--workers", "2"])
    finally:
        if started and started[0].poll() is None:
            started[0].kill()
    assert started[0].returncode == -signal.SIGTERM and code == 143


def test_the_status_file_of_a_killed_watcher_is_swept_by_the_next(tmp_path, monkeypatch):
    """A SIGKILL skips the watcher's clean-up: its /tmp status file (named with its pid) is removed by
    the next watcher once that pid has no process; a live watcher's file and others' files stay."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = POPEN([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{watcher.STATUS_PREFIX}{gone.pid}-abc.json"
    live = tmp_path / f"{watcher.STATUS_PREFIX}{os.getpid()}-def.json"
    other = tmp_path / "energybench-driver-notapid.json"
    for path in (stale, live, other):
        path.write_text("{}")
    watcher._sweep_stale_status()
    assert not stale.exists() and live.exists() and other.exists()
