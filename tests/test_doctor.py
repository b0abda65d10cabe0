"""`promptgym doctor` and the set-up's self-check: each part probed in a subprocess, failures explained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from promptgym import doctor


def test_a_crashing_part_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    # a probe that dies by SIGSEGV, as a llama.cpp build with instructions this CPU lacks does
    monkeypatch.setitem(doctor._PROBES, "model", "import ctypes\nctypes.string_at(0)\n")
    check = doctor.probe("model")
    assert not check.ok
    assert "SIGSEGV" in check.message and "portable" in check.message and check.message.startswith("model:")


def test_a_failing_part_names_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(doctor._PROBES, "embeddings", "raise RuntimeError('no weights here')\n")
    check = doctor.probe("embeddings")
    assert not check.ok and "no weights here" in check.message and "Fix:" in check.message


def test_sandbox_probe_passes_and_reports_isolation() -> None:
    check = doctor.probe("sandbox")
    assert check.ok, check.message
    assert check.detail["status"] == "passed" and "world" in check.detail


def test_unknown_part_suggests_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main(["--parts", "sandbx"]) == 2
    assert "Did you mean 'sandbox'" in capsys.readouterr().err


def test_cpu_features_and_build_record_are_read() -> None:
    flags = doctor.cpu_features()
    assert isinstance(flags, list)
    if Path("/proc/cpuinfo").exists() and "x86" in subprocess.run(["uname", "-m"], capture_output=True,
                                                                   text=True).stdout:
        assert "avx2" in flags or "avx" in flags or flags == []


def test_setup_built_llama_cpp_portable() -> None:
    """The set-up's wheelhouse record: no native tuning, AVX-512/AMX off on x86-64."""
    record = doctor.llama_build()
    if not record:
        pytest.skip("llama-cpp-python was not installed by this checkout's set-up (.ci/llama-wheel)")
    flags = record["cmake_args"]
    assert record["build"] != "portable" or ("-DGGML_NATIVE=OFF" in flags and "-DGGML_NATIVE=ON" not in flags)
    if record["build"] == "portable" and "x86_64" in record["wheelhouse"]:
        assert "-DGGML_AVX512=OFF" in flags and "-DGGML_AMX_INT8=OFF" in flags


@pytest.mark.llm
@pytest.mark.slow
def test_doctor_command_runs_every_part_here() -> None:
    proc = subprocess.run([sys.executable, "-m", "promptgym.cli", "doctor", "--parts", "model,embeddings,sandbox"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("[ok]") == 3 and "CPU features" in proc.stdout


def test_probe_output_is_json_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(doctor._PROBES, "docker", "import json\nprint(json.dumps({'status': 'passed', 'world': 'x'}))\n")
    check = doctor.probe("docker")
    assert check.ok and check.detail == json.loads('{"status": "passed", "world": "x"}')


def _wheel_plan(**env: str) -> tuple[int, str]:
    script = Path(__file__).resolve().parents[1] / ".ci" / "llama-wheel"
    proc = subprocess.run(["bash", str(script), sys.executable, "--dry-run"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_wheelhouse_is_named_after_version_and_flags() -> None:
    """A wheel built with other flags (a native one, say) lands elsewhere and can never be reused for portable."""
    rc, portable = _wheel_plan()
    assert rc == 0 and "-DGGML_NATIVE=OFF" in portable and "NATIVE=ON" not in portable
    rc, native = _wheel_plan(PROMPTGYM_LLAMA_BUILD="native")
    assert rc == 0 and "-DGGML_NATIVE=ON" in native
    rc, extra = _wheel_plan(CMAKE_ARGS="-DGGML_BLAS=ON")
    houses = {text.split("wheelhouse: ")[1].split()[0] for text in (portable, native, extra)}
    assert len(houses) == 3 and all("0.3.36" in h for h in houses)
    rc, bad = _wheel_plan(PROMPTGYM_LLAMA_BUILD="fast")
    assert rc == 2 and "portable, native or cuda" in bad
