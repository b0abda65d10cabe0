"""Tests rewritten so that a run cannot tell, from what it is asked, whether its answers were right.

A test that stops at its first failed assertion tells the program which answer was wrong: the calls
after it never come. A run that can carry a few bits to a later run (host-wide kernel counters; see
the threat model) could then learn, over several runs, which of its guesses a test accepts. So the
judge runs a rewritten copy of each test (the caller's source is never changed):

* an ``assert`` records its failure and the test goes on; the test fails at its end with the first
  failure recorded, the message Python would have given;
* the assertion's message is evaluated whether the assertion holds or not (HumanEval's messages call
  the candidate again);
* ``and``/``or`` inside an assertion evaluate every operand, then give Python's answer;
  ``all``/``any`` inside an assertion consume the whole iterable, then give Python's answer.

An exception the program's own value causes (``tuple(None)``) still ends that assertion early: the
program knows what it returned. Asserts inside ``try`` or ``with`` keep raising, since the test may
catch them on purpose; control flow the test writes itself (``if``) is left as it is.
"""

from __future__ import annotations

import ast

CHECK, EAGER_AND, EAGER_OR, EAGER_ALL, EAGER_ANY = "_pg_check", "_pg_and", "_pg_or", "_pg_all", "_pg_any"
"""Names of the judge's helpers in the test namespace: ``CHECK(test, message)`` replaces ``assert``."""


class _Eager(ast.NodeTransformer):
    """Inside one assertion: ``and``/``or``/``all``/``any`` that evaluate everything."""

    def __init__(self, shadowed: frozenset[str]) -> None:
        self.shadowed = shadowed

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node  # a lambda's body runs when the test calls it, not as part of the assertion

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        helper = EAGER_AND if isinstance(node.op, ast.And) else EAGER_OR
        return ast.Call(ast.Name(helper, ast.Load()), [_thunk(v) for v in node.values], [])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("all", "any") and node.func.id not in self.shadowed \
                and len(node.args) == 1 and not node.keywords:
            node.func = ast.Name(EAGER_ALL if node.func.id == "all" else EAGER_ANY, ast.Load())
        return node


def _thunk(expr: ast.expr) -> ast.Lambda:
    return ast.Lambda(ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                                    kwarg=None, defaults=[]), expr)


class _Asserts(ast.NodeTransformer):
    """Every ``assert`` outside ``try``/``with`` and class bodies becomes ``CHECK(lambda: test, lambda: msg)``."""

    def __init__(self, shadowed: frozenset[str]) -> None:
        self.eager = _Eager(shadowed)
        self.kept = 0  # depth of the try/with bodies (which may catch) and class bodies (which thunks cannot see)

    def _keep_raising(self, node: ast.AST) -> ast.AST:
        self.kept += 1
        try:
            return self.generic_visit(node)
        finally:
            self.kept -= 1

    visit_Try = visit_TryStar = visit_With = visit_AsyncWith = visit_ClassDef = _keep_raising

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        if self.kept or any(isinstance(n, ast.NamedExpr) for n in ast.walk(node)):
            return node  # a walrus inside a thunk would bind in the thunk, not where the test reads it
        args = [_thunk(self.eager.visit(node.test))] + ([_thunk(node.msg)] if node.msg is not None else [])
        return ast.copy_location(ast.Expr(ast.Call(ast.Name(CHECK, ast.Load()), args, [])), node)


def blind(source: str, filename: str, shadowed: frozenset[str] = frozenset()) -> object:
    """``source`` compiled with its assertions rewritten (see the module docstring).

    ``shadowed``: builtin names that are the program's in this task (an entry point called ``all``).
    """
    tree = _Asserts(shadowed).visit(ast.parse(source, filename))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


class Assertions:
    """One test's failed assertions, and the helpers its rewritten code calls (:meth:`helpers`).

    ``stops``: exceptions that end the test at once wherever they come from (the program is gone,
    the judge is out of memory), never recorded as a failed assertion.
    """

    def __init__(self, stops: tuple[type[BaseException], ...] = (MemoryError,)) -> None:
        self.stops = stops
        self.failed: list[BaseException] = []

    def helpers(self) -> dict[str, object]:
        """The names the rewritten tests call, bound to this record."""
        return {CHECK: self.check, EAGER_AND: self.eager_and, EAGER_OR: self.eager_or,
                EAGER_ALL: self.eager_all, EAGER_ANY: self.eager_any}

    def check(self, test, message=None) -> None:  # noqa: ANN001
        """``assert test(), message()``, recorded instead of raised; the message is always evaluated."""
        held, failure = self._outcome(lambda: bool(test()))
        text, text_error = self._outcome(message) if message is not None else (None, None)
        if failure is None and not held:  # Python's AssertionError: the message, or the message's own exception
            failure = text_error or (AssertionError() if message is None else AssertionError(text))
        if failure is not None:
            self.failed.append(failure)

    def eager_and(self, *operands) -> object:  # noqa: ANN002
        """``a and b and ...`` with every operand (a thunk) evaluated: Python's answer, or its exception."""
        return self._short_circuit(operands, stop_on=False)

    def eager_or(self, *operands) -> object:  # noqa: ANN002
        """``a or b or ...`` with every operand evaluated: Python's answer, or its exception."""
        return self._short_circuit(operands, stop_on=True)

    def _short_circuit(self, operands: tuple, stop_on: bool) -> object:
        outcomes = [self._outcome(thunk) for thunk in operands]
        for value, error in outcomes[:-1]:
            if error is not None:
                raise error
            if bool(value) is stop_on:
                return value
        value, error = outcomes[-1]
        if error is not None:
            raise error
        return value

    def _outcome(self, thunk) -> tuple[object, BaseException | None]:  # noqa: ANN001
        try:
            return thunk(), None
        except Exception as exc:  # noqa: BLE001  # raised later, where Python would have raised it
            if isinstance(exc, self.stops):
                raise
            return None, exc

    def eager_all(self, iterable: object) -> bool:
        """``all`` that consumes the whole iterable first: Python's answer, or its exception."""
        return self._consume(iterable, stop_on=False)

    def eager_any(self, iterable: object) -> bool:
        """``any`` that consumes the whole iterable first: Python's answer, or its exception."""
        return self._consume(iterable, stop_on=True)

    def _consume(self, iterable: object, stop_on: bool) -> bool:
        decided: BaseException | bool | None = None
        iterator = iter(iterable)  # type: ignore[call-overload]
        while True:
            item, error = self._outcome(lambda: next(iterator))
            if type(error) is StopIteration:
                break
            if decided is None:
                if error is not None:
                    decided = error
                elif bool(item) is stop_on:
                    decided = stop_on
            if error is not None:
                break  # an iterator that raised is finished
        if isinstance(decided, BaseException):
            raise decided
        return not stop_on if decided is None else decided
