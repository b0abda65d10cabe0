"""The LLM layer: backends behind one ``generate``, the generation cache, templates and code extraction."""

from __future__ import annotations

from typing import Any

from promptgym.error import unknown
from promptgym.llm.base import Backend, ChatMessages, Completion, Prompt
from promptgym.llm.cache import CachedBackend, GenerationCache
from promptgym.llm.extract import ExtractedCode, extract_code
from promptgym.llm.templates import TEMPLATES, Template, get_template, repair_prompt, resolve_template

__all__ = [
    "BACKENDS", "Backend", "CachedBackend", "ChatMessages", "Completion", "ExtractedCode", "GenerationCache",
    "Prompt", "TEMPLATES", "Template", "extract_code", "get_template", "make_backend", "repair_prompt",
    "resolve_template",
]

# name -> "module:Class", imported on first use so `import promptgym` stays cheap.
BACKENDS: dict[str, str] = {
    "llama_cpp": "promptgym.llm._llama_cpp:LlamaCppBackend",
    "transformers": "promptgym.llm._transformers:TransformersBackend",
    "openai": "promptgym.llm._openai:OpenAIBackend",
}


def make_backend(name: str, **kwargs: Any) -> Backend:
    """Build a backend by name ("llama_cpp", "transformers", "openai"); typos get a suggestion."""
    if name not in BACKENDS:
        raise unknown("backend", name, BACKENDS)
    import importlib

    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)
