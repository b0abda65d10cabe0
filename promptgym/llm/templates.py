"""Prompt templates: MBPP (0-shot and the paper's 3-shot), HumanEval, repair; chat and plain variants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from promptgym.error import unknown
from promptgym.llm.base import Prompt
from promptgym.tasks import Task

__all__ = ["TEMPLATES", "Template", "get_template", "mbpp_text", "repair_prompt", "resolve_template"]

SYSTEM = "You are a helpful Python programmer. Answer with code in a ```python block."
FEW_SHOT_IDS = ("MBPP/2", "MBPP/3", "MBPP/4")  # the MBPP paper's prompt examples


def mbpp_text(task: Task, prompt: str | None = None) -> str:
    """The standard MBPP instruction: task text plus the task's OWN visible tests."""
    text = task.prompt if prompt is None else prompt
    tests = "\n".join(task.tests)
    return f"You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n{tests}\n"


@lru_cache(maxsize=1)
def _shots() -> tuple[Task, ...]:
    from promptgym.tasks import get_task

    return tuple(get_task(t) for t in FEW_SHOT_IDS)


def _with_context(text: str, context: str) -> str:
    return f"Here are some related examples:\n{context.strip()}\n\n{text}" if context.strip() else text


@dataclass(frozen=True)
class Template:
    """Builds a prompt for a task; ``chat`` says whether it yields messages or plain text."""

    name: str
    chat: bool
    build: Callable[[Task, str | None, str], Prompt]
    stop: tuple[str, ...] = ()

    def __call__(self, task: Task, prompt: str | None = None, context: str = "") -> Prompt:
        """Render the template for ``task`` (optionally an edited prompt text and extra context)."""
        return self.build(task, prompt, context)


def _mbpp_chat(task: Task, prompt: str | None, context: str) -> Prompt:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": _with_context(mbpp_text(task, prompt), context)}]


def _mbpp_chat_3shot(task: Task, prompt: str | None, context: str) -> Prompt:
    msgs: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    for shot in _shots():
        msgs.append({"role": "user", "content": mbpp_text(shot)})
        msgs.append({"role": "assistant", "content": f"```python\n{shot.reference.strip()}\n```"})
    msgs.append({"role": "user", "content": _with_context(mbpp_text(task, prompt), context)})
    return msgs


def _mbpp_plain(task: Task, prompt: str | None, context: str) -> Prompt:
    return _with_context(mbpp_text(task, prompt), context) + "[BEGIN]\n"


def _mbpp_plain_3shot(task: Task, prompt: str | None, context: str) -> Prompt:
    shots = "".join(f"{mbpp_text(s)}[BEGIN]\n{s.reference.strip()}\n[DONE]\n" for s in _shots())
    return shots + _mbpp_plain(task, prompt, context)


def _he_prefix(task: Task, prompt: str | None) -> str:
    return task.code_prefix or (prompt if prompt is not None else task.prompt)


def _humaneval_plain(task: Task, prompt: str | None, context: str) -> Prompt:
    body = _he_prefix(task, prompt) if prompt is None else prompt
    return (f"# {context.strip()}\n" if context.strip() else "") + body


def _humaneval_chat(task: Task, prompt: str | None, context: str) -> Prompt:
    code = prompt if prompt is not None else _he_prefix(task, None)
    text = (f"Complete the following Python function `{task.entry_point}`. Return the whole function "
            f"in a ```python block.\n\n```python\n{code.rstrip()}\n```\n")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": _with_context(text, context)}]


TEMPLATES: dict[str, Template] = {
    "mbpp-chat": Template("mbpp-chat", True, _mbpp_chat),
    "mbpp-chat-3shot": Template("mbpp-chat-3shot", True, _mbpp_chat_3shot),
    "mbpp-plain": Template("mbpp-plain", False, _mbpp_plain, stop=("[DONE]",)),
    "mbpp-plain-3shot": Template("mbpp-plain-3shot", False, _mbpp_plain_3shot, stop=("[DONE]",)),
    "humaneval-plain": Template("humaneval-plain", False, _humaneval_plain, stop=("\ndef ", "\nclass ", "\nif __name__", "\nprint(")),
    "humaneval-chat": Template("humaneval-chat", True, _humaneval_chat),
}


def get_template(name: str) -> Template:
    """A template by name (did-you-mean on typos)."""
    if name not in TEMPLATES:
        raise unknown("template", name, list(TEMPLATES) + ["auto", "chat", "plain"])
    return TEMPLATES[name]


def resolve_template(name: str, task: Task, chat_model: bool = True) -> Template:
    """Resolve "auto"/"chat"/"plain" for a task's dataset (auto = chat for instruct models)."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    if name not in ("auto", "chat", "plain"):
        raise unknown("template", name, list(TEMPLATES) + ["auto", "chat", "plain"])
    chat = chat_model if name == "auto" else name == "chat"
    family = "humaneval" if task.dataset == "humaneval" or task.code_prefix else "mbpp"
    return TEMPLATES[f"{family}-{'chat' if chat else 'plain'}"]


def repair_prompt(task: Task, code: str, feedback: str, context: str = "", chat: bool = True) -> Prompt:
    """Ask for a fixed program given the failing code, tests and error."""
    text = (f"{mbpp_text(task) if not task.code_prefix else task.code_prefix}\n"
            f"This attempt fails:\n```python\n{code.rstrip()}\n```\nFeedback:\n{feedback.strip()}\n\n"
            f"Write the corrected function `{task.entry_point}` in a ```python block.")
    text = _with_context(text, context)
    if chat:
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    return text + "\n[BEGIN]\n"
