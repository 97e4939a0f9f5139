"""A Ray sweep's driver in a child process, watched by this one.

When Ray's node dies under a driver (a killed `ray::DashboardAgent` or raylet, a lost machine),
Ray's core worker ends the driver's process from C++ with status 1: no Python handler runs, so
the driver itself cannot say what was kept. The driver therefore runs in a child process (the
same command line) whose output this process relays; the child notes its run directory and,
when it ends through energybench's own handling, that it did. A child that ended any other way
gets the message here: what is saved, and the resume command. SIGTERM is passed on to the child,
which stops as on Ctrl-C (a terminal's Ctrl-C reaches both processes by itself).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from energybench.commands.interrupt import interruption
from energybench.errors import UserError

STATUS = "ENERGYBENCH_DRIVER_STATUS"  # the child's status file (set: this process is a watched driver)
TTY = "ENERGYBENCH_DRIVER_TTY"  # the watcher's stderr is a terminal (progress bars are wanted)


def watched() -> bool:
    return STATUS in os.environ


def note(**fields) -> None:
    """In a watched driver: record `fields` (root=..., handled=True) for the watcher."""
    path = os.environ.get(STATUS)
    if not path:
        return
    try:
        status = json.loads(Path(path).read_text() or "{}")
    except (OSError, ValueError):
        status = {}
    status.update({k: str(v) if isinstance(v, Path) else v for k, v in fields.items()})
    try:
        tmp = f"{path}.tmp"
        Path(tmp).write_text(json.dumps(status))
        os.replace(tmp, path)
    except OSError:
        pass


def supervise(argv: list[str]) -> int:
    """Run `energybench <argv>` as a watched child; its exit status, with a message if it could not give one."""
    child: list[subprocess.Popen] = []
    early: list[int] = []  # signals that came before there was a child to pass them to
    forwarded: list[int] = []

    def on_signal(signum, frame):
        if not child:
            early.append(signum)
        elif signum == signal.SIGTERM:  # (Ctrl-C: a terminal sends it to the child too, which stops and says so)
            forwarded.append(signum)
            child[0].send_signal(signum)

    # set before the child starts: a SIGTERM between its start and these handlers would end this process alone,
    # the driver running on without a watcher
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status_path = None
    try:
        _sweep_stale_status()
        fd, status_path = tempfile.mkstemp(prefix=f"{STATUS_PREFIX}{os.getpid()}-", suffix=".json")
        os.close(fd)
        env = {**os.environ, STATUS: status_path, "PYTHONPATH": _python_path()}
        if sys.stderr.isatty():
            env[TTY] = "1"
        if early:  # nothing started yet: stopped as any command is
            raise interruption(early[0])
        proc = subprocess.Popen([sys.executable, "-m", "energybench", *argv], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        child.append(proc)  # from here on_signal passes SIGTERM on itself
        if early:  # came while the child was starting
            forwarded.append(early[0])
            proc.send_signal(early[0])
        relays = [threading.Thread(target=_relay, args=(proc.stdout, sys.stdout), daemon=True),
                  threading.Thread(target=_relay, args=(proc.stderr, sys.stderr), daemon=True)]
        for t in relays:
            t.start()
        code = _wait(proc)
        for t in relays:
            t.join()
        try:
            status = json.loads(Path(status_path).read_text() or "{}")
        except (OSError, ValueError):
            status = {}
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if status_path is not None:
            Path(status_path).unlink(missing_ok=True)
    if status.get("handled"):
        return code
    if forwarded:  # stopped by SIGTERM where Ray's own handler (during ray.init) just exits
        code = 128 + forwarded[0]
    return _unexplained(code, status.get("root"))


def _python_path() -> str:
    """The child imports what this process imports: this energybench first, then this process's
    own import path (a caller may have extended sys.path for user code), then PYTHONPATH."""
    here = str(Path(__file__).resolve().parents[2])
    prefixes = tuple({sys.prefix, sys.base_prefix})
    extra = [p for p in sys.path if p and not p.startswith(prefixes) and os.path.isdir(p)]
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys([here, *extra, *given]))


def _wait(proc: subprocess.Popen) -> int:
    code = proc.wait()
    return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + N


def _relay(source, sink) -> None:
    """The child's output, as it comes (progress bars redraw with carriage returns, not lines)."""
    while True:
        data = os.read(source.fileno(), 65536)
        if not data:
            return
        sink.write(data.decode(errors="replace"))
        sink.flush()


def _resume_command(root: str) -> str:
    """The command that continues the run at `root`, as its recorded config asks (rundir.resume_command)."""
    from energybench.config import load_yaml
    from energybench.rundir import resume_command

    try:
        recorded = load_yaml(Path(root) / "config.yaml")
    except UserError:  # (not written yet, or unreadable: the plain command, whose resume then says why)
        recorded = {}
    return resume_command(root, recorded.get("backbone"), recorded.get("methods"))


def _unexplained(code: int, root: str | None) -> int:
    code = code or 1
    how = f"exit status {code}" if code <= 128 else f"signal {code - 128}"
    if root is None:
        print(f"energybench run: the driver ended ({how}) before it wrote anything; see the messages above "
              "(Ray's own, if Ray failed)", file=sys.stderr)
        return code
    metrics = Path(root) / "metrics.csv"
    rows = max(0, len(metrics.read_text().splitlines()) - 1) if metrics.is_file() else 0
    print(f"energybench run: the sweep stopped: its driver ended unexpectedly ({how}); see the messages above "
          "(Ray ends a driver so when one of its processes or its node dies). Every phase finished before that is "
          f"saved in {root} ({rows} row(s) in metrics.csv).\nContinue with: {_resume_command(root)}",
          file=sys.stderr)
    return code


STATUS_PREFIX = "energybench-driver-"  # + the watcher's pid: a file of a watcher that was killed is found again


def _sweep_stale_status() -> None:
    """Remove the status files of watchers that no longer run (a SIGKILL skips their clean-up)."""
    for path in Path(tempfile.gettempdir()).glob(f"{STATUS_PREFIX}*-*.json"):
        pid = path.name[len(STATUS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # gone: its file is nobody's
            try:
                path.unlink(missing_ok=True)
            except OSError:  # another user's, in a sticky /tmp
                continue
        except OSError:  # alive (another user's, maybe): left alone
            continue
