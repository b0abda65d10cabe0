"""Custom tasks from a JSONL file, one task per line.

The test split: a line may give ``visible_tests`` (what an agent may run; ``[]`` for none) and
``hidden_tests`` (what judges). Left out, the first of ``tests`` is visible and all of ``tests``
judge. ``tests`` may itself be left out when ``hidden_tests`` is given (it then is the hidden set).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from promptgym.tasks._parse import entry_point_of
from promptgym.tasks.task import Task

REQUIRED = ("task_id", "prompt")


def load_jsonl(path: str | os.PathLike[str], dataset: str | None = None) -> list[Task]:
    """Load tasks from JSONL with keys task_id, prompt, tests and optional entry_point, setup, reference, split,
    visible_tests, hidden_tests (see the module docstring for the split)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Task file not found: {file}")
    tasks: list[Task] = []
    for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{file}:{lineno}: not valid JSON ({e.msg})") from e
        missing = [k for k in REQUIRED if k not in rec] + ([] if "tests" in rec or "hidden_tests" in rec else ["tests"])
        if missing:
            raise ValueError(f"{file}:{lineno}: missing key(s) {', '.join(missing)}; each line needs task_id, prompt "
                             "and tests (or hidden_tests)")
        tests = _snippets(rec.get("tests", rec.get("hidden_tests")), "tests", f"{file}:{lineno}")
        hidden = _snippets(rec["hidden_tests"], "hidden_tests", f"{file}:{lineno}") if "hidden_tests" in rec else None
        visible = (_snippets(rec["visible_tests"], "visible_tests", f"{file}:{lineno}", empty_ok=True)
                   if "visible_tests" in rec else None)
        reference = rec.get("reference", "")
        tasks.append(
            Task(
                task_id=str(rec["task_id"]),
                prompt=rec["prompt"],
                entry_point=rec.get("entry_point") or entry_point_of(tests, reference),
                tests=tests,
                setup=rec.get("setup", ""),
                reference=reference,
                dataset=dataset or file.stem,
                split=rec.get("split", "test"),
                visible_tests=visible,
                hidden_tests=hidden,
            )
        )
    return tasks


def _snippets(value: object, key: str, where: str, empty_ok: bool = False) -> tuple[str, ...]:
    """``value`` as a tuple of code strings; ValueError naming the line and key otherwise."""
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(t, str) for t in value) or (
            not value and not empty_ok):
        raise ValueError(f"{where}: '{key}' must be a {'' if empty_ok else 'non-empty '}list of code strings")
    return tuple(value)
