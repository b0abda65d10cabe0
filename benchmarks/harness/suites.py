"""Published benchmark suites: env ids, the env arguments that decide what is measured, task ids, a version.

The suites live in ``suites.json`` beside this module. A run names its suite and the suite's
version in its result file; leaderboards rank only results of the same suite version together.
A run without a suite (``--envs`` and ``--tasks`` of your choice) is the suite ``"custom"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptgym.error import UsageError, did_you_mean

__all__ = ["CUSTOM", "SUITES_FILE", "Suite", "get_suite", "list_suites"]

SUITES_FILE = Path(__file__).resolve().parent / "suites.json"
CUSTOM = "custom"


@dataclass(frozen=True)
class Suite:
    """A fixed set of (env, tasks) to benchmark on.

    Attributes:
        name: The suite's name (``"custom"`` for a run without a published suite).
        version: Its version; a changed suite gets a new version.
        envs: ``env id -> env keyword arguments`` the suite fixes (split, ...).
        task_ids: The tasks every env runs, in order (empty: each env's own task pool).
        description: One line for people.
    """

    name: str
    version: str | None
    envs: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_ids: tuple[str, ...] = ()
    description: str = ""

    @property
    def label(self) -> str:
        """``name@version`` (``custom`` alone)."""
        return self.name if self.version is None else f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a result file."""
        return {"name": self.name, "version": self.version, "envs": self.envs, "task_ids": list(self.task_ids),
                "description": self.description}


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    return json.loads(SUITES_FILE.read_text())


def list_suites() -> list[Suite]:
    """Every published suite."""
    return [get_suite(name) for name in _load()["suites"]]


def get_suite(name: str) -> Suite:
    """The published suite ``name`` (UsageError with the nearest name otherwise)."""
    suites = _load()["suites"]
    if name not in suites:
        raise UsageError(f"Unknown suite {name!r}.{did_you_mean(name, suites)} Published: {', '.join(suites)}")
    entry = suites[name]
    return Suite(name=name, version=str(entry["version"]), envs={k: dict(v) for k, v in entry["envs"].items()},
                 task_ids=tuple(entry["task_ids"]), description=entry.get("description", ""))
