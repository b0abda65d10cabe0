"""The report in docs/benchmark_report.md: baselines and the trained agents of the learning benchmark on mbpp-core.

One command (about 10 minutes on 2 cores):

    PYTHONPATH=. .venv/bin/python benchmarks/benchmark_report.py     # or: make benchmark-report

1. trains MaskablePPO and masked Double DQN on Executive-MBPP-v1, 3 seeds each
   (``benchmarks/learning_executive.py``; skipped for a run folder that already holds its model);
2. benchmarks the random and heuristic baselines on both envs of ``mbpp-core`` and the six trained
   agents (one label per algorithm, a run per training seed) on its Executive env, all with the
   shaped scripted coder (``--coder shaped``: the embedded model takes hours for these episodes here);
3. writes the report with ``promptgym report``.
Each step resumes: rerunning after an interruption redoes nothing that finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUITE = "mbpp-core"
EXECUTIVE = "Executive-MBPP-v1"
ALGOS = ("maskable_ppo", "double_dqn")
COMMON = ["--coder", "shaped", "--env-kwargs", "embedder=hash", "--workers", "2", "--quiet"]


def main(argv: list[str] | None = None) -> int:
    """Train (where needed), benchmark, report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/learning_executive", help="the learning benchmark's run folders")
    p.add_argument("--bench", default="runs/bench", help="where the bench results go")
    p.add_argument("--seeds", default="0,1,2", help="training seeds, and the bench's seeds")
    p.add_argument("--out", default="docs/benchmark_report.md")
    ns = p.parse_args(argv)
    seeds = [s.strip() for s in ns.seeds.split(",") if s.strip()]
    runs = Path(ns.runs)

    missing = [s for s in seeds if not all((runs / f"{a}_s{s}" / "best_model.zip").exists() for a in ALGOS)]
    if missing:
        from benchmarks import learning_executive

        learning_executive.main(["--seeds", *missing, "--runs", str(runs)])

    from benchmarks.harness.cli import main as bench
    from benchmarks.harness.report import main as report

    baselines, trained = Path(ns.bench) / "baselines", Path(ns.bench) / "trained"
    common = [*COMMON, "--seeds", ",".join(seeds)]
    if bench(["--suite", SUITE, "--agent", "baseline:random", "--agent", "baseline:heuristic",
              "--out", str(baselines), *common]):
        return 1
    agents = [f"--agent={a}={runs / f'{a}_s{s}'}" for a in ALGOS for s in seeds]
    if bench(["--suite", SUITE, "--envs", EXECUTIVE, *agents, "--out", str(trained), *common]):
        return 1
    return report([str(baselines), str(trained), "--out", ns.out,
                   "--title", f"promptgym baselines and trained agents on {SUITE}"])


if __name__ == "__main__":
    raise SystemExit(main())
