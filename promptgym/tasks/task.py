"""The one task record every dataset loader produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    """A programming task: what to write and how it is judged.

    Attributes:
        task_id: Unique id, e.g. ``"MBPP/11"`` or ``"HumanEval/0"``.
        prompt: The natural-language task (MBPP's text; HumanEval's signature and docstring).
        entry_point: Name of the function the tests call.
        tests: Test snippets, each one assert or one block (HumanEval's ``check``).
        setup: Trusted task code the tests use, run on the judge's side (MBPP's ``test_setup_code`` and
            imports, HumanEval's prompt helpers).
        reference: A reference solution, a whole program that passes ``tests``.
        dataset: ``"mbpp"``, ``"mbpp-sanitized"``, ``"humaneval"`` or a custom name.
        split: ``"prompt"``, ``"test"``, ``"validation"``, ``"train"`` (or ``"test"`` for HumanEval).
        code_prefix: Text a completion model continues (HumanEval's prompt); empty for MBPP.
        kind: ``"function"`` (tests call ``entry_point``) or ``"stdio"`` (a script judged on its output).
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
    __test__ = False  # not a pytest class

    def job(self, program: str, **limits: Any) -> dict[str, Any]:
        """Keyword arguments for ``Sandbox.run``/``run_many`` that judge ``program`` on this task."""
        return {"program": program, "tests": list(self.tests), "setup": self.setup,
                "entry_point": self.entry_point, **limits}
