"""Helpers shared by the sandbox tests (not a test module)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BACKENDS = ["process", pytest.param("docker", marks=pytest.mark.docker)]


def make_sandbox(request: pytest.FixtureRequest, backend: str, workers: int = 2):  # noqa: ANN201
    """A Sandbox of ``backend``, skipping docker where no engine can run."""
    from evaluators import Sandbox

    if backend == "docker":
        ok, reason = request.getfixturevalue("docker_available")
        if not ok:
            pytest.skip(reason)
    return Sandbox(backend=backend, workers=workers)


def processes_with(marker: str) -> list[int]:
    """Pids on this machine whose command line contains ``marker`` (a /proc scan, no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def fd_count(pid: int | str = "self") -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_dirs(sb=None) -> set[str]:
    """Sandbox temporary dirs in the host's temp dir; with ``sb``, only those of its own workers.

    Filtering by owner keeps the check honest while other sandboxes (other tests, other
    processes on the machine) create and remove their own run dirs at the same moment.
    """
    import tempfile

    tmp = tempfile.gettempdir()
    found = {d for d in os.listdir(tmp) if d.startswith("promptgym-run-") or d.startswith("promptgym-ipc-")}
    if sb is None:
        return found
    uids = set()
    for pid in sb.worker_pids():
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--uid" in args:
            uids.add(int(args[args.index(b"--uid") + 1]))
    own = set()
    for d in found:
        try:
            owner = os.stat(os.path.join(tmp, d)).st_uid
        except FileNotFoundError:
            continue  # removed meanwhile
        if d.startswith("promptgym-ipc-") or owner in uids:
            own.add(d)
    return own
