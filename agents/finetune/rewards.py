"""Execution rewards in TRL's reward-function signature, judged by the project's sandbox on hidden tests.

Any TRL trainer that takes ``reward_funcs`` (GRPO, RLOO, online DPO...) can use :class:`ExecutionReward`:
it is a callable ``reward(completions, **kwargs) -> list[float | None]`` that reads the dataset's
``task_id`` column (TRL passes every dataset column as a keyword), extracts the code with the LLM
layer's :func:`promptgym.llm.extract_code`, sends the whole batch through ``Sandbox.run_many`` at once
(concurrent workers, and the :class:`evaluators.ResultCache`), and adds up the parts below.

Reward of one completion (the weights are :class:`RewardWeights`, all configurable):

====================  ===========================================================================
part                  value
====================  ===========================================================================
``pass_fraction``     ``pass_fraction * (hidden tests passed / hidden tests)``
``all_pass``          ``all_pass_bonus`` when every hidden test passed
``syntax``            ``syntax_error_penalty`` (<= 0) when no code could be extracted or it does not
                      parse (such programs are not sent to the sandbox)
``timeout``           ``timeout_penalty`` (<= 0) when the run hit its time limit
``quality``           ``quality * quality_score`` (see :mod:`agents.finetune.quality`); 0 by default
====================  ===========================================================================

The judge compares values on the trusted side as plain data, so a program that returns an object
whose ``__eq__`` always says True (test gaming) passes nothing and earns no pass reward.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PARTS", "ExecutionReward", "RewardWeights", "completion_text", "judge_job"]

PARTS = ("pass_fraction", "all_pass", "syntax", "timeout", "quality")


def judge_job(task: Any, program: str, **limits: Any) -> dict[str, Any]:
    """``Sandbox.run``/``run_many`` keyword arguments that judge ``program`` on the task's hidden tests."""
    return task.job(program, tests="hidden", **limits)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a plain string, or a conversation's assistant messages joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence):
        return "\n".join(str(m.get("content") or "") for m in completion
                         if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    return str(completion)


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the execution reward's parts (see the module docstring for the table).

    Attributes:
        pass_fraction: Weight of the hidden-test pass fraction (0..1).
        all_pass_bonus: Added when every hidden test passes.
        syntax_error_penalty: Added (use a value <= 0) when no parsable code came out of the completion.
        timeout_penalty: Added (use a value <= 0) when the program ran past its time limit.
        quality: Weight of the code-quality score (0..1); 0 turns the quality term off (and skips the linter).
    """

    pass_fraction: float = 1.0
    all_pass_bonus: float = 0.5
    syntax_error_penalty: float = -0.5
    timeout_penalty: float = -0.5
    quality: float = 0.0

    def __post_init__(self) -> None:
        if self.syntax_error_penalty > 0 or self.timeout_penalty > 0:
            raise ValueError("syntax_error_penalty and timeout_penalty are penalties: give values <= 0 "
                             f"(got {self.syntax_error_penalty} and {self.timeout_penalty})")
        if self.pass_fraction < 0 or self.all_pass_bonus < 0 or self.quality < 0:
            raise ValueError("pass_fraction, all_pass_bonus and quality are weights of good outcomes: give values >= 0")


@dataclass
class RewardStats:
    """Counters over the reward function's life (the benchmark reads them)."""

    calls: int = 0
    completions: int = 0
    executions: int = 0  # jobs sent to Sandbox.run_many (cache hits included)
    sandbox_runs: int = 0  # jobs the sandbox really ran (cache misses); equals executions without a cache
    extraction_failures: int = 0
    syntax_errors: int = 0
    timeouts: int = 0
    execution_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)  # one row of means per call


class ExecutionReward:
    """TRL reward function: execution reward of each completion on its task's hidden tests.

    Args:
        tasks: The tasks the dataset's ``task_id`` column refers to.
        weights: The parts' weights.
        sandbox: A :class:`evaluators.Sandbox`; by default one is started on first use (with ``workers``
            workers and an in-memory :class:`evaluators.ResultCache`) and closed by :meth:`close`.
        workers: Sandbox workers when this reward starts its own sandbox.
        timeout: Seconds per program.
        name: The name TRL logs the reward under (``rewards/<name>/mean``).
    """

    def __init__(self, tasks: Iterable[Any], weights: RewardWeights | None = None, sandbox: Any = None,
                 workers: int | None = None, timeout: float = 5.0, name: str = "execution") -> None:
        self.tasks = {t.task_id: t for t in tasks}
        if not self.tasks:
            raise ValueError("ExecutionReward needs the tasks its dataset's task_id column names; got none")
        self.weights = weights or RewardWeights()
        self.timeout = float(timeout)
        self.workers = workers
        self.__name__ = name  # TRL names reward functions by __name__
        self._sandbox = sandbox
        self._owns_sandbox = sandbox is None
        self._lock = threading.Lock()
        self.stats = RewardStats()
        self.constants: dict[str, float] = {}  # logged with every call (the trainer puts reward weights here)

    # -- the sandbox -------------------------------------------------------------------------------
    @property
    def sandbox(self) -> Any:
        """The sandbox judging the programs (started on first use)."""
        with self._lock:
            if self._sandbox is None:
                from evaluators import ResultCache, Sandbox

                self._sandbox = Sandbox(workers=self.workers, cache=ResultCache())
            return self._sandbox

    def close(self) -> None:
        """Stop the sandbox if this reward started it."""
        if self._owns_sandbox and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __getstate__(self) -> dict[str, Any]:  # deep copies (TRL, accelerate) must not copy live workers
        state = self.__dict__.copy()
        state.update(_sandbox=None if self._owns_sandbox else self._sandbox, _lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- scoring -----------------------------------------------------------------------------------
    def _task(self, task_id: Any) -> Any:
        try:
            return self.tasks[task_id]
        except KeyError:
            from promptgym.error import TaskNotFound, did_you_mean

            raise TaskNotFound(f"reward asked for task {task_id!r}, which was not given to ExecutionReward."
                               f"{did_you_mean(str(task_id), self.tasks)}") from None

    def score(self, completions: Sequence[Any], task_ids: Sequence[Any],
              prompts: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Every completion's reward parts and total (``{"reward", "parts", "status", "code", "issues"}``)."""
        from promptgym.llm import extract_code
        from promptgym.llm.extract import parses

        tasks = [self._task(t) for t in task_ids]
        rows: list[dict[str, Any]] = []
        for i, (c, task) in enumerate(zip(completions, tasks)):
            chat_prompt = prompts is not None and not isinstance(prompts[i], str)
            prefix = task.code_prefix if (task.code_prefix and not chat_prompt) else ""
            ex = extract_code(completion_text(c), task.entry_point, prefix=prefix)
            ok = bool(ex.code.strip()) and parses(ex.code)
            rows.append({"code": ex.code, "issues": list(ex.issues), "status": "unparsed",
                         "extracted": bool(ex.code.strip()) and ex.entry_point_found, "parses": ok, "result": None})
        todo = [i for i, r in enumerate(rows) if r["parses"]]
        t0 = time.perf_counter()
        sb = self.sandbox
        misses0 = sb.cache.misses if sb.cache is not None else 0
        results = sb.run_many([judge_job(tasks[i], rows[i]["code"], timeout=self.timeout) for i in todo])
        elapsed = time.perf_counter() - t0
        for i, res in zip(todo, results):
            rows[i].update(status=res.status, result=res)
        quality = [0.0] * len(rows)
        if self.weights.quality > 0:
            from agents.finetune.quality import quality_scores

            quality = [q.score for q in quality_scores([r["code"] for r in rows], [r["result"] for r in rows])]
        w = self.weights
        for r, q in zip(rows, quality):
            res = r.pop("result")
            parts = dict.fromkeys(PARTS, 0.0)
            if not r["parses"]:
                parts["syntax"] = w.syntax_error_penalty
            else:
                parts["pass_fraction"] = w.pass_fraction * res.pass_fraction
                parts["all_pass"] = w.all_pass_bonus if res.passed else 0.0
                parts["timeout"] = w.timeout_penalty if res.status == "timeout" else 0.0
            parts["quality"] = w.quality * q
            r.update(parts=parts, reward=float(sum(parts.values())), quality_score=q)
        with self._lock:
            s = self.stats
            s.calls += 1
            s.completions += len(rows)
            s.executions += len(todo)
            s.sandbox_runs += (sb.cache.misses - misses0) if sb.cache is not None else len(todo)
            s.extraction_failures += sum(not r["extracted"] for r in rows)
            s.syntax_errors += sum(not r["parses"] for r in rows)
            s.timeouts += sum(r["status"] == "timeout" for r in rows)
            s.execution_s += elapsed
        return rows

    def __call__(self, completions: list[Any], task_id: list[Any] | None = None, prompts: list[Any] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **kwargs: Any) -> list[float | None]:
        """TRL's reward signature; ``task_id`` is the dataset column naming each completion's task."""
        if task_id is None:
            raise ValueError("ExecutionReward needs a 'task_id' column in the training dataset (TRL passes dataset "
                             "columns to reward functions); build the dataset with agents.finetune.prompt_dataset")
        rows = self.score(completions, task_id, prompts)
        n = max(1, len(rows))
        means = {f"exec/{p}": sum(r["parts"][p] for r in rows) / n for p in PARTS}
        means.update({
            "exec/reward": sum(r["reward"] for r in rows) / n,
            "exec/pass_rate": sum(r["status"] == "passed" for r in rows) / n,
            "exec/extraction_failure_rate": sum(not r["extracted"] for r in rows) / n,
            "exec/syntax_error_rate": sum(not r["parses"] for r in rows) / n,
            "exec/timeout_rate": sum(r["status"] == "timeout" for r in rows) / n,
            "exec/executions": float(self.stats.executions),
            "exec/extraction_failures": float(self.stats.extraction_failures),
        })
        means.update(self.constants)
        if self.weights.quality > 0:
            means["exec/quality_score"] = sum(r["quality_score"] for r in rows) / n
        with self._lock:
            self.stats.history.append(means)
        if log_metric is not None:  # TRL >= 1.x: averaged per logging step beside its own metrics
            for key, value in means.items():
                log_metric(key, value)
        return [r["reward"] for r in rows]

    def config(self) -> dict[str, Any]:
        """The weights and limits (for run configs and reports)."""
        return {"weights": asdict(self.weights), "timeout": self.timeout, "n_tasks": len(self.tasks)}

    def __repr__(self) -> str:
        return f"ExecutionReward({len(self.tasks)} tasks, {self.weights})"
