"""Templates carry the task's own visible tests and the paper's 3-shot examples."""

from __future__ import annotations

import pytest

from promptgym.error import UnknownName
from promptgym.llm import TEMPLATES, get_template, repair_prompt, resolve_template
from promptgym.tasks import get_task


@pytest.fixture(scope="module")
def task():
    return get_task("MBPP/11")


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n.startswith("mbpp")])
def test_mbpp_templates_contain_own_tests(task, name: str) -> None:
    text = _text(get_template(name)(task))
    assert "You are an expert Python programmer, and here is your task: " + task.prompt in text
    for t in task.tests:
        assert t in text


@pytest.mark.parametrize("name", ["mbpp-plain-3shot", "mbpp-chat-3shot"])
def test_three_shot_examples(task, name: str) -> None:
    text = _text(get_template(name)(task))
    for shot_id in ("MBPP/2", "MBPP/3", "MBPP/4"):
        shot = get_task(shot_id)
        assert shot.tests[0] in text and shot.reference.strip() in text
    if name == "mbpp-plain-3shot":
        assert text.count("[BEGIN]") == 4 and text.count("[DONE]") == 3 and text.endswith("[BEGIN]\n")


def test_no_other_task_tests_in_zero_shot(task) -> None:
    other = get_task("MBPP/12")
    text = _text(get_template("mbpp-chat")(task))
    assert not any(t in text for t in other.tests)


def test_edited_prompt_and_context(task) -> None:
    text = _text(get_template("mbpp-chat")(task, "Drop the first and last match of ch.", context="def ex(): pass"))
    assert "Drop the first and last match of ch." in text and task.prompt not in text and "def ex(): pass" in text
    assert task.tests[0] in text


def test_auto_resolution(task) -> None:
    assert resolve_template("auto", task).name == "mbpp-chat"
    assert resolve_template("auto", task, chat_model=False).name == "mbpp-plain"
    with pytest.raises(UnknownName, match="Did you mean"):
        resolve_template("mbpp-chta", task)


def test_repair_prompt(task) -> None:
    text = _text(repair_prompt(task, "def remove_Occ(s, ch):\n    return s", "AssertionError on test 1"))
    assert "AssertionError on test 1" in text and "return s" in text and task.entry_point in text


def test_humaneval_templates() -> None:
    from promptgym.tasks import Task

    t = Task("HumanEval/x", prompt='def add(a, b):\n    """Add."""\n', entry_point="add", tests=("check(add)",),
             dataset="humaneval", code_prefix='def add(a, b):\n    """Add."""\n')
    assert resolve_template("plain", t)(t) == t.code_prefix
    chat = _text(resolve_template("auto", t)(t))
    assert "```python" in chat and t.code_prefix.strip() in chat and "`add`" in chat
