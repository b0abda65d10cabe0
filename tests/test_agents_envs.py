"""Every algorithm and baseline on the real registered envs, with the scripted coder (the test double)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import agents
import promptgym  # noqa: F401  (registers the envs)
from agents._common import ALGOS, MASKED_ALGOS
from agents.evaluate import load_agent
from agents.shapes import shaped_coder
from promptgym.tasks import load_tasks

TRAIN_IDS = [t.task_id for t in load_tasks("mbpp", split="train")[:3]]
TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}
DQN_TINY = {"learning_starts": 32, "batch_size": 16, "buffer_size": 500, "target_update_interval": 50}


def _kwargs(env_id: str = "Executive-MBPP-v0") -> dict:
    kwargs = {"coder": "scripted", "task_ids": TRAIN_IDS, "embedder": "hash"}  # hash: no MiniLM load
    if env_id.startswith("PromptOpt"):
        kwargs["operators"] = ["add_signature", "add_example", "add_format"]  # structural: no WordNet load
    return kwargs


@pytest.mark.slow
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_each_algo_on_executive(algo: str, tmp_path: Path) -> None:
    """Each algorithm trains briefly on Executive-MBPP-v0, saves, loads and acts within the mask."""
    run_dir = agents.train(algo, "Executive-MBPP-v0", 160, hyperparams=TINY if "ppo" in algo else DQN_TINY,
                           env_kwargs=_kwargs(), eval_env_kwargs=_kwargs(), run_dir=tmp_path / algo, eval_freq=80,
                           n_eval_episodes=1, progress_bar=False, checkpoint_freq=0)
    assert (run_dir / "best_model.zip").exists() and (run_dir / "evaluations.csv").exists()
    model, _, _ = load_agent(run_dir, None)
    env = gym.make("Executive-MBPP-v0", **_kwargs())
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        mask = env.unwrapped.action_masks()
        if algo in MASKED_ALGOS:
            action, _ = model.predict(obs, deterministic=False, action_masks=mask)
            assert mask[int(action)]
        else:
            action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["PromptOpt-MBPP-v0", "Hierarchical-MBPP-v0"])
@pytest.mark.parametrize("algo", ["maskable_ppo", "double_dqn"])
def test_masked_algos_on_other_envs(env_id: str, algo: str, tmp_path: Path) -> None:
    """The masked algorithms run on the other two families too."""
    hyperparams = {**TINY, "n_steps": 32, "batch_size": 32} if "ppo" in algo else DQN_TINY
    run_dir = agents.train(algo, env_id, 64, hyperparams=hyperparams, env_kwargs=_kwargs(env_id),
                           eval_freq=0, run_dir=tmp_path / algo, progress_bar=False, checkpoint_freq=0)
    assert (run_dir / "model.zip").exists()


@pytest.mark.parametrize("env_id", ["Executive-MBPP-v0", "PromptOpt-MBPP-v0", "Hierarchical-MBPP-v0"])
def test_baselines_on_real_envs(env_id: str) -> None:
    """Random and heuristic baselines finish episodes on every family; the Executive heuristic solves shaped tasks."""
    kwargs = _kwargs(env_id)
    if env_id.startswith("Executive"):
        kwargs["coder"] = shaped_coder(load_tasks("mbpp", split="train", task_ids=TRAIN_IDS))
    for name in ("baseline:random", "baseline:heuristic"):
        rep = agents.evaluate(name, env_id, episodes=3, env_kwargs=kwargs, quiet=True)
        assert rep.metrics["episode_length"].mean >= 1
        if env_id.startswith("Executive") and name.endswith("heuristic"):
            assert rep.metrics["success_rate"].mean == 1.0
