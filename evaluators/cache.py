"""An optional SQLite cache of execution results, keyed by program, tests, setup and limits."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Any

from evaluators.result import ExecutionResult

# Results that may depend on the machine's load or outside signals rather than the program are not kept.
_UNCACHEABLE = frozenset({"killed", "timeout"})


def job_key(job: dict[str, Any]) -> str:
    """A stable hash of everything that decides a job's result."""
    fields = {k: job.get(k) for k in ("program", "tests", "setup", "entry_point", "timeout", "memory_mb", "max_output")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class ResultCache:
    """Execution results in SQLite (``path``, or ":memory:"), with hit/miss counters."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = os.fspath(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self._db.commit()

    def get(self, job: dict[str, Any]) -> ExecutionResult | None:
        """The cached result of ``job``, or None (counted as a miss)."""
        with self._lock:
            row = self._db.execute("SELECT result FROM results WHERE key = ?", (job_key(job),)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return ExecutionResult.from_dict(json.loads(row[0]))

    def put(self, job: dict[str, Any], result: ExecutionResult) -> None:
        """Remember ``result`` for ``job`` (timeouts and kills, which may depend on load, are not kept)."""
        if result.status in _UNCACHEABLE:
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (job_key(job), json.dumps(result.to_dict())))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"ResultCache({self.path!r}, hits={self.hits}, misses={self.misses})"
