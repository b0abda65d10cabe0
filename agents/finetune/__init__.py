"""Fine-tuning code LLMs with execution rewards: TRL's trainers, PEFT's LoRA, the project's sandbox as judge.

The public surface, loaded on first use (``import agents.finetune`` imports neither torch nor TRL):

- rewards: :class:`ExecutionReward` (TRL's reward signature), :class:`RewardWeights`,
  :func:`quality_scores`, :func:`quality_reward`;
- human feedback: :func:`load_feedback`, :func:`preference_dataset`;
- models: :func:`load_model`, :func:`lora_config`, :func:`merge_adapter`;
- configs: :func:`build_config`, :data:`PRESETS`, :data:`FAMILY_DEFAULTS`, ``Exec*Config`` classes;
- trainers: :func:`make_online_trainer` (GRPO, RLOO), :func:`make_dpo_trainer`, :func:`make_reward_trainer`,
  :func:`prompt_dataset`, :func:`finish`;
- PPO elsewhere: :func:`export_for_verl`, :func:`export_for_openrlhf`;
- the offline DPO pipeline (:mod:`agents.finetune.pipeline`): :func:`run_pipeline`, :class:`PipelineSettings`.

``promptgym finetune --help`` is the command line (:mod:`agents.finetune.cli`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExecutionReward": "rewards", "RewardWeights": "rewards", "judge_job": "rewards",
    "quality_scores": "quality", "quality_reward": "quality", "QUALITY_WEIGHTS": "quality",
    "load_feedback": "feedback", "preference_dataset": "feedback", "to_pairs": "feedback",
    "load_model": "model", "lora_config": "model", "merge_adapter": "model",
    "build_config": "config", "PRESETS": "config", "FAMILY_DEFAULTS": "config", "ExecGRPOConfig": "config",
    "ExecRLOOConfig": "config", "PairDPOConfig": "config", "PreferenceRewardConfig": "config",
    "make_online_trainer": "trainers", "make_dpo_trainer": "trainers", "make_reward_trainer": "trainers",
    "prompt_dataset": "trainers", "finish": "trainers",
    "export_for_verl": "export", "export_for_openrlhf": "export",
    "evaluate_before_after": "report",
    "run_pipeline": "pipeline", "PipelineSettings": "pipeline",
}

__all__ = [
    "FAMILY_DEFAULTS",
    "PRESETS",
    "QUALITY_WEIGHTS",
    "ExecGRPOConfig",
    "ExecRLOOConfig",
    "ExecutionReward",
    "PairDPOConfig",
    "PipelineSettings",
    "PreferenceRewardConfig",
    "RewardWeights",
    "build_config",
    "evaluate_before_after",
    "export_for_openrlhf",
    "export_for_verl",
    "finish",
    "judge_job",
    "load_feedback",
    "load_model",
    "lora_config",
    "make_dpo_trainer",
    "make_online_trainer",
    "make_reward_trainer",
    "merge_adapter",
    "preference_dataset",
    "prompt_dataset",
    "quality_reward",
    "quality_scores",
    "run_pipeline",
    "to_pairs",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"agents.finetune.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'agents.finetune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
