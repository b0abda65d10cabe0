"""Evaluate a trained run or a baseline: ``promptgym eval --model RUN_DIR|baseline:random|baseline:heuristic``.

Reported per metric with a 95% bootstrap confidence interval: mean return, success rate
(``info["final_passed"]`` at episode end, i.e. pass@1 of the FINAL code), pass@1 of the FIRST
generation (``info["pass_at_1"]``) — kept apart, never mixed — episode length, LLM calls and
tokens. Printed as a rich table and saved as JSON.
"""

from __future__ import annotations

import argparse
import inspect
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents._common import algo_class, build_env, check_env_args, held_out_kwargs, parse_key_values
from promptgym.error import UsageError

METRICS = ("return", "success_rate", "pass_at_1_first", "episode_length", "llm_calls", "tokens")


@dataclass
class Metric:
    """A mean with its 95% bootstrap confidence interval (``n`` episodes; NaN when none reported it)."""

    mean: float
    low: float
    high: float
    n: int


@dataclass
class EvalReport:
    """Everything one evaluation measured."""

    agent: str
    env_id: str
    episodes: int
    metrics: dict[str, Metric]
    per_episode: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def bootstrap_ci(values: list[float], n_boot: int = 2000, seed: int = 0) -> Metric:
    """Mean and 95% percentile-bootstrap CI (deterministic: fixed seed)."""
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)], dtype=float)
    if arr.size == 0:
        return Metric(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)
    return Metric(float(arr.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)), int(arr.size))


def load_agent(model: str | Path | Any, env: Any, seed: int = 0) -> tuple[Any, str, Any]:
    """(agent, label, obs normaliser or None) from a run folder, a model zip, "baseline:<name>" or an object."""
    from agents.baselines import make_baseline

    if not isinstance(model, (str, Path)):
        return model, type(model).__name__, None
    text = str(model)
    if text.startswith("baseline:"):
        name = text.split(":", 1)[1]
        return make_baseline(name, env, seed=seed), text, None
    path = Path(text)
    run_dir = path if path.is_dir() else path.parent
    config_path = run_dir / "config.yml"
    if not config_path.exists():
        raise UsageError(f"{text}: not a run folder (no config.yml) nor baseline:random|baseline:heuristic")
    config = yaml.safe_load(config_path.read_text())
    zip_path = path if path.is_file() else next(
        (run_dir / n for n in ("best_model.zip", "model.zip") if (run_dir / n).exists()), None)
    if zip_path is None:
        raise UsageError(f"{run_dir}: no best_model.zip or model.zip; train it first (promptgym train)")
    agent = algo_class(config["algo"]).load(zip_path, device="cpu")
    if env is not None:
        _check_spaces(agent, env, config["env_id"], run_dir)
    normaliser = None
    # The statistics saved with the chosen model: best_model.zip pairs with best_vecnormalize.pkl.
    stats = run_dir / ("best_vecnormalize.pkl" if zip_path.name == "best_model.zip" else "vecnormalize.pkl")
    if not stats.exists():
        stats = run_dir / "vecnormalize.pkl"
    if stats.exists():
        import pickle

        with open(stats, "rb") as fh:
            normaliser = pickle.load(fh)  # our own run's file; VecNormalize.normalize_obs needs no venv
        normaliser.training = False
    return agent, f"{config['algo']}:{run_dir}", normaliser


def _check_spaces(agent: Any, env: Any, trained_on: str, run_dir: Path) -> None:
    """Refuse an env whose spaces differ from those the run was trained on (else numpy fails mid-episode)."""
    for kind in ("observation", "action"):
        trained, here = getattr(agent, f"{kind}_space"), getattr(env, f"{kind}_space")
        if trained != here:
            env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
            raise UsageError(f"{run_dir} was trained on {trained_on} ({kind} space {trained}), but {env_id} here "
                             f"has {here}: evaluate it on {trained_on} with its env kwargs "
                             "(leave out --env and --env-kwargs)")


def evaluate(
    model: str | Path | Any,
    env_id: str,
    episodes: int = 20,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    deterministic: bool = True,
    out: str | Path | None = None,
    quiet: bool = False,
) -> EvalReport:
    """Run ``episodes`` episodes of ``model`` on ``env_id`` (masks passed to agents that take them)."""
    import gymnasium as gym

    import promptgym  # noqa: F401  (registers the envs)

    if episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {episodes}")
    check_env_args(env_id, env_kwargs)
    env = build_env(lambda: gym.make(env_id, **(env_kwargs or {})), env_id)
    rows: list[dict[str, Any]] = []
    try:
        agent, label, normaliser = load_agent(model, env, seed)
        # MaskablePPO, the masked DQN family and the baselines take masks; PPO and SB3's DQN cannot
        takes_masks = "action_masks" in inspect.signature(agent.predict).parameters
        for ep in range(episodes):
            obs, info = env.reset(seed=seed + ep)
            if hasattr(agent, "reset"):
                agent.reset()
            if hasattr(agent, "observe"):
                agent.observe(info)
            total, length, done, actions = 0.0, 0, False, []
            while not done:
                masks = np.asarray(env.unwrapped.action_masks(), dtype=bool)
                x = normaliser.normalize_obs(obs) if normaliser is not None else obs
                if takes_masks:
                    action, _ = agent.predict(x, deterministic=deterministic, action_masks=masks)
                else:
                    action, _ = agent.predict(x, deterministic=deterministic)
                actions.append(int(action))
                obs, reward, terminated, truncated, info = env.step(int(action))
                if hasattr(agent, "observe"):
                    agent.observe(info)
                total += float(reward)
                length += 1
                done = terminated or truncated
            rows.append({
                "episode": ep, "task_id": info.get("task_id"), "return": total, "episode_length": length,
                "success_rate": _num(info.get("final_passed")), "pass_at_1_first": _num(info.get("pass_at_1")),
                "llm_calls": _num(info.get("llm_calls")), "tokens": _num(info.get("tokens")),
                "actions": actions,
            })
    finally:
        env.close()
    metrics = {m: bootstrap_ci([r[m] for r in rows]) for m in METRICS}
    report = EvalReport(label, env_id, episodes, metrics, rows)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    if not quiet:
        print_reports([report])
    return report


def _num(value: Any) -> float | None:
    """Numbers (and bools) as float; missing as None."""
    return None if value is None else float(value)


def print_reports(reports: list[EvalReport]) -> None:
    """One rich table: a row per agent, ``mean [low, high]`` per metric."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{reports[0].env_id}: {reports[0].episodes} episodes, mean [95% CI]")
    table.add_column("agent")
    for m in METRICS:
        table.add_column(m)
    for rep in reports:
        cells = []
        for m in METRICS:
            v = rep.metrics[m]
            cells.append("n/a" if v.n == 0 else f"{v.mean:.3g} [{v.low:.3g}, {v.high:.3g}]")
        table.add_row(rep.agent, *cells)
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> int:
    """``promptgym eval``: evaluate one agent, print the table, save JSON."""
    p = argparse.ArgumentParser(prog="promptgym eval", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="RUN_DIR, a model .zip, baseline:random or baseline:heuristic")
    p.add_argument("--env", dest="env_id", default=None, help="env id (default: the run's env)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-kwargs", nargs="*", default=None, metavar="KEY=VALUE",
                   help="default for a run folder: its held-out eval env kwargs")
    p.add_argument("--out", default=None, help="JSON path (default: RUN_DIR/eval_<env>.json or eval_<agent>.json)")
    ns = p.parse_args(argv)
    env_id, env_kwargs, out = ns.env_id, None, ns.out
    run_dir = Path(ns.model) if not ns.model.startswith("baseline:") else None
    if run_dir is not None and (run_dir / "config.yml").exists():
        config = yaml.safe_load((run_dir / "config.yml").read_text())
        env_id = env_id or config["env_id"]
        env_kwargs = config.get("eval_env_kwargs") or held_out_kwargs(env_id, config.get("env_kwargs") or {})
        out = out or run_dir / f"eval_{env_id}.json"
    if env_id is None:
        raise UsageError("--env is required for a baseline, e.g. --env Executive-MBPP-v1")
    if ns.env_kwargs is not None:
        env_kwargs = parse_key_values(ns.env_kwargs)
    out = out or f"eval_{ns.model.replace(':', '_')}_{env_id}.json"
    evaluate(ns.model, env_id, ns.episodes, env_kwargs, seed=ns.seed, out=out)
    print(f"saved: {out}")
    return 0
