"""The stages, the settings they share and :func:`run_pipeline`.

Each stage reads the previous stage's JSONL from the run folder and writes ``<stage>.jsonl`` plus
``<stage>.manifest.json``; a missing input is a one-line UsageError naming the stage to run first.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.finetune.pipeline.analyse import annotate, preference_pairs, rank_candidates, task_summary
from agents.finetune.pipeline.artifacts import read_jsonl, read_manifest, require, write_jsonl, write_manifest
from agents.finetune.pipeline.report import compare, report_markdown
from agents.finetune.pipeline.sources import CandidateSource, LLMCandidates, SourceFactory, llm_sources
from promptgym.error import UsageError

__all__ = ["STAGES", "CandidateSource", "LLMCandidates", "PipelineSettings", "SourceFactory", "llm_sources",
           "parse_stages", "run_pipeline"]

STAGES = ("baseline", "train_gen", "analysis", "rl_build", "train_dpo", "test_after")
"""Every stage, in the order a run goes through them (``--stages`` are put in this order)."""

EVAL_KEYS = ("eval_dataset", "eval_tasks", "eval_n", "eval_backend", "template", "max_new_tokens", "temperature",
             "top_p", "seed", "timeout", "dataset_path")
"""Settings that must match between ``baseline`` and ``test_after`` for the comparison to mean anything."""


@dataclass
class PipelineSettings:
    """Settings of an offline DPO run; every stage records them all in its manifest."""

    run_dir: str = "runs/pipeline"
    """the run folder: every stage reads and writes its files here"""
    model: str = "embedded"
    """the policy: 'embedded' (SmolLM2-135M GGUF), a .gguf, a model folder or a hub id"""
    dataset: str = "mbpp"
    """the dataset whose *train* split gives the candidates and pairs"""
    dataset_path: str | None = None
    """a local file or folder of the dataset (MBPP also reads $PROMPTGYM_MBPP_PATH)"""
    tasks: int | None = 16
    """train tasks (the first K of the split; None: all)"""
    task_ids: Sequence[str] | None = None
    """explicit train task ids instead of the first ``tasks`` (each must be in the train split)"""
    candidates: int = 4
    """candidates generated per train task"""
    backend: str = "llama_cpp"
    """LLM backend of train_gen (llama_cpp is fastest on a CPU)"""
    template: str = "auto"
    """prompt template (promptgym.llm.TEMPLATES, or auto)"""
    temperature: float = 0.8
    """sampling temperature of train_gen (and of the evaluation when eval_n > 1)"""
    top_p: float = 0.95
    """nucleus sampling"""
    max_new_tokens: int = 256
    """tokens per completion"""
    seed: int = 0
    """sample i of a task uses seed + i"""
    cache: str | None = None
    """generation cache file (None: the project's default cache)"""
    no_cache: bool = False
    """generate without the cache"""
    timeout: float = 5.0
    """seconds per program in the sandbox"""
    workers: int | None = None
    """concurrent sandbox workers (default min(4, CPUs))"""
    max_pairs_per_task: int | None = 8
    """cap on (chosen, rejected) pairs per task, widest margins first (None: all)"""
    eval_dataset: str = "mbpp"
    """held-out benchmark of baseline/test_after (its test split)"""
    eval_tasks: int | None = 20
    """held-out tasks evaluated (None: the whole test split)"""
    eval_n: int = 1
    """samples per held-out task (1: greedy pass@1)"""
    eval_backend: str = "transformers"
    """backend of baseline/test_after: the same for both, since the trained model is a transformers folder"""
    dpo_preset: str | None = "fast"
    """preset of the DPO config (fast | research | full)"""
    dpo_overrides: dict[str, Any] = field(default_factory=dict)
    """any field of TRL's DPOConfig (``--set beta=0.1``), over the preset"""
    progress: bool = True
    """tqdm progress bars for generation and execution"""

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise UsageError(f"--candidates must be >= 2 (pairs compare candidates of one task), got {self.candidates}")
        for name in ("tasks", "eval_tasks"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1 (leave it out for all), got {value}")
        if self.eval_n < 1:
            raise UsageError(f"--eval-n must be >= 1, got {self.eval_n}")
        if self.timeout <= 0:
            raise UsageError(f"--timeout must be > 0 seconds, got {self.timeout}")
        if self.task_ids is not None:
            self.task_ids = [str(t) for t in self.task_ids]

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON data."""
        return dataclasses.asdict(self)


def parse_stages(text: str | Sequence[str]) -> list[str]:
    """``"baseline,train_gen"`` (or ``all``) as stage names in run order; a typo is a UsageError with a suggestion."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if not names:
        raise UsageError(f"--stages is empty; give some of {','.join(STAGES)} (or all)")
    if names == ["all"]:
        return list(STAGES)
    for name in names:
        if name not in STAGES:
            from promptgym.error import did_you_mean

            raise UsageError(f"unknown stage {name!r}.{did_you_mean(name, STAGES)} Stages: {','.join(STAGES)}")
    return [s for s in STAGES if s in names]


# -- shared by the stages ---------------------------------------------------------------------------
class _Run:
    """One pipeline invocation: settings, the run folder, the source factory and a lazily started sandbox."""

    def __init__(self, settings: PipelineSettings, sources: SourceFactory) -> None:
        self.settings = settings
        self.dir = Path(settings.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sources = sources
        self._sandbox: Any = None

    def path(self, stage: str) -> Path:
        return self.dir / f"{stage}.jsonl"

    def bar(self, **kw: Any) -> Any:
        from tqdm import tqdm

        return tqdm(disable=not self.settings.progress, **kw)

    def execute(self, jobs: list[dict[str, Any]]) -> list[Any]:
        """Results of ``jobs`` from the sandbox, with a progress bar."""
        if self._sandbox is None:
            from evaluators import Sandbox

            self._sandbox = Sandbox(backend="process", workers=self.settings.workers)
        with self.bar(total=len(jobs), desc="executing", unit="prog") as bar:
            return self._sandbox.run_many(jobs, progress=lambda: bar.update(1))

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


def _prompt_fields(prompt: Any) -> dict[str, Any]:
    """``prompt`` (text: the user turn of a chat) and ``prompt_messages`` (the chat, or None)."""
    if isinstance(prompt, str):
        return {"prompt": prompt, "prompt_messages": None}
    user = [m["content"] for m in prompt if m.get("role") == "user"]
    return {"prompt": user[-1] if user else "", "prompt_messages": list(prompt)}


def _generate(run: _Run, source: CandidateSource, tasks: Sequence[Any], n: int, dataset: str) -> list[dict[str, Any]]:
    """One record per candidate: the prompt, the raw completion and the extracted program.

    ``dataset`` is the name the tasks were loaded by (what ``analysis`` reloads them with).
    """
    from promptgym.llm import extract_code

    records = []
    for task in run.bar(iterable=tasks, desc="generating", unit="task"):
        prompt = source.prompt(task)
        prefix = task.code_prefix if (task.code_prefix and isinstance(prompt, str)) else ""  # plain HumanEval
        comps = source.generate(task, n, run.settings.seed)
        if len(comps) != n:
            raise RuntimeError(f"the candidate source gave {len(comps)} completions for {task.task_id}, not {n}")
        for i, c in enumerate(comps):
            ex = extract_code(c.text, task.entry_point, prefix=prefix)
            records.append({"task_id": task.task_id, "dataset": dataset, "split": task.split, "candidate": i,
                            "seed": run.settings.seed + i, **_prompt_fields(prompt), "completion": c.text,
                            "code": ex.code, "issues": list(ex.issues), "entry_point_found": ex.entry_point_found,
                            "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens})
    return records


def _tasks_of(records: Sequence[dict[str, Any]], settings: PipelineSettings) -> dict[str, Any]:
    from promptgym.tasks import load_tasks

    by_dataset: dict[str, list[str]] = {}
    for r in records:
        ids = by_dataset.setdefault(r["dataset"], [])
        if r["task_id"] not in ids:
            ids.append(r["task_id"])
    out: dict[str, Any] = {}
    for dataset, ids in by_dataset.items():
        out.update({t.task_id: t for t in load_tasks(dataset, path=settings.dataset_path, task_ids=ids)})
    return out


def _execute_and_annotate(run: _Run, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: its candidates judged on the hidden tests, annotated, and the task's summary."""
    tasks = _tasks_of(records, run.settings)
    results = run.execute([tasks[r["task_id"]].job(r["code"], tests="hidden", timeout=run.settings.timeout)
                           for r in records])
    grouped: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, dict[str, int]] = {}
    for r, res in zip(records, results):
        task = tasks[r["task_id"]]
        grouped.setdefault(task.task_id, []).append(annotate(r, res, task, seen.setdefault(task.task_id, {})))
    out = []
    for task_id, cands in grouped.items():
        first = cands[0]
        out.append({"task_id": task_id, "dataset": first["dataset"], "split": first["split"], "prompt": first["prompt"],
                    "prompt_messages": first["prompt_messages"], **task_summary(tasks[task_id], cands),
                    "candidates": cands})
    return out


def _held_out(dataset: str, task_id: str, split: str) -> bool:
    """True unless the task is in its dataset's train split (checked against MBPP's id ranges too)."""
    if split != "train":
        return True
    if dataset.startswith("mbpp") and task_id.startswith("MBPP/"):
        from promptgym.tasks.mbpp import split_of

        return split_of(int(task_id.split("/", 1)[1])) != "train"
    return False


# -- the stages ---------------------------------------------------------------------------------------
def stage_train_gen(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """N candidates per train task."""
    from agents.finetune.trainers import load_train_tasks
    from promptgym.tasks import load_tasks

    s = run.settings
    if s.task_ids:
        tasks = load_train_tasks(s.dataset, None, s.dataset_path)  # also refuses datasets without a train split
        tasks = load_tasks(s.dataset, split=tasks[0].split, path=s.dataset_path, task_ids=s.task_ids)
    else:
        tasks = load_train_tasks(s.dataset, s.tasks, s.dataset_path)
    source = run.sources(s.model, "train_gen", s)
    try:
        records = _generate(run, source, tasks, s.candidates, s.dataset)
        stats = getattr(source, "cache_stats", lambda: None)()
        model = source.model
    finally:
        source.close()
    out = run.path("train_gen")
    write_jsonl(out, records)
    counts = {"tasks": len(tasks), "candidates": len(records), "per_task": s.candidates,
              "length_stopped": sum(r["finish_reason"] == "length" for r in records)}
    return [], [out], counts, {"model": model, "generation_cache": stats}


def stage_analysis(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """Execute and annotate every candidate on the hidden tests; pass rate and diversity per task."""
    src = require(run.dir, "train_gen.jsonl", "train_gen", "analysis")
    records = read_jsonl(src)
    tasks = _execute_and_annotate(run, records)
    out = run.path("analysis")
    write_jsonl(out, tasks)
    n = sum(t["n_candidates"] for t in tasks)
    counts = {"tasks": len(tasks), "candidates": n,
              "passed": sum(c["status"] == "passed" for t in tasks for c in t["candidates"]),
              "distinct_programs": sum(t["distinct_programs"] for t in tasks),
              "distinct_ast": sum(t["distinct_ast"] for t in tasks),
              "ast_duplicates": sum(t["ast_duplicates"] for t in tasks),
              "unparsable": sum(t["unparsable"] for t in tasks),
              "tasks_all_pass": sum(t["pass_rate"] == 1.0 for t in tasks),
              "tasks_none_pass": sum(t["pass_rate"] == 0.0 for t in tasks)}
    summary = {"mean_pass_rate": round(sum(t["pass_rate"] for t in tasks) / max(1, len(tasks)), 6)}
    return [src], [out], counts, summary


def stage_rl_build(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """Ranked n-best lists and (chosen, rejected) pairs, train tasks only."""
    src = require(run.dir, "analysis.jsonl", "analysis", "rl_build")
    pairs, nbest, skipped = [], [], []
    ties = 0
    for task in read_jsonl(src):
        if _held_out(task["dataset"], task["task_id"], task["split"]):
            skipped.append(task["task_id"])  # held-out tasks never become training data
            continue
        ranked = rank_candidates(task["candidates"])
        nbest.append({"task_id": task["task_id"], "pass_rate": task["pass_rate"],
                      "ranked": [{k: c[k] for k in ("rank", "candidate", "status", "n_passed", "n_tests",
                                                    "ast_fingerprint", "ast_duplicate_of", "similarity_to_reference",
                                                    "code")} for c in ranked]})
        made = preference_pairs(ranked, run.settings.max_pairs_per_task)
        ties += len({c["n_passed"] for c in ranked}) == 1
        for chosen, rejected in made:
            pairs.append({"prompt": task["prompt"], "prompt_messages": task["prompt_messages"],
                          "chosen": chosen["completion"], "rejected": rejected["completion"],
                          "task_id": task["task_id"], "split": task["split"],
                          "chosen_candidate": chosen["candidate"], "rejected_candidate": rejected["candidate"],
                          "chosen_passed": chosen["n_passed"], "rejected_passed": rejected["n_passed"],
                          "n_tests": chosen["n_tests"], "margin": chosen["n_passed"] - rejected["n_passed"]})
    out, out_nbest = run.path("rl_build"), run.dir / "rl_build.nbest.jsonl"
    write_jsonl(out, pairs)
    write_jsonl(out_nbest, nbest)
    counts = {"pairs": len(pairs), "tasks": len(nbest), "tasks_with_pairs": len({p["task_id"] for p in pairs}),
              "tasks_all_tied": ties, "held_out_skipped": len(skipped)}
    return [src], [out, out_nbest], counts, {"held_out_skipped": skipped}


def _dpo_dataset(pairs: list[dict[str, Any]], tokenizer: Any) -> Any:
    """TRL's conversational preference format for chat models (the chat the candidates were sampled from)."""
    from datasets import Dataset

    if getattr(tokenizer, "chat_template", None) and all(p["prompt_messages"] for p in pairs):
        return Dataset.from_list([{"prompt": p["prompt_messages"],
                                   "chosen": [{"role": "assistant", "content": p["chosen"]}],
                                   "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])
    return Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])


def stage_train_dpo(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """TRL's DPO with LoRA (:func:`agents.finetune.trainers.make_dpo_trainer`) on rl_build's pairs."""
    src = require(run.dir, "rl_build.jsonl", "rl_build", "train_dpo")
    pairs = read_jsonl(src)
    if not pairs:
        raise UsageError(f"{src} holds no pairs (every task's candidates tied); raise --candidates or --tasks "
                         "and re-run train_gen,analysis,rl_build")
    from agents.finetune.trainers import env_offline

    s = run.settings
    if s.model == "embedded":
        env_offline()
    from agents.finetune.config import build_config
    from agents.finetune.model import load_model
    from agents.finetune.trainers import finish, make_dpo_trainer

    out_dir = run.dir / "train_dpo"
    overrides = {"pairs_path": str(src), "output_dir": str(out_dir), "merge_adapter": True, **s.dpo_overrides}
    try:
        config = build_config("dpo", model=s.model, dataset=s.dataset, preset=s.dpo_preset, overrides=overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    model, tok = load_model(config.model_name)
    trainer = make_dpo_trainer(config, model=model, tokenizer=tok, pairs=_dpo_dataset(pairs, tok))
    trainer.train()
    paths = finish(trainer, config, "dpo")
    logs = trainer.state.log_history
    record = {**paths, "pairs": len(pairs), "global_step": trainer.state.global_step,
              "train_loss": next((r["train_loss"] for r in reversed(logs) if "train_loss" in r), None),
              "log_history": logs, "config": {k: str(v) for k, v in config.to_dict().items()}}
    out = run.path("train_dpo")
    write_jsonl(out, [record])
    weights = [p for p in (Path(paths["adapter"]) / "adapter_model.safetensors",) if p.is_file()]
    counts = {"pairs": len(pairs), "steps": trainer.state.global_step}
    return [src], [out, *weights], counts, {"adapter": paths["adapter"], "merged": paths.get("merged")}


def _evaluate(run: _Run, stage: str, model: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate ``eval_n`` per held-out task, judge on the hidden tests; records and pass@k."""
    from types import SimpleNamespace

    from agents.finetune.quality import quality_scores
    from evaluators import pass_at_k_report
    from promptgym.tasks import load_tasks

    s = run.settings
    split = "test"
    tasks = load_tasks(s.eval_dataset, None if s.eval_dataset == "humaneval" else split, path=s.dataset_path)
    tasks = tasks[: s.eval_tasks] if s.eval_tasks else tasks
    source = run.sources(model, stage, s)
    try:
        records = _generate(run, source, tasks, s.eval_n, s.eval_dataset)
        used = source.model
    finally:
        source.close()
    per_task = _execute_and_annotate(run, records)
    flat = [c for t in per_task for c in t["candidates"]]
    quality = quality_scores([c["code"] for c in flat], [SimpleNamespace(status=c["status"]) for c in flat])
    summary = {"model": used, "n_tasks": len(per_task), "n": s.eval_n,
               **pass_at_k_report([t["n_candidates"] for t in per_task],
                                  [sum(c["status"] == "passed" for c in t["candidates"]) for t in per_task],
                                  (1, 5, 10)),
               "mean_pass_fraction": round(sum(c["pass_fraction"] for c in flat) / max(1, len(flat)), 6),
               "unparsable_rate": round(sum(not c["parses"] for c in flat) / max(1, len(flat)), 6),
               "timeout_rate": round(sum(c["status"] == "timeout" for c in flat) / max(1, len(flat)), 6),
               "quality": round(sum(q.score for q in quality) / max(1, len(quality)), 6)}
    return per_task, summary


def stage_baseline(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """The untrained model on held-out tasks, judged on hidden tests."""
    per_task, summary = _evaluate(run, "baseline", run.settings.model)
    out = run.path("baseline")
    write_jsonl(out, per_task)
    return [], [out], {"tasks": len(per_task), "samples": sum(t["n_candidates"] for t in per_task)}, summary


def stage_test_after(run: _Run) -> tuple[list[Path], list[Path], dict[str, Any], dict[str, Any] | None]:
    """The trained model like ``baseline``, and one report comparing both."""
    trained = require(run.dir, "train_dpo.jsonl", "train_dpo", "test_after")
    base = require(run.dir, "baseline.jsonl", "baseline", "test_after")
    before = read_manifest(run.dir, "baseline")
    if before is None:
        raise UsageError(f"test_after needs {run.dir / 'baseline.manifest.json'}: run --stages baseline first")
    now = run.settings.to_dict()
    differ = [k for k in EVAL_KEYS if before["settings"].get(k) != now.get(k)]
    if differ:
        raise UsageError(f"baseline ran with other evaluation settings ({', '.join(differ)}); re-run --stages baseline "
                         "with these settings so the comparison is like for like")
    rec = read_jsonl(trained)[0]
    model = rec.get("merged") or rec["adapter"]
    per_task, summary = _evaluate(run, "test_after", model)
    out = run.path("test_after")
    write_jsonl(out, per_task)
    report = compare(before["summary"], summary, read_jsonl(base), per_task)
    (run.dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    (run.dir / "report.md").write_text(report_markdown(report))
    counts = {"tasks": len(per_task), "samples": sum(t["n_candidates"] for t in per_task)}
    return [trained, base], [out, run.dir / "report.json", run.dir / "report.md"], counts, summary


_STAGE_FUNCS = {"baseline": stage_baseline, "train_gen": stage_train_gen, "analysis": stage_analysis,
                "rl_build": stage_rl_build, "train_dpo": stage_train_dpo, "test_after": stage_test_after}


def run_pipeline(settings: PipelineSettings, stages: str | Sequence[str] = "all",
                 sources: SourceFactory | None = None) -> dict[str, Path]:
    """Run ``stages`` (in pipeline order) in ``settings.run_dir``; returns each stage's manifest path.

    Args:
        settings: The run's settings.
        stages: Names or a comma-separated string (``"analysis,rl_build"``); ``"all"`` runs every stage.
        sources: Makes each generating stage's :class:`CandidateSource` (default :func:`llm_sources`).
    """
    names = parse_stages(stages)
    run = _Run(settings, sources or llm_sources)
    manifests = {}
    try:
        for name in names:
            started = time.time()
            inputs, outputs, counts, summary = _STAGE_FUNCS[name](run)
            manifests[name] = write_manifest(run.dir, name, settings=settings.to_dict(), inputs=inputs,
                                             outputs=outputs, counts=counts, started=started, summary=summary)
    finally:
        run.close()
    return manifests
