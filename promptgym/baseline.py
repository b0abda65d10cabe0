"""`promptgym evaluate`: generate with an LLM backend, execute in the sandbox, report pass@k.

Comparable with published pass@k: the prompt is the standard one (MBPP's text with the three
``test_list`` asserts) and every sample is judged on each task's standard tests (``Task.tests``:
MBPP's ``test_list``, HumanEval's whole ``check()``), not on the envs' hidden set (which adds
MBPP's ``challenge_test_list``). On HumanEval both verdicts agree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from promptgym.error import UsageError

__all__ = ["evaluate", "main", "resolve_args"]

DEFAULT_KS = "1,5,10"
SAMPLING_TEMPERATURE = 0.8
"""--temperature when --n > 1 and none is given (--n 1 decodes greedily: the usual pass@1)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptgym evaluate", description=__doc__)
    p.add_argument("--backend", default="llama_cpp", help="llama_cpp | transformers | openai")
    p.add_argument("--model", default=None, help="model path / hub id (backend default: embedded SmolLM2)")
    p.add_argument("--base-url", default=None, help="openai backend: server URL")
    p.add_argument("--dataset", default="mbpp", help="mbpp | mbpp-sanitized | humaneval | a .jsonl file")
    p.add_argument("--split", default="test")
    p.add_argument("--template", default="auto")
    p.add_argument("--n", type=int, default=10, help="samples per task")
    p.add_argument("--k", default=None, help=f"comma-separated k values (default {DEFAULT_KS}; k above --n is left "
                   "out, with a warning when given)")
    p.add_argument("--limit", type=int, default=None, help="first N tasks only (N >= 1)")
    p.add_argument("--temperature", type=float, default=None,
                   help=f"default: 0 (greedy) for --n 1, else {SAMPLING_TEMPERATURE}")
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-new-tokens", type=int, default=384)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per program")
    p.add_argument("--tests", default="all", choices=("all", "hidden", "visible"),
                   help="test set that judges: all (default: the standard set, comparable with published "
                        "pass@k), hidden (what judges the envs and fine-tuning), visible")
    p.add_argument("--sandbox", default="process", help="process | docker")
    p.add_argument("--no-cache", action="store_true", help="do not use the generation cache")
    p.add_argument("--out", default="reports/evaluate", help="output folder (report.json, summary.md)")
    p.add_argument("--text-metrics", nargs="?", const="bleu,codebleu,rouge,minilm", default=None, metavar="LIST",
                   help="also score each program against the task's reference (evaluators.text_metrics): "
                        "bleu,codebleu,rouge,bertscore,minilm; without LIST all but bertscore")
    return p


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Check ``args`` (UsageError naming the fix) and fill in what depends on others: ``ks``, temperature, decoding.

    Given k values above ``--n`` get a one-line warning (pass@k leaves them out); without ``--temperature``, ``--n 1``
    decodes greedily (temperature 0) and ``--n`` > 1 samples at :data:`SAMPLING_TEMPERATURE`.
    """
    from promptgym.samples import parse_ks, warn_left_out_ks

    args = argparse.Namespace(**vars(args))
    if args.n < 1:
        raise UsageError(f"--n must be >= 1 (samples per task), got {args.n}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1 (leave it out for every task), got {args.limit}")
    args.ks = list(parse_ks(DEFAULT_KS if args.k is None else args.k))
    if args.k is not None:  # the default ks above --n drop quietly, as --help says
        warn_left_out_ks("evaluate", args.ks, args.n, f"--n is {args.n}")
    if args.temperature is None:
        args.temperature = 0.0 if args.n == 1 else SAMPLING_TEMPERATURE
        why = "the default for --n 1" if args.n == 1 else "the default for --n > 1"
    else:
        why = "--temperature"
    args.decoding = (f"greedy (temperature 0, {why})" if args.temperature == 0
                     else f"sampling at temperature {args.temperature} ({why})")
    return args


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole evaluation and return the report dict."""
    from tqdm import tqdm

    from evaluators import Sandbox, pass_at_k_report
    from promptgym.llm import CachedBackend, GenerationCache, extract_code, make_backend, resolve_template
    from promptgym.tasks import load_tasks

    args = resolve_args(args)
    if getattr(args, "text_metrics", None):
        _text_metric_names(args.text_metrics)  # a typo fails now, not after generating
    tasks = list(load_tasks(args.dataset, None if args.dataset == "humaneval" else args.split))
    if args.limit is not None:
        tasks = tasks[: args.limit]
    kwargs: dict[str, Any] = {}
    if args.model:
        kwargs["model" if args.backend == "openai" else "model_path"] = args.model
    if args.base_url:
        kwargs["base_url"] = args.base_url
    backend = make_backend(args.backend, **kwargs)
    gen = backend if args.no_cache else CachedBackend(backend, GenerationCache())

    samples: list[list[dict[str, Any]]] = []
    t0 = time.perf_counter()
    tokens = 0
    for task in tqdm(tasks, desc="generating", unit="task"):
        tpl = resolve_template(args.template, task)
        comps = gen.generate([tpl(task)], n=args.n, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                             top_p=args.top_p, stop=tpl.stop or None, seed=args.seed)[0]
        prefix = task.code_prefix if (task.code_prefix and not tpl.chat) else ""
        row = []
        for c in comps:
            ex = extract_code(c.text, task.entry_point, prefix=prefix)
            tokens += 0 if c.cached else c.completion_tokens
            row.append({"completion": c.text, "code": ex.code, "issues": list(ex.issues), "cached": c.cached,
                        "entry_point_found": ex.entry_point_found, "finish_reason": c.finish_reason,
                        "completion_tokens": c.completion_tokens})
        samples.append(row)
    gen_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    # --tests all (the default): the standard set published MBPP figures judge with (see the module docstring)
    jobs = [t.job(s["code"], tests=getattr(args, "tests", "all"), timeout=args.timeout)
            for t, row in zip(tasks, samples) for s in row]
    results = []
    with Sandbox(backend=args.sandbox) as sb:
        bar = tqdm(total=len(jobs), desc="executing", unit="prog")
        for i in range(0, len(jobs), 32):  # chunks so the bar moves
            results.extend(sb.run_many(jobs[i:i + 32]))
            bar.update(len(jobs[i:i + 32]))
        bar.close()
    exec_s = time.perf_counter() - t1

    per_task, it = [], iter(results)
    for task, row in zip(tasks, samples):
        for s in row:
            r = next(it)
            s.update(status=r.status, pass_fraction=r.pass_fraction, error=r.error[:300])
        per_task.append({"task_id": task.task_id, "n": len(row), "correct": sum(s["status"] == "passed" for s in row),
                         "samples": row})
    flat = [s for row in samples for s in row]
    report = {
        "config": vars(args), "model": backend.model, "n_tasks": len(tasks), "n_samples": len(flat),
        "pass_at_k": pass_at_k_report([t["n"] for t in per_task], [t["correct"] for t in per_task], args.ks),
        "syntax_error_rate": sum("syntax error" in s["issues"] for s in flat) / max(1, len(flat)),
        "timeout_rate": sum(s["status"] == "timeout" for s in flat) / max(1, len(flat)),
        "entry_point_missing_rate": sum(not s["entry_point_found"] for s in flat) / max(1, len(flat)),
        "status_counts": {st: sum(s["status"] == st for s in flat) for st in sorted({s["status"] for s in flat})},
        "tokens_generated": tokens, "generation_s": round(gen_s, 2), "execution_s": round(exec_s, 2),
        "cache": gen.cache.stats() if isinstance(gen, CachedBackend) else None,
        "tasks": per_task,
    }
    gen.close()
    if getattr(args, "text_metrics", None):
        report["text_metrics"] = _text_metrics(args.text_metrics, tasks, samples)
    return report


def _text_metric_names(names: str) -> list[str]:
    """The metric names of ``--text-metrics`` (UsageError naming the choices for a typo)."""
    from evaluators.text_metrics import METRICS

    metrics = [m.strip() for m in names.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        from promptgym.error import did_you_mean

        raise UsageError(f"--text-metrics: unknown {bad[0]!r}.{did_you_mean(bad[0], METRICS)} "
                         f"Choices: {', '.join(METRICS)}")
    return metrics


def _text_metrics(names: str, tasks: list[Any], samples: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Add text-metric columns (program vs the task's reference) to every sample; return the means."""
    from evaluators.text_metrics import score_texts

    metrics = _text_metric_names(names)
    pairs = [(s, t.reference) for t, row in zip(tasks, samples) for s in row if t.reference]
    embedder = None
    if "minilm" in metrics:
        from promptgym.embeddings import get_embedder

        embedder = get_embedder("minilm")
    scores = score_texts([s["code"] for s, _ in pairs], [r for _, r in pairs], metrics, embedder=embedder)
    for col, metric in scores.items():
        for (sample, _), value in zip(pairs, metric.values):
            sample[col] = value
    return {col: metric.to_dict() for col, metric in scores.items()}


def _metric_cell(m: dict[str, Any]) -> str:
    """A text metric's mean for the summary, or why it is unavailable."""
    return m["unavailable"] or ("n/a" if m["mean"] is None else f"{m['mean']:.3f}")


def _summary(rep: dict[str, Any]) -> str:
    cfg = rep["config"]
    lines = [f"# promptgym evaluate: {cfg['backend']} on {cfg['dataset']}/{cfg['split']}", "",
             f"- model: `{rep['model']}`", f"- tasks: {rep['n_tasks']}, samples per task: {cfg['n']}, "
             f"{cfg['decoding']} (top_p {cfg['top_p']}, max_new_tokens {cfg['max_new_tokens']})", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in rep["pass_at_k"].items()]
    lines += [f"| syntax-error rate | {rep['syntax_error_rate']:.3f} |", f"| timeout rate | {rep['timeout_rate']:.3f} |",
              f"| entry point missing | {rep['entry_point_missing_rate']:.3f} |",
              f"| tokens generated | {rep['tokens_generated']} |", f"| generation s | {rep['generation_s']} |",
              f"| execution s | {rep['execution_s']} |",
              *(f"| {col} (vs reference) | {_metric_cell(m)} |" for col, m in (rep.get("text_metrics") or {}).items()),
              "",
              "pass@k is over independent single generations (no retries or repairs).", "",
              "| task | correct / n |", "|---|---|"]
    lines += [f"| {t['task_id']} | {t['correct']}/{t['n']} |" for t in rep["tasks"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym evaluate``."""
    args = _parser().parse_args(argv)
    rep = evaluate(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    (out / "summary.md").write_text(_summary(rep))
    print(_summary(rep).split("| task |")[0])
    print(f"wrote {out / 'report.json'} and {out / 'summary.md'}")
    return 0
