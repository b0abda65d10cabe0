"""A scripted executive policy: the default driver of Hierarchical's EXECUTE sub-episodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ScriptedExecutivePolicy", "as_policy"]

GENERATE, RUN_TESTS, DEBUG, SEARCH, STOP = range(5)


class ScriptedExecutivePolicy:
    """generate -> test -> (debug -> test)* with one SEARCH after a failed repair, then stop.

    Reads only ``info`` (``action_mask``, ``passed``, ``code``, ``last_action``, ``context_present``,
    ``n_visible_tests``), so it follows the three Executive episode shapes. On a task without
    visible tests it stops after the first program: a new one would be written as blind.
    """

    def __call__(self, obs: Any, info: dict[str, Any]) -> int:
        """The next Executive action."""
        mask = np.asarray(info["action_mask"], dtype=bool)
        if info.get("passed"):
            return STOP
        if mask[RUN_TESTS]:
            return RUN_TESTS
        if not info.get("code"):
            return GENERATE if mask[GENERATE] else STOP
        if info.get("n_visible_tests", 1) == 0:
            return STOP
        failed_repair = info.get("last_action") == "RUN_TESTS" and info.get("debugs", 0) >= 1
        if failed_repair and not info.get("context_present") and mask[SEARCH]:
            return SEARCH
        for action in (DEBUG, GENERATE):
            if mask[action]:
                return action
        return STOP


def as_policy(policy: Any) -> Callable[[Any, dict[str, Any]], int]:
    """A callable ``(obs, info) -> action`` from a callable or an SB3-like ``.predict`` object."""
    if policy is None:
        return ScriptedExecutivePolicy()
    if hasattr(policy, "predict"):
        def predict(obs: Any, info: dict[str, Any]) -> int:
            action, _ = policy.predict(obs, action_masks=np.asarray(info["action_mask"], dtype=bool),
                                       deterministic=True)
            return int(np.asarray(action).reshape(-1)[0])

        return predict
    if callable(policy):
        return policy
    raise TypeError(f"executive_policy must be callable or have .predict(obs, action_masks=...), "
                    f"got {type(policy).__name__}")
