"""The embedded default backend: a GGUF model through llama-cpp-python (loads and long generations
are announced: see :mod:`promptgym.announce`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptgym.announce import loading, model_label, slow_notice
from promptgym.error import DependencyNotInstalled
from promptgym.llm.base import Backend, Completion, Prompt

class LlamaCppBackend(Backend):
    """SmolLM2-135M-Instruct (or any GGUF / hub id) through llama.cpp, loaded lazily once.

    Seeds: llama.cpp sampling with a seed is deterministic on CPU; temperature 0 is greedy.
    Sample ``i`` of a prompt uses seed ``seed + i`` so ``n`` samples differ yet reproduce.
    """

    name = "llama_cpp"

    def __init__(self, model_path: str | os.PathLike[str] | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, **llama_kwargs: Any) -> None:
        if model_path is None:
            from promptgym.assets import smollm2_gguf

            model_path = smollm2_gguf()
        self._model_path = str(model_path)
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llama_kwargs = llama_kwargs
        self._llm: Any = None

    @property
    def model(self) -> str:
        """The GGUF path or hub id."""
        return self._model_path

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise DependencyNotInstalled("The llama_cpp backend needs llama-cpp-python: pip install llama-cpp-python") from e
        kw = dict(n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False, **self._llama_kwargs)
        is_file = Path(self._model_path).is_file()
        if not is_file and ("/" not in self._model_path or Path(self._model_path).exists()):
            raise FileNotFoundError(f"GGUF model not found: {self._model_path!r} (give a .gguf path or a hub id)")
        with loading(self._model_path, "llama.cpp"):
            if is_file:
                self._llm = Llama(model_path=self._model_path, **kw)
            else:
                # A hub id "owner/repo" (online users): pick a Q4 GGUF file from it.
                self._llm = Llama.from_pretrained(self._model_path, filename=kw.pop("filename", "*Q4*.gguf"), **kw)
        return self._llm

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_llm"] = None  # the model reloads lazily in the new process
        return state

    def _count(self, llm: Any, prompt: Prompt) -> int:
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False))

    def generate(self, prompts: Sequence[Prompt], n: int = 1, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[list[Completion]]:
        """Generate ``n`` completions per prompt; a prompt too long for the context gives a "length" finish."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        llm = self._load()
        with slow_notice(f"still generating with {model_label(self._model_path)} on {self.n_threads} threads "
                         f"({len(prompts)} prompt(s) x {n}, up to {max_new_tokens} new tokens each) ..."):
            return self._generate(llm, prompts, n, max_new_tokens, temperature, top_p, stop, seed)

    def _generate(self, llm: Any, prompts: Sequence[Prompt], n: int, max_new_tokens: int, temperature: float,
                  top_p: float, stop: Sequence[str] | None, seed: int | None) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        base_seed = 0 if seed is None else int(seed)
        for prompt in prompts:
            samples: list[Completion] = []
            approx = self._count(llm, prompt)
            if approx + 8 >= self.n_ctx:
                # No room to generate: report it as data rather than crash mid-batch.
                samples = [Completion("", approx, 0, "length") for _ in range(n)]
                out.append(samples)
                continue
            budget = max(1, min(max_new_tokens, self.n_ctx - approx - 8))
            for i in range(n):
                kw = dict(max_tokens=budget, temperature=temperature, top_p=top_p,
                          stop=list(stop) if stop else None, seed=base_seed + i)
                try:
                    if isinstance(prompt, str):
                        r = llm.create_completion(prompt, **kw)
                        text = r["choices"][0]["text"]
                    else:
                        r = llm.create_chat_completion(messages=prompt, **kw)
                        text = r["choices"][0]["message"]["content"] or ""
                except ValueError as e:  # llama.cpp raises ValueError when the prompt exceeds n_ctx
                    if "context" not in str(e).lower():
                        raise
                    samples.append(Completion("", approx, 0, "length"))
                    continue
                usage = r.get("usage", {})
                samples.append(Completion(text, int(usage.get("prompt_tokens", 0)),
                                          int(usage.get("completion_tokens", 0)),
                                          r["choices"][0].get("finish_reason") or "stop"))
            out.append(samples)
        return out

    def close(self) -> None:
        """Free the model."""
        if self._llm is not None:
            close = getattr(self._llm, "close", None)
            if close:
                close()
            self._llm = None
