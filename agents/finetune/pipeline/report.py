"""The before/after report of ``test_after``: both evaluations' summaries, their differences, the tasks that changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["compare", "report_markdown"]


def compare(before: dict[str, Any], after: dict[str, Any], before_tasks: Sequence[dict[str, Any]],
            after_tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The before/after report: both summaries, their differences, and the tasks that changed."""
    metrics = [k for k in before if isinstance(before[k], (int, float)) and k in after and k not in ("n", "n_tasks")]
    passed = {t["task_id"]: sum(c["status"] == "passed" for c in t["candidates"]) for t in before_tasks}
    changed = [{"task_id": t["task_id"], "before": passed.get(t["task_id"]),
                "after": sum(c["status"] == "passed" for c in t["candidates"])} for t in after_tasks]
    return {"before": before, "after": after, "delta": {k: round(after[k] - before[k], 6) for k in metrics},
            "changed_tasks": [c for c in changed if c["before"] != c["after"]]}


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    b, a = report["before"], report["after"]
    lines = ["# Offline DPO: before/after", "", f"- before: `{b['model']}`", f"- after: `{a['model']}`",
             f"- held-out tasks: {a['n_tasks']}, samples per task: {a['n']}, judged on hidden tests", "",
             "| metric | before | after | delta |", "|---|---|---|---|"]
    lines += [f"| {k} | {b[k]:.3f} | {a[k]:.3f} | {v:+.3f} |" for k, v in report["delta"].items()]
    if report["changed_tasks"]:
        lines += ["", "| task | passed before | passed after |", "|---|---|---|"]
        lines += [f"| {c['task_id']} | {c['before']} | {c['after']} |" for c in report["changed_tasks"]]
    return "\n".join(lines) + "\n"
