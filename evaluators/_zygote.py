"""The program zygote: a fresh interpreter the worker starts before any job, so its memory never holds a test.

For each run it forks the program's child into a fresh world (``_confine``): PID 1 of a new PID
namespace, its own mounts, IPC and UTS, a private tmpfs /tmp, a uid of its own, rlimits, the seccomp
filter; then the child loads the program and serves the judge (``_untrusted_program``). The zygote
reports the child's pid, then its exit status, to the worker. Standard library only.

It is started as its own interpreter (``python -I -S _zygote.py FD``), not forked from the worker: a
run's fork, exit and copy-on-write faults cost in proportion to the zygote's memory, so it holds only
what it and the programs need (7.4 MB of anonymous memory, where a fork of the worker had 10.6 MB).
"""

from __future__ import annotations

import ctypes
import errno
import gc
import io
import json
import os
import resource
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I drops the script's dir
import _confine  # noqa: E402
import _untrusted_program  # noqa: E402
import _wire  # noqa: E402
from _confine import MB, PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE  # noqa: E402

# Imported once here so that a run costs no import time: what most generated programs use. Kept
# short on purpose: every preloaded page is one more the kernel maps at each fork (measured: a
# 24 MB process forks ~2 ms slower than an 11 MB one), and the rest of the stdlib imports normally.
PRELOAD = "re math typing collections heapq itertools functools operator copy bisect string cmath array".split()
# Where the program's uid cannot read the stdlib (no mount namespace permitted), children can only use
# what the zygote already imported, so the rest of what generated code commonly imports comes too.
PRELOAD_FALLBACK = (
    "datetime random hashlib statistics fractions decimal json struct textwrap unicodedata calendar enum "
    "dataclasses io abc numbers ctypes subprocess threading signal time queue socket select selectors locale "
    "pprint glob pathlib shutil tempfile traceback inspect weakref contextlib warnings base64 binascii zlib uuid "
    "secrets csv difflib fnmatch codecs encodings.idna encodings.ascii encodings.latin_1 encodings.utf_16 "
    "encodings.utf_32 encodings.unicode_escape encodings.raw_unicode_escape encodings.punycode encodings.cp1252 "
    "unittest doctest collections.abc concurrent.futures multiprocessing"
).split()

_CONFIG_BYTES = 1 << 20  # the worker's settings message: the root's paths are the bulk (~10 KB)
_STATUS = struct.Struct("=i")  # the zygote's words to the worker: a pid, an exit status (a C int)
_WAIT_STATUS = ctypes.c_int(0)  # see _wait
PROTO_IN, PROTO_OUT = 3, 4  # the program child's ends of its two pipes to and from the judge
_SECCOMP: object = None  # the zygote's prebuilt filter, inherited by each run's child
try:  # fork(2) called with the GIL held, skipping CPython's after-fork work (see _fork)
    _LIBC_FORK = ctypes.PyDLL(None, use_errno=True).fork
    _LIBC_FORK.restype = ctypes.c_int
except (OSError, AttributeError):
    _LIBC_FORK = None


# Our own code, shaped like a generated program: what its first compile and run make lazily is made here.
_WARM_UP = '''
from typing import List, Optional


class _Pair:
    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b


def _solve(xs: List[int], k: Optional[int] = None) -> dict:
    """Docstring."""
    total = sum(x * x for x in xs if x % 2 == 0) + len([y for y in xs]) + max(xs, default=0)
    try:
        ratio = total / (k or 1)
    except ZeroDivisionError as exc:
        raise ValueError(f"bad k: {exc!r}") from exc
    seen = {x: i for i, x in enumerate(sorted(set(xs), key=lambda v: -v))}
    while k and k > 0:
        k -= 1
    return {"total": total, "ratio": round(ratio, 2), "seen": seen, "pair": _Pair(1, 2).a, "s": "".join(map(str, xs))}


assert _solve([1, 2, 3], 2)["total"] == 10
'''


def _fork() -> int:
    """fork(2) for one run's child: the zygote has one thread, so CPython's after-fork work (thread
    states, locks, at-fork hooks; ~190 page copies) is not needed, and skipping it saves ~0.4 ms a run.
    The one at-fork hook that matters, reseeding ``random``, the child does itself."""
    if _LIBC_FORK is None:
        return os.fork()
    pid = _LIBC_FORK()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    return pid


def drop_to(uid: int) -> None:
    """Become ``uid`` (no groups) when root; nothing otherwise."""
    if uid and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def new_uid(*avoid: int) -> int:
    """A random unprivileged uid (>= 100000) other than those in ``avoid``."""
    while True:
        uid = 100_000 + int.from_bytes(os.urandom(4), "big") % 1_000_000_000
        if uid not in avoid:
            return uid


def _program_process_state(workdir: str) -> None:
    """What the program's interpreter sees of its process: environment, standard streams on fds 0-2, argv."""
    libs = os.environ.get("LD_LIBRARY_PATH")  # the Docker image's libpython lives in /usr/local/lib
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                       "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", **({"LD_LIBRARY_PATH": libs} if libs else {})})
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
                                  write_through=True)
    sys.argv = ["<program>"]
    sys.executable = sys._base_executable = _confine.REAL_EXECUTABLE


def _program_child(job: dict, fds: list[int], uid: int, world: str, workdir: str,
                   cgroup: _confine.Cgroup | None, zygote_in_cgroup: bool) -> None:
    """In the forked child: enter its world, confine, drop privileges, serve the program. Never returns."""
    try:
        os.setsid()  # own process group: the worker kills the whole group at the limit
        if world == "private":
            _confine.mount_run_proc()  # the zygote made its other namespaces and its /tmp
            workdir = "/tmp"
        if cgroup is not None and not zygote_in_cgroup:
            cgroup.join()
        proto_in, proto_out, out, err = fds  # received in this order, so numbered upwards from 3 at least
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(proto_in, PROTO_IN)
        os.dup2(proto_out, PROTO_OUT)
        os.closerange(PROTO_OUT + 1, 65536)  # nothing of the zygote's is the program's
        cpu = int(float(job["timeout"])) + 1
        limits = [
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, (int(job["memory_mb"]) * MB,) * 2),
            (resource.RLIMIT_FSIZE, (int(job.get("max_file_mb", 16)) * MB,) * 2),
            (resource.RLIMIT_NOFILE, (64, 64)),
            (resource.RLIMIT_CORE, (0, 0)),
        ]
        if uid:  # NPROC counts per user; it means something only for a uid of our own
            limits.append((resource.RLIMIT_NPROC, (int(job.get("max_procs", 32)),) * 2))
        for which, value in limits:
            resource.setrlimit(which, value)
        drop_to(uid)
        if "random" in sys.modules:  # imported by the zygote: without this every run sees the same numbers
            sys.modules["random"].seed()
        os.chdir(workdir)
        if world != "private":  # else the zygote did it once (the work dir is /tmp for every run)
            _program_process_state(workdir)
        stdout, stderr = sys.stdout, sys.stderr
        _confine.install_seccomp(_SECCOMP)  # last: our own set-up above used some of what it denies
        channel = _wire.Endpoint(PROTO_IN, PROTO_OUT)
        first = channel.recv()  # the judge sends the program; nothing else of the job comes here
        _untrusted_program.serve(first["program"], channel, first.get("mode", "function"), first.get("names"))
        for stream in (stdout, stderr):
            try:
                stream.flush()
            except BaseException:  # the program may have closed or broken its streams
                pass
    finally:
        os._exit(0)


def _zygote_main(sock: socket.socket, root_dir: str, base_uid: int, needed: list[str]) -> None:
    """The program zygote's loop: one confined child per request, then its exit status."""
    os.setsid()
    try:
        _confine.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # a run's orphans (shared mode) come back to us
    except (OSError, AttributeError):
        pass
    why_not = _confine.private_world_possible() if base_uid else "no uid of its own for programs"
    world, cgroup, zygote_in_cgroup = "shared", None, False
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY) if not why_not else -1  # gone from the root we build
    try:
        oom = os.open("/proc/self/oom_score_adj", os.O_WRONLY)  # ours, for the same reason
    except OSError:
        oom = -1  # no /proc: runs keep our score
    if not why_not:
        try:
            _confine.own_mounts()
        except OSError as exc:
            why_not = f"no mount namespace: {exc}"
    if not why_not:
        cg = _confine.Cgroup(f"{_confine.CGROUP_PREFIX}{os.getpid()}")
        cgroup_note = cg.describe()
        cgroup = cg if cg.version else None
        try:
            _confine.build_root(root_dir, needed)
            del needed  # every run's fork would copy it
            world = "private"
        except OSError as exc:
            why_not = f"cannot build a private root: {exc}"
    else:
        cgroup_note = f"unavailable: {why_not}"
    home: list[int] = []  # our own namespaces (the mount one: with the programs' root), to come back to
    if world == "private":
        home = [os.open(f"self/ns/{ns}", os.O_RDONLY, dir_fd=proc) for ns in _confine.RUN_NAMESPACES]
    if proc >= 0:
        os.close(proc)
    hello = {"world": world if world == "private" else f"shared ({why_not})", "cgroup": cgroup_note,
             "cgroup_paths": cgroup.paths if cgroup is not None else []}
    sock.send(json.dumps(hello).encode())
    if world == "private":
        _confine.warm_page_cache()  # charged to the worker's cgroup, not the runs': they cannot reclaim it
    if cgroup is not None:
        try:
            # children born in the cgroup cost nothing, moving each run's child costs ~1 ms: the zygote
            # joins, where it can keep the cgroup's OOM killer off itself (CAP_SYS_RESOURCE)
            os.pwrite(oom, b"-1000", 0)
            cgroup.join()
            zygote_in_cgroup = True
        except OSError:
            pass
    global _SECCOMP
    _SECCOMP = _confine.seccomp_filter()
    if world == "private":
        # set once here rather than in each child: fewer pages each run's child writes (copies)
        _program_process_state("/tmp")
    # CPython builds the parser's and the compiler's lazy state (the AST node types among them) at the
    # first compile() of an interpreter: doing it once here spares every run's child building it again
    # (measured: about half the child's page faults and CPU time for a HumanEval program)
    exec(compile(_WARM_UP, "<warm-up>", "exec"), {"__name__": "<warm-up>"})
    _untrusted_program.warm_up()
    gc.collect()  # the warm-up's class and functions go: a program finds nothing of it through gc
    gc.freeze()  # children's collections then leave our objects (and their pages) alone: fewer COW copies
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except OSError:
            return
        if not msg:
            return
        job = json.loads(msg)
        uid = new_uid(base_uid) if base_uid else 0
        workdir = "/tmp"
        if world != "private":
            import tempfile  # here: only the shared mode's zygote carries it

            workdir = tempfile.mkdtemp(prefix="promptgym-run-")
            if uid:
                os.chown(workdir, uid, uid)
        if cgroup is not None:
            try:
                cgroup.limit(int(job["memory_mb"]), int(job.get("max_procs", 32)))
            except OSError:
                pass
        if world == "private":
            # made here, not in the child: the child then writes (copies) fewer of our pages
            _confine.enter_run_namespaces(int(job.get("tmp_mb", 64)), uid)
        # what the child inherits: of a run's processes and ours, the first to go. Lowering it again
        # needs no privilege down to 0, CAP_SYS_RESOURCE below (which the cgroup's -1000 needed too)
        _write_oom_score(oom, b"1000")
        pid = _fork()
        if pid == 0:
            sock.close()
            _program_child(job, fds, uid, world, workdir, cgroup, zygote_in_cgroup)
        _write_oom_score(oom, b"-1000" if zygote_in_cgroup else b"0")
        # while the child lives, each page we write is copied (the child shares it): so only the pid is
        # sent now, in few bytes, and the rest waits for the child's end (~60 fewer copies a run)
        sock.send(_STATUS.pack(pid))
        _wait(pid)
        for fd in fds:
            os.close(fd)
        if world == "private":
            # so that the next run's are made fresh from ours again. Nothing is left to reap: a PID
            # namespace's processes all end, and are reaped in it, before its first does
            _confine.leave_run_namespaces(home)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if uid:
                _confine.clean_up_uid(uid, workdir)
            else:
                _confine.remove_tree(workdir)
            _reap()
        sock.send(_WAIT_STATUS)  # the worker's second word: the exit status
        _WAIT_STATUS.value = 0


def _wait(pid: int) -> None:
    """Wait for the run's child. Its wait status (an exit code the program chose) goes only into a
    buffer the kernel writes and the loop sends, then clears: never into a Python object of ours,
    which the next run's child, forked from us, could read (a frame's local, a freed int's memory)."""
    while _confine.libc.waitpid(pid, ctypes.byref(_WAIT_STATUS), 0) < 0:
        if ctypes.get_errno() != errno.EINTR:
            raise OSError(ctypes.get_errno(), "waitpid failed")


def _write_oom_score(fd: int, value: bytes) -> None:
    try:
        os.pwrite(fd, value, 0)
    except OSError:  # no /proc here: the child keeps ours
        pass


def _reap() -> None:
    """Reap every zombie handed to us as subreaper (their statuses unread, as in ``_wait``)."""
    while _confine.libc.waitpid(-1, None, os.WNOHANG) > 0:
        pass


def _main(fd: int) -> None:
    """The zygote's interpreter: its settings from the worker on ``fd``, the modules programs use, then its loop."""
    _confine.libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # as the worker: exec made us dumpable again
    sock = socket.socket(fileno=fd)
    config = json.loads(sock.recv(_CONFIG_BYTES))
    for name in config["preload"]:
        try:
            __import__(name)
        except ImportError:  # a trimmed stdlib (the Docker image) may lack one; programs just can't import it
            pass
    _zygote_main(sock, config["root"], config["uid"], config.pop("needed"))


class Zygote:
    """The worker's handle on its program zygote (started before any job, so it never saw a test)."""

    def __init__(self, base_uid: int, preload_all: bool = False) -> None:
        import subprocess  # the worker's side only: the zygote does not carry them
        import tempfile

        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root_dir = tempfile.mkdtemp(prefix="promptgym-root-")
        self._proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__), str(theirs.fileno())],
                                      pass_fds=[theirs.fileno()])
        self.pid = self._proc.pid
        theirs.close()
        # the paths of the programs' root, found by ldd here: the zygote does not carry subprocess
        needed = _confine.needed_paths() if base_uid and not _confine.private_world_possible() else []
        config = {"root": root_dir, "uid": base_uid, "needed": needed,
                  "preload": PRELOAD + (PRELOAD_FALLBACK if preload_all else [])}
        self.sock.send(json.dumps(config).encode())
        self.hello = json.loads(self.sock.recv(65536))
        self.cgroup_paths = self.hello.pop("cgroup_paths", [])
        try:
            os.rmdir(root_dir)  # the zygote mounted on it in its own namespace; here it is empty
        except OSError:
            pass

    def close(self) -> None:
        """End the zygote (it leaves its loop at end of file) and remove its cgroups."""
        self.sock.close()
        self._proc.wait()
        _confine.remove_cgroups(self.cgroup_paths)

    def start(self, job: dict, fds: list[int]) -> int:
        """Start the program's child for ``job`` with its channel and output pipes; its pid."""
        limits = {k: job[k] for k in ("timeout", "memory_mb", "max_procs", "max_file_mb", "tmp_mb") if k in job}
        socket.send_fds(self.sock, [json.dumps(limits).encode()], fds)
        return self.receive()

    def receive(self) -> int:
        """The zygote's next word: the child's pid after ``start``, then its exit status."""
        data = self.sock.recv(_STATUS.size)
        if len(data) != _STATUS.size:
            raise RuntimeError("the program zygote died")
        return _STATUS.unpack(data)[0]


if __name__ == "__main__":
    _main(int(sys.argv[1]))
