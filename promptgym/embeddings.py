"""Sentence embeddings for prompts: MiniLM (default, offline) and a cheap hashed bag-of-words.

``Embedder("minilm")`` loads all-MiniLM-L6-v2 from :func:`promptgym.assets.minilm_dir` on first
use (sentence-transformers, hence torch, is imported only then). ``HashEmbedder`` is a real but
crude embedder (signed feature hashing of words and word bigrams) for tests and fast benchmarks;
it is never the default. Both return L2-normalised float32 rows of width 384 and keep an
in-memory LRU cache of text -> vector; both pickle without their model.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from promptgym.announce import loading
from promptgym.error import DependencyNotInstalled

__all__ = ["DIM", "Embedder", "HashEmbedder", "get_embedder", "make_embedder"]

DIM = 384  # all-MiniLM-L6-v2's width; the hashed embedder matches it so observation spaces agree
_WORD = re.compile(r"[a-z0-9_]+")


class _CachedEncoder:
    """Shared machinery: an LRU cache of text -> vector in front of ``_encode_uncached``."""

    dim: int = DIM

    def __init__(self, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str] | str) -> np.ndarray:
        """Embed ``texts``: an ``(n, 384)`` float32 array of L2-normalised rows (zeros for empty text)."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"encode() takes strings, got {type(t).__name__}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
                    out[i] = hit
                else:
                    missing.setdefault(t, []).append(i)
        if missing:
            new = [t for t in missing if t.strip()]  # blank text stays a zero row
            vecs = self._encode_uncached(new) if new else np.zeros((0, self.dim), np.float32)
            vecs = _normalise(np.asarray(vecs, dtype=np.float32).reshape(len(new), self.dim))
            with self._lock:
                for t, v in zip(new, vecs):
                    for i in missing[t]:
                        out[i] = v
                    if self.cache_size:
                        self._cache[t] = v
                        if len(self._cache) > self.cache_size:
                            self._cache.popitem(last=False)
        return out

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts' embeddings, in [-1, 1] (0.0 if either is blank)."""
        va, vb = self.encode([a, b])
        return float(np.clip(np.dot(va, vb), -1.0, 1.0))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # a cache is cheap to rebuild and would bloat checkpoints
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0).astype(np.float32)


class Embedder(_CachedEncoder):
    """Sentence-transformers embedder; ``model="minilm"`` is the offline all-MiniLM-L6-v2.

    Args:
        model: ``"minilm"`` (the embedded model), a local model folder, or a hub id (online).
        device: Torch device for the model.
        cache_size: Entries in the text -> vector LRU cache (0 disables it).
    """

    def __init__(self, model: str | Path = "minilm", device: str = "cpu", cache_size: int = 4096) -> None:
        super().__init__(cache_size)
        self.model = str(model)
        self.device = device
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise DependencyNotInstalled(
                    "Embedder needs sentence-transformers: pip install sentence-transformers"
                ) from e
            if self.model == "minilm":
                from promptgym.assets import minilm_dir

                source = str(minilm_dir())
            else:
                source = self.model
            with loading("all-MiniLM-L6-v2" if self.model == "minilm" else str(source), "sentence-transformers"):
                self._model = SentenceTransformer(source, device=self.device)
            # sentence-transformers renamed the method; use the new name where it exists
            get_dim = getattr(self._model, "get_embedding_dimension", None) or \
                self._model.get_sentence_embedding_dimension
            dim = get_dim()
            if dim is not None:
                self.dim = int(dim)
        return self._model

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        return model.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_model"] = None  # a torch model does not travel; reloaded on first use
        return state

    def __repr__(self) -> str:
        return f"Embedder(model={self.model!r})"


class HashEmbedder(_CachedEncoder):
    """A cheap hashed bag-of-words embedder (words + word bigrams, signed hashing), for fast runs.

    It captures word overlap, not meaning: paraphrases with new words score lower than under
    MiniLM. Use it where speed matters more than semantics (tests, smoke benchmarks).
    """

    model = "hash"

    def __init__(self, dim: int = DIM, cache_size: int = 4096) -> None:
        super().__init__(cache_size)
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            feats = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
            for f in feats:
                # crc32 is stable across processes (Python's hash() is salted per process)
                h = zlib.crc32(f.encode())
                sign = 1.0 if (h >> 31) & 1 else -1.0
                weight = 1.0 if " " not in f else 0.5
                out[row, h % self.dim] += sign * weight
        return out

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self.dim})"


def make_embedder(spec: str | Path | _CachedEncoder = "minilm") -> Embedder | HashEmbedder:
    """A new embedder from a spec: ``"minilm"``, ``"hash"``, a model path/hub id, or an instance."""
    if isinstance(spec, _CachedEncoder):
        return spec  # type: ignore[return-value]
    if spec == "hash":
        return HashEmbedder()
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"embedder must be 'minilm', 'hash', a path or an Embedder, got {type(spec).__name__}")
    return Embedder(spec)


@lru_cache(maxsize=8)
def _shared(spec: str) -> Embedder | HashEmbedder:
    return make_embedder(spec)


def get_embedder(spec: str | Path | _CachedEncoder = "minilm") -> Embedder | HashEmbedder:
    """The process-wide shared embedder for ``spec`` (loading MiniLM costs seconds; load it once)."""
    if isinstance(spec, _CachedEncoder):
        return spec  # type: ignore[return-value]
    return _shared(str(spec))
