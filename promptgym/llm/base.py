"""The one interface every LLM backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

ChatMessages = list[dict[str, str]]
Prompt = Union[str, ChatMessages]
"""A plain-text prompt, or chat messages ``[{"role": ..., "content": ...}, ...]``."""


@dataclass(frozen=True)
class Completion:
    """One generated sample."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"
    cached: bool = False


class Backend(ABC):
    """An LLM that turns a batch of prompts into ``n`` completions each."""

    name: str = "base"

    @property
    @abstractmethod
    def model(self) -> str:
        """Identifier of the model (path or hub id), part of every cache key."""

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        n: int = 1,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Generate ``n`` completions for each prompt, in order."""

    def close(self) -> None:
        """Release the model or connections."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
