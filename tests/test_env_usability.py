"""What a user meets first: SB3's default rgb_array render, the README's snippets, argument typos,
non-integer actions and the embedded model's loading messages. Envs run the scripted coder."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import promptgym  # noqa: F401  (registers the envs)
from promptgym.error import InvalidAction
from promptgym.announce import loading, slow_notice

IDS = sorted(i for i, spec in gym.registry.items()
             if isinstance(spec.entry_point, str) and spec.entry_point.startswith("promptgym."))
FAST = {"coder": "scripted", "embedder": "hash"}
README = Path(__file__).resolve().parents[1] / "README.md"


def _first_valid(info: dict[str, Any]) -> int:
    return int(np.flatnonzero(info["action_mask"])[0])


# -- 1. render_mode="rgb_array" and SB3's plain path ----------------------------------------------
@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_frames_follow_the_episode(env_id: str) -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, render_mode="rgb_array", **FAST)
    try:
        _, info = env.reset(seed=0)
        before = env.render()
        assert isinstance(before, np.ndarray) and before.dtype == np.uint8
        assert before.ndim == 3 and before.shape[2] == 3 and before.std() > 0  # text was drawn
        env.step(_first_valid(info))
        after = env.render()
        assert after.shape == before.shape and not np.array_equal(after, before)
        check_env(env.unwrapped, skip_render_check=False)  # also makes one env per declared render mode
    finally:
        env.close()


def test_sb3_make_vec_env_and_maskable_ppo_as_a_user_writes_them() -> None:
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("Executive-MBPP-v0", n_envs=2, seed=0, env_kwargs=dict(coder="scripted", embedder="hash"))
    try:
        model = MaskablePPO("MlpPolicy", venv, n_steps=16, batch_size=16, seed=0)
        model.learn(32)
        assert model.num_timesteps == 32
        masks = get_action_masks(venv)
        assert masks.shape == (2, 5) and masks.dtype == bool and masks[:, -1].all()  # STOP always allowed
        frame = venv.render()  # what SB3's VecVideoRecorder records: the two panels tiled
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    finally:
        venv.close()


# -- 2. the README's python snippets ------------------------------------------------------------
def _readme_snippets() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return [b for b in blocks if "gym.make(" in b]


def test_readme_snippets_run_with_the_scripted_coder() -> None:
    snippets = _readme_snippets()
    assert snippets, "README.md has no python snippet with gym.make"
    for code in snippets:
        # The one substitution: the scripted coder and hashed embedder in place of the embedded models.
        fast, n = re.subn(r"gym\.make\(([^()]*)\)", r"gym.make(\1, **_FAST)", code)
        assert n == code.count("gym.make(")
        scope: dict[str, Any] = {"_FAST": FAST}
        exec(compile(fast, str(README), "exec"), scope)
        scope["env"].close()


@pytest.mark.llm
@pytest.mark.slow
def test_readme_snippets_run_as_written() -> None:
    for code in _readme_snippets():
        scope: dict[str, Any] = {}
        exec(compile(code, str(README), "exec"), scope)
        scope["env"].close()


def test_masks_through_gym_make_wrappers() -> None:
    env = gym.make("Executive-MBPP-v0", **FAST)
    try:
        _, info = env.reset(seed=0)
        expected = np.asarray(info["action_mask"], dtype=bool)
        assert np.array_equal(env.unwrapped.action_masks(), expected)
        assert np.array_equal(env.get_wrapper_attr("action_masks")(), expected)
    finally:
        env.close()


# -- 3. every argument checked by gym.make ------------------------------------------------------
_TYPOS_ALL: list[tuple[dict[str, Any], str]] = [
    ({"coder": "scriptd"}, "Did you mean 'scripted'"),
    ({"coder": "lama_cpp"}, "Did you mean 'llama_cpp'"),
    ({"coder": {"backend": "scripted", "defualt": "stub"}}, "Did you mean 'default'"),
    ({"coder": {"backend": "llama_cpp", "max_new_token": 64}}, "Did you mean 'max_new_tokens'"),
    ({"sandbox": "proces"}, "Did you mean 'process'"),
    ({"sandbox_kwargs": {"worker": 2}}, "Did you mean 'workers'"),
    ({"observation": "dcit"}, "Did you mean 'dict'"),
    ({"render_mode": "rgb_aray"}, "Did you mean 'rgb_array'"),
    ({"dataset": "mbbp"}, "Did you mean 'mbpp'"),
    ({"embedder": "hsah"}, "Did you mean 'hash'"),
    ({"codr": "scripted"}, "Did you mean 'coder'"),
    ({"task_ids": "MBPP/601"}, "task_ids must be a list"),
    ({"max_steps": 0}, "max_steps must be an int >= 1"),
    ({"timeout": 0}, "timeout must be a number of seconds > 0"),
]
_TYPOS_FAMILY: dict[str, list[tuple[dict[str, Any], str]]] = {
    "Executive": [({"rewards": {"solvd": 1.0}}, "Did you mean 'solved'"),
                  ({"max_generations": 0}, "max_generations must be an int >= 1")],
    "Hierarchical": [({"rewards": {"finl": 1.0}}, "Did you mean 'final'"),
                     ({"executive_kwargs": {"max_debug": 2}}, "Did you mean 'max_debugs'"),
                     ({"executive_policy": 42}, "executive_policy must be callable")],
    "PromptOpt": [({"rewards": {"delta_pas": 1.0}}, "Did you mean 'delta_pass'"),
                  ({"operators": ["synonim"]}, "Did you mean 'synonym'")],
}
_TYPOS_DATASET: dict[str, list[tuple[dict[str, Any], str]]] = {
    "MBPP": [({"split": "trian"}, "Did you mean 'train'"), ({"task_ids": ["MBPP/974x"]}, "Did you mean 'MBPP/974'")],
    "HumanEval": [({"split": "tset"}, "only a 'test' split"),
                  ({"task_ids": ["HumanEval/163x"]}, "Did you mean 'HumanEval/163'")],
}


def _typo_cases() -> list[Any]:
    cases = []
    for env_id in IDS:
        family, dataset = env_id.split("-")[:2]
        for kwargs, hint in _TYPOS_ALL + _TYPOS_FAMILY[family] + _TYPOS_DATASET[dataset]:
            cases.append(pytest.param(env_id, kwargs, hint, id=f"{env_id}-{'-'.join(kwargs)}"))
    return cases


@pytest.mark.filterwarnings("ignore:.*render_mode='rgb_aray'")  # gymnasium's own warning, before ours
@pytest.mark.parametrize(("env_id", "kwargs", "hint"), _typo_cases())
def test_gym_make_rejects_typos_with_a_suggestion(env_id: str, kwargs: dict[str, Any], hint: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError), match=re.escape(hint)):
        gym.make(env_id, **{**FAST, **kwargs})


def test_checking_the_defaults_loads_no_model() -> None:
    code = ("import sys, gymnasium as gym, promptgym; gym.make('Executive-MBPP-v0').close(); "
            "print(','.join(m for m in ('llama_cpp', 'torch', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"gym.make loaded {out.stdout.strip()}"


# -- 4. integer actions only --------------------------------------------------------------------
@pytest.mark.parametrize("env_id", IDS)
def test_non_integer_actions_are_rejected_alike(env_id: str) -> None:
    env = gym.make(env_id, **FAST)
    try:
        _, info = env.reset(seed=0)
        a = _first_valid(info)
        n = int(env.action_space.n)
        for bad in (a + 0.5, float(a), np.float32(a), str(a), True, None, np.array([a, a]), np.array([float(a)]),
                    n, -1):
            with pytest.raises(InvalidAction, match=r"outside Discrete\(\d+\)"):
                env.step(bad)
        _, _, _, _, info = env.step(np.int64(a))  # what SB3's vec envs pass
        env.step(np.array(_first_valid(info)))  # a 0-d array, what model.predict returns
    finally:
        env.close()


# -- 5. the embedded model says what it is doing -------------------------------------------------
def test_loading_is_announced_once_per_model(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    model = str(tmp_path / "Tiny-1M-Instruct.Q4_1.gguf")  # a name only: this tests the message, not a load
    with caplog.at_level(logging.INFO, logger="promptgym"):
        with loading(model, "llama.cpp"):
            pass
        with loading(model, "llama.cpp"):
            pass
    messages = [r.getMessage() for r in caplog.records if r.name == "promptgym"]
    assert messages[0] == "loading Tiny-1M-Instruct.Q4_1 (llama.cpp, first use in this process) ..."
    assert re.fullmatch(r"Tiny-1M-Instruct\.Q4_1 loaded in \d+\.\d s", messages[1]) and len(messages) == 2


def test_a_failed_load_is_announced_again(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    model = str(tmp_path / "Broken.gguf")
    with caplog.at_level(logging.INFO, logger="promptgym"):
        with pytest.raises(OSError), loading(model, "llama.cpp"):
            raise OSError("truncated file")
        with loading(model, "llama.cpp"):
            pass
    assert sum(r.getMessage().startswith("loading Broken") for r in caplog.records) == 2


def test_only_a_slow_block_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="promptgym"):
        with slow_notice("fast one", after=0.5):
            pass
        with slow_notice("slow one", after=0.05):
            time.sleep(0.5)
        time.sleep(0.6)  # past the fast block's deadline: its cancelled timer must stay silent
    assert [r.getMessage() for r in caplog.records if r.name == "promptgym"] == ["slow one"]


def test_announcements_reach_stderr_without_logging_configured() -> None:
    code = "from promptgym.announce import loading\nwith loading('/m/Tiny.gguf', 'llama.cpp'):\n    pass\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.splitlines()[0] == "promptgym: loading Tiny (llama.cpp, first use in this process) ..."


@pytest.mark.llm
def test_embedded_model_load_is_announced_once() -> None:
    code = ("from promptgym.llm import make_backend\n"
            "for _ in range(2):\n    make_backend('llama_cpp').generate(['def f():'], max_new_tokens=2)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [line for line in out.stderr.splitlines() if line.startswith("promptgym: loading")]
    assert lines == ["promptgym: loading SmolLM2-135M-Instruct.Q4_1 (llama.cpp, first use in this process) ..."]
