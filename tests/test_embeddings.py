"""Sentence embeddings: MiniLM (offline) and the hashed bag-of-words embedder."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from promptgym.embeddings import DIM, Embedder, HashEmbedder, get_embedder, make_embedder


def test_hash_embedder_shapes_norms_and_overlap():
    e = HashEmbedder()
    v = e.encode(["Write a function to add two numbers.", "", "add two numbers"])
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[[0, 2]], axis=1), 1.0) and not v[1].any()
    assert e.similarity("add two numbers", "add two numbers please") > e.similarity("add two numbers", "sort a list")
    assert e.similarity("x", "") == 0.0


def test_cache_is_lru_and_bounded():
    e = HashEmbedder(cache_size=2)
    e.encode(["a", "b", "c"])
    assert list(e._cache) == ["b", "c"]
    e.encode(["b"])
    e.encode(["d"])
    assert list(e._cache) == ["b", "d"]
    with pytest.raises(TypeError, match="strings"):
        e.encode([1])  # type: ignore[list-item]


def test_specs_and_sharing():
    assert isinstance(make_embedder("hash"), HashEmbedder) and isinstance(make_embedder("minilm"), Embedder)
    assert get_embedder("hash") is get_embedder("hash")
    with pytest.raises(TypeError, match="embedder must be"):
        make_embedder(3)  # type: ignore[arg-type]


def test_pickle_drops_model_and_cache():
    e = Embedder("minilm")
    e._model = object()  # stands for a loaded model: must not travel
    e._cache["x"] = np.zeros(DIM, np.float32)
    clone = pickle.loads(pickle.dumps(e))
    assert clone._model is None and not clone._cache and clone.model == "minilm"


@pytest.mark.slow
def test_minilm_offline_semantics():
    e = get_embedder("minilm")
    v = e.encode(["Write a function to reverse a string.", "Implement a function that reverses a string."])
    assert v.shape == (2, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    near = e.similarity("Write a function to reverse a string.", "Implement a function that reverses a string.")
    far = e.similarity("Write a function to reverse a string.", "What is the weather in Paris today?")
    assert near > 0.8 > far
    clone = pickle.loads(pickle.dumps(e))
    assert np.allclose(clone.encode(["Write a function to reverse a string."])[0], v[0], atol=1e-5)
