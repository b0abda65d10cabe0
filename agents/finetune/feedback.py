"""Human feedback as the earlier projects stored it, turned into preference pairs for TRL.

Accepted files (by extension):

- CSV with a header ``prompt,response,rating`` (extra columns ignored), or ``prompt,chosen,rejected``.
- JSON: a list of records (or ``{"records": [...]}`` / ``{"data": [...]}``); JSONL: one record a line.
  A record is ``{"prompt", "response", "rating"}`` or a pair ``{"prompt", "chosen", "rejected"}``.

Rated responses become pairs within each prompt: every two responses whose ratings differ by more
than ``min_margin`` give one pair, the higher-rated one chosen (ties give none). The result is TRL's
explicit-prompt preference format, ``{"prompt", "chosen", "rejected"}``, which ``RewardTrainer`` and
``DPOTrainer`` both read.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from promptgym.error import UsageError

__all__ = ["load_feedback", "load_pairs", "preference_dataset", "to_pairs"]

PAIR_KEYS = ("prompt", "chosen", "rejected")
RATED_KEYS = ("prompt", "response", "rating")


def _records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [dict(row) for row in csv.DictReader(f)]
    if suffix == ".jsonl":
        from agents.finetune.pipeline.artifacts import read_jsonl

        return read_jsonl(path, "write one JSON record per line")
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data = data.get("records", data.get("data"))
        if not isinstance(data, list):
            raise UsageError(f"{path}: expected a list of records (or {{'records': [...]}})")
        return data
    raise UsageError(f"{path}: unknown feedback format {suffix!r}; use .csv, .json or .jsonl")


def load_feedback(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a feedback file: each record is a rated response or a chosen/rejected pair (checked, not converted)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"feedback file {p} does not exist")
    rows = _records(p)
    out = []
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            raise UsageError(f"{p}: record {i} is not an object")
        if all(k in r for k in PAIR_KEYS):
            out.append({k: str(r[k]) for k in PAIR_KEYS})
        elif all(k in r for k in RATED_KEYS):
            try:
                rating = float(r["rating"])
            except (TypeError, ValueError):
                raise UsageError(f"{p}: record {i} has a rating that is not a number: {r['rating']!r}") from None
            out.append({"prompt": str(r["prompt"]), "response": str(r["response"]), "rating": rating})
        else:
            raise UsageError(f"{p}: record {i} has keys {sorted(r)}; expected {', '.join(RATED_KEYS)} "
                             f"or {', '.join(PAIR_KEYS)}")
    if not out:
        raise UsageError(f"{p} holds no feedback records")
    return out


def to_pairs(records: Iterable[dict[str, Any]], min_margin: float = 0.0,
             max_pairs_per_prompt: int | None = None) -> list[dict[str, str]]:
    """Preference pairs from feedback records (pairs pass through; ratings pair up within a prompt)."""
    pairs: list[dict[str, str]] = []
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if "chosen" in r:
            pairs.append({k: r[k] for k in PAIR_KEYS})
        else:
            by_prompt.setdefault(r["prompt"], []).append(r)
    for prompt, rated in by_prompt.items():
        made = 0
        for a, b in itertools.combinations(sorted(rated, key=lambda r: -r["rating"]), 2):
            if a["rating"] - b["rating"] > min_margin and a["response"] != b["response"]:
                pairs.append({"prompt": prompt, "chosen": a["response"], "rejected": b["response"]})
                made += 1
                if max_pairs_per_prompt is not None and made >= max_pairs_per_prompt:
                    break
    return pairs


def load_pairs(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The preference pairs of a feedback file (ratings paired up, pairs as they are)."""
    pairs = to_pairs(load_feedback(path))
    if not pairs:
        raise UsageError(f"{path}: no preference pairs (every prompt needs two responses with different ratings)")
    return pairs


def preference_dataset(source: str | os.PathLike[str] | Iterable[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` of ``{prompt, chosen, rejected}`` from a file or records."""
    from datasets import Dataset

    pairs = load_pairs(source) if isinstance(source, (str, os.PathLike)) else to_pairs(source)
    if not pairs:
        raise UsageError("no preference pairs in the given records")
    return Dataset.from_list(pairs)
