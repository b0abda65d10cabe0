"""A generation cache: one SQLite file, safe for several processes, sub-millisecond hits."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from promptgym.llm.base import Backend, Completion, Prompt

__all__ = ["CachedBackend", "GenerationCache", "generation_key"]


def generation_key(backend: str, model: str, prompt: Prompt, params: dict[str, Any], index: int,
                   seed: int | None) -> str:
    """Hash of everything that determines one sample."""
    blob = json.dumps([backend, model, prompt, params, index, seed], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _retry_while_locked(statement: Callable[[], object], wait_s: float = 30.0) -> None:
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class GenerationCache:
    """SQLite cache of completions (WAL, busy timeout) with an in-memory front for repeated hits."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from promptgym.assets import cache_dir

            path = cache_dir() / "generations.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._mem: dict[str, Completion] = {}
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
            # Switching a new file to WAL takes an exclusive lock for which SQLite does not always wait (its busy
            # handler is skipped there), so a second process opening the file at the same moment retries.
            _retry_while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))  # readers never block the writer
            conn.execute("PRAGMA synchronous=NORMAL")
            _retry_while_locked(lambda: conn.execute(
                "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT, "
                "prompt_tokens INTEGER, completion_tokens INTEGER, finish_reason TEXT)"))
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key`` (marked ``cached=True``), or None; counts hits and misses."""
        c = self._mem.get(key)
        if c is None:
            with self._lock:
                row = self._db().execute("SELECT text, prompt_tokens, completion_tokens, finish_reason "
                                         "FROM generations WHERE key=?", (key,)).fetchone()
            if row is not None:
                c = Completion(row[0], row[1], row[2], row[3], cached=True)
                self._mem[key] = c
        if c is None:
            self.misses += 1
        else:
            self.hits += 1
        return c

    def put(self, key: str, completion: Completion) -> None:
        """Store a completion (first writer wins across processes)."""
        with self._lock:
            self._db().execute("INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?)",
                               (key, completion.text, completion.prompt_tokens, completion.completion_tokens,
                                completion.finish_reason))
        self._mem[key] = Completion(completion.text, completion.prompt_tokens, completion.completion_tokens,
                                    completion.finish_reason, cached=True)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate and stored entries."""
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "hit_rate": self.hits / total if total else 0.0,
                "entries": len(self), "path": str(self.path)}

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_conn=None, _mem={}, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class CachedBackend(Backend):
    """Wraps a backend; only cache misses reach it. Sample ``i`` of a prompt is keyed by ``(seed, i)``."""

    def __init__(self, backend: Backend, cache: GenerationCache) -> None:
        self.backend = backend
        self.cache = cache
        self.name = backend.name

    @property
    def model(self) -> str:
        """The wrapped backend's model."""
        return self.backend.model

    def generate(self, prompts: Sequence[Prompt], n: int = 1, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[list[Completion]]:
        """Generate, answering from the cache where possible."""
        params = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                  "stop": list(stop) if stop else None}
        # Greedy decoding ignores the seed, so every seed shares one entry: envs pass a fresh seed per call.
        key_seed = None if temperature == 0 else seed
        keys = [[generation_key(self.name, self.model, p, params, i, key_seed) for i in range(n)] for p in prompts]
        out = [[self.cache.get(k) for k in row] for row in keys]
        todo = [j for j, row in enumerate(out) if any(c is None for c in row)]
        if todo:
            # Regenerate all n for a prompt with any miss: backends derive sample i's seed from (seed, i).
            fresh = self.backend.generate([prompts[j] for j in todo], n=n, max_new_tokens=max_new_tokens,
                                          temperature=temperature, top_p=top_p, stop=stop, seed=seed)
            for j, samples in zip(todo, fresh):
                for i, c in enumerate(samples):
                    if out[j][i] is None:
                        self.cache.put(keys[j][i], c)
                        out[j][i] = c
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Close the backend and the cache."""
        self.backend.close()
        self.cache.close()
