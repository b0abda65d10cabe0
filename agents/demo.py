"""``make demo``: train MaskablePPO on Executive-MBPP-v1 with the embedded model, compare with baselines.

A short run on a handful of MBPP train tasks (the generation cache makes revisits cheap), then an
evaluation on held-out validation tasks against the masked random and the heuristic agents; a
table is printed and a plot saved under ``runs/demo/``. ``--fast`` swaps the LLM for the scripted
coder (shaped scripts from :mod:`agents.shapes`) for a quick check of the whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

ENV_ID = "Executive-MBPP-v1"


def _env_kwargs(fast: bool, split: str, n_tasks: int) -> dict[str, Any]:
    """Env kwargs for ``n_tasks`` tasks of ``split``: scripted shaped coder when fast, else the embedded LLM."""
    from agents.shapes import shaped_coder
    from promptgym.tasks import load_tasks

    tasks = load_tasks("mbpp", split=split)[:n_tasks]
    ids = [t.task_id for t in tasks]
    coder: Any = shaped_coder(tasks) if fast else "llama_cpp"
    return {"split": split, "task_ids": ids, "coder": coder}


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0 on success."""
    p = argparse.ArgumentParser(prog="promptgym demo", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="scripted coder instead of the embedded LLM")
    p.add_argument("--timesteps", type=int, default=None, help="training steps (default: 256, fast: 2048)")
    p.add_argument("--train-tasks", type=int, default=4)
    p.add_argument("--eval-tasks", type=int, default=4)
    p.add_argument("--episodes", type=int, default=None, help="eval episodes per agent (default: 8, fast: 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo")
    ns = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agents.evaluate import evaluate, print_reports
    from agents.train import train

    timesteps = ns.timesteps or (2048 if ns.fast else 256)
    episodes = ns.episodes or (30 if ns.fast else 8)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    train_kwargs = _env_kwargs(ns.fast, "train", ns.train_tasks)
    eval_kwargs = _env_kwargs(ns.fast, "validation", ns.eval_tasks)
    started = time.time()
    print(f"[demo] training MaskablePPO on {ENV_ID} ({'scripted' if ns.fast else 'embedded LLM'} coder), "
          f"{timesteps} steps on {train_kwargs['task_ids']}")
    # n_steps small so a short run still makes several updates; eval is done below, not during training
    run_dir = train("maskable_ppo", ENV_ID, timesteps, seed=ns.seed, env_kwargs=train_kwargs,
                    eval_env_kwargs=eval_kwargs,
                    run_dir=out / "maskable_ppo", eval_freq=0, progress_bar=True,
                    hyperparams={"n_steps": 64, "batch_size": 32, "n_epochs": 8}, vec="dummy", checkpoint_freq=0)
    print(f"[demo] trained in {time.time() - started:.0f}s; evaluating on held-out {eval_kwargs['task_ids']}")
    reports = [evaluate(agent, ENV_ID, episodes, eval_kwargs, seed=ns.seed + 1000, quiet=True)
               for agent in (str(run_dir), "baseline:heuristic", "baseline:random")]
    print_reports(reports)
    (out / "results.json").write_text(json.dumps([r.to_dict() for r in reports], indent=2, default=str))

    labels = ["MaskablePPO", "heuristic", "random"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, metric in enumerate(("success_rate", "pass_at_1_first")):
        means = [r.metrics[metric].mean for r in reports]
        errs = [[m - r.metrics[metric].low for m, r in zip(means, reports)],
                [r.metrics[metric].high - m for m, r in zip(means, reports)]]
        ax.bar([x + 0.4 * i for x in range(3)], means, 0.4, yerr=errs, label=metric, capsize=3)
    ax.set_xticks([x + 0.2 for x in range(3)], labels)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{ENV_ID} held-out tasks ({episodes} episodes, 95% CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=100)
    plt.close(fig)
    print(f"[demo] done in {time.time() - started:.0f}s: {out / 'results.json'}, {out / 'demo.png'}")
    return 0
