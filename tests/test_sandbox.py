"""The Sandbox API: partial credit, setup, output, bad input, concurrency, cache, isolation."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from evaluators import ExecutionResult, ResultCache, Sandbox, UnknownBackend

F = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def sb():  # noqa: ANN201
    """A process-backend sandbox shared by this module."""
    with Sandbox(workers=2) as sandbox:
        yield sandbox


def test_partial_credit_each_test_judged_separately(sb: Sandbox) -> None:
    r = sb.run(F, ["assert f(1) == 2", "assert f(1) == 5", "assert f(2) == 3", "f(None)"])
    assert r.status == "failed" and not r.passed
    assert [t.passed for t in r.tests] == [True, False, True, False]
    assert r.pass_fraction == 0.5 and "TypeError" in r.tests[3].error


def test_all_pass_and_setup_runs_between_program_and_tests(sb: Sandbox) -> None:
    r = sb.run(F + "print('out')\nimport sys\nprint('err', file=sys.stderr)\n",
               ["assert f(K) == K + 1", "assert SEEN_F"], setup="K = 41\nSEEN_F = callable(f)\n")
    assert r.passed and r.pass_fraction == 1.0 and r.stdout == "out\n" and "err" in r.stderr
    assert isinstance(r, ExecutionResult) and r.duration_s > 0


def test_each_run_has_its_own_random_numbers(sb: Sandbox) -> None:
    # runs are forked from one zygote that has imported `random`: each child must reseed it
    program = "import random\nprint(random.random())\n" + F
    outs = {sb.run(program, ["assert f(0) == 1"]).stdout for _ in range(3)}
    assert len(outs) == 3


def test_humaneval_style_check_block(sb: Sandbox) -> None:
    check = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n\ncheck(f)\n"
    assert sb.run(F, [check]).passed
    assert sb.run("def f(x):\n    return 2\n", [check]).status == "failed"


@pytest.mark.parametrize("program, fragment", [
    ("def f(:\n", "SyntaxError"),
    ("raise ValueError('at import')\n", "ValueError: at import"),
    (12345, "program must be a string"),
    ("x = 1\n" * 2_000_000, "program too large"),
], ids=["syntax", "import-error", "not-a-string", "10MB"])
def test_bad_programs_are_errors_not_crashes(sb: Sandbox, program: object, fragment: str) -> None:
    r = sb.run(program, ["assert True"])  # type: ignore[arg-type]
    assert r.status == "error" and fragment in r.error


def test_zero_tests_is_an_error(sb: Sandbox) -> None:
    r = sb.run(F, [])
    assert r.status == "error" and r.error == "no tests"


@pytest.mark.parametrize("kwargs, exc", [
    (dict(tests="assert f(1) == 2"), TypeError),
    (dict(tests=[1]), TypeError),
    (dict(tests=["assert 1"], timeout=0), ValueError),
    (dict(tests=["assert 1"], memory_mb=1), ValueError),
])
def test_caller_mistakes_raise_clear_errors(sb: Sandbox, kwargs: dict, exc: type) -> None:
    with pytest.raises(exc):
        sb.run(F, **kwargs)


def test_unknown_backend_suggests_a_name() -> None:
    with pytest.raises(UnknownBackend, match="Did you mean 'process'"):
        Sandbox(backend="proces")


def test_non_utf8_and_surrogate_output(sb: Sandbox) -> None:
    r = sb.run("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok')\nprint('\\ud800')\n" + F, ["assert f(0) == 1"])
    assert r.passed and "ok" in r.stdout and "\ufffd" in r.stdout


def test_run_many_preserves_order(sb: Sandbox) -> None:
    jobs = [dict(program=f"def f():\n    return {i}\n", tests=[f"assert f() == {i}", "assert f() == 3"]) for i in range(12)]
    results = sb.run_many(jobs)
    assert [r.tests[0].passed for r in results] == [True] * 12
    assert [r.passed for r in results] == [i == 3 for i in range(12)]


def test_no_network(sb: Sandbox) -> None:
    prog = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    NET = 'open'\n"
            "except OSError as e:\n    NET = 'closed'\n")
    r = sb.run(prog, ["assert NET == 'closed'"])
    if os.geteuid() != 0 and not r.extra["network_isolated"]:
        pytest.skip("no network namespace without root here (documented: use the docker backend)")
    assert r.extra["network_isolated"] is True and r.passed, r


def test_a_worker_killed_from_outside_is_replaced() -> None:
    with Sandbox(workers=1) as sandbox:
        pid = sandbox.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        for _ in range(500):  # until the kernel has made it a zombie (our child, not reaped yet)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert sandbox.run(F, ["assert f(1) == 2"]).passed


def test_result_cache_counts_hits_and_misses(tmp_path) -> None:
    cache = ResultCache(tmp_path / "results.sqlite")
    with Sandbox(workers=1, cache=cache) as sandbox:
        first = sandbox.run(F, ["assert f(1) == 2"])
        second = sandbox.run(F, ["assert f(1) == 2"])
        other = sandbox.run(F, ["assert f(1) == 2"], timeout=2.0)  # different limits: another key
    assert first.passed and second == first and other.passed
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)
    reopened = ResultCache(tmp_path / "results.sqlite")
    assert reopened.get(dict(program=F, tests=["assert f(1) == 2"], setup="", entry_point="", timeout=5.0,
                             memory_mb=512, max_output=64 * 1024)) == first


def test_result_cache_keys_include_the_entry_point(tmp_path) -> None:
    # The entry point decides which name the tests may take from the program (here: shadowing a builtin).
    program, tests = "def abs(x):\n    return 7\n", ["assert abs(1) == 7"]
    with Sandbox(workers=1, cache=ResultCache(tmp_path / "results.sqlite")) as sandbox:
        builtin = sandbox.run(program, tests)
        shadowed = sandbox.run(program, tests, entry_point="abs")
    assert not builtin.passed and shadowed.passed


def test_mount_namespace_is_private_to_the_worker() -> None:
    """The worker's tmpfs/bind mounts exist only in its namespace, never in the host's mount table."""
    with open("/proc/self/mountinfo") as fh:
        before = fh.read()
    with Sandbox(workers=1) as sandbox:
        r = sandbox.run("import os\nSEEN = os.path.exists(os.__file__)\n", ["assert SEEN"])
        with open("/proc/self/mountinfo") as fh:
            during = fh.read()
    assert r.passed, r
    assert during == before and "promptgym" not in during
    if os.geteuid() == 0:
        assert sandbox.stdlib == r.extra["stdlib"] == "mounted"


def test_without_namespaces_the_worker_falls_back_to_preload_and_says_so() -> None:
    """Where mount namespaces are not permitted, extra["stdlib"] is "preloaded" and that is the truth."""
    import shutil
    import subprocess
    import sys

    from evaluators._pool import WORKER_SCRIPT, Channel

    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to start a worker without CAP_SYS_ADMIN")
    proc = subprocess.Popen([setpriv, "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", sys.executable, "-I",
                             WORKER_SCRIPT, "--uid", "123457"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        channel = Channel(proc.stdout.fileno(), proc.stdin.fileno())  # type: ignore[union-attr]
        assert channel.recv(time.monotonic() + 30)["stdlib"] == "preloaded"
        prog = "import json\ntry:\n    import sqlite3\n    HAVE = True\nexcept ImportError:\n    HAVE = False\n"
        channel.send({"program": prog, "tests": ["assert json.loads('1') == 1", "assert not HAVE"], "timeout": 5.0,
                      "memory_mb": 256, "id": 1})
        reply = channel.recv(time.monotonic() + 30)
        assert reply["status"] == "passed" and reply["extra"]["stdlib"] == "preloaded", reply
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)


def _cgroup_dirs(name: str) -> list[str]:
    """Where a worker's cgroup called ``name`` would be, for this process' cgroups (v2 or v1)."""
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for base in ([f"/sys/fs/cgroup{path}"] if not controllers else
                     [f"/sys/fs/cgroup/{c}{path}" for c in controllers.split(",")]):
            found.append(os.path.join(base, name))
    return found


def test_a_closed_sandbox_leaves_no_cgroup_behind() -> None:
    sb = Sandbox(backend="process", workers=2)
    zygotes = [w.hello["zygote_pid"] for w in sb._all]
    if not sb._all[0].hello.get("cgroup", "").startswith(("v1", "v2")):
        sb.close()
        pytest.skip(f"no cgroup here: {sb._all[0].hello.get('cgroup') if sb._all else ''}")
    assert sb.run("def f(x):\n    return x\n", ["assert f(1) == 1"]).passed
    assert any(os.path.isdir(d) for pid in zygotes for d in _cgroup_dirs(f"promptgym-{pid}"))
    sb.close()
    assert not [d for pid in zygotes for d in _cgroup_dirs(f"promptgym-{pid}") if os.path.isdir(d)]


def test_a_job_larger_than_the_socket_buffers_arrives_whole(sb: Sandbox) -> None:
    setup = "X = " + repr("a" * 3_000_000) + "\n"  # the job travels to the judge in one message
    assert sb.run(F, ["assert f(1) == 2 and len(X) == 3_000_000"], setup=setup).passed


def test_workers_are_pinned_round_robin_unless_asked_not_to() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with Sandbox(workers=3) as sb:
        # the worker, its zygote and its judge (and so every run's child) share one CPU
        assert [[sorted(os.sched_getaffinity(p)) for p in w.pids] for w in sb._all] == \
            [[[cpus[i % len(cpus)]]] * 3 for i in range(3)]
        assert sb.run(F, ["assert f(1) == 2"]).passed
    with Sandbox(workers=1, pin=False) as sb:
        assert all(sorted(os.sched_getaffinity(p)) == cpus for p in sb._all[0].pids)
