"""The offline DPO pipeline: generate -> execute and annotate -> analyse -> pairs -> train -> evaluate.

Stages, under the names users of the source pipeline know (``promptgym finetune pipeline --stages ...``):

- ``baseline``: the untrained model on held-out tasks (the eval dataset's test split), judged on hidden tests;
- ``train_gen``: N candidates per *train* task from the LLM layer (sample i seeded ``seed + i``, cached);
- ``analysis``: every candidate run on the hidden tests in the sandbox (per-test outcomes and errors),
  with AST-normalised duplicates, similarity to the reference and the pass rate per task;
- ``rl_build``: ranked n-best lists (``rl_build.nbest.jsonl``) and (chosen, rejected) pairs
  (``rl_build.jsonl``, TRL's explicit-prompt format): chosen passes strictly more hidden tests, ties give
  none, and held-out tasks never give any;
- ``train_dpo``: TRL's DPOTrainer with LoRA through :func:`agents.finetune.trainers.make_dpo_trainer`;
- ``test_after``: the trained model evaluated like ``baseline``, and ``report.md``/``report.json`` comparing both.

Each stage writes ``<stage>.jsonl`` and ``<stage>.manifest.json`` (counts, settings, sha256 of its inputs
and outputs, package versions, time) in the run folder, reads only the previous stage's files, and can be
re-run alone. Importing this package imports neither torch nor TRL.
"""

from __future__ import annotations

from agents.finetune.pipeline.analyse import (
                                              ast_fingerprint,
                                              normalised_dump,
                                              preference_pairs,
                                              rank_candidates,
                                              similarity,
)
from agents.finetune.pipeline.artifacts import read_jsonl, read_manifest, sha256_file
from agents.finetune.pipeline.stages import (
                                              STAGES,
                                              CandidateSource,
                                              LLMCandidates,
                                              PipelineSettings,
                                              SourceFactory,
                                              llm_sources,
                                              parse_stages,
                                              run_pipeline,
)

__all__ = [
    "STAGES",
    "CandidateSource",
    "LLMCandidates",
    "PipelineSettings",
    "SourceFactory",
    "ast_fingerprint",
    "llm_sources",
    "normalised_dump",
    "parse_stages",
    "preference_pairs",
    "rank_candidates",
    "read_jsonl",
    "read_manifest",
    "run_pipeline",
    "sha256_file",
    "similarity",
]
