"""The one exception type for bad user input: the CLI prints its message and exits 2."""


class UserError(Exception):
    """A mistake the user can fix (bad name, bad config key, missing data path...).

    The message must say what was wrong and what would be right; the CLI prints it
    without a traceback.
    """
