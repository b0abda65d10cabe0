"""A run folder's files: JSONL in and out, and one manifest per stage (counts, settings, sha256, versions, time)."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from promptgym.error import UsageError

__all__ = ["MANIFEST_SUFFIX", "manifest_path", "package_versions", "read_jsonl", "read_manifest", "require",
           "sha256_file", "write_jsonl", "write_manifest"]

MANIFEST_SUFFIX = ".manifest.json"
# Versions recorded in every manifest, read from the installed metadata (nothing is imported).
PACKAGES = ("promptgym", "torch", "transformers", "trl", "peft", "datasets", "llama_cpp_python")


def sha256_file(path: str | Path) -> str:
    """The file's sha256 in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records one per line (sorted keys, so equal records give equal bytes); returns the count."""
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)  # a stage killed half-way never leaves a half-written file under the real name
    return n


def read_jsonl(path: Path, fix: str = "re-run the stage that writes it") -> list[dict[str, Any]]:
    """The records of a JSONL file (a line that is not JSON is a UsageError naming it, then ``fix``)."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}:{i} is not JSON ({e.msg}); {fix}") from None
    return out


def require(run_dir: Path, filename: str, stage: str, needed_by: str) -> Path:
    """``run_dir/filename``, or a one-line UsageError naming the stage to run first."""
    p = run_dir / filename
    if not p.is_file():
        raise UsageError(f"{needed_by} needs {p}: run --stages {stage} first (with the same --run-dir)")
    return p


def manifest_path(run_dir: Path, stage: str) -> Path:
    """``run_dir/<stage>.manifest.json``."""
    return run_dir / f"{stage}{MANIFEST_SUFFIX}"


def read_manifest(run_dir: Path, stage: str) -> dict[str, Any] | None:
    """A stage's manifest, or None when the stage has not run in this folder."""
    p = manifest_path(run_dir, stage)
    return json.loads(p.read_text()) if p.is_file() else None


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None where a package is absent), plus Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_manifest(run_dir: Path, stage: str, *, settings: dict[str, Any], inputs: Sequence[Path],
                   outputs: Sequence[Path], counts: dict[str, Any], started: float,
                   summary: dict[str, Any] | None = None) -> Path:
    """Write ``<stage>.manifest.json``: what went in and came out (sha256), the counts, settings, versions, time."""
    def files(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
        return {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in paths}

    manifest = {
        "stage": stage,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 3),
        "counts": counts,
        "settings": settings,
        "inputs": files(inputs),
        "outputs": files(outputs),
        "versions": package_versions(),
        **({"summary": summary} if summary is not None else {}),
    }
    p = manifest_path(run_dir, stage)
    p.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    return p
