"""LLMCoder on the real embedded model: write, repair, ask, cache hits, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from promptgym.coders import CodeSample, make_coder
from promptgym.tasks import get_task


@pytest.fixture(scope="module")
def coder(tmp_path_factory: pytest.TempPathFactory):
    c = make_coder("llama_cpp", cache=tmp_path_factory.mktemp("gen") / "g.sqlite", max_new_tokens=24)
    yield c
    c.close()


@pytest.mark.llm
def test_write_then_cache_hit(coder) -> None:
    task = get_task("MBPP/11")
    first = coder.write(task, seed=0)
    assert isinstance(first, CodeSample) and first.text and first.llm_calls == 1 and first.tokens > 0
    again = coder.write(task, seed=0)
    # a hit costs what the generation cost (rewards must not depend on the cache) and says it was a hit
    assert again.text == first.text and again.code == first.code and again.cached and not first.cached
    assert (again.tokens, again.llm_calls) == (first.tokens, first.llm_calls)
    assert coder.stats()["hits"] >= 1


@pytest.mark.llm
def test_repair_and_ask(coder) -> None:
    task = get_task("MBPP/11")
    fixed = coder.repair(task, "def remove_Occ(s, ch):\n    return s", "assert remove_Occ('hello','l') == 'heo' failed")
    assert fixed.text.strip() and fixed.llm_calls == 1
    reply = coder.ask("Rephrase: write a function that reverses a string.", max_new_tokens=8)
    assert reply.text and 0 < reply.tokens <= 8


@pytest.mark.llm
def test_pickle_drops_model_and_reuses_cache(coder, tmp_path: Path) -> None:
    task = get_task("MBPP/11")
    first = coder.write(task, seed=0)
    clone = pickle.loads(pickle.dumps(coder))
    assert clone.backend._llm is None
    hit = clone.write(task, seed=0)
    assert hit.text == first.text and hit.cached and clone.backend._llm is None  # never loaded


def test_bad_backend_name() -> None:
    from promptgym.error import UnknownName

    with pytest.raises(UnknownName, match="transformers"):
        make_coder("transformer", cache=None)
