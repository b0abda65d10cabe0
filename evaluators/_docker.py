"""Docker backend: a warm pool of long-lived containers, each running the same executor worker.

The image is ``python:3.11-slim`` when a registry is reachable; offline (as here) it is built once
from this machine's own Python (binary, stdlib, shared libraries from ``ldd``) with ``docker
import`` and tagged ``promptgym-sandbox:py3.11``. Containers: network none, memory/pids/cpu limits,
read-only root with a tmpfs /tmp, programs under uids of their own in a private world per run, and a
unique name per pool. The worker code is mounted read-only; the host talks to it over a unix
socket in a per-container directory private to its owner.
"""

from __future__ import annotations

import hmac
import io
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
import uuid
from typing import Any

from evaluators._pool import START_TIMEOUT_S, Channel, WorkerDied
from evaluators.error import DependencyNotInstalled, SandboxError

DEFAULT_IMAGE = "promptgym-sandbox:py3.11"
_EVALUATORS_DIR = os.path.dirname(os.path.abspath(__file__))
_PY = "/usr/local/bin/python3.11"
_SKIP_STDLIB = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "config-3.11-x86_64-linux-gnu"}
_build_lock = threading.Lock()


def docker_client() -> Any:
    """A docker SDK client for a running engine, or a clear error saying what is missing."""
    try:
        import docker
    except ImportError as exc:
        raise DependencyNotInstalled("the docker backend needs the docker SDK: pip install docker") from exc
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types when no engine is reachable
        raise DependencyNotInstalled(f"the docker backend needs a running Docker engine: {exc}") from exc
    return client


def _ldd(paths: list[str]) -> set[str]:
    """Shared libraries (resolved paths) that ``paths`` load."""
    libs: set[str] = set()
    for path in paths:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, check=False).stdout
        for match in re.finditer(r"(/\S+\.so[\w.\-]*)", out):
            libs.add(match.group(1))
    return libs


def _rootfs_tar() -> bytes:
    """A tar of a minimal root file system holding this machine's Python 3.11."""
    if sys.version_info[:2] != (3, 11):
        raise SandboxError("building the sandbox image offline needs Python 3.11 on the host")
    exe = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    dynload = os.path.join(stdlib, "lib-dynload")
    extensions = [os.path.join(dynload, f) for f in os.listdir(dynload) if f.endswith(".so")]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("tmp", "sandbox", "ipc", "proc", "dev", "etc", "usr/local/bin", "usr/local/lib"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(exe, _PY.lstrip("/"))
        for name in ("python3", "python"):
            link = tarfile.TarInfo(f"usr/local/bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "python3.11"
            tar.addfile(link)

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = info.name.split("/")
            return None if len(parts) > 4 and parts[4] in _SKIP_STDLIB else info

        tar.add(stdlib, "usr/local/lib/python3.11", filter=keep)
        for lib in _ldd([exe, *extensions]):
            real = os.path.realpath(lib)
            # libpython goes next to the stdlib (LD_LIBRARY_PATH); system libs keep their paths
            target = f"usr/local/lib/{os.path.basename(lib)}" if libdir and lib.startswith(libdir) else lib.lstrip("/")
            tar.add(real, target)
    return buf.getvalue()


def ensure_image(client: Any, image: str = DEFAULT_IMAGE) -> str:
    """Return ``image``, building it offline on first use (cached by Docker afterwards)."""
    import docker

    with _build_lock:
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            pass
        if image != DEFAULT_IMAGE:
            try:
                client.images.pull(image)
                return image
            except docker.errors.APIError as exc:
                raise SandboxError(f"image {image!r} is not present and cannot be pulled: {exc}") from exc
        repo, tag = DEFAULT_IMAGE.split(":")
        client.api.import_image_from_data(_rootfs_tar(), repository=repo, tag=tag)
        client.images.get(image)  # raises if the import did not produce it
        return image


class DockerWorker:
    """One long-lived container running the executor worker, reached over a unix socket.

    The worker is the container's root with only the capabilities it needs to build each run's
    private world and drop to the run's own uid (the program never holds any of them); it is not
    dumpable. The socket lives in a host directory private to its owner; the host checks that the
    peer is the container's own init process and knows the secret given only to this container,
    and matches every reply to its request.
    """

    def __init__(self, client: Any, image: str, name: str, memory_mb: int, cpus: float, pids: int,
                 cpu: int | None = None) -> None:
        self.name = name
        self.ipc = tempfile.mkdtemp(prefix="promptgym-ipc-")  # mode 0700: only its owner (and root) can enter
        self.secret = secrets.token_hex(16)
        self._next_id = 0
        uid = 100_000 + int.from_bytes(os.urandom(4), "big") % 1_000_000_000
        caps = ["SYS_ADMIN", "SETUID", "SETGID", "SYS_CHROOT", "KILL", "CHOWN"]
        if os.getuid() != 0:  # the container's root must enter a directory owned by this (non-root) user
            caps.append("DAC_OVERRIDE")
        self.container = client.containers.run(
            image, [_PY, "-I", "/sandbox/_worker.py", "--listen", "/ipc/worker.sock", "--uid", str(uid)],
            name=name, detach=True, network_mode="none", read_only=True, user="0:0",
            tmpfs={"/tmp": "size=256m,mode=711"}, mem_limit=f"{memory_mb}m", memswap_limit=f"{memory_mb}m",
            pids_limit=pids, nano_cpus=int(cpus * 1e9), cap_drop=["ALL"], cap_add=caps,
            **({"cpuset_cpus": str(cpu)} if cpu is not None else {}),
            security_opt=["no-new-privileges"],
            environment={"LD_LIBRARY_PATH": "/usr/local/lib", "PROMPTGYM_SECRET": self.secret},
            labels={"promptgym.sandbox": "1"},
            volumes={_EVALUATORS_DIR: {"bind": "/sandbox", "mode": "ro"}, self.ipc: {"bind": "/ipc", "mode": "rw"}},
        )
        path = os.path.join(self.ipc, "worker.sock")
        deadline = time.monotonic() + START_TIMEOUT_S
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > deadline:
                    logs = self.container.logs()[-2000:].decode("utf-8", "replace")
                    self.close()
                    raise SandboxError(f"sandbox container {name} did not start: {exc}; logs: {logs}") from exc
                time.sleep(0.02)
        self.channel = Channel(self.sock.fileno(), self.sock.fileno())
        try:
            self.hello = self.channel.recv(deadline)
            self._check_peer()
        except (WorkerDied, SandboxError) as exc:
            self.close()
            raise SandboxError(f"sandbox container {name} did not greet as expected: {exc}") from exc
        self.hello["network_isolated"] = True  # network_mode="none" isolates the whole container

    def _check_peer(self) -> None:
        """The socket's peer must be this container's init, and must know this container's secret."""
        pid, uid, _ = struct.unpack("3i", self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                               struct.calcsize("3i")))
        self.container.reload()
        if pid != self.container.attrs["State"]["Pid"]:
            raise SandboxError(f"the socket's peer (pid {pid}, uid {uid}) is not the container's worker")
        if not hmac.compare_digest(str(self.hello.get("secret", "")), self.secret):
            raise SandboxError("the worker did not present this container's secret")

    @property
    def pids(self) -> list[int]:
        """No host pids to watch: the container's processes live in its own pid namespace."""
        return []

    def alive(self) -> bool:
        """Whether the container's worker is still there (between jobs its socket is silent until EOF)."""
        import select

        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def request(self, job: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Run one job in this container; WorkerDied if it dies, stalls or answers another request."""
        self._next_id += 1
        self.channel.send({**job, "id": self._next_id})
        reply = self.channel.recv(deadline)
        if reply.get("id") != self._next_id:
            raise WorkerDied(f"reply to request {reply.get('id')!r} while waiting for {self._next_id}")
        reply.setdefault("extra", {})["network_isolated"] = True
        return reply

    def close(self) -> None:
        """Remove the container and its socket directory."""
        try:
            self.sock.close()
        except (OSError, AttributeError):
            pass
        try:
            self.container.remove(force=True)
        except Exception:  # already gone (the engine removed it, or it never started)
            pass
        shutil.rmtree(self.ipc, ignore_errors=True)


class DockerPool:
    """Makes containers for one Sandbox; names are unique to this pool, never shared."""

    def __init__(self, image: str | None = None, memory_mb: int = 1024, cpus: float = 1.0, pids: int = 128) -> None:
        self.client = docker_client()
        self.image = ensure_image(self.client, image or DEFAULT_IMAGE)
        self.pool_id = uuid.uuid4().hex[:10]
        self.memory_mb, self.cpus, self.pids = memory_mb, cpus, pids
        self._count = 0
        self._lock = threading.Lock()

    def new_worker(self, cpu: int | None = None) -> DockerWorker:
        """Start one more container for this pool (on CPU ``cpu`` only, when given)."""
        with self._lock:
            self._count += 1
            name = f"promptgym-sbx-{self.pool_id}-{self._count}"
        return DockerWorker(self.client, self.image, name, self.memory_mb, self.cpus, self.pids, cpu)

    def close(self) -> None:
        """Release the SDK client."""
        try:
            self.client.close()
        except Exception:  # closing a client whose engine went away
            pass
