"""Any OpenAI-compatible server over HTTP (httpx), with bounded concurrency and retries."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from promptgym.error import Error
from promptgym.llm.base import Backend, Completion, Prompt

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    """An OpenAI-compatible server: /v1/chat/completions for chat prompts, /v1/completions for plain.

    ``base_url`` defaults to $PROMPTGYM_OPENAI_BASE_URL or $OPENAI_BASE_URL; ``model`` to
    $PROMPTGYM_OPENAI_MODEL. ``seed`` is sent (as ``seed + i`` for sample i), but reproducibility
    depends on the server: many hosted APIs treat it as best effort or ignore it; llama.cpp's server
    on CPU honours it.
    """

    name = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 max_concurrency: int = 4, timeout: float = 120.0, max_retries: int = 5) -> None:
        base_url = base_url or os.environ.get("PROMPTGYM_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("openai backend needs base_url= or $OPENAI_BASE_URL / $PROMPTGYM_OPENAI_BASE_URL")
        base_url = base_url.rstrip("/")
        self.base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
        self._model = model or os.environ.get("PROMPTGYM_OPENAI_MODEL") or "default"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self.max_concurrency = max(1, int(max_concurrency))
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None

    @property
    def model(self) -> str:
        """The server-side model name, prefixed by the server URL (part of cache keys)."""
        return f"{self.base_url}#{self._model}"

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout,
                                        limits=httpx.Limits(max_connections=self.max_concurrency))
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                r = self._http().post(path, json=body)
                if r.status_code not in _RETRY_STATUS:
                    if r.status_code >= 400:
                        raise Error(f"openai backend: HTTP {r.status_code} from {self.base_url}{path}: {r.text[:300]}")
                    return r.json()
                err = f"HTTP {r.status_code}"
            except (httpx.TransportError,) as e:  # connection refused/reset, timeouts
                err = repr(e)
            if attempt == self.max_retries:
                raise Error(f"openai backend: {err} after {self.max_retries + 1} attempts at {self.base_url}{path}")
            time.sleep(delay * (1 + random.random()))  # exponential backoff with jitter
            delay *= 2
        raise AssertionError("unreachable")

    def _one(self, prompt: Prompt, i: int, kw: dict[str, Any]) -> Completion:
        body = dict(kw, model=self._model)
        if kw.get("seed") is not None:
            body["seed"] = kw["seed"] + i
        if isinstance(prompt, str):
            r = self._post("/completions", dict(body, prompt=prompt))
            text = r["choices"][0].get("text", "")
        else:
            r = self._post("/chat/completions", dict(body, messages=prompt))
            text = r["choices"][0]["message"].get("content") or ""
        usage = r.get("usage") or {}
        return Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                          r["choices"][0].get("finish_reason") or "stop")

    def generate(self, prompts: Sequence[Prompt], n: int = 1, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[list[Completion]]:
        """Generate with up to ``max_concurrency`` requests in flight (one request per sample)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        kw: dict[str, Any] = {"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        if stop:
            kw["stop"] = list(stop)
        jobs = [(p, i) for p in prompts for i in range(n)]
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            flat = list(pool.map(lambda job: self._one(job[0], job[1], kw), jobs))
        return [flat[j * n:(j + 1) * n] for j in range(len(prompts))]

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None
