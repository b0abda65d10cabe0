"""ScriptedCoder: the scripted test double for Coder (deterministic, no model).

It is named as a test double on purpose: envs and agents use it to exercise episode
mechanics fast and reproducibly. Scripts map a task id to a sequence of programs:
``write`` returns the first, each ``repair`` moves one step along (clamped to the last).
An entry may be ``("needs_context", program)``: the repair only reaches it when a non-empty
``context`` is given, which is how the SEARCH-then-DEBUG shape is scripted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Union

from promptgym.coders.base import CodeSample, Coder, TextReply
from promptgym.tasks import Task

ScriptEntry = Union[str, tuple[str, str]]

__all__ = ["ScriptedCoder"]


def _program(entry: ScriptEntry) -> str:
    return entry[1] if isinstance(entry, tuple) else entry


def _needs_context(entry: ScriptEntry) -> bool:
    return isinstance(entry, tuple) and entry[0] == "needs_context"


class ScriptedCoder(Coder):
    """Scripted test double: returns programs from per-task scripts, stateless and deterministic.

    Args:
        programs: ``task_id -> [program, ...]``; an entry may be ``("needs_context", program)``.
        replies: ``instruction -> text`` mapping or a callable for :meth:`ask`.
        default: For unscripted tasks, ``"reference"`` (the task's reference) or ``"stub"``
            (``def <entry_point>(*args, **kwargs): return None``).
    """

    def __init__(
        self,
        programs: Mapping[str, Sequence[ScriptEntry]] | None = None,
        replies: Mapping[str, str] | Callable[[str], str] | None = None,
        default: str = "reference",
    ) -> None:
        if default not in ("reference", "stub"):
            raise ValueError(f"ScriptedCoder default must be 'reference' or 'stub', got {default!r}")
        self.programs = {k: list(v) for k, v in (programs or {}).items()}
        for task_id, script in self.programs.items():
            if not script:
                raise ValueError(f"ScriptedCoder script for {task_id!r} is empty")
        self.replies = replies
        self.default = default

    @staticmethod
    def _sample(code: str) -> CodeSample:
        return CodeSample(code=code, text=code, tokens=len(code.split()), llm_calls=1)

    def _unscripted(self, task: Task) -> str:
        if self.default == "reference" and task.reference:
            return task.reference
        return f"def {task.entry_point}(*args, **kwargs):\n    return None\n"

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        """The first program of the task's script (or the default)."""
        script = self.programs.get(task.task_id)
        if not script:
            return self._sample(self._unscripted(task))
        return self._sample(_program(script[0]))

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        """The script entry after ``code`` (clamped to the last; context-gated entries need context)."""
        script = self.programs.get(task.task_id)
        if not script:
            return self._sample(self._unscripted(task) if code.strip() == "" else code)
        progs = [_program(e) for e in script]
        idx = progs.index(code) if code in progs else 0
        nxt = min(idx + 1, len(script) - 1)
        if _needs_context(script[nxt]) and not context.strip():
            nxt = idx  # without retrieved context the repair does not get further
        return self._sample(progs[nxt])

    def ask(self, instruction: str, max_new_tokens: int = 256, seed: int = 0) -> TextReply:
        """A scripted reply, or a deterministic default (plans: one line per sentence)."""
        if callable(self.replies):
            text = self.replies(instruction)
        elif self.replies is not None and instruction in self.replies:
            text = self.replies[instruction]
        else:
            text = self._default_reply(instruction)
        return TextReply(text=text, tokens=len(text.split()), llm_calls=1)

    @staticmethod
    def _default_reply(instruction: str) -> str:
        # the text to act on is taken as the part after the last blank line / colon-line
        body = instruction.strip().split("\n\n")[-1].strip()
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if s.strip()]
        low = instruction.lower()
        if "plan" in low or "decompose" in low or "subtask" in low:
            return "\n".join(sentences)
        if len(sentences) > 1:  # paraphrase: reorder lightly
            sentences = sentences[1:] + sentences[:1]
        return " ".join(sentences)

    def __repr__(self) -> str:
        return f"ScriptedCoder(scripted={sorted(self.programs)}, default={self.default!r})"
