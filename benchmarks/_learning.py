"""What the learning benchmarks share: table rows with CIs, the table files, and what a policy does."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any


def row(agent: str, seed: object, rep: Any, seconds: float) -> dict[str, object]:
    """One table row: hidden-test success and first-program pass@1 kept apart, with 95% CIs."""
    m = rep.metrics

    def fmt(key: str) -> str:
        return f"{m[key].mean:.2f} [{m[key].low:.2f}, {m[key].high:.2f}]"

    return {"agent": agent, "seed": seed, "success_rate": fmt("success_rate"),
            "pass_at_1_first": fmt("pass_at_1_first"), "return": fmt("return"),
            "episode_length": f"{m['episode_length'].mean:.1f}", "llm_calls": fmt("llm_calls"),
            "tokens": f"{m['tokens'].mean:.0f}", "train_seconds": f"{seconds:.0f}"}


def markdown_table(rows: list[dict[str, object]]) -> str:
    """Rows (same keys) as a Markdown table."""
    header = "| " + " | ".join(map(str, rows[0])) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return header + "".join("| " + " | ".join(str(v) for v in r.values()) + " |\n" for r in rows)


def write_tables(out: Path, rows: list[dict[str, object]], note: str) -> str:
    """``table.csv`` and ``table.md`` (the note, then the table) under ``out``; the Markdown text."""
    with open(out / "table.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = note + markdown_table(rows)
    (out / "table.md").write_text(text)
    return text


def behaviour(rep: Any, action_names: tuple[str, ...], top: int = 4) -> list[dict[str, object]]:
    """What an agent did: its most frequent action sequences, each with its share and hidden-test success."""
    counts: Counter[tuple[int, ...]] = Counter()
    solved: Counter[tuple[int, ...]] = Counter()
    for r in rep.per_episode:
        seq = tuple(r.get("actions", ()))
        counts[seq] += 1
        solved[seq] += int(bool(r.get("success_rate")))
    n = max(len(rep.per_episode), 1)
    return [{"sequence": " ".join(action_names[a] for a in seq), "share": f"{c / n:.2f}",
             "success": f"{solved[seq] / c:.2f}"} for seq, c in counts.most_common(top)]
