"""Executive env: an agent chooses GENERATE / RUN_TESTS / DEBUG / SEARCH / STOP for one task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from evaluators.result import STATUSES, ExecutionResult
from promptgym.coders import Coder
from promptgym.envs._common import EnvParts, check_embedder, check_int, coerce_rewards, resolve_tasks
from promptgym.envs._engine import EpisodeEnv
from promptgym.tasks import Task, load_tasks

__all__ = ["ExecutiveEnv", "ExecutiveRewards"]

GENERATE, RUN_TESTS, DEBUG, SEARCH, STOP = range(5)
_STATUS_SLOTS = ("none",) + STATUSES  # last error class one-hot
_N_SCALARS = 9


@dataclass(frozen=True)
class ExecutiveRewards:
    """Reward weights of :class:`ExecutiveEnv`."""

    solved: float = 1.0  # ending with code that passes the hidden tests (judged at the end)
    failed_stop: float = -0.2  # ending (STOP or out of steps) with code that fails them, or none
    step_cost: float = 0.01  # every step
    llm_call_cost: float = 0.0  # every LLM call
    invalid_action: float = -0.05  # a masked action (no-op)


@lru_cache(maxsize=4)
def _retrieval_pool(embedder: str) -> tuple[tuple[Task, ...], np.ndarray]:
    """MBPP train tasks with a reference, and their prompt embeddings (one per process)."""
    from promptgym.embeddings import get_embedder

    pool = tuple(t for t in load_tasks("mbpp", split="train") if t.reference)
    vecs = get_embedder(embedder).encode([t.prompt for t in pool])
    return pool, np.asarray(vecs, dtype=np.float32)


def _prompt_vector(embedder: str, text: str) -> np.ndarray:
    from promptgym.embeddings import get_embedder

    return np.asarray(get_embedder(embedder).encode([text])[0], dtype=np.float32)


class ExecutiveEnv(EpisodeEnv):
    """Code generation and repair for one task per episode, with action masks.

    ## Description
    An agent drives a coder (an LLM, or the scripted test double) on a programming task:
    it writes code, runs the task's visible tests, repairs the code from their failures, retrieves
    similar solved MBPP *train* tasks as context, and decides when to stop. The episode is judged
    at its end on the task's hidden tests, which nothing sees before (``feedback="visible"``,
    the ``-v1`` ids; see :class:`promptgym.tasks.Task` for the split per dataset). The coder gets
    the task's visible view: an MBPP prompt shows only the first assert. With ``feedback="all"``
    (the ``-v0`` ids) the standard tests (MBPP's ``test_list``, HumanEval's ``check()``) both
    give the feedback and judge, as before the split.

    ## Action Space
    ``Discrete(5)``: 0 GENERATE (write fresh code, with retrieved context if any), 1 RUN_TESTS,
    2 DEBUG (``coder.repair(task, code, feedback, context)``), 3 SEARCH (put the ``k`` most similar
    solved MBPP-train tasks, never the task itself, into the context), 4 STOP.
    Masks (``action_masks()`` and ``info["action_mask"]``): GENERATE is masked once the code is
    known to pass the visible tests or after ``max_generations``; RUN_TESTS needs untested code and
    a task with visible tests (89 HumanEval tasks have none: there RUN_TESTS and so DEBUG stay
    masked, ``info["n_visible_tests"] == 0``, and the agent stops blind); DEBUG needs a known
    visible failure of the current code and fewer than ``max_debugs`` repairs; SEARCH is masked
    right after a SEARCH and after ``max_searches``; STOP is always allowed. A masked action is a no-op that
    costs ``rewards.invalid_action`` and sets ``info["invalid_action"] = True``.

    ## Observation Space
    ``"box"``: float32 ``Box(0, 1)`` of step fraction, has code, tested, last visible pass fraction,
    best visible pass fraction, generate/debug/search counts (normalised), context present, last
    action one-hot (6: none + 5 actions), last status one-hot (7: none + the sandbox statuses),
    then the prompt embedding (384) when ``prompt_embedding=True``. ``"dict"``: ``{"state": Box, "last_action":
    Discrete(6), "last_status": Discrete(7)}`` (+ ``"prompt"`` Box). Text is only in ``info``.

    ## Rewards
    :class:`ExecutiveRewards`: ``solved`` on STOP (or truncation) with code that passes the hidden
    tests, ``failed_stop`` without, ``-step_cost`` per step, ``-llm_call_cost`` per LLM call,
    ``invalid_action`` for masked actions; the parts are in ``info["reward_parts"]``.

    ## Starting State
    A task drawn with ``np_random`` (or ``options={"task_id": ...}``); no code, no context.

    ## Episode End
    Terminated on STOP; truncated after ``max_steps``. Only then are the hidden tests run, and
    the final info carries ``final_passed`` (= ``hidden_passed``: the final code passes the hidden
    tests), ``final_pass_fraction`` (= ``hidden_pass_fraction``), ``visible_passed`` and
    ``visible_pass_fraction`` (the final code on the visible tests), ``pass_at_1`` (the FIRST
    generated program passes the hidden tests: one generation), ``solved_within_episode`` (a
    tested program or the final code passes the hidden tests) and ``final_code``. Every info has
    ``task_id, pass_fraction, passed`` (both on the visible tests), ``tokens, llm_calls,
    executions, action_mask, reward_parts, n_visible_tests, invalid_action`` (step infos).

    ## Arguments
    ``dataset, split, task_ids, tasks, coder, sandbox, sandbox_kwargs, embedder ("minilm"|"hash"),
    k (retrieved tasks), rewards (ExecutiveRewards or dict), observation ("box"|"dict"),
    prompt_embedding, max_steps, max_generations, max_debugs, max_searches, timeout, feedback
    ("visible"|"all"), sampling_seeds (None: fresh coder seeds each episode; K: one of K seed streams,
    so revisited states hit the generation cache), render_mode``.

    ## Registered Configurations
    ``Executive-MBPP-v1`` (MBPP train split by default; ``split="test"`` to evaluate) and
    ``Executive-HumanEval-v1`` (HumanEval's test split), 12 steps, ``feedback="visible"``; the
    ``-v0`` ids are the same with ``feedback="all"``.

    ## Version History
    * v1: visible tests teach (RUN_TESTS, DEBUG feedback, the coder's prompt), hidden tests judge
      (terminal reward, ``final_passed``, ``pass_at_1``), run only at the episode's end; info
      reports both. On HumanEval success no longer means "passes after being shown the failures
      of ``check()``", so it is comparable with HumanEval pass@1.
    * v0: first version; the standard tests both teach and judge (``feedback="all"``).

    >>> from promptgym.coders.scripted import ScriptedCoder
    >>> env = ExecutiveEnv(task_ids=["MBPP/601"], coder=ScriptedCoder(), embedder="hash")
    >>> obs, info = env.reset(seed=0)
    >>> [env.step(a)[4]["passed"] for a in (GENERATE, RUN_TESTS)]
    [False, True]
    >>> _, reward, _, _, info = env.step(STOP)
    >>> reward > 0.9, info["visible_passed"], info["hidden_passed"]
    (True, True, True)
    >>> env.close()
    """

    ACTIONS = ("GENERATE", "RUN_TESTS", "DEBUG", "SEARCH", "STOP")

    def __init__(
        self,
        dataset: str = "mbpp",
        split: str | None = "train",
        task_ids: Sequence[str] | None = None,
        tasks: Sequence[Task] | None = None,
        coder: str | dict[str, Any] | Coder = "llama_cpp",
        sandbox: Any = "process",
        sandbox_kwargs: dict[str, Any] | None = None,
        embedder: str = "minilm",
        k: int = 2,
        rewards: ExecutiveRewards | dict[str, float] | None = None,
        observation: str = "box",
        prompt_embedding: bool = False,
        max_steps: int = 12,
        max_generations: int = 3,
        max_debugs: int = 4,
        max_searches: int = 2,
        timeout: float = 5.0,
        feedback: str = "visible",
        sampling_seeds: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if dataset == "humaneval" and split == "train":
            split = "test"  # HumanEval has only a test split
        if not isinstance(embedder, str):
            raise TypeError(f"embedder must be a spec string ('minilm', 'hash' or a path), got {type(embedder).__name__}")
        check_embedder(embedder)
        for name, value, minimum in (("k", k, 1), ("max_generations", max_generations, 1),
                                     ("max_debugs", max_debugs, 0), ("max_searches", max_searches, 0)):
            check_int(name, value, minimum)
        self.rewards = coerce_rewards(ExecutiveRewards, rewards)
        self._init_engine(resolve_tasks(dataset, split, task_ids, tasks), EnvParts(coder, sandbox, sandbox_kwargs),
                          max_steps, observation, render_mode, timeout, feedback, sampling_seeds)
        self.embedder, self.k = embedder, k
        self.prompt_embedding = bool(prompt_embedding)
        self.max_generations, self.max_debugs, self.max_searches = max_generations, max_debugs, max_searches
        width = _N_SCALARS + len(self.ACTIONS) + 1 + len(_STATUS_SLOTS)
        state = gym.spaces.Box(0.0, 1.0, shape=(width,), dtype=np.float32)
        emb = gym.spaces.Box(-1.0, 1.0, shape=(384,), dtype=np.float32)
        if observation == "box":
            self.observation_space = gym.spaces.Box(
                np.concatenate([state.low, emb.low]) if prompt_embedding else state.low,
                np.concatenate([state.high, emb.high]) if prompt_embedding else state.high, dtype=np.float32)
        else:
            spaces: dict[str, gym.Space] = {"state": state, "last_action": gym.spaces.Discrete(len(self.ACTIONS) + 1),
                                            "last_status": gym.spaces.Discrete(len(_STATUS_SLOTS))}
            if prompt_embedding:
                spaces["prompt"] = emb
            self.observation_space = gym.spaces.Dict(spaces)

    # -- episode state ------------------------------------------------------------------------------
    def _start_episode(self, options: dict[str, Any]) -> None:
        self.code: str | None = None
        self.result: ExecutionResult | None = None  # result of the CURRENT code, if tested
        self.last_status = "none"
        self.last_action = -1
        self.context = ""
        self.counts = {GENERATE: 0, DEBUG: 0, SEARCH: 0}
        self.last_pf = self.best_pf = 0.0
        self.first_code: str | None = None
        self.tested: list[str] = []  # programs run on the visible tests, judged at the end
        self._prompt_vec = _prompt_vector(self.embedder, self.task.prompt) if self.prompt_embedding else None

    def _valid_actions(self) -> np.ndarray:
        passed = self.result is not None and self.result.passed
        return np.array([
            not passed and self.counts[GENERATE] < self.max_generations,
            self.code is not None and self.result is None and self.n_visible_tests > 0,
            self.result is not None and not self.result.passed and self.counts[DEBUG] < self.max_debugs,
            self.last_action != SEARCH and self.counts[SEARCH] < self.max_searches,
            True,
        ], dtype=bool)

    def _set_code(self, code: str) -> None:
        self.code, self.result = code, None
        if self.first_code is None:
            self.first_code = code

    def _feedback(self) -> str:
        assert self.result is not None and self.task is not None
        # Built from the visible run alone: these are the only tests the coder may read.
        lines = [f"Status: {self.result.status}"]
        if self.result.error:
            lines.append(f"Error: {self.result.error}")
        for test, out in zip(self.task.test_set(self.split.teach), self.result.tests):
            if not out.passed:
                lines.append(f"Failed: {test}" + (f"  ({out.error})" if out.error else ""))
        return "\n".join(lines)

    def _search(self) -> None:
        assert self.task is not None
        pool, vecs = _retrieval_pool(self.embedder)
        sims = vecs @ _prompt_vector(self.embedder, self.task.prompt)
        order = np.argsort(-sims, kind="stable")
        picked = [pool[i] for i in order if pool[i].task_id != self.task.task_id][: self.k]
        self.context = "\n\n".join(f"# Similar solved task: {t.prompt}\n{t.reference.strip()}" for t in picked)
        self._log.append(f"{self._steps}: SEARCH -> {', '.join(t.task_id for t in picked)}")

    def _apply(self, action: int) -> tuple[dict[str, float], bool]:
        assert self.task is not None
        parts: dict[str, float] = {}
        calls_before = self._llm_calls
        if action == GENERATE:
            s = self._parts.coder.write(self.agent_task, context=self.context, seed=self._next_seed())
            self._charge(s.tokens, s.llm_calls, s.cached)
            self._set_code(s.code)
            self.counts[GENERATE] += 1
            self._log.append(f"{self._steps}: GENERATE ({s.tokens} tokens)")
        elif action == RUN_TESTS:
            assert self.code is not None
            self.result = self._run_teach(self.code)
            self.tested.append(self.code)
            self.last_status, self.last_pf = self.result.status, self.result.pass_fraction
            self.best_pf = max(self.best_pf, self.last_pf)
            self._log.append(f"{self._steps}: RUN_TESTS -> {self.result.status} ({self.last_pf:.2f})")
        elif action == DEBUG:
            assert self.code is not None
            s = self._parts.coder.repair(self.agent_task, self.code, self._feedback(), context=self.context,
                                         seed=self._next_seed())
            self._charge(s.tokens, s.llm_calls, s.cached)
            self._set_code(s.code)
            self.counts[DEBUG] += 1
            self._log.append(f"{self._steps}: DEBUG ({s.tokens} tokens)")
        elif action == SEARCH:
            self._search()
            self.counts[SEARCH] += 1
        self.last_action = action
        if self._llm_calls > calls_before and self.rewards.llm_call_cost:
            parts["llm_call_cost"] = -self.rewards.llm_call_cost * (self._llm_calls - calls_before)
        if action == STOP:
            self._log.append(f"{self._steps}: STOP")
        return parts, action == STOP

    def _finish(self, truncated: bool) -> tuple[dict[str, float], dict[str, Any]]:
        # The episode has ended: only now are the hidden tests run (reusing runs under feedback="all").
        info = self._judgement(self.code, self.first_code, self.result, self.tested)
        if info["final_passed"]:
            return {"solved": self.rewards.solved}, info
        return {"failed_stop": self.rewards.failed_stop}, info

    # -- observation / info / render ----------------------------------------------------------------
    def _state(self) -> Any:
        status = _STATUS_SLOTS.index(self.last_status)
        scalars = [
            self._steps / self.max_steps, float(self.code is not None), float(self.result is not None),
            self.last_pf, self.best_pf, self.counts[GENERATE] / self.max_generations,
            self.counts[DEBUG] / max(1, self.max_debugs), self.counts[SEARCH] / max(1, self.max_searches),
            float(bool(self.context)),
        ]
        act = np.zeros(len(self.ACTIONS) + 1, dtype=np.float32)
        act[self.last_action + 1] = 1.0
        st = np.zeros(len(_STATUS_SLOTS), dtype=np.float32)
        st[status] = 1.0
        state = np.clip(np.concatenate([np.asarray(scalars, dtype=np.float32), act, st]), 0.0, 1.0)
        if self.observation_mode == "box":
            if self._prompt_vec is not None:
                return np.concatenate([state, self._prompt_vec]).astype(np.float32)
            return state
        obs: dict[str, Any] = {"state": state, "last_action": self.last_action + 1, "last_status": status}
        if self._prompt_vec is not None:
            obs["prompt"] = self._prompt_vec
        return obs

    def _progress_info(self) -> dict[str, Any]:
        return {"pass_fraction": self.last_pf, "passed": bool(self.result is not None and self.result.passed),
                "code": self.code or "", "context_present": bool(self.context),
                "last_action": self.ACTIONS[self.last_action] if self.last_action >= 0 else "",
                "debugs": self.counts[DEBUG], "searches": self.counts[SEARCH]}

    def _render_body(self) -> str:
        assert self.task is not None
        out = [f"prompt: {self.task.prompt}", "code:", self.code or "(none)"]
        if self.result is not None:
            out.append("tests: " + " ".join("P" if t.passed else "F" for t in self.result.tests)
                       + f"  [{self.result.status}]")
        return "\n".join(out)
