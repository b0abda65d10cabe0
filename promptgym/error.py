"""promptgym's errors: one small flat hierarchy."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Error(Exception):
    """Base class of every promptgym error."""


class DependencyNotInstalled(Error, ImportError):
    """An optional dependency is missing."""


class TaskNotFound(Error, KeyError):
    """No task with that id."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class DatasetNotFound(Error, FileNotFoundError):
    """A dataset could not be found offline or online."""


class UnknownName(Error, KeyError):
    """A name (backend, operator, split, ...) that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidAction(Error, ValueError):
    """An action outside the action space."""


class UsageError(Error, ValueError):
    """A command-line argument or user input that cannot be used; the message says how to fix it.

    The ``promptgym`` command prints it as one line (exit code 2) instead of a traceback.
    """


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the nearest of ``choices``, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownName:
    """Build an UnknownName error that lists the choices and suggests the nearest."""
    choices = sorted(choices)
    return UnknownName(f"Unknown {kind} {name!r}.{did_you_mean(name, choices)} Choices: {', '.join(choices)}")


def check_keywords(kind: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise UnknownName for the first of ``given`` not in ``accepted``, suggesting the nearest."""
    accepted = list(accepted)
    bad = [name for name in given if name not in accepted]
    if bad:
        raise unknown(kind, bad[0], accepted)
