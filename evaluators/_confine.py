"""How a program's child is confined: one fresh, private world per run. Standard library only.

``private`` mode (root with CAP_SYS_ADMIN: the process backend as root, Docker with the
capability): the program zygote builds, once, a read-only root holding only the interpreter, its
stdlib and the shared libraries they load, plus ``/dev/{null,zero,full,random,urandom}``, and
pivots into it. Each run's child is then PID 1 of a new PID namespace (when it ends, the kernel
kills every process it left) with new mount, IPC and UTS namespaces: a private size-capped tmpfs
at ``/tmp`` (its work dir, gone with the namespace whatever is inside), a private ``/proc`` that
shows only its own processes, no SysV IPC of anyone else's, and no file of the host's.

``shared`` mode (no such privilege): a private work dir in the host's temp dir and an
unprivileged uid of its own per run where the worker is root; afterwards every process of that
uid is killed and every file and SysV IPC object it left in the shared temporary places is
removed. ``result.extra["world"]`` says which mode ran.

Whole-run limits go through a cgroup (v2, else v1 memory/pids/cpu) of the worker's own where the
machine delegates one; ``result.extra["cgroup"]`` says where it does not (then memory is
bounded per process by RLIMIT_AS and processes by RLIMIT_NPROC, so a run holds at most
``max_procs * memory_mb``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import signal
import stat
import sys
import sysconfig
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x4000000, 0x8000000, 0x20000000, 0x40000000
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 8192, 16384, 1 << 18)
MB = 1 << 20
_DEVICES = ("null", "zero", "full", "random", "urandom")
REAL_EXECUTABLE = os.path.realpath(sys.executable)
# places any uid may write on a usual Linux host; a run's leftovers there are removed in shared mode
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
libc = ctypes.CDLL(None, use_errno=True)
_ZYGOTE_MB = 32  # the zygote lives in the run cgroup too (its children are born there): room for what it allocates
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # pivot_root has no libc wrapper: syscall numbers
# Extension modules that cannot work in a run (no display, no terminal, no NIS server) and whose
# libraries (X11, Tk, ncurses, readline, Kerberos...) would be ~30 more bind mounts in the programs'
# root, which every run's mount namespace copies and tears down (2% of a HumanEval run's CPU).
_UNUSABLE_IN_A_RUN = ("_tkinter.", "_curses.", "_curses_panel.", "readline.", "nis.")
RUN_NAMESPACES = ("pid", "mnt", "ipc", "uts")  # the ones each run gets new, as /proc/self/ns names them


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """unshare(2); OSError when not permitted."""
    _check(libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); OSError on failure."""
    enc = [None if v is None else os.fsencode(v) for v in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _bind_ro(source: str, target: str, extra: int = MS_NODEV) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra)


# -- the read-only root ---------------------------------------------------------------------------
def needed_paths() -> list[str]:
    """Host paths the interpreter needs: itself (with its symlinks), stdlib, libpython, shared libs."""
    import subprocess  # here: the zygote, which is handed these paths, does not carry it

    stdlib = sysconfig.get_paths()["stdlib"]
    # the interpreter by its real path: a venv's link may sit under /tmp (a clone there), which each
    # run's own tmpfs covers; the child's sys.executable is set to this path too
    paths = [REAL_EXECUTABLE, stdlib]
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and soname and os.path.exists(os.path.join(libdir, soname)):
        paths.append(os.path.join(libdir, soname))
    dynload = os.path.join(stdlib, "lib-dynload")
    binaries = [os.path.realpath(sys.executable)]
    if os.path.isdir(dynload):
        binaries += [os.path.join(dynload, f) for f in os.listdir(dynload)
                     if f.endswith(".so") and not f.startswith(_UNUSABLE_IN_A_RUN)]
    try:
        out = subprocess.run(["ldd", *binaries], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:  # a minimal image (the Docker sandbox's) has no ldd and nothing else to hide
        return paths + [d for d in ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib") if os.path.isdir(d)]
    paths += sorted(set(re.findall(r"(/\S+\.so[\w.\-]*)", out)))
    return paths


def _replicate(root: str, path: str, seen: set[str]) -> None:
    """Make ``path`` resolve inside ``root`` as on the host: symlinks recreated, the file or dir bound read-only."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for i, part in enumerate(parts):
        host = os.path.join(current, part)
        inside = root + host
        rest = "/".join(parts[i + 1:])
        if os.path.islink(host):
            target = os.readlink(host)
            if not os.path.lexists(inside):
                os.symlink(target, inside)
            resolved = os.path.normpath(os.path.join(current, target))
            _replicate(root, os.path.join(resolved, rest) if rest else resolved, seen)
            return
        if host in seen:
            return  # an ancestor directory is bound already: everything below it is visible
        if not rest:
            if os.path.isdir(host):
                os.makedirs(inside, exist_ok=True)
            elif not os.path.exists(inside):
                open(inside, "w").close()
            _bind_ro(host, inside)
            seen.add(host)
            return
        os.makedirs(inside, mode=0o755, exist_ok=True)
        current = host


def own_mounts() -> None:
    """Enter a mount namespace of our own from which nothing propagates to the host (or container)."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def build_root(root: str, needed: list[str]) -> None:
    """Turn the empty directory ``root`` into the programs' read-only root, holding the host paths ``needed``
    (:func:`needed_paths`), and pivot into it (after own_mounts)."""
    mount("promptgym-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    seen: set[str] = set()
    for path in sorted(needed, key=len):
        _replicate(root, path, seen)
    for d in ("tmp", "proc", "dev", "etc", ".old"):
        os.makedirs(os.path.join(root, d), mode=0o755, exist_ok=True)
    for name in _DEVICES:  # device nodes bound from the host: mknod would need CAP_MKNOD
        open(os.path.join(root, "dev", name), "w").close()
        mount(f"/dev/{name}", os.path.join(root, "dev", name), None, MS_BIND)
        # read-only: the device still reads and writes, but its inode's times cannot be set (utime on a
        # 0666 node would otherwise store bits in the host's /dev/null that later runs read back)
        mount(None, os.path.join(root, "dev", name), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    # POSIX semaphores and shared memory (multiprocessing's locks and queues) live in /dev/shm: the
    # run's own /tmp, so they go with it
    os.symlink("/tmp", os.path.join(root, "dev", "shm"))
    with open(os.path.join(root, "etc", "passwd"), "w") as fh:
        fh.write("root:x:0:0::/:/nonexistent\n")
    os.chdir(root)
    if libc.syscall(_PIVOT_ROOT[os.uname().machine], b".", b".old") == 0:
        os.chroot(".")
        os.chdir("/")
        _check(libc.umount2(b"/.old", MNT_DETACH), "umount old root")
        os.rmdir("/.old")
    else:
        # Docker's default seccomp profile refuses pivot_root: move the new root over / instead
        # (what initramfs' switch_root does); the host's root stays only underneath, out of reach
        os.rmdir(".old")
        mount(".", "/", None, MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def private_world_possible() -> str:
    """'' when this process may build private worlds, else why not."""
    if os.getuid() != 0:
        return "not root"
    if os.uname().machine not in _PIVOT_ROOT:
        return f"no pivot_root syscall number known for {os.uname().machine}"
    return ""


def enter_run_namespaces(tmp_mb: int, uid: int) -> None:
    """In the zygote, right before it forks a run's child: new mount, IPC and UTS namespaces with a private
    /tmp, and a new PID namespace for the child (PID 1 there). Left with :func:`leave_run_namespaces`."""
    unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    mount("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=700,uid={uid},gid={uid}")
    libc.sethostname(b"sandbox", 7)


def leave_run_namespaces(home: list[int]) -> None:
    """In the zygote, once the child is forked: back to its own namespaces (``home``: descriptors of
    /proc/self/ns/{pid,mnt,ipc,uts}); the run's go with the run's last process."""
    for fd in home:
        _check(libc.setns(fd, 0), "setns")


def mount_run_proc() -> None:
    """In the run's child, PID 1 of its own PID namespace: a /proc of its own (a proc mount shows the PID
    namespace of the process that mounts it, so the zygote cannot do this for the child)."""
    try:
        # only the processes' own entries: the host-wide files (stat's fork count, loadavg's last pid,
        # vmstat, sys, keys...) hold counters a run could move and the next read back (Linux >= 5.8)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid")
    except OSError:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        hide_proc_keys()


# -- cgroups --------------------------------------------------------------------------------------
class Cgroup:
    """The worker's own cgroup for its runs (one run at a time), or the reason there is none."""

    def __init__(self, name: str) -> None:
        self.dirs: dict[str, int] = {}  # controller -> dir fd (kept open: the zygote pivots away)
        self.paths: list[str] = []  # as the worker sees them, to remove them when the zygote is gone
        self._limits: tuple[int, int] | None = None
        self.version = ""
        self.reason = ""
        try:
            self._create(name)
        except OSError as exc:
            self.close()
            self.reason = f"unavailable: {exc.strerror or exc}"

    def _create(self, name: str) -> None:
        lines = open("/proc/self/cgroup").read().splitlines()
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            path = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
            base = os.path.normpath("/sys/fs/cgroup/" + path)
            enabled = open(os.path.join(base, "cgroup.subtree_control")).read().split()
            missing = {"memory", "pids", "cpu"} - set(enabled)
            if missing:
                raise OSError(0, f"cgroup v2 controllers {sorted(missing)} not delegated to {base}")
            _sweep_stale(base)
            os.makedirs(os.path.join(base, name), exist_ok=True)
            self.paths.append(os.path.join(base, name))
            self.dirs["v2"] = os.open(os.path.join(base, name), os.O_DIRECTORY)
            self.version = "v2"
            return
        for controller in ("memory", "pids", "cpu"):
            path = next((line.split(":", 2)[2] for line in lines if controller in line.split(":")[1].split(",")), None)
            root = f"/sys/fs/cgroup/{controller}"
            if path is None or not os.path.isdir(root):
                raise OSError(0, f"no cgroup v1 {controller} hierarchy")
            # inside a container the hierarchy is mounted at our own cgroup: the path is its root
            base = os.path.normpath(f"{root}/{path}") if os.path.isdir(f"{root}/{path}") else root
            target = os.path.join(base, name)
            try:
                os.makedirs(target, exist_ok=True)
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
                # Docker mounts it read-only; writable again in our private mount namespace only
                mount(None, root, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC)
                os.makedirs(target, exist_ok=True)
            _sweep_stale(base)
            self.paths.append(target)
            self.dirs[controller] = os.open(target, os.O_DIRECTORY)
        self.version = "v1"

    def _write(self, controller: str, filename: str, value: str) -> None:
        fd = os.open(filename, os.O_WRONLY, dir_fd=self.dirs[controller])
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def limit(self, memory_mb: int, max_procs: int) -> None:
        """Set the limits for the next run (all its processes together); a write only when they change."""
        if self._limits == (memory_mb, max_procs):
            return
        self._limits = None  # until every write went through
        if self.version == "v2":
            self._write("v2", "memory.max", str((memory_mb + _ZYGOTE_MB) * MB))
            self._write("v2", "memory.swap.max", "0")
            self._write("v2", "pids.max", str(max_procs + 1))
        elif self.version == "v1":
            self._write("memory", "memory.limit_in_bytes", str((memory_mb + _ZYGOTE_MB) * MB))
            self._write("pids", "pids.max", str(max_procs + 1))
        self._limits = (memory_mb, max_procs)

    def join(self) -> None:
        """Move the calling process into the cgroup (the zygote once, where it may; else each run's child)."""
        for controller in self.dirs:
            self._write(controller, "cgroup.procs" if self.version == "v2" else "tasks", "0")

    def describe(self) -> str:
        return f"{self.version}: memory, pids and cpu share per run" if self.version else self.reason

    def close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs = {}


CGROUP_PREFIX = "promptgym-"


def _sweep_stale(base: str) -> None:
    """Remove the cgroups of zygotes that died without cleaning up (named after their pid)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        pid = name[len(CGROUP_PREFIX):]
        if name.startswith(CGROUP_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                os.rmdir(os.path.join(base, name))
            except OSError:  # still in use, or another worker swept it first
                pass


def remove_cgroups(paths: list[str], wait_s: float = 1.0) -> None:
    """Remove a dead zygote's cgroups (a cgroup goes only once its last task has fully exited)."""
    deadline = time.monotonic() + wait_s
    for path in paths:
        while True:
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    break  # the next zygote's sweep removes it
                time.sleep(0.01)


# -- shared mode: cleaning up after a run's uid ---------------------------------------------------
def remove_tree(path: str) -> None:
    """Remove a directory tree of any depth without recursion (a 1,500-deep chain defeats shutil.rmtree)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    parent = os.path.dirname(path.rstrip("/")) or "/"
    # hoist: move each subdirectory's entries up into the top directory, so depth never grows
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    token = os.urandom(6).hex()
    try:
        counter = 0
        while True:
            entries = os.listdir(top)
            if not entries:
                break
            for name in entries:
                try:
                    mode = os.lstat(name, dir_fd=top).st_mode
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(mode):
                    os.unlink(name, dir_fd=top)
                    continue
                try:
                    os.chmod(name, 0o700, dir_fd=top, follow_symlinks=False)
                except (OSError, NotImplementedError):
                    pass
                try:
                    os.rmdir(name, dir_fd=top)
                    continue
                except OSError:
                    pass
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
                try:
                    for inner in os.listdir(sub):
                        counter += 1
                        os.rename(inner, f".pg{token}{counter}", src_dir_fd=sub, dst_dir_fd=top)
                finally:
                    os.close(sub)
    finally:
        os.close(top)
    os.rmdir(os.path.join(parent, os.path.basename(path.rstrip("/"))))


def _remove_sysv_ipc(uid: int) -> None:
    """Remove the SysV shared memory, semaphores and message queues owned by ``uid``."""
    for kind, call in (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl")):
        try:
            lines = open(f"/proc/sysvipc/{kind}").read().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        if "uid" not in header:
            continue
        for line in lines[1:]:
            fields = dict(zip(header, line.split()))
            if int(fields.get("uid", -1)) == uid:
                ident = int(fields["shmid" if kind == "shm" else ("semid" if kind == "sem" else "msqid")])
                args = (ident, 0, 0, None) if kind == "sem" else (ident, 0, None)  # IPC_RMID == 0
                getattr(libc, call)(*args)


def clean_up_uid(uid: int, workdir: str) -> None:
    """As ``uid`` (in a forked helper): kill its processes, remove its files and IPC objects. Root only."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # every process of this uid but the helper itself
            time.sleep(0.001)
            remove_tree(workdir)
            for place in SHARED_TMP:
                try:
                    names = os.listdir(place)
                except OSError:
                    continue
                for name in names:
                    path = os.path.join(place, name)
                    try:
                        if os.lstat(path).st_uid == uid:
                            remove_tree(path)
                    except OSError:
                        pass
            _remove_sysv_ipc(uid)
        except BaseException:
            pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


# -- seccomp: close the kernel's cross-run channels -------------------------------------------------
# Shared kernel state a run could write and a later (or concurrent) run read: the key store, the
# page cache of the shared read-only files (evict with fadvise/madvise, probe with mincore,
# preadv2(RWF_NOWAIT), cachestat), file locks on shared files; plus kernel surface a program never
# needs (user namespaces, ptrace, perf events).
_SYSCALLS = {
    "x86_64": {"arch": 0xC000003E, "add_key": 248, "request_key": 249, "keyctl": 250, "fadvise64": 221,
               "mincore": 27, "preadv2": 327, "pwritev2": 328, "cachestat": 451, "flock": 73, "fcntl": 72,
               "madvise": 28, "unshare": 272, "clone": 56, "clone3": 435, "ptrace": 101, "perf_event_open": 298,
               "setns": 308, "userfaultfd": 323, "socket": 41, "sendmsg": 46, "sendmmsg": 307, "bpf": 321,
               "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
               "setsid": 112, "memfd_create": 319, "getsockopt": 55, "sysinfo": 99},
    "aarch64": {"arch": 0xC00000B7, "add_key": 217, "request_key": 218, "keyctl": 219, "fadvise64": 223,
                "mincore": 232, "preadv2": 286, "pwritev2": 287, "cachestat": 451, "flock": 32, "fcntl": 25,
                "madvise": 233, "unshare": 97, "clone": 220, "clone3": 435, "ptrace": 117, "perf_event_open": 241,
                "setns": 268, "userfaultfd": 282, "socket": 198, "sendmsg": 211, "sendmmsg": 269, "bpf": 280,
                "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
                "setsid": 157, "memfd_create": 279, "getsockopt": 209, "sysinfo": 179},
}
# The runs of one worker share its (empty) network namespace, so its state must not be writable: no
# sockets but AF_UNIX (an unrouted sendto counts in /proc/net/snmp), and no descriptor passing
# (sendmsg: a unix socket sent to itself outlives its run, its abstract name readable by the next).
_DENIED = ("add_key", "request_key", "keyctl", "fadvise64", "mincore", "preadv2", "pwritev2", "cachestat", "flock",
           "unshare", "ptrace", "perf_event_open", "setns", "userfaultfd", "sendmsg", "sendmmsg", "bpf",
           "io_uring_setup", "io_uring_enter", "io_uring_register", "setsid", "memfd_create", "sysinfo")
# Host-wide counters a run could move and the next read back: a scheduler autogroup id per setsid,
# the socket cookie a SO_COOKIE query draws, memfd inode numbers, and sysinfo()'s process count and
# load averages, which /proc's subset=pid hides as files (found by blind red teams).
AF_UNIX = 1
SO_COOKIE = 57
_LOCK_CMDS = (5, 6, 7, 36, 37, 38)  # F_GETLK F_SETLK F_SETLKW F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW
_EVICT_ADVICE = (20, 21)  # MADV_COLD, MADV_PAGEOUT
CLONE_NEWUSER = 0x10000000
_RET_ALLOW, _RET_EPERM, _RET_ENOSYS, _RET_KILL = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38, 0x80000000


def _seccomp_program(table: dict[str, int]) -> list[tuple[int, int, int, int]]:
    """The BPF filter as (code, jt, jf, k): EPERM for the listed calls and sockets but AF_UNIX, ENOSYS for clone3."""
    ld_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    body: list[tuple] = []  # ("jump-to-label" entries resolved below)
    body.append((ld_abs, 0, 0, 4))                               # arch
    body.append((jeq, 1, 0, table["arch"]))
    body.append((ret, 0, 0, _RET_KILL))                          # another ABI: never ours
    body.append((ld_abs, 0, 0, 0))                               # syscall number
    body.append(("jge", 0x40000000, "kill"))                      # x32 numbers on x86-64
    for name in _DENIED:
        body.append(("jeq", table[name], "eperm"))
    body.append(("jeq", table["clone3"], "enosys"))             # glibc falls back to clone
    body.append(("jeq", table["clone"], "clone"))
    body.append(("jeq", table["fcntl"], "fcntl"))
    body.append(("jeq", table["madvise"], "madvise"))
    body.append(("jeq", table["socket"], "socket"))
    body.append(("jeq", table["getsockopt"], "getsockopt"))
    body.append((ret, 0, 0, _RET_ALLOW))
    labels: dict[str, int] = {}
    labels["getsockopt"] = len(body)
    body += [(ld_abs, 0, 0, 32), ("jeq", SO_COOKIE, "eperm"), (ret, 0, 0, _RET_ALLOW)]  # args[2]: the option
    labels["socket"] = len(body)
    body += [(ld_abs, 0, 0, 16), (jeq, 1, 0, AF_UNIX), ("goto", "eperm"), (ret, 0, 0, _RET_ALLOW)]  # args[0]: domain
    labels["clone"] = len(body)
    body += [(ld_abs, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER), ("goto", "eperm"), (ret, 0, 0, _RET_ALLOW)]
    labels["fcntl"] = len(body)
    body.append((ld_abs, 0, 0, 24))                              # args[1]: the command
    body += [("jeq", cmd, "eperm") for cmd in _LOCK_CMDS] + [(ret, 0, 0, _RET_ALLOW)]
    labels["madvise"] = len(body)
    body.append((ld_abs, 0, 0, 32))                              # args[2]: the advice
    body += [("jeq", adv, "eperm") for adv in _EVICT_ADVICE] + [(ret, 0, 0, _RET_ALLOW)]
    labels["eperm"] = len(body)
    body.append((ret, 0, 0, _RET_EPERM))
    labels["enosys"] = len(body)
    body.append((ret, 0, 0, _RET_ENOSYS))
    labels["kill"] = len(body)
    body.append((ret, 0, 0, _RET_KILL))
    out = []
    for i, ins in enumerate(body):
        if ins[0] in ("jeq", "jge"):
            _, k, label = ins
            out.append((jeq if ins[0] == "jeq" else 0x35, labels[label] - i - 1, 0, k))
        elif ins[0] == "goto":
            out.append((0x05, 0, 0, labels[ins[1]] - i - 1))
        else:
            out.append(ins)
    return out


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_filter() -> object:
    """The filter, built once (in the zygote) so that each run's child only installs it; None where unsupported."""
    table = _SYSCALLS.get(os.uname().machine)
    if table is None:
        return None
    program = _seccomp_program(table)
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    fprog._keep = filters  # the array must live as long as the struct points at it
    return fprog


def install_seccomp(fprog: object) -> None:
    """Install ``fprog`` on the calling process (inherited by its children)."""
    if fprog is None:
        return
    _check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    _check(libc.prctl(22, 2, ctypes.byref(fprog), 0, 0), "PR_SET_SECCOMP")  # SECCOMP_MODE_FILTER


def hide_proc_keys() -> None:
    """Cover /proc/keys and /proc/key-users (the key store's names) in the run's own /proc."""
    for path in ("/proc/keys", "/proc/key-users"):
        try:
            mount("/dev/null", path, None, MS_BIND)  # the root's /dev/null: read-only, as its bind mount is
        except OSError:
            pass


def warm_page_cache(top: str = "/") -> None:
    """Ask the kernel to cache every file of the programs' root, so that whether a file is cached
    tells a run nothing another run did (runs cannot evict: fadvise and madvise are filtered)."""
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in ("proc", "dev", "tmp", "site-packages")]
        for name in filenames:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)
