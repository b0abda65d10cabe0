"""The offline DPO pipeline (agents.finetune.pipeline): execute/annotate/analyse/pairs/manifests/re-run-alone.

Generation is a scripted test double (:class:`ScriptedCandidates`) everywhere but the one ``llm``/``slow``
test, which samples from the embedded model through llama.cpp. DPO training itself is tested in
tests/test_finetune.py; ``train_dpo``'s output is stood in for here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents.finetune.pipeline import (
    PipelineSettings,
    ast_fingerprint,
    parse_stages,
    read_jsonl,
    read_manifest,
    run_pipeline,
    sha256_file,
)
from agents.finetune.pipeline.artifacts import write_jsonl
from promptgym.error import TaskNotFound, UsageError
from promptgym.llm import Completion

FIRST_REPEATED = 'def first_repeated_char(str1):\n    for index, c in enumerate(str1):\n' \
                 '        if str1[:index + 1].count(c) > 1:\n            return c\n    return "None"\n'
# the same program: other names, spacing, a comment and a docstring
FIRST_REPEATED_RENAMED = 'def first_repeated_char(text):\n    """Find it."""\n    for i,ch in enumerate( text ):  # scan\n' \
                         '        if text[:i+1].count(ch)>1:\n\n            return ch\n    return "None"'
PROGRAMS: dict[str, list[str]] = {
    "MBPP/602": [FIRST_REPEATED, FIRST_REPEATED_RENAMED,
                 'def first_repeated_char(s):\n    return "None"\n'],  # passes 1 of 3
    "MBPP/604": ["def reverse_words(s):\n    return s\n", "def reverse_words(s):\n    return s[::-1]\n",
                 "def reverse_words(s) return s\n"],  # every candidate passes 0: a tie, no pairs
    "MBPP/605": ["def prime_num(num):\n    return num > 1 and all(num % i for i in range(2, num))\n",  # 3 of 3
                 "def prime_num(num):\n    return True\n",  # 2 of 3
                 'def prime_num(num):\n    raise ValueError("no")\n'],  # 0 of 3
    "MBPP/11": ["def remove_Occ(s, ch):\n    return s\n", "def remove_Occ(s, ch):\n    return s\n"],
    "MBPP/12": ["def sort_matrix(M):\n    return sorted(M, key=sum)\n", "def sort_matrix(M):\n    return M\n"],
}
TRAIN_IDS = ["MBPP/602", "MBPP/604", "MBPP/605"]


class ScriptedCandidates:
    """Test double of a CandidateSource: fixed programs per task (fenced, as a chat model answers); no model."""

    model = "scripted"

    def __init__(self, programs: dict[str, list[str]]) -> None:
        self.programs = programs
        self.calls: list[tuple[str, int, int]] = []

    def prompt(self, task: Any) -> Any:
        from promptgym.llm import resolve_template

        return resolve_template("auto", task)(task)

    def generate(self, task: Any, n: int, seed: int) -> list[Completion]:
        self.calls.append((task.task_id, n, seed))
        return [Completion(f"Here is the code:\n```python\n{p}\n```", completion_tokens=len(p.split()))
                for p in self.programs[task.task_id][:n]]

    def close(self) -> None:
        pass


def scripted(programs: dict[str, list[str]] = PROGRAMS) -> Callable[..., ScriptedCandidates]:
    return lambda model, stage, settings: ScriptedCandidates(programs)


def settings(run_dir: Path, **kw: Any) -> PipelineSettings:
    base = {"run_dir": str(run_dir), "task_ids": TRAIN_IDS, "candidates": 3, "timeout": 3.0, "workers": 2,
            "progress": False, "eval_tasks": 2, "eval_n": 2}
    return PipelineSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train_gen (scripted), analysis and rl_build run once for the module."""
    d = tmp_path_factory.mktemp("pipeline")
    run_pipeline(settings(d), "train_gen,analysis,rl_build", sources=scripted())
    return d


def _by_task(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in read_jsonl(run_dir / "analysis.jsonl")}


# -- analysis ------------------------------------------------------------------------------------------
def test_ast_duplicates_ignore_names_whitespace_comments_docstrings() -> None:
    a = ast_fingerprint(FIRST_REPEATED, "first_repeated_char")
    assert a is not None and a == ast_fingerprint(FIRST_REPEATED_RENAMED, "first_repeated_char")
    # what changes behaviour changes the fingerprint: an operator, a constant, the entry point's name, a builtin
    assert a != ast_fingerprint(FIRST_REPEATED.replace("> 1", ">= 1"), "first_repeated_char")
    assert a != ast_fingerprint(FIRST_REPEATED.replace('"None"', '"none"'), "first_repeated_char")
    assert a != ast_fingerprint(FIRST_REPEATED.replace("first_repeated_char", "f"), "first_repeated_char")
    assert ast_fingerprint("x = len(y)") != ast_fingerprint("x = max(y)")
    assert ast_fingerprint("import math\nx = math.pi") != ast_fingerprint("import cmath\nx = cmath.pi")
    assert ast_fingerprint("def f(:\n") is None


def test_analysis_annotates_hidden_tests_and_diversity(run_dir: Path) -> None:
    gen = read_jsonl(run_dir / "train_gen.jsonl")
    assert [(r["task_id"], r["candidate"], r["seed"]) for r in gen[:3]] == [("MBPP/602", i, i) for i in range(3)]
    assert all(r["split"] == "train" and r["prompt_messages"] for r in gen)
    tasks = _by_task(run_dir)
    assert list(tasks) == TRAIN_IDS
    t602 = tasks["MBPP/602"]
    c0, c1, c2 = t602["candidates"]
    assert [c["n_passed"] for c in (c0, c1, c2)] == [3, 3, 1] and all(c["n_tests"] == 3 for c in (c0, c1, c2))
    assert [t["passed"] for t in c2["tests"]] == [False, True, False]  # per-test outcomes, hidden set, in order
    assert c2["tests"][0]["error"] and not c2["tests"][1]["error"]
    assert c1["ast_duplicate_of"] == 0 and c0["ast_duplicate_of"] is None and c2["ast_duplicate_of"] is None
    assert (t602["distinct_programs"], t602["distinct_ast"], t602["ast_duplicates"]) == (3, 2, 1)
    assert t602["pass_rate"] == pytest.approx(2 / 3)
    assert c0["similarity_to_reference"] > c2["similarity_to_reference"] > 0
    t604 = tasks["MBPP/604"]
    assert t604["pass_rate"] == 0.0 and t604["unparsable"] == 1 and t604["status_counts"]["error"] >= 1
    assert tasks["MBPP/605"]["status_counts"] == {"failed": 2, "passed": 1}  # raising in a test is a failed test


# -- pairs -----------------------------------------------------------------------------------------------
def test_pairs_chosen_passes_more_hidden_tests(run_dir: Path) -> None:
    pairs = read_jsonl(run_dir / "rl_build.jsonl")
    tasks = _by_task(run_dir)
    passed = {(t, c["completion"]): c["n_passed"] for t, rec in tasks.items() for c in rec["candidates"]}
    assert len(pairs) == 4
    for p in pairs:  # recomputed from analysis, not trusted from the pair's own fields
        assert passed[(p["task_id"], p["chosen"])] > passed[(p["task_id"], p["rejected"])]
        assert p["chosen_passed"] > p["rejected_passed"] and p["split"] == "train"
    assert {p["task_id"] for p in pairs} == {"MBPP/602", "MBPP/605"}  # 604's candidates all tie
    assert [p["margin"] for p in pairs if p["task_id"] == "MBPP/605"] == [3, 2, 1]  # widest margin first
    # the AST duplicate of 602's best candidate is not paired a second time
    assert [(p["chosen_candidate"], p["rejected_candidate"]) for p in pairs if p["task_id"] == "MBPP/602"] == [(0, 2)]
    nbest = {r["task_id"]: r for r in read_jsonl(run_dir / "rl_build.nbest.jsonl")}
    assert [c["candidate"] for c in nbest["MBPP/605"]["ranked"]] == [0, 1, 2]
    assert [c["rank"] for c in nbest["MBPP/602"]["ranked"]] == [1, 2, 3]
    # the pairs file is what `promptgym finetune dpo --pairs` reads
    from agents.finetune.feedback import load_pairs

    assert len(load_pairs(run_dir / "rl_build.jsonl")) == 4


def test_no_pairs_from_held_out_tasks(run_dir: Path, tmp_path: Path) -> None:
    rows = read_jsonl(run_dir / "analysis.jsonl")
    t605 = next(r for r in rows if r["task_id"] == "MBPP/605")
    test_task = {**t605, "task_id": "MBPP/11", "split": "test"}
    mislabelled = {**t605, "task_id": "MBPP/12", "split": "train"}  # claims train, but 12 is in MBPP's test range
    write_jsonl(tmp_path / "analysis.jsonl", [*rows, test_task, mislabelled])
    manifests = run_pipeline(settings(tmp_path), "rl_build")
    pairs = read_jsonl(tmp_path / "rl_build.jsonl")
    assert len(pairs) == 4 and {p["task_id"] for p in pairs} <= set(TRAIN_IDS)
    assert json.loads(manifests["rl_build"].read_text())["counts"]["held_out_skipped"] == 2
    with pytest.raises(TaskNotFound, match="test split"):  # train_gen refuses a test task outright
        run_pipeline(settings(tmp_path / "x", task_ids=["MBPP/602", "MBPP/11"]), "train_gen", sources=scripted())


# -- manifests and re-running -----------------------------------------------------------------------------
def test_manifests_hash_their_files(run_dir: Path) -> None:
    produced = {}
    for stage in ("train_gen", "analysis", "rl_build"):
        m = read_manifest(run_dir, stage)
        assert m["stage"] == stage and m["settings"]["candidates"] == 3 and m["versions"]["python"]
        for name, info in m["outputs"].items():
            assert info["sha256"] == sha256_file(run_dir / name)
            produced[name] = info["sha256"]
        for name, info in m["inputs"].items():  # each stage read what the previous one wrote
            assert info["sha256"] == produced[name]
    assert read_manifest(run_dir, "train_gen")["counts"] == {"tasks": 3, "candidates": 9, "per_task": 3,
                                                             "length_stopped": 0}
    assert read_manifest(run_dir, "analysis")["counts"]["ast_duplicates"] == 1
    assert read_manifest(run_dir, "rl_build")["counts"]["pairs"] == 4


def test_rerun_analysis_alone_is_identical(run_dir: Path, tmp_path: Path) -> None:
    shutil.copy(run_dir / "train_gen.jsonl", tmp_path / "train_gen.jsonl")  # only train_gen's output is there
    run_pipeline(settings(tmp_path), "analysis,rl_build", sources=lambda *a: pytest.fail("no generation"))
    for name in ("analysis.jsonl", "rl_build.jsonl", "rl_build.nbest.jsonl"):
        assert (tmp_path / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_missing_input_names_the_stage_to_run(tmp_path: Path) -> None:
    for stage, first in (("analysis", "train_gen"), ("rl_build", "analysis"), ("train_dpo", "rl_build"),
                         ("test_after", "train_dpo")):
        with pytest.raises(UsageError, match=f"run --stages {first} first"):
            run_pipeline(settings(tmp_path), stage, sources=scripted())
    assert parse_stages("test_after,baseline") == ["baseline", "test_after"]  # run order, not the given order
    with pytest.raises(UsageError, match="Did you mean 'analysis'"):
        parse_stages("analysys")


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from promptgym.cli import main

    assert main(["finetune", "pipeline", "--stages", "analysis", "--run-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "run --stages train_gen first" in err
    assert main(["finetune", "pipeline", "--stages", "rl_buld", "--run-dir", str(tmp_path)]) == 2
    assert "Did you mean 'rl_build'" in capsys.readouterr().err
    assert main(["finetune", "pipeline", "--candidates", "1", "--run-dir", str(tmp_path)]) == 2
    assert "--candidates must be >= 2" in capsys.readouterr().err


# -- evaluation before/after --------------------------------------------------------------------------------
def test_baseline_and_test_after_compare(tmp_path: Path) -> None:
    before = {"MBPP/11": PROGRAMS["MBPP/11"], "MBPP/12": PROGRAMS["MBPP/12"][::-1]}  # 12: 1 of 2 samples pass
    after = {"MBPP/11": PROGRAMS["MBPP/11"], "MBPP/12": [PROGRAMS["MBPP/12"][0]] * 2}  # 12: 2 of 2
    models: list[tuple[str, str]] = []

    def sources(model: str, stage: str, s: PipelineSettings) -> ScriptedCandidates:
        models.append((stage, model))
        return ScriptedCandidates(before if stage == "baseline" else after)

    run_pipeline(settings(tmp_path), "baseline", sources=sources)
    base = read_manifest(tmp_path, "baseline")["summary"]
    assert base["n_tasks"] == 2 and base["pass@1"] == pytest.approx(0.25)
    assert all(t["split"] == "test" for t in read_jsonl(tmp_path / "baseline.jsonl"))
    write_jsonl(tmp_path / "train_dpo.jsonl", [{"adapter": "stand-in/adapter", "merged": "stand-in/merged"}])
    with pytest.raises(UsageError, match="eval_n"):  # a different evaluation is not compared
        run_pipeline(settings(tmp_path, eval_n=1), "test_after", sources=sources)
    run_pipeline(settings(tmp_path), "test_after", sources=sources)
    assert models == [("baseline", "embedded"), ("test_after", "stand-in/merged")]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["after"]["pass@1"] == pytest.approx(0.5) and report["delta"]["pass@1"] == pytest.approx(0.25)
    assert report["changed_tasks"] == [{"task_id": "MBPP/12", "before": 1, "after": 2}]
    assert "| pass@1 | 0.250 | 0.500 | +0.250 |" in (tmp_path / "report.md").read_text()


# -- the real model -------------------------------------------------------------------------------------------
@pytest.mark.llm
@pytest.mark.slow
def test_train_gen_with_the_embedded_model(tmp_path: Path) -> None:
    """train_gen through llama.cpp: 1 task x 2 seeded samples, cached; a re-run is served by the cache."""
    s = settings(tmp_path / "run", task_ids=["MBPP/604"], candidates=2, max_new_tokens=48,
                 cache=str(tmp_path / "gen.sqlite"))
    run_pipeline(s, "train_gen,analysis,rl_build")
    first = (tmp_path / "run" / "train_gen.jsonl").read_bytes()
    recs = read_jsonl(tmp_path / "run" / "train_gen.jsonl")
    assert [r["seed"] for r in recs] == [0, 1] and all(r["completion"] for r in recs)
    assert read_manifest(tmp_path / "run", "train_gen")["summary"]["generation_cache"]["misses"] == 2
    assert len(read_jsonl(tmp_path / "run" / "analysis.jsonl")[0]["candidates"]) == 2
    run_pipeline(s, "train_gen")
    assert read_manifest(tmp_path / "run", "train_gen")["summary"]["generation_cache"]["hits"] == 2
    assert (tmp_path / "run" / "train_gen.jsonl").read_bytes() == first
