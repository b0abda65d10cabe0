"""Dataset loaders: MBPP (full and sanitized, standard splits), HumanEval, custom JSONL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from promptgym.error import DatasetNotFound, TaskNotFound, UnknownName
from promptgym.tasks import Task, get_task, load_jsonl, load_mbpp, load_tasks

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_mbpp_full_has_974_tasks_in_standard_splits() -> None:
    tasks = load_tasks("mbpp")
    assert len(tasks) == 974
    assert Counter(t.split for t in tasks) == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    assert [t.task_id for t in load_tasks("mbpp", "prompt")] == [f"MBPP/{i}" for i in range(1, 11)]
    assert all(t.entry_point and t.tests and t.reference for t in tasks)


def test_mbpp_sanitized_has_427_tasks() -> None:
    tasks = load_tasks("mbpp-sanitized")
    assert len(tasks) == 427
    assert Counter(t.split for t in tasks) == {"prompt": 7, "test": 257, "validation": 43, "train": 120}


def test_mbpp_task_fields() -> None:
    task = get_task("MBPP/11")
    assert task.entry_point == "remove_Occ"
    assert task.tests[0] == 'assert remove_Occ("hello","l") == "heo"'
    # the split: the first assert is visible; test_list and challenge_test_list judge
    assert task.visible_tests == task.tests[:1] and task.hidden_tests[:3] == task.tests and len(task.hidden_tests) == 5
    assert "\r" not in task.reference and task.split == "test"
    # A reference that redefines a builtin: the tests call the task's own `sum`.
    assert get_task("MBPP/126").entry_point == "sum"
    # Setup code is kept (MBPP builds inputs from the program's classes there).
    assert any(t.setup for t in load_tasks("mbpp"))


def test_mbpp_path_by_argument_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (SHARED / "mbpp.jsonl").read_text().splitlines()[10:13]
    (tmp_path / "mbpp.jsonl").write_text("\n".join(lines) + "\n")
    assert [t.task_id for t in load_mbpp(path=tmp_path)] == ["MBPP/11", "MBPP/12", "MBPP/13"]
    monkeypatch.setenv("PROMPTGYM_MBPP_PATH", str(tmp_path / "mbpp.jsonl"))
    assert len(load_mbpp()) == 3
    with pytest.raises(DatasetNotFound, match="not found"):
        load_mbpp(path=tmp_path / "missing")


def test_humaneval_has_164_tasks_with_check_block() -> None:
    tasks = load_tasks("humaneval")
    assert len(tasks) == 164
    first = tasks[0]
    assert first.task_id == "HumanEval/0" and first.entry_point == "has_close_elements"
    assert first.tests[0].rstrip().endswith("check(has_close_elements)")
    # the split: docstring examples are visible, check()'s asserts (one snippet each) judge
    assert len(first.visible_tests) == 2 and len(first.hidden_tests) == 7
    assert all(t.rstrip().endswith("check(has_close_elements)") for t in first.hidden_tests)
    assert first.reference.startswith(first.code_prefix) and first.code_prefix == first.prompt
    with pytest.raises(ValueError, match="only a 'test' split"):
        load_tasks("humaneval", "train")


def test_unknown_names_suggest_the_nearest() -> None:
    with pytest.raises(UnknownName, match="Did you mean 'humaneval'"):
        load_tasks("humaneva")
    with pytest.raises(UnknownName, match="Did you mean 'train'"):
        load_tasks("mbpp", "trian")
    with pytest.raises(TaskNotFound, match="'MBPP/99x' is not in mbpp.*Did you mean 'MBPP/99'"):
        load_tasks("mbpp", "test", task_ids=["MBPP/99x"])


def test_task_ids_keep_the_given_order() -> None:
    ids = ["MBPP/13", "MBPP/11"]
    assert [t.task_id for t in load_tasks("mbpp", "test", task_ids=ids)] == ids


def test_custom_jsonl(tmp_path: Path) -> None:
    good = {"task_id": "add", "prompt": "Add two numbers.", "tests": ["assert add(1, 2) == 3"], "reference": "def add(a, b):\n    return a + b\n"}
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(good) + "\n\n")
    (task,) = load_jsonl(path)
    assert task == Task("add", "Add two numbers.", "add", ("assert add(1, 2) == 3",), reference=good["reference"], dataset="mine", split="test")
    assert task.visible_tests == task.hidden_tests == task.tests  # no split given: first visible, all judge
    assert load_tasks(str(path))[0].task_id == "add"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"task_id": "x", "prompt": "p"}), "missing key"),
        (json.dumps({"task_id": "x", "prompt": "p", "tests": "assert f()"}), "non-empty list"),
        (json.dumps({"task_id": "x", "prompt": "p", "tests": []}), "non-empty list"),
    ],
)
def test_custom_jsonl_bad_input_names_the_problem(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message) as err:
        load_jsonl(path)
    assert "bad.jsonl:1" in str(err.value)
