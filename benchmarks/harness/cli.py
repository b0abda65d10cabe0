"""``promptgym bench``: benchmark agents on a published suite or any registered envs.

    promptgym bench --agent baseline:heuristic --agent my_agents:make_agent \\
        --envs Executive-MBPP-v1,PromptOpt-MBPP-v1 --episodes 20 --seeds 0,1,2 --out runs/bench

AGENT: a run folder of ``promptgym train``, ``baseline:random``, ``baseline:heuristic``, or
``module:factory`` / ``path/to/file.py:factory`` returning an object with ``predict(obs, info)``;
``LABEL=AGENT`` names it. Writes OUT/results.json, OUT/leaderboard.{md,csv}; the same command on
the same OUT resumes an interrupted run.
"""

from __future__ import annotations

import argparse
import sys

from promptgym.error import UsageError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="promptgym bench", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--agent", action="append", default=[], metavar="AGENT",
                   help="repeat for several agents: RUN_DIR | baseline:random | baseline:heuristic | module:factory "
                        "(optionally LABEL=AGENT)")
    p.add_argument("--suite", default=None, help="a published suite (see --list-suites); fixes envs, tasks, splits")
    p.add_argument("--envs", default=None, help="comma-separated env ids (any registered id; default: the suite's)")
    p.add_argument("--tasks", default=None, help="comma-separated task ids every env cycles through "
                   "(default: the suite's, else each env's own tasks)")
    p.add_argument("--episodes", type=int, default=None,
                   help="episodes per agent, env and seed (default: one per task of the suite/--tasks, else 10)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--env-kwargs", nargs="*", default=None, metavar="KEY=VALUE",
                   help="env keyword arguments (YAML values), e.g. coder=scripted embedder=hash")
    p.add_argument("--coder", default=None, help="shorthand for --env-kwargs coder=...; 'shaped' is the scripted "
                   "test double with the three Executive episode shapes (agents.shapes)")
    p.add_argument("--workers", type=int, default=1, help="processes running episodes (default 1)")
    p.add_argument("--out", default="runs/bench", help="output folder; an existing run there resumes")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replications for confidence intervals")
    p.add_argument("--minari", default=None, metavar="NAMESPACE",
                   help="also export the run as Minari datasets NAMESPACE/<env>-<agent>-v0")
    p.add_argument("--minari-path", default=None, help="Minari datasets folder (default: $MINARI_DATASETS_PATH)")
    p.add_argument("--no-trajectories", action="store_true", help="do not save step arrays (no Minari export)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    p.add_argument("--list-suites", action="store_true", help="print the published suites and exit")
    return p


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise UsageError(f"{flag} takes comma-separated integers, e.g. 0,1,2; got {text!r}") from exc


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym bench``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = _parser().parse_args(argv)
    if ns.list_suites:
        from benchmarks.harness.suites import list_suites

        for s in list_suites():
            print(f"{s.label}: {', '.join(s.envs)}; {len(s.task_ids)} tasks. {s.description}")
        return 0
    if not ns.agent:
        raise UsageError("give at least one --agent (baseline:random, baseline:heuristic, a run folder or "
                         "module:factory)")
    if ns.minari and ns.no_trajectories:
        raise UsageError("--minari needs the trajectories: leave out --no-trajectories")
    from agents._common import parse_key_values
    from benchmarks.harness.runner import BenchInterrupted, run

    try:
        results = run(ns.agent, _list(ns.envs), suite=ns.suite, tasks=_list(ns.tasks), episodes=ns.episodes,
                      seeds=_ints(ns.seeds, "--seeds"), env_kwargs=parse_key_values(ns.env_kwargs),
                      coder=ns.coder, workers=ns.workers, out=ns.out, trajectories=not ns.no_trajectories,
                      progress=not ns.quiet, reps=ns.reps, command=["promptgym", "bench", *argv])
    except BenchInterrupted as exc:
        print(f"promptgym bench: {exc}", file=sys.stderr)
        return 130
    if ns.minari:
        from benchmarks.harness.minari_export import export

        for ds_id in export(ns.out, ns.minari, ns.minari_path):
            print(f"minari dataset: {ds_id}")
    if not ns.quiet:
        from pathlib import Path

        print((Path(ns.out) / "leaderboard.md").read_text())
    print(f"saved: {ns.out}/results.json, {ns.out}/leaderboard.md, {ns.out}/leaderboard.csv "
          f"({len(results['episodes'])} episodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
