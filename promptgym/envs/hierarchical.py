"""Hierarchical env: PLAN a composite task, EXECUTE subtasks as Executive episodes, INTEGRATE, EVALUATE."""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np

from evaluators.result import ExecutionResult
from promptgym.coders import Coder
from promptgym.envs._common import EnvParts, check_int, coerce_rewards, resolve_tasks
from promptgym.envs._engine import EpisodeEnv
from promptgym.envs._policies import as_policy
from promptgym.envs.executive import ExecutiveEnv
from promptgym.tasks import Task

__all__ = ["HierarchicalEnv", "HierarchicalRewards", "build_composites", "integrate", "parse_plan"]

PLAN, EXECUTE, INTEGRATE, EVALUATE, REPLAN, STOP = range(6)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\(?\d+[.):]|step\s*\d+[.):]?)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class HierarchicalRewards:
    """Reward weights of :class:`HierarchicalEnv`."""

    evaluate: float = 0.2  # times the gain in best composite visible pass fraction at EVALUATE
    final: float = 1.0  # times the final code's composite hidden pass fraction at STOP/truncation
    step_cost: float = 0.01
    llm_call_cost: float = 0.0
    invalid_action: float = -0.05


def build_composites(tasks: Sequence[Task], per: int, n: int, seed: int = 0) -> list[tuple[Task, tuple[Task, ...]]]:
    """``n`` composite tasks of ``per`` distinct tasks each, drawn with a seeded rng (deterministic)."""
    if per < 1:
        raise ValueError(f"tasks_per_composite must be >= 1, got {per}")
    if per > len(tasks):
        raise ValueError(f"tasks_per_composite={per} exceeds the {len(tasks)} tasks available")
    rng = np.random.default_rng(seed)
    out: list[tuple[Task, tuple[Task, ...]]] = []
    seen: set[str] = set()
    for _ in range(n * 4):  # a few redraws to avoid duplicate composites
        if len(out) >= n:
            break
        parts = tuple(tasks[i] for i in sorted(rng.choice(len(tasks), size=per, replace=False)))
        comp = composite(parts)
        if comp.task_id not in seen:
            seen.add(comp.task_id)
            out.append((comp, parts))
    return out


def composite(parts: Sequence[Task]) -> Task:
    """One task asking for all ``parts``' functions: union of each test set, setups concatenated."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    prefix = first.task_id.split("/")[0]
    ids = "+".join(p.task_id.split("/")[-1] for p in parts)
    prompt = "Write the following functions.\n" + "\n".join(f"{i + 1}. {p.prompt}" for i, p in enumerate(parts))
    setups = list(dict.fromkeys(p.setup for p in parts if p.setup.strip()))
    return Task(task_id=f"{prefix}/composite/{ids}", prompt=prompt, entry_point=first.entry_point,
                tests=tuple(t for p in parts for t in p.tests), setup="\n".join(setups),
                reference=integrate([p.reference for p in parts], [p.entry_point for p in parts]),
                dataset=first.dataset, split=first.split,
                visible_tests=tuple(t for p in parts for t in p.visible_tests),
                hidden_tests=tuple(t for p in parts for t in p.hidden_tests))


def parse_plan(text: str, expected: int) -> list[str] | None:
    """One subtask per non-empty line (bullets/numbering stripped); None unless exactly ``expected``."""
    lines = [_BULLET.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if len(line) > 3]
    return lines if len(lines) == expected else None


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def _def(self, node: Any) -> Any:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self.mapping.get(n, n) for n in node.names]
        return node


def _top_names(tree: ast.Module) -> dict[str, str]:
    """Top-level defined name -> its source (functions, classes, simple assignments)."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = ast.unparse(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = ast.unparse(node)
    return names


def integrate(solutions: Sequence[str], entry_points: Sequence[str]) -> str:
    """Merge sub-solutions into one module; clashing helper names are renamed consistently (ast).

    A top-level name defined by several solutions with different code is renamed ``name_<i>``
    in the i-th solution (definition and uses), unless it is an entry point the tests call.
    Identical duplicate definitions are kept once. Unparsable solutions are kept verbatim.
    """
    protected = set(entry_points)
    trees: list[ast.Module | None] = []
    for src in solutions:
        try:
            with warnings.catch_warnings():  # dataset code has invalid escapes; not ours to report
                warnings.simplefilter("ignore", SyntaxWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                trees.append(ast.parse(src))
        except SyntaxError:
            trees.append(None)
    owner: dict[str, str] = {}  # name -> source of the first definition
    chunks: list[str] = []
    for i, (src, tree) in enumerate(zip(solutions, trees)):
        if tree is None:
            chunks.append(src.strip())
            continue
        mapping: dict[str, str] = {}
        drop: set[str] = set()
        for name, code in _top_names(tree).items():
            if name not in owner:
                owner[name] = code
            elif owner[name] == code:
                drop.add(name)  # same definition already in the module
            elif name not in protected:
                mapping[name] = f"{name}_{i}"
        if drop:
            tree.body = [n for n in tree.body if not (
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name in drop)]
        if mapping:
            tree = _Rename(mapping).visit(tree)
        chunks.append(ast.unparse(tree))
    return "\n\n".join(c for c in chunks if c) + "\n"


class HierarchicalEnv(EpisodeEnv):
    """Plan -> execute -> integrate -> evaluate on composite tasks built from several MBPP tasks.

    ## Description
    Each episode is a composite task (``MBPP/composite/11+12+13``: one prompt asking for all the
    parts' functions, the union of their visible, hidden and standard tests, their setups
    concatenated), built deterministically with a seeded rng from the split's tasks;
    ``tasks_per_composite=1`` gives the single-task case. The high-level agent plans subtasks,
    runs each as an Executive episode driven by ``executive_policy``, merges the sub-solutions and
    evaluates them on the composite's visible tests; the hidden tests judge the final code at the
    episode's end, and nothing sees them before (``feedback="visible"``, ``-v1``). Sub-episodes get
    the subtask's visible view, so their own verdict (``sub_passed``) is on the visible tests too.
    With ``feedback="all"`` (``-v0``) the standard tests do both, as before the split.

    ## Action Space
    ``Discrete(6)``: 0 PLAN (``coder.ask`` splits the prompt, one subtask per line; falls back to the
    known parts when the plan does not have one line per part), 1 EXECUTE (the next subtask as an
    internal :class:`ExecutiveEnv` with the same coder & sandbox), 2 INTEGRATE (merge, renaming
    clashing helpers via ast), 3 EVALUATE (the composite's visible tests in the sandbox), 4 REPLAN
    (after a failed evaluation: a new plan, sub-solutions cleared), 5 STOP. Masks follow that order; STOP is always
    allowed; a masked action is a no-op with ``rewards.invalid_action`` and ``info["invalid_action"]``.

    ## Observation Space
    ``"box"``: float32 ``Box(0, 1)``: step fraction, has plan, plan fell back, executed fraction,
    integrated, evaluated, last visible pass fraction, best visible pass fraction, replans
    (normalised), mean sub-episode (visible) pass, then the last action one-hot (7). ``"dict"``:
    ``{"state", "last_action"}``.

    ## Rewards
    :class:`HierarchicalRewards`: ``evaluate`` x gain in best composite visible pass fraction at
    EVALUATE, ``final`` x composite hidden pass fraction of the final code at STOP/truncation,
    ``-step_cost`` per step, ``-llm_call_cost`` per LLM call, ``invalid_action``; parts in
    ``info["reward_parts"]``.

    ## Starting State
    A composite drawn with ``np_random`` (or ``options={"task_id": ...}``); no plan.

    ## Episode End
    Terminated on STOP, truncated after ``max_steps``; only then are the hidden tests run. The
    final info has ``final_passed`` (= ``hidden_passed``), ``final_pass_fraction`` (=
    ``hidden_pass_fraction``), ``visible_passed``, ``visible_pass_fraction``,
    ``solved_within_episode`` (an evaluated program or the final code passes the hidden tests) and
    ``pass_at_1`` (the first integrated program passes the hidden tests). EVALUATE is masked on a
    composite without visible tests (``info["n_visible_tests"] == 0``).

    ## Arguments
    ``dataset, split, task_ids, tasks, coder, sandbox, sandbox_kwargs, embedder, tasks_per_composite
    (2), n_composites (50), composite_seed, executive_policy (callable or SB3-like), executive_kwargs,
    rewards, observation, max_steps, max_replans, timeout, feedback ("visible"|"all"), render_mode``.

    ## Registered Configurations
    ``Hierarchical-MBPP-v1`` (MBPP train split, 10 steps, ``feedback="visible"``);
    ``Hierarchical-MBPP-v0`` is the same with ``feedback="all"``.

    ## Version History
    * v1: visible tests teach (EVALUATE, its reward, sub-episodes and their ``sub_passed``), hidden
      tests judge (``final`` reward, ``final_passed``, ``pass_at_1``) at the episode's end only.
    * v0: first version; the standard tests both teach and judge (``feedback="all"``).

    >>> from promptgym.coders.scripted import ScriptedCoder
    >>> env = HierarchicalEnv(task_ids=["MBPP/601", "MBPP/602"], coder=ScriptedCoder(), embedder="hash")
    >>> _ = env.reset(seed=0)
    >>> for a in (PLAN, EXECUTE, EXECUTE, INTEGRATE, EVALUATE):
    ...     _, r, term, trunc, info = env.step(a)
    >>> info["pass_fraction"]
    1.0
    >>> info = env.step(STOP)[4]
    >>> info["final_passed"], info["visible_passed"]
    (True, True)
    >>> env.close()
    """

    ACTIONS = ("PLAN", "EXECUTE", "INTEGRATE", "EVALUATE", "REPLAN", "STOP")

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
        tasks_per_composite: int = 2,
        n_composites: int = 50,
        composite_seed: int = 0,
        executive_policy: Any = None,
        executive_kwargs: dict[str, Any] | None = None,
        rewards: HierarchicalRewards | dict[str, float] | None = None,
        observation: str = "box",
        max_steps: int = 10,
        max_replans: int = 1,
        timeout: float = 5.0,
        feedback: str = "visible",
        render_mode: str | None = None,
    ) -> None:
        if dataset == "humaneval" and split == "train":
            split = "test"
        for name, value, minimum in (("tasks_per_composite", tasks_per_composite, 1),
                                     ("n_composites", n_composites, 1), ("max_replans", max_replans, 0)):
            check_int(name, value, minimum)
        pool = resolve_tasks(dataset, split, task_ids, tasks)
        per = min(tasks_per_composite, len(pool))
        built = build_composites(pool, per, n_composites, composite_seed)
        self._subtasks = {comp.task_id: parts for comp, parts in built}
        self.rewards = coerce_rewards(HierarchicalRewards, rewards)
        self._init_engine([c for c, _ in built], EnvParts(coder, sandbox, sandbox_kwargs), max_steps, observation,
                          render_mode, timeout, feedback)
        self.embedder, self.max_replans = embedder, max_replans
        self.tasks_per_composite = per
        as_policy(executive_policy)  # fails now, not at the first EXECUTE
        self.executive_policy = executive_policy
        self.executive_kwargs = dict(executive_kwargs or {})
        # A sub-episode env built now from the same arguments checks embedder and executive_kwargs.
        self._executive_env(pool[0], coder, sandbox).close()
        state = gym.spaces.Box(0.0, 1.0, shape=(10 + len(self.ACTIONS) + 1,), dtype=np.float32)
        self.observation_space = state if observation == "box" else gym.spaces.Dict(
            {"state": state, "last_action": gym.spaces.Discrete(len(self.ACTIONS) + 1)})

    def _start_episode(self, options: dict[str, Any]) -> None:
        assert self.task is not None
        self.parts_of: tuple[Task, ...] = self._subtasks[self.task.task_id]
        self.plan: list[str] | None = None
        self.plan_fallback = False
        self.solutions: list[str | None] = []
        self.sub_passed: list[bool] = []
        self.code: str | None = None
        self.result: ExecutionResult | None = None  # the current code on the visible tests
        self.first_code: str | None = None
        self.evaluated: list[str] = []  # programs EVALUATEd, judged at the end
        self.last_action = -1
        self.replans = 0
        self.last_pf = self.best_pf = 0.0

    def _valid_actions(self) -> np.ndarray:
        executed = self.plan is not None and all(s is not None for s in self.solutions)
        evaluated_fail = self.result is not None and not self.result.passed
        return np.array([
            self.plan is None,
            self.plan is not None and not executed,
            executed and self.code is None,
            self.code is not None and self.result is None and self.n_visible_tests > 0,
            evaluated_fail and self.replans < self.max_replans,
            True,
        ], dtype=bool)

    def _make_plan(self) -> None:
        assert self.task is not None
        instruction = ("Decompose this programming task into one subtask per line, one line per function "
                       f"to write, nothing else.\n\n{self.task.prompt}")
        reply = self._parts.coder.ask(instruction, seed=self._next_seed())
        self._charge(reply.tokens, reply.llm_calls, reply.cached)
        k = len(self.parts_of)
        plan = parse_plan(reply.text, k) if k > 1 else [self.task.prompt]
        self.plan_fallback = plan is None
        self.plan = plan if plan is not None else [p.prompt for p in self.parts_of]
        self.solutions = [None] * k
        self.sub_passed = [False] * k
        self.code, self.result = None, None

    def _execute_next(self) -> None:
        assert self.plan is not None
        i = self.solutions.index(None)
        part = self.parts_of[i]
        # same id and tests, the planned wording; under feedback="visible" the visible view, so the
        # sub-episode's verdict (sub_passed, seen by this env's agent) is on visible tests too
        sub = replace(self.split.agent_task(part), prompt=self.plan[i])
        env = self._executive_env(sub, self._parts.coder, self._parts.sandbox)
        policy = as_policy(self.executive_policy)
        obs, info = env.reset(seed=self._next_seed())
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(policy(obs, info))
            done = term or trunc
        self._charge(env._tokens, env._llm_calls, env.cache_hits)
        self._executions += env._executions
        self.solutions[i] = env.code or ""
        self.sub_passed[i] = bool(info.get("final_passed"))
        self._log.append(f"{self._steps}: EXECUTE {part.task_id} -> {'pass' if self.sub_passed[i] else 'fail'} "
                         f"({env._steps} steps)")

    def _executive_env(self, task: Task, coder: Any, sandbox: Any) -> ExecutiveEnv:
        """The Executive env of one subtask, with this env's coder, sandbox and executive_kwargs."""
        kwargs = {"embedder": self.embedder, "timeout": self.timeout, "feedback": self.feedback,
                  **self.executive_kwargs}
        return ExecutiveEnv(tasks=[task], coder=coder, sandbox=sandbox, **kwargs)

    def _apply(self, action: int) -> tuple[dict[str, float], bool]:
        parts: dict[str, float] = {}
        calls_before = self._llm_calls
        if action in (PLAN, REPLAN):
            if action == REPLAN:
                self.replans += 1
            self._make_plan()
            self._log.append(f"{self._steps}: {self.ACTIONS[action]} ({len(self.plan or [])} subtasks"
                             f"{', fallback' if self.plan_fallback else ''})")
        elif action == EXECUTE:
            self._execute_next()
        elif action == INTEGRATE:
            self.code = integrate([s or "" for s in self.solutions], [p.entry_point for p in self.parts_of])
            self.result = None
            if self.first_code is None:
                self.first_code = self.code
            self._log.append(f"{self._steps}: INTEGRATE")
        elif action == EVALUATE:
            assert self.code is not None
            self.result = self._run_teach(self.code)
            self.evaluated.append(self.code)
            self.last_pf = self.result.pass_fraction
            gain = max(0.0, self.last_pf - self.best_pf)
            self.best_pf = max(self.best_pf, self.last_pf)
            parts["evaluate"] = self.rewards.evaluate * gain
            self._log.append(f"{self._steps}: EVALUATE -> {self.result.status} ({self.last_pf:.2f})")
        else:
            self._log.append(f"{self._steps}: STOP")
        self.last_action = action
        if self._llm_calls > calls_before and self.rewards.llm_call_cost:
            parts["llm_call_cost"] = -self.rewards.llm_call_cost * (self._llm_calls - calls_before)
        return parts, action == STOP

    def _finish(self, truncated: bool) -> tuple[dict[str, float], dict[str, Any]]:
        # The episode has ended: only now are the hidden tests run (reusing runs under feedback="all").
        info = self._judgement(self.code, self.first_code, self.result, self.evaluated)
        return {"final": self.rewards.final * info["final_pass_fraction"]}, info

    def _state(self) -> Any:
        k = max(1, len(self.parts_of))
        done = sum(s is not None for s in self.solutions)
        scalars = [
            self._steps / self.max_steps, float(self.plan is not None), float(self.plan_fallback), done / k,
            float(self.code is not None), float(self.result is not None), self.last_pf, self.best_pf,
            self.replans / max(1, self.max_replans), sum(self.sub_passed) / k,
        ]
        act = np.zeros(len(self.ACTIONS) + 1, dtype=np.float32)
        act[self.last_action + 1] = 1.0
        state = np.clip(np.concatenate([np.asarray(scalars, dtype=np.float32), act]), 0.0, 1.0)
        if self.observation_mode == "box":
            return state
        return {"state": state, "last_action": self.last_action + 1}

    def _progress_info(self) -> dict[str, Any]:
        return {"pass_fraction": self.last_pf, "passed": bool(self.result is not None and self.result.passed),
                "plan": list(self.plan or []), "plan_fallback": self.plan_fallback,
                "subtasks": [p.task_id for p in self.parts_of], "sub_passed": list(self.sub_passed),
                "code": self.code or ""}

    def _render_body(self) -> str:
        out = ["plan:"] + [f"  {i + 1}. {line}" for i, line in enumerate(self.plan or [])]
        out += ["code:", self.code or "(none)"]
        if self.result is not None:
            out.append("tests: " + " ".join("P" if t.passed else "F" for t in self.result.tests)
                       + f"  [{self.result.status}]")
        return "\n".join(out)
