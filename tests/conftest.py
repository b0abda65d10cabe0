"""Shared fixtures. Nothing here starts a service at import or collection time."""

from __future__ import annotations

import os
import subprocess

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if "PROMPTGYM_MBPP_PATH" not in os.environ and os.path.isdir("/work/shared/data"):
    os.environ["PROMPTGYM_MBPP_PATH"] = "/work/shared/data"


def _docker_status() -> tuple[bool, str]:
    """(usable, reason): Docker counts as available when `docker info` succeeds."""
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker CLI not runnable: {exc}"
    if proc.returncode != 0:
        return False, "`docker info` failed: " + (proc.stderr.strip().splitlines() or ["no output"])[-1]
    try:
        import docker  # noqa: F401
    except ImportError:
        return False, "the docker SDK is not installed (pip install docker)"
    return True, ""


@pytest.fixture(scope="session")
def docker_available() -> tuple[bool, str]:
    """Session-wide (usable, reason) for the Docker engine; tests call ``require_docker``."""
    return _docker_status()


@pytest.fixture
def require_docker(docker_available: tuple[bool, str]) -> None:
    """Skip the test (with the reason) only when no Docker engine can run here."""
    ok, reason = docker_available
    if not ok:
        pytest.skip(reason)
