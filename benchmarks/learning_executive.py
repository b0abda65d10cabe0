"""Does RL learn the Executive env? MaskablePPO and masked Double DQN vs the heuristic and random agents.

Fast coder and embedder ("hash": SEARCH without MiniLM): the scripted test double over MBPP tasks
with shaped scripts (agents.shapes): about a third pass on the first generation, a third need DEBUG,
a third need SEARCH then DEBUG.
Training on MBPP train tasks; best-model selection on some validation tasks, the final table on
OTHER held-out validation tasks (same script generator).

    PYTHONPATH=. .venv/bin/python benchmarks/learning_executive.py [--timesteps 3000] [--seeds 0 1 2]

Writes benchmarks/results/learning_executive/{table.csv,table.md,learning_curves.png}; run folders go to runs/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._learning import row, write_tables  # noqa: E402

ENV_ID = "Executive-MBPP-v1"
ALGOS = ("maskable_ppo", "double_dqn")


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate on held-out tasks, write the table and the curves."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=3000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    p.add_argument("--train-tasks", type=int, default=30)
    p.add_argument("--eval-tasks", type=int, default=15)
    p.add_argument("--episodes", type=int, default=20, help="held-out episodes per agent")
    # 5 selection episodes often hold no needs_search_then_debug task (a third of them), so the "best"
    # model could be one that loops DEBUG without SEARCH on those: 15 sees each shape about 5 times
    p.add_argument("--select-episodes", type=int, default=15, help="selection episodes per evaluation")
    p.add_argument("--out", default="benchmarks/results/learning_executive")
    p.add_argument("--runs", default="runs/learning_executive", help="run folders (models, logs): not committed")
    ns = p.parse_args(argv)
    wall_start = time.time()

    from agents.evaluate import evaluate
    from agents.shapes import shape_of, shaped_coder
    from agents.train import plot_curve, train
    from promptgym.tasks import load_tasks

    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    train_tasks = load_tasks("mbpp", split="train")[: ns.train_tasks]
    validation = load_tasks("mbpp", split="validation")
    eval_tasks = validation[: ns.eval_tasks]
    # best-model selection during training uses OTHER validation tasks, so the final table is unbiased
    select_tasks = validation[ns.eval_tasks: 2 * ns.eval_tasks]
    shapes = np.bincount([shape_of(t.task_id) for t in train_tasks], minlength=3)
    print(f"train tasks: {len(train_tasks)} (shapes first/debug/search+debug: {shapes.tolist()}), "
          f"held-out: {len(eval_tasks)}, selection: {len(select_tasks)}")
    train_kwargs = {"split": "train", "task_ids": [t.task_id for t in train_tasks],
                    "coder": shaped_coder(train_tasks), "embedder": "hash"}
    eval_kwargs = {"split": "validation", "task_ids": [t.task_id for t in eval_tasks],
                   "coder": shaped_coder(eval_tasks), "embedder": "hash"}
    select_kwargs = {"split": "validation", "task_ids": [t.task_id for t in select_tasks],
                     "coder": shaped_coder(select_tasks), "embedder": "hash"}

    rows, curves = [], {}
    for name in ("baseline:heuristic", "baseline:random"):
        rep = evaluate(name, ENV_ID, ns.episodes, eval_kwargs, seed=10_000, quiet=True)
        rows.append(row(name.split(":")[1], "-", rep, 0.0))
    for algo in ns.algos:
        for seed in ns.seeds:
            started = time.time()
            run_dir = train(algo, ENV_ID, ns.timesteps, seed=seed, env_kwargs=train_kwargs,
                            eval_env_kwargs=select_kwargs, run_dir=Path(ns.runs) / f"{algo}_s{seed}",
                            eval_freq=max(ns.timesteps // 8, 1), n_eval_episodes=ns.select_episodes,
                            progress_bar=False, vec="dummy", checkpoint_freq=0)
            seconds = time.time() - started
            rep = evaluate(str(run_dir), ENV_ID, ns.episodes, eval_kwargs, seed=10_000, quiet=True)
            rows.append(row(algo, seed, rep, seconds))
            data = np.load(run_dir / "evaluations.npz")
            curves[f"{algo} s{seed}"] = (data["timesteps"], data["results"].mean(axis=1), data["results"].std(axis=1))
            print(f"{algo} seed {seed}: success {rows[-1]['success_rate']} in {seconds:.0f}s")
    plot_curve(out / "learning_curves.png", curves, title=f"{ENV_ID}: greedy mean return on the model-selection tasks")
    wall = time.time() - wall_start
    note = (f"{ENV_ID}, {ns.timesteps} steps per run, seeds {' '.join(map(str, ns.seeds))}, {ns.episodes} held-out "
            f"episodes per agent, {ns.select_episodes} selection episodes per evaluation; total wall time {wall:.0f}s\n\n")
    print("\n" + write_tables(out, rows, note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
