"""Similarity of generated code to reference code, computed by the maintained libraries.

Pass/fail says whether code works; these say how close it is to a reference, which helps read
failures (near misses versus unrelated programs) and compare agents that pass equally often:

* BLEU (``sacrebleu``; its 0-100 scale and its default ``13a`` tokenizer),
* CodeBLEU (``codebleu``, Python grammar through ``tree-sitter-python==0.21.0``; later versions fail
  with "an integer is required"),
* ROUGE-1/2/L F1 (``rouge-score``),
* BERTScore F1 (``bert-score``; its default English model is downloaded from the hub, so offline it
  is reported as unavailable unless ``bertscore_model`` names a local model),
* embedding cosine similarity with an embedder the caller passes in (promptgym passes its offline
  MiniLM, :func:`promptgym.embeddings.get_embedder`): ``evaluators`` knows no model of its own.

Every function takes strings and returns floats; :func:`score_texts` scores many pairs at once and
turns a metric that cannot run here into ``TextMetric(unavailable="<why>")`` instead of an exception.

>>> round(bleu("def f(x):\\n    return x + 1", "def f(x):\\n    return x + 1"), 1)
100.0
>>> rouge("return a + b", "return a + b")["rougeL"]
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluators.error import DependencyNotInstalled

__all__ = [
    "COLUMNS",
    "METRICS",
    "TextMetric",
    "bertscore",
    "bleu",
    "codebleu",
    "embedding_similarity",
    "rouge",
    "score_texts",
]

METRICS: tuple[str, ...] = ("bleu", "codebleu", "rouge", "bertscore", "minilm")
"""Metric names :func:`score_texts` takes."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "bleu": ("bleu",), "codebleu": ("codebleu",), "rouge": ("rouge1", "rouge2", "rougeL"),
    "bertscore": ("bertscore_f1",), "minilm": ("minilm",),
}
"""The result columns each metric fills."""
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
BERTSCORE_DEFAULT = "roberta-large (bert-score's default for lang='en')"


@dataclass
class TextMetric:
    """One column over many (candidate, reference) pairs.

    Attributes:
        values: One score per pair (empty when unavailable).
        corpus: The corpus-level score where the library defines one (BLEU, CodeBLEU), else the mean.
        unavailable: Why the metric could not be computed here ("" when it was).
    """

    values: list[float] = field(default_factory=list)
    corpus: float = float("nan")
    unavailable: str = ""

    @property
    def mean(self) -> float:
        """Mean over pairs (NaN when none or unavailable)."""
        return float(sum(self.values) / len(self.values)) if self.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (NaN becomes None)."""
        return {"mean": _json_float(self.mean), "corpus": _json_float(self.corpus), "n": len(self.values),
                "unavailable": self.unavailable}


def _json_float(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyNotInstalled(f"{module} is not installed: pip install '{package}' "
                                     "(or promptgym's extras: pip install 'promptgym[bench]')") from exc


def bleu(candidate: str, reference: str) -> float:
    """Sentence BLEU of ``candidate`` against ``reference``: ``sacrebleu.sentence_bleu(...).score`` (0-100)."""
    sacrebleu = _require("sacrebleu", "sacrebleu")
    return float(sacrebleu.sentence_bleu(candidate, [reference]).score)


def _corpus_bleu(candidates: Sequence[str], references: Sequence[str]) -> float:
    sacrebleu = _require("sacrebleu", "sacrebleu")
    return float(sacrebleu.corpus_bleu(list(candidates), [list(references)]).score)


def codebleu(candidate: str, reference: str, lang: str = "python") -> float:
    """CodeBLEU (0-1): ``codebleu.calc_codebleu([reference], [candidate], lang)["codebleu"]``; 0.0 for empty code."""
    return _codebleu([candidate], [reference], lang)


def _codebleu(candidates: Sequence[str], references: Sequence[str], lang: str) -> float:
    if not any(c.strip() for c in candidates):
        return 0.0  # the library divides by the candidate's length
    calc = _require("codebleu", "codebleu tree-sitter-python==0.21.0").calc_codebleu
    return float(calc(list(references), list(candidates), lang=lang)["codebleu"])


def rouge(candidate: str, reference: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 (0-1) from ``rouge_score.rouge_scorer.RougeScorer`` (no stemming)."""
    return {k: float(v.fmeasure) for k, v in _rouge_scorer().score(reference, candidate).items()}


_SCORER: Any = None


def _rouge_scorer() -> Any:
    global _SCORER
    if _SCORER is None:
        module = _require("rouge_score.rouge_scorer", "rouge-score")
        _SCORER = module.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
    return _SCORER


def bertscore(
    candidates: Sequence[str],
    references: Sequence[str],
    model: str | None = None,
    num_layers: int | None = None,
    device: str = "cpu",
) -> list[float]:
    """BERTScore F1 per pair from ``bert_score.score``.

    Args:
        candidates: Generated texts.
        references: One reference per candidate.
        model: A model name or local folder for ``bert_score`` (``model_type``); None for its default
            English model (roberta-large, downloaded from the hub).
        num_layers: Which layer's embeddings to use; needed for models ``bert_score`` does not know.
        device: Torch device.

    Raises:
        DependencyNotInstalled: bert-score is not installed.
        OSError: The model is neither local nor downloadable (offline).
    """
    bert_score = _require("bert_score", "bert-score")
    kwargs: dict[str, Any] = {"model_type": model, "num_layers": num_layers} if model else {"lang": "en"}
    _, _, f1 = bert_score.score(list(candidates), list(references), device=device, verbose=False, **kwargs)
    return [float(x) for x in f1.tolist()]


def embedding_similarity(candidates: Sequence[str], references: Sequence[str], embedder: Any) -> list[float]:
    """Cosine similarity per pair of ``embedder.encode(texts)`` rows (an ``(n, d)`` array; any norm).

    ``embedder`` is anything with ``encode(list[str])``, e.g. promptgym's offline MiniLM
    (``promptgym.embeddings.get_embedder("minilm")``) or a sentence-transformers model.
    """
    import numpy as np

    a = np.asarray(embedder.encode(list(candidates)), dtype=np.float64)
    b = np.asarray(embedder.encode(list(references)), dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    sims = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return [float(x) for x in np.clip(sims, -1.0, 1.0)]


def _why(exc: BaseException) -> str:
    """One short line: the exception's first sentence."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    first = text.split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {first[:160]}"


def score_texts(
    candidates: Sequence[str],
    references: Sequence[str],
    metrics: Sequence[str] = METRICS,
    *,
    embedder: Any = None,
    bertscore_model: str | None = None,
    bertscore_layers: int | None = None,
    lang: str = "python",
    progress: Callable[[str], None] | None = None,
) -> dict[str, TextMetric]:
    """Score every (candidate, reference) pair with each of ``metrics``; one :class:`TextMetric` per column.

    A metric that cannot run here (library missing, model not available offline, no embedder
    given for ``"minilm"``) comes back with ``unavailable`` saying why; the others are unaffected.

    Args:
        candidates: Generated programs.
        references: One reference program per candidate.
        metrics: Any of :data:`METRICS`.
        embedder: For ``"minilm"``: an object with ``encode(list[str])`` (promptgym passes its MiniLM).
        bertscore_model: For ``"bertscore"``: a model name or local folder (None: bert-score's default).
        bertscore_layers: For ``"bertscore"`` with a model bert-score does not know: the layer to use.
        lang: CodeBLEU's language.
        progress: Called with each metric's name before it runs (for a progress line).
    """
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references: give one reference each")
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        from difflib import get_close_matches

        near = get_close_matches(bad[0], METRICS, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"Unknown text metric {bad[0]!r}.{hint} Choices: {', '.join(METRICS)}")
    cands, refs = [str(c or "") for c in candidates], [str(r or "") for r in references]
    out: dict[str, TextMetric] = {}
    for name in metrics:
        if progress is not None:
            progress(name)
        try:
            out.update(_one(name, cands, refs, embedder, bertscore_model, bertscore_layers, lang))
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            # ImportError: library missing; OSError: a model that is not here offline; the others:
            # a library refusing this input. Reported per column, never fatal for the others.
            why = _why(exc)
            if name == "bertscore" and isinstance(exc, OSError) and bertscore_model is None:
                why = f"the model {BERTSCORE_DEFAULT} is not available offline ({why})"
            for col in COLUMNS[name]:
                out[col] = TextMetric(unavailable=f"unavailable: {why}")
    return out


def _one(name: str, cands: list[str], refs: list[str], embedder: Any, bert_model: str | None,
         bert_layers: int | None, lang: str) -> dict[str, TextMetric]:
    if not cands:
        return {col: TextMetric() for col in COLUMNS[name]}
    if name == "bleu":
        return {"bleu": TextMetric([bleu(c, r) for c, r in zip(cands, refs)], _corpus_bleu(cands, refs))}
    if name == "codebleu":
        values = [codebleu(c, r, lang) for c, r in zip(cands, refs)]
        return {"codebleu": TextMetric(values, _codebleu(cands, refs, lang))}
    if name == "rouge":
        rows = [rouge(c, r) for c, r in zip(cands, refs)]
        cols = {}
        for key in ROUGE_TYPES:
            values = [row[key] for row in rows]
            cols[key] = TextMetric(values, sum(values) / len(values))
        return cols
    if name == "bertscore":
        values = bertscore(cands, refs, bert_model, bert_layers)
        return {"bertscore_f1": TextMetric(values, sum(values) / len(values))}
    if embedder is None:
        return {"minilm": TextMetric(unavailable="unavailable: no embedder given (promptgym passes its offline "
                                                 "MiniLM: promptgym.embeddings.get_embedder('minilm'))")}
    values = embedding_similarity(cands, refs, embedder)
    return {"minilm": TextMetric(values, sum(values) / len(values))}
