"""Tokens/s of the embedded model through llama_cpp, transformers (CPU) and openai (local server), cold and cached.

Run: python benchmarks/generation_throughput.py --prompts 8 --tokens 64
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptgym.llm import CachedBackend, GenerationCache, make_backend  # noqa: E402


def _server() -> tuple[subprocess.Popen, str]:
    import httpx

    from promptgym.assets import smollm2_gguf

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def _measure(backend, prompts, tokens: int, cache_path: Path) -> tuple[float, float, int]:
    """(cold tokens/s, warm-cache tokens/s, tokens) for one backend."""
    cb = CachedBackend(backend, GenerationCache(cache_path))
    kw = dict(max_new_tokens=tokens, temperature=0.8, seed=0)
    backend.generate(prompts[:1], max_new_tokens=2)  # load the model outside the timing
    t = time.perf_counter()
    out = cb.generate(prompts, **kw)
    cold = time.perf_counter() - t
    n_tok = sum(c.completion_tokens for r in out for c in r)
    cb.cache._mem.clear()  # warm = served from SQLite in a fresh state, not just the dict
    t = time.perf_counter()
    cb.generate(prompts, **kw)
    warm = time.perf_counter() - t
    return n_tok / cold, n_tok / warm, n_tok


def main() -> None:
    """Print one table of tokens/s per backend, cold and cached."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--skip", default="", help="comma-separated backends to skip")
    a = ap.parse_args()
    prompts = [[{"role": "user", "content": f"Write a Python function number {i} that returns the sum of a list."}]
               for i in range(a.prompts)]
    rows = []
    tmp = Path(tempfile.mkdtemp())
    skip = set(a.skip.split(","))
    if "llama_cpp" not in skip:
        rows.append(("llama_cpp", *_measure(make_backend("llama_cpp"), prompts, a.tokens, tmp / "a.sqlite")))
    if "transformers" not in skip:
        rows.append(("transformers (cpu fp32)", *_measure(make_backend("transformers", device="cpu"), prompts, a.tokens,
                                                          tmp / "b.sqlite")))
    if "openai" not in skip:
        proc, url = _server()
        try:
            be = make_backend("openai", base_url=url, model="smollm2", max_concurrency=1)
            rows.append(("openai (llama_cpp.server)", *_measure(be, prompts, a.tokens, tmp / "c.sqlite")))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    base = rows[0][1]
    print(f"{a.prompts} chat prompts x {a.tokens} new tokens, temperature 0.8\n")
    print("| backend | tokens | cold tok/s | cached tok/s | cached/cold | cold vs llama_cpp |")
    print("|---|---|---|---|---|---|")
    for name, cold, warm, n in rows:
        print(f"| {name} | {n} | {cold:,.1f} | {warm:,.0f} | {warm / cold:,.0f}x | {cold / base:.2f}x |")


if __name__ == "__main__":
    main()
