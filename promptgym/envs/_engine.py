"""The shared episode engine of the Executive and Hierarchical envs (hooks, the Minigrid way).

:class:`EpisodeEnv` owns task selection, seeding, masks (both ``action_masks()`` and
``info["action_mask"]``), invalid-action handling, step bookkeeping, info assembly, reward-part
assembly and the episode panel's text (rendered as ``ansi`` or ``rgb_array`` by
:class:`PromptGymEnv`). A subclass fills in the hooks: ``_start_episode``, ``_valid_actions``,
``_apply``, ``_state`` (observation parts) and optionally ``_finish`` and ``_render_body``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import gymnasium as gym
import numpy as np

from promptgym.envs._common import EnvParts, PromptGymEnv, as_action, check_int, check_timeout, pick_task
from promptgym.tasks import Task


__all__ = ["EpisodeEnv"]


class EpisodeEnv(PromptGymEnv):
    """Base class: one task per episode, discrete masked actions, text in info, never in obs."""

    ACTIONS: tuple[str, ...] = ()

    def _init_engine(self, tasks: Sequence[Task], parts: EnvParts, max_steps: int, observation: str,
                     render_mode: str | None, timeout: float) -> None:
        """Common constructor part; call from the subclass __init__ before building spaces."""
        self._check_modes(observation, render_mode)
        check_int("max_steps", max_steps, 1)
        self.tasks = list(tasks)
        self._parts = parts
        self.max_steps = max_steps
        self.timeout = check_timeout(timeout)
        self.action_space = gym.spaces.Discrete(len(self.ACTIONS))
        self.task: Task | None = None
        self._steps = 0
        self._done = False
        self._tokens = 0
        self._llm_calls = 0
        self._executions = 0
        self.cache_hits = 0  # generations served from the cache over the env's life (never in infos)
        self._seed_base = 0
        self._calls = 0
        self._log: list[str] = []
        self._last_parts: dict[str, float] = {}

    # -- hooks --------------------------------------------------------------------------------------
    def _start_episode(self, options: dict[str, Any]) -> None:
        """Reset the per-episode state for ``self.task``."""
        raise NotImplementedError

    def _valid_actions(self) -> np.ndarray:
        """Boolean mask over ACTIONS for the current state."""
        raise NotImplementedError

    def _apply(self, action: int) -> tuple[dict[str, float], bool]:
        """Do a valid action; returns (reward parts, terminated)."""
        raise NotImplementedError

    def _state(self) -> Any:
        """The observation for the current state (matching observation_space)."""
        raise NotImplementedError

    def _finish(self, truncated: bool) -> tuple[dict[str, float], dict[str, Any]]:
        """Judge the episode at its end: (extra reward parts, extra info)."""
        return {}, {}

    def _progress_info(self) -> dict[str, Any]:
        """Subclass info fields every step (pass_fraction, passed, ...)."""
        return {}

    def _render_body(self) -> str:
        """Subclass text for render()."""
        return ""

    @property
    def invalid_action_penalty(self) -> float:
        """Reward for a masked action (the rewards dataclass' ``invalid_action``)."""
        return float(getattr(self.rewards, "invalid_action", -0.05))

    # -- helpers for subclasses ---------------------------------------------------------------------
    def _next_seed(self) -> int:
        """A coder seed derived from the episode seed: same env seed + coder -> same episode."""
        self._calls += 1
        return (self._seed_base + 7919 * self._calls) % (2**31)

    def _charge(self, tokens: int, llm_calls: int, cached: int = 0) -> None:
        # a cached generation costs what it cost when made: rewards and infos never see the cache
        self._tokens += int(tokens)
        self._llm_calls += int(llm_calls)
        self.cache_hits += int(cached)

    # -- gym API ------------------------------------------------------------------------------------
    def action_masks(self) -> np.ndarray:
        """Valid actions as a bool array (sb3-contrib's MaskablePPO reads this)."""
        if self.task is None or self._done:
            mask = np.zeros(len(self.ACTIONS), dtype=bool)
            mask[-1] = True  # STOP is always last and always allowed
            return mask
        return np.asarray(self._valid_actions(), dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode on a task drawn with np_random, or ``options={"task_id": ...}``."""
        super().reset(seed=seed)
        options = dict(options or {})
        self.task = pick_task(self.tasks, self.np_random, options)
        self._seed_base = int(self.np_random.integers(2**31 - 1))
        self._steps = 0
        self._done = False
        self._tokens = self._llm_calls = self._executions = self._calls = 0
        self._log = [f"task {self.task.task_id}"]
        self._last_parts = {}
        self._start_episode(options)
        return self._state(), self._info({})

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Apply one action; a masked action is a no-op with the invalid_action penalty."""
        if self.task is None:
            raise RuntimeError("Call reset() before step()")
        if self._done:
            raise RuntimeError("Episode has ended; call reset()")
        a = as_action(action, len(self.ACTIONS))
        extra: dict[str, Any] = {"invalid_action": False}
        self._steps += 1
        if not self.action_masks()[a]:
            parts: dict[str, float] = {"invalid_action": self.invalid_action_penalty}
            terminated = False
            extra["invalid_action"] = True
            self._log.append(f"{self._steps}: {self.ACTIONS[a]} (masked: no-op)")
        else:
            parts, terminated = self._apply(a)
            parts = dict(parts)
        parts["step_cost"] = -float(getattr(self.rewards, "step_cost", 0.0))
        truncated = not terminated and self._steps >= self.max_steps
        if terminated or truncated:
            self._done = True
            final_parts, final_info = self._finish(truncated)
            for k, v in final_parts.items():
                parts[k] = parts.get(k, 0.0) + v
            extra.update(final_info)
        self._last_parts = parts
        reward = float(sum(parts.values()))
        return self._state(), reward, terminated, truncated, self._info(parts, extra)

    def _info(self, parts: dict[str, float], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.task is not None
        info: dict[str, Any] = {
            "task_id": self.task.task_id,
            "tokens": self._tokens,
            "llm_calls": self._llm_calls,
            "executions": self._executions,
            "steps": self._steps,
            "action_mask": self.action_masks().astype(np.int8),
            "reward_parts": dict(parts),
        }
        info.update(self._progress_info())
        info.update(extra or {})
        return info

    def _render_text(self) -> str:
        """The task, the action log, the current code and test outcomes."""
        if self.task is None:
            return "(not reset)\n"
        pf = self._progress_info().get("pass_fraction", 0.0)
        head = (f"{type(self).__name__} {self.task.task_id} step {self._steps}/{self.max_steps} pass {pf:.2f}\n"
                + "\n".join(self._log[-12:]))
        return f"{head}\n{self._render_body()}\n"

    def close(self) -> None:
        """Stop the sandbox this env started."""
        self._parts.close()

    def rewards_dict(self) -> dict[str, float]:
        """The reward weights as a dict."""
        return asdict(self.rewards)  # type: ignore[call-overload]
