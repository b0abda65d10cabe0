"""The Sandbox: judge untrusted programs against tests, the verdict computed outside the program's reach.

Each worker (a pre-started process on this machine, or one per warm Docker container) holds two
processes forked before any job: a trusted judge (its own unprivileged uid) that runs the tests in
its own interpreter against proxies of the program's names, values crossing as plain data; and a
program zygote that never holds a test and forks each program's child into a fresh private world
(own PID, mount, IPC and UTS namespaces, read-only minimal root, private tmpfs /tmp, own uid,
rlimits, a cgroup where delegated). The child never sees tests or expected values; the records that
decide the verdict go from the judge to the worker on a pipe the child has no descriptor of.
``result.extra`` says what held on this machine: ``world`` ("private" or "shared (why)"),
``cgroup``, ``network_isolated``, ``stdlib``. See evaluators/README.md for the threat model and the
residual risks.

Zero tests: status "error" with error "no tests" (a run with nothing to judge proves nothing).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from evaluators._pool import ProcessWorker, WorkerDied
from evaluators.cache import ResultCache
from evaluators.error import UnknownBackend
from evaluators.result import ExecutionResult, TestOutcome

BACKENDS = ("process", "docker")
MAX_PROGRAM_BYTES = 1_000_000
# time the worker needs around a run (fork, sweep, reply) before the host gives up on it
_HOST_GRACE_S = 15.0


def _error(message: str) -> ExecutionResult:
    return ExecutionResult(status="error", error=message)


class Sandbox:
    """A pool of executor workers; ``run`` one program or ``run_many`` concurrently.

    Args:
        backend: "process" (pre-forked workers on this machine) or "docker" (warm containers).
        workers: number of workers (concurrent runs); default min(4, CPUs).
        cache: a ResultCache, a path for one, or None.
        max_output: bytes of stdout/stderr kept per run.
        image: the Docker image (docker backend only).
        pin: each worker (with its zygote, judge and runs) on one CPU, round-robin over the CPUs this
            process may use: a run's processes hand work to each other, and on one CPU they do it
            without cross-CPU wake-ups and cold caches (MBPP references: 2 pinned workers on 2 cores
            ran 1.1-1.3x the runs/s of unpinned ones). False leaves placement to the kernel.
    """

    def __init__(self, backend: str = "process", workers: int | None = None,
                 cache: ResultCache | str | os.PathLike[str] | None = None, max_output: int = 64 * 1024,
                 image: str | None = None, pin: bool = True) -> None:
        if backend not in BACKENDS:
            from promptgym.error import did_you_mean

            raise UnknownBackend(f"unknown sandbox backend {backend!r}.{did_you_mean(backend, BACKENDS)} "
                                 f"Choose one of {', '.join(BACKENDS)}.")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.backend = backend
        self.n_workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.cache = cache if isinstance(cache, ResultCache) or cache is None else ResultCache(cache)
        self.max_output = max_output
        self.image = image
        self._cpus = sorted(os.sched_getaffinity(0)) if pin and hasattr(os, "sched_getaffinity") else []
        self._started = 0  # workers started so far: the next one's CPU, round-robin
        self._idle: queue.Queue[Any] = queue.Queue()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._docker: Any = None
        self._closed = False
        self.network_isolated: bool | None = None
        # "mounted" / "readable": programs can import the whole stdlib; "preloaded": only _zygote.PRELOAD
        self.stdlib: str | None = None
        for _ in range(self.n_workers):
            self._idle.put(self._new_worker())

    # -- workers ---------------------------------------------------------------------------------
    def _new_worker(self) -> Any:
        with self._lock:
            cpu = self._cpus[self._started % len(self._cpus)] if self._cpus else None
            self._started += 1
        if self.backend == "docker":
            if self._docker is None:
                from evaluators._docker import DockerPool

                self._docker = DockerPool(image=self.image)
            worker = self._docker.new_worker(cpu)
        else:
            # a uid of its own per worker: NPROC is per user, and the sweep kills by uid
            worker = ProcessWorker(uid=100_000 + int.from_bytes(os.urandom(4), "big") % 1_000_000_000, cpu=cpu)
        self.network_isolated = bool(worker.hello.get("network_isolated"))
        self.stdlib = worker.hello.get("stdlib")
        with self._lock:
            self._all.append(worker)
        return worker

    def _retire(self, worker: Any) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.close()

    def worker_pids(self) -> list[int]:
        """Host pids of the live workers (for leak checks)."""
        with self._lock:
            return [pid for w in self._all for pid in w.pids]

    # -- running ---------------------------------------------------------------------------------
    def _job(self, program: Any, tests: Any, setup: str, timeout: float, memory_mb: int,
             entry_point: str) -> dict[str, Any] | ExecutionResult:
        """Validate one job; an ExecutionResult for bad programs, exceptions for caller bugs."""
        if isinstance(tests, str) or not isinstance(tests, Sequence) or not all(isinstance(t, str) for t in tests):
            raise TypeError(f"tests must be a list of strings (one snippet each), got {type(tests).__name__}")
        if not isinstance(setup, str):
            raise TypeError(f"setup must be a string, got {type(setup).__name__}")
        if not isinstance(entry_point, str) or (entry_point and not entry_point.isidentifier()):
            raise ValueError(f"entry_point must be a function name (or ''), got {entry_point!r}")
        if not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not isinstance(memory_mb, int) or memory_mb < 16:
            raise ValueError(f"memory_mb must be an int >= 16, got {memory_mb!r}")
        if not isinstance(program, str):
            return _error(f"program must be a string, got {type(program).__name__}")
        if len(program) > MAX_PROGRAM_BYTES:
            return _error(f"program too large: {len(program)} characters (limit {MAX_PROGRAM_BYTES})")
        if not tests:
            return _error("no tests")
        return {"program": program, "tests": list(tests), "setup": setup, "entry_point": entry_point,
                "timeout": float(timeout), "memory_mb": memory_mb, "max_output": self.max_output}

    def _execute(self, job: dict[str, Any]) -> ExecutionResult:
        if self.cache is not None:
            cached = self.cache.get(job)
            if cached is not None:
                return cached
        worker = self._idle.get()
        if not worker.alive():  # died between jobs (killed from outside): not this job's doing
            self._retire(worker)
            worker = self._new_worker()
        try:
            reply = worker.request(job, time.monotonic() + job["timeout"] + _HOST_GRACE_S)
        except WorkerDied as exc:
            # the program killed (or wedged) its worker: replace it; the job is judged, not lost
            self._retire(worker)
            worker = self._new_worker()
            return ExecutionResult(status="killed", error=f"the worker died during the run: {exc}",
                                   tests=tuple(TestOutcome(False, "not run") for _ in job["tests"]))
        finally:
            self._idle.put(worker)
        reply.pop("id", None)
        result = ExecutionResult.from_dict(reply)
        if self.cache is not None:
            self.cache.put(job, result)
        return result

    def run(self, program: str, tests: Sequence[str], setup: str = "", timeout: float = 5.0,
            memory_mb: int = 512, entry_point: str = "") -> ExecutionResult:
        """Judge ``program`` against each test snippet; never raises for what the program does.

        ``setup`` is trusted task code the tests may use (imports, helpers); it runs on the judge's
        side, as the tests do. ``entry_point`` is the function the task asks for: the only name the
        program may supply that shadows a builtin (MBPP/126 asks for a ``sum``).
        """
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        job = self._job(program, tests, setup, timeout, memory_mb, entry_point)
        return job if isinstance(job, ExecutionResult) else self._execute(job)

    def run_many(self, jobs: Iterable[dict[str, Any]], progress: Any = None) -> list[ExecutionResult]:
        """Run jobs (dicts of ``run``'s arguments) concurrently; one result per job, in order."""
        jobs = list(jobs)

        def one(job: dict[str, Any]) -> ExecutionResult:
            result = self.run(**job)
            if progress is not None:
                progress()
            return result

        if len(jobs) <= 1 or self.n_workers == 1:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=self.n_workers) as pool:
            return list(pool.map(one, jobs))

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker (and container); idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            workers, self._all = list(self._all), []
        for worker in workers:
            worker.close()
        if self._docker is not None:
            self._docker.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: best effort only
            pass

    def __repr__(self) -> str:
        return f"Sandbox(backend={self.backend!r}, workers={self.n_workers})"
