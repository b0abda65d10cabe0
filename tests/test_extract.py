"""Code extraction: a corpus of real SmolLM2 completions plus hand-written edge cases."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from promptgym.llm import extract_code

CORPUS = sorted((Path(__file__).parent / "data" / "completions").glob("*.json"))


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_real_completion_corpus(path: Path) -> None:
    case = json.loads(path.read_text())
    ex = extract_code(case["completion"], case["entry_point"])
    exp = case["expected"]
    assert ex.entry_point_found == exp["entry_point_found"]
    assert _parses(ex.code) == exp["parses"]
    assert ex.code == exp["code"]
    assert "```" not in ex.code  # fences never leak into the program


def test_corpus_is_present() -> None:
    assert len(CORPUS) >= 20


def test_prose_around_fence() -> None:
    ex = extract_code("Sure! Here it is:\n```python\ndef f(x):\n    return x\n```\nThis returns x.", "f")
    assert ex.code == "def f(x):\n    return x\n" and ex.entry_point_found and ex.issues == ()


@pytest.mark.parametrize("tag", ["py", "", "python3", "Python"])
def test_fence_variants(tag: str) -> None:
    ex = extract_code(f"```{tag}\ndef f():\n    return 1\n```", "f")
    assert ex.code == "def f():\n    return 1\n"


def test_picks_block_defining_entry_point_and_keeps_helpers() -> None:
    text = ("Example usage:\n```python\nprint(g(2))\n```\nHelper:\n```python\ndef h(x):\n    return x * 2\n```\n"
            "Solution:\n```python\ndef g(x):\n    return h(x)\n```")
    ex = extract_code(text, "g")
    assert "def g(x)" in ex.code and "def h(x)" in ex.code and "print(" not in ex.code
    assert any("code blocks" in i for i in ex.issues)


def test_begin_done_format() -> None:
    ex = extract_code("[BEGIN]\ndef f(x):\n  return 1\n[DONE]\nYou are an expert", "f")
    assert ex.code == "def f(x):\n  return 1\n"


def test_truncated_end_is_dropped() -> None:
    text = "```python\ndef f(x):\n    y = x + 1\n    return y\n\ndef g(a):\n    return [a,"
    ex = extract_code(text, "f")
    assert _parses(ex.code) and "def f" in ex.code and "def g" not in ex.code
    assert any("truncated" in i for i in ex.issues) and any("unclosed" in i for i in ex.issues)


def test_humaneval_body_only() -> None:
    prefix = 'def add(a, b):\n    """Add two numbers."""\n'
    ex = extract_code("    return a + b\n", "add", prefix=prefix)
    assert ex.code == prefix + "    return a + b\n" and ex.entry_point_found


def test_humaneval_whole_function_not_duplicated() -> None:
    prefix = "def add(a, b):\n"
    ex = extract_code("```python\ndef add(a, b):\n    return a + b\n```", "add", prefix=prefix)
    assert ex.code.count("def add") == 1


def test_name_mismatch_is_reported_not_patched() -> None:
    ex = extract_code("def remove_FirstLast(s, c):\n    return s\n", "remove_Occ")
    assert not ex.entry_point_found and "remove_Occ" not in ex.code
    assert any("remove_Occ" in i and "remove_FirstLast" in i for i in ex.issues)


def test_unfenced_code_with_trailing_prose() -> None:
    ex = extract_code("def f(x):\n    return x\n\nThis function returns its input unchanged.", "f")
    assert ex.code == "def f(x):\n    return x\n"


def test_no_code_at_all() -> None:
    ex = extract_code("I cannot help with that request.", "f")
    assert ex.code == "" and not ex.entry_point_found


def test_unclosed_fence_swallowing_prose() -> None:
    ex = extract_code("END\n```\n\nThe function should take two parameters, `n` and `volume`.", "find_Volume")
    assert ex.code == "" and not ex.entry_point_found


def test_models_own_checks_are_dropped_so_they_cannot_mask_the_tests() -> None:
    completion = (
        "```python\ndef f(x):\n    return x + 1\n\nassert f(1) == 3\nprint(f(2))\n"
        "if __name__ == '__main__':\n    f(0)\n```"
    )
    ex = extract_code(completion, "f")
    assert ex.code == "def f(x):\n    return x + 1\n"
    assert any("dropped 3 top-level test statement" in issue for issue in ex.issues)
