"""Training and evaluation: every algorithm trains, saves, loads and predicts within the mask; CLI smoke test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agents
from agents._common import ALGOS, MASKED_ALGOS, load_hyperparams, parse_key_values
from agents.evaluate import bootstrap_ci, load_agent
from promptgym.error import UsageError

sys.path.insert(0, str(Path(__file__).parent))
from _toy_envs import ToyExecutive, register_toys  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 1},
    "maskable_ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 1},
}
DQN_TINY = {"learning_starts": 32, "batch_size": 16, "buffer_size": 500, "target_update_interval": 50}


@pytest.fixture(scope="module")
def env_id() -> str:
    return register_toys()


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_train_save_load_predict(algo: str, env_id: str, tmp_path: Path) -> None:
    """A few hundred steps, then the run folder is complete and the loaded model acts within masks."""
    run_dir = agents.train(algo, env_id, 200, seed=0, hyperparams=TINY.get(algo, DQN_TINY), run_dir=tmp_path / algo,
                           eval_freq=100, progress_bar=False, eval_env_kwargs={}, n_eval_episodes=2)
    for name in ("config.yml", "model.zip", "best_model.zip", "evaluations.csv", "learning_curve.png"):
        assert (run_dir / name).exists(), name
    assert any((run_dir / "tb").iterdir())
    model, label, _ = load_agent(run_dir, None)
    assert label.startswith(algo)
    env = ToyExecutive()
    obs, _ = env.reset(seed=3)
    mask = env.action_masks()
    if algo in MASKED_ALGOS:
        for _ in range(20):
            action, _ = model.predict(obs, deterministic=False, action_masks=mask)
            assert mask[int(action)]
    else:
        action, _ = model.predict(obs, deterministic=True)
        assert 0 <= int(action) < 5


def test_resume_continues_counting(env_id: str, tmp_path: Path) -> None:
    """--resume loads model.zip and keeps the timestep count."""
    from agents.dqn_masked import DoubleDQN

    run_dir = agents.train("double_dqn", env_id, 100, hyperparams=DQN_TINY, run_dir=tmp_path / "r", eval_freq=0,
                           progress_bar=False)
    agents.train("double_dqn", env_id, 100, resume=str(run_dir), eval_freq=0, progress_bar=False)
    assert DoubleDQN.load(run_dir / "model.zip").num_timesteps == 200


def test_evaluate_baselines_and_metrics(env_id: str, tmp_path: Path) -> None:
    """The heuristic solves every toy task; random does worse; JSON keeps final and first pass@1 apart."""
    out = tmp_path / "h.json"
    heur = agents.evaluate("baseline:heuristic", env_id, episodes=12, out=out, quiet=True)
    rand = agents.evaluate("baseline:random", env_id, episodes=12, quiet=True)
    assert heur.metrics["success_rate"].mean == 1.0
    assert rand.metrics["success_rate"].mean < 1.0
    saved = json.loads(out.read_text())
    assert set(saved["metrics"]) >= {"success_rate", "pass_at_1_first", "return", "llm_calls"}
    firsts = [r["pass_at_1_first"] for r in saved["per_episode"]]
    finals = [r["success_rate"] for r in saved["per_episode"]]
    assert firsts != finals  # some tasks only pass after DEBUG/SEARCH
    m = bootstrap_ci([0.0, 1.0, 1.0, 0.0])
    assert m.low <= m.mean == 0.5 <= m.high and m.n == 4


def test_bad_inputs_are_named() -> None:
    """Unknown algorithms, malformed overrides and missing runs give clear errors."""
    with pytest.raises(ValueError, match="double_dqn"):
        load_hyperparams("doubel_dqn", "Executive-MBPP-v0")
    with pytest.raises(ValueError, match="key=value"):
        parse_key_values(["learning_rate"])
    assert parse_key_values(["learning_rate=1e-3", "net=[1, 2]"]) == {"learning_rate": 1e-3, "net": [1, 2]}
    assert load_hyperparams("dqn", "Unknown-v0", {"gamma": 0.5})["gamma"] == 0.5
    with pytest.raises(UsageError, match="run folder"):
        load_agent("/nonexistent/run", None)


@pytest.mark.slow
def test_cli_train_then_eval(tmp_path: Path) -> None:
    """`promptgym train` then `promptgym eval` as subprocesses with tiny step counts."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "HF_HUB_OFFLINE": "1"}
    run_dir = tmp_path / "run"
    env_id = "_toy_envs:ToyExecutive-v0"
    train = subprocess.run(
        [sys.executable, "-m", "promptgym.cli", "train", "--algo", "maskable_ppo", "--env", env_id,
         "--timesteps", "128", "--seed", "1", "-p", "n_steps=64", "batch_size=32", "--eval-freq", "64",
         "--n-eval-episodes", "2", "--eval-env-kwargs", "--run-dir", str(run_dir), "--no-progress-bar"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-2000:]
    for name in ("config.yml", "model.zip", "best_model.zip", "evaluations.csv", "learning_curve.png"):
        assert (run_dir / name).exists(), name
    ev = subprocess.run([sys.executable, "-m", "promptgym.cli", "eval", "--model", str(run_dir), "--episodes", "3"],
                        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr[-2000:]
    report = json.loads(next(run_dir.glob("eval_*.json")).read_text())
    assert report["episodes"] == 3 and np.isfinite(report["metrics"]["return"]["mean"])


def test_best_model_keeps_its_own_normaliser(env_id: str, tmp_path: Path) -> None:
    """With VecNormalize, best_model.zip is evaluated with the statistics saved when it was best."""
    hp = {**TINY["maskable_ppo"], "normalize": True}
    run_dir = agents.train("maskable_ppo", env_id, 256, seed=0, hyperparams=hp, run_dir=tmp_path / "n",
                           eval_freq=64, progress_bar=False, eval_env_kwargs={}, n_eval_episodes=2)
    assert (run_dir / "vecnormalize.pkl").exists() and (run_dir / "best_vecnormalize.pkl").exists()
    _, _, normaliser = load_agent(run_dir, None)
    assert normaliser is not None and normaliser.training is False
