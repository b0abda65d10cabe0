"""Backends generate real text from the real embedded model (openai through a real local server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from promptgym.error import UnknownName
from promptgym.llm import Backend, make_backend

CHAT = [{"role": "user", "content": "Write a Python function that adds two numbers."}]


def test_unknown_backend_suggests() -> None:
    with pytest.raises(UnknownName, match="Did you mean 'llama_cpp'"):
        make_backend("llama_cp")


def test_openai_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "PROMPTGYM_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="base_url"):
        make_backend("openai")


@pytest.fixture(scope="module")
def llama() -> Iterator[Backend]:
    """The embedded SmolLM2 through llama.cpp, loaded once."""
    be = make_backend("llama_cpp")
    yield be
    be.close()


@pytest.mark.llm
def test_llama_cpp_plain_and_chat(llama: Backend) -> None:
    out = llama.generate(["def add(a, b):", CHAT], n=2, max_new_tokens=16, temperature=0.8, seed=1)
    assert len(out) == 2 and all(len(r) == 2 for r in out)
    for c in (c for r in out for c in r):
        assert c.text.strip() and 0 < c.completion_tokens <= 16 and c.prompt_tokens > 0
        assert c.finish_reason in ("stop", "length")


@pytest.mark.llm
def test_llama_cpp_seed_reproducible(llama: Backend) -> None:
    a = llama.generate([CHAT], n=2, max_new_tokens=16, temperature=0.9, seed=5)[0]
    b = llama.generate([CHAT], n=2, max_new_tokens=16, temperature=0.9, seed=5)[0]
    assert [c.text for c in a] == [c.text for c in b]


@pytest.mark.llm
def test_llama_cpp_prompt_longer_than_context() -> None:
    be = make_backend("llama_cpp", n_ctx=256)
    out = be.generate(["word " * 600], max_new_tokens=8)[0][0]
    assert out.finish_reason == "length" and out.text == ""
    be.close()


@pytest.mark.llm
def test_llama_cpp_pickles_without_model(llama: Backend) -> None:
    import pickle

    llama.generate(["x = "], max_new_tokens=1)
    clone = pickle.loads(pickle.dumps(llama))
    assert clone._llm is None and clone.model == llama.model


@pytest.mark.llm
@pytest.mark.slow
def test_transformers_backend_cpu() -> None:
    be = make_backend("transformers", device="cpu")
    out = be.generate(["def add(a, b):", CHAT], max_new_tokens=8, temperature=0.0)
    assert all(r[0].text.strip() and r[0].completion_tokens > 0 for r in out)
    again = be.generate(["def add(a, b):"], max_new_tokens=8, temperature=0.0)
    assert again[0][0].text == out[0][0].text  # greedy is deterministic on CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server on loopback; always terminated."""
    from promptgym.assets import smollm2_gguf

    port = _free_port()
    # A file, not a pipe: llama.cpp's load log would fill a pipe nobody reads and stall the server.
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 300  # slow to start on a loaded 2-core machine
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"llama_cpp.server exited: {log.read()[-2000:]!r}")
            try:
                if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready in 300 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.llm
@pytest.mark.slow
def test_openai_against_real_server(llama_server: str) -> None:
    be = make_backend("openai", base_url=llama_server, model="smollm2", max_concurrency=2)
    out = be.generate(["def add(a, b):", CHAT], n=2, max_new_tokens=12, temperature=0.8, seed=11)
    assert all(c.text.strip() and c.completion_tokens > 0 for r in out for c in r)
    again = be.generate([CHAT], n=2, max_new_tokens=12, temperature=0.8, seed=11)
    assert [c.text for c in again[0]] == [c.text for c in out[1]]  # llama.cpp's server honours seed on CPU
    be.close()


def test_openai_retries_then_reports_connection_error() -> None:
    from promptgym.error import Error

    be = make_backend("openai", base_url=f"http://127.0.0.1:{_free_port()}", max_retries=1, timeout=2)
    with pytest.raises(Error, match="after 2 attempts"):
        be.generate(["hi"], max_new_tokens=1)


@pytest.mark.slow
def test_transformers_backend_runs_an_encoder_decoder(tmp_path) -> None:
    """A tiny T5 (built from a config, with the embedded model's tokenizer) generates from its decoder alone."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from promptgym.assets import smollm2_gguf

    gguf = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.save_pretrained(tmp_path)
    config = T5Config(vocab_size=len(tok), d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
                      d_kv=8, pad_token_id=tok.pad_token_id or 0, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id or 0)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    be = make_backend("transformers", model_path=str(tmp_path), device="cpu")
    prompt = "Write a function add(a, b) that returns a + b."
    out = be.generate([prompt, [{"role": "user", "content": prompt}]], max_new_tokens=6, temperature=0.0)
    assert out[0][0].prompt_tokens == len(tok(prompt, add_special_tokens=False).input_ids)
    for row in out:
        assert 0 < row[0].completion_tokens <= 6 and row[0].prompt_tokens > 0
        assert prompt not in row[0].text  # the decoder's text only: no echoed prompt
    assert be._seq2seq
