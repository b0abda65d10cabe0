"""An optional code-quality score in [0, 1]: a reward term and a report column.

``score = 0.25 * syntax + 0.25 * complexity + 0.25 * lint + 0.25 * execution`` (:data:`QUALITY_WEIGHTS`):

- ``syntax``: 1 when the program parses, else 0 (and the other static parts are 0 too).
- ``complexity``: from the largest cyclomatic complexity of its functions (radon): 1 up to
  :data:`CC_GOOD` (5), falling linearly to 0 at :data:`CC_BAD` (15) — McCabe's "simple" to "complex".
- ``lint``: ``1 / (1 + findings)`` of ruff (a maintained linter) with its default rules
  (pyflakes' F and pycodestyle's E4/E7/E9), run once per batch with ``--isolated`` so no project config applies.
- ``execution``: 1 when the sandbox ran the program to its tests (status passed or failed), 0 for errors,
  timeouts, kills and programs never run.

Correctness is the execution reward's business; this term only prefers clean, simple programs among
those that run, so keep its weight small (``RewardWeights.quality``, e.g. 0.1).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptgym.llm.extract import parses as valid_python

from promptgym.error import DependencyNotInstalled

__all__ = ["CC_BAD", "CC_GOOD", "QUALITY_WEIGHTS", "QualityReport", "quality_reward", "quality_scores"]

QUALITY_WEIGHTS = {"syntax": 0.25, "complexity": 0.25, "lint": 0.25, "execution": 0.25}
CC_GOOD = 5
CC_BAD = 15


@dataclass(frozen=True)
class QualityReport:
    """One program's quality parts and their weighted score."""

    syntax_ok: bool
    max_complexity: int
    lint_findings: int
    executed: bool
    score: float


def _ruff_bin() -> str:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError as e:
        raise DependencyNotInstalled("The code-quality score needs ruff: pip install 'promptgym[finetune]'") from e
    return os.fsdecode(find_ruff_bin())


def lint_counts(codes: Sequence[str]) -> list[int]:
    """Ruff findings per program, one ruff process for the whole batch."""
    counts = [0] * len(codes)
    if not codes:
        return counts
    with tempfile.TemporaryDirectory(prefix="pg-quality-") as tmp:
        for i, code in enumerate(codes):
            Path(tmp, f"p{i}.py").write_text(code)
        proc = subprocess.run([_ruff_bin(), "check", "--isolated", "--no-cache", "--output-format", "json",
                               "--exit-zero", tmp], capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ruff failed: {proc.stderr.strip()[:300]}")
        for finding in json.loads(proc.stdout or "[]"):
            counts[int(Path(finding["filename"]).stem[1:])] += 1
    return counts


def max_complexity(code: str) -> int:
    """The largest cyclomatic complexity among the program's functions and methods (radon); 1 for none."""
    try:
        from radon.complexity import cc_visit
    except ImportError as e:
        raise DependencyNotInstalled("The code-quality score needs radon: pip install 'promptgym[finetune]'") from e
    blocks = cc_visit(code)
    return max((b.complexity for b in blocks), default=1)


def quality_scores(codes: Sequence[str], results: Sequence[Any] | None = None) -> list[QualityReport]:
    """Quality of each program; ``results`` are their :class:`evaluators.ExecutionResult` (or None: not run)."""
    results = list(results) if results is not None else [None] * len(codes)
    parses = [bool(c.strip()) and valid_python(c) for c in codes]
    lint = lint_counts([c if ok else "" for c, ok in zip(codes, parses)])
    out = []
    for code, ok, n_lint, res in zip(codes, parses, lint, results):
        cc = max_complexity(code) if ok else 0
        executed = res is not None and res.status in ("passed", "failed")
        parts = {
            "syntax": float(ok),
            "complexity": (1.0 if cc <= CC_GOOD else max(0.0, (CC_BAD - cc) / (CC_BAD - CC_GOOD))) if ok else 0.0,
            "lint": 1.0 / (1 + n_lint) if ok else 0.0,
            "execution": float(executed),
        }
        score = sum(QUALITY_WEIGHTS[k] * v for k, v in parts.items())
        out.append(QualityReport(ok, cc, n_lint, executed, round(score, 6)))
    return out


def quality_reward(completions: list[Any], entry_point: list[str] | None = None, **kwargs: Any) -> list[float | None]:
    """A static-only TRL reward (syntax, complexity, lint; no execution part): the quality term alone.

    Inside :class:`agents.finetune.rewards.ExecutionReward` (``RewardWeights.quality``) the execution
    part comes from the same sandbox run; this standalone function never executes code.
    """
    from agents.finetune.rewards import completion_text
    from promptgym.llm import extract_code

    eps = entry_point or [None] * len(completions)
    codes = [extract_code(completion_text(c), ep).code for c, ep in zip(completions, eps)]
    return [q.score for q in quality_scores(codes)]
