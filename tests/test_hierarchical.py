"""HierarchicalEnv: composites, plan parsing, integrate (name clashes), execute with policies, masks, rewards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from evaluators import Sandbox
from promptgym.coders.scripted import ScriptedCoder
from promptgym.envs._policies import ScriptedExecutivePolicy
from promptgym.envs.executive import GENERATE, RUN_TESTS
from promptgym.envs.hierarchical import (
    EVALUATE, EXECUTE, INTEGRATE, PLAN, REPLAN, STOP, HierarchicalEnv, build_composites, integrate, parse_plan,
)
from promptgym.tasks import load_tasks

IDS = ["MBPP/604", "MBPP/606"]  # reverse_words, radian_degree
COMP = "MBPP/composite/604+606"


def make(sandbox: Sandbox, coder: Any = None, **kwargs: Any) -> HierarchicalEnv:
    return HierarchicalEnv(task_ids=IDS, coder=coder or ScriptedCoder(), sandbox=sandbox, embedder="hash", **kwargs)


def test_composites_are_deterministic_and_union_tests() -> None:
    tasks = load_tasks("mbpp", "train")[:20]
    a, b = build_composites(tasks, 3, 5, seed=1), build_composites(tasks, 3, 5, seed=1)
    assert [c.task_id for c, _ in a] == [c.task_id for c, _ in b] and len(a) == 5
    comp, parts = a[0]
    assert comp.task_id.startswith("MBPP/composite/") and comp.task_id.count("+") == 2
    assert comp.tests == tuple(t for p in parts for t in p.tests)
    assert comp.visible_tests == tuple(t for p in parts for t in p.visible_tests) and len(comp.visible_tests) == 3
    assert comp.hidden_tests == tuple(t for p in parts for t in p.hidden_tests)
    assert all(p.prompt in comp.prompt for p in parts)
    single, parts = build_composites(tasks, 1, 1)[0]
    assert single is parts[0]  # k=1: the task itself


def test_parse_plan() -> None:
    assert parse_plan("1. Write reverse_words.\n2) Write radian_degree.\n", 2) == [
        "Write reverse_words.", "Write radian_degree."]
    assert parse_plan("- a thing to do\n\n* another one", 2) == ["a thing to do", "another one"]
    assert parse_plan("only one line here", 2) is None


def test_integrate_renames_clashing_helpers_not_entry_points(sandbox: Sandbox) -> None:
    a = "def helper(x):\n    return x + 1\n\ndef f(x):\n    return helper(x)\n"
    b = "def helper(x):\n    return x * 10\n\ndef g(x):\n    return helper(x)\n"
    same = "import math\n\ndef helper(x):\n    return x + 1\n\ndef h(x):\n    return helper(x) - 1\n"
    merged = integrate([a, b, same], ["f", "g", "h"])
    assert "def helper_1(" in merged and "return helper_1(x)" in merged
    assert merged.count("def helper(") == 1  # the identical copy is kept once
    result = sandbox.run(merged, tests=["assert f(1) == 2", "assert g(1) == 10", "assert h(1) == 1"])
    assert result.passed, result
    assert integrate(["def f(:\n", a], ["f", "f"]).startswith("def f(:")  # unparsable kept verbatim


def test_full_episode_with_scripted_policy(sandbox: Sandbox) -> None:
    env = make(sandbox)
    _, info = env.reset(seed=0)
    assert info["task_id"] == COMP and list(info["action_mask"]) == [1, 0, 0, 0, 0, 1]
    info = env.step(PLAN)[4]
    assert len(info["plan"]) == 2 and list(info["action_mask"]) == [0, 1, 0, 0, 0, 1]
    env.step(EXECUTE)
    info = env.step(EXECUTE)[4]
    assert info["sub_passed"] == [True, True] and info["action_mask"][INTEGRATE]
    env.step(INTEGRATE)
    _, reward, _, _, info = env.step(EVALUATE)
    assert info["passed"] and info["reward_parts"]["evaluate"] == pytest.approx(0.2)
    assert not info["action_mask"][REPLAN]  # only after a failed evaluation
    _, reward, term, _, info = env.step(STOP)
    assert term and info["final_passed"] and info["pass_at_1"]
    assert info["reward_parts"] == {"final": 1.0, "step_cost": -0.01}
    assert info["executions"] >= 3 and info["llm_calls"] >= 3


def test_plan_falls_back_and_replan_after_failure(sandbox: Sandbox) -> None:
    coder = ScriptedCoder({"MBPP/604": ["def reverse_words(s):\n    return s\n"]}, replies=lambda q: "just one line")
    env = make(sandbox, coder)
    env.reset(seed=0)
    info = env.step(PLAN)[4]
    assert info["plan_fallback"] and info["plan"][0].startswith("Write a function to reverse words")
    for a in (EXECUTE, EXECUTE, INTEGRATE):
        env.step(a)
    info = env.step(EVALUATE)[4]
    assert info["pass_fraction"] == pytest.approx(0.5) and info["action_mask"][REPLAN]
    info = env.step(REPLAN)[4]
    assert info["code"] == "" and info["action_mask"][EXECUTE] and not info["action_mask"][REPLAN]


class _SB3Like:
    """An object with SB3's predict signature: first valid action of generate/test/stop."""

    def __init__(self) -> None:
        self.seen_masks: list[np.ndarray] = []

    def predict(self, obs: Any, action_masks: np.ndarray | None = None, deterministic: bool = True) -> tuple[Any, None]:
        self.seen_masks.append(action_masks)
        for a in (GENERATE, RUN_TESTS, 4):
            if action_masks[a]:
                return np.array([a]), None
        return np.array([4]), None


def test_execute_with_sb3_like_policy_and_callable(sandbox: Sandbox) -> None:
    model = _SB3Like()
    env = make(sandbox, executive_policy=model)
    env.reset(seed=0)
    env.step(PLAN)
    info = env.step(EXECUTE)[4]
    assert info["sub_passed"][0] and len(model.seen_masks) >= 3 and model.seen_masks[0].dtype == bool
    calls: list[str] = []

    def policy(obs: Any, info: dict[str, Any]) -> int:
        calls.append(info["task_id"])
        return 4  # STOP at once: no code

    env = make(sandbox, executive_policy=policy)
    env.reset(seed=0)
    env.step(PLAN)
    info = env.step(EXECUTE)[4]
    assert calls == ["MBPP/604"] and info["sub_passed"] == [False, False]


def test_scripted_policy_follows_search_shape() -> None:
    pol = ScriptedExecutivePolicy()
    mask = np.array([1, 0, 1, 1, 1], dtype=np.int8)
    base = {"action_mask": mask, "passed": False, "code": "x", "context_present": False}
    assert pol(None, {**base, "last_action": "RUN_TESTS", "debugs": 0}) == 2  # first failure: DEBUG
    assert pol(None, {**base, "last_action": "RUN_TESTS", "debugs": 1}) == 3  # failed repair: SEARCH
    assert pol(None, {**base, "passed": True}) == 4


def test_masked_action_and_truncation(sandbox: Sandbox) -> None:
    env = make(sandbox, max_steps=2)
    env.reset(seed=0)
    info = env.step(EVALUATE)[4]
    assert info["invalid_action"] and info["reward_parts"]["invalid_action"] == -0.05
    _, _, term, trunc, info = env.step(PLAN)
    assert trunc and not term and info["reward_parts"]["final"] == 0.0 and not info["final_passed"]
