"""Statistics the way rliable recommends (Agarwal et al., 2021), computed with ``rliable`` itself.

Scores are arranged as rliable expects: one ``(runs x tasks)`` matrix per agent, where a run is
one (agent spec, seed) and a task one (env id, task id); a cell is the mean over that run's
episodes of the task (success on the env's judge, i.e. hidden tests for v1 envs, is in [0, 1]).
From them: interquartile mean, mean, median and optimality gap with stratified bootstrap
confidence intervals, performance profiles, and the probability of improvement between agents.

rliable draws its bootstrap samples from NumPy's global generator; each function here seeds it
(``seed``) and puts the caller's state back, so the same call gives the same interval.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AGGREGATES",
    "ScoreTable",
    "aggregate_intervals",
    "performance_profiles",
    "probability_of_improvement",
    "score_table",
    "shared_envs",
]

AGGREGATES = ("IQM", "Mean", "Median", "Optimality Gap")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded with ``seed`` inside, the caller's state restored after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass
class ScoreTable:
    """rliable's input: ``scores[agent]`` is a ``(runs, tasks)`` matrix over the common ``tasks``.

    Attributes:
        scores: Agent label -> matrix.
        tasks: Column names (``env_id task_id``, or ``env_id`` when collapsed).
        runs: Agent label -> row names (``spec seed=S``).
        note: How the table was built when it had to deviate (collapsed columns, dropped agents).
    """

    scores: dict[str, np.ndarray] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    runs: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


def score_table(episodes: Sequence[dict[str, Any]], metric: str = "success") -> ScoreTable:
    """The ``(runs x tasks)`` matrix per agent of ``metric`` (an episode record key; bools count as 0/1).

    Columns are (env, task) pairs every run of every agent has, over the envs every agent ran (the
    others are left out, noted). When runs saw different tasks (envs that draw their own), columns
    collapse to one per env.
    """
    envs, note = shared_envs(episodes)
    if note:
        episodes = [ep for ep in episodes if ep["env_id"] in envs]
    cells: dict[str, dict[tuple[str, int], dict[str, list[float]]]] = defaultdict(lambda: defaultdict(
        lambda: defaultdict(list)))
    specs: dict[str, dict[tuple[str, int], str]] = defaultdict(dict)
    for ep in episodes:
        value = ep.get(metric)
        if value is None:
            continue
        run = (ep.get("agent_spec", ep["agent"]), int(ep["seed"]))
        cells[ep["agent"]][run][f"{ep['env_id']} {ep.get('task_id')}"].append(float(value))
        specs[ep["agent"]][run] = f"{run[0]} seed={run[1]}"
    if not cells:
        return ScoreTable(note=f"no episode reports {metric!r}")
    column_sets = [set(task_cells) for runs in cells.values() for task_cells in runs.values()]
    common = set.intersection(*column_sets)
    if any(s != common for s in column_sets) or not common:
        # collapse to one column per env: the run's mean over its episodes there
        collapsed: dict[str, dict[tuple[str, int], dict[str, list[float]]]] = {}
        for agent, runs in cells.items():
            collapsed[agent] = {}
            for run, task_cells in runs.items():
                per_env: dict[str, list[float]] = defaultdict(list)
                for name, values in task_cells.items():
                    per_env[name.split(" ", 1)[0]].extend(values)
                collapsed[agent][run] = per_env
        cells = collapsed  # type: ignore[assignment]
        column_sets = [set(c) for runs in cells.values() for c in runs.values()]
        common = set.intersection(*column_sets)
        note = "; ".join(filter(None, [note, "runs saw different tasks: one column per env (a run's mean over its "
                                             "episodes there)"]))
    tasks = sorted(common)
    table = ScoreTable(tasks=tasks, note=note)
    for agent, runs in cells.items():
        rows = [run for run in sorted(runs) if set(runs[run]) >= set(tasks)]
        if not rows or not tasks:
            continue
        table.scores[agent] = np.array([[np.mean(runs[run][t]) for t in tasks] for run in rows], dtype=float)
        table.runs[agent] = [specs[agent][run] for run in rows]
    return table


def shared_envs(episodes: Sequence[dict[str, Any]]) -> tuple[list[str], str]:
    """The envs every agent ran, and a note naming what is left out when some agent skipped an env."""
    by_agent: dict[str, set[str]] = defaultdict(set)
    for ep in episodes:
        by_agent[ep["agent"]].add(ep["env_id"])
    every = set.union(*by_agent.values()) if by_agent else set()
    shared = set.intersection(*by_agent.values()) if by_agent else set()
    left = sorted(every - shared)
    if not left:
        return sorted(shared), ""
    who = sorted(a for a, envs in by_agent.items() if not envs >= every)
    return sorted(shared), (f"compared on the envs every agent ran ({', '.join(sorted(shared)) or 'none'}); left "
                            f"out: {', '.join(left)}, which {', '.join(who)} did not run")


def _aggregate_func(names: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    from rliable import metrics

    fns = {"IQM": metrics.aggregate_iqm, "Mean": metrics.aggregate_mean, "Median": metrics.aggregate_median,
           "Optimality Gap": metrics.aggregate_optimality_gap}
    chosen = [fns[n] for n in names]
    return lambda x: np.array([f(x) for f in chosen])


def aggregate_intervals(
    scores: dict[str, np.ndarray], aggregates: Sequence[str] = AGGREGATES, reps: int = 2000, seed: int = 0,
    confidence: float = 0.95,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's ``get_interval_estimates`` (stratified bootstrap over runs, percentile CIs).

    Returns:
        (point estimates, intervals): per agent an array of one value per aggregate, and a ``(2, n)``
        array of lower and upper bounds.
    """
    from rliable import library as rly

    with seeded(seed):
        return rly.get_interval_estimates(scores, _aggregate_func(aggregates), reps=reps,
                                          confidence_interval_size=confidence)


def performance_profiles(
    scores: dict[str, np.ndarray], taus: np.ndarray | None = None, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's score-distribution performance profiles: (taus, profiles, their 95% CIs)."""
    from rliable import library as rly

    taus = np.linspace(0.0, 1.0, 21) if taus is None else np.asarray(taus, dtype=float)
    with seeded(seed):
        profiles, cis = rly.create_performance_profile(scores, taus, reps=reps)
    return taus, profiles, cis


def probability_of_improvement(
    scores: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]] | None = None, reps: int = 2000, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """P(X > Y) for each pair ``(X, Y)`` (default: every ordered pair), with stratified independent bootstrap CIs.

    Returns:
        (point estimates, intervals) keyed ``"X,Y"``, as rliable's plot expects.
    """
    from rliable import library as rly
    from rliable import metrics

    pairs = list(pairs) if pairs is not None else list(itertools.permutations(sorted(scores), 2))
    data = {f"{x},{y}": (scores[x], scores[y]) for x, y in pairs}
    with seeded(seed):
        return rly.get_interval_estimates(
            data, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps=reps)
