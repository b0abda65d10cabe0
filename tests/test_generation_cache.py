"""The generation cache: identical results, hit counting, several processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from promptgym.llm import Backend, CachedBackend, Completion, GenerationCache, Prompt


class CountingScriptedBackend(Backend):
    """Scripted test double: deterministic text from (prompt, seed, i); counts calls."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def model(self) -> str:
        return "scripted-v1"

    def generate(self, prompts: Sequence[Prompt], n: int = 1, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[list[Completion]]:
        self.calls += 1
        return [[Completion(f"{p}|{seed}|{i}|{temperature}", 3, 5) for i in range(n)] for p in prompts]


def test_hits_return_identical_results(tmp_path: Path) -> None:
    be = CountingScriptedBackend()
    cb = CachedBackend(be, GenerationCache(tmp_path / "g.sqlite"))
    first = cb.generate(["a", "b"], n=3, seed=7)
    second = cb.generate(["a", "b"], n=3, seed=7)
    assert be.calls == 1
    assert [[c.text for c in r] for r in first] == [[c.text for c in r] for r in second]
    assert all(c.cached for r in second for c in r) and not any(c.cached for r in first for c in r)
    assert cb.cache.hits == 6 and cb.cache.misses == 6
    assert cb.cache.stats()["entries"] == 6


def test_key_includes_seed_and_params(tmp_path: Path) -> None:
    be = CountingScriptedBackend()
    cb = CachedBackend(be, GenerationCache(tmp_path / "g.sqlite"))
    cb.generate(["a"], seed=1, temperature=0.5)
    cb.generate(["a"], seed=2, temperature=0.5)
    cb.generate(["a"], seed=1, temperature=0.7)
    cb.generate(["a"], seed=1, temperature=0.5, max_new_tokens=10)
    assert be.calls == 4
    cb.generate(["a", "new"], seed=1, temperature=0.5)  # only the miss goes to the backend
    assert be.calls == 5 and cb.cache.hits == 1


def test_greedy_generations_share_one_entry_whatever_the_seed(tmp_path: Path) -> None:
    be = CountingScriptedBackend()
    cb = CachedBackend(be, GenerationCache(tmp_path / "g.sqlite"))
    cb.generate(["a"], seed=1, temperature=0.0)
    again = cb.generate(["a"], seed=2, temperature=0.0)
    assert be.calls == 1 and again[0][0].cached


def test_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    CachedBackend(CountingScriptedBackend(), GenerationCache(path)).generate(["x"], n=2, seed=0)
    be = CountingScriptedBackend()
    out = CachedBackend(be, GenerationCache(path)).generate(["x"], n=2, seed=0)
    assert be.calls == 0 and out[0][1].text == "x|0|1|0.0"


def test_two_processes_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    code = (
        "import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
        "from test_generation_cache import CountingScriptedBackend as B\n"
        "from promptgym.llm import CachedBackend, GenerationCache\n"
        "cb = CachedBackend(B(), GenerationCache(%r))\n"
        "for j in range(50): cb.generate(['p%%d' %% j], seed=j %% 5, temperature=0.5)\n"
        "print(cb.cache.hits, cb.cache.misses)\n"
    ) % (str(Path(__file__).parent), str(Path(__file__).parent.parent), str(path))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert GenerationCache(path).stats()["entries"] == 50
    be = CountingScriptedBackend()
    CachedBackend(be, GenerationCache(path)).generate([f"p{j}" for j in range(50)], seed=0, temperature=0.5)
    assert be.calls == 1  # the prompts with seed != 0 miss; seed 0 ones (j % 5 == 0) hit


def test_many_processes_open_a_new_file_at_the_same_moment(tmp_path: Path) -> None:
    # The first opener switches the file to WAL; SQLite can answer the others "locked" without waiting.
    code = (
        "import sys, time\n"
        "from promptgym.llm.cache import GenerationCache\n"
        "from promptgym.llm.base import Completion\n"
        "start = float(sys.argv[2])\n"
        "while time.time() < start: pass\n"
        "c = GenerationCache(sys.argv[1])\n"
        "for j in range(10): c.put('k%d' % j, Completion('t', 1, 1, 'stop'))\n"
        "print(len(c))\n"
    )
    for trial in range(4):
        path = tmp_path / f"g{trial}.sqlite"
        start = time.time() + 1.0
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(start)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results if err]
        assert [out.strip() for out, _ in results] == ["10"] * 8


def test_pickled_cache_reopens(tmp_path: Path) -> None:
    import pickle

    c = GenerationCache(tmp_path / "g.sqlite")
    c.put("k", Completion("hello"))
    c2 = pickle.loads(pickle.dumps(c))
    got = c2.get("k")
    assert got is not None and got.text == "hello" and got.cached


@pytest.mark.llm
def test_real_model_cached_identical(tmp_path: Path, llama_backend: Backend) -> None:
    cb = CachedBackend(llama_backend, GenerationCache(tmp_path / "g.sqlite"))
    a = cb.generate(["def fib(n):"], n=2, max_new_tokens=12, temperature=0.8, seed=3)
    b = cb.generate(["def fib(n):"], n=2, max_new_tokens=12, temperature=0.8, seed=3)
    assert [c.text for c in a[0]] == [c.text for c in b[0]] and all(c.cached for c in b[0])
    assert cb.cache.hits == 2


@pytest.fixture(scope="module")
def llama_backend() -> Backend:
    """The embedded model, loaded once for this module."""
    from promptgym.llm import make_backend

    be = make_backend("llama_cpp", n_ctx=1024)
    yield be
    be.close()
