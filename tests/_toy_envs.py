"""Test double for agent mechanics while no real env is needed: a tiny masked Executive-shaped env.

``ToyExecutive``: 5 actions (GENERATE, RUN_TESTS, DEBUG, SEARCH, STOP). A task's hidden kind
(0: first generation passes, 1: needs DEBUG, 2: needs SEARCH then DEBUG) is drawn from np_random.
Reports the Executive info keys (final_passed, pass_at_1, llm_calls, tokens, pass_fraction, action_mask).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ToyExecutive(gym.Env):
    """Scripted stand-in with the Executive action set and info keys (named as a test double)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (6,), np.float32)
        self.action_space = spaces.Discrete(5)
        self.render_mode = render_mode

    def action_masks(self) -> np.ndarray:
        has_code = self.generated
        return np.array([not has_code, has_code, has_code and self.tested, has_code and not self.searched, True])

    def _obs(self) -> np.ndarray:
        return np.array([self.generated, self.tested, self.passed, self.searched, self.debugs / 3, self.t / 10],
                        dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        return {"task_id": f"toy/{self.kind}", "pass_fraction": float(self.passed) if self.tested else 0.0,
                "llm_calls": self.calls, "tokens": 10 * self.calls, "executions": self.runs,
                "action_mask": self.action_masks().astype(np.int8)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.kind = int(self.np_random.integers(3))
        self.generated = self.tested = self.passed = self.searched = False
        self.first_pass: bool | None = None
        self.debugs = self.t = self.calls = self.runs = 0
        return self._obs(), self._info()

    def step(self, action: int):
        mask = self.action_masks()
        self.t += 1
        reward, terminated = -0.02, False
        if not mask[action]:
            info = self._info() | {"invalid_action": True}
            return self._obs(), -0.1, False, self.t >= 10, info
        if action == 0:
            self.generated, self.calls = True, self.calls + 1
            self.passed = self.kind == 0
        elif action == 1:
            self.tested, self.runs = True, self.runs + 1
            if self.first_pass is None:
                self.first_pass = self.passed
        elif action == 2:
            self.debugs, self.calls = self.debugs + 1, self.calls + 1
            self.passed = self.passed or self.kind == 1 or (self.kind == 2 and self.searched)
        elif action == 3:
            self.searched, self.calls = True, self.calls + 1
        else:
            terminated = True
            reward += 1.0 if self.passed else 0.0
        info = self._info()
        if terminated or self.t >= 10:
            info |= {"final_passed": self.passed, "pass_at_1": bool(self.first_pass),
                     "solved_within_episode": self.passed}
        return self._obs(), reward, terminated, self.t >= 10, info

    def render(self) -> str:
        return f"toy kind={self.kind} t={self.t} passed={self.passed}"


def register_toys() -> str:
    """Register the test double once; returns its id."""
    env_id = "ToyExecutive-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=ToyExecutive, max_episode_steps=10)
    return env_id
register_toys()  # so gym.make("_toy_envs:ToyExecutive-v0") works in the CLI smoke test
