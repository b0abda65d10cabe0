"""The operator interface, its context and result records, and the public operator registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from promptgym.error import unknown
from promptgym.tasks import Task

if TYPE_CHECKING:
    from promptgym.coders import Coder
    from promptgym.embeddings import Embedder, HashEmbedder


@dataclass
class MutationContext:
    """What an operator may use besides the prompt it edits.

    Attributes:
        task: The task whose prompt is edited, as the agent may see it: the envs pass its visible view
            (``Task.visible_view()``), so an operator reading ``task.tests`` reads visible tests only.
        original: The task's original prompt (meaning-drift is measured against it).
        rng: The env's random generator; operators draw every random choice from it.
        coder: The coder, for LLM-driven operators (paraphrase, genetic); None disables them.
        embedder: Sentence embedder for similarity checks; None disables the semantic operators.
        evaluate: ``prompt -> pass fraction`` on the visible tests (runs coder + sandbox); the genetic
            operator's fitness. Never a hidden-test outcome: those judge the episode at its end.
        current_fitness: The current prompt's visible pass fraction, when known (saves one evaluation).
        similarity_threshold: Minimum similarity to ``original`` an LLM rewrite must keep.
        scratch: Per-episode state an operator may keep (the genetic population); the env clears it.
    """

    task: Task
    original: str
    rng: np.random.Generator
    coder: Coder | None = None
    embedder: Embedder | HashEmbedder | None = None
    evaluate: Callable[[str], float] | None = None
    current_fitness: float | None = None
    similarity_threshold: float = 0.8
    scratch: dict[str, Any] = field(default_factory=dict)

    def seed(self) -> int:
        """A fresh seed for a coder call, drawn from ``rng`` (same env seed -> same calls)."""
        return int(self.rng.integers(0, 2**31 - 1))

    def similarity(self, prompt: str) -> float:
        """Similarity of ``prompt`` to the original (1.0 when no embedder is set)."""
        if self.embedder is None:
            return 1.0
        return self.embedder.similarity(prompt, self.original)


@dataclass(frozen=True)
class MutationResult:
    """The outcome of one operator application.

    ``changed`` is False when the operator left the prompt as it was (nothing to do, or a rewrite
    rejected for drifting from the original's meaning: ``note`` says why).
    """

    prompt: str
    changed: bool
    llm_calls: int = 0
    tokens: int = 0
    note: str = ""
    rejected: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class Operator(ABC):
    """A prompt edit. Subclasses set ``name`` and ``kind`` and implement :meth:`apply`."""

    name: str = ""
    kind: str = "lexical"  # lexical | structural | semantic | genetic
    uses_llm: bool = False

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """Whether :meth:`apply` can change ``prompt`` now (feeds the env's action mask)."""
        return True

    @abstractmethod
    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Return the edited prompt (or the same one with ``changed=False``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


OperatorFactory = Callable[..., Operator]
_REGISTRY: dict[str, OperatorFactory] = {}


def register_operator(name: str, factory: OperatorFactory, *, overwrite: bool = False) -> None:
    """Register an operator class or factory under ``name`` (idempotent for the same factory).

    Raises:
        ValueError: ``name`` is taken by a different factory and ``overwrite`` is False.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Operator name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"Operator factory for {name!r} must be callable, got {type(factory).__name__}")
    old = _REGISTRY.get(name)
    if old is not None and old is not factory and not overwrite:
        raise ValueError(f"Operator {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = factory


def make_operator(name: str, **kwargs: Any) -> Operator:
    """Build the operator registered as ``name`` with ``kwargs``."""
    if name not in _REGISTRY:
        raise unknown("operator", name, _REGISTRY)
    op = _REGISTRY[name](**kwargs)
    if not isinstance(op, Operator):
        raise TypeError(f"Operator factory {name!r} returned {type(op).__name__}, not an Operator")
    if not op.name:
        op.name = name
    return op


def list_operators() -> list[str]:
    """Names of every registered operator, in registration order."""
    return list(_REGISTRY)
