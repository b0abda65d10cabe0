"""ScriptedCoder (the scripted test double): scripts, context gating, defaults, ask replies."""

from __future__ import annotations

import pytest

from promptgym.coders import make_coder
from promptgym.coders.scripted import ScriptedCoder
from promptgym.tasks import Task

TASK = Task(task_id="T/1", prompt="Add two numbers. Return the sum.", entry_point="add",
            tests=("assert add(1, 2) == 3",), reference="def add(a, b):\n    return a + b\n")


def test_make_coder_builds_it() -> None:
    assert isinstance(make_coder("scripted"), ScriptedCoder)


def test_write_and_repair_follow_the_script_clamped() -> None:
    coder = ScriptedCoder({"T/1": ["a", "b", "c"]})
    assert coder.write(TASK).code == "a"
    assert coder.repair(TASK, "a", "fail").code == "b"
    assert coder.repair(TASK, "c", "fail").code == "c"  # clamped to the last


def test_needs_context_entry_is_gated() -> None:
    coder = ScriptedCoder({"T/1": ["a", "b", ("needs_context", "c")]})
    assert coder.repair(TASK, "b", "fail").code == "b"
    assert coder.repair(TASK, "b", "fail", context="similar task").code == "c"


def test_defaults_reference_and_stub() -> None:
    assert ScriptedCoder().write(TASK).code == TASK.reference
    stub = ScriptedCoder(default="stub").write(TASK).code
    assert stub.startswith("def add(") and "return None" in stub
    with pytest.raises(ValueError, match="default"):
        ScriptedCoder(default="nope")


def test_costs_counted_like_a_real_coder() -> None:
    sample = ScriptedCoder({"T/1": ["x = 1  # two more"]}).write(TASK)
    assert (sample.tokens, sample.llm_calls) == (6, 1)  # whitespace-split words


def test_ask_replies_mapping_callable_and_default_plan() -> None:
    assert ScriptedCoder(replies={"q": "a b"}).ask("q").text == "a b"
    assert ScriptedCoder(replies=str.upper).ask("hi").text == "HI"
    plan = ScriptedCoder().ask("Make a plan.\n\nFirst do x. Then do y.").text
    assert plan.splitlines() == ["First do x.", "Then do y."]
    para = ScriptedCoder().ask("Paraphrase.\n\nFirst do x. Then do y.")
    assert para.text == "Then do y. First do x." and para.tokens == 6
