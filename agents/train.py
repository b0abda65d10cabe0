"""Train an SB3 agent on a registered promptgym env: ``promptgym train --algo maskable_ppo --env Executive-MBPP-v1``.

A run folder holds everything needed to inspect, resume or evaluate it: ``config.yml`` (all
arguments and the resolved hyperparameters), ``model.zip``, ``best_model.zip`` (best on held-out
tasks), ``checkpoints/``, ``vecnormalize.pkl`` (when normalising), ``evaluations.csv``,
``learning_curve.png`` and TensorBoard logs under ``tb/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents._common import (
    ALGOS,
    MASKED_ALGOS,
    NON_ALGO_KEYS,
    algo_class,
    build_env,
    check_algo,
    check_env_args,
    check_hyperparams,
    default_vec,
    held_out_kwargs,
    load_hyperparams,
    make_vec_env,
    parse_key_values,
)
from promptgym.cli import warn
from promptgym.error import UsageError


@dataclass
class TrainArgs:
    """Arguments of one training run (CleanRL style: one field per knob)."""

    algo: str = "maskable_ppo"
    """Algorithm: one of agents._common.ALGOS."""
    env_id: str = "Executive-MBPP-v1"
    """Registered env id."""
    timesteps: int = 10_000
    """Environment steps to train for (added to the loaded model's count when resuming)."""
    seed: int = 0
    """Seed of the envs, the algorithm and torch."""
    n_envs: int = 1
    """Parallel envs."""
    vec: str | None = None
    """"dummy" or "subproc"; None picks subproc for slow (LLM) coders, dummy for the scripted one."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Overrides of the YAML hyperparameters."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the training env."""
    eval_env_kwargs: dict[str, Any] | None = None
    """Keyword arguments of the held-out eval env; None: env_kwargs on MBPP's validation split."""
    run_dir: str | None = None
    """Run folder; None: runs/<env>/<algo>_s<seed>_<time>."""
    eval_freq: int = 1000
    """Evaluate every this many env steps (total over envs); 0 disables evaluation."""
    n_eval_episodes: int = 5
    """Episodes per evaluation."""
    checkpoint_freq: int = 5000
    """Checkpoint every this many env steps (total over envs); 0 disables checkpoints."""
    resume: str | None = None
    """A run folder to continue (its model.zip, config and VecNormalize stats)."""
    progress_bar: bool = True
    """Show SB3's progress bar."""
    torch_threads: int | None = 1
    """Torch intra-op threads (None: torch's default). Small MLPs gain nothing from more, and on a
    shared few-core machine extra threads make each backward pass 10-100x slower."""


def _save_normalizer_on_best(path: Path) -> Any:
    """A callback for EvalCallback's new-best event: keep the normaliser statistics of the best model."""
    from stable_baselines3.common.callbacks import BaseCallback

    class SaveNormalizer(BaseCallback):
        def _on_step(self) -> bool:
            normaliser = self.model.get_vec_normalize_env()
            if normaliser is not None:
                normaliser.save(str(path))
            return True

    return SaveNormalizer()


def train(
    algo: str,
    env_id: str,
    timesteps: int,
    seed: int = 0,
    n_envs: int = 1,
    hyperparams: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    eval_env_kwargs: dict[str, Any] | None = None,
    run_dir: str | Path | None = None,
    eval_freq: int = 1000,
    progress_bar: bool = True,
    **more: Any,
) -> Path:
    """Train ``algo`` on ``env_id`` for ``timesteps`` steps and return the run folder (see module doc)."""
    args = TrainArgs(
        algo=algo, env_id=env_id, timesteps=timesteps, seed=seed, n_envs=n_envs, hyperparams=dict(hyperparams or {}),
        env_kwargs=dict(env_kwargs or {}), eval_env_kwargs=eval_env_kwargs,
        run_dir=None if run_dir is None else str(run_dir), eval_freq=eval_freq, progress_bar=progress_bar, **more,
    )
    return run(args)


def run(args: TrainArgs) -> Path:
    """Train from a :class:`TrainArgs`; returns the run folder.

    Every argument is checked, and the envs built, before anything is written; a run folder this
    call creates is removed again when training stops before any model was saved.
    """
    import matplotlib

    matplotlib.use("Agg")

    if args.resume:
        args = _merge_resume(args)
    check_algo(args.algo)
    if args.timesteps < 1 or args.n_envs < 1:
        raise UsageError(f"--timesteps and --n-envs must be >= 1, got {args.timesteps} and {args.n_envs}")
    eval_kwargs = args.eval_env_kwargs
    if eval_kwargs is None:
        eval_kwargs = held_out_kwargs(args.env_id, args.env_kwargs)
    check_env_args(args.env_id, args.env_kwargs)
    check_env_args(args.env_id, eval_kwargs, "--eval-env-kwargs")
    check_hyperparams(args.algo, args.hyperparams)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    run_dir = Path(args.run_dir or args.resume or f"runs/{args.env_id}/{args.algo}_s{args.seed}_{int(time.time())}")
    hp = load_hyperparams(args.algo, args.env_id, args.hyperparams)
    vec = args.vec or default_vec(args.env_kwargs)
    with contextlib.ExitStack() as closing:
        env = build_env(lambda: make_vec_env(args.env_id, args.n_envs, args.seed, args.env_kwargs, vec), args.env_id)
        closing.callback(env.close)
        eval_env = None
        if args.eval_freq:
            eval_env = build_env(lambda: make_vec_env(args.env_id, 1, args.seed + 10_000, eval_kwargs, "dummy"),
                                 args.env_id, "--eval-env-kwargs")
            closing.callback(eval_env.close)
        created = next((p for p in reversed([run_dir, *run_dir.parents]) if not p.exists()), None)
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            (run_dir / "config.yml").write_text(yaml.safe_dump(
                {**dataclasses.asdict(args), "vec": vec, "eval_env_kwargs": eval_kwargs, "resolved_hyperparams": hp},
                sort_keys=False))
            _learn(args, run_dir, hp, env, eval_env)
        except BaseException:
            # A folder holding only config.yml (a bad value, Ctrl-C in the first rollout) is no run: leave nothing.
            if created is not None and not any(run_dir.rglob("*.zip")):
                shutil.rmtree(created, ignore_errors=True)
            raise
    return run_dir


def _learn(args: TrainArgs, run_dir: Path, hp: dict[str, Any], env: Any, eval_env: Any) -> None:
    """Build (or load) the model, learn with checkpoints and held-out evaluation, save it into ``run_dir``."""
    from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
    from stable_baselines3.common.vec_env import VecNormalize

    normalize = hp.get("normalize", False)
    if normalize:
        norm_kwargs = normalize if isinstance(normalize, dict) else {}
        if args.resume and (Path(args.resume) / "vecnormalize.pkl").exists():
            env = VecNormalize.load(str(Path(args.resume) / "vecnormalize.pkl"), env)
        else:
            env = VecNormalize(env, **norm_kwargs)
        if eval_env is not None:
            eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **{
                k: v for k, v in norm_kwargs.items() if k not in ("norm_reward", "training")})

    cls = algo_class(args.algo)
    algo_kwargs = {k: v for k, v in hp.items() if k not in NON_ALGO_KEYS}
    if args.resume:
        model = cls.load(Path(args.resume) / "model.zip", env=env, tensorboard_log=str(run_dir / "tb"))
    else:
        model = cls(hp.get("policy", "MlpPolicy"), env, seed=args.seed, tensorboard_log=str(run_dir / "tb"),
                    verbose=0, **algo_kwargs)
    note = steps_note(model, args.timesteps)
    if note:
        warn("train", note)

    callbacks = []
    if args.checkpoint_freq:
        callbacks.append(CheckpointCallback(max(args.checkpoint_freq // args.n_envs, 1), str(run_dir / "checkpoints"),
                                            name_prefix="model", save_vecnormalize=bool(normalize)))
    if eval_env is not None:
        eval_cls: type = EvalCallback
        if args.algo in MASKED_ALGOS:
            # masks in evaluation too: sb3-contrib's callback passes action_masks to predict()
            from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback as eval_cls
        callbacks.append(eval_cls(eval_env, n_eval_episodes=args.n_eval_episodes,
                                  eval_freq=max(args.eval_freq // args.n_envs, 1), log_path=str(run_dir),
                                  best_model_save_path=str(run_dir), deterministic=True, verbose=0,
                                  callback_on_new_best=_save_normalizer_on_best(run_dir / "best_vecnormalize.pkl")))
    model.learn(args.timesteps, callback=callbacks, progress_bar=args.progress_bar, tb_log_name=args.algo,
                reset_num_timesteps=not args.resume)
    model.save(run_dir / "model.zip")
    if normalize:
        env.save(str(run_dir / "vecnormalize.pkl"))
    if not (run_dir / "best_model.zip").exists():
        model.save(run_dir / "best_model.zip")  # no evaluation ran: the final model is the best we know
        if normalize:
            env.save(str(run_dir / "best_vecnormalize.pkl"))
    _write_evaluations(run_dir)


def steps_note(model: Any, timesteps: int) -> str:
    """'' when ``model.learn(timesteps)`` takes exactly ``timesteps`` env steps, else a line saying what it takes."""
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.type_aliases import TrainFrequencyUnit

    name, envs = type(model).__name__, f" x n_envs={model.n_envs}" if model.n_envs > 1 else ""
    if isinstance(model, OnPolicyAlgorithm):
        chunk, why = model.n_steps * model.n_envs, f"{name} collects whole rollouts of n_steps={model.n_steps}{envs}"
    elif model.train_freq.unit == TrainFrequencyUnit.EPISODE:
        return (f"training at least {timesteps} steps: {name} collects whole episodes "
                f"(train_freq={model.train_freq.frequency} episodes{envs}) between updates")
    else:
        chunk = model.train_freq.frequency * model.n_envs
        why = f"{name} collects train_freq={model.train_freq.frequency} steps{envs} between updates"
    planned = -(-timesteps // chunk) * chunk
    return "" if planned == timesteps else f"training {planned} steps, not {timesteps}: {why}"


def _merge_resume(args: TrainArgs) -> TrainArgs:
    """The resumed run's settings, with this call's timesteps and explicit overrides."""
    path = Path(args.resume or "")
    if not (path / "model.zip").exists():
        raise UsageError(f"--resume {path}: no model.zip there; give the folder of a finished run")
    old = yaml.safe_load((path / "config.yml").read_text())
    fields = {f.name for f in dataclasses.fields(TrainArgs)}
    merged = {k: v for k, v in old.items() if k in fields}
    merged.update(timesteps=args.timesteps, resume=str(path), run_dir=args.run_dir or str(path),
                  progress_bar=args.progress_bar)
    merged["hyperparams"] = {**(merged.get("hyperparams") or {}), **args.hyperparams}
    return TrainArgs(**merged)


def _write_evaluations(run_dir: Path) -> None:
    """evaluations.npz (SB3) -> evaluations.csv + learning_curve.png."""
    npz = run_dir / "evaluations.npz"
    if not npz.exists():
        return
    data = np.load(npz)
    steps, results, lengths = data["timesteps"], data["results"], data["ep_lengths"]
    rows = ["timesteps,mean_reward,std_reward,mean_ep_length,success_rate"]
    successes = data["successes"] if "successes" in data.files and len(data["successes"]) else None
    for i, t in enumerate(steps):
        success = "" if successes is None else f"{np.mean(successes[i]):.4f}"
        rows.append(f"{int(t)},{results[i].mean():.4f},{results[i].std():.4f},{lengths[i].mean():.2f},{success}")
    (run_dir / "evaluations.csv").write_text("\n".join(rows) + "\n")
    plot_curve(run_dir / "learning_curve.png", {run_dir.name: (steps, results.mean(axis=1), results.std(axis=1))})


def plot_curve(path: Path, curves: dict[str, tuple[Any, Any, Any]], title: str = "held-out evaluation") -> None:
    """Mean (and std band) of eval return against timesteps, one line per name, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (x, mean, std) in curves.items():
        x, mean, std = (np.asarray(v, dtype=float) for v in (x, mean, std))
        ax.plot(x, mean, label=name)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("mean episode return")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The ``promptgym train`` argument parser."""
    p = argparse.ArgumentParser(prog="promptgym train", description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="maskable_ppo", choices=sorted(ALGOS))
    p.add_argument("--env", dest="env_id", default="Executive-MBPP-v1")
    p.add_argument("--timesteps", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=1)
    p.add_argument("--vec", choices=["dummy", "subproc"], default=None)
    p.add_argument("-p", "--hyperparams", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--eval-env-kwargs", nargs="*", default=None, metavar="KEY=VALUE")
    p.add_argument("--eval-freq", type=int, default=1000)
    p.add_argument("--n-eval-episodes", type=int, default=5)
    p.add_argument("--checkpoint-freq", type=int, default=5000)
    p.add_argument("--resume", default=None, metavar="RUN_DIR")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--no-progress-bar", action="store_true")
    p.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    return p


def main(argv: list[str] | None = None) -> int:
    """``promptgym train``: parse arguments, train, print the run folder."""
    ns = build_parser().parse_args(argv)
    args = TrainArgs(
        algo=ns.algo, env_id=ns.env_id, timesteps=ns.timesteps, seed=ns.seed, n_envs=ns.n_envs, vec=ns.vec,
        hyperparams=parse_key_values(ns.hyperparams), env_kwargs=parse_key_values(ns.env_kwargs),
        eval_env_kwargs=None if ns.eval_env_kwargs is None else parse_key_values(ns.eval_env_kwargs),
        run_dir=ns.run_dir, eval_freq=ns.eval_freq, n_eval_episodes=ns.n_eval_episodes,
        checkpoint_freq=ns.checkpoint_freq, resume=ns.resume, progress_bar=not ns.no_progress_bar,
        torch_threads=ns.torch_threads or None)
    print(f"run folder: {run(args)}")
    return 0
