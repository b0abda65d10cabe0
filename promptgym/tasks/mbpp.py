"""MBPP (Austin et al., 2021): the full 974 tasks and the 427 sanitized ones, with standard splits.

The test split (part of an env's version): the first assert of ``test_list`` is visible (the
MBPP prompt an env's coder gets shows only it); all of ``test_list`` plus ``challenge_test_list``
judge (the full MBPP has challenge asserts for 11 tasks, all in the test split: MBPP/11, 16, 20,
23, 25, 26, 28, 42, 43, 44, 47; the sanitized file has none). ``tests`` stays ``test_list``, the
standard set that published MBPP pass@k judges with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from promptgym.error import DatasetNotFound, unknown
from promptgym.tasks._parse import entry_point_of
from promptgym.tasks.task import Task

# Task-id ranges of the splits, from the upstream README.
SPLITS: dict[str, range] = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}
FILES = {"mbpp": "mbpp.jsonl", "mbpp-sanitized": "sanitized-mbpp.json"}
ENV_VAR = "PROMPTGYM_MBPP_PATH"


def split_of(task_number: int) -> str:
    """The standard split an MBPP task id belongs to."""
    for name, ids in SPLITS.items():
        if task_number in ids:
            return name
    raise ValueError(f"MBPP task ids run from 1 to 974, got {task_number}")


def _candidate_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    dirs = [Path.cwd() / "../shared/data", Path.cwd() / "shared/data"]
    dirs += [parent / "../shared/data" for parent in here.parents[:4]]
    return dirs


def find_mbpp_file(variant: str = "mbpp", path: str | os.PathLike[str] | None = None) -> Path | None:
    """Locate an MBPP file offline: ``path``, else ``$PROMPTGYM_MBPP_PATH``, else ``../shared/data``.

    ``path`` and the variable may name the file itself or a folder holding it. Whichever is given
    is the only place looked: a miss there is a DatasetNotFound naming it, never a quiet fallback.
    Returns None when neither is given and no fallback folder holds the file (the hub is next).
    """
    name = FILES[variant]
    given, source = (path, "path") if path is not None else (os.environ.get(ENV_VAR), f"${ENV_VAR}")
    if given:
        p = Path(given).expanduser()
        if p.is_dir():
            p = p / name
        elif p.name in FILES.values():  # names the other variant's file: its sibling is this one's
            p = p.with_name(name)
        if not p.is_file():
            raise DatasetNotFound(f"MBPP file not found: {source} is {str(given)!r}, which holds no {name}; point it "
                                  f"at {name} or the folder holding it" + (", or unset it" if path is None else ""))
        return p
    for d in _candidate_dirs():
        if (d / name).is_file():
            return (d / name).resolve()
    return None


def _records_from_hub(variant: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as e:
        raise DatasetNotFound(
            f"No local MBPP file: set {ENV_VAR} to a folder holding {FILES[variant]}, "
            "or install `datasets` and go online to download it."
        ) from e
    config = "sanitized" if variant == "mbpp-sanitized" else "full"
    rows: list[dict[str, Any]] = []
    for split in ("train", "test", "validation", "prompt"):
        rows.extend(dict(r) for r in datasets.load_dataset("mbpp", config, split=split))
    return sorted(rows, key=lambda r: r["task_id"])


def _read_records(variant: str, path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    file = find_mbpp_file(variant, path)
    if file is None:
        return _records_from_hub(variant)
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _to_task(rec: dict[str, Any], variant: str) -> Task:
    number = int(rec["task_id"])
    tests = tuple(rec["test_list"])
    challenge = tuple(rec.get("challenge_test_list") or ())
    reference = rec["code"].replace("\r\n", "\n")
    setup = rec.get("test_setup_code", "") or ""
    if rec.get("test_imports"):
        setup = "\n".join(rec["test_imports"]) + ("\n" + setup if setup else "")
    return Task(
        task_id=f"MBPP/{number}",
        prompt=(rec.get("text") or rec.get("prompt") or "").strip(),
        entry_point=entry_point_of(tests, reference),
        tests=tests,
        setup=setup.replace("\r\n", "\n"),
        reference=reference,
        dataset=variant,
        split=split_of(number),
        visible_tests=tests[:1],
        hidden_tests=tests + challenge,
    )


def load_mbpp(
    split: str | None = None,
    sanitized: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> list[Task]:
    """Load MBPP tasks, all or one split, from a local file or (online) the hub."""
    if split is not None and split not in SPLITS:
        raise unknown("MBPP split", split, SPLITS)
    variant = "mbpp-sanitized" if sanitized else "mbpp"
    tasks = [_to_task(r, variant) for r in _read_records(variant, path)]
    return [t for t in tasks if split is None or t.split == split]
