"""Pre-started executor worker: per job, a trusted judge and a confined program child, never one process.

Standard library only, run as a script (``python -I _worker.py``) by the process backend and as the
server inside each Docker container. Frames to and from the host are a 4-byte big-endian length
and a JSON body. Before any job arrives, the worker starts the *program zygote* (``_zygote``, an
interpreter of its own), whose memory never holds a test: for each job it forks the program's child
into a fresh private world.
The worker itself forks the *judge* (``_trusted_judge``), which holds the tests, runs them in its
own interpreter against proxies of the program's names, and writes its verdict records to a pipe
only the worker reads. The worker enforces the wall clock, kills what is left and reports.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I drops the script's dir
import _trusted_judge  # noqa: E402
import _wire  # noqa: E402
import _zygote  # noqa: E402

from _confine import (  # noqa: E402
    CLONE_NEWNET, CLONE_NEWNS, MB, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
    MS_REC, MS_REMOUNT, PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, libc, mount as _mount,
)

_FLUSH_GRACE_S = 0.5  # after the judge hangs up, the program's child flushes its output and exits
_JUDGE_GRACE_S = 2.0  # past the deadline, a judge that has not finished (its alarm failed) is replaced
JUDGE_MEMORY_MB = 1024  # the judge holds the tests and what the program returns (frames <= 64 MiB)



def _unshare_net() -> bool:
    """Move the calling process into a new, empty network namespace; False if not permitted."""
    if hasattr(os, "unshare"):  # Python 3.12+
        try:
            os.unshare(CLONE_NEWNET)
            return True
        except OSError:
            return False
    return libc.unshare(CLONE_NEWNET) == 0


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
    import only what the zygote preloaded).
    """
    stdlib, needed, hide = _private_paths()
    root = _hidden_root(stdlib)
    if root is None and not hide:
        return "readable"
    if libc.unshare(CLONE_NEWNS) != 0:
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
        libc.umount2(os.fsencode(root), MNT_DETACH)
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


# -- one run ---------------------------------------------------------------------------------------
class _Judge:
    """The worker's handle on its judge: a process of an unprivileged uid of its own, forked at start
    and kept, that runs every job's tests (re-forked only if a run leaves it stuck)."""

    def __init__(self, judge_uid: int) -> None:
        self.uid = judge_uid
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self.sock.close()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.dup2(theirs.fileno(), 3)
                os.closerange(4, 65536)
                resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY_MB * MB,) * 2)
                _zygote.drop_to(judge_uid)
                libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
                _trusted_judge.serve(3)
            finally:
                os._exit(0)
        theirs.close()

    def start(self, job: dict, proto: list[int], records: int) -> None:
        """Hand one job to the judge with its ends of the program's pipes (from, to) and the records pipe."""
        data = b"J" + _wire.frame(job)  # the descriptors ride with the first byte: one message, one wake-up
        sent = socket.send_fds(self.sock, [data], [*proto, records])
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def close(self) -> None:
        _kill(self.pid)
        os.waitpid(self.pid, 0)
        self.sock.close()


def _kill(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def execute(job: dict, zygote: _zygote.Zygote, judge: _Judge) -> tuple[dict, bool]:
    """Run one job; the result dict, and whether the judge must be replaced (it overran the limit)."""
    start = time.monotonic()
    deadline = start + float(job["timeout"])
    to_program, to_judge = os.pipe(), os.pipe()
    pipes = {name: os.pipe() for name in ("rec", "out", "err")}
    program_pid = zygote.start(job, [to_program[0], to_judge[1], pipes["out"][1], pipes["err"][1]])
    judge.start(job, [to_judge[0], to_program[1]], pipes["rec"][1])
    for fd in (*to_program, *to_judge, pipes["out"][1], pipes["err"][1], pipes["rec"][1]):
        os.close(fd)
    limit = int(job.get("max_output", 64 * 1024))
    caps = {name: _Capture(r, limit if name != "rec" else 4 * MB) for name, (r, _) in pipes.items()}
    poller = select.poll()
    poller.register(zygote.sock.fileno(), select.POLLIN)
    by_fd = {cap.fd: cap for cap in caps.values()}
    for fd in by_fd:
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
    rec_fd = caps["rec"].fd
    timed_out, judge_done, program_status, killed_program = False, False, None, False
    grace_end = deadline  # once the judge is done, the program gets a moment to flush its output
    while not judge_done or program_status is None:
        now = time.monotonic()
        if now >= deadline + _JUDGE_GRACE_S and not judge_done:
            break  # the judge is stuck (a pure-judge loop its alarm could not cut): replace it
        if now >= deadline and not timed_out:
            timed_out = True
            _kill(program_pid)
        elif now >= grace_end and not killed_program and not timed_out:
            killed_program = True  # the judge is done with it: end the program's world
            _kill(program_pid)
        wake = min(deadline + (_JUDGE_GRACE_S if timed_out else 0), grace_end) - now
        for fd, _ in poller.poll(max(wake, 0.0) * 1000 + 1):
            if fd == zygote.sock.fileno():
                program_status = zygote.receive()
                poller.unregister(fd)
            elif not by_fd[fd].read():
                poller.unregister(fd)
                if fd == rec_fd:  # the judge closed its records: it is done with this job
                    judge_done = True
                    grace_end = min(deadline, time.monotonic() + _FLUSH_GRACE_S)
    duration = time.monotonic() - start
    if program_status is None:  # the judge overran: end the program and wait for its status
        _kill(program_pid)
        program_status = zygote.receive()
    for cap in caps.values():  # every writer is dead now (or done): drain to EOF
        if cap.fd == rec_fd and not judge_done:
            os.close(cap.fd)
            continue
        os.set_blocking(cap.fd, True)
        while cap.read():
            pass
        os.close(cap.fd)
    return _verdict(job, caps, program_status, timed_out, killed_program, duration), not judge_done


def _verdict(job: dict, caps: dict, program_status: int, timed_out: bool, killed_by_us: bool,
             duration: float) -> dict:
    """Turn the judge's records and the exit statuses into a result dict."""
    n = len(job["tests"])
    outcomes: list[list] = [[False, "not run"] for _ in range(n)]
    program_error, memory, gone, done = "", False, False, False
    for line in bytes(caps["rec"].data).decode("utf-8", "replace").splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("P", "F"):
            index, _, message = rest.partition(" ")
            if index.isdigit() and int(index) < n:
                outcomes[int(index)] = [kind == "P", message]
        elif kind == "E":
            program_error = program_error or rest
        elif kind == "M":
            memory = True
        elif kind == "X":
            gone = True
        elif kind == "D":
            done = True
    program_signal = os.WTERMSIG(program_status) if os.WIFSIGNALED(program_status) else 0
    if killed_by_us and not gone:
        program_signal = 0  # we ended the program after the judge was done: not the program's doing
    if timed_out or program_signal == signal.SIGXCPU:
        status, error = "timeout", f"time limit of {job['timeout']}s exceeded"
    elif memory:
        status, error = "memory", f"memory limit of {job['memory_mb']} MB exceeded"
    elif program_signal:
        status, error = "killed", f"killed by signal {signal.Signals(program_signal).name}"
    elif not done:
        status, error = "error", "the judge could not finish"
    elif program_error:
        status, error = "error", program_error
    elif gone:
        status, error = "error", "the program exited before the tests finished"
    else:
        status = "passed" if all(ok for ok, _ in outcomes) else "failed"
        error = "" if status == "passed" else next(msg for ok, msg in outcomes if not ok)
    if status == "timeout":
        outcomes = [[False, msg] if ok else [ok, msg] for ok, msg in outcomes]
    texts = {}
    for name in ("out", "err"):
        text = bytes(caps[name].data).decode("utf-8", "replace")
        if caps[name].dropped:
            text += f"\n... [{caps[name].dropped} more bytes truncated]"
        texts[name] = text
    return {"status": status, "tests": [{"passed": ok, "error": msg} for ok, msg in outcomes],
            "stdout": texts["out"], "stderr": texts["err"], "duration_s": duration, "error": error,
            "extra": {"exit_signal": program_signal, "records_complete": done}}

def _recv_exact(read, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def serve(read, write, uid: int, secret: str = "") -> None:
    """Answer jobs until the other side closes the channel."""
    # One new, empty network namespace for the worker, inherited by every process it forks: the
    # same isolation as one per run, without paying for a namespace per run.
    isolate = _unshare_net()
    # likewise one private mount namespace (see _confine_fs), set up once: no cost per run
    stdlib = _confine_fs() if uid and os.getuid() == 0 else "readable"
    _only_stdlib_imports()
    zygote = _zygote.Zygote(uid, preload_all=stdlib == "preloaded")  # before any job: it never holds a test
    judge = _Judge(_zygote.new_uid(uid) if uid else 0)
    info = {"network_isolated": isolate, "stdlib": stdlib, **zygote.hello}
    hello = json.dumps({"ready": True, "pid": os.getpid(), "zygote_pid": zygote.pid, "judge_pid": judge.pid,
                        "secret": secret, **info}).encode()
    write(struct.pack(">I", len(hello)) + hello)
    while True:
        header = _recv_exact(read, 4)
        body = None if header is None else _recv_exact(read, struct.unpack(">I", header)[0])
        if body is None:  # the host is done with us
            zygote.close()
            return
        job = json.loads(body)
        try:
            result, stuck = execute(job, zygote, judge)
            if stuck:
                judge.close()
                judge = _Judge(judge.uid)
        except (RuntimeError, OSError) as exc:  # the zygote or a channel broke: let the host replace us
            sys.exit(f"worker failure: {type(exc).__name__}: {exc}")
        except Exception as exc:  # a worker-side failure is reported, never silently dropped
            result = {"status": "error", "error": f"worker failure: {type(exc).__name__}: {exc}"}
        result.setdefault("extra", {}).update(info)
        result["id"] = job.get("id")
        out = json.dumps(result).encode()
        write(struct.pack(">I", len(out)) + out)


def main() -> None:
    """Entry point: serve on stdin/stdout, or on a unix socket (inside a container)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", type=int, default=0, help="base of the unprivileged uids for runs (0: keep)")
    parser.add_argument("--listen", default="", help="unix socket path to serve on instead of stdin/stdout")
    parser.add_argument("--cpu", type=int, default=None, help="run on this CPU only (with the zygote, judge, runs)")
    args = parser.parse_args()
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})  # before the zygote and the judge are forked: they inherit it
        except OSError:  # not one of ours (a changed cpuset): the kernel places us
            pass
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no /proc/<pid>/mem, no ptrace, even for our own uid
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to us to be reaped
    if args.listen:
        # the per-container secret proves to the host that it reached this worker, not an impostor
        secret = os.environ.pop("PROMPTGYM_SECRET", "")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        server.bind(args.listen)
        os.umask(old)
        server.listen(1)
        conn, _ = server.accept()
        server.close()
        serve(conn.recv, conn.sendall, args.uid, secret)
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
