"""PromptOpt env: spaces, masks, each reward part, revert/stop, determinism, pickling, registry hook."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pytest

from promptgym.coders import CodeSample, Coder, TextReply
from promptgym.envs.prompt_opt import ERROR_CLASSES, PromptOptEnv, PromptOptRewards, error_class
from promptgym.envs._common import coerce_rewards
from promptgym.error import TaskNotFound
from promptgym.mutations import MutationContext, MutationResult, Operator, register_operator
from promptgym.tasks import Task, load_tasks

TASK_ID = "MBPP/602"  # first_repeated_char: one-argument tests, a WordNet-rich prompt


def _default_reply(instruction: str) -> str:
    return "Find the first repeated character in a string."


class PromptKeyedCoder(Coder):
    """Scripted test double: writes the reference once the prompt has an example, a stub before.

    That makes the pass fraction depend on the prompt, so each reward part can be driven.
    ``ask`` answers with ``reply(instruction)``.
    """

    def __init__(self, reply: Callable[[str], str] | None = None, trigger: str = "For example") -> None:
        self.reply, self.trigger = reply or _default_reply, trigger

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        good = self.trigger in (prompt or task.prompt)
        code = task.reference if good else f"def {task.entry_point}(*args, **kwargs):\n    return None\n"
        return CodeSample(code=code, text=code, tokens=len(code.split()), llm_calls=1)

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        return self.write(task, seed=seed)

    def ask(self, instruction: str, max_new_tokens: int = 256, seed: int = 0) -> TextReply:
        text = self.reply(instruction)
        return TextReply(text=text, tokens=len(text.split()), llm_calls=1)


def make_env(sandbox, **kw) -> PromptOptEnv:
    kw.setdefault("coder", PromptKeyedCoder())
    kw.setdefault("task_ids", [TASK_ID])
    return PromptOptEnv(sandbox=sandbox, embedder="hash", **kw)


def test_reset_obs_info_and_mask(sandbox):
    env = make_env(sandbox)
    obs, info = env.reset(seed=0)
    assert obs.shape == (384 + 5 + len(ERROR_CLASSES),) and env.observation_space.contains(obs)
    assert info["task_id"] == TASK_ID and info["executions"] == 1 and info["llm_calls"] == 1
    assert info["pass_fraction"] == 0.0 and info["last_error"] == "assertion"
    mask = env.action_masks()
    assert info["action_mask"].dtype == np.int8 and (info["action_mask"] == mask).all()
    assert not mask[env.revert_action] and mask[env.stop_action]  # nothing to undo yet
    assert not mask[env.operator_names.index("reorder")]  # one sentence only
    assert mask[env.operator_names.index("add_example")]


def test_example_then_full_pass_rewards_and_termination(sandbox):
    env = make_env(sandbox, rewards={"llm_call_cost": 0.05, "growth_cost": 0.2})
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.operator_names.index("add_example"))
    parts = info["reward_parts"]
    assert info["pass_fraction"] == 1.0 and terminated and not truncated
    assert parts["delta_pass"] == pytest.approx(1.0) and parts["full_pass_bonus"] == 1.0
    assert parts["llm_cost"] == pytest.approx(-0.05)  # one code generation, no ask
    assert parts["growth"] < 0 and parts["drift"] in (0.0, -0.5)
    assert reward == pytest.approx(sum(parts.values()))
    # 2 visible runs, then (the episode ended) the final and the original prompt's programs on the hidden tests
    assert info["executions"] == 4 and obs[384 + 1] == 1.0 and obs[384 + 2] == 1.0
    assert info["final_passed"] and not info["pass_at_1"] and parts["final_pass"] == 0.0


def test_feedback_all_is_v0(sandbox):
    """feedback="all": every test is run for the reward and judges too, with no run added at the end."""
    env = make_env(sandbox, feedback="all")
    _, info0 = env.reset(seed=0)
    assert info0["n_visible_tests"] == 3
    _, _, terminated, _, info = env.step(env.operator_names.index("add_example"))
    assert terminated and info["executions"] == 2 and info["final_passed"] and info["visible_passed"]


def test_revert_restores_prompt_and_negative_delta(sandbox):
    env = make_env(sandbox, stop_on_pass=False)
    _, info0 = env.reset(seed=0)
    env.step(env.operator_names.index("add_example"))
    assert env.action_masks()[env.revert_action]
    _, reward, terminated, _, info = env.step(env.revert_action)
    assert info["prompt"] == info0["prompt"] and info["reward_parts"]["delta_pass"] == pytest.approx(-1.0)
    assert info["executions"] == 2  # the original's result was cached, not re-run
    assert not terminated and not env.action_masks()[env.revert_action]


def test_masked_action_is_penalised_noop(sandbox):
    env = make_env(sandbox)
    _, info0 = env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.revert_action)
    assert info["invalid_action"] and reward == pytest.approx(-0.1) and not terminated
    assert info["prompt"] == info0["prompt"] and info["executions"] == 1


def test_out_of_space_action_raises(sandbox):
    from promptgym.error import InvalidAction

    env = make_env(sandbox)
    env.reset(seed=0)
    for bad in (env.action_space.n, -1, 1.5):
        with pytest.raises(InvalidAction, match="outside Discrete"):
            env.step(bad)


def test_stop_terminates(sandbox):
    env = make_env(sandbox)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.stop_action)
    assert terminated and reward == 0.0 and info["operator"] == "stop"


def test_paraphrase_rejected_below_threshold_and_drift_penalty(sandbox):
    env = make_env(sandbox, coder=PromptKeyedCoder(reply=lambda s: "Compute the airspeed of a laden swallow."))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.operator_names.index("paraphrase"))
    assert info["rejected"] and "similarity" in info["note"] and info["prompt"] == env.tasks[0].prompt
    assert info["reward_parts"]["llm_cost"] == pytest.approx(-0.01)  # the ask was paid for
    # With the threshold at 0 the same rewrite is accepted, and no drift penalty applies.
    env2 = make_env(sandbox, similarity_threshold=0.0,
                    coder=PromptKeyedCoder(reply=lambda s: "Compute the airspeed of a laden swallow."))
    env2.reset(seed=0)
    _, _, _, _, info2 = env2.step(env2.operator_names.index("paraphrase"))
    assert not info2["rejected"] and "swallow" in info2["prompt"] and info2["reward_parts"]["drift"] == 0.0


def test_drift_penalty_when_edit_falls_below_threshold(sandbox):
    env = make_env(sandbox, similarity_threshold=0.99, operators=["add_format", "add_example"])
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)
    assert info["similarity"] < 0.99 and info["reward_parts"]["drift"] == -0.5


def test_genetic_keeps_the_fittest_variant(sandbox):
    def reply(instruction: str) -> str:
        return "Find the first repeated character in a given string. For example, the string abcabc gives a."

    env = make_env(sandbox, coder=PromptKeyedCoder(reply=reply), similarity_threshold=0.3)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.operator_names.index("genetic"))
    assert info["pass_fraction"] == 1.0 and "For example" in info["prompt"] and terminated
    # identical children are evaluated once (2 visible runs); 2 hidden runs judge the end
    assert info["llm_calls"] >= 3 and info["executions"] == 4


def test_user_operator_becomes_an_action(sandbox):
    class Shout(Operator):
        name = "shout_test"

        def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
            return not prompt.isupper()

        def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
            return MutationResult(prompt.upper(), True, note="shouted")

    register_operator("shout_test", Shout)
    env = make_env(sandbox, operators=["synonym", "shout_test"])
    assert env.action_space.n == 4 and env.operator_names == ["synonym", "shout_test"]
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    assert info["prompt"].isupper() and not env.action_masks()[1]


def test_seeded_determinism_and_task_choice(sandbox):
    ids = [t.task_id for t in load_tasks("mbpp", "train")[:6]]

    def rollout(seed: int) -> list:
        env = make_env(sandbox, task_ids=ids, stop_on_pass=False)
        obs, info = env.reset(seed=seed)
        out = [info["task_id"], obs.tobytes()]
        for a in (0, 2, 1):
            a = a if env.action_masks()[a] else env.stop_action
            obs, r, *_ , info = env.step(a)
            out += [info["prompt"], r, obs.tobytes()]
        return out

    assert rollout(3) == rollout(3)
    assert len({rollout(s)[0] for s in range(6)}) > 1  # the task is drawn from np_random


def test_options_task_id_and_bad_inputs(sandbox):
    env = make_env(sandbox, task_ids=[TASK_ID, "MBPP/601"])
    _, info = env.reset(seed=0, options={"task_id": "MBPP/601"})
    assert info["task_id"] == "MBPP/601"
    with pytest.raises(TaskNotFound, match="Did you mean 'MBPP/602'"):
        env.reset(options={"task_id": "MBPP/620"})
    with pytest.raises(ValueError, match="Did you mean 'delta_pass'"):
        coerce_rewards(PromptOptRewards, {"delta_pas": 1.0})
    with pytest.raises(KeyError, match="Did you mean 'synonym'"):
        make_env(sandbox, operators=["synonim"])


def test_dict_observation_and_render(sandbox):
    env = make_env(sandbox, observation="dict", render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs) and obs["last_error"] == ERROR_CLASSES.index("assertion")
    env.step(env.operator_names.index("add_example"))
    text = env.render()
    assert "+" in text and "For example" in text and "def first_repeated_char" in text


def test_pickle_roundtrip_continues_identically(sandbox):
    env = make_env(sandbox, stop_on_pass=False)
    env.reset(seed=5)
    env.step(env.operator_names.index("synonym"))
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(env.operator_names.index("delete_word"))
    b = clone.step(clone.operator_names.index("delete_word"))
    assert a[4]["prompt"] == b[4]["prompt"] and np.array_equal(a[0], b[0]) and a[1] == b[1]
    clone.close()


def test_error_class_mapping():
    from evaluators import ExecutionResult, TestOutcome

    assert error_class(ExecutionResult("passed")) == 0
    assert error_class(ExecutionResult("failed", (TestOutcome(False, "AssertionError"),))) == 1
    assert error_class(ExecutionResult("failed", (TestOutcome(False, "TypeError: x"),))) == 2
    assert error_class(ExecutionResult("error", error="SyntaxError: invalid syntax")) == 3
    assert error_class(ExecutionResult("timeout")) == 4
    assert error_class(ExecutionResult("memory")) == 5


@pytest.mark.parametrize("observation", ["box", "dict"])
def test_gymnasium_and_sb3_check_env(sandbox, observation):
    import warnings

    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make_env(sandbox, observation=observation, task_ids=[TASK_ID, "MBPP/601"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a contract breach here
        check_env(env, skip_render_check=True)  # render: test_dict_observation_and_render
        sb3_check_env(env, warn=True)


@pytest.mark.llm
@pytest.mark.slow
def test_real_model_smoke(sandbox, tmp_path):
    """Two steps with SmolLM2 through llama.cpp and MiniLM: the real parts, end to end."""
    coder = {"backend": "llama_cpp", "cache": tmp_path / "generations.sqlite", "max_new_tokens": 128}
    env = PromptOptEnv(coder=coder, sandbox=sandbox, task_ids=[TASK_ID], stop_on_pass=False)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info["llm_calls"] + info["executions"] >= 1
    for name in ("add_example", "paraphrase"):
        obs, reward, _, _, info = env.step(env.operator_names.index(name))
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        assert 0.0 <= info["pass_fraction"] <= 1.0 and info["operator"] == name
    # The edit forced a new generation; the paraphrase was asked for (llm_calls may be 0 on a cache hit).
    assert info["executions"] >= 2 and ("paraphrase" in info["note"] or "similarity" in info["note"])
    env.close()
