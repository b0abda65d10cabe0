"""LLMCoder: a backend + template + generation cache that writes, repairs and answers."""

from __future__ import annotations

import os
from typing import Any

from promptgym.coders.base import CodeSample, Coder, TextReply
from promptgym.llm import Backend, CachedBackend, GenerationCache, extract_code, make_backend, repair_prompt
from promptgym.llm.templates import resolve_template
from promptgym.tasks import Task

__all__ = ["LLMCoder"]

class LLMCoder(Coder):
    """Writes code with an LLM backend; identical requests are served from the generation cache.

    Args:
        backend: A backend name (see :func:`promptgym.llm.make_backend`) or a Backend instance.
        template: A template name, or "auto" (chat templates for instruct models), "chat", "plain".
        cache: True (default path), a path, a GenerationCache, or None/False for no cache.
        max_new_tokens, temperature, top_p: Sampling parameters (part of every cache key).
        backend_kwargs: Passed to ``make_backend`` when ``backend`` is a name.

    Pickling drops the live model and database connection; both reload lazily.
    """

    def __init__(self, backend: str | Backend = "llama_cpp", template: str = "auto",
                 cache: bool | str | os.PathLike[str] | GenerationCache | None = True, max_new_tokens: int = 384,
                 temperature: float = 0.0, top_p: float = 1.0, backend_kwargs: dict[str, Any] | None = None,
                 chat_model: bool = True) -> None:
        if isinstance(backend, str):
            backend = make_backend(backend, **(backend_kwargs or {}))
        if cache is True:
            cache = GenerationCache()
        elif cache is False or cache is None:
            cache = None
        elif not isinstance(cache, GenerationCache):
            cache = GenerationCache(cache)
        self.backend = backend
        self.cache = cache
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.chat_model = chat_model
        self._gen: Backend = CachedBackend(backend, cache) if cache is not None else backend

    def _one(self, prompt: Any, seed: int, stop: tuple[str, ...] = (), max_new_tokens: int | None = None):
        return self._gen.generate([prompt], n=1, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                  temperature=self.temperature, top_p=self.top_p, stop=stop or None, seed=seed)[0][0]

    def _sample(self, task: Task, completion: Any, prefix: str = "") -> CodeSample:
        ex = extract_code(completion.text, task.entry_point, prefix=prefix)
        return CodeSample(code=ex.code, text=completion.text, tokens=completion.completion_tokens,
                          llm_calls=1, entry_point_found=ex.entry_point_found, cached=completion.cached)

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        """Write a program for ``task`` from ``prompt`` (default: the task's own) plus context."""
        tpl = resolve_template(self.template, task, self.chat_model)
        c = self._one(tpl(task, prompt, context), seed, tpl.stop)
        # A plain HumanEval completion continues the signature: extraction prepends it.
        prefix = (task.code_prefix if prompt is None else prompt) if (task.code_prefix and not tpl.chat) else ""
        return self._sample(task, c, prefix)

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        """Repair ``code`` given ``feedback``."""
        tpl = resolve_template(self.template, task, self.chat_model)
        c = self._one(repair_prompt(task, code, feedback, context, chat=tpl.chat), seed, () if tpl.chat else ("[DONE]",))
        return self._sample(task, c)

    def ask(self, instruction: str, max_new_tokens: int = 256, seed: int = 0) -> TextReply:
        """Answer a free-text instruction."""
        prompt: Any = ([{"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": instruction}] if self.chat_model else instruction)
        c = self._one(prompt, seed, max_new_tokens=max_new_tokens)
        return TextReply(text=c.text.strip(), tokens=c.completion_tokens, llm_calls=1, cached=c.cached)

    def stats(self) -> dict[str, Any]:
        """Cache statistics (empty without a cache)."""
        return self.cache.stats() if self.cache is not None else {}

    def __getstate__(self) -> dict[str, Any]:
        # Backend and cache define their own __getstate__ that drop the model and connection.
        return self.__dict__.copy()

    def close(self) -> None:
        """Release the model and the cache connection."""
        self._gen.close()
