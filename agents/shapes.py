"""Scripts for the scripted coder that make the three Executive episode shapes occur.

Deterministic per task id (crc32, not Python's salted ``hash``): shape 0 passes on the first
generation, shape 1 needs one DEBUG, shape 2 needs SEARCH (context) before DEBUG can fix it.
Programs come from ``task.reference`` and a deliberately broken variant of it (a stub that returns
None), in :class:`promptgym.coders.scripted.ScriptedCoder`'s ``programs`` format.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from promptgym.tasks import Task

SHAPES = ("first_generation", "needs_debug", "needs_search_then_debug")


def shape_of(task_id: str, salt: int = 0) -> int:
    """The episode shape (index into :data:`SHAPES`) of ``task_id``."""
    return zlib.crc32(f"{salt}:{task_id}".encode()) % len(SHAPES)


def broken_variant(task: Task) -> str:
    """A program that defines the entry point but fails the tests (returns None)."""
    return f"def {task.entry_point}(*args, **kwargs):\n    # deliberately broken variant\n    return None\n"


def shaped_programs(tasks: Sequence[Task], salt: int = 0) -> dict[str, list[Any]]:
    """``{task_id: script}`` for ScriptedCoder(programs=...), one of the three shapes per task."""
    programs: dict[str, list[Any]] = {}
    for task in tasks:
        shape = shape_of(task.task_id, salt)
        if shape == 0:
            programs[task.task_id] = [task.reference]
        elif shape == 1:
            programs[task.task_id] = [broken_variant(task), task.reference]
        else:
            programs[task.task_id] = [broken_variant(task), ("needs_context", task.reference)]
    return programs


def shaped_coder(tasks: Sequence[Task], salt: int = 0) -> dict[str, Any]:
    """A picklable coder spec (dict) for ``make_coder``: the scripted test double with shaped scripts."""
    return {"backend": "scripted", "programs": shaped_programs(tasks, salt)}


__all__ = ["SHAPES", "broken_variant", "shape_of", "shaped_coder", "shaped_programs"]
