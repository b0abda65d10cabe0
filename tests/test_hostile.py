"""Hostile programs get the right verdict, nothing escapes, and nothing leaks (both backends)."""

from __future__ import annotations

import os
import time

import pytest
from _sandbox_helpers import BACKENDS, fd_count, make_sandbox, processes_with, run_dirs

F_WRONG = "def f(x):\n    return x + 100\n"
F_RIGHT = "def f(x):\n    return x + 1\n"
TESTS = ["assert f(1) == 2", "assert f(2) == 3", "assert f(3) == 4"]


@pytest.fixture(scope="module", params=BACKENDS)
def sb(request: pytest.FixtureRequest):  # noqa: ANN201
    """One sandbox per backend for the module (workers are reused, as in real use)."""
    sandbox = make_sandbox(request, request.param)
    yield sandbox
    sandbox.close()


def _no_process_with(marker: str) -> None:
    # the sweep runs before the result is returned; give the kernel a moment to reap
    for _ in range(50):
        if not processes_with(marker):
            return
        time.sleep(0.05)
    assert processes_with(marker) == [], f"processes with {marker!r} survived the run"


def test_fork_bomb_is_contained(sb) -> None:
    prog = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n" + F_RIGHT
    r = sb.run(prog, TESTS, timeout=2)
    assert r.status in ("timeout", "killed") and not r.passed
    assert sb.run(F_RIGHT, TESTS).passed  # the pool survives


def test_memory_bomb(sb) -> None:
    r = sb.run("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", TESTS, memory_mb=256)
    assert r.status == "memory"


def test_memory_bomb_inside_a_test(sb) -> None:
    r = sb.run(F_RIGHT + "def g():\n    return bytearray(10**10)\n", ["assert f(1) == 2", "g()"], memory_mb=256)
    assert r.status == "memory" and r.tests[0].passed and not r.tests[1].passed


@pytest.mark.parametrize("prog", ["while True:\n    pass\n", "import time\ntime.sleep(100)\n"], ids=["loop", "sleep"])
def test_infinite_loop_and_long_sleep_time_out(sb, prog: str) -> None:
    r = sb.run(prog, TESTS, timeout=1)
    assert r.status == "timeout"


def test_output_flood_is_truncated(sb) -> None:
    r = sb.run("print('x' * 10_000_000)\n" + F_RIGHT, TESTS)
    assert r.passed and len(r.stdout) < 100_000 and "truncated" in r.stdout
    r = sb.run("while True:\n    print('y' * 1000)\n", TESTS, timeout=1)
    assert r.status == "timeout" and len(r.stdout) < 100_000


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit(0)"])
def test_early_exit_is_not_a_pass(sb, exit_call: str) -> None:
    r = sb.run(f"import os, sys\n{exit_call}\n" + F_RIGHT, TESTS)
    assert not r.passed and r.status == "error" and not any(t.passed for t in r.tests)
    # exiting from inside the second test: that test fails; after os._exit the program is gone, so
    # the third fails too (the first was judged before, by the judge, and stands)
    prog = "import os, sys\ndef f(x):\n    if x == 2:\n        " + exit_call + "\n    return x + 1\n"
    r = sb.run(prog, TESTS)
    expected = [True, False, False] if exit_call == "os._exit(0)" else [True, False, True]
    assert not r.passed and [t.passed for t in r.tests] == expected


def test_killing_the_parent_and_the_group(sb) -> None:
    # a wrong program that kills its worker must not pass. Process backend: the child runs under
    # another uid and may not signal its worker (PermissionError -> "error"). Docker: the worker is
    # the container's pid 1, which ignores SIGKILL from inside its namespace -> the tests judge it.
    r = sb.run("import os\ntry:\n    os.kill(os.getppid(), 9)\nexcept OSError:\n    pass\n" + F_WRONG, TESTS)
    assert r.status in ("failed", "killed") and not any(t.passed for t in r.tests)
    # the program is PID 1 of its own namespace: it cannot even kill itself, so a wrong one is judged
    r = sb.run("import os\nos.killpg(0, 9)\n" + F_WRONG, TESTS)
    assert not r.passed and not any(t.passed for t in r.tests)
    r = sb.run("import os\ntry:\n    os.kill(-1, 9)\nexcept OSError:\n    pass\n" + F_WRONG, TESTS)
    assert not r.passed
    assert sb.run(F_RIGHT, TESTS).passed  # the pool still works (replacing a worker if one died)


def test_segfault_via_ctypes(sb) -> None:
    r = sb.run("import ctypes\nctypes.string_at(0)\n", TESTS)
    assert r.status == "killed" and "SIGSEGV" in r.error


def test_runaway_recursion(sb) -> None:
    r = sb.run("def f(x):\n    return f(x + 1)\n", TESTS)
    assert r.status == "failed" and "RecursionError" in r.tests[0].error
    # a small memory limit and a generous timeout: the frames exhaust memory long before the clock
    # runs out even on a loaded machine (256 MB took > 5 s at load 9 on 2 CPUs -> "timeout")
    r = sb.run("import sys\nsys.setrecursionlimit(10**7)\ndef f(x):\n    return f(x + 1)\n", TESTS,
               memory_mb=96, timeout=20)
    assert not r.passed and r.status in ("killed", "memory", "failed")


def test_orphaned_subprocesses_and_daemons_are_killed(sb) -> None:
    prog = (
        "import os, shutil, subprocess, sys\n"
        "cmd = ['sleep', '4321.5'] if shutil.which('sleep') else [sys.executable, '-c', 'import time; time.sleep(4321.5)']\n"
        "try:\n    subprocess.Popen(cmd, start_new_session=True)\n"  # would escape the process group
        "except (OSError, subprocess.SubprocessError):\n    subprocess.Popen(cmd)\n"  # setsid is refused (EPERM)
        "if os.fork() == 0:\n"  # a double-forked daemon
        "    try:\n        os.setsid()\n    except OSError:\n        pass\n"
        "    if os.fork() == 0:\n"
        "        subprocess.Popen(cmd[:-1] + ['4321.5'])\n"
        "        import time; time.sleep(4321.5)\n"
        "    os._exit(0)\n"
        "print('spawned')\n" + F_RIGHT
    )
    r = sb.run(prog, TESTS)
    assert r.passed and "spawned" in r.stdout, r
    _no_process_with("4321.5")


def test_threads_do_not_outlive_the_run(sb) -> None:
    prog = "import threading, time\nthreading.Thread(target=time.sleep, args=(100,)).start()\n" + F_RIGHT
    r = sb.run(prog, TESTS, timeout=5)
    assert r.passed  # the run ends with the harness, not with the thread


def test_cannot_write_outside_the_work_dir(sb, tmp_path) -> None:
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o755)  # readable, not writable, by others: as a user's home would be
    prog = f"open({str(target)!r}, 'w').write('pwned')\n" + F_RIGHT
    r = sb.run(prog, TESTS)
    assert r.status == "error" and not target.exists()
    r = sb.run("open('inside.txt', 'w').write('fine')\n" + F_RIGHT, TESTS)
    assert r.passed  # its own work dir is writable


def test_caller_environment_is_invisible(sb, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-" + os.urandom(4).hex()
    monkeypatch.setenv("PROMPTGYM_TEST_SECRET", secret)
    prog = (
        "import os\nprint(dict(os.environ))\n"
        "for p in (f'/proc/{os.getppid()}/environ', '/proc/1/environ'):\n"
        "    try:\n        print(open(p, 'rb').read())\n    except OSError as e:\n        print(e)\n" + F_RIGHT
    )
    r = sb.run(prog, TESTS)
    assert r.passed and secret not in r.stdout and "PROMPTGYM_TEST_SECRET" not in r.stdout


def test_closing_file_descriptors_is_not_a_pass(sb) -> None:
    r = sb.run("import os\nos.closerange(0, 4096)\n" + F_RIGHT, TESTS)
    assert not r.passed and not any(t.passed for t in r.tests)


def test_forged_records_are_ignored(sb) -> None:
    prog = "import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'P 0\\nP 1\\nP 2\\nD\\n')\n    except OSError:\n        pass\n"
    r = sb.run(prog + F_WRONG, TESTS)
    assert not r.passed and not any(t.passed for t in r.tests)


@pytest.mark.parametrize("prog", [
    "class A:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return A()\n",
    "class I(int):\n    __eq__ = lambda self, other: True\ndef f(x):\n    return I(0)\n",
    "class L(list):\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return [L()]\n",
    "class A:\n    def __ne__(self, other):\n        return False\n    __eq__ = lambda s, o: True\ndef f(x):\n    return A()\n",
], ids=["eq-object", "int-subclass", "nested-list-subclass", "ne"])
def test_always_equal_objects_fail(sb, prog: str) -> None:
    r = sb.run(prog, TESTS + ["assert f(5) != [7]"])
    assert r.status == "failed" and not any(t.passed for t in r.tests)


@pytest.mark.parametrize("prog", [
    "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.all = lambda *a: True\nbuiltins.AssertionError = KeyError\n",
    "import sys\nfor m in list(sys.modules.values()):\n    if hasattr(m, 'trusted_eq'):\n        m.trusted_eq = lambda *a: True\n        m._trusted_value = lambda *a: True\n",
    "import sys\nfor m in list(sys.modules.values()):\n    if hasattr(m, 'trusted_eq'):\n        m._exec = lambda *a: None\n",
    "def f(x):\n    for k in list(globals()):\n        if k.startswith('__pg_eq_'):\n            globals()[k] = lambda *a: True\n    return x + 100\n",
], ids=["builtins", "harness-functions", "harness-exec", "eq-in-globals"])
def test_monkeypatching_the_harness_fails(sb, prog: str) -> None:
    body = prog if "def f" in prog else prog + F_WRONG
    r = sb.run(body, TESTS)
    assert not r.passed and not any(t.passed for t in r.tests)


@pytest.mark.slow
def test_no_leaks_after_many_runs(sb) -> None:
    """2,000 cheap runs (500 in docker): no leaked processes, fds or temp dirs of the sandbox's own.

    Counted where the sandbox could leak (its workers' and zygotes' descriptors, their children, its
    temp dirs), not the whole test process, whose descriptors other libraries open and close.
    """
    n = 2000 if sb.backend == "process" else 500
    sb.run_many([dict(program=F_RIGHT, tests=TESTS[:1])] * 8)  # warm every worker first
    dirs_before = run_dirs(sb)
    workers_before = {pid: fd_count(pid) for pid in sb.worker_pids()}
    jobs = [dict(program=F_RIGHT + f"print({i})\n", tests=TESTS, timeout=5.0) for i in range(n)]
    results = sb.run_many(jobs)
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(n)]  # order kept, nothing mixed up
    assert all(r.passed for r in results)
    assert {pid: fd_count(pid) for pid in sb.worker_pids()} == workers_before
    assert run_dirs(sb) == dirs_before
    pids = sb.worker_pids()
    for pid in pids:  # a worker's only children are its zygote and judge; they have none left
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            assert set(fh.read().split()) <= {str(p) for p in pids}


STDLIB_PROBE = (
    "import xml.etree.ElementTree as ET, sqlite3, zoneinfo, email.message, html.parser, fractions\n"
    "TAG = ET.fromstring('<a><b/></a>')[0].tag\n"
    "SQL = sqlite3.connect(':memory:').execute('select 6 * 7').fetchone()[0]\n"
    "MSG = email.message.EmailMessage(); MSG['Subject'] = 'hi'; SUBJECT = str(MSG['Subject'])\n"
    "class P(html.parser.HTMLParser):\n    seen = []\n    def handle_starttag(self, tag, attrs):\n"
    "        self.seen.append(tag)\n"
    "P().feed('<p><i>x</i></p>')\n"
    "HALF = fractions.Fraction(1, 2)\n"
    "ZI = zoneinfo.ZoneInfo\n"
    "def third_party(name):\n    try:\n        __import__(name)\n        return True\n"
    "    except ImportError:\n        return False\n"
)


def test_stdlib_imports_alike_on_both_backends(sb) -> None:
    from evaluators._zygote import PRELOAD

    # the point: modules the worker did NOT preload must import in the process backend as in Docker
    assert not {"xml.etree.ElementTree", "sqlite3", "zoneinfo", "email", "html.parser"} & set(PRELOAD)
    if sb.backend == "process" and os.geteuid() != 0:
        pytest.skip("no uid drop without root: nothing to test")
    r = sb.run(STDLIB_PROBE, ["assert TAG == 'b'", "assert SQL == 42", "assert SUBJECT == 'hi'",
                              "assert P.seen == ['p', 'i']", "assert HALF + HALF == 1", "assert callable(ZI)",
                              # the venv's packages and this repo's editable install are not the program's
                              "assert not third_party('pytest') and not third_party('promptgym')"])
    assert r.passed, r
    assert r.extra["stdlib"] in ("mounted", "readable")


def test_private_directories_stay_private(sb) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file under /root")
    secret = "/root/.promptgym_secret_test"
    token = "tok-" + os.urandom(8).hex()
    with open(secret, "w") as fh:
        fh.write(token)
    try:
        prog = (
            "import os\n"
            f"try:\n    DATA = open({secret!r}).read()\nexcept OSError as e:\n    DATA = None\n"
            "try:\n    LISTING = os.listdir('/root')\nexcept OSError:\n    LISTING = []\n"
            "print(DATA, LISTING)\n"
        )
        r = sb.run(prog, ["assert DATA is None",
                          # at most the mounted interpreter's path is visible; nothing else of /root
                          "assert set(LISTING) <= {'.pyenv'}"])
        assert r.passed and token not in r.stdout, r
    finally:
        os.remove(secret)


WORLD_PROBE = (
    "import json, os, socket\n"
    "print(json.dumps({'root': sorted(os.listdir('/')), 'host': socket.gethostname(), 'tmp': os.listdir('/tmp')}))\n"
    "open('/tmp/left-by-a-run', 'w').close()\n"
    "def f(x):\n    return x + 1\n"
)


def test_every_run_gets_a_fresh_world_over_the_same_private_root(sb) -> None:
    """The zygote makes each run's namespaces right before its fork and goes back to its own after:
    no run sees what the last one left in its /tmp, and the tenth run sees the same root as the first
    (a zygote that went back to the worker's mount namespace instead showed its second run the host's
    files). Namespace ids are not compared: the kernel reuses a freed namespace's number."""
    results = sb.run_many([dict(program=WORLD_PROBE, tests=TESTS)] * 10)
    assert all(r.passed for r in results), results
    if results[0].extra.get("world") != "private":
        pytest.skip(f"no private world here: {results[0].extra.get('world')}")
    import json

    seen = [json.loads(r.stdout) for r in results]
    assert all(s["root"] == seen[0]["root"] for s in seen), [s["root"] for s in seen]
    assert not {"var", "work", "home"} & set(seen[0]["root"]), seen[0]["root"]
    assert all(s["host"] == "sandbox" and s["tmp"] == [] for s in seen), seen
