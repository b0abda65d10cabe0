"""The before/after evaluation: the project's ``evaluate`` on the base and the fine-tuned model, one report.

Judged on hidden tests (``promptgym evaluate --tests hidden``), as the training rewards are.

Each model is run through :func:`promptgym.baseline.evaluate` (the ``transformers`` backend, the sandbox,
the unbiased pass@k) on MBPP test and HumanEval; the report adds the code-quality column
(:mod:`agents.finetune.quality`) and writes ``before_after.json`` and ``before_after.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["BENCHMARKS", "evaluate_before_after", "evaluate_model"]

BENCHMARKS = {"mbpp": "test", "humaneval": "test"}


def _backend_model(model: str | os.PathLike[str] | None) -> str:
    from agents.finetune.model import EMBEDDED

    if model is None or str(model) == EMBEDDED:
        from promptgym.assets import smollm2_gguf

        return str(smollm2_gguf())
    return str(model)


def evaluate_model(model: str | os.PathLike[str] | None, dataset: str = "mbpp", n: int = 10,
                   limit: int | None = None, max_new_tokens: int = 384, timeout: float = 10.0,
                   out: str | os.PathLike[str] = "reports/finetune") -> dict[str, Any]:
    """pass@1/5/10 (k <= n) of one model on one benchmark's held-out split, with the mean quality score."""
    from agents.finetune.quality import quality_scores
    from promptgym.baseline import evaluate

    args = argparse.Namespace(backend="transformers", model=_backend_model(model), base_url=None, dataset=dataset,
                              split=BENCHMARKS.get(dataset, "test"), template="auto", n=n, k=None, limit=limit,
                              temperature=None, top_p=0.95, max_new_tokens=max_new_tokens, seed=0, timeout=timeout,
                              sandbox="process", no_cache=True, out=str(out), tests="hidden")
    rep = evaluate(args)
    samples = [s for t in rep["tasks"] for s in t["samples"]]
    quality = quality_scores([s["code"] for s in samples], [SimpleNamespace(status=s["status"]) for s in samples])
    rep["quality_mean"] = sum(q.score for q in quality) / max(1, len(quality))
    return rep


def evaluate_before_after(base: str | os.PathLike[str] | None, tuned: str | os.PathLike[str],
                          benchmarks: Sequence[str] = ("mbpp", "humaneval"), n: int = 10, limit: int | None = None,
                          max_new_tokens: int = 384, out: str | os.PathLike[str] = "reports/finetune") -> dict[str, Any]:
    """Evaluate the base and the fine-tuned (merged) model on each benchmark; write one JSON + markdown report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for bench in benchmarks:
        for label, model in (("before", base), ("after", tuned)):
            rep = evaluate_model(model, bench, n=n, limit=limit, max_new_tokens=max_new_tokens, out=out)
            rows.append({"benchmark": bench, "model": label, "path": rep["model"], "n_tasks": rep["n_tasks"],
                         "n": n, **rep["pass_at_k"], "syntax_error_rate": rep["syntax_error_rate"],
                         "timeout_rate": rep["timeout_rate"], "quality": rep["quality_mean"]})
    report = {"base": str(base), "tuned": str(tuned), "rows": rows}
    (out / "before_after.json").write_text(json.dumps(report, indent=1))
    (out / "before_after.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as one markdown table."""
    ks = [k for k in ("pass@1", "pass@5", "pass@10") if any(k in r for r in report["rows"])]
    head = ["benchmark", "model", "tasks", *ks, "syntax err", "timeouts", "quality"]
    lines = [f"# Before/after fine-tuning\n\n- base: `{report['base']}`\n- tuned: `{report['tuned']}`\n",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["rows"]:
        cells = [r["benchmark"], r["model"], str(r["n_tasks"]), *(f"{r.get(k, float('nan')):.3f}" for k in ks),
                 f"{r['syntax_error_rate']:.3f}", f"{r['timeout_rate']:.3f}", f"{r['quality']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
