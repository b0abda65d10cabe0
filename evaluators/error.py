"""Errors of the evaluators package: a small flat hierarchy."""

from __future__ import annotations


class Error(Exception):
    """Base class of every evaluators error."""


class SandboxError(Error, RuntimeError):
    """The sandbox itself could not run (a worker failed to start, the engine is unreachable)."""


class DependencyNotInstalled(Error, ImportError):
    """An optional dependency (the docker SDK, a running Docker engine) is missing."""


class UnknownBackend(Error, ValueError):
    """A backend name that does not exist."""
