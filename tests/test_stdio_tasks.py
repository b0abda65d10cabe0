"""stdin/stdout tasks: loaded from TACO-shaped records, judged on both backends by the trusted side."""

from __future__ import annotations

from pathlib import Path

import pytest
from _sandbox_helpers import BACKENDS, make_sandbox

from promptgym.tasks import load_tasks, stdio_test

TACO_FILE = Path(__file__).parent / "data" / "taco" / "stdio_tasks.jsonl"


@pytest.fixture(scope="module", params=BACKENDS)
def sb(request: pytest.FixtureRequest):  # noqa: ANN201
    sandbox = make_sandbox(request, request.param, workers=2)
    yield sandbox
    sandbox.close()


def test_loader_reads_scripts_and_call_based_tasks() -> None:
    tasks = {t.task_id: t for t in load_tasks("taco", path=TACO_FILE)}
    assert set(tasks) == {"STDIO/sum", "STDIO/mean", "STDIO/reverse-lines", "STDIO/two-sum-call"}
    assert tasks["STDIO/sum"].kind == "stdio" and len(tasks["STDIO/sum"].tests) == 3
    assert "'float'" in tasks["STDIO/mean"].tests[0]  # decimals in the expected output: float-tolerant
    assert "'tokens'" in tasks["STDIO/sum"].tests[0]
    assert tasks["STDIO/two-sum-call"].kind == "function" and tasks["STDIO/two-sum-call"].entry_point == "two_sum"


def test_references_pass_and_wrong_programs_fail(sb) -> None:
    tasks = load_tasks("taco", path=TACO_FILE)
    assert all(r.passed for r in sb.run_many([t.job(t.reference) for t in tasks]))
    wrong = {"stdio": "print(42)\n", "function": "def two_sum(nums, target):\n    return [0, 0]\n"}
    results = sb.run_many([t.job(wrong[t.kind]) for t in tasks])
    assert not any(r.passed for r in results)


@pytest.mark.parametrize("compare,output,ok", [
    ("exact", "3\n", True), ("exact", "3", False), ("tokens", " 3 \n\n", True), ("tokens", "3.0", False),
    ("float", "3.0000001", True), ("float", "3.01", False), ("float", "three", False),
])
def test_comparison_modes(sb, compare: str, output: str, ok: bool) -> None:
    r = sb.run(f"input()\nprint({output!r}, end='')\n", [stdio_test("x\n", "3\n", compare)])
    assert r.passed is ok, r


def test_a_script_is_run_once_per_case_with_its_own_input(sb) -> None:
    prog = "import sys\ncount = len(sys.stdin.read().split())\nprint(count)\n"
    r = sb.run(prog, [stdio_test("a b c", "3"), stdio_test("", "0"), stdio_test("x " * 1000, "1000")])
    assert r.passed, r


def test_hostile_scripts_fail(sb) -> None:
    # printing the expected output needs the expected output: the program never sees the tests
    oracle = ("import gc, sys\nfor o in gc.get_objects():\n    if isinstance(o, str) and 'same_output' in o:\n"
              "        print(o)\n")
    exits = "import os\nos._exit(0)\n"
    raising = "raise SystemExit(3)\n"
    for prog in (oracle, exits, raising):
        r = sb.run(prog, [stdio_test("1 2\n", "3\n")])
        assert not r.passed and not r.tests[0].passed, (prog, r)
