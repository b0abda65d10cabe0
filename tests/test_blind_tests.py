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
    "class T:\n    def run(self, c):\n        assert c(1) == 3, 'first'\n        assert c(2) == 4\nT().run(f)",
    "class T:\n    assert f(1) == 3\n    def run(self):\n        pass",
    "import unittest\nclass T(unittest.TestCase):\n    def runTest(self):\n        assert f(1) == 3\n"
    "r = unittest.TextTestRunner(stream=open('/dev/null', 'w')).run(T())\nassert len(r.failures) == 1",
    "class T:\n    def run(self):\n        assert f(1) == 3\ntry:\n    T().run()\nexcept AssertionError:\n    pass",
    # an eleventh blind red team: methods reached from a try, run by a thread or by Python itself keep raising;
    # a property of the test's own class is test code a part runs unseen
    "class T:\n    def run(self):\n        assert f(1) == 3\ndef helper():\n    T().run()\n"
    "try:\n    helper()\nexcept AssertionError:\n    pass",
    "import threading\nclass T:\n    def run(self):\n        assert f(1) == 3\nthreading.excepthook = lambda args: None\n"
    "th = threading.Thread(target=T().run)\nth.start()\nth.join()",
    "class T:\n    def __del__(self):\n        assert f(1) == 3\nimport sys\nsys.unraisablehook = lambda u: None\nT()",
    "class C:\n    n = 0\n    @property\n    def bump(self):\n        C.n += 1\n        return C.n\nc = C()\n"
    "assert f(1) == 2 or c.bump == 1\nassert C.n == 0",
    "assert f(1) == 2\nraise ValueError('after')",
    "assert sorted([f(2), f(1)], key=lambda v: -v and v) == [2, 4]",
    # every part evaluated, Python's answer kept
    "assert 2 == f(1) == f(2) // 2",
    "assert f(1) == 2 <= f(2)",
    "assert f(1) == 3 < f(2)",
    "assert f(1) == 3 < [][0]",           # Python never evaluates the raising part
    "assert (f(2) == 4) if f(1) == 2 else False",
    "assert (f(2) == 4) if f(1) == 3 else [][0]",
    "assert next((x for x in range(5) if f(x) != 2 * x), None) is None",
    "assert next(x for x in range(5) if f(x) > 4) == 3",
    "assert (a := f(1)) == 2 and f(a) == 4\nassert a == 2",
    "assert [f(x) for x in range(3) if x] == [2, 4]",
    "assert {x: f(x) for x in range(3)} == {0: 0, 1: 2, 2: 4}",
    "assert {f(x) for x in range(3)} == {0, 2, 4}",
    "assert sum(f(x) for x in range(4)) == 12",
    "assert f(2) in (f(x) for x in range(3))",
    "assert [1, 2, 3][f(0):f(1)] == [1, 2]",
    "assert str(f(1)).upper() == '2' and dict(a=f(1))['a'] == 2",
    "assert max([f(1), f(2)], key=lambda v: -v) == 2",
    "assert f(*[1]) == 2 and {**{'a': f(1)}} == {'a': 2} and f'{f(1)}' == '2'",
    "assert [f(1), 1 / 0, f(2)] == []",
    "assert all([f(1) == 2, f(2) == 5, [][0]])",
    "assert -f(1) == -2 and not f(0) and 'x' not in str(f(3))",
    "assert [y for x in range(3) for y in range(x)] == [0, 0, 1]",
    "assert [a for a, b in [(1, 2), 3]] == [1]",
    "assert {[]: 1}",
    "assert {f(1): f(2), [f(3)]: 1}",
    "import itertools\nassert not all(x < 3 for x in itertools.count())",
    "import itertools\nassert next(x for x in itertools.count() if x > 5) == 6",
    "assert f(1) == 3, [f(2)]",
    "assert f(1) == 3, {}['missing']",
    "T = type('T', (), {'__getitem__': lambda self, k: k})\nassert T()[1:2, f(1)] == (slice(1, 2, None), 2)",
    "assert [[1, 2], [3, 4]][f(0)][f(0):f(1)] == [1, 2]",
    # what Python skips stays skipped where it could be seen (a blind red team passed wrong programs through these)
    "it = iter([2, 3, 5, 7, 9])\nassert any(x == 7 for x in it)\nassert list(it) == [9]",
    "it = iter([2, 3, 5, 7, 9])\nassert next(x for x in it if x > 2) == 3 and list(it) == [5, 7, 9]",
    "assert (n := f(1)) != 2 or (n := 0) == 0\nassert n == 2",
    "ok = []\nassert f(1) == 2 or ok.append(1)\nassert ok == []",
    "ok = []\nassert f(1) == 3 and ok.append(1)\nassert ok == []",
    "good = 0\nassert [good := x for x in [1, 2] if f(x) == 2 * x and x == 1]\nassert good == 1",
    "def side(v, seen=[]):\n    seen.append(v)\n    return v\nassert f(1) == 2 or side(1)\nassert side.__defaults__[0] == []",
    "xs = [3, 1, 2]\nassert f(1) == 2 or xs.sort()\nassert xs == [3, 1, 2]",
    "ok = []\nassert f(1) != 2 or sorted([1], key=ok.append) == [1]\nassert not ok",
    "d = {}\nassert f(1) != 2 or max([{'a': 1}], key=d.update) == {'a': 1}\nassert not d",
    "def inner():\n    assert f(1) == 3\ntry:\n    inner()\nexcept AssertionError:\n    pass",
    "assert hasattr(f(1), 'real') and getattr(f(1), 'imag') == 0 and next(iter([f(1)])) == 2",
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


class _Refuses:
    """Stands for a value the judge cannot compare (a program handle, ``Decimal('sNaN')``): comparing it raises."""

    def __eq__(self, other: object) -> bool:
        raise TypeError("cannot compare")

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __eq__
    __hash__ = None  # type: ignore[assignment]


# f(x) is right when it returns [x, 2 * x, 3 * x]; each answer below is the same whatever the test expects
ANSWERS = {
    "right": lambda x: [x, 2 * x, 3 * x],
    "wrong at the end": lambda x: [x, 2 * x, 0],
    "wrong at the start": lambda x: [0, 2 * x, 3 * x],
    "refuses after a right start": lambda x: [x, 2 * x, _Refuses()],
    "refuses after a wrong start": lambda x: [0, 2 * x, _Refuses()],
    "not a list": lambda x: None,
}
# test shapes whose later calls Python skips depending on earlier answers (found by a blind red team)
SHAPES = [
    "assert all([f(1) == [1, 2, 3], f(2) == [2, 4, 6]])",
    "assert all(f(x) == [x, 2 * x, 3 * x] for x in (1, 2, 3))",
    "assert any(f(x) != [x, 2 * x, 3 * x] for x in (1, 2, 3)) is False",
    "assert [1, 2, 3] == f(1) == [f(2)[0] - 1, 2, 3]",
    "assert f(1) == [1, 2, 3] != f(2)",
    "assert (f(2) == [2, 4, 6]) if f(1) == [1, 2, 3] else False",
    "assert next((x for x in (1, 2, 3) if f(x) != [x, 2 * x, 3 * x]), None) is None",
    "assert [f(1) == [1, 2, 3], f(2) == [2, 4, 6]] == [True, True]",
    "assert (f(1) == [1, 2, 3], f(2)[:2]) == (True, [2, 4])",
    "assert {x: f(x) == [x, 2 * x, 3 * x] for x in (1, 2)} == {1: True, 2: True}",
    "assert [x for x in (1, 2, 3) if f(x) == [x, 2 * x, 3 * x]] == [1, 2, 3]",
    "assert f(1) == [1, 2, 3], f(2)",
    "assert f(1)[0] == 1 and f(2)[2] == 6",
    "assert all(map(lambda x: f(x) == [x, 2 * x, 3 * x], [1, 2, 3]))",
    "assert hasattr(f(1), 'count') and f(1) == [1, 2, 3] and next(iter([f(2)])) == [2, 4, 6]",
    "assert str(f(1) == [1, 2, 3]) + str(f(2)) == 'True[2, 4, 6]'",
    "def check(c):\n    assert c(1) == [1, 2, 3]\n    assert c(2) == [2, 4, 6] and c(3) == [3, 6, 9]\ncheck(f)",
    # a method of the test's own class (a ninth blind red team: its first failed assert stopped the calls)
    "class T:\n    def run(self, c):\n        assert c(1) == [1, 2, 3]\n        assert c(2) == [2, 4, 6]\nT().run(f)",
    "class T(object):\n    def run(self, c):\n        assert c(1) == [1, 2, 3]\n        assert c(2) == [2, 4, 6]\nT().run(f)",
    "class O:\n    class T:\n        def run(self, c):\n            assert c(1) == [1, 2, 3]\n            assert c(2) == [2, 4, 6]\n"
    "O.T().run(f)",
    "import dataclasses\n@dataclasses.dataclass\nclass T:\n    def run(self, c):\n        assert c(1) == [1, 2, 3]\n"
    "        assert c(2) == [2, 4, 6]\nT().run(f)",
]


@pytest.mark.parametrize("source", SHAPES)
def test_the_calls_do_not_depend_on_the_answers(source: str) -> None:
    asked = {}
    for name, answer in ANSWERS.items():
        calls: list[int] = []

        def f(x: int, answer=answer, calls=calls) -> object:  # noqa: ANN001
            calls.append(x)
            return answer(x)

        record = Assertions()
        exec(blind(source, "<test>"), {"f": f, **record.helpers()})
        asked[name] = (calls, bool(record.failed))
    assert asked["right"][1] is False and all(failed for name, (_, failed) in asked.items() if name != "right")
    assert len({tuple(calls) for calls, _ in asked.values()}) == 1, asked


def test_an_entry_point_called_all_is_left_to_the_program() -> None:
    code = blind("assert all([0])", "<test>", program_names=frozenset({"all"}))
    record = Assertions()
    exec(code, {"all": lambda xs: True, **record.helpers()})
    assert not record.failed


WRAPPER = '''
import sys as _pg_sys
_pg_ref = {ep}
_pg_depth = [0]
_pg_wire = _pg_sys.modules["_wire"]  # the protocol's module, in the program's own process
_pg_recv = _pg_wire.Endpoint.recv


def _pg_logged(channel):  # the shape of every message the judge sends: what it lets go of, what it updates
    message = _pg_recv(channel)
    if isinstance(message, dict):
        print("MSG", sorted(message), len(message.get("rel", ())), len(message.get("objs", ())))
    return message


_pg_wire.Endpoint.recv = _pg_logged


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
    """The feedback a cross-run channel would need (which answer a test rejected) is not there to carry:
    the same calls, and messages of the same shape (the shared values the judge lets go of included)."""
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
    assert all(r.stdout.count("CALL") > 0 and r.stdout.count("MSG") >= r.stdout.count("CALL") for r in served[False])
