"""Merge result files of several agents and runs into one leaderboard (Markdown and CSV).

Results are grouped by suite, suite version and coder (``mbpp-core@1.0.0, coder llama_cpp``;
``custom`` for runs without a published suite): only results of the same group are ranked together. Within a group, agents are
ranked by the interquartile mean of success over (run x task) scores, with rliable's stratified
bootstrap 95% interval.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptgym.error import UsageError

__all__ = ["LeaderboardRow", "group_episodes", "leaderboard", "load_results", "write_leaderboard"]

ALL_ENVS = "all envs"


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Result dicts from ``results.json`` files or the run folders holding them."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise UsageError(f"{p}: no results.json (give a promptgym bench output folder or its results.json)")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not JSON ({exc})") from exc
        if not isinstance(data, dict) or "episodes" not in data or "header" not in data:
            raise UsageError(f"{path}: not a promptgym bench result file (no header/episodes)")
        data["_path"] = str(path)
        out.append(data)
    return out


def coder_label(header: dict[str, Any]) -> str:
    """The coder a result file's envs used, in short (``scripted``, ``scripted:shaped``, ``llama_cpp``...)."""
    names = []
    for plan in header.get("envs", {}).values():
        coder = (plan.get("settings") or {}).get("coder", "?")
        if isinstance(coder, dict):
            name = str(coder.get("backend", "llama_cpp"))
            coder = f"{name}:shaped" if "programs" in coder else name
        names.append(str(coder))
    return "+".join(dict.fromkeys(names)) or "?"


def suite_label(header: dict[str, Any]) -> str:
    """``name@version, coder C`` of a result file: only results of the same suite version and coder compare."""
    suite = header.get("suite") or {}
    name, version = suite.get("name", "custom"), suite.get("version")
    return (name if version is None else f"{name}@{version}") + f", coder {coder_label(header)}"


def group_episodes(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Episodes of every result file by suite label; an episode key seen twice counts once."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for res in results:
        label = suite_label(res["header"])
        for ep in res["episodes"]:
            if ep["key"] in seen:
                continue
            seen.add(ep["key"])
            groups[label].append(ep)
    return dict(groups)


def _mean(values: Sequence[Any]) -> float:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


@dataclass
class LeaderboardRow:
    """One agent's line in one suite group and scope (one env, or all envs of the group)."""

    suite: str
    scope: str
    agent: str
    runs: int
    episodes: int
    success_iqm: float = float("nan")
    success_iqm_low: float = float("nan")
    success_iqm_high: float = float("nan")
    success_mean: float = float("nan")
    pass_at_1: float = float("nan")
    return_mean: float = float("nan")
    llm_calls: float = float("nan")
    tokens: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


def leaderboard(results: Sequence[dict[str, Any]], reps: int = 2000, seed: int = 0) -> list[LeaderboardRow]:
    """Rows per suite group, scope (each env, then all envs) and agent, best IQM first within a scope."""
    from benchmarks.harness.stats import aggregate_intervals, score_table, shared_envs

    rows: list[LeaderboardRow] = []
    for suite, episodes in group_episodes(results).items():
        envs = sorted({ep["env_id"] for ep in episodes})
        scopes = [(env, [ep for ep in episodes if ep["env_id"] == env]) for env in envs]
        if len(envs) > 1 and not shared_envs(episodes)[1]:  # only when every agent ran every env
            scopes.append((ALL_ENVS, episodes))
        for scope, eps in scopes:
            table = score_table(eps, "success")
            points, intervals = (aggregate_intervals(table.scores, ("IQM",), reps=reps, seed=seed)
                                 if table.scores else ({}, {}))
            by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for ep in eps:
                by_agent[ep["agent"]].append(ep)
            scope_rows = []
            for agent, a_eps in by_agent.items():
                row = LeaderboardRow(
                    suite=suite, scope=scope, agent=agent,
                    runs=len({(ep.get("agent_spec"), ep["seed"]) for ep in a_eps}), episodes=len(a_eps),
                    success_mean=_mean([ep["success"] for ep in a_eps]),
                    pass_at_1=_mean([ep.get("pass_at_1") for ep in a_eps]),
                    return_mean=_mean([ep["return"] for ep in a_eps]),
                    llm_calls=_mean([ep.get("llm_calls") for ep in a_eps]),
                    tokens=_mean([ep.get("tokens") for ep in a_eps]))
                if agent in points:
                    row.success_iqm = float(points[agent][0])
                    row.success_iqm_low, row.success_iqm_high = (float(x) for x in intervals[agent][:, 0])
                if table.note:
                    row.extra["note"] = table.note
                scope_rows.append(row)
            scope_rows.sort(key=lambda r: (-_nan_low(r.success_iqm), -_nan_low(r.success_mean), r.agent))
            rows.extend(scope_rows)
    return rows


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _fmt(x: float, digits: int = 3) -> str:
    """Fixed decimals; whole numbers with thousands separators from 1,000 up (token counts), never ``1e+03``."""
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def to_markdown(rows: Sequence[LeaderboardRow], heading_level: int = 2) -> str:
    """Markdown tables: one per suite group and scope."""
    lines: list[str] = []
    hashes = "#" * heading_level
    current = None
    for row in rows:
        if (row.suite, row.scope) != current:
            current = (row.suite, row.scope)
            if lines:
                lines.append("")
            lines += [f"{hashes} {row.suite} — {row.scope}", "",
                      ("| rank | agent | success IQM [95% CI] | success mean | pass@1 | return | LLM calls/ep "
                      "| tokens/ep | runs | episodes |"),
                      "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
            rank = 0
            note = row.extra.get("note")
            if note:
                lines.insert(len(lines) - 2, f"_{note}_\n")
        rank += 1
        ci = ("n/a" if math.isnan(row.success_iqm) else
              f"{row.success_iqm:.3f} [{row.success_iqm_low:.3f}, {row.success_iqm_high:.3f}]")
        lines.append(f"| {rank} | {row.agent} | {ci} | {_fmt(row.success_mean)} | {_fmt(row.pass_at_1)} | "
                     f"{_fmt(row.return_mean)} | {_fmt(row.llm_calls, 2)} | {_fmt(row.tokens, 1)} | {row.runs} | "
                     f"{row.episodes} |")
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("suite", "scope", "rank", "agent", "success_iqm", "success_iqm_low", "success_iqm_high", "success_mean",
              "pass_at_1", "return_mean", "llm_calls", "tokens", "runs", "episodes")


def write_leaderboard(results: Sequence[dict[str, Any]], stem: str | Path, reps: int = 2000,
                      seed: int = 0) -> list[LeaderboardRow]:
    """Write ``<stem>.md`` and ``<stem>.csv``; return the rows."""
    rows = leaderboard(results, reps=reps, seed=seed)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(to_markdown(rows))
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        rank, current = 0, None
        for row in rows:
            rank = rank + 1 if (row.suite, row.scope) == current else 1
            current = (row.suite, row.scope)
            writer.writerow({k: ("" if isinstance(v := getattr(row, k, rank), float) and math.isnan(v) else v)
                             for k in CSV_FIELDS} | {"rank": rank})
    return rows
