"""Helpers shared by the dataset loaders."""

from __future__ import annotations

import ast
import builtins
import warnings


def _parse(source: str) -> ast.Module | None:
    # MBPP code has invalid escape sequences such as "\d"; they are the data's, not ours to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        try:
            return ast.parse(source)
        except SyntaxError:
            return None


def called_names(source: str, builtins_too: bool = False) -> list[str]:
    """Names of plain function calls in ``source``, in order of appearance (builtins left out by default)."""
    tree = _parse(source)
    if tree is None:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    seen: list[str] = []
    for call in calls:
        name = call.func.id  # type: ignore[attr-defined]
        if name not in seen and (builtins_too or not hasattr(builtins, name)):
            seen.append(name)
    return seen


def defined_functions(source: str) -> list[str]:
    """Top-level function and class names defined in ``source``."""
    tree = _parse(source)
    if tree is None:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def entry_point_of(tests: list[str] | tuple[str, ...], reference: str = "") -> str:
    """The function the tests call: the first called name the reference defines, else the first called."""
    # Builtins count when the reference redefines them (MBPP/126 defines its own `sum`).
    defined = set(defined_functions(reference))
    for name in (n for test in tests for n in called_names(test, builtins_too=True)):
        if name in defined:
            return name
    calls = [name for test in tests for name in called_names(test)]
    return calls[0] if calls else ""
