"""Baseline agents with SB3's ``predict`` signature: a masked random agent and a scripted heuristic.

The heuristic needs what the observation vector does not spell out (did the tests pass?), so it
reads the env's ``info``: the evaluation loop calls ``agent.observe(info)`` after every ``reset``
and ``step`` (SB3 models have no such method and are not called). Without ``observe`` calls it
still runs, following its script from the top with the mask as the only guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# Executive actions (promptgym.envs.executive): fixed ids from the env contract.
GENERATE, RUN_TESTS, DEBUG, SEARCH, STOP = range(5)


class _ScriptedAgent:
    """Shared machinery: SB3's ``predict`` around ``_choose``, masked actions skipped, info remembered."""

    def __init__(self, n_actions: int) -> None:
        if n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {n_actions}")
        self.n_actions = n_actions
        self.last_info: dict[str, Any] = {}
        self._steps = 0
        self._mask: np.ndarray | None = None

    def observe(self, info: Mapping[str, Any]) -> None:
        """Remember the latest info (the evaluation loop calls this after reset and step)."""
        self.last_info = dict(info)

    def reset(self) -> None:
        """Start a new episode's plan."""
        self._steps = 0
        self._reset_plan()

    def _reset_plan(self) -> None:
        pass

    def _choose(self) -> int:
        raise NotImplementedError

    def _fallback(self, wanted: int, mask: np.ndarray) -> int:
        """``wanted`` if valid, else the last valid action (STOP-like actions sit last by convention)."""
        if mask[wanted]:
            return wanted
        valid = np.flatnonzero(mask)
        return int(valid[-1]) if valid.size else wanted

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, None]:
        """The next scripted action that the mask allows."""
        if episode_start is not None and bool(np.asarray(episode_start).reshape(-1)[0]):
            self.reset()
        mask = np.ones(self.n_actions, dtype=bool) if action_masks is None else np.asarray(action_masks, bool)
        self._mask = mask.reshape(-1)[: self.n_actions]
        action = self._fallback(self._choose(), self._mask)
        self._steps += 1
        return np.array(action), None


class RandomAgent(_ScriptedAgent):
    """Uniform choice among the valid actions (all actions when no mask is given)."""

    def __init__(self, n_actions: int, seed: int | None = None) -> None:
        super().__init__(n_actions)
        self.rng = np.random.default_rng(seed)

    def _choose(self) -> int:
        valid = np.flatnonzero(self._mask)
        return int(self.rng.choice(valid if valid.size else np.arange(self.n_actions)))


class ExecutiveHeuristic(_ScriptedAgent):
    """generate, test; while failing: debug + test up to ``debug_budget`` times; then search, debug, test; stop."""

    def __init__(self, n_actions: int = 5, debug_budget: int = 2) -> None:
        super().__init__(n_actions)
        self.debug_budget = debug_budget
        self._reset_plan()

    def _reset_plan(self) -> None:
        self._plan = [GENERATE, RUN_TESTS]
        for _ in range(self.debug_budget):
            self._plan += [DEBUG, RUN_TESTS]
        self._plan += [SEARCH, DEBUG, RUN_TESTS, STOP]
        self._i = 0

    def _choose(self) -> int:
        passed = self.last_info.get("pass_fraction")
        if self._i > 0 and passed is not None and float(passed) >= 1.0:
            return STOP
        if self._i >= len(self._plan):
            return STOP
        action = self._plan[self._i]
        self._i += 1
        return action


class SequenceHeuristic(_ScriptedAgent):
    """A fixed sequence of actions (then the last one, by convention STOP); used for PromptOpt and Hierarchical.

    ``sequence`` holds action ids or action names; names are resolved against the env's
    ``action_names`` (a sequence of str) when given.
    """

    def __init__(
        self, n_actions: int, sequence: Sequence[int | str], action_names: Sequence[str] | None = None
    ) -> None:
        super().__init__(n_actions)
        ids = []
        for item in sequence:
            if isinstance(item, str):
                if not action_names or item not in action_names:
                    continue  # an operator this env variant lacks: skip it rather than fail
                ids.append(list(action_names).index(item))
            else:
                ids.append(int(item))
        self.sequence = ids or [n_actions - 1]
        self._i = 0

    def _reset_plan(self) -> None:
        self._i = 0

    def _choose(self) -> int:
        # skip planned actions the mask rules out (e.g. EXECUTE once every subtask ran) instead of
        # letting the generic fallback jump to STOP
        mask = self._mask if self._mask is not None else np.ones(self.n_actions, dtype=bool)
        while self._i < len(self.sequence) - 1 and not mask[self.sequence[self._i]]:
            self._i += 1
        action = self.sequence[min(self._i, len(self.sequence) - 1)]
        self._i += 1
        return action


# Preferred operator names for PromptOpt (first that the env offers are used) and the
# Hierarchical phases (EXECUTE once per subtask, skipped when masked), matched against
# ``env.unwrapped.action_names``, else the lower-cased ``ACTIONS`` (Executive, Hierarchical), else
# PromptOpt's ``operator_names`` + revert + stop.
PROMPT_OPT_PLAN = ("add_signature", "add_example", "add_format", "stop")
HIERARCHICAL_PLAN = ("plan", "execute", "execute", "execute", "execute", "integrate", "evaluate", "stop")


def make_baseline(name: str, env: Any, seed: int | None = None) -> RandomAgent | _ScriptedAgent:
    """``"random"`` or ``"heuristic"`` for ``env`` (a gym env; its spec id picks the heuristic)."""
    n_actions = int(env.action_space.n)
    if name == "random":
        return RandomAgent(n_actions, seed=seed)
    if name != "heuristic":
        from promptgym.error import did_you_mean

        raise ValueError(f"Unknown baseline {name!r}.{did_you_mean(name, ['random', 'heuristic'])}")
    env_id = env.spec.id if getattr(env, "spec", None) is not None else type(env.unwrapped).__name__
    names = getattr(env.unwrapped, "action_names", None)
    if names is None and hasattr(env.unwrapped, "ACTIONS"):
        names = [a.lower() for a in env.unwrapped.ACTIONS]  # Executive, Hierarchical
    if names is None and hasattr(env.unwrapped, "operator_names"):
        # PromptOpt: one action per operator, then revert, then stop
        names = [*env.unwrapped.operator_names, "revert", "stop"]
    if "Executive" in env_id:
        return ExecutiveHeuristic(n_actions)
    if "PromptOpt" in env_id:
        return SequenceHeuristic(n_actions, PROMPT_OPT_PLAN, names)
    if "Hierarchical" in env_id:
        return SequenceHeuristic(n_actions, HIERARCHICAL_PLAN if names else range(n_actions), names)
    raise ValueError(f"No heuristic baseline for env {env_id!r}; use 'random'")


__all__ = ["ExecutiveHeuristic", "RandomAgent", "SequenceHeuristic", "make_baseline"]
