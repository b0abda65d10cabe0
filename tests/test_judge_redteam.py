"""Red team for the trusted judge and the confined program (both backends).

The design under attack (evaluators/_trusted_judge.py, _confine.py, _worker.py): a trusted judge
process runs the tests in its own interpreter; the program runs in a separate confined child that
only answers calls; values cross as plain data and are rebuilt by the judge; values that cannot
travel stay in the program behind handles that the judge refuses to compare, hash or take the
truth of.

Forging attacks use a WRONG program (it does not compute the answer) with a trick, and assert that
the targeted tests fail. Containment attacks assert that nothing is left on the host, that later
runs are unaffected and that the host's files stay out of reach. Honest programs returning
standard-library values must still pass (no false negatives).

Every attack here is held on both backends. The first run of this suite got six through (``in`` on a
program object, StopIteration ending the judge's map/filter, one proxy reused so that containers'
identity shortcut said "equal", stdlib modules the tests use unimported taken from the program
(MBPP/596's ``sys``), a float that changed at every read (HumanEval/32), Docker without a whole-run
memory limit) and one honest program failed (``isinstance`` with a program class); each is now a
plain test. Where a machine delegates no cgroup, the whole-run memory test is an ``xfail`` that
names the documented bound (``max_procs * memory_mb``).
"""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
from _sandbox_helpers import BACKENDS, make_sandbox

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@pytest.fixture(scope="module", params=BACKENDS)
def sb(request: pytest.FixtureRequest):  # noqa: ANN201
    """One sandbox per backend for the module (two workers, reused as in real use)."""
    sandbox = make_sandbox(request, request.param)
    yield sandbox
    sandbox.close()


def _forged(r) -> str:  # noqa: ANN001
    return f"status={r.status} tests={[t.passed for t in r.tests]} error={r.error!r} stdout={r.stdout[-500:]!r}"


def _assert_all_fail(r) -> None:  # noqa: ANN001
    assert not r.passed, _forged(r)
    assert not any(t.passed for t in r.tests), _forged(r)


def _json_line(r) -> dict:  # noqa: ANN001
    """The last JSON line the program printed (its report of what it managed)."""
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"the program printed no report: {r}")


def _token() -> str:
    return "pgrt" + os.urandom(6).hex()


def _snapshot() -> dict[str, set[str]]:
    found = {}
    for place in SHARED_TMP:
        try:
            found[place] = set(os.listdir(place))
        except OSError:
            found[place] = set()
    return found


def _host_leftovers(before: dict[str, set[str]], token: str, uids: set[int]) -> list[str]:
    """New entries in the host's shared temp dirs that carry ``token`` or belong to one of ``uids``."""
    left = []
    for place, names in _snapshot().items():
        for name in names - before[place]:
            path = os.path.join(place, name)
            try:
                owner = os.lstat(path).st_uid
            except OSError:
                continue  # removed meanwhile (someone else's)
            if token in name or owner in uids:
                left.append(f"{path} (uid {owner})")
    return left


def _set_xfail(request: pytest.FixtureRequest, reason: str) -> None:
    request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


# ================================================================================================
# 1. Comparisons the old rewrite did not cover, against values with hostile dunders
# ================================================================================================
# the task: f(x) == x + 1. Every test below is written in a different comparison style.
COMPARISON_TESTS = [
    "assert f(1) == 2",
    "assert f(1) < 2.5 and f(1) > 1.5",
    "assert f(1) <= 2 and f(1) >= 2",
    "assert 1.5 < f(1) < 2.5",
    "assert abs(f(1) - 2) < 1e-9",
    "assert abs(2 - f(1)) < 1e-9",
    "import math\nassert math.isclose(f(1), 2)",
    "import math\nassert math.isclose(f(1), 2.0, rel_tol=1e-9) and math.isclose(f(2), 3.0)",
    "assert f(1) in (2,)",
    "assert f(1) in {2, 3}",
    "assert f(1) in [2]",
    "assert f(1) == 2 and f(2) == 3 and f(3) == 4",
    "assert all(f(x) == x + 1 for x in range(5))",
    "assert all([f(x) == x + 1 for x in range(5)])",
    "assert not (f(1) != 2)",
    "if f(1) != 2:\n    raise AssertionError('mismatch')",
    "assert 2 == f(1) == 2",
    "assert f(1) == f(1) == 2",
    "assert [f(x) for x in range(3)] == [1, 2, 3]",
    "assert (f(1), f(2)) == (2, 3)",
    "assert {'v': f(1)} == {'v': 2}",
    "assert sorted([f(2), f(1)]) == [2, 3]",
    "assert max(f(1), 0) == 2",
    "assert f(1) is not None and f(1) == 2",
    "assert bool(f(1) == 2)",
    "assert f(1)",
    "assert not f(1) != 2",
    "assert f(1) - 2 == 0",
    "assert int(f(1)) == 2",
    "assert float(f(1)) == 2.0",
    "assert str(f(1)) == '2'",
    "assert {f(1): 'x'} == {2: 'x'}",
    "assert len([f(1)]) == 1 and [f(1)][0] == 2",
]

EVIL = """
import sys
class Evil:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __lt__(self, other):
        return True
    __le__ = __gt__ = __ge__ = __lt__
    def __bool__(self):
        return True
    def __hash__(self):
        return hash(2)
    def __abs__(self):
        return 0
    def __sub__(self, other):
        return Evil()
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __sub__
    def __neg__(self):
        return self
    def __float__(self):
        return 0.0
    def __int__(self):
        return 0
    def __index__(self):
        return 0
    def __len__(self):
        return 1
    def __iter__(self):
        return iter(())
    def __contains__(self, item):
        return True
    def __str__(self):
        return 'evil'
"""

COMPARISON_PROGRAMS = {
    "evil-object": EVIL + "def f(x):\n    return Evil()\n",
    "int-subclass-all-true": (
        "class I(int):\n"
        "    __eq__ = __le__ = __ge__ = __lt__ = __gt__ = lambda s, o: True\n"
        "    __ne__ = lambda s, o: False\n"
        "    __hash__ = int.__hash__\n"
        "    __sub__ = __rsub__ = lambda s, o: 0\n"
        "    __abs__ = lambda s: 0\n"
        "    __float__ = lambda s: -7.0\n"
        "def f(x):\n    return I(0)\n"
    ),
    "float-subclass": (
        "class F(float):\n"
        "    __eq__ = __le__ = __ge__ = __lt__ = __gt__ = lambda s, o: True\n"
        "    __ne__ = lambda s, o: False\n"
        "    __hash__ = float.__hash__\n"
        "    __sub__ = __rsub__ = lambda s, o: F(0.0)\n"
        "def f(x):\n    return F(-7.5)\n"
    ),
    "nested-in-list": EVIL + "def f(x):\n    return [Evil()]\n",
    "raises-stopiteration": "def f(x):\n    raise StopIteration\n",
    "bool-inspects-caller-bytecode": (
        "import sys, dis\n"
        "class B:\n"
        "    def __eq__(self, other):\n        return self\n"
        "    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__\n"
        "    def __bool__(self):\n"
        "        frame = sys._getframe(1)\n"
        "        ops = [i.opname for i in dis.get_instructions(frame.f_code)]\n"
        "        return 'POP_JUMP_FORWARD_IF_TRUE' in ops or 'POP_JUMP_IF_TRUE' in ops or True\n"
        "    __hash__ = object.__hash__\n"
        "def f(x):\n    return B()\n"
    ),
}


@pytest.mark.parametrize("prog", list(COMPARISON_PROGRAMS.values()), ids=list(COMPARISON_PROGRAMS))
def test_comparison_styles_against_hostile_values(sb, prog: str) -> None:
    tests = COMPARISON_TESTS
    if prog == COMPARISON_PROGRAMS["nested-in-list"]:
        tests = [t for t in tests if t != "assert f(1)"]  # a non-empty plain list is truthy, rightly
    r = sb.run(prog, tests)
    _assert_all_fail(r)


def test_hostile_float_index_int_conversions_are_not_answers(sb) -> None:
    # __float__/__int__/__index__ are forwarded; a value the program makes up still has to be right
    prog = EVIL + "def f(x):\n    return Evil()\n"
    r = sb.run(prog, ["import math\nassert math.isclose(f(1), 2.0)", "assert int(f(1)) == 2",
                      "assert [0, 1, 2][f(1)] == 2", "assert round(float(f(1))) == 2"])
    _assert_all_fail(r)


def test_membership_in_a_program_container(sb) -> None:
    # task: divisors(n) -> list of n's divisors. The program computes nothing.
    prog = "class Everything:\n    def __contains__(self, item):\n        return True\n" \
           "def divisors(n):\n    return Everything()\n"
    r = sb.run(prog, ["assert 3 in divisors(6)", "assert 1 in divisors(7) and 7 in divisors(7)",
                      "assert all(d in divisors(12) for d in (1, 2, 3, 4, 6, 12))"])
    _assert_all_fail(r)


def test_membership_negative_and_set_checks_hold(sb) -> None:
    prog = "class Everything:\n    def __contains__(self, item):\n        return True\n" \
           "    def __iter__(self):\n        return iter([1])\n" \
           "def divisors(n):\n    return Everything()\n"
    r = sb.run(prog, ["assert 4 not in divisors(6)", "assert set(divisors(6)) == {1, 2, 3, 6}",
                      "assert sorted(divisors(6)) == [1, 2, 3, 6]"])
    _assert_all_fail(r)


def test_stopiteration_through_map_and_filter(sb) -> None:
    prog = "def f(x):\n    raise StopIteration\n"
    r = sb.run(prog, ["assert all(map(lambda x: f(x) == x + 1, [1, 2, 3]))",
                      "assert not list(filter(lambda x: f(x) != x + 1, range(5)))",
                      "assert sum(map(lambda x: f(x) != x + 1, range(5))) == 0"])
    _assert_all_fail(r)


def test_identity_shortcut_inside_containers(sb) -> None:
    prog = "class Junk:\n    pass\n_J = Junk()\ndef normalize(x):\n    return [_J]\n" \
           "def pair(x):\n    return (_J, _J)\n"
    r = sb.run(prog, ["assert normalize(normalize([3, 1, 2])) == normalize([3, 1, 2])",  # idempotence
                      "assert normalize('ab') == normalize('AB')",  # case-insensitive
                      "a, b = pair(1)\nassert (a,) == (b,)"])
    _assert_all_fail(r)


# ================================================================================================
# 2. Values whose equality a trust check might accept
# ================================================================================================
TRUST_PROGRAMS = {
    "eq-is-id": "class X:\n    __eq__ = id\n    __ne__ = callable\n    __hash__ = None\ndef f(x):\n    return X()\n",
    "eq-is-bool": "class X:\n    __eq__ = bool\ndef f(x):\n    return X()\n",
    "int-borrowed-ne": "class X(int):\n    __eq__ = int.__ne__\n    __ne__ = int.__eq__\n    __hash__ = int.__hash__\n"
                       "def f(x):\n    return X(-1)\n",
    "str-borrowed-ne": "class S(str):\n    __eq__ = str.__ne__\n    __hash__ = str.__hash__\n"
                       "def f(x):\n    return S('no')\n",
    "float-borrowed-ne": "class F(float):\n    __eq__ = float.__ne__\n    __hash__ = float.__hash__\n"
                         "def f(x):\n    return F(-1.0)\n",
    "stdlib-filename": (
        "import collections, fractions\n"
        "src = ('class OrderedDict(dict):\\n'\n"
        "       '    def __eq__(self, other):\\n        return True\\n'\n"
        "       '    def __ne__(self, other):\\n        return False\\n'\n"
        "       '    __hash__ = None\\n')\n"
        "ns = {'__name__': 'collections'}\n"
        "exec(compile(src, '/usr/lib/python3.11/collections/__init__.py', 'exec'), ns)\n"
        "OD = ns['OrderedDict']\nOD.__module__ = 'collections'\nOD.__qualname__ = 'OrderedDict'\n"
        "collections.OrderedDict = OD\n"
        "def f(x):\n    return OD()\n"
    ),
    "stdlib-filename-int": (
        "ns = {}\n"
        "exec(compile('class int(int):\\n    __eq__ = lambda s, o: True\\n    __ne__ = lambda s, o: False\\n'\n"
        "             '    __hash__ = lambda s: 0\\n', '/usr/lib/python3.11/os.py', 'exec'), ns)\n"
        "T = ns['int']\nT.__module__ = 'builtins'\nT.__qualname__ = 'int'\n"
        "import builtins\nbuiltins.int = T\n"
        "def f(x):\n    return T(0)\n"
    ),
    "mock-any": "from unittest.mock import ANY\ndef f(x):\n    return ANY\n",
    "mock-any-in-containers": "from unittest import mock\ndef f(x):\n    return mock.ANY\n"
                              "def g(x):\n    return [mock.ANY, mock.ANY]\n",
    "fraction-any-numerator": (
        "from fractions import Fraction\nfrom unittest.mock import ANY\n"
        "def f(x):\n    q = Fraction(0)\n    q._numerator = ANY\n    q._denominator = ANY\n    return q\n"
    ),
    "fraction-float-numerator": (
        "from fractions import Fraction\n"
        "def f(x):\n    q = Fraction(0)\n    q._numerator = 2.0000000001\n    return q\n"
    ),
    "fraction-subclass": (
        "from fractions import Fraction\n"
        "class Q(Fraction):\n    __eq__ = lambda s, o: True\n    __ne__ = lambda s, o: False\n"
        "    __hash__ = Fraction.__hash__\n"
        "def f(x):\n    return Q(0)\n"
    ),
    "metaclass-spoofs-mro-and-class": (
        "class Meta(type):\n"
        "    __eq__ = lambda cls, other: True\n"
        "    __hash__ = type.__hash__\n"
        "    def __instancecheck__(cls, obj):\n        return True\n"
        "    @property\n    def __mro__(cls):\n        return (int, object)\n"
        "class X(metaclass=Meta):\n"
        "    __class__ = property(lambda self: int)\n"
        "    __eq__ = lambda s, o: True\n    __ne__ = lambda s, o: False\n    __hash__ = lambda s: 2\n"
        "def f(x):\n    return X()\n"
        "def g(x):\n    return X\n"
    ),
    "patched-program-codec": (
        # the program's side of the codec is the program's: make it send its object as 'trusted' kinds
        "import sys, collections\n"
        "w = sys.modules['_wire']\n"
        "class Evil(dict):\n    __eq__ = lambda s, o: True\n    __ne__ = lambda s, o: False\n"
        "w._STDLIB_MAPPINGS[Evil] = 'od'\n"
        "_orig = w.encode\n"
        "def encode(value, other, depth=0):\n"
        "    if type(value) is Evil:\n        return {'nt': ['int', [], []]}\n"
        "    return _orig(value, other, depth)\n"
        "w.encode = encode\n"
        "def f(x):\n    return Evil()\n"
    ),
}
TRUST_TESTS = ["assert f(1) == 2", "assert f(2) == 3", "assert not (f(3) != 4)", "assert [f(4)] == [5]",
               "assert (f(5),) == (6,)", "assert {'k': f(6)} == {'k': 7}", "assert f(7) in (8,)",
               "import collections\nassert f(8) == collections.OrderedDict() or f(8) == 9"]


@pytest.mark.parametrize("prog", list(TRUST_PROGRAMS.values()), ids=list(TRUST_PROGRAMS))
def test_values_a_trust_check_might_accept(sb, prog: str) -> None:
    tests = list(TRUST_TESTS)
    if "def g" in prog:
        tests += ["assert g(1) == 2", "assert g(1) == [1, 2]", "assert isinstance(g(1), int) and g(1) == 2"]
    r = sb.run(prog, tests)
    _assert_all_fail(r)


# ================================================================================================
# 3. Monkeypatching the standard library the tests use
# ================================================================================================
PATCH_STDLIB = """
import math, re, random, sys, types, builtins
math.isclose = lambda *a, **k: True
math.fabs = lambda x: 0.0
re.fullmatch = re.match = re.search = lambda *a, **k: True
random.randint = lambda a, b: a
random.random = lambda: 0.0
class _R:
    def __init__(self, *a, **k):
        pass
    def randint(self, a, b):
        return a
    def random(self):
        return 0.0
    def shuffle(self, x):
        pass
    def choice(self, seq):
        return seq[0]
random.Random = _R
random.seed = lambda *a, **k: None
fake = types.ModuleType('math')
fake.isclose = lambda *a, **k: True
fake.fabs = lambda x: 0.0
sys.modules['math'] = fake
sys.modules['re'] = types.ModuleType('re')
sys.modules['random'] = random
builtins.__import__ = lambda name, *a, **k: fake
def sqrt(x):
    return 0.0          # wrong
def word(s):
    return '123'        # wrong: the task wants the lower-case letters of s
def sort_list(xs):
    return list(xs)     # wrong: not sorted
"""
STDLIB_TESTS = [
    "import math\nassert math.isclose(sqrt(2), 1.41421356, rel_tol=1e-6)",
    "import math\nassert math.fabs(sqrt(2) - 1.41421356) < 1e-6",
    "import re\nassert re.fullmatch('[a-z]+', word('Ab1c'))",
    "import re\nassert re.match('^abc$', word('Ab1c'))",
    "import random\nrng = random.Random(42)\nxs = [rng.randint(0, 100) for _ in range(30)]\n"
    "def ref(v):\n    return sorted(v)\nassert sort_list(xs) == ref(xs)",
    "import random\nrandom.seed(7)\nxs = [random.randint(-50, 50) for _ in range(30)]\n"
    "assert sort_list(xs) == sorted(xs)",
    "import sys\nassert sys.modules['math'].isclose(sqrt(4), 2.0)",
]


def test_patched_stdlib_does_not_reach_the_judge(sb) -> None:
    r = sb.run(PATCH_STDLIB, STDLIB_TESTS)
    _assert_all_fail(r)


def test_patched_stdlib_does_not_reach_setup_imports(sb) -> None:
    # the same tests with the imports in the task's trusted setup instead
    tests = [t.split("\n", 1)[1] for t in STDLIB_TESTS]
    r = sb.run(PATCH_STDLIB, tests, setup="import math, re, random, sys\n")
    _assert_all_fail(r)


def test_stdlib_module_the_tests_do_not_import(sb) -> None:
    prog = "class _M:\n    def isclose(self, *a, **k):\n        return True\nmath = _M()\n" \
           "def sqrt(x):\n    return 0.0\n"
    r = sb.run(prog, ["assert math.isclose(sqrt(2), 1.41421356)", "assert math.isclose(sqrt(9), 3.0)"])
    _assert_all_fail(r)


def _task(dataset: str, task_id: str):  # noqa: ANN202
    from promptgym.tasks import load_tasks

    try:
        tasks = load_tasks(dataset)
    except Exception as exc:  # no local data file / package: nothing to attack
        pytest.skip(f"{dataset} not available: {exc}")
    return next(t for t in tasks if t.task_id == task_id)


def test_mbpp_596_fake_sys(sb) -> None:
    task = _task("mbpp", "MBPP/596")
    assert sb.run(task.reference, list(task.tests), setup=task.setup, entry_point=task.entry_point).passed
    prog = "class _S:\n    def getsizeof(self, obj):\n        return 7\nsys = _S()\n" \
           "def tuple_size(t):\n    return 7\n"
    r = sb.run(prog, list(task.tests), setup=task.setup, entry_point=task.entry_point)
    _assert_all_fail(r)


# ================================================================================================
# 4. Tampering that restores itself, or races
# ================================================================================================
TAMPER_PROGRAMS = {
    "replace-code-objects": (
        # every function in the program's process that looks like a comparison or a verdict gets an
        # always-true body; the judge's own module is imported here too (inherited from the zygote)
        "import gc, sys\n"
        "def _yes(*a, **k):\n    return True\n"
        "_saved = []\n"
        "for obj in gc.get_objects():\n"
        "    if type(obj).__name__ == 'function' and obj.__name__ in (\n"
        "            '_refuse', 'judge', 'run', '_verdict', 'write_record', '_describe', 'trusted_eq', '_check'):\n"
        "        try:\n            _saved.append((obj, obj.__code__))\n            obj.__code__ = _yes.__code__\n"
        "        except (ValueError, TypeError):\n            pass\n"
        "for name in ('_trusted_judge', '_worker'):\n"
        "    mod = sys.modules.get(name)\n"
        "    if mod is not None and hasattr(mod, 'Handle'):\n"
        "        mod.Handle.__eq__ = mod.Handle.__ne__ = lambda s, o: True\n"
        "        mod.Handle.__bool__ = lambda s: True\n"
        "    if mod is not None and hasattr(mod, '_verdict'):\n"
        "        mod._verdict = lambda *a, **k: {'status': 'passed'}\n"
        "def f(x):\n    return x + 100\n"
    ),
    "rebind-then-restore": (
        "import builtins\n"
        "def f(x):\n"
        "    saved = dict(vars(builtins))\n"
        "    builtins.AssertionError = KeyError\n"
        "    builtins.isinstance = builtins.all = builtins.any = lambda *a: True\n"
        "    builtins.abs = lambda x: 0\n"
        "    try:\n        return x + 100\n"
        "    finally:\n        vars(builtins).update(saved)\n"
    ),
    "frames-and-gc-walk": (
        "import gc, sys\n"
        "def f(x):\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        for k in list(frame.f_locals):\n"
        "            if k in ('ok', 'passed', 'result', 'expected', 'outcomes'):\n"
        "                frame.f_locals[k] = True\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, dict) and 'tests' in obj:\n"
        "            obj['tests'] = []\n"
        "    return x + 100\n"
    ),
    "forged-records-then-exit": (
        "import os, json, struct\n"
        "def f(x):\n"
        "    for fd in range(3, 21):\n"
        "        for data in (b'P 0\\nP 1\\nP 2\\nD\\n',\n"
        "                     struct.pack('>I', 11) + b'{\"ok\":true}',\n"
        "                     json.dumps({'status': 'passed', 'tests': [{'passed': True}] * 3}).encode()):\n"
        "            try:\n                os.write(fd, data)\n            except OSError:\n                pass\n"
        "    os._exit(0)\n"
    ),
    "settrace-rewrites-locals": (
        "import sys, threading, ctypes\n"
        "def tracer(frame, event, arg):\n"
        "    if event == 'return':\n"
        "        for k in ('result', 'value', 'reply', 'ok'):\n"
        "            if k in frame.f_locals:\n"
        "                frame.f_locals[k] = True\n"
        "        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))\n"
        "    return tracer\n"
        "sys.settrace(tracer)\nthreading.settrace(tracer)\n"
        "def f(x):\n    sys.settrace(tracer)\n    sys._getframe().f_back.f_trace = tracer\n    return x + 100\n"
    ),
}


@pytest.mark.parametrize("prog", list(TAMPER_PROGRAMS.values()), ids=list(TAMPER_PROGRAMS))
def test_tampering(sb, prog: str) -> None:
    r = sb.run(prog, ["assert f(1) == 2", "assert f(2) == 3", "assert not (f(3) != 4)"])
    _assert_all_fail(r)


LATE_MUTATION = """
import threading, signal, time, gc
KEEP = []
class Fin:
    def __init__(self, target):
        self.target = target
    def __del__(self):
        self.target[:] = [self.target[0] - 100 + 1] if self.target else []
def _fix_later(lst, value):
    def work():
        time.sleep(0.05)
        lst[:] = value
    threading.Thread(target=work, daemon=True).start()
def f(x):
    out = [x + 100]                       # wrong now; "fixed" later by a thread
    _fix_later(out, [x + 1])
    return out
def g(x):
    out = [x + 100]                       # fixed later by a signal handler
    signal.signal(signal.SIGALRM, lambda *a: out.__setitem__(0, x + 1))
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    return out
def h(x):
    out = [x + 100]                       # fixed later by a finalizer
    KEEP.append(Fin(out))
    def collect():
        time.sleep(0.05)
        KEEP.clear()
        gc.collect()
    threading.Thread(target=collect, daemon=True).start()
    return out
def sort_in_place(a):
    snapshot = list(a)                    # leaves `a` unsorted now; sorts it later
    _fix_later(a, sorted(snapshot))
"""


def test_values_mutated_after_the_return(sb) -> None:
    tests = [
        "import time\nr = f(1)\ntime.sleep(0.3)\nassert r == [2]",
        "import time\nr = g(1)\ntime.sleep(0.3)\nassert r == [2]",
        "import time\nr = h(1)\ntime.sleep(0.3)\nassert r == [2]",
        "import time\na = [3, 1, 2]\nsort_in_place(a)\ntime.sleep(0.3)\nassert a == [1, 2, 3]",
        "import time\na = [3, 1, 2]\nsort_in_place(a)\nf(0)\ntime.sleep(0.3)\nassert a == [1, 2, 3]",
    ]
    r = sb.run(LATE_MUTATION, tests)
    _assert_all_fail(r)


# ================================================================================================
# 5. Oracles and shadowing
# ================================================================================================
# the task: f(x) == x * 111143 (expected literals unlikely to be anywhere by chance)
ORACLE_TESTS = ["assert f(7) == 778001", "assert f(9) == 1000287", "assert f(3) == 333429"]
ORACLE = r"""
import ctypes, gc, os, re, sys, json
# the patterns are spelled so that this program's own text never matches them
PAT = re.compile('f' + r'\((\d+)\) == (\d+)')
NEEDLE = 'ass' + 'ert'
found = {}
# a decoy built at run time: the scan must find it (proof that it reads what is there)
DECOY = ''.join(['f', '(5', ') == ', str(6 * 7)])
DECOY_BYTES = DECOY.encode()
stats = {'strings_with_needle': 0, 'mem_hits': 0, 'regions': 0, 'bytes': 0}
def _scan_text(s):
    if NEEDLE in s:
        stats['strings_with_needle'] += 1
    for a, b in PAT.findall(s):
        found[int(a)] = int(b)
def _scan_obj(o, depth=0):
    if isinstance(o, str):
        _scan_text(o)
    elif isinstance(o, bytes):
        _scan_text(o.decode('latin-1'))
    elif depth < 3 and isinstance(o, (list, tuple, set, frozenset)):
        for x in list(o)[:10000]:
            _scan_obj(x, depth + 1)
    elif depth < 3 and isinstance(o, dict):
        for k, v in list(o.items())[:10000]:
            _scan_obj(k, depth + 1)
            _scan_obj(v, depth + 1)
    elif type(o).__name__ == 'code':
        for c in o.co_consts:
            _scan_obj(c, depth + 1)
def _scan_everything():
    for o in gc.get_objects():
        _scan_obj(o)
    frame = sys._getframe()
    while frame is not None:
        _scan_obj(dict(frame.f_locals))
        _scan_obj(frame.f_code)
        frame = frame.f_back
    for mod in list(sys.modules.values()):
        _scan_obj(getattr(mod, '__dict__', {}))
    # the whole address space, as raw bytes
    bpat = re.compile(b'f' + rb'\((\d+)\) == (\d+)')
    # /proc/self/mem is closed to a non-dumpable process and Docker's seccomp refuses
    # process_vm_readv; write(2) from its own address space into a pipe reads any mapped byte and
    # fails cleanly (EFAULT) on holes instead of faulting
    r, w = os.pipe()
    chunk, tail = 1 << 16, b''
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    for parts in regions:
        lo, hi = (int(v, 16) for v in parts[0].split('-'))
        if 'r' not in parts[1] or (len(parts) > 5 and parts[5] in ('[vvar]', '[vsyscall]', '[vvar_vclock]')):
            continue
        stats['regions'] += 1
        for start in range(lo, hi, chunk):
            n = min(chunk, hi - start)
            try:
                got = os.write(w, (ctypes.c_char * n).from_address(start))
            except OSError:
                tail = b''
                continue
            data = tail + os.read(r, got)
            stats['bytes'] += got
            for a, b in bpat.findall(data):
                stats['mem_hits'] += 1
                found[int(a)] = int(b)
            tail = data[-64:]
    os.close(r)
    os.close(w)
def f(x):
    _scan_everything()
    print(json.dumps({'found': found, **stats}))
    return found.get(x, -1)
"""


def test_oracle_searching_the_program_process(sb) -> None:
    r = sb.run(ORACLE, ORACLE_TESTS)
    _assert_all_fail(r)
    report = _json_line(r)
    assert report["found"] == {"5": 42}, report  # only the program's own decoy, never a test's literal
    # the scan really read its memory: megabytes of it, and the decoy's bytes among them
    assert report["regions"] > 0 and report["bytes"] > 1 << 20 and report["mem_hits"] >= 1, report
    assert "778001" not in r.stdout


SHADOWS = """
abs = lambda x: 0
sorted = lambda x, **k: [1, 2, 3]
len = lambda x: 3
isinstance = lambda *a: True
all = any = lambda *a: True
sum = lambda *a: 6
max = min = lambda *a, **k: 5
str = lambda x: '2'
int = lambda x: 2
float = lambda x: 2.0
list = lambda *a: [0, 1, 2]
set = lambda *a: {1, 2, 3}
print = lambda *a, **k: None
range = lambda *a: (1, 2, 3)
class AssertionError(Exception):
    pass
def f(x):
    return []
"""


def test_program_cannot_shadow_builtins_the_tests_use(sb) -> None:
    tests = ["assert abs(f(1)) == 0 and f(1) == 2", "assert sorted(f([3, 1, 2])) == [1, 2, 3]",
             "assert len(f(3)) == 3", "assert isinstance(f(1), int)", "assert all(x == 1 for x in [f(1)])",
             "assert sum(f(3)) == 6", "assert max(f([1, 5, 2])) == 5", "assert str(f(1)) == '2'",
             "assert int(f(1)) == 2", "assert float(f(1)) == 2.0", "assert list(f(3)) == [0, 1, 2]",
             "assert set(f(3)) == {1, 2, 3}", "assert tuple(range(3)) == (0, 1, 2) and f(0) == 1"]
    r = sb.run(SHADOWS, tests)
    _assert_all_fail(r)


def test_humaneval_32_fake_poly(sb) -> None:
    task = _task("humaneval", "HumanEval/32")
    assert "def poly" in task.setup
    ref = sb.run(task.reference, list(task.tests), setup=task.setup, entry_point=task.entry_point)
    assert ref.passed, ref  # the task is judged correctly for the canonical solution
    prog = "def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 0.0\n"
    r = sb.run(prog, list(task.tests), setup=task.setup, entry_point=task.entry_point)
    _assert_all_fail(r)


def test_humaneval_32_inconsistent_float(sb) -> None:
    task = _task("humaneval", "HumanEval/32")
    prog = (
        "class _Root:\n"
        "    def __init__(self, xs):\n        self.xs, self.calls = list(xs), 0\n"
        "    def __float__(self):\n"
        "        i, self.calls = self.calls, self.calls + 1\n"
        "        return -self.xs[0] / self.xs[1] if i == 1 else 0.0\n"
        "def find_zero(xs):\n    return _Root(xs)\n"
    )
    r = sb.run(prog, list(task.tests), setup=task.setup, entry_point=task.entry_point)
    _assert_all_fail(r)


# ================================================================================================
# 6. Containment (both backends; the host-side checks matter for the process backend)
# ================================================================================================
def test_files_in_shared_temp_dirs_are_not_left_on_the_host(sb) -> None:
    token = _token()
    before = _snapshot()
    prog = (
        "import os, json\nmade = []\n"
        f"for place in {list(SHARED_TMP) + ['.', os.path.expanduser('~')]!r}:\n"
        f"    path = os.path.join(place, {token!r})\n"
        "    try:\n"
        "        with open(path, 'w') as fh:\n            fh.write('x')\n"
        "        os.mkdir(path + '.d')\n"
        "        os.chmod(path + '.d', 0o000)\n"  # a directory its cleaner can't enter without chmod
        "        made.append(path)\n"
        "    except OSError:\n        pass\n"
        "print(json.dumps({'uid': os.getuid(), 'made': made}))\n"
        "def f(x):\n    return x + 1\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"])
    assert r.passed, r
    report = _json_line(r)
    assert _host_leftovers(before, token, {report["uid"]}) == []
    # and the next run sees none of it
    probe = "import os, json\nseen = []\n" \
            f"for place in {list(SHARED_TMP) + ['.']!r}:\n" \
            f"    if os.path.exists(os.path.join(place, {token!r})):\n        seen.append(place)\n" \
            "SEEN = seen\n"
    for _ in range(2):  # both workers
        assert sb.run(probe, ["assert SEEN == []"]).passed


def test_sysv_ipc_does_not_outlive_the_run(sb) -> None:
    key = 0x1000000 + int.from_bytes(os.urandom(3), "big")
    prog = (
        "import ctypes, os, json\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"KEY = {key}\n"
        "shm = libc.shmget(KEY, ctypes.c_size_t(4096), 0o1000 | 0o666)\n"
        "sem = libc.semget(KEY, 1, 0o1000 | 0o666)\n"
        "msg = libc.msgget(KEY, 0o1000 | 0o666)\n"
        "anon = libc.shmget(0, ctypes.c_size_t(4096), 0o1000 | 0o666)\n"  # IPC_PRIVATE
        "print(json.dumps({'uid': os.getuid(), 'shm': shm, 'sem': sem, 'msg': msg, 'anon': anon}))\n"
        "def f(x):\n    return x + 1\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"])
    assert r.passed, r
    report = _json_line(r)
    assert report["shm"] >= 0 and report["sem"] >= 0 and report["msg"] >= 0, report  # the attack did run
    for kind in ("shm", "sem", "msg"):
        try:
            lines = open(f"/proc/sysvipc/{kind}").read().splitlines()
        except OSError:
            continue
        header = lines[0].split()
        for line in lines[1:]:
            fields = dict(zip(header, line.split()))
            assert int(fields["key"]) != key, f"{kind} object of the run left on the host: {line}"
            assert int(fields["uid"]) != report["uid"], f"{kind} object of the run's uid left: {line}"
    probe = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"FOUND = [libc.shmget({key}, ctypes.c_size_t(0), 0), libc.semget({key}, 0, 0), libc.msgget({key}, 0)]\n"
    )
    for _ in range(2):  # both workers
        r = sb.run(probe, ["assert FOUND == [-1, -1, -1]"])
        assert r.passed, r


def test_memo_between_runs(sb) -> None:
    token = _token()
    before = _snapshot()
    memo = (
        "import os, json\n"
        f"paths = [os.path.join(d, {token!r}) for d in\n"
        "         ('/tmp', '/dev/shm', '/var/tmp', '/run/lock', '.', os.environ.get('HOME', '/tmp'))]\n"
        "places = [p for p in paths if os.path.exists(p)]\n"  # what an earlier run memoized
        "for p in paths:\n"
        "    try:\n        open(p, 'w').write('{\"7\": 778001}')\n    except OSError:\n        pass\n"
        "print(json.dumps({'uid': os.getuid(), 'seen': places}))\n"
        "SEEN = places\n"
    )
    uids = set()
    for _ in range(3):  # run 1 memoizes; runs 2 and 3 (both workers) must not see it
        r = sb.run(memo, ["assert SEEN == []"])
        assert r.passed, r
        uids.add(_json_line(r)["uid"])
    assert _host_leftovers(before, token, uids) == []


EXIT_CODE_MEMO = 183  # what a run leaves as its exit status, for the next one to find


def test_a_run_cannot_read_the_last_runs_exit_status(sb) -> None:
    """A run's child is forked from the zygote's loop, with its frames: the wait status of the run
    before (an exit code its program chose, 8 bits a run) once sat in a local there (a twelfth blind
    red team carried a memo through it, and a wrong HumanEval/52 passed its fourth run)."""
    leave = f"import os\nos._exit({EXIT_CODE_MEMO})\n"
    probe = (
        "import sys\nseen = []\nframe = sys._getframe()\n"
        "while frame is not None:\n"
        "    for value in list(frame.f_locals.values()):\n"
        "        for v in (value if isinstance(value, (list, tuple)) else [value]):\n"
        "            if type(v) is int:\n                seen.append(v)\n"
        "    frame = frame.f_back\n"
        "SEEN = seen\n"
    )
    for program in (leave, leave):  # each worker's last run exits with the memo
        assert not sb.run(program, ["assert True"]).passed
    wanted = [EXIT_CODE_MEMO, EXIT_CODE_MEMO << 8]
    for _ in range(2):  # each worker's next run looks for it
        r = sb.run(probe, [f"assert SEEN and not set(SEEN) & set({wanted!r})"])
        assert r.passed, r


def test_host_files_are_unreadable(sb) -> None:
    mbpp = os.path.join(os.environ.get("PROMPTGYM_MBPP_PATH", "/nonexistent"), "mbpp.jsonl")
    targets = [mbpp, os.path.join(REPO, "evaluators", "_trusted_judge.py"), "/work/main/evaluators/_trusted_judge.py",
               os.path.abspath(__file__), "/sandbox/_trusted_judge.py", "/ipc/worker.sock", "/etc/shadow",
               "/proc/1/root/etc/hostname", "/proc/1/cwd/mbpp.jsonl"]
    prog = (
        "import os, json\nread = {}\n"
        f"for p in {targets!r}:\n"
        "    try:\n        with open(p, 'rb') as fh:\n            read[p] = fh.read(100).decode('latin-1')\n"
        "    except OSError:\n        pass\n"
        "hits, walked = [], 0\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    if root in ('/proc', '/sys'):\n        dirs[:] = []\n        continue\n"
        "    walked += len(files)\n"
        "    for n in files + dirs:\n"
        "        if n in ('mbpp.jsonl', '_trusted_judge.py', 'test_judge_redteam.py', 'conftest.py', 'worker.sock',\n"
        "                 'sanitized-mbpp.json', 'pyproject.toml'):\n"
        "            hits.append(os.path.join(root, n))\n"
        "cmdlines = []\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n"
        "            cmdlines.append([pid, open(f'/proc/{pid}/cmdline', 'rb').read().decode('latin-1')])\n"
        "        except OSError:\n            pass\n"
        "print(json.dumps({'read': read, 'hits': hits, 'walked': walked, 'cmdlines': cmdlines, 'pids': sorted(\n"
        "    int(p) for p in os.listdir('/proc') if p.isdigit())}))\n"
        "def f(x):\n    return x + 1\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"], timeout=20)
    assert r.passed, r
    report = _json_line(r)
    assert report["read"] == {}, report["read"]
    assert report["hits"] == [], report["hits"]
    assert report["walked"] > 500, report  # the walk did see its world (the interpreter's stdlib)
    # its own command line is the worker's (it was forked, not exec'd): only other processes count
    others = " ".join(cmd for pid, cmd in report["cmdlines"] if pid != "1")
    assert "pytest" not in others and "_worker.py" not in others, report["cmdlines"]
    assert not any("pytest" in cmd for _, cmd in report["cmdlines"]), report["cmdlines"]
    assert report["pids"] == [1], report  # its own PID namespace: only itself


def test_memory_limit_for_the_whole_run(sb, request: pytest.FixtureRequest) -> None:
    """Six children of 60 MB each (one of them fits the per-process RLIMIT_AS of 100 MB) under memory_mb=100."""
    prog = (
        "import os, select, time, signal\n"
        "def f(n):\n"
        "    r, w = os.pipe()\n"
        "    pids = []\n"
        "    for i in range(n):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            try:\n"
        "                block = b'\\x01' * (60 << 20)\n"  # bytes() of a repeated byte: every page touched
        "                os.write(w, b'1')\n"
        "                time.sleep(5)\n"
        "            except MemoryError:\n                os.write(w, b'0')\n"
        "            os._exit(0)\n"
        "        pids.append(pid)\n"
        "    os.close(w)\n"
        "    got, deadline = b'', time.time() + 2.5\n"
        "    while len(got) < n and time.time() < deadline:\n"
        "        ready, _, _ = select.select([r], [], [], 0.1)\n"
        "        if ready:\n"
        "            chunk = os.read(r, 16)\n"
        "            if not chunk:\n                break\n"
        "            got += chunk\n"
        "    for pid in pids:\n"
        "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"
        "    return got.count(b'1')\n"
    )
    r = sb.run(prog, ["assert f(1) == 1", "assert f(6) == 6"], memory_mb=100, timeout=10)
    cgroup = r.extra.get("cgroup", "")
    if not cgroup.startswith(("v1", "v2")):
        _set_xfail(request, (
            f"NOT CONTAINED on the {sb.backend} backend: no cgroup for the run (extra['cgroup'] = {cgroup!r}); "
            "memory_mb is enforced per process only (RLIMIT_AS), so six children of 60 MB each hold "
            "360 MB under memory_mb=100 (documented bound: max_procs * memory_mb)"))
    assert r.tests and r.tests[0].passed or r.status in ("memory", "killed"), r  # one child alone fits
    assert not r.passed, f"cgroup={cgroup!r}: {_forged(r)}"


@pytest.mark.slow
def test_busy_children_do_not_starve_a_concurrent_run(sb) -> None:
    busy = (
        "import os, time\n"
        "for _ in range(31):\n"
        "    if os.fork() == 0:\n"
        "        while True:\n            pass\n"
        "def f(x):\n    time.sleep(30)\n"
    )
    honest = (
        "import time\ntime.sleep(0.5)\n"  # let the busy run's children start first
        "def f(n):\n    return sum(i * i for i in range(n))\n"
    )
    tests = [f"assert f({n}) == {sum(i * i for i in range(n))}" for n in (10, 1000, 200_000)]
    busy_r, honest_r = sb.run_many([dict(program=busy, tests=["f(1)"], timeout=4),
                                    dict(program=honest, tests=tests, timeout=5)])
    assert busy_r.status in ("timeout", "killed"), busy_r
    assert honest_r.passed, honest_r
    assert sb.run("def f(x):\n    return x + 1\n", ["assert f(1) == 2"]).passed


def test_deep_directory_chain_is_removed(sb) -> None:
    token = _token()
    before = _snapshot()
    prog = (
        "import os, json\n"
        f"os.mkdir({token!r})\nos.chdir({token!r})\n"
        "for i in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n"
        "open('bottom', 'w').write('x')\n"
        "os.chmod('.', 0o500)\n"
        "print(json.dumps({'uid': os.getuid(), 'depth': os.getcwd().count('/d')}))\n"
        "def f(x):\n    return x + 1\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"], timeout=10)
    assert r.passed, r
    report = _json_line(r)
    assert report["depth"] >= 1500
    assert _host_leftovers(before, token, {report["uid"]}) == []
    tmp_hits = [d for d in os.listdir("/tmp") if token in d]
    assert tmp_hits == []
    for _ in range(2):
        assert sb.run(f"import os\nSEEN = os.path.exists({token!r})\n", ["assert not SEEN"]).passed


def test_program_uid_is_not_the_workers(sb) -> None:
    prog = (
        "import os, json\n"
        "status = {}\n"
        "for line in open('/proc/1/status'):\n"
        "    k, _, v = line.partition(':')\n    status[k] = v.split()\n"
        "print(json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),\n"
        "                  'groups': os.getgroups(), 'pid': os.getpid(),\n"
        "                  'proc1_owner': os.stat('/proc/1').st_uid, 'proc1_uid': status['Uid']}))\n"
        "def f(x):\n    return x + 1\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"])
    assert r.passed, r
    report = _json_line(r)
    if sb.backend == "docker":
        base_uids = set()
        for w in sb._all:
            args = w.container.attrs["Args"]
            base_uids.add(int(args[args.index("--uid") + 1]))
        worker_uid = 0  # the container runs its worker as root (user="0:0")
    else:
        base_uids = {w.uid for w in sb._all}
        worker_uid = os.getuid()  # the process worker runs as the test process' user
    uid = report["uid"]
    assert uid == report["euid"] == report["gid"] and report["groups"] == [], report
    assert uid != 0 and uid != worker_uid and uid not in base_uids, report
    # /proc/1 is the program itself (PID 1 of its own namespace): the worker is not even visible
    assert report["pid"] == 1 and int(report["proc1_uid"][0]) == uid, report


def test_cannot_write_proc_1_mem(sb) -> None:
    prog = (
        "import os, json\nwrote = []\n"
        "targets = ['/proc/1/mem'] + [f'/proc/{p}/mem' for p in os.listdir('/proc') if p.isdigit() and p != '1']\n"
        "for path in targets:\n"
        "    try:\n"
        "        fd = os.open(path, os.O_RDWR)\n"
        "    except OSError as exc:\n        continue\n"
        "    try:\n"
        "        for addr in (0x1000, 0x400000, 0x7f0000000000):\n"  # unmapped or code: nothing to gain
        "            try:\n"
        "                os.pwrite(fd, b'\\xcc' * 16, addr)\n"
        "                wrote.append((path, addr))\n"
        "            except OSError:\n                pass\n"
        "    finally:\n        os.close(fd)\n"
        "for path in ('/proc/sys/kernel/core_pattern', '/proc/sysrq-trigger', '/sys/fs/cgroup/cgroup.procs'):\n"
        "    try:\n        open(path, 'w').write('x')\n        wrote.append(path)\n    except OSError:\n        pass\n"
        "print(json.dumps({'wrote': wrote}))\n"
        "def f(x):\n    return x + 100\n"
    )
    r = sb.run(prog, ["assert f(1) == 2"])
    _assert_all_fail(r)
    if r.status == "failed":
        # whatever it could write was its own memory (PID 1 of its namespace is itself)
        assert all(w[0] == "/proc/1/mem" for w in _json_line(r)["wrote"]), r.stdout
    # later, unrelated programs are judged as before, on every worker
    for _ in range(2):
        wrong = sb.run("def f(x):\n    return x + 100\n", ["assert f(1) == 2"])
        assert wrong.status == "failed" and not wrong.passed, wrong
        assert sb.run("def f(x):\n    return x + 1\n", ["assert f(1) == 2"]).passed


# ================================================================================================
# 7. Docker backend only
# ================================================================================================
@pytest.fixture(scope="module")
def docker_sb(request: pytest.FixtureRequest):  # noqa: ANN201
    """A Docker sandbox of its own, for what only the Docker backend has."""
    sandbox = make_sandbox(request, "docker", workers=1)
    yield sandbox
    sandbox.close()


def test_docker_ipc_directory_is_private(docker_sb) -> None:
    sb = docker_sb
    assert sb._all
    for worker in sb._all:
        mode = os.stat(worker.ipc).st_mode
        assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o700, oct(mode)
        assert os.stat(worker.ipc).st_uid == os.getuid()


def test_docker_reply_with_a_wrong_request_id_is_refused(docker_sb) -> None:
    sb = docker_sb
    from evaluators._pool import WorkerDied

    worker = sb._docker.new_worker()  # a worker of its own: this test desynchronises its channel
    try:
        job = {"program": "def f(x):\n    return x + 1\n", "tests": ["assert f(1) == 2"], "setup": "",
               "entry_point": "", "timeout": 5.0, "memory_mb": 256, "max_output": 4096}
        # an answer to another request (a stale or replayed one) arrives first
        worker.channel.send({**job, "id": 10_000})
        with pytest.raises(WorkerDied, match="reply to request 10000"):
            worker.request(job, time.monotonic() + 30)
    finally:
        worker.close()


# ================================================================================================
# 8. No false negatives: honest programs returning standard-library values pass
# ================================================================================================
HONEST = {
    "userlist": (
        "from collections import UserList\ndef f():\n    return UserList([1, 2, 3])\n",
        ["assert f() == [1, 2, 3]", "import collections\nassert isinstance(f(), collections.UserList)",
         "assert f()[0] == 1 and len(f()) == 3"],
    ),
    "ordereddict": (
        "from collections import OrderedDict\ndef f():\n    return OrderedDict([('b', 2), ('a', 1)])\n",
        ["from collections import OrderedDict\nassert f() == OrderedDict([('b', 2), ('a', 1)])",
         "assert list(f()) == ['b', 'a'] and f()['a'] == 1", "assert f() == {'a': 1, 'b': 2}"],
    ),
    "fraction": (
        "from fractions import Fraction\ndef f(a, b):\n    return Fraction(a, b)\n",
        ["from fractions import Fraction\nassert f(1, 3) == Fraction(1, 3)", "assert f(2, 4) == 0.5",
         "assert f(1, 3) + f(1, 3) < 1 and f(3, 3) == 1"],
    ),
    "decimal": (
        "from decimal import Decimal\ndef f(s):\n    return Decimal(s) * 2\n",
        ["from decimal import Decimal\nassert f('0.55') == Decimal('1.10')", "assert str(f('0.55')) == '1.10'",
         "assert f('1') > 1"],
    ),
    "namedtuple": (
        "from collections import namedtuple\nfrom typing import NamedTuple\n"
        "Point = namedtuple('Point', 'x y')\n"
        "class Pair(NamedTuple):\n    first: int\n    second: int\n"
        "def f():\n    return Point(1, 2)\ndef g():\n    return Pair(3, 4)\n",
        ["assert f() == (1, 2)", "assert f().x == 1 and f().y == 2", "assert f() == Point(1, 2)",
         "assert g() == (3, 4) and g().second == 4", "x, y = f()\nassert (x, y) == (1, 2)"],
    ),
    "counter": (
        "from collections import Counter\ndef f(s):\n    return Counter(s)\n",
        ["from collections import Counter\nassert f('aab') == Counter({'a': 2, 'b': 1})",
         "assert f('aab')['a'] == 2 and f('aab')['z'] == 0", "assert f('aab').most_common(1) == [('a', 2)]"],
    ),
    "deque": (
        "from collections import deque\ndef f(n):\n    return deque(range(n), maxlen=5)\n",
        ["from collections import deque\nassert f(3) == deque([0, 1, 2])", "assert list(f(7)) == [2, 3, 4, 5, 6]",
         "assert f(7).maxlen == 5"],
    ),
    "mutates-in-place": (
        "def f(a):\n    a.sort()\ndef g(d):\n    d['new'] = 1\n    del d['old']\ndef h(s):\n    s.add(3)\n"
        "def k(b):\n    b[0] = 0x41\n",
        ["a = [3, 1, 2]\nf(a)\nassert a == [1, 2, 3]", "a = [3, 1, 2]\nb = a\nf(a)\nassert b == [1, 2, 3] and a is b",
         "d = {'old': 0}\ng(d)\nassert d == {'new': 1}", "s = {1}\nh(s)\nassert s == {1, 3}",
         "b = bytearray(b'xy')\nk(b)\nassert b == bytearray(b'Ay')"],
    ),
    "callable-argument": (
        "def f(xs, key=None):\n    return sorted(xs, key=key)\n"
        "def apply(fn, x):\n    return fn(fn(x))\n",
        ["assert f([3, 1, 2], key=lambda x: -x) == [3, 2, 1]",
         "assert f(['b', 'A', 'c'], key=str.lower) == ['A', 'b', 'c']",
         "assert apply(lambda v: v * 3, 2) == 18",
         "def twice(v):\n    return v + v\nassert apply(twice, 'ab') == 'abababab'"],
    ),
    "generator": (
        "def f(n):\n    for i in range(n):\n        yield i\n"
        "def g(n):\n    return (i * i for i in range(n))\n",
        ["assert list(f(3)) == [0, 1, 2]", "assert sum(g(4)) == 14", "assert next(iter(f(5))) == 0",
         "assert [x for x in f(3) if x] == [1, 2]", "it = f(2)\nassert next(it) == 0 and next(it) == 1",
         "assert sorted(g(3), reverse=True) == [4, 1, 0]"],
    ),
    "plain-kinds": (
        "def f():\n    return {'t': (1, 2), 's': {1, 2}, 'fs': frozenset({3}), 'b': b'x', 'c': 1 + 2j, 'r': range(3),\n"
        "            'n': None, 'f': 0.5, 'nested': [[1, [2, {'k': (3,)}]]]}\n",
        ["assert f() == {'t': (1, 2), 's': {1, 2}, 'fs': frozenset({3}), 'b': b'x', 'c': 1 + 2j, 'r': range(3),"
         " 'n': None, 'f': 0.5, 'nested': [[1, [2, {'k': (3,)}]]]}"],
    ),
}


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_programs_pass(sb, name: str) -> None:
    prog, tests = HONEST[name]
    r = sb.run(prog, tests)
    assert r.passed, r


def test_honest_program_keeping_a_module_name(sb) -> None:
    # a program-supplied stdlib module becomes the judge's own module, so honest code still works
    task = _task("mbpp", "MBPP/596")
    prog = "import sys\ndef tuple_size(t):\n    return sys.getsizeof(t)\n"
    r = sb.run(prog, list(task.tests), setup=task.setup, entry_point=task.entry_point)
    assert r.passed, r
    assert "sys" not in task.setup  # the tests really do use a name nobody imported


def test_honest_isinstance_of_a_program_class(sb) -> None:
    prog = "class Node:\n    def __init__(self, v):\n        self.v = v\ndef make(v):\n    return Node(v)\n"
    r = sb.run(prog, ["assert make(2).v == 2", "assert isinstance(make(1), Node)"])
    assert r.passed, r


# ================================================================================================
# Found by a second, blind red team (docs only): cross-run kernel channels and honest idioms
# ================================================================================================
_DENIED_PROBES = {
    # the kernel key store outlives a run and is readable by later uids
    "add_key": "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.syscall(248 if __import__('os').uname()"
               ".machine == 'x86_64' else 217, b'user', b'memo', b'1', 1, -4)\nERR = ctypes.get_errno()\n",
    # evicting a shared file from the page cache writes a bit a later run can time
    "fadvise": "import os\nfd = os.open(os.__file__, os.O_RDONLY)\ntry:\n    os.posix_fadvise(fd, 0, 0, "
               "os.POSIX_FADV_DONTNEED)\n    ERR = 0\nexcept OSError as e:\n    ERR = e.errno\n",
    "mincore/preadv2": "import os\nfd = os.open(os.__file__, os.O_RDONLY)\nb = bytearray(16)\ntry:\n    "
                       "os.preadv(fd, [b], 0, os.RWF_NOWAIT)\n    ERR = 0\nexcept OSError as e:\n    ERR = e.errno\n",
    # a lock on a shared read-only file is a channel between concurrent runs
    "flock": "import fcntl, os\nfd = os.open(os.__file__, os.O_RDONLY)\ntry:\n    fcntl.flock(fd, fcntl.LOCK_SH | "
             "fcntl.LOCK_NB)\n    ERR = 0\nexcept OSError as e:\n    ERR = e.errno\n",
    "fcntl lock": "import fcntl, os\nfd = os.open(os.__file__, os.O_RDONLY)\ntry:\n    fcntl.lockf(fd, fcntl.LOCK_SH | "
                  "fcntl.LOCK_NB)\n    ERR = 0\nexcept OSError as e:\n    ERR = e.errno\n",
    # more kernel than a program needs
    "user namespace": "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.unshare(0x10000000)\nERR = ctypes.get_errno()\n",
}


def test_key_store_names_are_hidden(sb) -> None:
    r = sb.run("try:\n    KEYS = open('/proc/keys').read()\nexcept OSError:\n    KEYS = ''\n", ["assert KEYS == ''"])
    assert r.passed, r


def test_ordinary_calls_still_work_under_the_filter(sb) -> None:
    prog = ("import subprocess, sys, fcntl, os, threading\n"
            "OUT = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout\n"
            "FL = fcntl.fcntl(os.open('/tmp', os.O_RDONLY), fcntl.F_GETFD) >= 0\n"
            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n")
    r = sb.run(prog, ["assert OUT.strip() == '42'", "assert FL"])
    assert r.passed, r


@pytest.mark.parametrize("prog", [
    "import sys\na, b = map(int, sys.stdin.buffer.readline().split())\nsys.stdout.buffer.write(str(a + b).encode())\n",
    "import os\nd = os.read(0, 100).split()\nos.write(1, str(int(d[0]) + int(d[1])).encode())\n",
    "a, b = map(int, open(0).read().split())\nprint(a + b)\n",
], ids=["buffer", "os-fds", "open0"])
def test_stdio_idioms_of_honest_scripts(sb, prog: str) -> None:
    from promptgym.tasks import stdio_test

    assert sb.run(prog, [stdio_test("1 2\n", "3"), stdio_test("10 5", "15")]).passed


@pytest.mark.parametrize("printed,expected", [("1000000008", "1000000007"), ("3_0", "30"), ("\u0663", "3"),
                                              ("0.5 999999999", "0.5 1000000000")])
def test_float_mode_compares_integers_exactly(sb, printed: str, expected: str) -> None:
    from promptgym.tasks import stdio_test

    assert not sb.run(f"print({printed!r})\n", [stdio_test("", expected, "float")]).passed


def test_mutation_sync_by_keyword_and_inside_nested_lists(sb) -> None:
    prog = "def f(a, b=None):\n    b.append(a)\ndef g(o):\n    o[0].append(9)\n    o[1]['k'].append(1)\n"
    r = sb.run(prog, ["x = []\nf(1, b=x)\nassert x == [1]",
                      "inner, d = [1], {'k': []}\nouter = [inner, d]\ng(outer)\nassert inner == [1, 9] and d == {'k': [1]}"],
               entry_point="f")
    assert r.passed, r


# ================================================================================================
# Found by a third blind red team: the device nodes' times as a channel between runs
# ================================================================================================
_DEVICE_TIMES = """
import os
DENIED = []
for path in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/proc/keys", "/proc/key-users"):
    try:
        os.utime(path)  # "now": needs only write permission on a 0666 node
    except OSError:  # read-only (EROFS), or a kernel without the file
        DENIED.append(path)
with open("/dev/null", "w") as fh:
    fh.write("the devices still work")
ZERO = open("/dev/zero", "rb").read(4)
"""


def test_device_node_times_cannot_carry_bits_between_runs(sb) -> None:
    # a program stamping the nodes in an order of its choosing stored 240 states between runs and
    # passed HumanEval/52 on its third try; on the process backend the nodes were the host's own
    before = {p: os.stat(p).st_mtime_ns for p in ("/dev/null", "/dev/zero", "/dev/urandom")}
    r = sb.run(_DEVICE_TIMES, ["assert len(DENIED) == 7", "assert ZERO == bytes(4)"])
    assert r.passed, r
    assert {p: os.stat(p).st_mtime_ns for p in before} == before


# ================================================================================================
# Found by a fourth blind red team: state of the worker's shared network namespace, and the judge's
# imports, as channels between runs (a wrong HumanEval/52 passed on its 3rd run through the first two)
# ================================================================================================
_NET_PROBES = {
    # an unrouted UDP send counts in /proc/net/snmp (Ip:OutNoRoutes), which the next run reads
    "inet socket": "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    ERR = 0\n"
                   "except OSError as e:\n    ERR = e.errno\n",
    "inet6 socket": "import socket\ntry:\n    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n    ERR = 0\n"
                    "except OSError as e:\n    ERR = e.errno\n",
    "netlink socket": "import socket\ntry:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)\n    ERR = 0\n"
                      "except OSError as e:\n    ERR = e.errno\n",
    # a unix socket sent to itself stays in flight after its run; its abstract name is readable
    "fd passing": "import socket, array\na, b = socket.socketpair()\ntry:\n    a.sendmsg([b'x'], [(socket.SOL_SOCKET, "
                  "socket.SCM_RIGHTS, array.array('i', [a.fileno()]))])\n    ERR = 0\nexcept OSError as e:\n"
                  "    ERR = e.errno\n",
    "io_uring": "import ctypes, os\nl = ctypes.CDLL(None, use_errno=True)\np = ctypes.create_string_buffer(120)\n"
                "l.syscall(425, 4, p)\nERR = ctypes.get_errno()\n",
}


def test_local_sockets_programs_use_still_work(sb) -> None:
    prog = ("import asyncio, socket\n"
            "async def main():\n    await asyncio.sleep(0)\n    return 42\n"
            "ASYNC = asyncio.run(main())\n"  # its event loop wakes itself through a socketpair
            "a, b = socket.socketpair()\na.sendall(b'hi')\nPAIR = b.recv(2)\n"
            "u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nu.bind('\\0promptgym-test')\nu.close()\n")
    r = sb.run(prog, ["assert ASYNC == 42", "assert PAIR == b'hi'"])
    assert r.passed, r


def test_the_judge_never_imports_a_module_a_program_names(sb) -> None:
    # whether the judge had imported a module was a bit a later run could time; a module it did not hold
    # when it started now arrives as an empty stand-in of that name, whatever runs came before
    for _ in range(2):
        r = sb.run("import wave\ndef f():\n    return wave, wave.Wave_read\n",
                   ["m, k = f()\nassert m.__name__ == 'wave' and not hasattr(m, 'open')",
                    "m, k = f()\nassert isinstance(k, type) and k.__name__ == 'Wave_read'\n"
                    "assert not hasattr(k, 'readframes')"],
                   entry_point="f")
        assert r.passed, r
    r = sb.run("import math\ndef f():\n    return math\n", ["import math\nassert f() is math"], entry_point="f")
    assert r.passed, r


def test_honest_multiprocessing_programs_pass(sb) -> None:
    # its locks need /dev/shm (the run's own /tmp) and its jobs pickle functions of the real __main__
    prog = ("import multiprocessing as mp\ndef sq(x):\n    return x * x\n"
            "def f(n):\n    with mp.Pool(2) as p:\n        return p.map(sq, range(n))\n")
    r = sb.run(prog, ["assert f(4) == [0, 1, 4, 9]"], entry_point="f", timeout=20)
    assert r.passed, r
    script = ("import multiprocessing as mp, sys\ndef sq(x):\n    return x * x\n"
              "with mp.Pool(2) as p:\n    print(sum(p.map(sq, map(int, sys.stdin.read().split()))))\n")
    r = sb.run(script, ["assert stdio('1 2 3') == '14\\n'"], timeout=20)
    assert r.passed, r


# ================================================================================================
# Found by a fifth blind red team: host-wide kernel counters a run moves and the next reads back (a
# wrong HumanEval/52 passed on its 3rd run through the scheduler's autogroup ids)
# ================================================================================================
_COUNTER_PROBES = {
    # each setsid() draws a host-wide autogroup id, shown in /proc/self/autogroup
    "setsid": "import os\nif os.fork() == 0:\n    try:\n        os.setsid()\n        os._exit(0)\n    except OSError as e:\n"
              "        os._exit(e.errno)\nERR = os.waitstatus_to_exitcode(os.wait()[1])\n",
    # querying SO_COOKIE draws the next number of a host-wide counter
    "socket cookie": "import socket\na, b = socket.socketpair()\ntry:\n    a.getsockopt(socket.SOL_SOCKET, 57)\n    ERR = 0\n"
                     "except OSError as e:\n    ERR = e.errno\n",
    # memfd inode numbers come from a host-wide counter
    "memfd": "import os\ntry:\n    os.memfd_create('m')\n    ERR = 0\nexcept OSError as e:\n    ERR = e.errno\n",
    # sysinfo() gives the host's process count (a concurrent run forking 25 sleepers moved it) and load averages
    "sysinfo": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(256)\n"
               "ERR = 0 if libc.sysinfo(buf) == 0 else ctypes.get_errno()\n",
}


def test_nan_keeps_the_identity_python_gives_it(sb) -> None:
    """A program returning math.nan: in one interpreter `[x] == [math.nan]` holds (containers compare items by
    identity first), so `!=` must fail here too; any other NaN stays another object, with its sign (two blind
    red teams: one passed `!=` on a NaN rebuilt as a new object, the next `is math.nan` on any NaN)."""
    tests = ["import math\nassert [f(1)] != [math.nan]", "import math\nassert [f(1)] == [math.nan]",
             "import math\nassert f(1) is math.nan", "import math\nassert math.copysign(1, f(1)) == -1",
             "assert len({f(1), f(2)}) == 2"]
    r = sb.run("import math\ndef f(x):\n    return math.nan\n", tests)
    assert [t.passed for t in r.tests] == [False, True, True, False, False], r
    r = sb.run("def f(x):\n    return -float('nan')\n", tests)
    assert [t.passed for t in r.tests] == [True, False, False, True, True], r


def test_the_runs_proc_shows_only_its_processes(sb) -> None:
    # /proc/stat's fork count and /proc/loadavg's last pid move with every fork on the host
    prog = ("import os\nGONE = [p for p in ('/proc/stat', '/proc/loadavg', '/proc/vmstat', '/proc/sys/kernel', "
            "'/proc/keys') if not os.path.exists(p)]\nMINE = open('/proc/self/status').read().startswith('Name:')\n")
    r = sb.run(prog, ["assert len(GONE) == 5, GONE", "assert MINE"])
    assert r.passed, r


_REFUSED = {**_DENIED_PROBES, **_NET_PROBES, **_COUNTER_PROBES}


@pytest.mark.parametrize("probe", list(_REFUSED), ids=list(_REFUSED))
def test_cross_run_kernel_channels_are_refused(sb, probe: str) -> None:
    r = sb.run(_REFUSED[probe], ["assert ERR == 1"])  # EPERM
    assert r.passed, r
