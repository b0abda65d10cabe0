"""Shared fixtures. Nothing here starts a service at import or collection time."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared beside the checkout
if "PROMPTGYM_MBPP_PATH" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["PROMPTGYM_MBPP_PATH"] = str(_SHARED_DATA)


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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-broken-model", action="store_true", default=False,
                     help="skip, with the reason, the tests that load the embedded LLM when it crashes on this "
                          "machine (default: fail them, each with the reason)")


@pytest.fixture(scope="session")
def embedded_model() -> object:
    """Whether the embedded model decodes here, probed once in a subprocess (a crash there is only a report)."""
    from promptgym.doctor import probe

    return probe("model")


@pytest.fixture(autouse=True)
def _embedded_model_works(request: pytest.FixtureRequest) -> None:
    """Tests marked ``llm`` fail (or skip with --skip-broken-model) with the probe's reason instead of
    taking the whole pytest process down with a segfault."""
    if request.node.get_closest_marker("llm") is None:
        return
    check = request.getfixturevalue("embedded_model")
    if not check.ok:
        if request.config.getoption("--skip-broken-model"):
            pytest.skip(check.message)
        pytest.fail(check.message, pytrace=False)


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


@pytest.fixture(scope="module")
def sandbox() -> Iterator[object]:
    """A process-backend Sandbox shared by one test module's env tests."""
    from evaluators import Sandbox

    sb = Sandbox(backend="process", workers=2)
    yield sb
    sb.close()
