"""The shared episode engine of the Executive and Hierarchical envs (hooks, the Minigrid way).

:class:`EpisodeEnv` owns task selection, seeding, masks (both ``action_masks()`` and
``info["action_mask"]``), invalid-action handling, step bookkeeping, info assembly, reward-part
assembly and the episode panel's text (rendered as ``ansi`` or ``rgb_array`` by
:class:`PromptGymEnv`). A subclass fills in the hooks: ``_start_episode``, ``_valid_actions``,
``_apply``, ``_state`` (observation parts) and optionally ``_finish`` and ``_render_body``.

It also owns the test split (:class:`TestSplit`): ``_run_teach`` is the only run whose outcome
may reach the agent mid-episode; ``_judge`` (hidden tests) refuses to run before the episode
has ended, and ``_judgement`` assembles the terminal info from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from promptgym.envs._common import EnvParts, PromptGymEnv, TestSplit, as_action, check_int, check_timeout, pick_task
from promptgym.tasks import Task

if TYPE_CHECKING:
    from evaluators import ExecutionResult


__all__ = ["EpisodeEnv"]


class EpisodeEnv(PromptGymEnv):
    """Base class: one task per episode, discrete masked actions, text in info, never in obs."""

    ACTIONS: tuple[str, ...] = ()

    def _init_engine(self, tasks: Sequence[Task], parts: EnvParts, max_steps: int, observation: str,
                     render_mode: str | None, timeout: float, feedback: str = "visible",
                     sampling_seeds: int | None = None) -> None:
        """Common constructor part; call from the subclass __init__ before building spaces."""
        if sampling_seeds is not None:
            check_int("sampling_seeds", sampling_seeds, 1)
        # None: every episode samples its own stream of coder seeds; K: one of K streams, so a task's
        # generations form a finite tree that the generation cache answers on revisits
        self.sampling_seeds = sampling_seeds
        self.split = TestSplit(feedback)
        self.feedback = feedback
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
        self._judged: dict[str, ExecutionResult] = {}

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

    @property
    def agent_task(self) -> Task:
        """The episode's task as coders and sub-episodes may see it (no hidden test under "visible")."""
        assert self.task is not None
        return self.split.agent_task(self.task)

    @property
    def n_visible_tests(self) -> int:
        """How many tests the agent may run on this episode's task (0: RUN_TESTS/EVALUATE are masked)."""
        assert self.task is not None
        return len(self.task.test_set(self.split.teach))

    def _run_teach(self, code: str) -> ExecutionResult:
        """Run ``code`` on the tests the agent may see: the only run whose outcome reaches it mid-episode."""
        assert self.task is not None
        if not self.n_visible_tests:
            return self.split.no_visible_result()
        self._executions += 1
        result = self._parts.sandbox.run(**self.task.job(code, tests=self.split.teach, timeout=self.timeout))
        if self.split.shared(self.task):  # feedback="all": the same run is also the verdict
            self._judged[code] = result
        return result

    def _judge(self, code: str) -> ExecutionResult:
        """Judge ``code`` on the judging tests; only once the episode has ended (cached per episode)."""
        assert self.task is not None
        if code in self._judged:
            return self._judged[code]
        if not self._done:
            # The guard the test split rests on: a hidden outcome computed mid-episode could reach
            # the agent through some path later added; computed only at the end, none can.
            raise RuntimeError("the judging tests run only once the episode has ended")
        self._executions += 1
        result = self._parts.sandbox.run(**self.task.job(code, tests=self.split.judge, timeout=self.timeout))
        self._judged[code] = result
        return result

    def _judgement(self, code: str | None, first_code: str | None, teach_result: ExecutionResult | None,
                   tried: Sequence[str]) -> dict[str, Any]:
        """The terminal info: the final code on both sets, the first program and every tried one on the judging set.

        Args:
            code: The final code (None: the episode wrote none).
            first_code: The first program of the episode (``pass_at_1``).
            teach_result: The final code's visible result, if it was run.
            tried: Programs the agent tested; ``solved_within_episode`` is whether one (or the final
                code) passes the judging tests.
        """
        final = self._judge(code) if code else None
        if teach_result is None and code:
            teach_result = final if self.split.shared(self.task) else self._run_teach(code)
        first = self._judge(first_code) if first_code else None
        programs = dict.fromkeys([*tried, *([code] if code else [])])
        hidden_pf = 0.0 if final is None else final.pass_fraction
        return {
            "final_passed": bool(final is not None and final.passed),
            "final_pass_fraction": hidden_pf,
            "hidden_passed": bool(final is not None and final.passed),
            "hidden_pass_fraction": hidden_pf,
            "visible_passed": bool(teach_result is not None and teach_result.passed),
            "visible_pass_fraction": 0.0 if teach_result is None else teach_result.pass_fraction,
            "pass_at_1": bool(first is not None and first.passed),
            "solved_within_episode": any(self._judge(p).passed for p in programs),
            "final_code": code or "",
        }

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
        self._seed_base = int(self.np_random.integers(self.sampling_seeds or 2**31 - 1))
        self._steps = 0
        self._done = False
        self._tokens = self._llm_calls = self._executions = self._calls = 0
        self._log = [f"task {self.task.task_id}"]
        self._last_parts = {}
        self._judged = {}
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
            "n_visible_tests": self.n_visible_tests,
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
