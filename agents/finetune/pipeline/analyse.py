"""Pure functions of the ``analysis`` and ``rl_build`` stages: AST fingerprints, similarity, ranking, pairs.

Nothing here runs code or loads a model, so each piece is tested on its own.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
from collections.abc import Sequence
from typing import Any

__all__ = ["annotate", "ast_fingerprint", "normalised_dump", "preference_pairs", "rank_candidates", "similarity",
           "task_summary"]

_BUILTINS = frozenset(dir(builtins))
MAX_ERROR_CHARS = 300


class _Renamer(ast.NodeTransformer):
    """Renames every name the program binds to ``v0, v1, ...`` in order of first appearance.

    Kept: the entry point (the tests call it by name), builtins, attribute names and imported module
    names, since renaming those changes what the program does.
    """

    def __init__(self, keep: set[str]) -> None:
        self.keep = keep
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        if name in self.keep or name in _BUILTINS:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._new(node.arg)
        node.annotation = None  # type hints do not change behaviour
        return node

    def _def(self, node: Any) -> ast.AST:
        node.name = self._new(node.name)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str) and len(body) > 1:
            node.body = body[1:]  # a docstring
        if hasattr(node, "returns"):
            node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self._new(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def normalised_dump(code: str, entry_point: str | None = None) -> str | None:
    """``ast.dump`` of ``code`` with bound names normalised (None when it does not parse).

    Two programs that differ only in variable, argument or helper names, comments, docstrings, type
    hints or whitespace give the same dump.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return None
    keep = {entry_point} if entry_point else set()
    for node in ast.walk(tree):  # imported names stay: `import math` must not become `import v0`
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.update((a.asname or a.name).split(".")[0] for a in node.names)
    return ast.dump(_Renamer(keep).visit(tree), annotate_fields=False, include_attributes=False)


def ast_fingerprint(code: str, entry_point: str | None = None) -> str | None:
    """A short hash of :func:`normalised_dump` (None for a program that does not parse)."""
    dump = normalised_dump(code, entry_point)
    return None if dump is None else hashlib.sha256(dump.encode()).hexdigest()[:16]


def similarity(code: str, reference: str) -> float | None:
    """``difflib`` ratio of the program to the task's reference, line-insensitive to trailing spaces (None without one)."""
    if not reference.strip():
        return None
    a = "\n".join(line.rstrip() for line in code.strip().splitlines())
    b = "\n".join(line.rstrip() for line in reference.strip().splitlines())
    return round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 4)


def annotate(candidate: dict[str, Any], result: Any, task: Any, first_seen: dict[str, int]) -> dict[str, Any]:
    """``candidate`` plus its execution on the hidden tests and its diversity fields.

    ``first_seen`` maps a fingerprint to the first candidate index (of this task) that had it; it is
    updated, so call this in candidate order.
    """
    fp = ast_fingerprint(candidate["code"], task.entry_point)
    i = candidate["candidate"]
    dup = None
    if fp is not None:
        dup = first_seen.setdefault(fp, i)
        dup = None if dup == i else dup
    # duration is left out on purpose: re-running the stage must give the same bytes
    return {**candidate, "status": result.status, "n_passed": result.n_passed, "n_tests": len(result.tests),
            "pass_fraction": round(result.pass_fraction, 6),
            "tests": [{"passed": t.passed, "error": t.error[:MAX_ERROR_CHARS]} for t in result.tests],
            "error": result.error[:MAX_ERROR_CHARS], "ast_fingerprint": fp, "ast_duplicate_of": dup,
            "parses": fp is not None, "similarity_to_reference": similarity(candidate["code"], task.reference)}


def task_summary(task: Any, candidates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-task pass rate and diversity over its annotated candidates."""
    n = len(candidates)
    sims = [c["similarity_to_reference"] for c in candidates if c["similarity_to_reference"] is not None]
    fps = {c["ast_fingerprint"] for c in candidates if c["ast_fingerprint"] is not None}
    statuses: dict[str, int] = {}
    for c in candidates:
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    return {"n_candidates": n,
            "pass_rate": round(sum(c["status"] == "passed" for c in candidates) / max(1, n), 6),
            "mean_pass_fraction": round(sum(c["pass_fraction"] for c in candidates) / max(1, n), 6),
            "distinct_programs": len({c["code"] for c in candidates}),
            "distinct_ast": len(fps), "ast_duplicates": sum(c["ast_duplicate_of"] is not None for c in candidates),
            "unparsable": sum(not c["parses"] for c in candidates),
            "mean_similarity_to_reference": round(sum(sims) / len(sims), 4) if sims else None,
            "status_counts": dict(sorted(statuses.items()))}


def _rank_key(c: dict[str, Any]) -> tuple[Any, ...]:
    # more hidden tests passed first, then programs that parse, then closer to the reference, then the earlier sample
    return (-c["n_passed"], c["status"] != "passed", not c["parses"], -(c["similarity_to_reference"] or 0.0),
            c["candidate"])


def rank_candidates(candidates: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The n-best list: candidates best first (see ``_rank_key``), each with its ``rank`` (1 = best)."""
    return [{**c, "rank": r} for r, c in enumerate(sorted(candidates, key=_rank_key), 1)]


def preference_pairs(ranked: Sequence[dict[str, Any]], max_pairs: int | None = None) -> list[tuple[dict, dict]]:
    """(chosen, rejected) pairs from one task's ranked candidates: chosen passes strictly more hidden tests.

    Ties give no pair, and AST duplicates (``ast_duplicate_of``) and empty programs stand aside so one
    program is not paired under several spellings. Pairs with the widest margin come first.
    """
    pool = [c for c in ranked if c["ast_duplicate_of"] is None and c["code"].strip()]
    pairs = [(a, b) for i, a in enumerate(pool) for b in pool[i + 1:] if a["n_passed"] > b["n_passed"]]
    pairs.sort(key=lambda ab: (-(ab[0]["n_passed"] - ab[1]["n_passed"]), ab[0]["rank"], ab[1]["rank"]))
    return pairs[:max_pairs] if max_pairs is not None else pairs
