"""`promptgym finetune`: fine-tune a code LLM with execution rewards (TRL + PEFT), then evaluate before/after.

    promptgym finetune grpo --model embedded --dataset mbpp --preset fast
    promptgym finetune rloo --config run.yaml
    promptgym finetune reward --feedback ratings.csv
    promptgym finetune grpo --reward-model runs/finetune/smollm2-135m-mbpp-reward-lora/merged --reward-model-weight 0.2
    promptgym finetune dpo --pairs pairs.jsonl
    promptgym finetune export-ppo --framework verl --out ppo_data
    promptgym finetune pipeline --stages baseline,train_gen,analysis,rl_build,train_dpo,test_after --run-dir runs/dpo1

Settings layer as ``family defaults < --preset < --config run.yaml < flags < --set key=value`` (any field of
TRL's config for the method, e.g. ``--set beta=0.04 --set use_vllm=true``). Runs are named
``{model}-{dataset}-{method}-lora`` under ``runs/finetune/``; TensorBoard logs go to the run folder
(``--report-to wandb`` for Weights & Biases).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from promptgym.error import UsageError

__all__ = ["main"]

METHODS = ("grpo", "rloo", "dpo", "reward")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptgym finetune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", help="grpo | rloo | dpo | reward | export-ppo | pipeline (offline DPO: pipeline --help)")
    p.add_argument("--model", default=None, help="'embedded' (SmolLM2-135M GGUF, default), a .gguf, a folder or a hub id")
    p.add_argument("--dataset", default=None, help="mbpp (default) | taco (train split); humaneval is evaluation only")
    p.add_argument("--dataset-path", default=None, help="local file/folder of the dataset")
    p.add_argument("--config", default=None, help="run.yaml: method, model, dataset, preset and any config field")
    p.add_argument("--preset", default=None, help="fast | research | full")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--epochs", type=float, default=None, help="num_train_epochs")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--train-limit", type=int, default=None, help="first N train tasks")
    p.add_argument("--output-dir", default=None, help="default runs/finetune/{model}-{dataset}-{method}-lora")
    p.add_argument("--report-to", default=None, help="tensorboard (default) | wandb | none")
    p.add_argument("--pairs", default=None, help="dpo: JSONL of {prompt, chosen, rejected}")
    p.add_argument("--feedback", default=None, help="reward: CSV prompt,response,rating / JSON(L) records / pairs")
    p.add_argument("--reward-model", default=None, help="grpo/rloo: a merged reward model folder to mix in")
    p.add_argument("--reward-model-weight", type=float, default=None, help="its weight (execution reward: 1.0)")
    p.add_argument("--quality-weight", type=float, default=None, help="weight of the code-quality term (0 = off)")
    p.add_argument("--use-vllm", action="store_true", help="generate with vLLM through TRL (needs vllm and a GPU)")
    p.add_argument("--qlora", action="store_true", help="4-bit base weights (bitsandbytes; CUDA only)")
    p.add_argument("--merge", action="store_true", help="also save the LoRA merged into a full model")
    p.add_argument("--no-eval", action="store_true", help="skip the before/after evaluation")
    p.add_argument("--eval-limit", type=int, default=None, help="tasks per benchmark in the before/after evaluation")
    p.add_argument("--eval-n", type=int, default=None, help="samples per task (10 gives pass@1/5/10)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config field (YAML value)")
    p.add_argument("--framework", default="verl", help="export-ppo: verl | openrlhf")
    p.add_argument("--out", default="ppo_data", help="export-ppo: output folder")
    return p


def _yaml(path: str) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--config {path}: no such file")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of settings")
    return data


def _sets(items: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: write KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve(argv: list[str] | None) -> tuple[str, dict[str, Any], argparse.Namespace]:
    """``(method, config settings, args)`` from the command line and ``--config``."""
    args = _parser().parse_args(argv)
    settings = _yaml(args.config) if args.config else {}
    method = args.method
    if method == "export-ppo":
        return method, settings, args
    if method not in METHODS:
        from promptgym.error import did_you_mean

        raise UsageError(f"unknown method {method!r}.{did_you_mean(method, [*METHODS, 'export-ppo', 'pipeline'])} "
                         f"Choose one of {', '.join(METHODS)}, export-ppo or pipeline.")
    if settings.get("method", method) != method:
        raise UsageError(f"--config says method {settings['method']!r} but the command says {method!r}")
    settings.pop("method", None)
    flags = {"model_name": args.model, "dataset": args.dataset, "dataset_path": args.dataset_path,
             "max_steps": args.max_steps, "num_train_epochs": args.epochs, "learning_rate": args.learning_rate,
             "train_limit": args.train_limit, "output_dir": args.output_dir, "report_to": args.report_to,
             "pairs_path": args.pairs, "feedback_path": args.feedback, "reward_model_path": args.reward_model,
             "reward_model_weight": args.reward_model_weight, "quality_weight": args.quality_weight,
             "eval_limit": args.eval_limit, "eval_n": args.eval_n}
    if args.use_vllm:
        flags["use_vllm"] = True
    if args.qlora:
        flags["qlora"] = True
    if args.merge:
        flags["merge_adapter"] = True
    if "model" in settings:
        settings["model_name"] = settings.pop("model")
    settings.update({k: v for k, v in flags.items() if v is not None})
    settings.update(_sets(args.set))
    return method, settings, args


def _pipeline_parser() -> argparse.ArgumentParser:
    from agents.finetune.pipeline import STAGES

    p = argparse.ArgumentParser(
        prog="promptgym finetune pipeline",
        description="The offline DPO pipeline: each stage reads the previous stage's JSONL in --run-dir and writes "
                    "<stage>.jsonl + <stage>.manifest.json; any stage can be re-run alone.")
    p.add_argument("--stages", default="all", help=f"comma-separated, run in pipeline order: {','.join(STAGES)} (or all)")
    p.add_argument("--run-dir", default="runs/pipeline", help="the run folder")
    p.add_argument("--model", default="embedded", help="'embedded' (SmolLM2-135M GGUF), a .gguf, a folder or a hub id")
    p.add_argument("--dataset", default="mbpp", help="dataset whose train split gives candidates and pairs")
    p.add_argument("--dataset-path", default=None, help="local file/folder of the dataset")
    p.add_argument("--tasks", type=int, default=16, help="first K train tasks")
    p.add_argument("--task-ids", default=None, help="comma-separated train task ids instead of --tasks")
    p.add_argument("--candidates", type=int, default=4, help="candidates per train task (>= 2)")
    p.add_argument("--backend", default="llama_cpp", help="train_gen's backend: llama_cpp | transformers | openai")
    p.add_argument("--template", default="auto")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="sample i of a task uses seed + i")
    p.add_argument("--cache", default=None, help="generation cache file (default: the project's)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per program")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers")
    p.add_argument("--max-pairs-per-task", type=int, default=8)
    p.add_argument("--eval-dataset", default="mbpp", help="held-out benchmark (test split) of baseline/test_after")
    p.add_argument("--eval-tasks", type=int, default=20)
    p.add_argument("--eval-n", type=int, default=1, help="samples per held-out task (1: greedy)")
    p.add_argument("--eval-backend", default="transformers", help="backend of baseline and test_after")
    p.add_argument("--preset", default="fast", help="DPO preset: fast | research | full")
    p.add_argument("--max-steps", type=int, default=None, help="DPO steps")
    p.add_argument("--report-to", default=None, help="tensorboard (default) | wandb | none")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any DPOConfig field (YAML value)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def pipeline_main(argv: list[str]) -> int:
    """``promptgym finetune pipeline``: run the offline DPO pipeline's stages (see :mod:`agents.finetune.pipeline`)."""
    from agents.finetune.pipeline import PipelineSettings, parse_stages, read_manifest, run_pipeline

    a = _pipeline_parser().parse_args(argv)
    stages = parse_stages(a.stages)  # a typo fails before anything loads
    dpo = _sets(a.set)
    if a.max_steps is not None:
        dpo["max_steps"] = a.max_steps
    if a.report_to is not None:
        dpo["report_to"] = a.report_to
    settings = PipelineSettings(
        run_dir=a.run_dir, model=a.model, dataset=a.dataset, dataset_path=a.dataset_path, tasks=a.tasks,
        task_ids=[t.strip() for t in a.task_ids.split(",") if t.strip()] if a.task_ids else None,
        candidates=a.candidates, backend=a.backend, template=a.template, temperature=a.temperature, top_p=a.top_p,
        max_new_tokens=a.max_new_tokens, seed=a.seed, cache=a.cache, no_cache=a.no_cache, timeout=a.timeout,
        workers=a.workers, max_pairs_per_task=a.max_pairs_per_task, eval_dataset=a.eval_dataset,
        eval_tasks=a.eval_tasks, eval_n=a.eval_n, eval_backend=a.eval_backend, dpo_preset=a.preset, dpo_overrides=dpo,
        progress=not a.no_progress)
    manifests = run_pipeline(settings, stages)
    for stage, path in manifests.items():
        counts = read_manifest(path.parent, stage)["counts"]
        print(f"{stage}: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f"  ({path})")
    report = Path(settings.run_dir) / "report.md"
    if "test_after" in manifests and report.is_file():
        print(report.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym finetune``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "pipeline":
        return pipeline_main(argv[1:])
    method, settings, args = resolve(argv)
    if method == "export-ppo":
        from agents.finetune.export import export_ppo

        files = export_ppo(args.framework, args.out, dataset=args.dataset or settings.get("dataset", "mbpp"),
                           limit=args.train_limit, path=args.dataset_path)
        for name, path in files.items():
            print(f"{name}: {path}")
        return 0

    from agents.finetune.trainers import env_offline

    if settings.get("model_name", "embedded") == "embedded":
        env_offline()
    from agents.finetune.config import build_config
    from agents.finetune.model import check_supported, is_encoder_decoder, load_model
    from agents.finetune.trainers import finish, make_dpo_trainer, make_online_trainer, make_reward_trainer

    preset = settings.pop("preset", None) if args.preset is None else args.preset
    settings.pop("preset", None)
    model_name = settings.get("model_name", "embedded")
    try:
        config = build_config(method, model=model_name, dataset=settings.get("dataset", "mbpp"), preset=preset,
                              overrides=settings)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if method == "dpo" and config.pairs_path is None:
        raise UsageError("dpo needs --pairs FILE.jsonl (records {prompt, chosen, rejected})")
    if method == "reward" and config.feedback_path is None:
        raise UsageError("reward needs --feedback FILE (.csv prompt,response,rating; .json/.jsonl; or pairs)")
    if method in ("grpo", "rloo") and config.dataset == "humaneval":
        raise UsageError("HumanEval has no train split; train on mbpp or taco (HumanEval is in the before/after report)")

    kind = "reward" if method == "reward" else None
    model, tok = load_model(config.model_name, kind=kind, load_in_4bit=config.qlora)
    check_supported(method, model)
    print(f"promptgym finetune: {method} run {config.run_name} -> {config.output_dir}", file=sys.stderr)
    reward = None
    if method in ("grpo", "rloo"):
        trainer, reward = make_online_trainer(method, config, model=model, tokenizer=tok)
    elif method == "dpo":
        trainer = make_dpo_trainer(config, model=model, tokenizer=tok)
    else:
        trainer = make_reward_trainer(config, model=model, tokenizer=tok)
    evaluate = method != "reward" and not args.no_eval and not is_encoder_decoder(model)
    if evaluate:
        config.merge_adapter = True  # the evaluation generates with the merged model
    try:
        trainer.train()
    finally:
        if reward is not None:
            reward.close()
    paths = finish(trainer, config, method)
    summary: dict[str, Any] = {"run_name": config.run_name, "method": method, "paths": paths,
                               "log_history": trainer.state.log_history}
    if reward is not None:
        summary["reward"] = {**reward.config(), "executions": reward.stats.executions,
                             "sandbox_runs": reward.stats.sandbox_runs,
                             "extraction_failures": reward.stats.extraction_failures}
    if evaluate:
        from agents.finetune.report import evaluate_before_after, markdown

        report = evaluate_before_after(config.model_name, paths["merged"], n=config.eval_n, limit=config.eval_limit,
                                       out=Path(config.output_dir) / "eval")
        summary["before_after"] = report
        print(markdown(report))
    out = Path(config.output_dir) / "run_summary.json"
    out.write_text(json.dumps(summary, indent=1, default=str))
    print(f"wrote {out}")
    return 0
