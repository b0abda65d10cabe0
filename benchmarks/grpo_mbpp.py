"""GRPO on MBPP train with the embedded model: the execution reward per step, held-out pass@1 before/after, throughput.

Measures, for one GRPO run (TRL's GRPOTrainer, LoRA, rewards judged by the sandbox on hidden tests):
the mean execution reward of each step's completions (the curve), held-out pass@1 (greedy, MBPP test,
through the project's ``evaluate``) of the base and the merged fine-tuned model, training samples/s
(completions generated and trained on per second) and sandbox executions/s (programs judged per second
of training, and per second the sandbox was busy). Writes ``<tag>.json`` and ``<tag>.png`` under --out; the
adapter, merged model and TensorBoard logs go to --run-dir (``runs/finetune/<tag>``, not committed).

Profiles (flags override them):

- ``cpu``: a short run a shared 2-core CPU does in about 12 minutes (GRPO stops at 8 steps or 8 minutes).
- ``gpu``: at most 6 minutes of GRPO on one GPU (``--time-budget-s 360``), larger groups and batch; shows
  whether the reward rises (``reward_rose`` in the JSON: last-quarter mean above first-quarter mean).
- ``tiny``: seconds; checks the script end to end (run it on CPU before spending GPU time).

Run: python benchmarks/grpo_mbpp.py --profile cpu
     python benchmarks/grpo_mbpp.py --profile gpu            # on a CUDA machine
     python benchmarks/grpo_mbpp.py --profile tiny --out /tmp/g
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROFILES: dict[str, dict[str, Any]] = {
    "tiny": {"train_limit": 4, "steps": 2, "num_generations": 2, "batch": 2, "max_completion_length": 16,
             "eval_limit": 2, "eval_max_new_tokens": 32, "time_budget_s": None},
    "cpu": {"train_limit": 64, "steps": 8, "num_generations": 4, "batch": 4, "max_completion_length": 64,
            "eval_limit": 5, "eval_max_new_tokens": 160, "time_budget_s": 480},
    "gpu": {"train_limit": None, "steps": 400, "num_generations": 8, "batch": 32, "max_completion_length": 256,
            "eval_limit": 100, "eval_max_new_tokens": 384, "time_budget_s": 360},
}


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    p.add_argument("--model", default="embedded")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--steps", type=int, help="GRPO steps (max_steps)")
    p.add_argument("--num-generations", type=int, help="group size")
    p.add_argument("--batch", type=int, help="completions per step (a multiple of the group size)")
    p.add_argument("--max-completion-length", type=int)
    p.add_argument("--eval-limit", type=int, help="MBPP test tasks for held-out pass@1")
    p.add_argument("--eval-max-new-tokens", type=int)
    p.add_argument("--time-budget-s", type=float, help="stop GRPO after this many seconds")
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.0, help="KL coefficient (0: no reference model)")
    p.add_argument("--use-vllm", action="store_true", help="TRL's vLLM generation (colocate), GPU only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/finetune")
    p.add_argument("--tag", default=None, help="file name stem (default grpo_mbpp_<profile>)")
    p.add_argument("--run-dir", default=None, help="adapter, merged model and TensorBoard logs (default runs/finetune/<tag>)")
    args = p.parse_args(argv)
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.tag = args.tag or f"grpo_mbpp_{args.profile}"
    return args


def _budget_callback(seconds: float | None) -> Any:
    from transformers import TrainerCallback

    class Budget(TrainerCallback):
        """Stops training once the wall-clock budget is spent (checked after each step)."""

        def __init__(self) -> None:
            self.t0 = 0.0
            self.step_times: list[float] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step_times.append(time.perf_counter() - self.t0)
            if seconds is not None and self.step_times[-1] >= seconds:
                control.should_training_stop = True

    return Budget()


def _pass1(model: str, limit: int, max_new_tokens: int, out: Path) -> dict[str, Any]:
    from agents.finetune.report import evaluate_model

    t = time.perf_counter()
    rep = evaluate_model(model, "mbpp", n=1, limit=limit, max_new_tokens=max_new_tokens, out=out)
    return {"pass@1": rep["pass_at_k"].get("pass@1", 0.0), "n_tasks": rep["n_tasks"],
            "syntax_error_rate": rep["syntax_error_rate"], "quality": rep["quality_mean"],
            "seconds": round(time.perf_counter() - t, 1)}


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in result["curve"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["reward"] for r in result["curve"]], marker="o", label="mean execution reward")
    ax.plot(steps, [r["pass_fraction"] for r in result["curve"]], marker=".", ls="--", label="hidden-test pass fraction")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("per-step mean over completions")
    pb, pa = result["heldout_before"]["pass@1"], result["heldout_after"]["pass@1"]
    ax.set_title(f"GRPO on MBPP train ({result['model']}, {result['device']}); held-out pass@1 {pb:.3f} -> {pa:.3f}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns (and writes) the result dict."""
    args = _args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    from agents.finetune.config import build_config
    from agents.finetune.model import load_model
    from agents.finetune.trainers import finish, load_train_tasks, make_online_trainer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(args.run_dir or Path("runs/finetune") / args.tag)  # models stay out of the results folder
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"

    before = _pass1(args.model, args.eval_limit, args.eval_max_new_tokens, run_dir / "eval_before")
    print(f"held-out pass@1 before: {before}", flush=True)

    tasks = load_train_tasks("mbpp", args.train_limit)
    cfg = build_config("grpo", model=args.model, overrides={
        "output_dir": str(run_dir), "report_to": "tensorboard", "logging_steps": 1, "save_strategy": "no",
        "max_steps": args.steps, "num_generations": args.num_generations, "per_device_train_batch_size": args.batch,
        "max_completion_length": args.max_completion_length, "learning_rate": args.learning_rate,
        "temperature": args.temperature, "beta": args.beta, "seed": args.seed, "activation_checkpointing": False,
        "use_vllm": args.use_vllm, "vllm_mode": "colocate", "merge_adapter": True,
        **({"sandbox_workers": 2} if not torch.cuda.is_available() else {})})
    model, tok = load_model(args.model)
    budget = _budget_callback(args.time_budget_s)
    trainer, reward = make_online_trainer("grpo", cfg, model=model, tokenizer=tok, tasks=tasks, callbacks=[budget])
    t0 = time.perf_counter()
    try:
        trainer.train()
    finally:
        reward.close()
    train_s = time.perf_counter() - t0
    paths = finish(trainer, cfg, "grpo")

    after = _pass1(paths["merged"], args.eval_limit, args.eval_max_new_tokens, run_dir / "eval_after")
    print(f"held-out pass@1 after: {after}", flush=True)

    s = reward.stats
    curve = [{"step": i + 1, "reward": h["exec/reward"], "pass_fraction": h["exec/pass_fraction"],
              "pass_rate": h["exec/pass_rate"], "syntax_error_rate": h["exec/syntax_error_rate"],
              "extraction_failure_rate": h["exec/extraction_failure_rate"]}
             for i, h in enumerate(s.history)]
    q = max(1, len(curve) // 4)
    first, last = curve[:q], curve[-q:]
    mean = lambda rows: sum(r["reward"] for r in rows) / max(1, len(rows))
    result = {
        "benchmark": "grpo_mbpp", "profile": args.profile, "model": args.model, "device": device,
        "python": platform.python_version(), "torch": torch.__version__,
        "trl": __import__("trl").__version__, "peft": __import__("peft").__version__,
        "settings": {k: getattr(args, k) for k in ("train_limit", "steps", "num_generations", "batch",
                                                   "max_completion_length", "eval_limit", "eval_max_new_tokens",
                                                   "time_budget_s", "learning_rate", "temperature", "beta", "seed",
                                                   "use_vllm")},
        "reward_weights": reward.config()["weights"],
        "steps_done": len(curve), "train_s": round(train_s, 1),
        "samples_per_s": round(s.completions / train_s, 3),
        "sandbox_executions": s.executions, "sandbox_runs_uncached": s.sandbox_runs,
        "sandbox_executions_per_s_of_training": round(s.executions / train_s, 3),
        "sandbox_executions_per_s_busy": round(s.executions / s.execution_s, 2) if s.execution_s else None,
        "extraction_failures": s.extraction_failures, "syntax_errors": s.syntax_errors, "timeouts": s.timeouts,
        "curve": curve,
        "reward_first_quarter": round(mean(first), 4), "reward_last_quarter": round(mean(last), 4),
        "reward_rose": mean(last) > mean(first),
        "heldout_before": before, "heldout_after": after,
        "command": "python benchmarks/grpo_mbpp.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    (out / f"{args.tag}.json").write_text(json.dumps(result, indent=1))
    _plot(result, out / f"{args.tag}.png")
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=1))
    print(f"wrote {out / (args.tag + '.json')} and {out / (args.tag + '.png')}")
    return result


if __name__ == "__main__":
    main()
