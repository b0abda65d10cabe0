"""Datasets as one Task record: MBPP, HumanEval, TACO (stdin/stdout) and custom JSONL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

from promptgym.error import TaskNotFound, did_you_mean, unknown
from promptgym.tasks.humaneval import load_humaneval
from promptgym.tasks.jsonl import load_jsonl
from promptgym.tasks.mbpp import ENV_VAR as MBPP_ENV_VAR
from promptgym.tasks.mbpp import SPLITS as MBPP_SPLITS
from promptgym.tasks.mbpp import load_mbpp
from promptgym.tasks.taco import load_taco, stdio_test
from promptgym.tasks.task import Task

DATASETS = ("mbpp", "mbpp-sanitized", "humaneval", "taco")

__all__ = ["DATASETS", "MBPP_SPLITS", "Task", "get_task", "load_humaneval", "load_jsonl", "load_mbpp", "load_taco",
           "load_tasks", "normalize_task_id", "stdio_test"]


def normalize_task_id(task_id: str | int, dataset: str = "mbpp") -> str:
    """A task id as the loaders spell it: MBPP's raw number (``2`` or ``"2"``) becomes ``"MBPP/2"``."""
    text = str(task_id).strip()
    if dataset.startswith("mbpp") and text.isdigit():
        return f"MBPP/{int(text)}"
    return text


def _load(dataset: str, split: str | None, path: str | None) -> tuple[Task, ...]:
    # $PROMPTGYM_MBPP_PATH is part of the cache key: a changed variable is read afresh, not served stale.
    return _load_cached(dataset, split, path, os.environ.get(MBPP_ENV_VAR) if dataset.startswith("mbpp") else None)


@lru_cache(maxsize=16)
def _load_cached(dataset: str, split: str | None, path: str | None, mbpp_env: str | None) -> tuple[Task, ...]:
    if dataset == "mbpp":
        return tuple(load_mbpp(split, path=path))
    if dataset == "mbpp-sanitized":
        return tuple(load_mbpp(split, sanitized=True, path=path))
    if dataset == "humaneval":
        if split not in (None, "test"):
            raise ValueError(f"HumanEval has only a 'test' split, got {split!r}")
        return tuple(load_humaneval(path))
    if dataset == "taco":  # a local file of TACO records (path=...), else the hub
        return tuple(load_taco(path, split=split or "train"))
    if dataset.endswith(".jsonl"):
        tasks = load_jsonl(dataset)
        return tuple(t for t in tasks if split is None or t.split == split)
    raise unknown("dataset", dataset, DATASETS)


def load_tasks(
    dataset: str = "mbpp",
    split: str | None = None,
    path: str | os.PathLike[str] | None = None,
    task_ids: Sequence[str | int] | None = None,
) -> list[Task]:
    """Load a dataset's tasks (``"mbpp"``, ``"mbpp-sanitized"``, ``"humaneval"`` or a ``.jsonl`` path).

    Args:
        dataset: Dataset name, or a path to a custom JSONL file.
        split: A split name (MBPP: prompt, test, validation, train), or None for all.
        path: Local file or folder for the dataset (MBPP also reads ``$PROMPTGYM_MBPP_PATH``).
        task_ids: Keep only these ids, in the given order (MBPP also takes its bare numbers, see
            :func:`normalize_task_id`).
    """
    path_key = None if path is None else str(path)
    tasks = list(_load(dataset, split, path_key))
    if task_ids is None:
        return tasks
    task_ids = [normalize_task_id(i, dataset) for i in task_ids]
    by_id = {t.task_id: t for t in tasks}
    missing = [i for i in task_ids if i not in by_id]
    if missing:
        raise _not_found(missing[0], dataset, split, path_key, by_id)
    return [by_id[i] for i in task_ids]


def _not_found(task_id: str, dataset: str, split: str | None, path: str | None, known: dict[str, Task]) -> TaskNotFound:
    """The error for a missing id: the split it is really in, else the nearest id."""
    if split is not None:
        elsewhere = {t.task_id: t.split for t in _load(dataset, None, path)}
        if task_id in elsewhere:
            return TaskNotFound(f"{task_id} is in the {elsewhere[task_id]} split of {dataset}, not {split}")
    where = f" (split {split})" if split is not None else ""
    return TaskNotFound(f"Task {task_id!r} is not in {dataset}{where}.{did_you_mean(task_id, known)}")


def get_task(task_id: str | int, path: str | os.PathLike[str] | None = None) -> Task:
    """Look up one task by id across the built-in datasets (``MBPP/11`` or MBPP's bare ``11``, ``HumanEval/0``)."""
    dataset = "humaneval" if str(task_id).startswith("HumanEval/") else "mbpp"
    return load_tasks(dataset, path=path, task_ids=[task_id])[0]
