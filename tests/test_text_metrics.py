"""evaluators.text_metrics: each metric matches its library on a known pair; unavailable ones say why."""

from __future__ import annotations

import argparse
import math

import pytest

from evaluators import text_metrics as tm
from evaluators.text_metrics import TextMetric, score_texts

CANDIDATE = "def add(a, b):\n    return a+b\n"
REFERENCE = "def add(x, y):\n    return x + y\n"


def test_bleu_matches_sacrebleu() -> None:
    import sacrebleu

    assert tm.bleu(CANDIDATE, REFERENCE) == pytest.approx(sacrebleu.sentence_bleu(CANDIDATE, [REFERENCE]).score)
    assert tm.bleu(REFERENCE, REFERENCE) == pytest.approx(100.0)
    scores = score_texts([CANDIDATE, REFERENCE], [REFERENCE, REFERENCE], ["bleu"])
    assert scores["bleu"].corpus == pytest.approx(
        sacrebleu.corpus_bleu([CANDIDATE, REFERENCE], [[REFERENCE, REFERENCE]]).score)


def test_codebleu_matches_codebleu() -> None:
    from codebleu import calc_codebleu

    expected = calc_codebleu([REFERENCE], [CANDIDATE], lang="python")["codebleu"]
    assert tm.codebleu(CANDIDATE, REFERENCE) == pytest.approx(expected)
    assert 0.0 < expected < 1.0
    assert tm.codebleu("", REFERENCE) == 0.0  # the library divides by the candidate's length


def test_rouge_matches_rouge_score() -> None:
    from rouge_score import rouge_scorer

    expected = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]).score(REFERENCE, CANDIDATE)
    got = tm.rouge(CANDIDATE, REFERENCE)
    assert got == {k: pytest.approx(v.fmeasure) for k, v in expected.items()}


def test_minilm_similarity_matches_the_embedder() -> None:
    from promptgym.embeddings import get_embedder

    embedder = get_embedder("minilm")
    got = score_texts([CANDIDATE], [REFERENCE], ["minilm"], embedder=embedder)["minilm"]
    assert got.values == [pytest.approx(embedder.similarity(CANDIDATE, REFERENCE), abs=1e-6)]
    assert 0.5 < got.values[0] <= 1.0


def test_minilm_without_embedder_is_unavailable() -> None:
    got = score_texts([CANDIDATE], [REFERENCE], ["minilm"])["minilm"]
    assert got.unavailable.startswith("unavailable: no embedder given") and got.values == []


def test_bertscore_default_model_offline_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    got = score_texts([CANDIDATE], [REFERENCE], ["bertscore", "bleu"])
    assert got["bertscore_f1"].unavailable.startswith("unavailable: the model roberta-large")
    assert "\n" not in got["bertscore_f1"].unavailable
    assert got["bleu"].values  # the others still run


def test_bertscore_matches_bert_score_with_a_local_model() -> None:
    """As far as offline allows: bert-score's own code, on the embedded MiniLM (a BERT model, 6 layers)."""
    import bert_score

    from promptgym.assets import minilm_dir

    model = str(minilm_dir())
    _, _, f1 = bert_score.score([CANDIDATE], [REFERENCE], model_type=model, num_layers=6)
    got = score_texts([CANDIDATE], [REFERENCE], ["bertscore"], bertscore_model=model, bertscore_layers=6)
    assert got["bertscore_f1"].values == [pytest.approx(float(f1[0]), abs=1e-6)]


def test_missing_library_is_unavailable_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = tm._require

    def fake(module: str, package: str):
        if module == "codebleu":
            raise tm.DependencyNotInstalled("codebleu is not installed: pip install 'codebleu'")
        return real(module, package)

    monkeypatch.setattr(tm, "_require", fake)
    got = score_texts([CANDIDATE], [REFERENCE], ["codebleu", "rouge"])
    assert got["codebleu"].unavailable == ("unavailable: DependencyNotInstalled: codebleu is not installed: "
                                           "pip install 'codebleu'")
    assert math.isnan(got["codebleu"].mean)
    assert got["rougeL"].values


def test_bad_input_says_how_to_fix() -> None:
    with pytest.raises(ValueError, match="Did you mean 'rouge'"):
        score_texts([CANDIDATE], [REFERENCE], ["rogue"])
    with pytest.raises(ValueError, match="one reference each"):
        score_texts([CANDIDATE, CANDIDATE], [REFERENCE], ["bleu"])
    assert TextMetric().to_dict() == {"mean": None, "corpus": None, "n": 0, "unavailable": ""}


def test_promptgym_evaluate_text_metrics_adds_columns() -> None:
    """`promptgym evaluate --text-metrics`: the per-sample columns and the summary rows (no LLM needed)."""
    from promptgym import baseline
    from promptgym.error import UsageError
    from promptgym.tasks import Task

    task = Task("T/1", "add two numbers", "add", ("assert add(1, 2) == 3",), reference=REFERENCE)
    samples = [[{"code": CANDIDATE}, {"code": REFERENCE}]]
    means = baseline._text_metrics("bleu,rouge", [task], samples)
    assert samples[0][1]["bleu"] == pytest.approx(100.0) and 0 < samples[0][0]["rougeL"] < 1
    assert set(means) == {"bleu", "rouge1", "rouge2", "rougeL"}
    with pytest.raises(UsageError, match="Did you mean 'codebleu'"):
        baseline._text_metric_names("codeblue")
    args = baseline._parser().parse_args(["--text-metrics"])
    assert args.text_metrics == "bleu,codebleu,rouge,minilm"
    assert isinstance(args, argparse.Namespace)
