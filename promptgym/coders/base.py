"""A Coder writes and repairs code for tasks: backend + template + cache behind one call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from promptgym.tasks import Task


@dataclass(frozen=True)
class CodeSample:
    """Code extracted from one generation, with its cost."""

    code: str
    text: str = ""  # the raw completion
    # what the generation costs by its own measure, whether it came from the model or from the cache:
    # rewards and infos must not depend on the state of a cache
    tokens: int = 0  # completion tokens of the generation
    llm_calls: int = 1  # generations asked for
    entry_point_found: bool = True
    cached: bool = False  # served from the generation cache (reported apart, never in rewards)


@dataclass(frozen=True)
class TextReply:
    """A free-text answer (paraphrase, plan, mutation)."""

    text: str
    tokens: int = 0
    llm_calls: int = 1
    cached: bool = False


class Coder(ABC):
    """Writes code for a task from a (possibly edited) prompt, repairs it, answers free text.

    Every method is deterministic given ``seed``: the same seed and inputs give the same sample.
    """

    @abstractmethod
    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        """Write a program for ``task`` from ``prompt`` (default: the task's own), with extra context."""

    @abstractmethod
    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        """Repair ``code`` given ``feedback`` (failing tests and errors)."""

    @abstractmethod
    def ask(self, instruction: str, max_new_tokens: int = 256, seed: int = 0) -> TextReply:
        """Answer a free-text instruction (used by paraphrase, genetic and planning operators)."""
