"""One benchmark episode, as run in a worker process: play it, judge it, describe it as plain data.

A worker keeps one env per (env id, kwargs) alive between episodes (a sandbox costs time to
start) and builds a fresh policy per episode, seeded with the episode seed, so an episode's
result never depends on which worker ran it or on which episodes ran before: that is what lets
an interrupted run resume episode by episode.
"""

from __future__ import annotations

import ast
import atexit
import inspect
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.agents import AgentSpec, make_policy

__all__ = ["FAILURE_CLASSES", "EpisodeJob", "classify_failure", "close_worker_state", "run_episode"]

FAILURE_CLASSES = ("syntax", "assertion", "exception", "timeout", "extraction")
"""Why a failed episode's final program failed (``None`` for a success)."""

_ENVS: dict[str, Any] = {}
_SANDBOXES: dict[str, Any] = {}


@dataclass(frozen=True)
class EpisodeJob:
    """Everything a worker needs to run one episode (picklable plain data)."""

    key: str
    agent: AgentSpec
    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    episode: int
    episode_seed: int
    task_id: str | None
    trajectory: str | None = None  # where to save the step arrays (.npz), None: do not record
    extra: dict[str, Any] = field(default_factory=dict)


def _env(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    import gymnasium as gym

    import promptgym  # noqa: F401  (registers the envs)

    key = json.dumps([env_id, env_kwargs], sort_keys=True, default=repr)
    if key not in _ENVS:
        with warnings.catch_warnings():  # "v0 is out of date": the parent process has said so once
            warnings.simplefilter("ignore", DeprecationWarning)
            _ENVS[key] = gym.make(env_id, **env_kwargs)
    return _ENVS[key]


def _sandbox(backend: str) -> Any:
    if backend not in _SANDBOXES:
        from evaluators import Sandbox

        _SANDBOXES[backend] = Sandbox(backend=backend, workers=1)
    return _SANDBOXES[backend]


def close_worker_state() -> None:
    """Close the envs and sandboxes this process keeps (idempotent; also run at exit)."""
    for env in _ENVS.values():
        try:
            env.close()
        except Exception:  # a broken third-party env must not hide the results
            pass
    _ENVS.clear()
    for sb in _SANDBOXES.values():
        sb.close()
    _SANDBOXES.clear()


atexit.register(close_worker_state)


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def classify_failure(code: str, task: Any, sandbox_backend: str = "process", timeout: float = 5.0,
                     tests: str | None = None) -> tuple[str, str]:
    """(class, detail) of a failed final program: one of :data:`FAILURE_CLASSES` and a short reason.

    Static checks first (no code or no entry point: ``extraction``; unparsable: ``syntax``), then one
    run on the task's judging tests (``tests``: the env's judging set, e.g. ``"hidden"``) in a
    sandbox: ``timeout`` (also memory and kill limits), ``assertion`` (every failing test failed an
    assert) or ``exception``.
    """
    if not code.strip():
        return "extraction", "no code was produced"
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return "syntax", f"SyntaxError: {exc.msg} (line {exc.lineno})"
    if task is None:
        return "exception", "task unknown: not run"
    entry = getattr(task, "entry_point", "")
    if getattr(task, "kind", "function") == "function" and entry and entry not in _defined_names(tree):
        return "extraction", f"entry point {entry!r} is not defined"
    limits: dict[str, Any] = {"timeout": timeout}
    if tests is not None and "tests" in inspect.signature(task.job).parameters:
        limits["tests"] = tests
    result = _sandbox(sandbox_backend).run(**task.job(code, **limits))
    text = " ".join([result.error, *(t.error for t in result.tests if not t.passed)])
    if result.status in ("timeout", "memory", "killed"):
        return "timeout", f"{result.status}: {result.error[:120]}"
    if "SyntaxError" in text or "IndentationError" in text:
        return "syntax", result.error[:160]
    if result.status == "failed":
        errors = [t.error for t in result.tests if not t.passed]
        if all(not e or "AssertionError" in e for e in errors):
            return "assertion", f"{len(errors)} of {len(result.tests)} tests failed"
        return "exception", next(e for e in errors if e and "AssertionError" not in e)[:160]
    if result.status == "passed":
        # the env judged it on tests this run does not see (v1: hidden tests)
        return "assertion", "passes the task's tests here, failed the env's judge (hidden tests)"
    return "exception", (result.error or result.status)[:160]


def _ast_key(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))
    except SyntaxError:
        return "text:" + code


def _final_code(info: dict[str, Any]) -> str:
    for key in ("final_code", "code"):
        if isinstance(info.get(key), str):
            return info[key]
    return ""


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


def _save_trajectory(path: str, observations: list[Any], actions: list[int], rewards: list[float],
                     terminations: list[bool], truncations: list[bool], infos: list[dict[str, Any]]) -> None:
    arrays: dict[str, np.ndarray] = {}
    if isinstance(observations[0], dict):
        for k in observations[0]:
            arrays[f"obs.{k}"] = np.stack([np.asarray(o[k]) for o in observations])
    else:
        arrays["obs"] = np.stack([np.asarray(o) for o in observations])
    arrays["actions"] = np.asarray(actions, dtype=np.int64)
    arrays["rewards"] = np.asarray(rewards, dtype=np.float64)
    arrays["terminations"] = np.asarray(terminations, dtype=bool)
    arrays["truncations"] = np.asarray(truncations, dtype=bool)
    # infos: the mask, the task id and every scalar key that every info of the episode has
    common = set.intersection(*(set(i) for i in infos))
    for k in sorted(common):
        vals = [i[k] for i in infos]
        if k == "action_mask":
            arrays["info.action_mask"] = np.stack([np.asarray(v, dtype=np.int8) for v in vals])
        elif k == "task_id" or all(_scalar(v) for v in vals):
            arrays[f"info.{k}"] = np.asarray([_jsonable(v) for v in vals])
    tmp = Path(path).with_suffix(".tmp.npz")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)  # a killed run never leaves a half-written trajectory under the final name


def run_episode(job: EpisodeJob) -> dict[str, Any]:
    """Play one episode of ``job.agent`` on ``job.env_id`` and return its record (plain data for JSON)."""
    start = time.perf_counter()
    env = _env(job.env_id, job.env_kwargs)
    policy = make_policy(job.agent, env, job.env_id, job.episode_seed)
    options = {"task_id": job.task_id} if job.task_id is not None else None
    obs, info = env.reset(seed=job.episode_seed, options=options)
    record_steps = job.trajectory is not None
    observations, infos = [obs], [info]
    actions: list[int] = []
    rewards: list[float] = []
    terms: list[bool] = []
    truncs: list[bool] = []
    programs: list[str] = []  # distinct programs in the order they appeared
    total, invalid = 0.0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        action = policy.predict(obs, info)
        if isinstance(action, tuple):  # SB3-style (action, state)
            action = action[0]
        obs, reward, terminated, truncated, info = env.step(action)
        code = info.get("code")
        if isinstance(code, str) and code.strip() and code not in programs:
            programs.append(code)
        total += float(reward)
        invalid += bool(info.get("invalid_action"))
        actions.append(int(np.asarray(action).reshape(-1)[0]))
        rewards.append(float(reward))
        terms.append(bool(terminated))
        truncs.append(bool(truncated))
        if record_steps:
            observations.append(obs)
            infos.append(info)
    first_code = infos[0].get("code") if isinstance(infos[0].get("code"), str) else None
    if first_code and first_code.strip() and first_code not in programs:
        programs.insert(0, first_code)  # PromptOpt writes a program at reset
    if "final_passed" in info:
        success, source = bool(info["final_passed"]), "final_passed"
    else:  # envs that do not judge a final program (PromptOpt-v0): the last program's pass fraction
        success, source = float(info.get("pass_fraction", 0.0)) >= 1.0, "pass_fraction"
    final_code = _final_code(info)
    unwrapped = env.unwrapped
    tasks = {t.task_id: t for t in getattr(unwrapped, "tasks", [])}
    task = tasks.get(info.get("task_id", job.task_id))
    failure, detail = None, ""
    if not success:
        backend = job.env_kwargs.get("sandbox", "process")
        judge = getattr(getattr(unwrapped, "split", None), "judge", None)  # the env's judging test set
        failure, detail = classify_failure(final_code, task, backend if isinstance(backend, str) else "process",
                                           float(getattr(unwrapped, "timeout", 5.0)),
                                           judge if isinstance(judge, str) else None)
    edits = programs.index(final_code) if success and final_code in programs else None
    pass_at_1 = info.get("pass_at_1")
    if pass_at_1 is None and source == "pass_fraction":
        pass_at_1 = bool(success and edits == 0)
    trajectory = None
    if record_steps:
        _save_trajectory(job.trajectory, observations, actions, rewards, terms, truncs, infos)  # type: ignore[arg-type]
        trajectory = Path(job.trajectory).name  # type: ignore[arg-type]
    rec = {
        "key": job.key, "agent": job.agent.label, "agent_spec": job.agent.spec, "env_id": job.env_id,
        "seed": job.seed, "episode": job.episode, "episode_seed": job.episode_seed,
        "task_id": info.get("task_id", job.task_id), "return": total, "length": len(actions),
        "success": success, "success_source": source,
        "pass_at_1": None if pass_at_1 is None else bool(pass_at_1),
        "visible_passed": _jsonable(info.get("visible_passed")),
        "final_pass_fraction": _jsonable(info.get("final_pass_fraction", info.get("pass_fraction"))),
        "llm_calls": _jsonable(info.get("llm_calls")), "tokens": _jsonable(info.get("tokens")),
        "executions": _jsonable(info.get("executions")), "invalid_actions": invalid,
        "terminated": bool(terminated), "truncated": bool(truncated),
        "failure_class": failure, "failure_detail": detail,
        "programs": len(programs), "ast_distinct": len({_ast_key(p) for p in programs}),
        "edits_to_pass": edits, "actions": actions, "final_code": final_code,
        "reference": getattr(task, "reference", "") if task is not None else "",
        "trajectory": trajectory, "wall_s": round(time.perf_counter() - start, 3),
    }
    rec["ast_duplicates"] = rec["programs"] - rec["ast_distinct"]
    return rec

