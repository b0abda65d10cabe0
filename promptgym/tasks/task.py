"""The one task record every dataset loader produces."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

TEST_SETS = ("hidden", "visible", "all")
"""The test sets :meth:`Task.job` can judge with."""


@dataclass(frozen=True)
class Task:
    """A programming task: what to write, what the agent may run, and how it is judged.

    Three test sets, each a tuple of self-contained snippets (one assert, or one block):

    * ``visible_tests`` teach: what an agent may see and run during an episode (RUN_TESTS, DEBUG
      feedback, PromptOpt's per-step reward, the genetic operator's fitness). MBPP: the first
      assert of ``test_list``; HumanEval: the docstring's ``>>>`` examples as asserts (empty for
      89 of the 164 tasks: 88 have none, HumanEval/116's are wrong).
    * ``hidden_tests`` judge: the terminal verdict, ``final_passed``, ``pass_at_1``, success
      figures. MBPP: all of ``test_list`` plus ``challenge_test_list``; HumanEval: ``check()``
      split into its asserts. Hidden tests may repeat visible ones (MBPP's first assert is both).
    * ``tests`` is the dataset's standard, pre-split judging set, as published pass@k judges:
      MBPP's ``test_list``, HumanEval's whole ``check()`` block. Old callers keep working on it,
      the ``-v0`` envs (``feedback="all"``) both teach and judge with it, and ``promptgym
      evaluate`` judges with it so its MBPP pass@k stays comparable with published figures.

    Loaders that know no split leave ``visible_tests``/``hidden_tests`` out (None): then the
    first test is visible and every test judges. A given empty tuple stays empty.

    Attributes:
        task_id: Unique id, e.g. ``"MBPP/11"`` or ``"HumanEval/0"``.
        prompt: The natural-language task (MBPP's text; HumanEval's signature and docstring).
        entry_point: Name of the function the tests call.
        tests: The standard judging set (see above).
        setup: Trusted task code the tests use, run on the judge's side (MBPP's ``test_setup_code`` and
            imports, HumanEval's prompt helpers).
        reference: A reference solution, a whole program that passes every test set.
        dataset: ``"mbpp"``, ``"mbpp-sanitized"``, ``"humaneval"`` or a custom name.
        split: ``"prompt"``, ``"test"``, ``"validation"``, ``"train"`` (or ``"test"`` for HumanEval).
        code_prefix: Text a completion model continues (HumanEval's prompt); empty for MBPP.
        kind: ``"function"`` (tests call ``entry_point``) or ``"stdio"`` (a script judged on its output).
        visible_tests: The tests an agent may see and run (see above).
        hidden_tests: The tests that judge (see above).
    """

    task_id: str
    prompt: str
    entry_point: str
    tests: tuple[str, ...]
    setup: str = ""
    reference: str = ""
    dataset: str = ""
    split: str = ""
    code_prefix: str = ""
    kind: str = "function"
    visible_tests: tuple[str, ...] = None  # type: ignore[assignment]  # None: filled in by __post_init__
    hidden_tests: tuple[str, ...] = None  # type: ignore[assignment]
    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        # Tuples always: a Task is hashed (lru_cache keys) and must not change under its users.
        tests = tuple(self.tests)
        visible = tests[:1] if self.visible_tests is None else tuple(self.visible_tests)
        hidden = tests if self.hidden_tests is None else tuple(self.hidden_tests)
        for name, value in (("tests", tests), ("visible_tests", visible), ("hidden_tests", hidden)):
            if not all(isinstance(t, str) for t in value):
                raise TypeError(f"Task {self.task_id!r}: {name} must hold code strings")
            object.__setattr__(self, name, value)

    def test_set(self, tests: str = "all") -> tuple[str, ...]:
        """The snippets of one test set: ``"hidden"``, ``"visible"`` or ``"all"`` (= ``tests``)."""
        if tests not in TEST_SETS:
            from promptgym.error import unknown

            raise ValueError(str(unknown("test set", str(tests), TEST_SETS)))
        return {"hidden": self.hidden_tests, "visible": self.visible_tests, "all": self.tests}[tests]

    def job(self, program: str, tests: str = "all", **limits: Any) -> dict[str, Any]:
        """Keyword arguments for ``Sandbox.run``/``run_many`` that judge ``program`` on one test set.

        Args:
            program: The program to judge.
            tests: ``"all"`` (default: the standard set, ``tests``, so callers written before the
                split judge as before), ``"hidden"`` (what judges an env episode) or ``"visible"``
                (what an agent may run). A set may be empty (a HumanEval task without examples has
                no visible tests); the sandbox then answers status "error", "no tests".
            **limits: ``timeout``, ``memory_mb``.
        """
        return {"program": program, "tests": list(self.test_set(tests)), "setup": self.setup,
                "entry_point": self.entry_point, **limits}

    def visible_view(self) -> Task:
        """This task as an agent may see it: every test set is the visible one.

        What the envs hand to coders, mutation operators and Hierarchical's sub-episodes under
        ``feedback="visible"``: a template that prints ``tests`` (MBPP's) shows only the visible
        ones, and nothing holding the view can read, run or be judged on a hidden test.
        """
        return replace(self, tests=self.visible_tests, hidden_tests=self.visible_tests)
