"""Coders: what writes and repairs code for the envs (an LLM coder, and a scripted test double)."""

from __future__ import annotations

from typing import Any

from promptgym.coders.base import CodeSample, Coder, TextReply

__all__ = ["CodeSample", "Coder", "TextReply", "make_coder"]


def make_coder(spec: str | Coder | dict[str, Any] = "llama_cpp", **kwargs: Any) -> Coder:
    """Build a coder from a name or a dict of options (``{"backend": "llama_cpp", ...}``).

    ``"scripted"`` gives the scripted test double (:class:`ScriptedCoder`); any other name is
    an LLM backend for :class:`LLMCoder`. A Coder instance is returned as is.
    """
    if isinstance(spec, Coder):
        return spec
    if isinstance(spec, dict):
        kwargs = {**spec, **kwargs}
        spec = kwargs.pop("backend", "llama_cpp")
    if spec == "scripted":
        from promptgym.coders.scripted import ScriptedCoder

        return ScriptedCoder(**kwargs)
    from promptgym.coders.llm_coder import LLMCoder

    return LLMCoder(backend=spec, **kwargs)
