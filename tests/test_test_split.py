"""The test split (issue #17): visible tests teach, hidden tests judge, and nothing hidden leaks.

* The split per dataset: its counts (pinned, and equal to what the docs say) and its fingerprint
  (a change to the split is a change to the envs' definition and needs a new version).
* ``Task.job``/``visible_view`` and the ``feedback`` option.
* No leak, two ways, on every v1 family: (1) a scripted test double coder that writes the right
  program only once it has seen a hidden test (its code, or its failure in feedback) fails on v1
  and succeeds on v0 (so it can tell); (2) two tasks that differ only in their hidden tests give
  the same observations, rewards, infos, renders and coder inputs until the episode ends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import promptgym  # noqa: F401  (registers the envs)
from evaluators import Sandbox
from promptgym.coders import CodeSample
from promptgym.coders.scripted import ScriptedCoder
from promptgym.envs import executive as ex
from promptgym.envs import hierarchical as hi
from promptgym.envs._policies import ScriptedExecutivePolicy
from promptgym.registration import ENV_IDS
from promptgym.tasks import Task, get_task, load_tasks
from promptgym.tasks import humaneval as he_module
from promptgym.tasks import mbpp as mbpp_module

V1 = sorted(i for i in ENV_IDS if i.endswith("-v1"))
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Programs that pass the visible tests and fail a hidden one (hard-coded to the visible examples).
DECOYS = {
    "MBPP/604": "def reverse_words(s):\n    return 'program python' if s == 'python program' else s\n",
    "MBPP/606": "def radian_degree(d):\n    return 1.5707963267948966 if d == 90 else 0.0\n",
    "HumanEval/0": "def has_close_elements(numbers, threshold):\n    return threshold == 0.3\n",
}
BAD = {  # programs that fail the visible tests too
    "MBPP/604": "def reverse_words(s):\n    return s\n",
    "MBPP/606": "def radian_degree(d):\n    return 0.0\n",
    "HumanEval/0": "def has_close_elements(numbers, threshold):\n    return None\n",
}


# -- the split per dataset ----------------------------------------------------------------------
def _fingerprint(tasks: list[Task]) -> str:
    data = [[t.task_id, list(t.visible_tests), list(t.hidden_tests)] for t in tasks]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


# Pinned: a change here changes what the envs teach and judge with. Bump the env versions in
# promptgym/registration.py (and log it in the env docstrings) before updating these.
FINGERPRINTS = {"mbpp": "6e2cd8ed7a0f7ed3", "mbpp-sanitized": "5a792fed665e89d9", "humaneval": "97ae26b2e5b9306c"}


@pytest.mark.parametrize("dataset", ["mbpp", "mbpp-sanitized", "humaneval"])
def test_split_is_stable(dataset: str) -> None:
    tasks = load_tasks(dataset)
    assert all(t.hidden_tests for t in tasks)  # every task is judged on something
    assert _fingerprint(tasks) == FINGERPRINTS[dataset], _fingerprint(tasks)


def test_mbpp_split() -> None:
    tasks = load_tasks("mbpp")
    assert all(t.visible_tests == t.tests[:1] and t.hidden_tests[: len(t.tests)] == t.tests for t in tasks)
    challenged = [t.task_id for t in tasks if len(t.hidden_tests) > len(t.tests)]
    assert challenged == [f"MBPP/{i}" for i in (11, 16, 20, 23, 25, 26, 28, 42, 43, 44, 47)]
    assert sum(len(t.hidden_tests) - len(t.tests) for t in tasks) == 16
    assert "MBPP/11, 16, 20, 23, 25, 26, 28, 42, 43, 44, 47" in " ".join(mbpp_module.__doc__.split())
    raw = {r["task_id"]: r for r in map(json.loads, (SHARED / "mbpp.jsonl").read_text().splitlines())}
    task = get_task("MBPP/11")
    assert len(task.hidden_tests) == 5 and task.hidden_tests[3:] == tuple(raw[11]["challenge_test_list"])
    sanitized = load_tasks("mbpp-sanitized")
    assert all(t.visible_tests == t.tests[:1] and t.hidden_tests == t.tests for t in sanitized)


def test_humaneval_split_counts_match_the_docs() -> None:
    tasks = load_tasks("humaneval")
    empty = [t for t in tasks if not t.visible_tests]
    n_visible, n_hidden = sum(len(t.visible_tests) for t in tasks), sum(len(t.hidden_tests) for t in tasks)
    assert (len(empty), n_visible, len(tasks) - len(empty), n_hidden) == (89, 178, 75, 1133)
    doc = " ".join(he_module.__doc__.split())
    assert f"{n_visible} over {len(tasks) - len(empty)} tasks" in doc and f"so {len(empty)} tasks" in doc
    assert f"{n_hidden:,} over the 164 tasks" in doc
    assert "HumanEval/116" in {t.task_id for t in empty} and "HumanEval/66" in {t.task_id for t in empty}
    assert "89 of the 164" in " ".join(Task.__doc__.split())


def test_humaneval_visible_tests_are_the_docstring_examples() -> None:
    task = get_task("HumanEval/0")
    assert task.visible_tests == ("assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
                                  "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True")
    # `>>> f(x) == y` lines with no output are asserted as written; a bare call without output returns None
    assert get_task("HumanEval/156").visible_tests[0] == "assert int_to_mini_roman(19) == 'xix'"
    assert get_task("HumanEval/12").visible_tests[0] == "assert longest([]) is None"
    # escapes are read as the source writes them: one example, not two broken lines
    assert "assert remove_vowels('abcdef\\nghijklm') == 'bcdf\\nghjklm'" in get_task("HumanEval/51").visible_tests
    assert he_module.docstring_tests('def f(x):\n    """Double.\n    >>> y = 2\n    >>> f(y)\n    4\n    """\n',
                                     "f") == ("y = 2\nassert f(y) == 4",)


def test_humaneval_hidden_tests_are_check_split_into_asserts() -> None:
    task = get_task("HumanEval/0")
    assert len(task.hidden_tests) == 7
    assert task.hidden_tests[0] == ("def check(candidate):\n    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)"
                                    " == True\n\ncheck(has_close_elements)\n")
    # preceding non-assert statements are kept in each later snippet; a loop with asserts is one test
    (loop,) = get_task("HumanEval/32").hidden_tests
    assert "rng = random.Random(42)" in loop and "for _ in range(100):" in loop
    last = get_task("HumanEval/151").hidden_tests[-1]
    assert "lst = list(range(-99, 100, 2))" in last and "odd_sum = " in last
    # constant asserts test nothing and are left out
    assert not any("assert True" in t for t in load_tasks("humaneval")[64].hidden_tests)


def test_humaneval_snippets_run_alone(sandbox: Sandbox) -> None:
    """Each hidden snippet passes on its own for the reference, and fails alone for a wrong program."""
    for tid in ("HumanEval/32", "HumanEval/53", "HumanEval/151", "HumanEval/38"):
        task = get_task(tid)
        for test in task.hidden_tests:
            assert sandbox.run(task.reference, [test], task.setup, timeout=20, entry_point=task.entry_point).passed
    task = get_task("HumanEval/151")
    wrong = task.code_prefix + "    return 0\n"
    alone = [sandbox.run(wrong, [t], task.setup, timeout=10).passed for t in task.hidden_tests]
    together = sandbox.run(**task.job(wrong, tests="hidden", timeout=10))
    assert alone == [o.passed for o in together.tests] and not all(alone)


# -- Task.job, the visible view, custom data ---------------------------------------------------
def test_job_picks_the_set_and_the_view_holds_no_hidden_test() -> None:
    task = get_task("MBPP/11")
    assert task.job("x", tests="visible")["tests"] == [task.tests[0]]
    assert task.job("x", tests="hidden")["tests"] == list(task.hidden_tests) and len(task.hidden_tests) == 5
    assert task.job("x")["tests"] == list(task.tests)  # the default is the standard set, as before
    with pytest.raises(ValueError, match="Did you mean 'hidden'"):
        task.job("x", tests="hiden")
    view = task.visible_view()
    assert view.tests == view.visible_tests == view.hidden_tests == task.tests[:1]
    assert (view.task_id, view.prompt, view.reference) == (task.task_id, task.prompt, task.reference)
    legacy = Task("t", "p", "f", ["assert f(1) == 1", "assert f(2) == 2"])  # no split given
    assert legacy.visible_tests == ("assert f(1) == 1",) and legacy.hidden_tests == legacy.tests
    assert Task("t", "p", "f", ("assert f(1)",), visible_tests=()).visible_tests == ()


def test_custom_jsonl_split(tmp_path) -> None:
    from promptgym.tasks import load_jsonl

    rows = [{"task_id": "a", "prompt": "p", "tests": ["assert f(1) == 1", "assert f(2) == 2"]},
            {"task_id": "b", "prompt": "p", "visible_tests": [], "hidden_tests": ["assert f(3) == 3"]},
            {"task_id": "c", "prompt": "p", "tests": ["assert f(1) == 1"], "visible_tests": ["assert f(0) == 0"],
             "hidden_tests": ["assert f(1) == 1", "assert f(9) == 9"]}]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    a, b, c = load_jsonl(path)
    assert a.visible_tests == ("assert f(1) == 1",) and a.hidden_tests == a.tests
    assert b.visible_tests == () and b.hidden_tests == b.tests == ("assert f(3) == 3",) and b.entry_point == "f"
    assert c.visible_tests == ("assert f(0) == 0",) and len(c.hidden_tests) == 2 and c.tests == ("assert f(1) == 1",)
    path.write_text(json.dumps({"task_id": "d", "prompt": "p", "tests": ["x"], "visible_tests": "assert f()"}) + "\n")
    with pytest.raises(ValueError, match="mine.jsonl:1: 'visible_tests' must be a list"):
        load_jsonl(path)


def test_taco_first_case_visible_all_judge() -> None:
    from promptgym.tasks.taco import task_from_record

    task = task_from_record({"question": "echo", "input_output": {"inputs": ["1\n", "2\n"], "outputs": ["1", "2"]}},
                            0, "train")
    assert task.visible_tests == task.tests[:1] and task.hidden_tests == task.tests and len(task.tests) == 2


# -- feedback option and versions ---------------------------------------------------------------
def test_v1_ids_are_feedback_visible_and_v0_all() -> None:
    assert len(V1) == 5 and {i.replace("-v1", "-v0") for i in V1} == set(ENV_IDS) - set(V1)
    for env_id in ENV_IDS:
        assert gym.spec(env_id).kwargs["feedback"] == ("visible" if env_id.endswith("-v1") else "all")
    for cls in (ex.ExecutiveEnv, hi.HierarchicalEnv):
        with pytest.raises(ValueError, match="Did you mean 'visible'"):
            cls(task_ids=["MBPP/604", "MBPP/606"], coder="scripted", embedder="hash", feedback="visibel")
    with pytest.raises(ValueError, match="feedback"):
        gym.make("PromptOpt-MBPP-v1", coder="scripted", embedder="hash", feedback="hidden")


# -- the leak probe -----------------------------------------------------------------------------
class LeakProbeCoder(ScriptedCoder):
    """Scripted test double: the right program only after seeing a hidden test, else a decoy.

    The decoy passes the task's visible tests and fails a hidden one. The probe returns the
    reference as soon as a hidden-only test (one of the true task's hidden tests that is not
    visible) shows up in anything it is handed: the task's test sets, the prompt, the failure
    feedback or the retrieved context. So it succeeds only where hidden tests leak.
    """

    def __init__(self) -> None:
        super().__init__()
        self.saw_hidden = False

    @staticmethod
    def _secrets(task_id: str) -> list[str]:
        truth = get_task(task_id)  # loaded afresh: the probe's own knowledge, not what the env hands it
        lines = [next(line.strip() for line in t.splitlines() if line.strip().startswith("assert"))
                 for t in truth.hidden_tests if t not in truth.visible_tests]
        assert lines
        return lines

    def _saw(self, task: Task, *texts: str) -> bool:
        seen = "\n".join([*task.tests, *task.visible_tests, *task.hidden_tests, *texts])
        self.saw_hidden = self.saw_hidden or any(secret in seen for secret in self._secrets(task.task_id))
        return self.saw_hidden

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        """The reference once a hidden test was seen; else a program failing the visible tests too
        (the Executive shape, to be repaired) or, from an edited prompt (PromptOpt), the decoy."""
        if self._saw(task, prompt or "", context):
            return self._sample(get_task(task.task_id).reference)
        return self._sample(BAD[task.task_id] if prompt is None else DECOYS[task.task_id])

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        """The reference once a hidden test was seen (in the feedback, say); else the decoy."""
        if self._saw(task, feedback, context):
            return self._sample(get_task(task.task_id).reference)
        return self._sample(DECOYS[task.task_id])


def _greedy(order: tuple[int, ...]) -> Callable[[dict[str, Any]], int]:
    """A policy that takes the first action of ``order`` the mask allows (the last is STOP)."""
    def policy(info: dict[str, Any]) -> int:
        mask = np.asarray(info["action_mask"], dtype=bool)
        return next((a for a in order if mask[a]), order[-1])
    return policy


def _play(env: gym.Env, policy: Callable[[dict[str, Any]], int], seed: int = 0) -> dict[str, Any]:
    _, info = env.reset(seed=seed)
    for _ in range(60):
        _, _, term, trunc, info = env.step(policy(info))
        if term or trunc:
            return info
    raise AssertionError("the episode did not end")


def _probe_case(env_id: str) -> tuple[dict[str, Any], Callable[[dict[str, Any]], int]]:
    """Env kwargs and a policy that tries every path to a repair (debug, search, edits, replan)."""
    if env_id.startswith("Executive"):
        tid = "HumanEval/0" if "HumanEval" in env_id else "MBPP/604"
        return {"task_ids": [tid]}, _greedy((ex.GENERATE, ex.RUN_TESTS, ex.DEBUG, ex.SEARCH, ex.STOP))
    if env_id.startswith("PromptOpt"):
        tid = "HumanEval/0" if "HumanEval" in env_id else "MBPP/604"
        env = gym.make(env_id, coder="scripted", embedder="hash", task_ids=[tid])
        names = env.unwrapped.operator_names
        env.close()
        order = tuple(names.index(n) for n in ("add_example", "add_signature", "add_format", "clarify")
                      if n in names) + (len(names) + 1,)
        return {"task_ids": [tid], "stop_on_pass": False}, _greedy(order)
    return ({"task_ids": ["MBPP/604", "MBPP/606"]},
            _greedy((hi.PLAN, hi.EXECUTE, hi.INTEGRATE, hi.EVALUATE, hi.REPLAN, hi.STOP)))


@pytest.mark.parametrize("env_id", V1)
def test_leak_probe_fails_on_v1_and_succeeds_on_v0(env_id: str, sandbox: Sandbox) -> None:
    kwargs, policy = _probe_case(env_id)
    outcome = {}
    for version in ("v1", "v0"):
        probe = LeakProbeCoder()
        env = gym.make(env_id.replace("-v1", f"-{version}"), coder=probe, sandbox=sandbox, embedder="hash", **kwargs)
        try:
            info = _play(env, policy)
        finally:
            env.close()
        outcome[version] = (info["final_passed"], probe.saw_hidden, info)
    final, saw, info = outcome["v1"]
    assert not saw and not final, info  # nothing hidden reached the coder, so the decoy was judged
    assert info["hidden_pass_fraction"] < 1.0 and "visible_passed" in info
    # the control: where the standard tests teach (v0), the same probe sees them and succeeds
    assert outcome["v0"][:2] == (True, True)


@pytest.mark.parametrize("env_id", [i for i in V1 if not i.startswith("PromptOpt")])
def test_decoy_passes_visible_but_not_hidden(env_id: str, sandbox: Sandbox) -> None:
    """info at the end reports both sets: the decoy is shown to pass and judged to fail."""
    kwargs, _ = _probe_case(env_id)
    ids = kwargs["task_ids"]
    coder = ScriptedCoder({tid: [DECOYS[tid]] for tid in ids})
    env = gym.make(env_id, coder=coder, sandbox=sandbox, embedder="hash", **kwargs)
    order = ((ex.GENERATE, ex.RUN_TESTS, ex.STOP) if env_id.startswith("Executive")
             else (hi.PLAN, hi.EXECUTE, hi.INTEGRATE, hi.EVALUATE, hi.STOP))
    steps = []
    _, info = env.reset(seed=0)
    for _ in range(10):
        steps.append(env.step(_greedy(order)(info)))
        info = steps[-1][4]
        if steps[-1][2] or steps[-1][3]:
            break
    env.close()
    assert all(s[4]["passed"] for s in steps[-2:])  # on the visible tests
    assert not any(k in s[4] for s in steps[:-1] for k in ("final_passed", "hidden_passed", "hidden_pass_fraction"))
    assert info["visible_passed"] and info["visible_pass_fraction"] == 1.0
    assert not info["final_passed"] and not info["hidden_passed"] and 0 < info["hidden_pass_fraction"] < 1
    assert not info["pass_at_1"] and not info["solved_within_episode"]
    if env_id.startswith("Hierarchical"):
        assert info["sub_passed"] == [True, True]  # sub-episodes are judged on visible tests only


# -- non-interference: tasks differing only in hidden tests look the same until the end --------
class RecordingCoder(ScriptedCoder):
    """Scripted test double that logs every input it is handed (task, prompt, code, feedback, context)."""

    def __init__(self, programs: dict[str, list[Any]]) -> None:
        super().__init__(programs)
        self.log: list[tuple[Any, ...]] = []

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        """Log, then the scripted program."""
        self.log.append(("write", task, prompt, context, seed))
        return super().write(task, prompt, context, seed)

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        """Log, then the scripted repair."""
        self.log.append(("repair", task, code, feedback, context, seed))
        return super().repair(task, code, feedback, context, seed)


def _harder(task: Task) -> Task:
    """The same task with one more hidden test, which no program written here passes."""
    return replace(task, hidden_tests=(*task.hidden_tests, f"assert {task.entry_point} is None"))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


_JUDGED = ("final_passed", "final_pass_fraction", "hidden_passed", "hidden_pass_fraction", "pass_at_1",
           "solved_within_episode", "visible_passed", "visible_pass_fraction", "final_code", "reward_parts")


def _trace(env_id: str, tasks: list[Task], seed: int, sandbox: Sandbox) -> tuple[list[Any], list[Any], dict]:
    # PromptOpt's coder only writes (the first program): the decoy, judged differently by the two tasks
    scripts = {t.task_id: ([DECOYS[t.task_id]] if env_id.startswith("PromptOpt") else
                           [BAD[t.task_id], DECOYS[t.task_id], get_task(t.task_id).reference]) for t in tasks}
    coder = RecordingCoder(scripts)
    env = gym.make(env_id, coder=coder, sandbox=sandbox, embedder="hash", tasks=tasks, render_mode="ansi")
    try:
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        trace: list[Any] = [(obs, info, env.render())]
        for _ in range(40):
            # a random valid action other than the last (stop), so episodes run until truncation
            valid = np.flatnonzero(info["action_mask"][:-1])
            action = int(rng.choice(valid)) if valid.size else len(info["action_mask"]) - 1
            obs, reward, term, trunc, info = env.step(action)
            if term or trunc:
                last = {k: v for k, v in info.items() if k not in _JUDGED}
                trace.append((obs, last, term, trunc, env.render()))
                return trace, coder.log, info
            trace.append((obs, reward, info, env.render()))
    finally:
        env.close()
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("env_id", V1)
def test_hidden_tests_do_not_reach_agent_or_coder_before_the_end(env_id: str, sandbox: Sandbox) -> None:
    ids = (["MBPP/604", "MBPP/606"] if env_id.startswith("Hierarchical")
           else ["HumanEval/0"] if "HumanEval" in env_id else ["MBPP/604"])
    easy = [get_task(i) for i in ids]
    hard = [_harder(easy[0]), *easy[1:]]
    judged, calls = [], 0
    for seed in range(6):
        trace_a, log_a, end_a = _trace(env_id, easy, seed, sandbox)
        trace_b, log_b, end_b = _trace(env_id, hard, seed, sandbox)
        assert _same(trace_a, trace_b), (seed, trace_a, trace_b)
        assert _same(log_a, log_b)
        calls += len(log_a)
        handed = [entry[1] for entry in log_a]  # every task object the coder was handed: visible tests only
        assert all(set(t.tests) | set(t.hidden_tests) <= set(get_task(t.task_id).visible_tests) for t in handed)
        judged.append((end_a["hidden_pass_fraction"], end_b["hidden_pass_fraction"]))
    # the coder was called, and the hidden tests did differ in outcome where a program was judged
    assert calls and any(a > b for a, b in judged), (calls, judged)


def test_judging_refuses_to_run_mid_episode(sandbox: Sandbox) -> None:
    env = ex.ExecutiveEnv(task_ids=["MBPP/604"], coder="scripted", sandbox=sandbox, embedder="hash")
    env.reset(seed=0)
    env.step(ex.GENERATE)
    with pytest.raises(RuntimeError, match="only once the episode has ended"):
        env._judge(env.code)
    from promptgym.envs.prompt_opt import PromptOptEnv

    po = PromptOptEnv(task_ids=["MBPP/604"], coder="scripted", sandbox=sandbox, embedder="hash")
    po.reset(seed=0)
    with pytest.raises(RuntimeError, match="only once the episode has ended"):
        po._judge(po._code)


# -- tasks without visible tests ----------------------------------------------------------------
def test_executive_without_visible_tests_stops_blind_and_is_judged(sandbox: Sandbox) -> None:
    env = gym.make("Executive-HumanEval-v1", coder="scripted", sandbox=sandbox, embedder="hash",
                   task_ids=["HumanEval/66"])
    _, info = env.reset(seed=0)
    assert info["n_visible_tests"] == 0 and not info["action_mask"][ex.RUN_TESTS]
    _, _, _, _, info = env.step(ex.GENERATE)
    assert not info["action_mask"][ex.RUN_TESTS] and not info["action_mask"][ex.DEBUG] and info["executions"] == 0
    assert ScriptedExecutivePolicy()(None, info) == ex.STOP
    _, reward, term, _, info = env.step(ex.STOP)
    assert term and info["final_passed"] and not info["visible_passed"] and info["executions"] == 1
    assert reward == pytest.approx(1.0 - 0.01)
    env.close()


def test_prompt_opt_without_visible_tests_runs_nothing_until_the_end(sandbox: Sandbox) -> None:
    env = gym.make("PromptOpt-HumanEval-v1", coder="scripted", sandbox=sandbox, embedder="hash",
                   task_ids=["HumanEval/66"])
    obs, info = env.reset(seed=0)
    assert info["n_visible_tests"] == 0 and info["executions"] == 0 and info["pass_fraction"] == 0.0
    assert info["last_error"] == "none" and env.observation_space.contains(obs)
    _, _, term, _, info = env.step(env.unwrapped.stop_action)
    assert term and info["final_passed"] and info["pass_at_1"] and info["executions"] == 1
    env.close()


def test_prompt_opt_final_pass_reward_and_truncation(sandbox: Sandbox) -> None:
    coder = ScriptedCoder({"MBPP/604": [DECOYS["MBPP/604"]]})
    env = gym.make("PromptOpt-MBPP-v1", coder=coder, sandbox=sandbox, embedder="hash", task_ids=["MBPP/604"],
                   stop_on_pass=False, max_steps=2, rewards={"final_pass": 3.0})
    _, info = env.reset(seed=0)
    assert info["pass_fraction"] == 1.0  # the decoy passes the one visible test
    _, _, term, trunc, info = env.step(env.unwrapped.operator_names.index("add_format"))
    assert not (term or trunc) and "final_passed" not in info
    _, reward, term, trunc, info = env.step(env.unwrapped.operator_names.index("clarify"))
    assert trunc and not term and info["visible_passed"] and not info["final_passed"]
    assert reward == pytest.approx(sum(info["reward_parts"].values()))
    assert info["reward_parts"]["final_pass"] == pytest.approx(3.0 / 3)  # 1 of 3 hidden asserts passes
    env.close()
