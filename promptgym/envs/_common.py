"""What every promptgym env shares: task selection and lazily built, picklable coder + sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from promptgym.coders import Coder, make_coder
from promptgym.error import TaskNotFound, did_you_mean
from promptgym.tasks import Task, load_tasks

if TYPE_CHECKING:
    from evaluators import Sandbox

R = TypeVar("R")


def resolve_tasks(
    dataset: str,
    split: str | None,
    task_ids: Sequence[str] | None = None,
    tasks: Sequence[Task] | None = None,
) -> list[Task]:
    """The env's task pool: explicit ``tasks``, else ``dataset``/``split`` narrowed to ``task_ids``."""
    if tasks is not None:
        pool = list(tasks)
    else:
        pool = load_tasks(dataset, split=split, task_ids=None if task_ids is None else tuple(task_ids))
    if not pool:
        raise ValueError(f"No tasks selected (dataset={dataset!r}, split={split!r}, task_ids={task_ids!r})")
    return pool


def coerce_rewards(cls: type[R], value: R | dict[str, float] | None) -> R:
    """A rewards dataclass from an instance, a dict of its fields, or None (defaults)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        bad = [k for k in value if k not in names]
        if bad:
            raise ValueError(f"Unknown reward weight {bad[0]!r} for {cls.__name__}.{did_you_mean(bad[0], names)}")
        return cls(**value)
    raise TypeError(f"rewards must be a {cls.__name__} or a dict, got {type(value).__name__}")


def pick_task(tasks: Sequence[Task], np_random: np.random.Generator, options: dict[str, Any] | None) -> Task:
    """The episode's task: ``options["task_id"]`` when given, else one drawn with the env's ``np_random``."""
    task_id = (options or {}).get("task_id")
    if task_id is None:
        return tasks[int(np_random.integers(len(tasks)))]
    for task in tasks:
        if task.task_id == task_id:
            return task
    raise TaskNotFound(f"Task {task_id!r} is not in this env's tasks.{did_you_mean(task_id, [t.task_id for t in tasks])}")


class EnvParts:
    """The coder and sandbox an env uses, built on first use and rebuilt after unpickling.

    Envs are pickled by SubprocVecEnv and checkpoints; a live model or worker pool is not
    picklable, so only the specs travel and the parts are rebuilt where they land.
    """

    def __init__(
        self,
        coder: str | dict[str, Any] | Coder = "llama_cpp",
        sandbox: str | Sandbox = "process",
        sandbox_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._coder_spec = coder
        self._sandbox_kwargs = dict(sandbox_kwargs or {})
        if isinstance(sandbox, str):
            self._sandbox_spec, self._sandbox = sandbox, None
            self._owns_sandbox = True
        else:
            self._sandbox_spec, self._sandbox = getattr(sandbox, "backend", "process"), sandbox
            self._owns_sandbox = False
        self._coder: Coder | None = coder if isinstance(coder, Coder) else None

    @property
    def coder(self) -> Coder:
        """The coder, built on first use."""
        if self._coder is None:
            self._coder = make_coder(self._coder_spec)
        return self._coder

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, started on first use."""
        if self._sandbox is None:
            from evaluators import Sandbox

            self._sandbox = Sandbox(backend=self._sandbox_spec, **self._sandbox_kwargs)
            self._owns_sandbox = True
        return self._sandbox

    def close(self) -> None:
        """Stop the sandbox if this env started it."""
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
            self._sandbox = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sandbox"] = None  # worker pools do not travel; rebuilt on first use
        state["_owns_sandbox"] = True
        return state
