"""SIGTERM handled as Ctrl-C is, in every command: kill, Slurm and schedulers' time limits send
it, and Python's default is to end the process where it stands without a word. Raised as an
interruption, it runs the same clean-up (locks, the power monitor, Ray) and the command says
what was kept and how to continue; the CLI exits 128 + the signal's number (143), or 130 for
Ctrl-C.

An interruption raised while Python runs a weakref callback or a __del__ (matplotlib runs many
while it draws) cannot propagate: Python hands it to sys.unraisablehook, prints it and goes on,
and the command would finish as if never stopped. While armed, that hook sends the signal again a
moment later, when the main thread is back in ordinary code."""

from __future__ import annotations

import os
import signal
import sys
import threading

from energybench.errors import Terminated

RESEND_S = 0.01  # after a lost interruption: long enough to leave the callback it was raised in


class SigtermAsInterrupt:
    """While armed, SIGTERM raises Terminated. The previous handler is back afterwards.
    `received` records the signal: Ray's blocking calls turn an exception raised in a signal
    handler into a plain KeyboardInterrupt."""

    def __init__(self):
        self.received: int | None = None
        self.main = threading.current_thread() is threading.main_thread()  # only it may set handlers
        self.previous = signal.getsignal(signal.SIGTERM)  # the caller's, not one installed while armed
        self.previous_hook = sys.unraisablehook

    def _stop(self, signum, frame):
        self.received = signum
        raise Terminated(signum)

    def _lost(self, unraisable) -> None:
        """sys.unraisablehook while armed: Ctrl-C's or SIGTERM's interruption is sent again, unprinted."""
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt):
            self.previous_hook(unraisable)
            return
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        resend = threading.Timer(RESEND_S, lambda: os.kill(os.getpid(), signum))  # this process, a fork's too
        resend.daemon = True
        resend.start()

    def arm(self) -> None:
        if self.main:
            signal.signal(signal.SIGTERM, self._stop)
            sys.unraisablehook = self._lost

    def __enter__(self) -> SigtermAsInterrupt:
        self.arm()
        return self

    def __exit__(self, *exc) -> None:
        if self.main and self.previous is not None:  # None: a handler not set from Python, left as it is
            signal.signal(signal.SIGTERM, self.previous)
        if self.main:
            sys.unraisablehook = self.previous_hook

    def status(self) -> int:
        """The exit status of an interrupted command: 128 + the signal (143 for SIGTERM), 130 for Ctrl-C."""
        return 128 + self.received if self.received else 130

    def how(self) -> str:
        return " by SIGTERM" if self.received == signal.SIGTERM else (f" by signal {self.received}"
                                                                      if self.received else "")
