"""Custom tasks from a JSONL file, one task per line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from promptgym.tasks._parse import entry_point_of
from promptgym.tasks.task import Task

REQUIRED = ("task_id", "prompt", "tests")


def load_jsonl(path: str | os.PathLike[str], dataset: str | None = None) -> list[Task]:
    """Load tasks from JSONL with keys task_id, prompt, tests and optional entry_point, setup, reference, split."""
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
        missing = [k for k in REQUIRED if k not in rec]
        if missing:
            raise ValueError(f"{file}:{lineno}: missing key(s) {', '.join(missing)}; each line needs {REQUIRED}")
        tests = rec["tests"]
        if isinstance(tests, str) or not all(isinstance(t, str) for t in tests) or not tests:
            raise ValueError(f"{file}:{lineno}: 'tests' must be a non-empty list of code strings")
        reference = rec.get("reference", "")
        tasks.append(
            Task(
                task_id=str(rec["task_id"]),
                prompt=rec["prompt"],
                entry_point=rec.get("entry_point") or entry_point_of(tests, reference),
                tests=tuple(tests),
                setup=rec.get("setup", ""),
                reference=reference,
                dataset=dataset or file.stem,
                split=rec.get("split", "test"),
            )
        )
    return tasks
