"""SIGTERM handled as Ctrl-C is, in every command: kill, Slurm and schedulers' time limits send
it, and Python's default is to end the process where it stands without a word. Raised as an
interruption, it runs the same clean-up (locks, the power monitor, Ray) and the command says
what was kept and how to continue; the CLI exits 128 + the signal's number (143), or 130 for
Ctrl-C.

Python can lose an interruption its signal handler raised: the command would then finish as if
never stopped, or fail with an error it never had:
- in a weakref callback or a __del__ (matplotlib runs many while it draws), it cannot propagate:
  Python hands it to sys.unraisablehook;
- inside C code that replaces the error it finds set: `int("normal")` in matplotlib's font
  matching, inside `try: ... except ValueError`, turned it into a ValueError that was caught;
  matplotlib's image resampling into "ValueError: Invalid affine transformation matrix".
So, while armed, an interruption is sent again every RESEND_S until it is seen on its way up (in
an `except` or `finally` it passes through: that clean-up is not cut short), the command asks how
it was stopped, or the command ends; an error that ends the command before that is taken for the
interruption it replaced. A second signal from the user is raised again, as before."""

from __future__ import annotations

import os
import signal
import sys
import threading

from energybench.errors import Terminated

RESEND_S = 0.05  # a lost interruption arrives again this much later (a report page takes ~0.3 s)


class SigtermAsInterrupt:
    """While armed, SIGTERM raises Terminated and Ctrl-C KeyboardInterrupt, and neither is lost.
    The previous handlers are back afterwards. `received` records the signal: Ray's blocking calls
    turn an exception raised in a signal handler into a plain KeyboardInterrupt."""

    def __init__(self):
        self.received: int | None = None
        self.main = threading.current_thread() is threading.main_thread()  # only it may set handlers
        self.previous = signal.getsignal(signal.SIGTERM)  # the caller's, not one installed while armed
        # Ctrl-C is handled here where Python code has it (Python's own handler, an enclosing
        # command's), not where it is ignored
        self.previous_int = signal.getsignal(signal.SIGINT)
        self.own_int = callable(self.previous_int)
        self.previous_hook = sys.unraisablehook
        self._seen = threading.Event()  # the interruption has reached the command
        self._sending = threading.Lock()  # a resend is never in flight while the handlers are put back
        self._resender: threading.Thread | None = None
        self._resent = False  # the signal on its way is one sent again from here
        self.said = False  # the command has said what was kept and how to go on (say)

    def _stop(self, signum, frame):
        resent, self._resent = self._resent, False
        if resent and (self._seen.is_set() or _interrupting()):
            self._seen.set()  # sent again, but on its way up (an except, a finally): its clean-up goes on
            return
        self.received = signum  # a first signal, a lost one sent again, or a second one from the user
        self._resend_until_seen(signum)
        exc = interruption(signum)
        exc.said = self.said  # a second one, while the command stops after saying what was kept: the CLI adds no advice
        raise exc

    def _lost(self, unraisable) -> None:
        """sys.unraisablehook while armed: Ctrl-C's or SIGTERM's interruption is sent again, unprinted."""
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt):
            self.previous_hook(unraisable)
            return
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        self.received = self.received or signum
        self._resend_until_seen(signum)

    def _resend_until_seen(self, signum: int) -> None:
        if self._resender is not None:
            return

        def resend():
            while not self._seen.wait(RESEND_S):
                with self._sending:
                    if not self._seen.is_set():
                        self._resent = True
                        os.kill(os.getpid(), signum)

        self._resender = threading.Thread(target=resend, name="energybench-interrupt", daemon=True)
        self._resender.start()

    def arm(self) -> None:
        if self.main:
            signal.signal(signal.SIGTERM, self._stop)
            if self.own_int:
                signal.signal(signal.SIGINT, self._stop)
            sys.unraisablehook = self._lost

    def __enter__(self) -> SigtermAsInterrupt:
        self.arm()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with self._sending:
            # an error on its way out while a signal was not yet seen: C code (matplotlib's image
            # resampling) replaced the interruption with its own error, which must not end the command
            converted = (exc is not None and not isinstance(exc, KeyboardInterrupt) and self.received is not None
                         and not self._seen.is_set())
            self._seen.set()  # no resend from here on
        if self.main:
            if self.previous is not None:  # None: a handler not set from Python, left as it is
                signal.signal(signal.SIGTERM, self.previous)
            if self.own_int:
                signal.signal(signal.SIGINT, self.previous_int)
            sys.unraisablehook = self.previous_hook
        if converted:
            raise interruption(self.received) from exc

    def status(self) -> int:
        """The exit status of an interrupted command: 128 + the signal (143 for SIGTERM), 130 for Ctrl-C."""
        self._seen.set()
        return 128 + self.received if self.received else 130

    def say(self, message: str) -> None:
        """Print the command's word on its interruption (what was kept, how to go on); an
        interruption that comes while it then stops (a second Ctrl-C) leaves that the last word."""
        self._seen.set()
        self.said = True
        print(message, file=sys.stderr, flush=True)

    def how(self) -> str:
        self._seen.set()
        if self.received in (None, signal.SIGINT):
            return ""
        return " by SIGTERM" if self.received == signal.SIGTERM else f" by signal {self.received}"


def interruption(signum: int) -> KeyboardInterrupt:
    """What a signal raises: Ctrl-C Python's own KeyboardInterrupt, any other Terminated."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _interrupting() -> bool:
    """Whether the code running is handling an interruption (an except or finally it passes through)."""
    return isinstance(sys.exc_info()[1], KeyboardInterrupt)
