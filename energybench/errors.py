"""Errors the command line reports as one message without a traceback (bad input, exit 2; a run
stopped by its environment such as a full disk, exit 1; SIGTERM, exit 143), and the pieces of
their messages: a short view of a bad value, and the valid name a misspelt one was probably
meant to be."""

from __future__ import annotations

import difflib
import reprlib
from typing import Iterable


class UserError(Exception):
    """A mistake the user can fix (bad name, bad config key, missing data path...).

    The message must say what was wrong and what would be right; the CLI prints it
    without a traceback.
    """


class OutputFailed(UserError):
    """A file the user asked for (a report, an exported figure) could not be written; `errno` says
    why, so that a run can tell a full disk (it stops, exit 1) from a wrong path (exit 2)."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno

    def __reduce__(self):
        return (type(self), (str(self), self.errno))


class ModuleMissing(UserError):
    """A user's module (package.module:Name) that cannot be found; `module` names it, so that a
    resume can say where the run found it."""

    def __init__(self, message: str, module: str = ""):
        super().__init__(message)
        self.module = module

    def __reduce__(self):
        return (type(self), (str(self), self.module))


class UserCodeFailed(UserError):
    """A user's method (module:Class) raised while it ran: the message names the method, the
    phase and the error, and says how to continue; `details` holds its traceback, which the CLI
    prints under --debug."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details

    def __reduce__(self):  # (a Ray worker's error reaches the driver with its traceback)
        return (type(self), (str(self), self.details))


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, Slurm, a scheduler's time limit) raised as an interruption, so that what
    cleans up after Ctrl-C cleans up after it too; the CLI exits 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def status(self) -> int:
        return 128 + self.signum


class RunStopped(Exception):
    """A run that had to stop (full disk, lost permission); the message says what was saved and
    how to continue. The CLI prints it and exits 1."""


MAX_LISTED = 40  # valid names a message lists (an imagefolder can have a thousand classes)
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 2


def error_line(command: str, exc: UserError) -> str:
    """How every command states a user's error (exit status 2)."""
    return f"energybench {command}: error: {exc}"


def shown(value) -> str:
    """A bad value as it goes into a message: repr, cut short. A value read from someone's file
    can be huge; the message must stay one readable line."""
    return _SHORT.repr(value)


def canonical(name, valid: Iterable[str]):
    """The valid name that `name` equals ignoring case (built-in names are lower case, and a
    user who types `--method LwF` means `lwf`); `name` itself when none does."""
    if not isinstance(name, str):
        return name
    matches = [v for v in valid if v.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else name


def did_you_mean(name, valid: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest valid name, or '' when none is close."""
    close = difflib.get_close_matches(str(name).lower(), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def colon_hint(name) -> str:
    """' (did you mean 'my_nets:SmallNet'? your own code is named package.module:Name)' for a
    dotted name that looks like a module path with a dot where the colon goes; '' otherwise."""
    text = str(name)
    module, dot, attr = text.rpartition(".")
    if not dot or ":" in text or not module or not attr.isidentifier() or not all(
            part.isidentifier() for part in module.split(".")):
        return ""
    return f" (did you mean '{module}:{attr}'? your own code is named package.module:Name, with a colon)"


def unknown_name(kind: str, name, valid: Iterable[str], plural: str | None = None) -> str:
    """"unknown method 'finetun' (did you mean 'finetune'?); valid methods: finetune, joint, ..."."""
    valid = [str(v) for v in valid]
    listed = ", ".join(valid[:MAX_LISTED]) + (f", ... ({len(valid)} in all)" if len(valid) > MAX_LISTED else "")
    return f"unknown {kind} {shown(name)}{did_you_mean(name, valid)}; valid {plural or kind + 's'}: {listed}"
