"""Where the editable prose of a prompt lies, so edits never touch code (HumanEval signatures)."""

from __future__ import annotations

import re

_CODE_LINE = re.compile(r"^\s*(def |from |import |class |@)", re.M)
_DOCSTRING = re.compile(r'("""|\'\'\')(.*?)(\1)', re.S)
_EXAMPLE_LINE = re.compile(r"^\s*(>>>|example|for example|e\.g\.)", re.I | re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"(?<![\w`])[A-Za-z]+(?![\w`(])")
_BACKTICKS = re.compile(r"`[^`]*`")


def is_code_prompt(prompt: str) -> bool:
    """True for prompts that are code with a docstring (HumanEval style)."""
    return bool(_CODE_LINE.search(prompt))


def prose_span(prompt: str) -> tuple[int, int]:
    """``(start, end)`` of the main prose: the whole text, or a code prompt's docstring description."""
    if not is_code_prompt(prompt):
        start = len(prompt) - len(prompt.lstrip())
        return start, len(prompt.rstrip())
    m = _DOCSTRING.search(prompt)
    if m is None:
        return 0, 0
    start, end = m.start(2), m.end(2)
    ex = _EXAMPLE_LINE.search(prompt, start, end)
    if ex is not None:
        end = ex.start()
    body = prompt[start:end]
    lead = len(body) - len(body.lstrip())
    return start + lead, start + len(body.rstrip())


def get_prose(prompt: str) -> str:
    """The main prose text of ``prompt``."""
    s, e = prose_span(prompt)
    return prompt[s:e]


def set_prose(prompt: str, prose: str) -> str:
    """``prompt`` with its main prose replaced by ``prose`` (indentation kept for code prompts)."""
    s, e = prose_span(prompt)
    if is_code_prompt(prompt) and s > 0:
        line_start = prompt.rfind("\n", 0, s) + 1
        indent = prompt[line_start:s] if not prompt[line_start:s].strip() else ""
        prose = prose.strip().replace("\n", "\n" + indent)
    return prompt[:s] + prose + prompt[e:]


def sentences(text: str) -> list[str]:
    """Split prose into sentences (on ., ! or ? followed by whitespace)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def word_spans(text: str) -> list[tuple[int, int]]:
    """Spans of plain words in ``text``, skipping identifiers, calls and anything in backticks."""
    masked = _BACKTICKS.sub(lambda m: " " * len(m.group()), text)
    return [(m.start(), m.end()) for m in _WORD.finditer(masked)]
