"""``promptgym report RESULTS...``: one Markdown page with plots from ``promptgym bench`` results.

Sections: the runs (suite, versions, coder and sandbox settings), the leaderboard, rliable's
aggregates, performance profiles and probabilities of improvement, per-task difficulty, failure
classes, candidate diversity, the pass@1 / pass-within-N-edits split and text similarity of the
final programs to the references (BLEU, CodeBLEU, ROUGE, BERTScore where its model is available,
MiniLM). PNGs are written beside the page, named after it.

    promptgym report runs/bench runs/bench-ppo --out docs/benchmark_report.md
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.episode import FAILURE_CLASSES
from benchmarks.harness.leaderboard import ALL_ENVS, group_episodes, leaderboard, load_results, to_markdown
from promptgym.error import UsageError

__all__ = ["main", "write_report"]

EDIT_BUCKETS = ("pass@1 (first program)", "after 1 edit", "after 2 edits", "after 3+ edits", "failed")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(point: Any, interval: Any) -> str:
    """``p [low, high]`` from rliable's point estimate and ``(2, 1)`` interval."""
    low, high = np.asarray(interval, dtype=float).reshape(2, -1)[:, 0]
    return f"{float(np.asarray(point).reshape(-1)[0]):.3f} [{low:.3f}, {high:.3f}]"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> list[str]:
    align = align or "|".join("---" if i == 0 else "---:" for i in range(len(head)))
    return ["| " + " | ".join(head) + " |", "|" + align + "|",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


class _Page:
    """The Markdown lines and the PNGs beside them."""

    def __init__(self, out: Path) -> None:
        self.out, self.lines = out, []
        self.images: list[Path] = []

    def png(self, name: str) -> Path:
        path = self.out.parent / f"{self.out.stem}_{_slug(name)}.png"
        self.images.append(path)
        return path

    def image(self, path: Path, alt: str) -> None:
        self.lines += [f"![{alt}]({path.name})", ""]


def _runs_section(page: _Page, results: list[dict[str, Any]], command: str | None) -> None:
    page.lines += ["## The runs", ""]
    import shlex

    made = [shlex.join(res["header"]["command"]) for res in results if res["header"].get("command")]
    if command:
        made.append(command)
    if made:
        page.lines += ["Made with:", "", "```bash", *made, "```", ""]
    rows = []
    for res in results:
        h = res["header"]
        suite = h["suite"]
        for env_id, plan in h["envs"].items():
            s = plan.get("settings", {})
            coder = s.get("coder")
            coder = coder.get("backend", "?") + " (" + ", ".join(f"{k}={v}" for k, v in coder.items()
                                                                 if k != "backend") + ")" if isinstance(coder, dict) \
                else coder
            rows.append([f"`{Path(res['_path']).parent.name}`",
                         suite["name"] + (f" {suite['version']}" if suite.get("version") else ""), env_id,
                         ", ".join(a["label"] for a in h["agents"]), ",".join(map(str, h["seeds"])),
                         len(plan.get("task_ids") or []) or "env's own", f"`{coder}`",
                         f"{s.get('sandbox', '?')}, timeout {s.get('timeout', '?')} s", s.get("feedback", "n/a"),
                         s.get("embedder", "n/a")])
    page.lines += _table(["result", "suite", "env", "agents", "seeds", "tasks", "coder", "sandbox", "feedback",
                          "embedder"], rows, "---|---|---|---|---|---:|---|---|---|---")
    from benchmarks.harness.leaderboard import coder_label

    for coder in dict.fromkeys(coder_label(res["header"]) for res in results):
        if coder.startswith("scripted"):
            page.lines += [f"**Coder `{coder}`: the scripted test double, not an LLM.** Its programs are each task's "
                           "reference or a deliberately broken stub" + (" in three scripted episode shapes (passes "
                           "at once; needs one DEBUG; needs SEARCH, then DEBUG: `agents/shapes.py`)" if "shaped" in
                           coder else "") + ", so success here measures how an agent drives the episode, not how "
                           "well code is generated.", ""]
        else:
            page.lines += [f"Coder `{coder}`: programs written by that LLM backend.", ""]
    versions = sorted({(k, v) for res in results for k, v in res["header"].get("packages", {}).items() if v})
    page.lines += ["Package versions: " + ", ".join(f"{k} {v}" for k, v in versions) + ".", ""]


def _rliable_section(page: _Page, episodes: list[dict[str, Any]], suite: str, order: list[str], reps: int,
                     seed: int) -> None:
    from benchmarks.harness import plots, stats

    table = stats.score_table(episodes, "success")
    if not table.scores:
        page.lines += [f"_No scores for rliable: {table.note}_", ""]
        return
    page.lines += [f"Scores: {len(table.tasks)} tasks x runs (a run = one agent spec and seed); "
                   f"{reps} bootstrap replications, 95% CIs." + (f" _{table.note}_" if table.note else ""), ""]
    points, intervals = stats.aggregate_intervals(table.scores, stats.AGGREGATES, reps=reps, seed=seed)
    rows = [[agent, *(f"{points[agent][i]:.3f} [{intervals[agent][0, i]:.3f}, {intervals[agent][1, i]:.3f}]"
                      for i in range(len(stats.AGGREGATES))), len(table.runs[agent])]
            for agent in order if agent in points]
    page.lines += _table(["agent", *stats.AGGREGATES, "runs"], rows)
    page.image(plots.interval_plot(points, intervals, stats.AGGREGATES, page.png(f"{suite} aggregates")),
               "IQM, mean, median and optimality gap with 95% CIs")
    taus, profiles, cis = stats.performance_profiles(table.scores, reps=reps, seed=seed)
    page.image(plots.profile_plot(taus, profiles, cis, page.png(f"{suite} performance profile")),
               "performance profiles")
    agents = [a for a in order if a in table.scores]
    if len(agents) >= 2:
        pairs = [(x, y) for i, x in enumerate(agents) for y in agents[i + 1:]]
        p_points, p_intervals = stats.probability_of_improvement(table.scores, pairs, reps=reps, seed=seed)
        page.lines += _table(["X", "Y", "P(X > Y) [95% CI]"],
                             [[x, y, _ci(p_points[f"{x},{y}"], p_intervals[f"{x},{y}"])] for x, y in pairs],
                             "---|---|---:")
        page.image(plots.poi_plot(p_points, p_intervals, page.png(f"{suite} probability of improvement")),
                   "probability of improvement")


def _difficulty_section(page: _Page, episodes: list[dict[str, Any]], suite: str, order: list[str]) -> None:
    from benchmarks.harness import plots

    cells: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for ep in episodes:
        cells[(ep["env_id"], str(ep.get("task_id")))][ep["agent"]].append(bool(ep["success"]))
    tasks = sorted(cells, key=lambda t: (np.mean([v for a in cells[t].values() for v in a]), t))
    rate = np.array([[np.mean(cells[t][a]) if cells[t].get(a) else np.nan for t in tasks] for a in order])
    overall = [float(np.mean([v for a in cells[t].values() for v in a])) for t in tasks]
    buckets = Counter("unsolved" if r == 0 else "always solved" if r == 1 else "sometimes" for r in overall)
    page.lines += [(f"{len(tasks)} (env, task) pairs: {buckets['unsolved']} never solved, {buckets['sometimes']} "
                   f"sometimes, {buckets['always solved']} always solved by every agent and run. Hardest first:"), ""]
    rows = [[f"{env} {task}", _f(o, 2), *(_f(rate[i, j], 2) for i in range(len(order)))]
            for j, ((env, task), o) in enumerate(zip(tasks, overall))]
    page.lines += _table(["task", "all agents", *order], rows[:40])
    if len(rows) > 40:
        page.lines += [f"_{len(rows) - 40} easier tasks left out of the table; all are in the figure._", ""]
    cols = [f"{t[1]} ({t[0].split('-')[0]})" for t in tasks]
    page.image(plots.heatmap(order, cols, rate, page.png(f"{suite} task difficulty"), "pass rate by task"),
               "pass rate per agent and task")


def _by_agent_env(episodes: list[dict[str, Any]], order: list[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ep in episodes:
        groups[(ep["agent"], ep["env_id"])].append(ep)
    keys = sorted(groups, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[1]))
    return [(f"{a} / {e}", groups[(a, e)]) for a, e in keys]


def _failure_section(page: _Page, episodes: list[dict[str, Any]], suite: str, order: list[str]) -> None:
    from benchmarks.harness import plots

    rows, values = [], []
    for name, eps in _by_agent_env(episodes, order):
        counts = Counter(ep.get("failure_class") for ep in eps if not ep["success"])
        values.append([counts.get(c, 0) / len(eps) for c in FAILURE_CLASSES])
        rows.append([name, len(eps), *(counts.get(c, 0) for c in FAILURE_CLASSES), sum(counts.values())])
    page.lines += [("Why the final program of a failed episode failed, judged again on the env's judging tests: "
                   "`extraction` (no code, or the entry point is not defined), `syntax`, `assertion` (every failing "
                   "test failed an assert), `exception`, `timeout` (also memory and kill limits)."), ""]
    page.lines += _table(["agent / env", "episodes", *FAILURE_CLASSES, "failed"], rows)
    page.image(plots.bar_stack([r[0] for r in rows], FAILURE_CLASSES, np.array(values),
                               page.png(f"{suite} failure classes"), "fraction of episodes", "failure classes"),
               "failure classes")


def _diversity_section(page: _Page, episodes: list[dict[str, Any]], order: list[str]) -> None:
    rows = []
    for name, eps in _by_agent_env(episodes, order):
        progs = [ep.get("programs", 0) for ep in eps]
        dups = [ep.get("ast_duplicates", 0) for ep in eps]
        rows.append([name, len(eps), _f(float(np.mean(progs)), 2), max(progs) if progs else 0, sum(dups),
                     _f(sum(dups) / max(1, sum(progs)), 3)])
    page.lines += [("Distinct programs an episode produced (by text), and how many of them were AST duplicates of "
                   "another (same syntax tree: they differ only in layout or comments)."), ""]
    page.lines += _table(["agent / env", "episodes", "distinct programs / episode", "max", "AST duplicates",
                          "duplicate share"], rows)


def _edits_section(page: _Page, episodes: list[dict[str, Any]], suite: str, order: list[str]) -> None:
    from benchmarks.harness import plots

    rows, values = [], []
    for name, eps in _by_agent_env(episodes, order):
        counts = Counter()
        for ep in eps:
            e = ep.get("edits_to_pass")
            if not ep["success"] or e is None:
                counts[EDIT_BUCKETS[4] if not ep["success"] else EDIT_BUCKETS[3]] += 1
            else:
                counts[EDIT_BUCKETS[min(int(e), 3)]] += 1
        values.append([counts[b] / len(eps) for b in EDIT_BUCKETS])
        p1 = [ep["pass_at_1"] for ep in eps if ep.get("pass_at_1") is not None]
        rows.append([name, len(eps), *(_f(counts[b] / len(eps), 2) for b in EDIT_BUCKETS),
                     _f(float(np.mean(p1)) if p1 else float("nan"), 2)])
    page.lines += [("Successful episodes by how many program changes (edits: a repair, a regeneration, a prompt edit "
                   "that changed the program) came before the final, passing program. `info pass@1` is the env's own "
                   "`pass_at_1`: the episode's first program passes the judging tests."), ""]
    page.lines += _table(["agent / env", "episodes", *EDIT_BUCKETS, "info pass@1"], rows)
    page.image(plots.bar_stack([r[0] for r in rows], EDIT_BUCKETS, np.array(values),
                               page.png(f"{suite} pass within edits"), "fraction of episodes",
                               "pass@1 and pass within N edits"), "pass@1 / pass within N edits")


def _text_section(page: _Page, episodes: list[dict[str, Any]], order: list[str], metrics: Sequence[str],
                  bertscore_model: str | None, bertscore_layers: int | None) -> None:
    from evaluators.text_metrics import COLUMNS, score_texts

    pairs = [(name, ep) for name, eps in _by_agent_env(episodes, order) for ep in eps
             if ep.get("reference") and ep.get("final_code")]
    if not pairs or not metrics:
        page.lines += ["_No (final program, reference) pairs to compare._" if metrics else
                       "_Text metrics were not asked for._", ""]
        return
    embedder = None
    if "minilm" in metrics:
        from promptgym.embeddings import get_embedder

        embedder = get_embedder("minilm")
    scores = score_texts([ep["final_code"] for _, ep in pairs], [ep["reference"] for _, ep in pairs], metrics,
                         embedder=embedder, bertscore_model=bertscore_model, bertscore_layers=bertscore_layers)
    cols = [c for m in metrics for c in COLUMNS[m]]
    names = list(dict.fromkeys(name for name, _ in pairs))
    rows = []
    for name in names:
        idx = [i for i, (n, _) in enumerate(pairs) if n == name]
        rows.append([name, len(idx), *("n/a" if scores[c].unavailable else _f(float(np.mean(
            [scores[c].values[i] for i in idx])), 3 if c != "bleu" else 1) for c in cols)])
    page.lines += [("Final program against the task's reference solution, mean over episodes that produced code: "
                   "BLEU (sacrebleu, 0-100), CodeBLEU (codebleu), ROUGE F1 (rouge-score), BERTScore F1 (bert-score), "
                   "MiniLM cosine similarity (promptgym's offline all-MiniLM-L6-v2). Closeness to one reference is "
                   "not correctness; read it beside the failure classes."), ""]
    page.lines += _table(["agent / env", "pairs", *cols], rows)
    missing = {c: scores[c].unavailable for c in cols if scores[c].unavailable}
    for c, why in missing.items():
        page.lines += [f"- {c}: {why}"]
    if missing:
        page.lines.append("")


def write_report(
    paths: Sequence[str | Path],
    out: str | Path = "benchmark_report.md",
    title: str = "promptgym benchmark report",
    reps: int = 2000,
    seed: int = 0,
    text_metrics: Sequence[str] = ("bleu", "codebleu", "rouge", "bertscore", "minilm"),
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    command: str | None = None,
    preamble: str = "",
) -> Path:
    """Write the report for the result files or run folders ``paths`` to ``out`` (PNGs beside it)."""
    results = load_results(paths)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = _Page(out)
    page.lines += [f"# {title}", "", (f"Generated {time.strftime('%Y-%m-%d')} by `promptgym report` from "
                   f"{len(results)} result file(s). Success is the env's final judgement (`info['final_passed']`: "
                   "hidden tests for the `-v1` envs, the standard tests for `-v0`)."), ""]
    if preamble:
        page.lines += [preamble.strip(), ""]
    _runs_section(page, results, command)
    rows = leaderboard(results, reps=reps, seed=seed)
    page.lines += ["## Leaderboard", "", ("Ranked by the interquartile mean (IQM) of success over (run x task) "
                   "scores with rliable's stratified bootstrap 95% CI. Return, LLM calls and tokens are means per "
                   "episode."), "", to_markdown(rows, heading_level=3)]
    runs = [a for res in results for a in res["header"]["agents"] if a["kind"] == "run"]
    page.lines += ["## Trained agents", ""]
    if runs:
        page.lines += ["Trained agents in these results: " + ", ".join(f"`{a['label']}` ({a['spec']})" for a in runs)
                       + ".", ""]
    else:
        page.lines += [("None in these results yet. Add trained agents of the learning benchmarks with "
                       "`--agent LABEL=RUN_DIR` (one `--agent` per training seed under the same label: rliable "
                       "counts them as runs) and list their result folder in the same `promptgym report` command."), ""]
    from benchmarks.harness import stats

    for suite, episodes in group_episodes(results).items():
        envs, left_out = stats.shared_envs(episodes)
        scope = ALL_ENVS if len(envs) > 1 and not left_out else ", ".join(envs)
        order = list(dict.fromkeys(r.agent for r in rows if r.suite == suite and r.scope in (scope, *envs)))
        page.lines += [f"## {suite}", "", (f"### rliable: aggregates, performance profiles, probability of improvement "
                       f"({scope})"), ""]
        _rliable_section(page, episodes, suite, order, reps, seed)
        page.lines += ["### Per-task difficulty", ""]
        _difficulty_section(page, episodes, suite, order)
        page.lines += ["### Failure classes", ""]
        _failure_section(page, episodes, suite, order)
        page.lines += ["### Candidate diversity", ""]
        _diversity_section(page, episodes, order)
        page.lines += ["### pass@1 and pass within N edits", ""]
        _edits_section(page, episodes, suite, order)
        page.lines += ["### Similarity of the final programs to the references", ""]
        _text_section(page, episodes, order, text_metrics, bertscore_model, bertscore_layers)
    out.write_text("\n".join(page.lines).rstrip() + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym report``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="promptgym report", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="promptgym bench output folders or their results.json")
    p.add_argument("--out", default="benchmark_report.md", help="the Markdown page (PNGs go beside it)")
    p.add_argument("--title", default="promptgym benchmark report")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replications")
    p.add_argument("--text-metrics", default="bleu,codebleu,rouge,bertscore,minilm",
                   help="comma-separated, or 'none' (bleu, codebleu, rouge, bertscore, minilm)")
    p.add_argument("--bertscore-model", default=None, help="a local model folder or hub id for BERTScore "
                   "(default: bert-score's roberta-large, which needs the hub)")
    p.add_argument("--bertscore-layers", type=int, default=None, help="layer for a model bert-score does not know")
    p.add_argument("--preamble", default="", help="Markdown put under the title (a file path or text)")
    ns = p.parse_args(argv)
    if ns.reps < 1:
        raise UsageError(f"--reps must be >= 1, got {ns.reps}")
    from evaluators.text_metrics import METRICS

    metrics = [] if ns.text_metrics.strip() == "none" else [m.strip() for m in ns.text_metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        from promptgym.error import did_you_mean

        raise UsageError(f"--text-metrics: unknown {bad[0]!r}.{did_you_mean(bad[0], METRICS)} "
                         f"Choices: {', '.join(METRICS)}, none")
    preamble = Path(ns.preamble).read_text() if ns.preamble and Path(ns.preamble).is_file() else ns.preamble
    out = write_report(ns.results, ns.out, ns.title, ns.reps, text_metrics=metrics,
                       bertscore_model=ns.bertscore_model, bertscore_layers=ns.bertscore_layers,
                       command=shlex.join(["promptgym", "report", *argv]), preamble=preamble)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
