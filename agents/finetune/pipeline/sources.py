"""Where candidates come from: the LLM layer (:class:`LLMCandidates`), or any object with the same three methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agents.finetune.pipeline.stages import PipelineSettings

__all__ = ["CandidateSource", "LLMCandidates", "SourceFactory", "llm_sources"]


class CandidateSource(Protocol):
    """Where candidates come from: the LLM layer (:class:`LLMCandidates`) or, in tests, a scripted double."""

    model: str

    def prompt(self, task: Any) -> Any:
        """The prompt the model sees for ``task`` (chat messages or text)."""

    def generate(self, task: Any, n: int, seed: int) -> list[Any]:
        """``n`` :class:`promptgym.llm.Completion` for ``task``; sample i uses ``seed + i``."""

    def close(self) -> None:
        """Release the model."""


SourceFactory = Callable[[str, str, "PipelineSettings"], CandidateSource]
"""``(model, stage, settings) -> CandidateSource``: how a stage gets its generator."""


class LLMCandidates:
    """Candidates from a backend of the LLM layer, through the generation cache (the ``promptgym evaluate`` path).

    Args:
        backend: ``llama_cpp``, ``transformers`` or ``openai``.
        model: ``"embedded"`` (the backend's default), a path or a hub id.
        template, max_new_tokens, temperature, top_p: Sampling (part of every cache key).
        cache: A cache file, None for the default one, or False for none.
    """

    def __init__(self, backend: str = "llama_cpp", model: str = "embedded", template: str = "auto",
                 max_new_tokens: int = 256, temperature: float = 0.8, top_p: float = 0.95,
                 cache: str | bool | None = None) -> None:
        from promptgym.llm import CachedBackend, GenerationCache, make_backend

        kwargs: dict[str, Any] = {}
        if model and model != "embedded":
            kwargs["model" if backend == "openai" else "model_path"] = model
        self.backend = make_backend(backend, **kwargs)
        self._gen = self.backend if cache is False else CachedBackend(self.backend, GenerationCache(cache or None))
        self.template, self.max_new_tokens, self.temperature, self.top_p = template, max_new_tokens, temperature, top_p

    @property
    def model(self) -> str:
        """The backend's model."""
        return str(self.backend.model)

    def _template(self, task: Any) -> Any:
        from promptgym.llm import resolve_template

        return resolve_template(self.template, task)

    def prompt(self, task: Any) -> Any:
        """The template's prompt for ``task``."""
        return self._template(task)(task)

    def generate(self, task: Any, n: int, seed: int) -> list[Any]:
        """``n`` samples (the backend gives sample i seed ``seed + i``)."""
        tpl = self._template(task)
        return self._gen.generate([tpl(task)], n=n, max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                  top_p=self.top_p, stop=tpl.stop or None, seed=seed)[0]

    def cache_stats(self) -> dict[str, Any] | None:
        """Hits and misses of the generation cache (None without one)."""
        cache = getattr(self._gen, "cache", None)
        return None if cache is None else cache.stats()

    def close(self) -> None:
        """Release the model and the cache connection."""
        self._gen.close()


def llm_sources(model: str, stage: str, settings: PipelineSettings) -> CandidateSource:
    """The default :data:`SourceFactory`: train_gen samples with ``backend``; the evaluations use ``eval_backend``."""
    evaluating = stage in ("baseline", "test_after")
    temperature = (0.0 if settings.eval_n == 1 else settings.temperature) if evaluating else settings.temperature
    return LLMCandidates(settings.eval_backend if evaluating else settings.backend, model, settings.template,
                         settings.max_new_tokens, temperature, settings.top_p,
                         cache=False if settings.no_cache else settings.cache)
