"""PromptOpt: edit a task's prompt with lexical, structural, semantic and genetic operators."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from promptgym.embeddings import DIM, get_embedder
from promptgym.envs._common import (
    NO_VISIBLE_TESTS,
    EnvParts,
    PromptGymEnv,
    TestSplit,
    as_action,
    check_embedder,
    check_int,
    check_timeout,
    coerce_rewards,
    pick_task,
    resolve_tasks,
)
from promptgym.mutations import BUILTIN_OPERATORS, MutationContext, Operator, make_operator

if TYPE_CHECKING:
    from evaluators import ExecutionResult
    from promptgym.coders import Coder
    from promptgym.tasks import Task

ERROR_CLASSES = ("none", "assertion", "exception", "syntax", "timeout", "other")
SCALARS = ("step_fraction", "pass_fraction", "best_pass_fraction", "similarity", "length_ratio")
_MAX_LENGTH_RATIO = 8.0


@dataclass
class PromptOptRewards:
    """Reward weights of PromptOpt (each part is reported raw in ``info["reward_parts"]``)."""

    delta_pass: float = 1.0  # times the change in test pass fraction
    full_pass_bonus: float = 1.0  # once, when the pass fraction first reaches 1.0 this episode
    llm_call_cost: float = 0.01  # per LLM call (operators' asks + code generations)
    growth_cost: float = 0.1  # per unit of prompt growth, measured in original-prompt lengths
    drift_penalty: float = 0.5  # when similarity to the original falls below the threshold
    invalid_action_penalty: float = 0.1  # for a masked action (which is a no-op)
    # times the final code's hidden pass fraction, once, at the episode's end; 0 by default so the
    # reward is shaped by the visible tests alone (v0 had no terminal part either)
    final_pass: float = 0.0


def error_class(result: ExecutionResult | None) -> int:
    """Index in ERROR_CLASSES of the kind of failure in ``result`` ("none" also when there was nothing to run)."""
    if result is None or result.status == "passed" or result.error == NO_VISIBLE_TESTS:
        return 0
    if result.status == "timeout":
        return 4
    text = " ".join([result.error, result.stderr, *(t.error for t in result.tests)])
    if "SyntaxError" in text or "IndentationError" in text:
        return 3
    if result.status == "failed":
        errors = [t.error for t in result.tests if not t.passed]
        return 1 if all(not e or "AssertionError" in e for e in errors) else 2
    if result.status == "error":
        return 2
    return 5


class PromptOptEnv(PromptGymEnv):
    """Optimise a task's prompt so the coder's program passes the task's tests.

    ## Description
    An episode is one task. Each step applies one prompt operator (WordNet synonym, word deletion,
    clarifying phrase, sentence reorder, function signature, test example, output format, LLM
    paraphrase kept only while similar in meaning to the original, or one EPiC-style genetic
    generation), reverts the last edit, or stops. After an edit the coder writes code from the
    new prompt and the sandbox runs the task's visible tests; the hidden tests judge the final
    code once the episode ends, and nothing sees them before (``feedback="visible"``, ``-v1``; see
    :class:`promptgym.tasks.Task` for the split per dataset). Coders and operators get the task's
    visible view: ``add_example`` and ``add_signature`` read only the visible tests, the genetic
    operator's fitness is the visible pass fraction. A task without visible tests (89 HumanEval
    tasks) runs nothing mid-episode: its pass fraction stays 0 and ``info["n_visible_tests"]``
    says why. With ``feedback="all"`` (``-v0``) the standard tests do everything, as before.

    ## Action Space
    ``Discrete(len(operators) + 2)``: action ``i < len(operators)`` applies ``operators[i]``, then
    ``revert``, then ``stop``. ``action_masks()`` and ``info["action_mask"]`` rule out operators
    that cannot change the prompt now, and revert when there is nothing to undo. A masked action
    is a no-op with ``invalid_action_penalty`` and ``info["invalid_action"] = True``.

    ## Observation Space
    ``"box"`` (default): ``Box(395,)`` float32 = sentence embedding of the current prompt (384),
    then step fraction, visible pass fraction, best visible pass fraction, similarity to the original, length
    ratio (to the original), then a one-hot of the last error class (none, assertion, exception,
    syntax, timeout, other). ``"dict"``: ``{"embedding": Box(384), "scalars": Box(5),
    "last_error": Discrete(6)}``. Text (prompt, code, notes) is in ``info``.

    ## Rewards
    On the visible tests: ``delta_pass * (pass - previous pass)`` + ``full_pass_bonus`` on first
    full pass - ``llm_call_cost * llm calls`` - ``growth_cost * growth / original length``
    - ``drift_penalty`` if similarity < threshold - ``invalid_action_penalty`` for a masked action;
    at the end, ``final_pass * hidden pass fraction`` (weight 0 by default).

    ## Starting State
    A task drawn with ``self.np_random`` (or ``options={"task_id": ...}``), its original prompt,
    evaluated once (``info["executions"] == 1``).

    ## Episode End
    Terminates on ``stop`` and, with ``stop_on_pass=True``, when every visible test passes;
    truncated after ``max_steps`` (the same 8 as ``max_episode_steps`` at registration, so the env
    knows its last step). Only then are the hidden tests run; the final info has ``final_passed``
    (= ``hidden_passed``), ``final_pass_fraction`` (= ``hidden_pass_fraction``), ``visible_passed``,
    ``visible_pass_fraction``, ``pass_at_1`` (the original prompt's program passes the hidden tests)
    and ``final_code``.

    ## Arguments
    dataset, split, task_ids, tasks, coder, sandbox, sandbox_kwargs, operators (names or
    Operator instances), embedder ("minilm", or "hash" for a cheap hashed bag-of-words),
    similarity_threshold, rewards, observation ("box" | "dict"), stop_on_pass, max_steps,
    timeout, feedback ("visible" | "all"), render_mode.

    ## Registered Configurations
    ``PromptOpt-MBPP-v1`` (MBPP train) and ``PromptOpt-HumanEval-v1`` (HumanEval test), 8 steps,
    ``feedback="visible"``; the ``-v0`` ids are the same with ``feedback="all"``.

    ## Version History
    * v1: visible tests teach (per-step reward, observation, ``stop_on_pass``, operators, genetic
      fitness, the coder's prompt), hidden tests judge (``final_passed``, ``pass_at_1``, the
      optional ``final_pass`` reward) at the episode's end only; info reports both. The env now
      truncates itself at ``max_steps`` (under either ``feedback``; the registered ids did at the
      same step through ``max_episode_steps``), so it knows when to judge.
    * v0: initial version; the standard tests do everything (``feedback="all"``).

    Example (scripted coder, hashed embedder):
        >>> env = PromptOptEnv(coder="scripted", embedder="hash", task_ids=["MBPP/601"])
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, info["task_id"], info["executions"]
        ((395,), 'MBPP/601', 1)
        >>> obs, reward, terminated, truncated, info = env.step(env.operator_names.index("add_example"))
        >>> "For example" in info["prompt"]
        True
        >>> info["n_visible_tests"], terminated, info["final_passed"]
        (1, True, True)
        >>> env.close()
    """

    def __init__(
        self,
        dataset: str = "mbpp",
        split: str | None = "train",
        task_ids: Sequence[str] | None = None,
        tasks: Sequence[Task] | None = None,
        coder: str | dict[str, Any] | Coder = "llama_cpp",
        sandbox: Any = "process",
        sandbox_kwargs: dict[str, Any] | None = None,
        operators: Sequence[str | Operator] | None = None,
        embedder: Any = "minilm",
        similarity_threshold: float = 0.8,
        rewards: PromptOptRewards | dict[str, float] | None = None,
        observation: str = "box",
        stop_on_pass: bool = True,
        max_steps: int = 8,
        timeout: float = 5.0,
        feedback: str = "visible",
        render_mode: str | None = None,
    ) -> None:
        if dataset == "humaneval" and split == "train":
            split = "test"  # HumanEval has only a test split
        self.split = TestSplit(feedback)
        self.feedback = feedback
        self.tasks = resolve_tasks(dataset, split, task_ids, tasks)
        self._parts = EnvParts(coder, sandbox, sandbox_kwargs)
        self.cache_hits = 0  # generations served from the cache over the env's life (never in infos)
        self.operators: list[Operator] = [
            op if isinstance(op, Operator) else make_operator(op) for op in (operators or BUILTIN_OPERATORS)
        ]
        self.operator_names = [op.name for op in self.operators]
        if len(set(self.operator_names)) != len(self.operator_names):
            raise ValueError(f"Operator names must be unique, got {self.operator_names}")
        check_embedder(embedder)
        self._embedder_spec = embedder
        self._embedder: Any = None
        if not 0.0 <= similarity_threshold <= 1.0:
            raise ValueError(f"similarity_threshold must be in [0, 1], got {similarity_threshold}")
        self.similarity_threshold = similarity_threshold
        self.rewards = coerce_rewards(PromptOptRewards, rewards)
        self._check_modes(observation, render_mode)
        check_int("max_steps", max_steps, 1)
        self.stop_on_pass = stop_on_pass
        self.max_steps, self.timeout = max_steps, check_timeout(timeout)
        self.revert_action, self.stop_action = len(self.operators), len(self.operators) + 1
        self.action_space = spaces.Discrete(len(self.operators) + 2)
        emb = spaces.Box(-1.0, 1.0, (DIM,), np.float32)
        low = np.array([0, 0, 0, -1, 0], np.float32)
        high = np.array([1, 1, 1, 1, _MAX_LENGTH_RATIO], np.float32)
        if observation == "box":
            n = len(ERROR_CLASSES)
            self.observation_space = spaces.Box(
                np.concatenate([emb.low, low, np.zeros(n, np.float32)]),
                np.concatenate([emb.high, high, np.ones(n, np.float32)]), dtype=np.float32,
            )
        else:
            self.observation_space = spaces.Dict({
                "embedding": emb, "scalars": spaces.Box(low, high, dtype=np.float32),
                "last_error": spaces.Discrete(len(ERROR_CLASSES)),
            })
        self._task: Task | None = None

    # -- parts ---------------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        """The sentence embedder (shared per process for a named spec)."""
        if self._embedder is None:
            self._embedder = get_embedder(self._embedder_spec)
        return self._embedder

    def _evaluate(self, prompt: str) -> tuple[ExecutionResult, str]:
        """Write code from ``prompt`` and run the visible tests; cached per episode (same prompt, same code)."""
        if prompt in self._evals:
            return self._evals[prompt]
        assert self._task is not None
        sample = self._parts.coder.write(self._view, prompt=prompt, seed=self._coder_seed)
        if self._view.test_set(self.split.teach):
            result = self._parts.sandbox.run(**self._task.job(sample.code, tests=self.split.teach,
                                                              timeout=self.timeout))
            self._step_cost["executions"] += 1
            if self.split.shared(self._task):  # feedback="all": the same run is also the verdict
                self._judged[sample.code] = result
        else:
            result = self.split.no_visible_result()
        self._step_cost["tokens"] += sample.tokens
        self._step_cost["llm_calls"] += sample.llm_calls
        self.cache_hits += int(sample.cached)  # reported apart: rewards and infos never see the cache
        self._evals[prompt] = (result, sample.code)
        return result, sample.code

    def _context(self) -> MutationContext:
        # Live parts are attached on use, so a pickled env carries only their specs.
        self._ctx.coder, self._ctx.embedder = self._parts.coder, self.embedder
        return self._ctx

    def _fitness(self, prompt: str) -> float:
        # the genetic operator's fitness: the visible pass fraction, never a hidden outcome
        return self._evaluate(prompt)[0].pass_fraction

    def _judge(self, code: str) -> ExecutionResult:
        """``code`` on the judging tests: only at the episode's end (cached per episode)."""
        assert self._task is not None
        if code not in self._judged:
            if not self._ended:
                raise RuntimeError("the judging tests run only once the episode has ended")
            self._judged[code] = self._parts.sandbox.run(**self._task.job(code, tests=self.split.judge,
                                                                          timeout=self.timeout))
            self._step_cost["executions"] += 1
        return self._judged[code]

    def _judgement(self) -> dict[str, Any]:
        """The terminal info: the final code on both sets, the original prompt's program on the judging set."""
        assert self._task is not None
        final, first = self._judge(self._code), self._judge(self._evals[self._task.prompt][1])
        visible = self._result if self._view.test_set(self.split.teach) else None
        return {
            "final_passed": final.passed, "final_pass_fraction": final.pass_fraction,
            "hidden_passed": final.passed, "hidden_pass_fraction": final.pass_fraction,
            "visible_passed": bool(visible is not None and visible.passed),
            "visible_pass_fraction": 0.0 if visible is None else visible.pass_fraction,
            "pass_at_1": first.passed, "final_code": self._code,
        }

    # -- gym API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Pick a task, evaluate its original prompt, return the first observation."""
        super().reset(seed=seed)
        self._task = pick_task(self.tasks, self.np_random, options)
        self._view = self.split.agent_task(self._task)  # what coder and operators may see
        self._judged: dict[str, ExecutionResult] = {}
        self._ended = False
        self._coder_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._evals: dict[str, tuple[ExecutionResult, str]] = {}
        self._totals = {"tokens": 0, "llm_calls": 0, "executions": 0}
        self._step_cost = {"tokens": 0, "llm_calls": 0, "executions": 0}
        self._prompt = self._task.prompt
        self._history: list[str] = []
        self._steps = 0
        self._ctx = MutationContext(
            task=self._view, original=self._task.prompt, rng=self.np_random, evaluate=self._fitness,
            similarity_threshold=self.similarity_threshold,
        )
        self._result, self._code = self._evaluate(self._prompt)
        self._best = self._result.pass_fraction
        self._reached_full = self._result.pass_fraction >= 1.0
        self._last = {"operator": None, "note": "reset", "invalid_action": False}
        self._add_costs()
        return self._obs(), self._info({})

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """Apply one operator (or revert/stop), re-evaluate, return the 5-tuple."""
        if self._task is None:
            raise gym.error.ResetNeeded("Call reset() before step()")
        action = as_action(action, int(self.action_space.n))
        self._steps += 1
        w, parts = self.rewards, dict.fromkeys(
            ("delta_pass", "full_pass_bonus", "llm_cost", "growth", "drift", "invalid_action"), 0.0)
        prev_prompt, prev_pass = self._prompt, self._result.pass_fraction
        terminated, ask_calls, ask_tokens = False, 0, 0
        mask = self.action_masks()
        name = ("revert" if action == self.revert_action else "stop" if action == self.stop_action
                else self.operator_names[action])
        self._last = {"operator": name, "note": "", "invalid_action": False}
        if not mask[action]:
            parts["invalid_action"] = -w.invalid_action_penalty
            self._last.update(note=f"{name} is masked now: no-op", invalid_action=True)
        elif action == self.stop_action:
            terminated = True
            self._last["note"] = "stopped"
        elif action == self.revert_action:
            self._prompt = self._history.pop()
            self._last["note"] = "reverted to the previous prompt"
        else:
            ctx = self._context()
            ctx.current_fitness = self._result.pass_fraction
            res = self.operators[action].apply(self._prompt, ctx)
            ask_calls, ask_tokens = res.llm_calls, res.tokens
            self._last.update(note=res.note, rejected=res.rejected)
            if res.changed and res.prompt != self._prompt:
                self._history.append(self._prompt)
                self._prompt = res.prompt
        self._step_cost["llm_calls"] += ask_calls
        self._step_cost["tokens"] += ask_tokens
        if self._prompt != prev_prompt:
            self._result, self._code = self._evaluate(self._prompt)
        pf = self._result.pass_fraction
        self._best = max(self._best, pf)
        parts["delta_pass"] = w.delta_pass * (pf - prev_pass)
        if pf >= 1.0 and not self._reached_full:
            self._reached_full = True
            parts["full_pass_bonus"] = w.full_pass_bonus
        parts["llm_cost"] = -w.llm_call_cost * self._step_cost["llm_calls"]
        original_len = max(1, len(self._task.prompt))
        parts["growth"] = -w.growth_cost * max(0, len(self._prompt) - len(prev_prompt)) / original_len
        sim = self._similarity()
        if self._prompt != prev_prompt and sim < self.similarity_threshold:
            parts["drift"] = -w.drift_penalty
        if self.stop_on_pass and pf >= 1.0:
            terminated = True
        truncated = not terminated and self._steps >= self.max_steps
        final: dict[str, Any] = {}
        if terminated or truncated:
            self._ended = True  # from here on the hidden tests may run
            final = self._judgement()
            parts["final_pass"] = w.final_pass * final["hidden_pass_fraction"]
        info = {**self._info(parts), **final}
        self._add_costs()
        return self._obs(), float(sum(parts.values())), terminated, truncated, info

    def _add_costs(self) -> None:
        for k, v in self._step_cost.items():
            self._totals[k] += v
            self._step_cost[k] = 0

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the actions that can change something now (sb3-contrib's name)."""
        if self._task is None:
            return np.ones(self.action_space.n, dtype=bool)
        mask = np.zeros(self.action_space.n, dtype=bool)
        ctx = self._context()
        for i, op in enumerate(self.operators):
            mask[i] = op.is_applicable(self._prompt, ctx)
        mask[self.revert_action] = bool(self._history)
        mask[self.stop_action] = True
        return mask

    def _similarity(self) -> float:
        assert self._task is not None
        return 1.0 if self._prompt == self._task.prompt else self.embedder.similarity(self._prompt, self._task.prompt)

    def _obs(self) -> Any:
        assert self._task is not None
        emb = self.embedder.encode([self._prompt])[0].astype(np.float32)
        scalars = np.array([
            min(1.0, self._steps / self.max_steps), self._result.pass_fraction, self._best, self._similarity(),
            min(_MAX_LENGTH_RATIO, len(self._prompt) / max(1, len(self._task.prompt))),
        ], dtype=np.float32)
        err = error_class(self._result)
        if self.observation_mode == "dict":
            return {"embedding": np.clip(emb, -1, 1), "scalars": scalars, "last_error": err}
        onehot = np.zeros(len(ERROR_CLASSES), np.float32)
        onehot[err] = 1.0
        return np.clip(np.concatenate([emb, scalars, onehot]), self.observation_space.low,
                       self.observation_space.high).astype(np.float32)

    def _info(self, parts: dict[str, float]) -> dict[str, Any]:
        assert self._task is not None
        totals = {k: self._totals[k] + self._step_cost[k] for k in self._totals}
        return {
            "task_id": self._task.task_id, "prompt": self._prompt, "code": self._code,
            "pass_fraction": self._result.pass_fraction, "best_pass_fraction": self._best,
            "status": self._result.status, "last_error": ERROR_CLASSES[error_class(self._result)],
            "similarity": self._similarity(), **totals, "action_mask": self.action_masks().astype(np.int8),
            "reward_parts": dict(parts), "rewards": asdict(self.rewards), **self._last,
            "n_visible_tests": len(self._view.test_set(self.split.teach)),
        }

    def _render_text(self) -> str:
        """The prompt's diff from the original, the code and the test outcomes."""
        if self._task is None:
            return "(not reset)\n"
        diff = "\n".join(difflib.unified_diff(self._task.prompt.splitlines(), self._prompt.splitlines(),
                                              "original", "current", lineterm=""))
        tests = " ".join("✓" if t.passed else "✗" for t in self._result.tests)
        return (f"[{self._task.task_id}] step {self._steps} last={self._last.get('operator')} "
                f"pass={self._result.pass_fraction:.2f} ({self._result.status}) {tests}\n"
                f"--- prompt ---\n{diff or self._prompt}\n--- code ---\n{self._code}\n")

    def close(self) -> None:
        """Stop the sandbox if this env started it."""
        self._parts.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "_ctx" in state:
            state["_ctx"] = dataclasses.replace(self._ctx, coder=None, embedder=None)
        if not isinstance(self._embedder_spec, str):
            state["_embedder"] = self._embedder
        else:
            state["_embedder"] = None  # shared per process; looked up again where it lands
        return state
