"""Run agents on a suite: plan the episodes, run them across processes, resume, write the result file.

An output folder holds ``episodes.jsonl`` (one line per finished episode, appended as each ends),
``trajectories/`` (one ``.npz`` of step arrays per episode, for the Minari export),
``results.json`` (the settings, package versions and every episode), ``leaderboard.md`` and
``leaderboard.csv``. Running the same command again on the same folder skips every episode already
in ``episodes.jsonl``: an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.agents import AgentSpec, check_agent, parse_agent
from benchmarks.harness.suites import CUSTOM, Suite, get_suite
from promptgym.error import UsageError

__all__ = ["RESULTS_FORMAT", "BenchInterrupted", "EnvPlan", "plan_envs", "run"]

RESULTS_FORMAT = 1
SHAPED = "shaped"
"""``coder="shaped"``: the scripted test double with the three Executive episode shapes (agents.shapes)."""
PACKAGES = ("promptgym", "gymnasium", "numpy", "torch", "stable-baselines3", "sb3-contrib", "rliable", "minari",
            "llama_cpp_python", "transformers", "sacrebleu", "codebleu", "rouge-score", "bert-score")
SETTINGS = ("coder", "sandbox", "sandbox_kwargs", "embedder", "timeout", "split", "dataset", "feedback", "observation")
DEFAULT_EPISODES = 10  # per env and seed, when there is no task list to cycle through once


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the finished episodes are saved; the same command resumes."""


@dataclass
class EnvPlan:
    """One env of a run: its id, the kwargs it is made with, the tasks episodes cycle through."""

    env_id: str
    kwargs: dict[str, Any]
    task_ids: list[str] | None
    settings: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the result file."""
        return {"kwargs": _plain(self.kwargs), "settings": _plain(self.settings), "task_ids": self.task_ids,
                "max_episode_steps": self.max_episode_steps}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _accepted(env_id: str) -> tuple[list[str] | None, dict[str, Any]]:
    """(keywords the env's constructor takes or None when open, its defaults)."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    from agents._common import _keywords

    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    try:
        target = creator.__init__ if inspect.isclass(creator) else creator
        defaults = {k: p.default for k, p in inspect.signature(target).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    except (TypeError, ValueError):
        defaults = {}
    return _keywords(creator), defaults


def plan_envs(
    env_ids: Sequence[str],
    suite: Suite,
    env_kwargs: dict[str, Any] | None = None,
    task_ids: Sequence[str] | None = None,
    coder: str | None = None,
) -> list[EnvPlan]:
    """Check each env id and build its kwargs: suite kwargs, then ``env_kwargs``, then the task pin and coder."""
    import gymnasium as gym

    import promptgym  # noqa: F401  (registers the envs)
    from agents._common import build_env, check_env_args

    plans = []
    for env_id in env_ids:
        kwargs = {**suite.envs.get(env_id, {}), **(env_kwargs or {})}
        if coder is not None and coder != SHAPED:
            kwargs["coder"] = coder
        elif coder == SHAPED:
            kwargs["coder"] = "scripted"  # replaced below, once the env's tasks are known
        tasks = list(task_ids) if task_ids else (list(suite.task_ids) or None)
        check_env_args(env_id, kwargs, flag="--env-kwargs")
        known, defaults = _accepted(env_id)
        if tasks and (known is None or "task_ids" in known) and "tasks" not in kwargs:
            kwargs["task_ids"] = tasks
        env = build_env(lambda e=env_id, kw=kwargs: gym.make(e, **kw), env_id)
        try:
            pool = [t.task_id for t in getattr(env.unwrapped, "tasks", [])]
            if coder == SHAPED:
                from agents.shapes import shaped_coder

                kwargs["coder"] = shaped_coder(list(env.unwrapped.tasks))
            if tasks is None and pool:
                tasks = pool
            max_steps = env.spec.max_episode_steps if env.spec is not None else None
        finally:
            env.close()
        spec_kwargs = dict(gym.spec(env_id).kwargs or {})
        effective = {**defaults, **spec_kwargs, **kwargs}
        settings = {k: effective[k] for k in SETTINGS if k in effective}
        if isinstance(settings.get("coder"), dict) and "programs" in settings["coder"]:
            c = settings["coder"]
            settings["coder"] = {**{k: v for k, v in c.items() if k != "programs"},
                                 "programs": f"{len(c['programs'])} scripted tasks (agents.shapes)"}
        plans.append(EnvPlan(env_id, kwargs, tasks, settings, max_steps))
    return plans


def _key(agent: AgentSpec, plan: EnvPlan, seed: int, episode: int, task_id: str | None) -> str:
    blob = json.dumps([agent.label, agent.spec, plan.env_id, _plain(plan.kwargs), seed, episode, task_id],
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def _packages() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def read_episodes(path: Path) -> dict[str, dict[str, Any]]:
    """Finished episodes by key from an ``episodes.jsonl`` (a line cut short by a kill is ignored)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "key" in rec:
            done.setdefault(rec["key"], rec)
    return done


def _resolve_suite(suite: str | Suite | None, envs: Sequence[str] | None) -> tuple[Suite, list[str]]:
    if suite is None and not envs:
        from benchmarks.harness.suites import list_suites

        names = ", ".join(s.name for s in list_suites())
        raise UsageError(f"give --suite NAME (published: {names}) or --envs ENV_ID[,ENV_ID...]")
    if suite is None:
        return Suite(CUSTOM, None), list(envs or [])
    base = suite if isinstance(suite, Suite) else get_suite(suite)
    if not envs:
        return base, list(base.envs)
    if all(e in base.envs for e in envs):
        return base, list(envs)
    # other envs than the suite's: the suite's tasks and the kwargs of the same env at the suite's
    # version, else those every env of the suite shares (its split), but not the suite's results
    unversioned = {re.sub(r"-v\d+$", "", k): v for k, v in base.envs.items()}
    first, *rest = list(base.envs.values()) or [{}]
    shared = {k: v for k, v in first.items() if all(k in o and _plain(o[k]) == _plain(v) for o in rest)}
    kwargs = {e: base.envs.get(e, unversioned.get(re.sub(r"-v\d+$", "", e), shared)) for e in envs}
    return Suite(CUSTOM, None, kwargs, base.task_ids, f"{base.label}'s tasks on other envs"), list(envs)


def run(
    agents: Sequence[str | AgentSpec],
    envs: Sequence[str] | None = None,
    *,
    suite: str | Suite | None = None,
    tasks: Sequence[str] | None = None,
    episodes: int | None = None,
    seeds: Iterable[int] = (0,),
    env_kwargs: dict[str, Any] | None = None,
    coder: str | None = None,
    workers: int = 1,
    out: str | Path = "bench_results",
    trajectories: bool = True,
    progress: bool = True,
    reps: int = 2000,
    minari: str | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Benchmark ``agents`` and return the results (also written to ``out/results.json``).

    Args:
        agents: Agent specs (``baseline:random``, a run folder, ``module:factory``, each optionally
            ``LABEL=SPEC``; see :mod:`benchmarks.harness.agents`) or parsed :class:`AgentSpec`.
        envs: Env ids (any registered id); default: the suite's.
        suite: A published suite name (see ``suites.json``); fixes env kwargs and tasks.
        tasks: Task ids every env cycles through (default: the suite's, else each env's own pool).
        episodes: Episodes per agent, env and seed (default: one per task, else 10).
        seeds: Run seeds; episode ``i`` of seed ``s`` resets with seed ``s * 1_000_003 + i``.
        env_kwargs: Extra env keyword arguments (e.g. ``{"coder": "scripted"}``).
        coder: Shorthand for the ``coder`` env kwarg; ``"shaped"`` is the scripted test double with the
            three Executive episode shapes (agents.shapes).
        workers: Processes running episodes (1: in this process).
        out: Output folder; a folder holding a run resumes it.
        trajectories: Save step arrays per episode (needed for the Minari export).
        progress: Show a progress bar.
        reps: Bootstrap replications for the leaderboard's confidence intervals.
        minari: Export the run as Minari datasets under this namespace when it finishes.
        command: The command line, recorded in the result file.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise UsageError("--seeds: give at least one seed, e.g. 0,1,2")
    if episodes is not None and episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    specs = [a if isinstance(a, AgentSpec) else parse_agent(a) for a in agents]
    if not specs:
        raise UsageError("give at least one --agent (baseline:random, a run folder, or module:factory)")
    for spec in specs:
        check_agent(spec)
    the_suite, env_ids = _resolve_suite(suite, envs)
    plans = plan_envs(env_ids, the_suite, env_kwargs, tasks, coder)

    from benchmarks.harness.episode import EpisodeJob

    out = Path(out)
    traj_dir = out / "trajectories"
    jobs: list[EpisodeJob] = []
    for spec in specs:
        for plan in plans:
            n = episodes or (len(plan.task_ids) if plan.task_ids else DEFAULT_EPISODES)
            for seed in seeds:
                for i in range(n):
                    task_id = plan.task_ids[i % len(plan.task_ids)] if plan.task_ids else None
                    key = _key(spec, plan, seed, i, task_id)
                    jobs.append(EpisodeJob(
                        key=key, agent=spec, env_id=plan.env_id, env_kwargs=plan.kwargs, seed=seed, episode=i,
                        episode_seed=seed * 1_000_003 + i, task_id=task_id,
                        trajectory=str(traj_dir / f"{key}.npz") if trajectories else None))
    out.mkdir(parents=True, exist_ok=True)
    header = {
        "format": RESULTS_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suite": the_suite.to_dict(), "agents": [s.to_dict() for s in specs],
        "envs": {p.env_id: p.to_dict() for p in plans}, "seeds": seeds, "episodes_per_seed": episodes,
        "packages": _packages(), "python": sys.version.split()[0], "platform": platform.platform(),
        "command": list(command) if command is not None else None,
    }
    (out / "run.json").write_text(json.dumps(header, indent=1))
    log = out / "episodes.jsonl"
    done = read_episodes(log)
    pending = [j for j in jobs if j.key not in done or (trajectories and not (traj_dir / f"{j.key}.npz").exists())]
    if progress and len(pending) < len(jobs):
        print(f"promptgym bench: resuming {out}: {len(jobs) - len(pending)} of {len(jobs)} episodes already done",
              file=sys.stderr)
    _execute(pending, log, done, workers, progress, total=len(jobs))
    results = {"header": header, "episodes": [done[j.key] for j in jobs]}
    (out / "results.json").write_text(json.dumps(results, indent=1))

    from benchmarks.harness.leaderboard import write_leaderboard

    write_leaderboard([results], out / "leaderboard", reps=reps)
    if minari:
        from benchmarks.harness.minari_export import export

        export(out, minari)
    return results


def _execute(jobs: list[Any], log: Path, done: dict[str, dict[str, Any]], workers: int, progress: bool,
             total: int) -> None:
    """Run ``jobs``; each finished episode is appended to ``log`` and ``done`` as it ends."""
    from tqdm import tqdm

    from benchmarks.harness.episode import close_worker_state, run_episode

    bar = tqdm(total=total, initial=total - len(jobs), unit="episode", desc="bench", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)

    def keep(rec: dict[str, Any]) -> None:
        with open(log, "a") as fh:  # one line per episode, flushed at once: a kill loses at most one
            fh.write(json.dumps(rec) + "\n")
        done[rec["key"]] = rec
        bar.set_postfix_str(f"{rec['agent'][:24]} {rec['env_id']} success={int(rec['success'])}", refresh=False)
        bar.update(1)

    try:
        if workers == 1 or len(jobs) <= 1:
            try:
                for job in jobs:
                    keep(run_episode(job))
            finally:
                close_worker_state()
        else:
            _parallel(jobs, keep, workers)
    except KeyboardInterrupt as exc:
        bar.close()
        raise BenchInterrupted(f"interrupted: {sum(1 for _ in done)} of {total} episodes saved in {log}; "
                               "run the same command again to resume") from exc
    bar.close()


def _parallel(jobs: list[Any], keep: Any, workers: int) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from benchmarks.harness.episode import run_episode

    # spawn, not fork: the parent may hold threads (tqdm, torch) and a forked sandbox pool is not ours
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"))
    try:
        futures = {pool.submit(run_episode, job): job for job in jobs}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = futures[fut]
                exc = fut.exception()
                if exc is not None:
                    raise RuntimeError(f"episode {job.episode} (seed {job.seed}) of {job.agent.label} on "
                                       f"{job.env_id} failed: {type(exc).__name__}: {exc}") from exc
                keep(fut.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
