"""Errors a user can cause: a bad override, missing data, a broken checkpoint.

The command line prints them as one line and exits with status 2; anything else is a bug and
keeps its traceback.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A mistake in the input (config, data, checkpoint); the message names the key or file."""


class ConfigValueError(UserError, ValueError):
    """A value a component refuses, ``"<key>=<value>: must be <allowed>"``.

    A ``ValueError`` as torch raises for a bad hyperparameter, and a user error on the command line.
    A component names the key by its own parameter name; :func:`config_key` prefixes the place the
    component has in the config (``lr`` becomes ``optimizer.lr``).
    """

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"{key}={value}: must be {allowed}")
        self.key, self.value, self.allowed = key, value, allowed

    def under(self, prefix: str) -> "ConfigValueError":
        return ConfigValueError(f"{prefix}.{self.key}", self.value, self.allowed)


class Diverged(Exception):
    """The training loss became NaN or infinite; the run stops with status `diverged`."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def user_error(error: BaseException | None) -> UserError | None:
    """The :class:`UserError` behind ``error`` (Hydra's ``instantiate`` wraps what a target raises)."""
    while error is not None and not isinstance(error, UserError):
        error = error.__cause__ or error.__context__
    return error


@contextmanager
def config_key(prefix: str) -> Iterator[None]:
    """Name the values a component refuses by their full config key, e.g. ``optimizer.lr``."""
    try:
        yield
    except Exception as error:
        cause = user_error(error)
        if isinstance(cause, ConfigValueError):
            raise cause.under(prefix) from None
        if cause is not None and cause is not error:
            raise cause from None
        raise
