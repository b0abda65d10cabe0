"""Prompt mutation operators in a registry users can extend.

Built-ins, in the order the PromptOpt env uses them as actions: lexical (``synonym``,
``delete_word``, ``clarify``, ``reorder``), structural (``add_signature``, ``add_example``,
``add_format``), semantic (``paraphrase``) and genetic (``genetic``). Add your own with
``register_operator("name", MyOperator)``; an operator subclasses :class:`Operator`.
"""

from __future__ import annotations

from promptgym.mutations._base import (
    MutationContext,
    MutationResult,
    Operator,
    list_operators,
    make_operator,
    register_operator,
)
from promptgym.mutations._lexical import ClarifyInsert, SentenceReorder, SynonymReplace, WordDelete, synonyms
from promptgym.mutations._llm import Genetic, Paraphrase
from promptgym.mutations._structural import AddExample, AddOutputFormat, AddSignature, examples, signature

BUILTIN_OPERATORS: tuple[str, ...] = (
    "synonym", "delete_word", "clarify", "reorder", "add_signature", "add_example", "add_format", "paraphrase",
    "genetic",
)
for _cls in (SynonymReplace, WordDelete, ClarifyInsert, SentenceReorder, AddSignature, AddExample, AddOutputFormat,
             Paraphrase, Genetic):
    register_operator(_cls.name, _cls)

__all__ = [
    "BUILTIN_OPERATORS",
    "AddExample",
    "AddOutputFormat",
    "AddSignature",
    "ClarifyInsert",
    "Genetic",
    "MutationContext",
    "MutationResult",
    "Operator",
    "Paraphrase",
    "SentenceReorder",
    "SynonymReplace",
    "WordDelete",
    "examples",
    "list_operators",
    "make_operator",
    "register_operator",
    "signature",
    "synonyms",
]
