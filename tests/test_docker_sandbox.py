"""The docker backend: offline image, hardened containers, unique names, replacement, clean shutdown."""

from __future__ import annotations

import pytest

from evaluators import Sandbox

pytestmark = pytest.mark.docker
F = "def f(x):\n    return x + 1\n"


def _ours(client) -> list:  # noqa: ANN001
    return client.containers.list(all=True, filters={"label": "promptgym.sandbox"})


@pytest.fixture(scope="module")
def client(docker_available):  # noqa: ANN001, ANN201
    """A docker SDK client (skips only when no engine runs)."""
    ok, reason = docker_available
    if not ok:
        pytest.skip(reason)
    from evaluators._docker import docker_client

    return docker_client()


def test_two_sandboxes_never_share_containers(client) -> None:  # noqa: ANN001
    before = {c.name for c in _ours(client)}
    with Sandbox(backend="docker", workers=2) as a, Sandbox(backend="docker", workers=2) as b:
        names_a = {w.name for w in a._all}
        names_b = {w.name for w in b._all}
        assert len(names_a) == 2 and len(names_b) == 2 and not names_a & names_b
        assert names_a | names_b <= {c.name for c in _ours(client)}
        ra, rb = a.run(F, ["assert f(1) == 2"]), b.run(F, ["assert f(1) == 3"])
        assert ra.passed and rb.status == "failed"
    assert {c.name for c in _ours(client)} == before  # closing removes them


def test_container_hardening(client) -> None:  # noqa: ANN001
    with Sandbox(backend="docker", workers=1) as sb:
        attrs = client.api.inspect_container(sb._all[0].name)
        host = attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["Memory"] > 0 and host["PidsLimit"] > 0 and host["NanoCpus"] > 0 and host["CapDrop"] == ["ALL"]
        # root of the container with only what builds a private world per run; programs get none of it
        assert set(host["CapAdd"]) <= {"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT", "CAP_KILL",
                                       "CAP_CHOWN", "CAP_DAC_OVERRIDE", "SYS_ADMIN", "SETUID", "SETGID",
                                       "SYS_CHROOT", "KILL", "CHOWN", "DAC_OVERRIDE"}
        assert "no-new-privileges" in host["SecurityOpt"]
        prog = ("import os\nUID = os.getuid()\n"
                "try:\n    open('/usr/evil', 'w')\n    RO = False\nexcept OSError:\n    RO = True\n")
        r = sb.run(prog + "CAPS = open('/proc/self/status').read().split('CapEff:')[1].split()[0]\n",
                   ["assert UID != 0", "assert RO", "assert int(CAPS, 16) == 0"])
        assert r.passed, r
        assert r.extra["world"] == "private"


def test_a_dead_container_is_replaced(client) -> None:  # noqa: ANN001
    with Sandbox(backend="docker", workers=1) as sb:
        old = sb._all[0].name
        client.containers.get(old).kill()
        results = sb.run_many([dict(program=F, tests=["assert f(1) == 2"])] * 3)
        assert [r.passed for r in results] == [True, True, True]
        assert sb._all[0].name != old


def test_missing_image_is_a_clear_error(client) -> None:  # noqa: ANN001
    from evaluators import SandboxError

    with pytest.raises(SandboxError, match="not present and cannot be pulled"):
        Sandbox(backend="docker", workers=1, image="promptgym-no-such-image:0")


def test_each_container_is_pinned_to_one_cpu_round_robin(client) -> None:  # noqa: ANN001
    import os

    cpus = sorted(os.sched_getaffinity(0))
    with Sandbox(backend="docker", workers=2) as sb:
        pinned = []
        for w in sb._all:
            w.container.reload()
            pinned.append(w.container.attrs["HostConfig"]["CpusetCpus"])
        assert sb.run(F, ["assert f(1) == 2"]).passed
    assert pinned == [str(cpus[i % len(cpus)]) for i in range(2)]
