"""The judge's rewritten tests give Python's verdict, yet ask the program the same calls whether its answers are
right or wrong (``evaluators/_blind_tests.py``).

The rewrite is trusted code run on trusted test source, so the first half runs it here, in-process, against
plain Python on the same snippets. The second half is black-box: programs that log every call they serve,
right and wrong, on every MBPP and HumanEval task.
"""

from __future__ import annotations

import pytest
from _sandbox_helpers import BACKENDS, make_sandbox

from evaluators._blind_tests import Assertions, blind

# (test source, what `f` does); f(x) == 2 * x unless said otherwise
SNIPPETS = [
    "assert f(1) == 2",
    "assert f(1) == 3",
    "assert f(1) == 3, 'got %d' % f(1)",
    "assert f(1) == 3, 1 / 0",            # Python raises the message's exception
    "assert f(1) == 2, 1 / 0",            # Python never evaluates this message
    "assert f(1) == 3, (lambda: 'lazy')()",
    "x = None\nassert x is not None and x[0] == 1",
    "assert f(1) == 2 and [][0]",
    "assert f(1) == 3 and [][0]",
    "assert f(1) == 3 or [][0]",
    "assert f(1) == 2 or [][0]",
    "assert f(1) == 2 and f(2) == 4 and f(3) == 7",
    "assert (f(1) == 2 or f(2) == 5) and not (f(3) == 6 and f(4) == 9)",
    "assert all(f(x) == 2 * x for x in range(4))",
    "assert all(f(x) == 3 * x for x in range(4))",
    "assert all(1 / x for x in [1, 0])",
    "assert all(1 / (x - 1) > 5 for x in [5, 1])",   # False before the generator raises: Python says False
    "assert not all(1 / (x - 1) > 5 for x in [5, 1])",
    "assert any(f(x) == 4 for x in range(4))",
    "assert any(1 / (x - 1) for x in [3, 1])",
    "assert any(x > 9 for x in [1, 2])",
    "for i in range(4):\n    assert f(i) == 2 * i + (i == 2), i",
    "y = f(2)\nassert y == 4\nassert y[0]",
    "assert (y := f(1)) == 2\nassert y == 2",
    "try:\n    assert f(1) == 3\nexcept AssertionError:\n    pass",
    "with open('/dev/null') as fh:\n    assert f(1) == 3",
    "class T:\n    assert f(1) == 3",
    "def check(c):\n    assert c(1) == 3, 'first'\n    assert c(2) == 4\n    assert c(3) == 5, 'third'\ncheck(f)",
    "def check(c):\n    assert c(1) == 2\n    assert [c(x) for x in (1, 2)] == [2, 4]\ncheck(f)",
    "assert f(1) == 2\nraise ValueError('after')",
    "assert sorted([f(2), f(1)], key=lambda v: -v and v) == [2, 4]",
]


def _python(source: str) -> tuple[str, str] | None:
    try:
        exec(compile(source, "<test>", "exec"), {"f": lambda x: 2 * x})
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, str(exc)
    return None


def _blind(source: str) -> tuple[tuple[str, str] | None, list[int]]:
    calls: list[int] = []
    record = Assertions()

    def f(x: int) -> int:
        calls.append(x)
        return 2 * x

    try:
        exec(blind(source, "<test>"), {"f": f, **record.helpers()})
        if record.failed:
            raise record.failed[0]
    except Exception as exc:  # noqa: BLE001
        return (type(exc).__name__, str(exc)), calls
    return None, calls


@pytest.mark.parametrize("source", SNIPPETS)
def test_rewritten_tests_give_pythons_verdict_and_message(source: str) -> None:
    assert _blind(source)[0] == _python(source)


def test_a_failed_assertion_no_longer_stops_the_calls() -> None:
    source = "def check(c):\n    assert c(1) == 3\n    assert c(2) == 4\n    assert all(c(x) == 0 for x in (3, 4))\ncheck(f)"
    verdict, calls = _blind(source)
    assert verdict == ("AssertionError", "")
    assert calls == [1, 2, 3, 4]  # plain Python stops after the first call


def test_an_entry_point_called_all_is_left_to_the_program() -> None:
    code = blind("assert all([0])", "<test>", shadowed=frozenset({"all"}))
    record = Assertions()
    exec(code, {"all": lambda xs: True, **record.helpers()})
    assert not record.failed


WRAPPER = '''
_pg_ref = {ep}
_pg_depth = [0]


def _pg_wrong(r):  # the same type, another value
    if type(r) is bool:
        return not r
    if type(r) in (int, float):
        return r + 1
    if type(r) is str:
        return r + "x"
    if type(r) in (list, tuple):
        return r + type(r)([None])
    if type(r) is dict:
        return {{**r, "_pg": 1}}
    if type(r) in (set, frozenset):
        return r | {{"_pg"}}
    return None


def {ep}(*args, **kwargs):
    top = _pg_depth[0] == 0
    if top:
        print("CALL")  # only the count: HumanEval/38, 50 and 53 draw fresh random inputs in each run
    _pg_depth[0] += 1
    try:
        r = _pg_ref(*args, **kwargs)
    finally:
        _pg_depth[0] -= 1
    return _pg_wrong(r) if top and {wrong} else r
'''


@pytest.fixture(scope="module", params=BACKENDS)
def sb(request: pytest.FixtureRequest):  # noqa: ANN201
    sandbox = make_sandbox(request, request.param)
    yield sandbox
    sandbox.close()


@pytest.mark.slow
@pytest.mark.parametrize("tests", ["hidden", "all"])
@pytest.mark.parametrize("dataset", ["mbpp", "humaneval"])
def test_a_program_is_asked_the_same_calls_whether_its_answers_are_right(sb, dataset: str, tests: str) -> None:
    """The feedback a cross-run channel would need (which answer a test rejected) is not there to carry."""
    from promptgym.tasks import load_tasks

    tasks = [t for t in load_tasks(dataset) if t.task_id != "MBPP/123"]  # ~4 s of pure CPU alone
    served = {}
    for wrong in (False, True):
        jobs = [t.job(t.reference + WRAPPER.format(ep=t.entry_point, wrong=wrong), tests=tests, timeout=30.0)
                for t in tasks]
        served[wrong] = sb.run_many(jobs)
    assert all(r.passed for r in served[False]), [t.task_id for t, r in zip(tasks, served[False]) if not r.passed]
    assert sum(not r.passed for r in served[True]) > 0.9 * len(tasks)
    differ = [t.task_id for t, right, wrong in zip(tasks, served[False], served[True]) if right.stdout != wrong.stdout]
    assert differ == []
    assert all(r.stdout.count("CALL") > 0 for r in served[False])
