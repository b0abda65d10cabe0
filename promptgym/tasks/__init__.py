"""Datasets as one Task record: MBPP, HumanEval and custom JSONL."""

from __future__ import annotations

import os
from functools import lru_cache

from promptgym.error import TaskNotFound, did_you_mean, unknown
from promptgym.tasks.humaneval import load_humaneval
from promptgym.tasks.jsonl import load_jsonl
from promptgym.tasks.mbpp import SPLITS as MBPP_SPLITS
from promptgym.tasks.mbpp import load_mbpp
from promptgym.tasks.task import Task

DATASETS = ("mbpp", "mbpp-sanitized", "humaneval")

__all__ = ["DATASETS", "MBPP_SPLITS", "Task", "get_task", "load_humaneval", "load_jsonl", "load_mbpp", "load_tasks"]


@lru_cache(maxsize=16)
def _load_cached(dataset: str, split: str | None, path: str | None) -> tuple[Task, ...]:
    if dataset == "mbpp":
        return tuple(load_mbpp(split, path=path))
    if dataset == "mbpp-sanitized":
        return tuple(load_mbpp(split, sanitized=True, path=path))
    if dataset == "humaneval":
        if split not in (None, "test"):
            raise ValueError(f"HumanEval has only a 'test' split, got {split!r}")
        return tuple(load_humaneval(path))
    if dataset.endswith(".jsonl"):
        tasks = load_jsonl(dataset)
        return tuple(t for t in tasks if split is None or t.split == split)
    raise unknown("dataset", dataset, DATASETS)


def load_tasks(
    dataset: str = "mbpp",
    split: str | None = None,
    path: str | os.PathLike[str] | None = None,
    task_ids: list[str] | tuple[str, ...] | None = None,
) -> list[Task]:
    """Load a dataset's tasks (``"mbpp"``, ``"mbpp-sanitized"``, ``"humaneval"`` or a ``.jsonl`` path).

    Args:
        dataset: Dataset name, or a path to a custom JSONL file.
        split: A split name (MBPP: prompt, test, validation, train), or None for all.
        path: Local file or folder for the dataset (MBPP also reads ``$PROMPTGYM_MBPP_PATH``).
        task_ids: Keep only these ids, in the given order.
    """
    tasks = list(_load_cached(dataset, split, None if path is None else str(path)))
    if task_ids is None:
        return tasks
    by_id = {t.task_id: t for t in tasks}
    missing = [i for i in task_ids if i not in by_id]
    if missing:
        raise TaskNotFound(
            f"Task {missing[0]!r} is not in {dataset} (split {split}).{did_you_mean(missing[0], by_id)}"
        )
    return [by_id[i] for i in task_ids]


def get_task(task_id: str, path: str | os.PathLike[str] | None = None) -> Task:
    """Look up one task by id across the built-in datasets (``MBPP/11``, ``HumanEval/0``)."""
    dataset = "humaneval" if task_id.startswith("HumanEval/") else "mbpp"
    return load_tasks(dataset, path=path, task_ids=[task_id])[0]
