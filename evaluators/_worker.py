"""Pre-started executor worker: forks a fresh, limited child per program and reports its verdicts.

Standard library only, run as a script (``python -I _worker.py``) by the process backend and as the
server inside each Docker container. Frames in both directions are a 4-byte big-endian length and
a JSON body. Each job runs in a new child: its own session/process group, a new network namespace
where permitted, rlimits, an unprivileged uid (when the worker is root) that sees the interpreter's
stdlib through the worker's private mount namespace (see _confine_fs), a scrubbed environment and
a private temporary work dir. The harness in the child writes nonce-tagged records to a private
pipe; the worker alone decides the verdict.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I drops the script's dir
import _harness  # noqa: E402

# Imported once here so that a run costs no import time: what most generated programs use. Kept
# short on purpose: every preloaded page is one more the kernel maps at each fork (measured: a
# 24 MB worker forks ~2 ms slower than an 11 MB one), and the rest of the stdlib imports normally.
PRELOAD = "re math typing collections heapq itertools functools operator copy bisect string cmath array".split()
# Where the program's uid cannot read the stdlib (no mount namespace permitted), children can only use
# what the worker already imported, so the rest of what generated code commonly imports comes too.
PRELOAD_FALLBACK = (
    "datetime random hashlib statistics fractions decimal json struct textwrap unicodedata calendar enum "
    "dataclasses io abc numbers ctypes subprocess threading signal time queue socket select selectors locale "
    "pprint glob pathlib shutil tempfile traceback inspect weakref contextlib warnings base64 binascii zlib uuid "
    "secrets csv difflib fnmatch codecs encodings.idna encodings.ascii encodings.latin_1 encodings.utf_16 "
    "encodings.utf_32 encodings.unicode_escape encodings.raw_unicode_escape encodings.punycode encodings.cp1252 "
    "unittest doctest collections.abc concurrent.futures multiprocessing"
).split()


def _preload(names: list[str]) -> None:
    for name in names:
        try:
            __import__(name)
        except ImportError:  # a trimmed stdlib (the Docker image) may lack one; programs just can't import it
            pass


_preload(PRELOAD)

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MNT_DETACH = 2
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36
RESULT_FD = 3
MB = 1 << 20


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare_net() -> bool:
    """Move the calling process into a new, empty network namespace; False if not permitted."""
    if hasattr(os, "unshare"):  # Python 3.12+
        try:
            os.unshare(CLONE_NEWNET)
            return True
        except OSError:
            return False
    return _libc().unshare(CLONE_NEWNET) == 0


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """libc mount(2); OSError on failure."""
    enc = [None if v is None else os.fsencode(v) for v in (source, target, fstype, data)]
    if _libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _hidden_root(path: str) -> str | None:
    """The topmost ancestor of ``path`` (or itself) that other users cannot traverse; None if none."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _private_paths() -> tuple[str, list[str], list[str]]:
    """(stdlib dir, files/dirs the child needs from the interpreter, site-packages dirs to hide)."""
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    needed = [stdlib]
    # the interpreter binary and libpython, so that a program can run sys.executable as in Docker
    path = sys.executable
    while os.path.islink(path):
        needed.append(path)  # recreated as a symlink, not bind-mounted
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    needed.append(os.path.realpath(path))
    libdir, ldlib = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and ldlib and os.path.exists(os.path.join(libdir, ldlib)):
        needed.append(os.path.join(libdir, ldlib))
    hide = {os.path.join(stdlib, "site-packages")}
    hide.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    return stdlib, needed, sorted(p for p in hide if os.path.isdir(p))


def _confine_fs() -> str:
    """Give the worker (and so every child) a private view of the interpreter's files.

    The dropped uid cannot traverse e.g. /root (where this machine's Python lives), so the worker
    enters a private mount namespace once, covers that directory with a read-only tmpfs holding only
    read-only bind mounts of the stdlib, the interpreter and libpython (same paths: sys.path and
    tracebacks keep working; nothing else there is visible), and covers site-packages with empty
    tmpfs (programs get the stdlib only, as in the Docker image). Returns "mounted", "readable"
    (nothing to do: the stdlib is reachable already) or "preloaded" (not permitted: programs can
    import only PRELOAD).
    """
    stdlib, needed, hide = _private_paths()
    root = _hidden_root(stdlib)
    if root is None and not hide:
        return "readable"
    if _libc().unshare(CLONE_NEWNS) != 0:
        return "preloaded" if root else "readable"
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount may propagate to the host
    except OSError:
        return "preloaded" if root else "readable"
    mode = "readable"
    if root is not None:
        try:
            _cover(root, [p for p in needed if p.startswith(root + "/")])
            mode = "mounted"
        except OSError:
            mode = "preloaded"
    for path in hide:
        try:
            _mount("promptgym", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=4k")
        except OSError:
            pass  # sys.path no longer lists it either (_only_stdlib_imports); this is the second lock
    return mode


def _cover(root: str, needed: list[str]) -> None:
    """Mount a tmpfs over ``root`` showing only ``needed`` (read-only binds, symlinks recreated)."""
    links = {p: os.readlink(p) for p in needed if os.path.islink(p)}
    # O_PATH fds keep the originals reachable (as /proc/self/fd/N) once the tmpfs hides them
    fds = {p: os.open(p, os.O_PATH) for p in needed if p not in links}
    try:
        _mount("promptgym", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
    except OSError:
        for fd in fds.values():
            os.close(fd)
        raise
    try:
        for path in needed:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if path in links:
                os.symlink(links[path], path)
                continue
            if os.path.isdir(f"/proc/self/fd/{fds[path]}"):
                os.makedirs(path, mode=0o755, exist_ok=True)
            else:
                open(path, "w").close()
            _mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except OSError:
        # half a view is worse than none: give the worker its files back (lazily unmounts the binds)
        _libc().umount2(os.fsencode(root), MNT_DETACH)
        raise
    finally:
        for fd in fds.values():
            os.close(fd)


def _only_stdlib_imports() -> None:
    """Drop site-packages and third-party import hooks (editable installs, _distutils_hack)."""
    import importlib
    import importlib.machinery

    sys.path[:] = [p for p in sys.path if os.path.basename(p) not in ("site-packages", "dist-packages")]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if f in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
                                 importlib.machinery.PathFinder)]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def _child(job: dict, nonce: str, fds: dict, workdir: str, uid: int, isolate_net: bool) -> None:
    """In the forked child: confine the process, then hand over to the harness. Never returns."""
    try:
        os.setsid()  # own process group: the worker kills the whole group at the limit
        if isolate_net:
            _unshare_net()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds["out"], 1)
        os.dup2(fds["err"], 2)
        os.dup2(fds["res"], RESULT_FD)
        os.closerange(RESULT_FD + 1, 65536)  # the worker's protocol pipes and sockets are not the program's
        timeout = float(job["timeout"])
        cpu = int(timeout) + 1
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
        if uid and os.getuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
                                      write_through=True)
        stdout, stderr = sys.stdout, sys.stderr
        sys.argv = ["<program>"]
        _harness.run(job["program"], list(job["tests"]), job.get("setup", ""), RESULT_FD, nonce)
        for stream in (stdout, stderr):
            try:
                stream.flush()
            except BaseException:  # the program may have closed or broken its streams
                pass
    finally:
        os._exit(0)


def _descendants_left() -> bool:
    """Whether any process the program started is still alive.

    The worker is a child subreaper, so every surviving descendant of a run (however it forked,
    whatever session it made) is our child or below one: an empty children list means none.
    """
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as fh:
            return bool(fh.read().split())
    except OSError:  # no such file (old kernel): assume the worst and sweep
        return True


def _sweep(uid: int) -> None:
    """Kill every process the program left behind (orphans, daemons), then reap them."""
    if not _descendants_left():
        return
    if uid and os.getuid() == 0:
        # a helper with the program's uid signals everything of that uid: kill(-1) spares only itself
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    elif os.getpid() == 1:
        # inside a container (own pid namespace): everything but this server is the program's
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (me, 1):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    # we are the child subreaper: orphans were reparented to us; reap them so no zombie stays
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.001)  # killed ones take a moment to become zombies


class _Capture:
    """Reads one pipe, keeping at most ``limit`` bytes and discarding (but draining) the rest."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit, self.data, self.dropped = fd, limit, bytearray(), 0

    def read(self) -> bool:
        """Read what is available; False at end of file."""
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        room = self.limit - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)
        return True


def execute(job: dict, uid: int, isolate_net: bool) -> dict:
    """Run one job in a fresh child and return the result as a plain dict."""
    start = time.monotonic()
    timeout = float(job["timeout"])
    nonce = os.urandom(16).hex()
    workdir = tempfile.mkdtemp(prefix="promptgym-run-")
    if uid and os.getuid() == 0:
        os.chown(workdir, uid, uid)
    pipes = {name: os.pipe() for name in ("res", "out", "err")}
    pid = os.fork()
    if pid == 0:
        _child(job, nonce, {name: w for name, (_, w) in pipes.items()}, workdir, uid, isolate_net)
    for _, w in pipes.values():
        os.close(w)
    limit = int(job.get("max_output", 64 * 1024))
    caps = {name: _Capture(r, limit if name != "res" else 4 * MB) for name, (r, _) in pipes.items()}
    for cap in caps.values():
        os.set_blocking(cap.fd, False)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    by_fd = {cap.fd: cap for cap in caps.values()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = start + timeout
    timed_out, wait_status = False, None
    while wait_status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, wait_status = os.waitpid(pid, 0)
            break
        for fd, _ in poller.poll(max(left, 0.0) * 1000):
            if fd == pidfd:
                _, wait_status = os.waitpid(pid, 0)
            elif not by_fd[fd].read():
                poller.unregister(fd)
    os.close(pidfd)
    duration = time.monotonic() - start
    try:
        os.killpg(pid, signal.SIGKILL)  # grandchildren still in the group
    except (ProcessLookupError, PermissionError):
        pass
    _sweep(uid)
    for cap in caps.values():  # everything that held a write end is dead now: drain to EOF
        os.set_blocking(cap.fd, True)
        while cap.read():
            pass
        os.close(cap.fd)
    shutil.rmtree(workdir, ignore_errors=True)
    return _verdict(job, nonce, caps, wait_status, timed_out, duration)


def _verdict(job: dict, nonce: str, caps: dict, wait_status: int, timed_out: bool, duration: float) -> dict:
    """Turn the child's records and exit status into a result dict."""
    n = len(job["tests"])
    outcomes: list[list] = [[False, "not run"] for _ in range(n)]
    program_error, memory, done = "", False, False
    prefix = nonce + " "
    for line in bytes(caps["res"].data).decode("utf-8", "replace").splitlines():
        if not line.startswith(prefix) or done:
            continue  # not from the harness (or after its last word): ignored
        kind, _, rest = line[len(prefix):].partition(" ")
        if kind in ("P", "F"):
            index, _, message = rest.partition(" ")
            if index.isdigit() and int(index) < n:
                outcomes[int(index)] = [kind == "P", message]
        elif kind == "E":
            program_error = program_error or rest
        elif kind == "M":
            memory = True
        elif kind == "D":
            done = True
    signum = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else 0
    if timed_out or signum == signal.SIGXCPU:
        status, error = "timeout", f"time limit of {job['timeout']}s exceeded"
    elif memory:
        status, error = "memory", f"memory limit of {job['memory_mb']} MB exceeded"
    elif signum:
        status, error = "killed", f"killed by signal {signal.Signals(signum).name}"
    elif not done:
        status, error = "error", "the program exited before the tests finished"
    elif program_error:
        status, error = "error", program_error
    else:
        status = "passed" if all(ok for ok, _ in outcomes) else "failed"
        error = "" if status == "passed" else next(msg for ok, msg in outcomes if not ok)
    if status != "passed":
        # a test whose record never arrived is failed, whatever it would have done
        outcomes = [[ok and done, msg] for ok, msg in outcomes]
    texts = {}
    for name in ("out", "err"):
        text = bytes(caps[name].data).decode("utf-8", "replace")
        if caps[name].dropped:
            text += f"\n... [{caps[name].dropped} more bytes truncated]"
        texts[name] = text
    return {"status": status, "tests": [{"passed": ok, "error": msg} for ok, msg in outcomes],
            "stdout": texts["out"], "stderr": texts["err"], "duration_s": duration, "error": error,
            "extra": {"exit_signal": signum, "records_complete": done}}


def _recv_exact(read, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def serve(read, write, uid: int) -> None:
    """Answer jobs until the other side closes the channel."""
    # One new, empty network namespace for the worker, inherited by every child it forks: the same
    # isolation as one per child, without paying for a namespace per run (all of a run's processes
    # are dead before the next starts, so nothing lingers in it).
    isolate = _unshare_net()
    # likewise one private mount namespace (see _confine_fs), set up once: no cost per run
    stdlib = _confine_fs() if uid and os.getuid() == 0 else "readable"
    if stdlib == "preloaded":
        _preload(PRELOAD_FALLBACK)
    _only_stdlib_imports()
    hello = json.dumps({"ready": True, "pid": os.getpid(), "network_isolated": isolate, "stdlib": stdlib}).encode()
    write(struct.pack(">I", len(hello)) + hello)
    while True:
        header = _recv_exact(read, 4)
        if header is None:
            return
        body = _recv_exact(read, struct.unpack(">I", header)[0])
        if body is None:
            return
        job = json.loads(body)
        try:
            result = execute(job, uid, False)
        except Exception as exc:  # a worker-side failure is reported, never silently dropped
            result = {"status": "error", "error": f"worker failure: {type(exc).__name__}: {exc}"}
        result.setdefault("extra", {})["network_isolated"] = isolate
        result["extra"]["stdlib"] = stdlib
        result["id"] = job.get("id")
        out = json.dumps(result).encode()
        write(struct.pack(">I", len(out)) + out)


def main() -> None:
    """Entry point: serve on stdin/stdout, or on a unix socket (inside a container)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", type=int, default=0, help="unprivileged uid for the children (0: keep)")
    parser.add_argument("--listen", default="", help="unix socket path to serve on instead of stdin/stdout")
    args = parser.parse_args()
    try:
        _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to us to be reaped
    except (OSError, AttributeError):
        pass
    if args.listen:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(args.listen)
        os.chmod(args.listen, 0o777)
        server.listen(1)
        conn, _ = server.accept()
        serve(conn.recv, conn.sendall, args.uid)
        return
    # keep the protocol on private fds; fd 1 goes to stderr so stray prints cannot corrupt it
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)

    def write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(proto_out, view):]

    serve(lambda n: os.read(proto_in, n), write_all, args.uid)


if __name__ == "__main__":
    main()
