"""Errors the command line reports as one message without a traceback: bad input (exit 2),
and a run stopped by its environment, such as a full disk (exit 1)."""


class UserError(Exception):
    """A mistake the user can fix (bad name, bad config key, missing data path...).

    The message must say what was wrong and what would be right; the CLI prints it
    without a traceback.
    """


class RunStopped(Exception):
    """A run that had to stop (full disk, lost permission); the message says what was saved and
    how to continue. The CLI prints it and exits 1."""
