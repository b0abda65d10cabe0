"""Execution results: plain data, never exceptions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "error", "timeout", "memory", "killed"]
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "timeout", "memory", "killed")


@dataclass(frozen=True)
class TestOutcome:
    """The outcome of one test snippet."""

    passed: bool
    error: str = ""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class ExecutionResult:
    """What running one program against its tests produced.

    ``status`` is "passed" only if every test ran and passed; "failed" if the program ran but a
    test failed; "error" if the program or setup could not run (syntax error, exception at import,
    bad input); "timeout", "memory" and "killed" when a limit or a signal ended the run.
    """

    status: Status
    tests: tuple[TestOutcome, ...] = ()
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def passed(self) -> bool:
        """True only if every test ran and passed."""
        return self.status == "passed"

    @property
    def n_passed(self) -> int:
        """Number of tests that passed."""
        return sum(t.passed for t in self.tests)

    @property
    def pass_fraction(self) -> float:
        """Fraction of tests that passed (0.0 when there are none)."""
        return self.n_passed / len(self.tests) if self.tests else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["tests"] = tuple(TestOutcome(**t) for t in data.get("tests", ()))
        return cls(**data)
