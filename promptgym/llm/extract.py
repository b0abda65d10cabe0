"""Code extraction from raw completions: fences, prose, [BEGIN]/[DONE], truncation, body-only completions."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

__all__ = ["ExtractedCode", "extract_code", "parses"]

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_CODE_START = re.compile(r"^(def |class |import |from |@|async def |assert |print\(|for |if |while |with |try:|"
                         r"return |raise |#|[A-Za-z_][A-Za-z_0-9.\[\]'\"]*\s*=[^=])")


@dataclass(frozen=True)
class ExtractedCode:
    """Extracted program; ``entry_point_found`` is False (with an issue) when the name is missing."""

    code: str
    entry_point_found: bool = True
    issues: tuple[str, ...] = field(default_factory=tuple)


def parses(code: str) -> bool:
    """Whether ``code`` is valid Python (the empty program is)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(|^\s*{re.escape(name)}\s*=", code, re.M) is not None


def _trim_to_parse(code: str) -> tuple[str, bool]:
    """Drop trailing lines until the code parses (a truncated end); returns (code, trimmed?)."""
    if parses(code):
        return code, False
    lines = code.rstrip().split("\n")
    for cut in range(len(lines) - 1, 0, -1):
        candidate = "\n".join(lines[:cut]).rstrip()
        if candidate and parses(candidate):
            return candidate + "\n", True
    return code, False


def _strip_prose(text: str) -> str:
    """Keep the code-looking part of unfenced text: from the first code line, dropping trailing prose."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return ""  # no line looks like code: prose only
    kept: list[str] = []
    for ln in lines[start:]:
        # Prose after code: an unindented line that is not code and does not parse as a statement.
        if kept and ln and not ln[0].isspace() and not _CODE_START.match(ln) and not parses(ln):
            break
        kept.append(ln)
    return "\n".join(kept)


def _is_test_statement(node: ast.stmt) -> bool:
    """A top-level statement that exercises the code rather than defining it (the model's own checks)."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return True  # print(f(...)), f(...)
    if isinstance(node, ast.If):  # if __name__ == "__main__":
        test = node.test
        return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__")
    return False


def _drop_test_statements(code: str) -> tuple[str, int]:
    """Remove top-level asserts, calls and ``__main__`` blocks; a failing self-check must not mask the task's tests."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, 0
    dropped = [n for n in tree.body if _is_test_statement(n)]
    if not dropped:
        return code, 0
    lines = code.split("\n")
    gone = {i for n in dropped for i in range(n.lineno - 1, n.end_lineno or n.lineno)}
    kept = "\n".join(ln for i, ln in enumerate(lines) if i not in gone)
    return re.sub(r"\n{3,}", "\n\n", kept).strip("\n") + "\n", len(dropped)


def extract_code(completion: str, entry_point: str | None = None, prefix: str = "") -> ExtractedCode:
    """Extract a Python program from a completion.

    Args:
        completion: The raw model text.
        entry_point: The function the tests call; its absence is reported, never patched.
        prefix: Code the completion continues (HumanEval's signature + docstring); prepended
            when the completion is a body only (does not define ``entry_point`` itself).
    """
    issues: list[str] = []
    text = completion.replace("\r\n", "\n")
    if "[BEGIN]" in text:
        text = text.split("[BEGIN]", 1)[1]
    if "[DONE]" in text:
        text = text.split("[DONE]", 1)[0]
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if blocks:
        if "```" in text and text.count("```") % 2 == 1:
            issues.append("unclosed code fence")
        with_ep = [b for b in blocks if entry_point and _defines(b, entry_point)]
        if with_ep:
            code = with_ep[0]
            # Helpers defined in other blocks may be needed; add blocks that only define functions/imports.
            extras = [b for b in blocks if b is not code and not (entry_point and _defines(b, entry_point))
                      and parses(b) and all(isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom, ast.ClassDef))
                                             for n in ast.parse(b).body)]
            code = "\n\n".join([*extras, code]) if extras else code
        else:
            code = blocks[0]
        if not parses(code):
            code = _strip_prose(code)  # an unclosed fence can swallow the prose after it
        if len(blocks) > 1:
            issues.append(f"{len(blocks)} code blocks")
    else:
        code = text if prefix else _strip_prose(text)
    code = code.strip("\n")
    if prefix and not (entry_point and _defines(code, entry_point)):
        # Body-only completion: it continues the prefix.
        code = prefix.rstrip("\n") + "\n" + code if code.startswith((" ", "\t")) else prefix + code
    code, trimmed = _trim_to_parse(code + "\n")
    if trimmed:
        issues.append("truncated: dropped an incomplete end")
    code, n_dropped = _drop_test_statements(code)
    if n_dropped:
        issues.append(f"dropped {n_dropped} top-level test statement(s) (asserts, calls, __main__ block)")
    if not parses(code):
        issues.append("syntax error")
    found = True
    if entry_point:
        found = _defines(code, entry_point)
        if not found:
            names = list(dict.fromkeys(re.findall(r"^\s*def\s+([A-Za-z_]\w*)", code, re.M)))
            issues.append(f"entry point {entry_point!r} not defined" + (f" (defines {', '.join(names)})" if names else ""))
    return ExtractedCode(code=code if code.strip() else "", entry_point_found=found, issues=tuple(issues))
