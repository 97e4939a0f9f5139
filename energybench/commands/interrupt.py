"""SIGTERM handled as Ctrl-C is, in every command: kill, Slurm and schedulers' time limits send
it, and Python's default is to end the process where it stands without a word. Raised as an
interruption, it runs the same clean-up (locks, the power monitor, Ray) and the command says
what was kept and how to continue; the CLI exits 128 + the signal's number (143), or 130 for
Ctrl-C."""

from __future__ import annotations

import signal
import threading

from energybench.errors import Terminated


class SigtermAsInterrupt:
    """While armed, SIGTERM raises Terminated. The previous handler is back afterwards.
    `received` records the signal: Ray's blocking calls turn an exception raised in a signal
    handler into a plain KeyboardInterrupt."""

    def __init__(self):
        self.received: int | None = None
        self.main = threading.current_thread() is threading.main_thread()  # only it may set handlers
        self.previous = signal.getsignal(signal.SIGTERM)  # the caller's, not one installed while armed

    def _stop(self, signum, frame):
        self.received = signum
        raise Terminated(signum)

    def arm(self) -> None:
        if self.main:
            signal.signal(signal.SIGTERM, self._stop)

    def __enter__(self) -> SigtermAsInterrupt:
        self.arm()
        return self

    def __exit__(self, *exc) -> None:
        if self.main and self.previous is not None:  # None: a handler not set from Python, left as it is
            signal.signal(signal.SIGTERM, self.previous)

    def status(self) -> int:
        """The exit status of an interrupted command: 128 + the signal (143 for SIGTERM), 130 for Ctrl-C."""
        return 128 + self.received if self.received else 130

    def how(self) -> str:
        return " by SIGTERM" if self.received == signal.SIGTERM else (f" by signal {self.received}"
                                                                      if self.received else "")
