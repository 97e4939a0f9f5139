"""SIGTERM and Ctrl-C raised where Python cannot propagate them (a weakref callback, a __del__: matplotlib
runs many while drawing), or caught where they land, are not lost: they arrive again a moment later
(commands/interrupt.py). Sent again, they never cut the clean-up short nor outlive the command."""

from __future__ import annotations

import os
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


def test_an_interruption_caught_where_it_landed_arrives_again():
    """As in matplotlib's font matching: `try: int(stretch) except ValueError:`, where CPython's int()
    replaced the interruption raised inside it with a ValueError, and a report was written whole."""
    with SigtermAsInterrupt():
        with pytest.raises(Terminated):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:
                pass  # lost here
            time.sleep(5)  # the command's next work; SIGTERM comes again well before the end


def test_the_clean_up_an_interruption_runs_is_not_cut_short():
    cleaned = False
    with SigtermAsInterrupt():
        with pytest.raises(Terminated):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                time.sleep(0.3)  # a lock released, Ray shut down: several resend periods
                cleaned = True
    assert cleaned


def test_ctrl_c_under_the_cli_and_a_command_is_raised_once_and_not_after():
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    status = None
    try:
        with SigtermAsInterrupt():  # the CLI's
            with SigtermAsInterrupt() as command:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                except KeyboardInterrupt:
                    status = command.status()
            time.sleep(0.3)  # nothing arrives again: the command has it
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert status == 130


def test_nothing_is_sent_once_the_command_has_ended():
    got = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with SigtermAsInterrupt() as sigterm:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except Terminated:
                assert sigterm.how() == " by SIGTERM" and sigterm.status() == 143
        time.sleep(0.3)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert got == []


def test_an_error_that_replaced_the_interruption_ends_the_command_as_interrupted():
    with pytest.raises(Terminated) as stopped:
        with SigtermAsInterrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:  # as C code does (matplotlib's image resampling) with the error it finds
                raise ValueError("Invalid affine transformation matrix") from None
    assert isinstance(stopped.value.__cause__, ValueError)
    with pytest.raises(ValueError):  # with no signal, an error is the command's own
        with SigtermAsInterrupt():
            raise ValueError("a bug")


def test_a_second_ctrl_c_while_a_command_stops_leaves_its_word_the_last(capsys):
    """`energybench run` says where the run is kept and how to resume it; a second Ctrl-C while it then
    stops (its report process, its lock) must not add the CLI's advice to run the same command again,
    which would start a new run under a new id."""
    import argparse

    from energybench.cli import _handle

    def command(args):
        with SigtermAsInterrupt() as sigterm:
            try:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                except KeyboardInterrupt:
                    sigterm.say("energybench run: interrupted; every finished phase is saved in R.\n"
                                "Continue with: energybench run --resume R")
                    return sigterm.status()
            finally:
                os.kill(os.getpid(), signal.SIGINT)  # the user's second Ctrl-C, during the clean-up
                time.sleep(5)

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = _handle(argparse.Namespace(command="run", handler=command))
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 130
    assert capsys.readouterr().err.splitlines() == [
        "energybench run: interrupted; every finished phase is saved in R.",
        "Continue with: energybench run --resume R",
        "energybench run: interrupted again while stopping; the above still holds"]
