"""SIGTERM and Ctrl-C raised where Python cannot propagate them (a weakref callback, a __del__: matplotlib
runs many while drawing) are not lost: they arrive again a moment later (commands/interrupt.py)."""

from __future__ import annotations

import signal
import sys
import time
import weakref

import pytest

from energybench.commands.interrupt import SigtermAsInterrupt
from energybench.errors import Terminated


class Drawn:
    """Stands for a matplotlib object whose weakref callback runs when it is freed."""


def free_raising(exc: BaseException) -> None:
    """Free an object whose weakref callback raises exc, as a signal handler does when the signal lands in it."""
    obj = Drawn()

    def callback(_ref):
        raise exc

    ref = weakref.ref(obj, callback)  # noqa: F841 (kept alive until the object goes)
    del obj  # Python cannot raise from the callback: it hands exc to sys.unraisablehook


def test_a_sigterm_lost_in_a_weakref_callback_arrives_again():
    with SigtermAsInterrupt() as sigterm:
        with pytest.raises(Terminated) as stopped:
            free_raising(Terminated(signal.SIGTERM))
            time.sleep(5)  # the command's next work; SIGTERM comes again well before the end
    assert stopped.value.signum == signal.SIGTERM and sigterm.received == signal.SIGTERM


def test_a_ctrl_c_lost_in_a_weakref_callback_arrives_again():
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, whatever pytest set
    try:
        with SigtermAsInterrupt():
            with pytest.raises(KeyboardInterrupt) as stopped:
                free_raising(KeyboardInterrupt())
                time.sleep(5)
        assert not isinstance(stopped.value, Terminated)
    finally:
        signal.signal(signal.SIGINT, before)


def test_other_lost_errors_still_reach_the_previous_hook_and_it_is_back_afterwards(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(type(u.exc_value)))
    previous = sys.unraisablehook
    with SigtermAsInterrupt():
        free_raising(ValueError("a bug in a callback"))
        time.sleep(0.2)  # nothing is sent again for it
    assert seen == [ValueError]
    assert sys.unraisablehook is previous
