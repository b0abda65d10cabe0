"""Host side of the executor workers: frames over pipes or sockets, and the process-backend worker."""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time
from typing import Any

from evaluators.error import SandboxError

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
START_TIMEOUT_S = 30.0


class WorkerDied(Exception):
    """The worker went away (or stopped answering) in the middle of a job."""


class Channel:
    """Length-prefixed JSON frames over a pair of file descriptors (pipes or one socket)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self._buffer = b""  # read past a frame: the start of the next one

    def send(self, obj: dict[str, Any]) -> None:
        """Send one frame."""
        body = json.dumps(obj).encode("utf-8", "surrogatepass")
        view = memoryview(struct.pack(">I", len(body)) + body)
        try:
            while view:
                view = view[os.write(self.write_fd, view):]
        except OSError as exc:
            raise WorkerDied(f"cannot write to worker: {exc}") from exc

    def _read_exact(self, n: int, deadline: float) -> bytes:
        """``n`` bytes: what the last read left over, then reads of up to 64 KiB (a result frame is usually one)."""
        buf = self._buffer
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerDied("worker did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.read_fd, max(n - len(buf), 1 << 16))
            except OSError as exc:
                raise WorkerDied(f"cannot read from worker: {exc}") from exc
            if not chunk:
                raise WorkerDied("worker closed its channel")
            buf += chunk
        self._buffer = buf[n:]
        return buf[:n]

    def recv(self, deadline: float) -> dict[str, Any]:
        """Receive one frame, or raise WorkerDied at ``deadline``."""
        (size,) = struct.unpack(">I", self._read_exact(4, deadline))
        return json.loads(self._read_exact(size, deadline).decode("utf-8", "surrogatepass"))


class ProcessWorker:
    """One pre-started worker process on this machine (the zygote children fork from)."""

    def __init__(self, uid: int, cpu: int | None = None) -> None:
        self.uid = uid
        # -I: no user site, no PYTHON* variables; env={...}: the caller's secrets never reach the worker
        self.proc = subprocess.Popen(
            [sys.executable, "-I", WORKER_SCRIPT, "--uid", str(uid), *(["--cpu", str(cpu)] if cpu is not None else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.channel = Channel(self.proc.stdout.fileno(), self.proc.stdin.fileno())
        try:
            self.hello = self.channel.recv(time.monotonic() + START_TIMEOUT_S)
        except WorkerDied as exc:
            self.close()
            raise SandboxError(f"executor worker failed to start: {exc}") from exc

    @property
    def pids(self) -> list[int]:
        """Host pids of the worker process, its program zygote and its judge (for leak checks)."""
        return [self.proc.pid, int(self.hello.get("zygote_pid", 0)), int(self.hello.get("judge_pid", 0))]

    def request(self, job: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Run one job; WorkerDied if the worker dies or stalls."""
        self.channel.send(job)
        return self.channel.recv(deadline)

    def alive(self) -> bool:
        """Whether the worker process is still running."""
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop; kill it if it lingers)."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
