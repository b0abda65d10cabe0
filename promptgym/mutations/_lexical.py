"""Lexical operators: WordNet synonyms, word deletion, clarifying phrases, sentence reordering."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

from promptgym.mutations._base import MutationContext, MutationResult, Operator
from promptgym.mutations._prose import get_prose, prose_span, sentences, set_prose, word_spans

# Words whose change or loss rarely helps and often breaks the task's meaning.
_STOPWORDS = frozenset(
    "a an the to of and or in on for from by with as at is are be it its that this which given "
    "write function python program number numbers list string strings return returns".split()
)
_KEEP_ON_DELETE = frozenset("not no never only all each every".split())  # deleting these flips meaning

CLARIFYING_PHRASES: tuple[str, ...] = (
    "Handle edge cases such as empty inputs.",
    "Return the result instead of printing it.",
    "Use only the Python standard library.",
    "Keep the function name exactly as given.",
    "Make sure the function works for every valid input, not just the examples.",
)


@lru_cache(maxsize=1)
def _wordnet():  # type: ignore[no-untyped-def]
    from promptgym.assets import wordnet

    with warnings.catch_warnings():
        # Debian's WordNet has no Open Multilingual WordNet; English synonyms need none.
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return wordnet()


@lru_cache(maxsize=4096)
def synonyms(word: str, max_synsets: int = 3) -> tuple[str, ...]:
    """Single-word WordNet synonyms of ``word`` from its ``max_synsets`` commonest senses, sorted."""
    wn = _wordnet()
    out: set[str] = set()
    for synset in wn.synsets(word.lower())[:max_synsets]:
        for lemma in synset.lemmas():
            name = lemma.name()
            if "_" not in name and "-" not in name and name.isalpha() and name.lower() != word.lower():
                out.add(name.lower())
    return tuple(sorted(out))


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _pick(ctx: MutationContext, items: Sequence[object]) -> int:
    return int(ctx.rng.integers(len(items)))


class SynonymReplace(Operator):
    """Replace one word of the prose by a WordNet synonym (nltk's WordNet, offline)."""

    name = "synonym"
    kind = "lexical"

    def __init__(self, max_synsets: int = 3) -> None:
        self.max_synsets = max_synsets

    def _candidates(self, prompt: str) -> list[tuple[int, int, tuple[str, ...]]]:
        start, end = prose_span(prompt)
        out = []
        for s, e in word_spans(prompt[start:end]):
            word = prompt[start + s : start + e]
            if len(word) < 3 or word.lower() in _STOPWORDS:
                continue
            syns = synonyms(word, self.max_synsets)
            if syns:
                out.append((start + s, start + e, syns))
        return out

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when some prose word has a single-word WordNet synonym."""
        return bool(self._candidates(prompt))

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Swap one randomly chosen word for one of its synonyms."""
        cands = self._candidates(prompt)
        if not cands:
            return MutationResult(prompt, False, note="no word with a WordNet synonym")
        s, e, syns = cands[_pick(ctx, cands)]
        old = prompt[s:e]
        new = _match_case(syns[_pick(ctx, syns)], old)
        return MutationResult(prompt[:s] + new + prompt[e:], True, note=f"synonym: {old} -> {new}",
                              extra={"old": old, "new": new})


class WordDelete(Operator):
    """Delete one word of the prose (never a negation or quantifier, never below ``min_words``)."""

    name = "delete_word"
    kind = "lexical"

    def __init__(self, min_words: int = 4) -> None:
        self.min_words = min_words

    def _candidates(self, prompt: str) -> list[tuple[int, int]]:
        start, end = prose_span(prompt)
        spans = word_spans(prompt[start:end])
        if len(spans) <= self.min_words:
            return []
        # The first word is usually the imperative ("Write ..."); deleting it garbles the request.
        return [
            (start + s, start + e) for s, e in spans[1:] if prompt[start + s : start + e].lower() not in _KEEP_ON_DELETE
        ]

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when the prose has more than ``min_words`` words."""
        return bool(self._candidates(prompt))

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Remove one randomly chosen word and the space before it."""
        cands = self._candidates(prompt)
        if not cands:
            return MutationResult(prompt, False, note="prose too short to delete a word")
        s, e = cands[_pick(ctx, cands)]
        word = prompt[s:e]
        if s > 0 and prompt[s - 1] == " ":
            s -= 1
        elif e < len(prompt) and prompt[e] == " ":
            e += 1
        return MutationResult(prompt[:s] + prompt[e:], True, note=f"deleted {word!r}", extra={"word": word})


class ClarifyInsert(Operator):
    """Insert a clarifying phrase (one not yet in the prompt) after a random sentence of the prose."""

    name = "clarify"
    kind = "lexical"

    def __init__(self, phrases: Sequence[str] = CLARIFYING_PHRASES) -> None:
        if not phrases:
            raise ValueError("ClarifyInsert needs at least one phrase")
        self.phrases = tuple(phrases)

    def _unused(self, prompt: str) -> list[str]:
        return [p for p in self.phrases if p not in prompt]

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True while some phrase is not yet in the prompt."""
        return bool(self._unused(prompt)) and prose_span(prompt) != (0, 0)

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Insert one unused phrase at a random sentence boundary."""
        unused = self._unused(prompt)
        if not unused:
            return MutationResult(prompt, False, note="every clarifying phrase is present")
        phrase = unused[_pick(ctx, unused)]
        sents = sentences(get_prose(prompt))
        at = int(ctx.rng.integers(1, len(sents) + 1))
        new = " ".join([*sents[:at], phrase, *sents[at:]])
        return MutationResult(set_prose(prompt, new), True, note=f"inserted {phrase!r}", extra={"phrase": phrase})


class SentenceReorder(Operator):
    """Swap two adjacent sentences of the prose."""

    name = "reorder"
    kind = "lexical"

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when the prose has at least two sentences."""
        return len(sentences(get_prose(prompt))) >= 2

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Swap sentence i and i+1 for a random i."""
        sents = sentences(get_prose(prompt))
        if len(sents) < 2:
            return MutationResult(prompt, False, note="fewer than two sentences")
        i = int(ctx.rng.integers(len(sents) - 1))
        sents[i], sents[i + 1] = sents[i + 1], sents[i]
        return MutationResult(set_prose(prompt, " ".join(sents)), True, note=f"swapped sentences {i} and {i + 1}")
