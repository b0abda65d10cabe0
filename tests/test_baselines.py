"""Baselines: the masked random agent stays inside masks; the Executive heuristic follows its script."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import DEBUG, GENERATE, RUN_TESTS, SEARCH, STOP, ExecutiveHeuristic, RandomAgent, make_baseline


def test_random_agent_only_valid_actions() -> None:
    """Over many draws, only valid actions appear, and every valid one does."""
    agent = RandomAgent(5, seed=0)
    mask = np.array([0, 1, 0, 1, 1], dtype=bool)
    picks = {int(agent.predict(None, action_masks=mask)[0]) for _ in range(300)}
    assert picks == {1, 3, 4}
    with pytest.raises(ValueError, match="n_actions"):
        RandomAgent(0)


def test_executive_heuristic_script() -> None:
    """generate, test, debug/test x budget, search, debug, test, stop; stops early once tests pass."""
    agent = ExecutiveHeuristic(debug_budget=1)
    agent.reset()
    actions = [int(agent.predict(None)[0]) for _ in range(8)]
    assert actions == [GENERATE, RUN_TESTS, DEBUG, RUN_TESTS, SEARCH, DEBUG, RUN_TESTS, STOP]
    agent.reset()
    agent.observe({"pass_fraction": 0.0})
    assert int(agent.predict(None)[0]) == GENERATE
    agent.observe({"pass_fraction": 1.0})
    assert int(agent.predict(None)[0]) == STOP
    # a masked scripted action falls back to the last valid one
    agent.reset()
    agent.observe({})
    assert int(agent.predict(None, action_masks=np.array([0, 1, 1, 1, 1], bool))[0]) == STOP


def test_make_baseline_errors() -> None:
    """Unknown names get a suggestion."""

    class _E:
        action_space = type("S", (), {"n": 5})()
        spec = None
        unwrapped = None

    with pytest.raises(ValueError, match="heuristic"):
        make_baseline("heuristc", _E())
