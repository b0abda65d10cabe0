"""What train, evaluate and demo share: the algorithm table, hyperparameter files, env building."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"

# algo name -> "module:Class"; imported on use so `promptgym train --help` stays instant.
ALGOS: dict[str, str] = {
    "ppo": "stable_baselines3:PPO",
    "maskable_ppo": "sb3_contrib:MaskablePPO",
    "dqn": "stable_baselines3:DQN",
    "masked_dqn": "agents.dqn_masked:MaskedDQN",
    "double_dqn": "agents.dqn_masked:DoubleDQN",
    "dueling_dqn": "agents.dqn_masked:DuelingDQN",
}
# Algorithms whose predict() takes action_masks (PPO and SB3's DQN cannot; the env penalises misses).
MASKED_ALGOS = frozenset({"maskable_ppo", "masked_dqn", "double_dqn", "dueling_dqn"})
# Keys of a hyperparameter entry that are ours, not the algorithm's.
NON_ALGO_KEYS = ("policy", "normalize", "n_timesteps")


def check_algo(algo: str) -> str:
    """``algo`` if known, else a ValueError with a suggestion."""
    if algo not in ALGOS:
        from promptgym.error import did_you_mean

        raise ValueError(f"Unknown algorithm {algo!r}.{did_you_mean(algo, ALGOS)} Known: {', '.join(ALGOS)}")
    return algo


def algo_class(algo: str) -> type:
    """The SB3 algorithm class for ``algo``."""
    module, name = ALGOS[check_algo(algo)].split(":")
    return getattr(importlib.import_module(module), name)


def load_hyperparams(algo: str, env_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The env's entry (or ``default``) of ``hyperparams/<algo>.yml`` with ``overrides`` on top."""
    path = HYPERPARAMS_DIR / f"{check_algo(algo)}.yml"
    table = yaml.safe_load(path.read_text()) or {}
    entry = dict(table.get(env_id, table.get("default", {})))
    entry.update(overrides or {})
    return entry


def parse_key_values(items: Sequence[str] | None) -> dict[str, Any]:
    """``["a=1", "b=[1, 2]"]`` -> ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"Expected key=value, got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):
            try:  # YAML 1.1 reads "1e-3" as a string; the user meant a number
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def held_out_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Eval-env kwargs on tasks training never sees: MBPP's validation split (unless task_ids pin tasks)."""
    kwargs = dict(env_kwargs)
    if "MBPP" in env_id and "task_ids" not in kwargs and "tasks" not in kwargs:
        kwargs["split"] = "validation" if kwargs.get("split", "train") == "train" else kwargs.get("split")
    return kwargs


def make_vec_env(
    env_id: str, n_envs: int, seed: int, env_kwargs: dict[str, Any], vec: str = "dummy"
) -> Any:
    """A Monitor-wrapped VecEnv of ``env_id`` (``vec``: "dummy" in-process, "subproc" one process per env)."""
    import promptgym  # noqa: F401  (registers the envs)
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if vec not in ("dummy", "subproc"):
        raise ValueError(f"vec must be 'dummy' or 'subproc', got {vec!r}")
    cls = SubprocVecEnv if vec == "subproc" and n_envs > 1 else DummyVecEnv
    # SB3 defaults render_mode to "rgb_array", which our envs (ansi only) rightly refuse
    env_kwargs = {"render_mode": None, **env_kwargs}
    return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs, vec_env_cls=cls)


def default_vec(env_kwargs: dict[str, Any]) -> str:
    """Subprocesses pay only when steps are slow (the LLM coder); the scripted coder runs in-process."""
    return "dummy" if env_kwargs.get("coder", "llama_cpp") == "scripted" else "subproc"
