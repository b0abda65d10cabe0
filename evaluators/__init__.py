"""Sandboxed execution of untrusted programs against tests, and their scores."""

from evaluators.cache import ResultCache
from evaluators.error import DependencyNotInstalled, SandboxError, UnknownBackend
from evaluators.pass_at_k import estimate_pass_at_k, pass_at_k, pass_at_k_report
from evaluators.result import ExecutionResult, TestOutcome
from evaluators.sandbox import Sandbox
from evaluators.text_metrics import TextMetric, score_texts

__all__ = [
    "DependencyNotInstalled",
    "ExecutionResult",
    "ResultCache",
    "Sandbox",
    "SandboxError",
    "TestOutcome",
    "TextMetric",
    "UnknownBackend",
    "estimate_pass_at_k",
    "pass_at_k",
    "pass_at_k_report",
    "score_texts",
]
