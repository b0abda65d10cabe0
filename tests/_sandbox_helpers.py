"""Helpers shared by the sandbox tests (not a test module)."""

from __future__ import annotations

import os

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


def run_dirs() -> set[str]:
    """The sandbox's temporary work dirs currently present in the host's temp dir."""
    import tempfile

    tmp = tempfile.gettempdir()
    return {d for d in os.listdir(tmp) if d.startswith("promptgym-run-") or d.startswith("promptgym-ipc-")}
