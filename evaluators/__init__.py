"""Sandboxed execution of untrusted programs against tests, and their scores."""

from evaluators.result import ExecutionResult, TestOutcome

__all__ = ["ExecutionResult", "TestOutcome"]
