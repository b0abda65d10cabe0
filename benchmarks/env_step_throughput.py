"""Env step throughput: steps/s of every registered promptgym env, scripted coder and embedded model.

Scripted rows measure the env's own overhead (scripted coder, process sandbox, hashed embedder):
``--episodes`` seeded episodes of masked random actions, STOP excluded while anything else
is valid (so episodes run to their step limit). Model rows use the embedded model
(``llama_cpp``) with a warm generation cache: one seeded episode is run to fill a fresh temporary
cache, then the same seeded episode is timed again (so generation is served from the cache and the
figure is env + cache + sandbox). Usage:
``python benchmarks/env_step_throughput.py [--episodes 20] [--no-llm] [--ids Executive-MBPP-v1 ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# MBPP is found as the package finds it ($PROMPTGYM_MBPP_PATH, else ../shared/data): see promptgym.tasks.mbpp.

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import promptgym  # noqa: E402,F401  (registers the envs)


def run_episodes(env: gym.Env, seeds: list[int]) -> tuple[int, float, dict[str, float]]:
    """(steps, seconds, totals) over one seeded episode per seed with masked random actions."""
    steps, llm_calls, executions = 0, 0, 0
    start = time.perf_counter()
    for seed in seeds:
        _, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        done = False
        while not done:
            mask = np.asarray(info["action_mask"], dtype=np.int8).copy()
            if mask[:-1].any():  # STOP is the last action in every env; keep episodes full length
                mask[-1] = 0
            _, _, term, trunc, info = env.step(env.action_space.sample(mask=mask))
            steps += 1
            done = term or trunc
        llm_calls += info["llm_calls"]
        executions += info["executions"]
    return steps, time.perf_counter() - start, {"llm_calls": llm_calls, "executions": executions}


def bench(env_id: str, coder: Any, seeds: list[int], warm: bool) -> dict[str, Any]:
    """One table row: build, optionally warm with the same seeds, then time."""
    env = gym.make(env_id, coder=coder, embedder="hash")
    try:
        run_episodes(env, seeds[:1])  # build the sandbox pool, load data/model, fill caches
        if warm:
            run_episodes(env, seeds)
        steps, secs, totals = run_episodes(env, seeds)
    finally:
        env.close()
    return {"env": env_id, "coder": coder if isinstance(coder, str) else coder.get("backend"),
            "episodes": len(seeds), "steps": steps, "seconds": round(secs, 3),
            "steps_per_s": round(steps / secs, 1) if secs else float("inf"), **totals}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (``--json PATH`` also writes the rows)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="seeded episodes per scripted row")
    parser.add_argument("--llm-episodes", type=int, default=1, help="seeded episodes per model row")
    parser.add_argument("--no-llm", action="store_true", help="scripted rows only")
    parser.add_argument("--ids", nargs="*", default=None, help="env ids (default: every promptgym id)")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    ids = args.ids or sorted(i for i, s in gym.registry.items()
                             if isinstance(s.entry_point, str) and s.entry_point.startswith("promptgym."))
    rows = [bench(i, "scripted", list(range(args.episodes)), warm=False) for i in ids]
    if not args.no_llm:
        with tempfile.TemporaryDirectory(prefix="pg-bench-cache-") as tmp:
            for i in ids:
                coder = {"backend": "llama_cpp", "cache": os.path.join(tmp, f"{i}.sqlite")}
                rows.append(bench(i, coder, list(range(100, 100 + args.llm_episodes)), warm=True))
    from rich.console import Console
    from rich.table import Table

    table = Table(title="promptgym env step throughput (masked random non-STOP actions)")
    for col in ("env", "coder", "episodes", "steps", "seconds", "steps_per_s", "llm_calls", "executions"):
        table.add_column(col, justify="left" if col in ("env", "coder") else "right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("env", "coder", "episodes", "steps", "seconds", "steps_per_s",
                                             "llm_calls", "executions")))
    Console(width=150).print(table)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
