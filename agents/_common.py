"""What train, evaluate and demo share: the algorithm table, hyperparameter files, env building."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from promptgym.error import Error, UsageError, check_keywords, did_you_mean

T = TypeVar("T")

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
# Constructor arguments `promptgym train` sets itself (from --env, --seed, --run-dir), never through -p.
SET_BY_TRAIN = ("env", "seed", "tensorboard_log", "verbose")
# Keywords gym.make takes besides the env's own.
GYM_MAKE_KEYS = ("max_episode_steps", "disable_env_checker")


def check_algo(algo: str) -> str:
    """``algo`` if known, else a UsageError with a suggestion."""
    if algo not in ALGOS:
        raise UsageError(f"Unknown algorithm {algo!r}.{did_you_mean(algo, ALGOS)} Known: {', '.join(ALGOS)}")
    return algo


def algo_class(algo: str) -> type:
    """The SB3 algorithm class for ``algo``."""
    module, name = ALGOS[check_algo(algo)].split(":")
    return getattr(importlib.import_module(module), name)


def _keywords(target: Any) -> list[str] | None:
    """Keyword arguments ``target(...)`` takes, following a class's ``**kwargs`` up its MRO; None when left open."""
    if inspect.isclass(target):
        inits = [vars(k)["__init__"] for k in target.__mro__ if k is not object and "__init__" in vars(k)]
    else:
        inits = [target]
    names: list[str] = []
    for init in inits:
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def check_hyperparams(algo: str, overrides: dict[str, Any]) -> None:
    """Refuse ``-p`` keys that ``algo``'s constructor does not take (UnknownName, with the nearest name)."""
    for key in overrides:
        if key in SET_BY_TRAIN:
            raise UsageError(f"-p {key}=...: promptgym train sets {key!r} itself; use --env, --seed or --run-dir")
    known = _keywords(algo_class(algo))
    if known is not None:
        accepted = [k for k in dict.fromkeys([*known, *NON_ALGO_KEYS]) if k not in SET_BY_TRAIN and k[0] != "_"]
        check_keywords(f"{ALGOS[algo].split(':')[1]} hyperparameter (-p)", overrides, accepted)


def check_env_args(env_id: str, env_kwargs: dict[str, Any] | None = None, flag: str = "--env-kwargs") -> None:
    """Refuse an unregistered ``--env`` or keys of ``env_kwargs`` (given as ``flag``) the env does not take."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    import promptgym  # noqa: F401  (registers the envs)

    module, _, name = env_id.rpartition(":")
    if module:  # "module:Env-v0": importing the module registers the env, as gym.make does
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise UsageError(f"--env {env_id!r}: cannot import {module!r} ({exc}); check the module name") from exc
    if name not in gym.registry:
        from promptgym.registration import ENV_IDS

        raise UsageError(f"--env {env_id!r} is not a registered env.{did_you_mean(name, gym.registry)} "
                         f"promptgym's: {', '.join(ENV_IDS)}")
    entry = gym.spec(name).entry_point
    known = _keywords(load_env_creator(entry) if isinstance(entry, str) else entry)
    if known is not None and env_kwargs:
        check_keywords(f"{name} keyword ({flag})", env_kwargs, [*known, *GYM_MAKE_KEYS])


def build_env(make: Callable[[], T], env_id: str, flag: str = "--env-kwargs") -> T:
    """``make()``; a ValueError the env raises for a bad keyword value becomes a UsageError naming ``flag``."""
    try:
        return make()
    except ValueError as exc:
        if isinstance(exc, Error):  # promptgym's own errors already read as one line
            raise
        raise UsageError(f"{env_id} refused {flag}: {exc}") from exc


def load_hyperparams(algo: str, env_id: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The env's entry (its id, its id without the version, else ``default``) of ``hyperparams/<algo>.yml``,
    with ``overrides`` on top."""
    path = HYPERPARAMS_DIR / f"{check_algo(algo)}.yml"
    table = yaml.safe_load(path.read_text()) or {}
    # an entry named without the version ("Executive-MBPP") serves every version of the env
    family = env_id.split(":")[-1].rsplit("-v", 1)[0]
    entry = dict(table.get(env_id, table.get(family, table.get("default", {}))))
    entry.update(overrides or {})
    return entry


def parse_key_values(items: Sequence[str] | None) -> dict[str, Any]:
    """``["a=1", "b=[1, 2]"]`` -> ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"Expected key=value, got {item!r}")
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
