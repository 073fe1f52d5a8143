"""Errors a user can cause: a bad override, missing data, a broken checkpoint.

The command line prints them as one line and exits with status 2; anything else is a bug and
keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the input (config, data, checkpoint); the message names the key or file."""


class Diverged(Exception):
    """The training loss became NaN or infinite; the run stops with status `diverged`."""
