"""Prompt operators: each one on real tasks with a seeded rng, the registry, and prose handling."""

from __future__ import annotations

import numpy as np
import pytest

from promptgym.coders import CodeSample, Coder, TextReply
from promptgym.embeddings import HashEmbedder
from promptgym.error import UnknownName
from promptgym.mutations import (
    BUILTIN_OPERATORS,
    MutationContext,
    Operator,
    examples,
    list_operators,
    make_operator,
    register_operator,
    signature,
)
from promptgym.mutations._prose import get_prose
from promptgym.tasks import Task, load_tasks

TASK = Task(
    task_id="T/1",
    prompt="Write a function to remove the first occurrence of a character from a string.",
    entry_point="remove_occ",
    tests=("assert remove_occ('hello','l') == 'helo'", "assert remove_occ('abc','b') == 'ac'",
           "assert not remove_occ('', 'x')"),
    reference="def remove_occ(s, ch):\n    return s.replace(ch, '', 1)\n",
)


class ReplyCoder(Coder):
    """Scripted test double: ``ask`` returns a fixed reply; code writing is unused here."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def write(self, task: Task, prompt: str | None = None, context: str = "", seed: int = 0) -> CodeSample:
        return CodeSample(code=task.reference)

    def repair(self, task: Task, code: str, feedback: str, context: str = "", seed: int = 0) -> CodeSample:
        return CodeSample(code=code)

    def ask(self, instruction: str, max_new_tokens: int = 256, seed: int = 0) -> TextReply:
        return TextReply(self.reply, tokens=len(self.reply.split()))


def ctx(task: Task = TASK, seed: int = 0, **kw) -> MutationContext:
    return MutationContext(task=task, original=task.prompt, rng=np.random.default_rng(seed), **kw)


def test_synonym_uses_wordnet_and_is_seeded():
    from promptgym.assets import wordnet

    op = make_operator("synonym")
    r = op.apply(TASK.prompt, ctx())
    old, new = r.extra["old"], r.extra["new"]
    lemmas = {lem.name().lower() for s in wordnet().synsets(old.lower()) for lem in s.lemmas()}
    assert r.changed and new.lower() in lemmas and new.lower() != old.lower()
    assert r.prompt == TASK.prompt.replace(old, new, 1)
    assert op.apply(TASK.prompt, ctx(seed=0)).prompt == r.prompt  # same seed, same edit
    assert len({op.apply(TASK.prompt, ctx(seed=s)).prompt for s in range(8)}) > 1
    assert not op.is_applicable("Write a function to the of.", ctx())  # only stopwords


def test_delete_word_keeps_first_word_and_negations():
    op = make_operator("delete_word")
    for s in range(10):
        r = op.apply(TASK.prompt, ctx(seed=s))
        assert r.changed and len(r.prompt.split()) == len(TASK.prompt.split()) - 1
        assert r.prompt.startswith("Write") and "  " not in r.prompt
    assert not op.is_applicable("Write a function.", ctx())
    assert make_operator("delete_word", min_words=2).apply("Write never ever", ctx()).extra["word"] == "ever"


def test_clarify_inserts_each_phrase_once():
    op = make_operator("clarify", phrases=("Be brief.", "Be exact."))
    p = TASK.prompt
    for _ in range(2):
        p = op.apply(p, ctx()).prompt
    assert "Be brief." in p and "Be exact." in p and not op.is_applicable(p, ctx())


def test_reorder_swaps_sentences_and_needs_two():
    op = make_operator("reorder")
    assert not op.is_applicable(TASK.prompt, ctx())
    r = op.apply("First one. Second one.", ctx())
    assert r.changed and r.prompt == "Second one. First one."


def test_signature_and_example_from_tests():
    assert signature(TASK) == "def remove_occ(text, text2):"
    exs = examples(TASK)
    assert [e.expected for e in exs] == ["'helo'", "'ac'", "False"]
    sig = make_operator("add_signature")
    r = sig.apply(TASK.prompt, ctx())
    assert "`def remove_occ(text, text2):`" in r.prompt and not sig.is_applicable(r.prompt, ctx())
    ex = make_operator("add_example")
    p = TASK.prompt
    for _ in range(3):
        p = ex.apply(p, ctx()).prompt
    assert "`remove_occ('hello', 'l')` should return `'helo'`" in p and not ex.is_applicable(p, ctx())


def test_add_format_states_return_type():
    op = make_operator("add_format")
    r = op.apply(TASK.prompt, ctx())
    assert "return a string, not print it" in r.prompt and not op.is_applicable(r.prompt, ctx())


def test_code_prompt_edits_touch_only_the_docstring():
    prompt = 'from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    """ Return the sum of elements.\n'
    prompt += '    >>> f([1, 2])\n    3\n    """\n'
    he = Task("H/0", prompt, "f", ("def check(candidate):\n    assert candidate([1]) == 1\n",))
    assert get_prose(he.prompt) == "Return the sum of elements."
    assert not make_operator("add_signature").is_applicable(he.prompt, ctx(he))
    for name in ("synonym", "clarify", "add_example", "add_format"):
        r = make_operator(name).apply(he.prompt, ctx(he))
        assert r.changed and "def f(xs: List[int]) -> int:" in r.prompt and ">>> f([1, 2])" in r.prompt
    assert "`f([1])` should return `1`" in make_operator("add_example").apply(he.prompt, ctx(he)).prompt


def test_paraphrase_accepted_or_rejected_by_similarity():
    emb = HashEmbedder()
    close = "Write a function to remove the first occurrence of a character from the string."
    r = make_operator("paraphrase").apply(TASK.prompt, ctx(coder=ReplyCoder(f"Here is it: {close}"), embedder=emb))
    assert r.changed and r.prompt == close and r.llm_calls == 1 and r.tokens > 0
    far = make_operator("paraphrase").apply(TASK.prompt, ctx(coder=ReplyCoder("Sort a list of numbers."), embedder=emb))
    assert not far.changed and far.rejected and far.prompt == TASK.prompt and "0.80" in far.note
    assert not make_operator("paraphrase").is_applicable(TASK.prompt, ctx())  # no coder, no embedder


def test_genetic_elitism_keeps_best_and_population_bounded():
    emb = HashEmbedder()
    child = TASK.prompt + " Keep the order of the other characters."
    fitness = {TASK.prompt: 0.5, child: 0.25}
    c = ctx(coder=ReplyCoder(child), embedder=emb, evaluate=fitness.__getitem__, similarity_threshold=0.5)
    op = make_operator("genetic", population=2, offspring=2)
    r = op.apply(TASK.prompt, c)
    assert not r.changed and r.prompt == TASK.prompt  # the worse child does not replace the elite
    assert [f for _, f in c.scratch["genetic_population"]] == [0.5, 0.25] and r.llm_calls == 2
    fitness[child] = 1.0
    c2 = ctx(coder=ReplyCoder(child), embedder=emb, evaluate=fitness.__getitem__, similarity_threshold=0.5)
    r2 = op.apply(TASK.prompt, c2)
    assert r2.changed and r2.prompt == child and r2.extra["fitness"] == 1.0
    with pytest.raises(ValueError, match="population"):
        make_operator("genetic", population=1)


def test_registry_builtins_custom_and_unknown():
    assert list(BUILTIN_OPERATORS) == list_operators()[: len(BUILTIN_OPERATORS)]

    class Noop(Operator):
        def apply(self, prompt, ctx):  # type: ignore[no-untyped-def]
            raise AssertionError("not called")

    register_operator("noop_test", Noop)
    register_operator("noop_test", Noop)  # idempotent
    assert "noop_test" in list_operators() and make_operator("noop_test").name == "noop_test"
    with pytest.raises(ValueError, match="already registered"):
        register_operator("noop_test", lambda: Noop())
    with pytest.raises(UnknownName, match="Did you mean 'paraphrase'"):
        make_operator("parafrase")


def test_every_builtin_applies_on_real_mbpp_tasks():
    tasks = load_tasks("mbpp", "train")[:5]
    for task in tasks:
        for name in BUILTIN_OPERATORS[:7]:
            op, c = make_operator(name), ctx(task)
            if op.is_applicable(task.prompt, c):
                r = op.apply(task.prompt, c)
                assert r.changed and r.prompt != task.prompt, (task.task_id, name)
