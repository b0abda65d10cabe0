"""LLM-driven operators: a meaning-checked paraphrase and an EPiC-style genetic step."""

from __future__ import annotations

import re

from promptgym.mutations._base import MutationContext, MutationResult, Operator
from promptgym.mutations._prose import get_prose, set_prose

PARAPHRASE_INSTRUCTION = (
    "Rewrite the following programming task in different words. Keep every detail, name and number. "
    "Reply with the rewritten task only.\n\nTask: {prose}\n\nRewritten task:"
)
MUTATE_INSTRUCTION = (
    "Improve the following programming task description so a programmer understands it better. "
    "Change only a little and keep its meaning. Reply with the new description only.\n\n"
    "Description: {prose}\n\nNew description:"
)
CROSSOVER_INSTRUCTION = (
    "Combine the two descriptions of the same programming task below into one description that keeps "
    "the clearest parts of both. Reply with the combined description only.\n\n"
    "Description 1: {a}\n\nDescription 2: {b}\n\nCombined description:"
)
_PREAMBLE = re.compile(r"^\s*(here is|here's|sure|rewritten task|new description|combined description)[^:\n]*:\s*",
                       re.I)


def clean_reply(text: str, max_chars: int = 1000) -> str:
    """The first paragraph of an LLM reply, without preambles, quotes or code fences."""
    text = text.strip().replace("```", "")
    text = _PREAMBLE.sub("", text).strip()
    text = text.split("\n\n")[0].strip().strip('"').strip("'").strip()
    return " ".join(text.split())[:max_chars]


def _llm_ready(ctx: MutationContext) -> bool:
    return ctx.coder is not None and ctx.embedder is not None


class Paraphrase(Operator):
    """Paraphrase the prose with the LLM (``coder.ask``); kept only while it stays close in meaning.

    The rewrite is rejected (prompt unchanged, ``rejected=True``, ``note`` says why) when its
    sentence-embedding similarity to the ORIGINAL prompt falls below ``ctx.similarity_threshold``.
    """

    name = "paraphrase"
    kind = "semantic"
    uses_llm = True

    def __init__(self, max_new_tokens: int = 160) -> None:
        self.max_new_tokens = max_new_tokens

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when a coder and an embedder are available and there is prose to rewrite."""
        return _llm_ready(ctx) and bool(get_prose(prompt))

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Ask for a paraphrase and accept it if similar enough to the original."""
        if not self.is_applicable(prompt, ctx):
            return MutationResult(prompt, False, note="paraphrase needs a coder, an embedder and prose")
        assert ctx.coder is not None
        reply = ctx.coder.ask(PARAPHRASE_INSTRUCTION.format(prose=get_prose(prompt)), self.max_new_tokens, ctx.seed())
        text = clean_reply(reply.text)
        cost = {"llm_calls": reply.llm_calls, "tokens": reply.tokens}
        if not text:
            return MutationResult(prompt, False, note="rejected: empty paraphrase", rejected=True, **cost)
        new = set_prose(prompt, text)
        if new == prompt:
            return MutationResult(prompt, False, note="paraphrase identical to the prompt", **cost)
        sim = ctx.similarity(new)
        if sim < ctx.similarity_threshold:
            note = f"rejected: similarity {sim:.2f} < {ctx.similarity_threshold:.2f}"
            extra = {"similarity": sim, "candidate": new}
            return MutationResult(prompt, False, note=note, rejected=True, extra=extra, **cost)
        return MutationResult(new, True, note=f"paraphrased (similarity {sim:.2f})", extra={"similarity": sim}, **cost)


class Genetic(Operator):
    """One generation of an EPiC-style evolution of prompt variants; the best becomes the prompt.

    The population (``population`` variants with their fitness = ``ctx.evaluate``, the visible-test
    pass fraction in the envs) lives in
    ``ctx.scratch`` for the episode. Each application breeds ``offspring`` children by LLM
    crossover of two tournament-picked parents (probability ``crossover_rate``, once there are
    two) or LLM mutation of one, drops children that drift below the similarity threshold
    (unevaluated, to save cost), evaluates the rest with ``ctx.evaluate``, and keeps the best
    ``population`` (elitism: the best so far is never lost).
    """

    name = "genetic"
    kind = "genetic"
    uses_llm = True

    def __init__(self, population: int = 4, offspring: int = 3, crossover_rate: float = 0.5,
                 max_new_tokens: int = 160) -> None:
        if population < 2 or offspring < 1:
            raise ValueError(f"Genetic needs population >= 2 and offspring >= 1, got {population}, {offspring}")
        if not 0.0 <= crossover_rate <= 1.0:
            raise ValueError(f"crossover_rate must be in [0, 1], got {crossover_rate}")
        self.population, self.offspring = population, offspring
        self.crossover_rate, self.max_new_tokens = crossover_rate, max_new_tokens

    def is_applicable(self, prompt: str, ctx: MutationContext) -> bool:
        """True when a coder, an embedder and a fitness callback are available."""
        return _llm_ready(ctx) and ctx.evaluate is not None and bool(get_prose(prompt))

    def _tournament(self, pop: list[tuple[str, float]], ctx: MutationContext) -> str:
        i, j = ctx.rng.integers(len(pop), size=2)
        return pop[i][0] if pop[i][1] >= pop[j][1] else pop[j][0]

    def apply(self, prompt: str, ctx: MutationContext) -> MutationResult:
        """Breed, evaluate and select one generation; return its best variant."""
        if not self.is_applicable(prompt, ctx):
            return MutationResult(prompt, False, note="genetic needs a coder, an embedder and evaluate")
        assert ctx.coder is not None and ctx.evaluate is not None
        pop: list[tuple[str, float]] = list(ctx.scratch.get("genetic_population", []))
        if prompt not in {p for p, _ in pop}:
            fit = ctx.current_fitness if ctx.current_fitness is not None else ctx.evaluate(prompt)
            pop.append((prompt, fit))
        calls = tokens = evaluated = dropped = 0
        for _ in range(self.offspring):
            if len(pop) >= 2 and ctx.rng.random() < self.crossover_rate:
                a, b = self._tournament(pop, ctx), self._tournament(pop, ctx)
                instr = CROSSOVER_INSTRUCTION.format(a=get_prose(a), b=get_prose(b))
                base = a
            else:
                base = self._tournament(pop, ctx)
                instr = MUTATE_INSTRUCTION.format(prose=get_prose(base))
            reply = ctx.coder.ask(instr, self.max_new_tokens, ctx.seed())
            calls, tokens = calls + reply.llm_calls, tokens + reply.tokens
            text = clean_reply(reply.text)
            child = set_prose(base, text) if text else ""
            if not child or child in {p for p, _ in pop} or ctx.similarity(child) < ctx.similarity_threshold:
                dropped += 1
                continue
            pop.append((child, ctx.evaluate(child)))
            evaluated += 1
        # Stable sort: ties keep the older (already-known) variant first.
        pop = sorted(pop, key=lambda pf: -pf[1])[: self.population]
        ctx.scratch["genetic_population"] = pop
        best, best_fit = pop[0]
        note = f"generation: {evaluated} evaluated, {dropped} dropped, best fitness {best_fit:.2f}"
        return MutationResult(best, best != prompt, llm_calls=calls, tokens=tokens, note=note,
                              extra={"fitness": best_fit, "population": [f for _, f in pop], "evaluated": evaluated})
