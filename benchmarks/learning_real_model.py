"""Does RL beat fixed procedures with a real coder? MaskablePPO and masked Double DQN on Executive-MBPP-v1.

The coder is the embedded SmolLM2-135M-Instruct (llama.cpp), sampling at ``--temperature`` from
``--sampling-seeds`` seed streams per episode (the env's ``sampling_seeds``), so a task's
generations form a finite tree that revisits answer from the generation cache. The cache is warmed
once (the heuristic and random agents play every task, every stream) and kept with the results;
later runs of this script start from it. Training on MBPP train tasks, model selection on MBPP
validation tasks, the final table on MBPP test tasks never seen in training: hidden-test success,
pass@1 of the first program, LLM calls, tokens, return, with 95% bootstrap CIs, per seed.

    PYTHONPATH=. .venv/bin/python benchmarks/learning_real_model.py [--timesteps 1000] [--seeds 0 1 2]

Writes benchmarks/results/learning_real_model/{table.csv,table.md,behaviour.md,learning_curves.png,
generations.sqlite,run.json}; run folders go to runs/learning_real_model/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._learning import behaviour, markdown_table, row, write_tables  # noqa: E402

ENV_ID = "Executive-MBPP-v1"
ALGOS = ("maskable_ppo", "double_dqn")
BASELINES = ("baseline:heuristic", "baseline:random")


def _cache_entries(path: Path) -> int:
    from promptgym.llm import GenerationCache

    return len(GenerationCache(path)) if path.exists() else 0


def main(argv: list[str] | None = None) -> int:
    """Warm the cache, train, select, evaluate on test tasks, write the tables and the curves."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    p.add_argument("--train-tasks", type=int, default=12)
    p.add_argument("--select-tasks", type=int, default=6)
    p.add_argument("--test-tasks", type=int, default=16)
    p.add_argument("--episodes", type=int, default=32, help="test-task episodes per agent")
    p.add_argument("--select-episodes", type=int, default=16, help="selection episodes per evaluation")
    p.add_argument("--warm-rounds", type=int, default=1,
                   help="warm-up episodes per task and sampling seed, for each baseline agent")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--sampling-seeds", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 leaves a core to the sandbox)")
    # smaller budgets than the registered defaults keep each task's tree of generations small enough
    # to cache on 2 CPU cores
    p.add_argument("--limits", default="max_steps=8,max_generations=2,max_debugs=2,max_searches=1",
                   help="Executive limits, NAME=INT,...")
    p.add_argument("--out", default="benchmarks/results/learning_real_model")
    p.add_argument("--runs", default="runs/learning_real_model", help="run folders (models, logs): not committed")
    p.add_argument("--behaviour-only", action="store_true",
                   help="re-evaluate the saved runs and baselines (from the cache) and write only behaviour.md "
                        "and run.json, leaving the table of the run that trained them")
    ns = p.parse_args(argv)
    wall_start = time.time()

    from agents.evaluate import evaluate
    from agents.train import plot_curve, train
    from promptgym.envs.executive import ExecutiveEnv
    from promptgym.tasks import load_tasks

    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "generations.sqlite"
    validation = load_tasks("mbpp", split="validation")
    sets = {"train": load_tasks("mbpp", split="train")[: ns.train_tasks], "select": validation[: ns.select_tasks],
            "test": load_tasks("mbpp", split="test")[: ns.test_tasks]}
    limits = {k: int(v) for k, v in (item.split("=") for item in ns.limits.split(",") if item)}
    coder = {"backend": "llama_cpp", "cache": str(cache), "temperature": ns.temperature,
             "max_new_tokens": ns.max_new_tokens, "backend_kwargs": {"n_threads": ns.threads}}

    def kwargs(name: str) -> dict[str, Any]:
        split = {"train": "train", "select": "validation", "test": "test"}[name]
        return {"split": split, "task_ids": [t.task_id for t in sets[name]], "coder": coder,
                "sampling_seeds": ns.sampling_seeds, **limits}

    # 1. warm the generation cache: both baselines over every task set
    entries_before = _cache_entries(cache)
    warm_start = time.time()
    for name, tasks in ({} if ns.behaviour_only else sets).items():
        episodes = ns.warm_rounds * ns.sampling_seeds * len(tasks)
        for agent in BASELINES:
            evaluate(agent, ENV_ID, episodes, kwargs(name), seed=50_000, quiet=True)
            print(f"warm-up {name} {agent}: {_cache_entries(cache)} generations cached", flush=True)
    warm_seconds = time.time() - warm_start

    # 2. the fixed procedures on the test tasks
    rows, reports, curves = [], {}, {}
    for agent in BASELINES:
        rep = evaluate(agent, ENV_ID, ns.episodes, kwargs("test"), seed=10_000, quiet=True)
        reports[agent.split(":")[1]] = rep
        rows.append(row(agent.split(":")[1], "-", rep, 0.0))

    # 3. learned agents: train tasks, selection on validation tasks, table on test tasks
    entries_warm = _cache_entries(cache)
    train_seconds: dict[str, float] = {}
    for algo in ns.algos:
        for seed in ns.seeds:
            started = time.time()
            run_dir = Path(ns.runs) / f"{algo}_s{seed}"
            if not ns.behaviour_only:
                train(algo, ENV_ID, ns.timesteps, seed=seed, env_kwargs=kwargs("train"),
                      eval_env_kwargs=kwargs("select"), run_dir=run_dir, eval_freq=max(ns.timesteps // 6, 1),
                      n_eval_episodes=ns.select_episodes, progress_bar=False, vec="dummy", checkpoint_freq=0)
            seconds = time.time() - started
            train_seconds[f"{algo}_s{seed}"] = seconds
            rep = evaluate(str(run_dir), ENV_ID, ns.episodes, kwargs("test"), seed=10_000, quiet=True)
            reports[f"{algo} s{seed}"] = rep
            rows.append(row(algo, seed, rep, seconds))
            data = np.load(run_dir / "evaluations.npz")
            curves[f"{algo} s{seed}"] = (data["timesteps"], data["results"].mean(axis=1), data["results"].std(axis=1))
            print(f"{algo} seed {seed}: success {rows[-1]['success_rate']} in {seconds:.0f}s", flush=True)
    entries_after = _cache_entries(cache)

    wall = time.time() - wall_start
    if not ns.behaviour_only:
        plot_curve(out / "learning_curves.png", curves,
                   title=f"{ENV_ID} (embedded model): greedy mean return on the model-selection tasks")
    note = (f"{ENV_ID}, embedded SmolLM2-135M-Instruct (llama.cpp), temperature {ns.temperature}, "
            f"{ns.sampling_seeds} sampling seeds; {len(sets['train'])} MBPP train tasks, {len(sets['select'])} "
            f"validation tasks for model selection, {len(sets['test'])} MBPP test tasks for this table "
            f"({ns.episodes} episodes per agent, 95% bootstrap CIs). success_rate: hidden tests at the end; "
            f"pass_at_1_first: the first program on hidden tests. {ns.timesteps} steps per run; limits {ns.limits}.\n"
            f"Wall time: warm-up {warm_seconds:.0f}s ({entries_warm - entries_before} new generations), "
            f"training + evaluation {sum(train_seconds.values()):.0f}s ({entries_after - entries_warm} generations "
            f"missed the cache during training), total {wall:.0f}s.\n\n")
    if not ns.behaviour_only:
        print("\n" + write_tables(out, rows, note))
    lines = [f"# What each agent does on the test tasks ({ENV_ID})\n"]
    for label, rep in reports.items():
        lines += [f"\n## {label}\n\n", markdown_table(behaviour(rep, ExecutiveEnv.ACTIONS))]
    (out / "behaviour.md").write_text("".join(lines))
    (out / "run.json").write_text(json.dumps({
        "argv": sys.argv[1:], "wall_seconds": wall,
        **({} if ns.behaviour_only else {"warm_seconds": warm_seconds, "train_seconds": train_seconds}),
        "generations": {"before": entries_before, "after_warm_up": entries_warm, "after_training": entries_after},
        "reports": {k: v.to_dict() for k, v in reports.items()}}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
