"""Structural operators: the function signature, an example from the visible tests, an output format."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from promptgym.mutations._base import MutationContext, MutationResult, Operator
from promptgym.mutations._prose import get_prose, is_code_prompt, set_prose
from promptgym.tasks import Task

_TYPE_NAMES = {
    list: ("list", "items"), str: ("string", "text"), int: ("integer", "n"), float: ("float", "x"),
    dict: ("dict", "mapping"), tuple: ("tuple", "values"), bool: ("boolean", "flag"), set: ("set", "elements"),
}


@dataclass(frozen=True)
class Example:
    """One call seen in the tests: ``call`` should give ``expected`` (source text, or None if unknown)."""

    call: str
    expected: str | None
    args: tuple[ast.expr, ...]

    def sentence(self) -> str:
        """The example as prompt text."""
        if self.expected is None:
            return f"For example, `{self.call}` should hold."
        return f"For example, `{self.call}` should return `{self.expected}`."


def _is_entry_call(node: ast.AST, names: tuple[str, ...]) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


@lru_cache(maxsize=1024)
def examples(task: Task, max_len: int = 200) -> tuple[Example, ...]:
    """The assertions in ``task.tests`` that call its entry point, as examples (``candidate`` is
    renamed to the entry point). The envs pass the task's visible view, so these are visible tests."""
    names = (task.entry_point, "candidate")
    out: list[Example] = []
    for snippet in task.tests:
        try:
            tree = ast.parse(snippet)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assert):
                continue
            test = node.test
            call, expected = None, None
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
                left, right = test.left, test.comparators[0]
                if _is_entry_call(left, names):
                    call, expected = left, ast.unparse(right)
                elif _is_entry_call(right, names):
                    call, expected = right, ast.unparse(left)
            elif _is_entry_call(test, names):
                call, expected = test, "True"
            elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_entry_call(test.operand, names):
                call, expected = test.operand, "False"
            if call is None:
                continue
            assert isinstance(call, ast.Call)
            call.func = ast.Name(id=task.entry_point)
            text = ast.unparse(call)
            if len(text) + len(expected or "") <= max_len:
                out.append(Example(text, expected, tuple(call.args)))
    return tuple(out)


def _literal_type(node: ast.expr) -> type | None:
    try:
        return type(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def signature(task: Task) -> str | None:
    """``def name(a, b):`` for the task, with the arity (and argument names by type) seen in the tests."""
    exs = examples(task)
    if not exs:
        return None
    args = exs[0].args
    names: list[str] = []
    for i, arg in enumerate(args):
        base = _TYPE_NAMES.get(_literal_type(arg), (None, f"arg{i + 1}"))[1]  # type: ignore[arg-type]
        name, k = base, 2
        while name in names:
            name, k = f"{base}{k}", k + 1
        names.append(name)
    return f"def {task.entry_point}({', '.join(names)}):"


def return_type(task: Task) -> str | None:
    """The type name of the expected value in the first example, if it is a literal."""
    for ex in examples(task):
        if ex.expected is None:
            continue
        try:
            t = type(ast.literal_eval(ex.expected))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if t in _TYPE_NAMES:
            return _TYPE_NAMES[t][0]
    return None


def _append(prompt: str, sentence: str) -> str:
    prose = get_prose(prompt)
    return set_prose(prompt, f"{prose} {sentence}" if prose else sentence)


class AddSignature(Operator):
    """State the function signature the tests call (entry point + arity from the visible tests)."""

    name = "add_signature"
    kind = "structural"

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when the prompt does not define the entry point yet and the tests show a call."""
        if is_code_prompt(prompt) or f"def {ctx.task.entry_point}(" in prompt:
            return False
        return signature(ctx.task) is not None

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Append "The function should be defined as `def f(a, b):`."."""
        if not self.is_applicable(prompt, ctx):
            return MutationResult(prompt, False, note="signature present or unknown")
        sig = signature(ctx.task)
        return MutationResult(_append(prompt, f"The function should be defined as `{sig}`."), True,
                              note=f"added {sig}")


class AddExample(Operator):
    """Add one example from the visible tests: "For example, `f(x)` should return `y`."."""

    name = "add_example"
    kind = "structural"

    def _unused(self, prompt: str, ctx: MutationContext) -> list[Example]:
        return [ex for ex in examples(ctx.task) if ex.call not in prompt]

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True while some test example is not yet in the prompt."""
        return bool(self._unused(prompt, ctx))

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Append one unused example chosen at random."""
        unused = self._unused(prompt, ctx)
        if not unused:
            return MutationResult(prompt, False, note="every example is present")
        ex = unused[int(ctx.rng.integers(len(unused)))]
        return MutationResult(_append(prompt, ex.sentence()), True, note=f"added example {ex.call}")


class AddOutputFormat(Operator):
    """Add an output-format instruction (return, do not print; the return type when the tests show it)."""

    name = "add_format"
    kind = "structural"
    marker = "not print it"

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when no format instruction is present yet."""
        return self.marker not in prompt

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Append the format instruction."""
        if not self.is_applicable(prompt, ctx):
            return MutationResult(prompt, False, note="format instruction present")
        rtype = return_type(ctx.task)
        what = (f"an {rtype}" if rtype[0] in "aeiou" else f"a {rtype}") if rtype else "its result"
        text = f"The function must return {what}, {self.marker}; answer with one Python code block."
        return MutationResult(_append(prompt, text), True, note="added output format")
