"""ExecutiveEnv: the three episode shapes, each mask rule, each reward part, SEARCH retrieval, obs modes.

The env's default is v1's ``feedback="visible"`` (MBPP/604 shows its first assert, judges on all
three); shapes that need several visible tests run with v0's ``feedback="all"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from evaluators import Sandbox
from promptgym.coders.scripted import ScriptedCoder
from promptgym.envs.executive import DEBUG, GENERATE, RUN_TESTS, SEARCH, STOP, ExecutiveEnv, ExecutiveRewards
from promptgym.error import TaskNotFound
from promptgym.tasks import load_tasks

TID = "MBPP/604"  # reverse_words: 1 visible test, 3 hidden (3 visible under feedback="all")
REF = load_tasks("mbpp", "train", task_ids=[TID])[0].reference
BAD = "def reverse_words(s):\n    return s\n"
HALF = "def reverse_words(s):\n    return 'program python' if s == 'python program' else s\n"


def make(sandbox: Sandbox, script: list[Any] | None = None, **kwargs: Any) -> ExecutiveEnv:
    coder = ScriptedCoder({TID: script} if script else None)
    return ExecutiveEnv(task_ids=[TID], coder=coder, sandbox=sandbox, embedder="hash", **kwargs)


def play(env: ExecutiveEnv, actions: list[int]) -> list[tuple[Any, ...]]:
    env.reset(seed=0)
    return [env.step(a) for a in actions]


@pytest.mark.parametrize(("feedback", "executions"), [("visible", 2), ("all", 1)])
def test_shape_generate_pass_stop(sandbox: Sandbox, feedback: str, executions: int) -> None:
    steps = play(make(sandbox, feedback=feedback), [GENERATE, RUN_TESTS, STOP])
    info = steps[-1][4]
    assert steps[1][4]["passed"] and steps[-1][2]
    assert info["final_passed"] and info["pass_at_1"] and info["solved_within_episode"]
    assert info["visible_passed"] and info["hidden_passed"] and info["hidden_pass_fraction"] == 1.0
    # v1 runs the visible test, then the hidden ones at the end; v0's one run serves both
    assert info["reward_parts"]["solved"] == 1.0 and info["llm_calls"] == 1 and info["executions"] == executions


def test_shape_generate_fail_debug_pass_stop(sandbox: Sandbox) -> None:
    steps = play(make(sandbox, [BAD, REF]), [GENERATE, RUN_TESTS, DEBUG, RUN_TESTS, STOP])
    assert [s[4]["passed"] for s in steps] == [False, False, False, True, True]
    info = steps[-1][4]
    assert info["final_passed"] and not info["pass_at_1"] and info["solved_within_episode"]


def test_shape_with_search_between_repairs(sandbox: Sandbox) -> None:
    # feedback="all": HALF passes one of the three tests the agent runs (under v1 it passes the one visible test)
    env = make(sandbox, [BAD, HALF, ("needs_context", REF)], feedback="all")
    steps = play(env, [GENERATE, RUN_TESTS, DEBUG, RUN_TESTS, SEARCH, DEBUG, RUN_TESTS, STOP])
    assert steps[3][4]["pass_fraction"] == pytest.approx(1 / 3)
    assert steps[4][4]["context_present"] and "Similar solved task" in env.context
    assert steps[6][4]["passed"] and steps[-1][4]["final_passed"]
    # without SEARCH the same repair cannot get past HALF: the context gates it
    steps = play(make(sandbox, [BAD, HALF, ("needs_context", REF)], feedback="all"),
                 [GENERATE, RUN_TESTS, DEBUG, RUN_TESTS, DEBUG])
    assert steps[-1][4]["code"] == HALF


def test_search_never_returns_the_task_or_test_split(sandbox: Sandbox) -> None:
    env = make(sandbox, k=3)
    env.reset(seed=0)
    env.step(SEARCH)
    train_ids = {t.task_id for t in load_tasks("mbpp", "train")}
    picked = [line for line in env._log if "SEARCH" in line][0].split("-> ")[1].split(", ")
    assert len(picked) == 3 and TID not in picked and set(picked) <= train_ids
    test_env = ExecutiveEnv(split="test", task_ids=["MBPP/11"], coder="scripted", sandbox=sandbox, embedder="hash")
    test_env.reset(seed=0)
    test_env.step(SEARCH)
    picked = [line for line in test_env._log if "SEARCH" in line][0].split("-> ")[1].split(", ")
    assert set(picked) <= train_ids


def test_mask_rules(sandbox: Sandbox) -> None:
    env = make(sandbox, [BAD, REF], max_searches=1)
    _, info = env.reset(seed=0)
    m = info["action_mask"]
    assert m.dtype == np.int8 and list(m) == [1, 0, 0, 1, 1]  # no code: no RUN_TESTS, no DEBUG
    assert np.array_equal(env.action_masks(), m.astype(bool))
    info = env.step(SEARCH)[4]
    assert not info["action_mask"][SEARCH]  # not twice in a row, and max_searches=1 reached
    info = env.step(GENERATE)[4]
    assert info["action_mask"][RUN_TESTS] and not info["action_mask"][DEBUG]  # failure not known yet
    info = env.step(RUN_TESTS)[4]
    assert not info["action_mask"][RUN_TESTS] and info["action_mask"][DEBUG]  # already tested; failure known
    assert not info["action_mask"][SEARCH]  # max_searches
    env.step(DEBUG)
    info = env.step(RUN_TESTS)[4]
    assert info["passed"] and not info["action_mask"][GENERATE] and not info["action_mask"][DEBUG]
    assert info["action_mask"][STOP]


def test_masked_action_is_a_penalised_noop(sandbox: Sandbox) -> None:
    env = make(sandbox)
    obs0, _ = env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(DEBUG)
    assert info["invalid_action"] and not term and info["code"] == "" and info["llm_calls"] == 0
    assert info["reward_parts"]["invalid_action"] == -0.05 and reward == pytest.approx(-0.06)
    assert np.array_equal(obs[1:], obs0[1:])  # only the step fraction moved


def test_reward_parts_and_weights(sandbox: Sandbox) -> None:
    rewards = {"solved": 2.0, "failed_stop": -0.5, "step_cost": 0.1, "llm_call_cost": 0.25}
    steps = play(make(sandbox, [BAD], rewards=rewards), [GENERATE, STOP])
    assert steps[0][4]["reward_parts"] == {"llm_call_cost": -0.25, "step_cost": -0.1}
    assert steps[1][4]["reward_parts"] == {"failed_stop": -0.5, "step_cost": -0.1}
    assert not steps[1][4]["final_passed"] and not steps[1][4]["pass_at_1"]
    steps = play(make(sandbox, rewards=ExecutiveRewards(solved=2.0)), [GENERATE, STOP])
    assert steps[1][1] == pytest.approx(2.0 - 0.01) and steps[1][4]["final_passed"]
    with pytest.raises(ValueError, match="solvd"):
        make(sandbox, rewards={"solvd": 1.0})


def test_truncation_judges_the_final_code(sandbox: Sandbox) -> None:
    steps = play(make(sandbox, [BAD], max_steps=2), [GENERATE, RUN_TESTS])
    assert steps[-1][3] and not steps[-1][2]
    assert steps[-1][4]["reward_parts"]["failed_stop"] == -0.2


def test_observation_modes_and_task_option(sandbox: Sandbox) -> None:
    env = make(sandbox, observation="dict", prompt_embedding=True)
    obs, _ = env.reset(seed=0, options={"task_id": TID})
    assert env.observation_space.contains(obs) and obs["prompt"].shape == (384,)
    box = make(sandbox, prompt_embedding=True)
    assert box.observation_space.shape == (9 + 6 + 7 + 384,)
    with pytest.raises(TaskNotFound, match="MBPP/604"):
        box.reset(options={"task_id": "MBPP/6044"})
    with pytest.raises(ValueError, match="observation"):
        make(sandbox, observation="image")


@pytest.mark.parametrize(("feedback", "marks"), [("visible", "tests: P  [passed]"), ("all", "tests: P P P  [passed]")])
def test_render_shows_code_and_tests(sandbox: Sandbox, feedback: str, marks: str) -> None:
    env = make(sandbox, render_mode="ansi", feedback=feedback)
    play(env, [GENERATE, RUN_TESTS])
    text = env.render()  # the tests the agent ran: never the hidden ones
    assert "reverse_words" in text and marks in text and "RUN_TESTS -> passed" in text


def test_max_steps_truncates_through_gym_make() -> None:
    import gymnasium as gym

    import promptgym  # noqa: F401  (registers the ids)

    env = gym.make("Executive-MBPP-v1", coder=ScriptedCoder(default="stub"), embedder="hash", task_ids=[TID],
                   max_steps=3)
    env.reset(seed=0)
    steps = [env.step(a) for a in (GENERATE, RUN_TESTS, DEBUG)]
    assert steps[-1][3] is True and not steps[-1][2]  # truncated after 3 steps, not terminated
    env.close()


class _SeedRecordingCoder(ScriptedCoder):
    """The scripted test double, noting the seed of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int] = []

    def write(self, task: Any, prompt: Any = None, context: str = "", seed: int = 0) -> Any:
        self.seeds.append(seed)
        return super().write(task, prompt, context, seed)


@pytest.mark.parametrize(("sampling_seeds", "most"), [(2, 2), (None, 20)])
def test_sampling_seeds_bound_the_coder_seed_streams(sandbox: Sandbox, sampling_seeds: Any, most: int) -> None:
    coder = _SeedRecordingCoder()
    env = ExecutiveEnv(task_ids=[TID], coder=coder, sandbox=sandbox, embedder="hash", sampling_seeds=sampling_seeds)
    for seed in range(20):
        env.reset(seed=seed)
        env.step(GENERATE)
    assert len(set(coder.seeds)) == most
    with pytest.raises(ValueError, match="sampling_seeds"):
        ExecutiveEnv(task_ids=[TID], coder=coder, sandbox=sandbox, embedder="hash", sampling_seeds=0)
