"""stdin/stdout tasks (the competitive-programming form): TACO-verified, and files of the same shape.

A TACO record has ``question``, ``input_output`` (JSON: ``inputs``, ``outputs`` and, for LeetCode-
style tasks, ``fn_name``) and ``solutions``. Script tasks become test snippets that the sandbox's
trusted judge runs: ``stdio(input)`` runs the program as a script on that input and returns what it
printed, ``same_output(got, expected, mode)`` compares ("exact", "tokens": whitespace-normalised,
or "float": tokens with numbers equal within 1e-6). The comparison is chosen per task.

The test split: TACO records carry one list of cases, so the first case is visible (what an agent
may run) and every case judges (``Task``'s default for loaders without a split of their own).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from promptgym.error import DatasetNotFound
from promptgym.tasks.task import Task

TACO_HUB_ID = "likaixin/TACO-verified"
COMPARISONS = ("exact", "tokens", "float")


def stdio_test(stdin: str, expected: str, compare: str = "tokens") -> str:
    """One test snippet: run the program on ``stdin`` and compare what it prints with ``expected``."""
    if compare not in COMPARISONS:
        raise ValueError(f"compare must be one of {', '.join(COMPARISONS)}, got {compare!r}")
    return f"assert same_output(stdio({stdin!r}), {expected!r}, {compare!r})"


def _text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _comparison(outputs: list[str]) -> str:
    """Float-tolerant where an expected output holds a decimal number, else whitespace-normalised."""
    for out in outputs:
        for token in out.split():
            if "." in token:
                try:
                    float(token)
                    return "float"
                except ValueError:
                    pass
    return "tokens"


def task_from_record(rec: dict[str, Any], index: int, split: str, compare: str | None = None) -> Task:
    """One Task from a TACO-shaped record (stdin/stdout, or LeetCode-style when it names ``fn_name``)."""
    io = rec.get("input_output") or {}
    if isinstance(io, str):
        io = json.loads(io)
    inputs, outputs = io.get("inputs") or [], io.get("outputs") or []
    if not inputs or len(inputs) != len(outputs):
        raise ValueError(f"record {index}: input_output needs as many 'inputs' as 'outputs' (at least one)")
    solutions = rec.get("solutions") or []
    if isinstance(solutions, str):
        solutions = json.loads(solutions)
    fn_name = io.get("fn_name") or ""
    if fn_name:  # call-based: arguments as a list, the expected value wrapped in a one-element list
        tests = tuple(f"assert {fn_name}(*{args!r}) == {(out[0] if isinstance(out, list) and len(out) == 1 else out)!r}"
                      for args, out in zip(inputs, outputs))
    else:
        texts_out = [_text(o) for o in outputs]
        mode = compare or _comparison(texts_out)
        tests = tuple(stdio_test(_text(i), o, mode) for i, o in zip(inputs, texts_out))
    return Task(task_id=str(rec.get("task_id") or f"TACO/{index}"), prompt=str(rec.get("question", "")),
                entry_point=fn_name, tests=tests, reference=solutions[0] if solutions else "",
                dataset="taco", split=split, kind="function" if fn_name else "stdio")


def load_taco(path: str | os.PathLike[str] | None = None, split: str = "train", limit: int | None = None,
              compare: str | None = None) -> list[Task]:
    """TACO-verified tasks: from a local JSONL file of TACO records, else from the hub (needs ``datasets``)."""
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise DatasetNotFound(f"TACO file not found: {file}")
        records = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        try:
            import datasets
        except ImportError as exc:
            raise DatasetNotFound("TACO needs a local file (path=...) or the `datasets` package") from exc
        try:
            records = list(datasets.load_dataset(TACO_HUB_ID, split=split))
        except Exception as exc:  # offline, or the hub refused: say what to do instead
            raise DatasetNotFound(f"cannot load {TACO_HUB_ID} from the hub ({exc}); pass a local JSONL "
                                  "file of TACO records with path=...") from exc
    records = records[:limit] if limit is not None else records
    return [task_from_record(rec, i, split, compare) for i, rec in enumerate(records)]
