"""Coders: what writes and repairs code for the envs (an LLM coder, and a scripted test double)."""

from __future__ import annotations

import inspect
from typing import Any

from promptgym.coders.base import CodeSample, Coder, TextReply
from promptgym.error import check_keywords, unknown
from promptgym.llm import BACKENDS, Backend

__all__ = ["CODERS", "CodeSample", "Coder", "TextReply", "check_coder", "make_coder"]

CODERS: tuple[str, ...] = ("scripted", *BACKENDS)
"""Coder names: the scripted test double, then the LLM backends."""


def _coder_class(name: str | Backend) -> type[Coder]:
    if name == "scripted":
        from promptgym.coders.scripted import ScriptedCoder

        return ScriptedCoder
    from promptgym.coders.llm_coder import LLMCoder

    return LLMCoder


def _split(spec: str | dict[str, Any], kwargs: dict[str, Any]) -> tuple[str | Backend, dict[str, Any]]:
    """(coder name or Backend, constructor options) from a spec and extra options."""
    if isinstance(spec, dict):
        options = {**spec, **kwargs}
        return options.pop("backend", "llama_cpp"), options
    return spec, dict(kwargs)


def check_coder(spec: str | Coder | dict[str, Any], **kwargs: Any) -> None:
    """Raise now, building nothing, for a spec :func:`make_coder` would reject (typos get a suggestion)."""
    if isinstance(spec, Coder):
        return
    if not isinstance(spec, (str, dict)):
        raise TypeError(f"coder must be a name ({', '.join(CODERS)}), a dict of options or a Coder, "
                        f"got {type(spec).__name__}")
    name, options = _split(spec, kwargs)
    if not isinstance(name, Backend) and name not in CODERS:
        raise unknown("coder", str(name), CODERS)
    cls = _coder_class(name)
    check_keywords(f"{cls.__name__} option", options, inspect.signature(cls).parameters)


def make_coder(spec: str | Coder | dict[str, Any] = "llama_cpp", **kwargs: Any) -> Coder:
    """Build a coder from a name or a dict of options (``{"backend": "llama_cpp", ...}``).

    ``"scripted"`` gives the scripted test double (:class:`ScriptedCoder`); any other name is
    an LLM backend for :class:`LLMCoder`. A Coder instance is returned as is.
    """
    if isinstance(spec, Coder):
        return spec
    check_coder(spec, **kwargs)
    name, options = _split(spec, kwargs)
    if name == "scripted":
        return _coder_class(name)(**options)
    return _coder_class(name)(backend=name, **options)
