"""`promptgym evaluate`: argument checks and the summary (the full run is in the report, not the suite)."""

from __future__ import annotations

import pytest

from promptgym.baseline import _parser, _summary, evaluate, resolve_args


def test_rejects_bad_n() -> None:
    with pytest.raises(ValueError, match="--n must be >= 1"):
        evaluate(_parser().parse_args(["--n", "0"]))


def test_summary_table() -> None:
    args = vars(resolve_args(_parser().parse_args(["--limit", "1", "--n", "2"])))
    rep = {"config": args, "model": "m", "n_tasks": 1, "pass_at_k": {"pass@1": 0.5}, "syntax_error_rate": 0.0,
           "timeout_rate": 0.0, "entry_point_missing_rate": 0.5, "tokens_generated": 10, "generation_s": 1.0,
           "execution_s": 0.1, "tasks": [{"task_id": "MBPP/11", "correct": 1, "n": 2}]}
    md = _summary(rep)
    assert "| pass@1 | 0.500 |" in md and "| MBPP/11 | 1/2 |" in md and "no retries" in md
    assert "sampling at temperature 0.8" in md
