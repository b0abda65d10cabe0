"""Sandboxed execution of untrusted programs against tests, and their scores."""

from evaluators.cache import ResultCache
from evaluators.error import DependencyNotInstalled, SandboxError, UnknownBackend
from evaluators.pass_at_k import estimate_pass_at_k, pass_at_k, pass_at_k_report
from evaluators.result import ExecutionResult, TestOutcome
from evaluators.sandbox import Sandbox

__all__ = [
    "DependencyNotInstalled",
    "ExecutionResult",
    "ResultCache",
    "Sandbox",
    "SandboxError",
    "TestOutcome",
    "UnknownBackend",
    "estimate_pass_at_k",
    "pass_at_k",
    "pass_at_k_report",
]
