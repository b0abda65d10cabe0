"""Run configs: TRL's config dataclasses extended with the execution-reward, LoRA and run fields.

One table of per-family defaults (:data:`FAMILY_DEFAULTS`), one table of presets (:data:`PRESETS`);
:func:`build_config` layers them as ``family defaults < preset < run.yaml < command-line flags`` and
validates in the config's ``__post_init__`` (a ``ValueError`` that says how to fix the value).

Importing this module imports TRL (and so torch); ``agents.finetune`` loads it on first use.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig, GRPOConfig, RewardConfig, RLOOConfig

__all__ = ["FAMILY_DEFAULTS", "METHODS", "PRESETS", "ExecGRPOConfig", "ExecRLOOConfig", "PairDPOConfig",
           "PreferenceRewardConfig", "build_config", "config_class", "run_name"]

METHODS = ("grpo", "rloo", "dpo", "reward")

# Per model family: learning rate (LoRA), completion length, per-device batch. One table, no other copy.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "smollm": {"learning_rate": 1e-4, "max_completion_length": 192, "per_device_train_batch_size": 8},
    "qwen": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 8},
    "llama": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 4},
    "deepseek": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 4},
    "starcoder": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 4},
    "phi": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 4},
    "gemma": {"learning_rate": 5e-5, "max_completion_length": 384, "per_device_train_batch_size": 4},
    "codet5": {"learning_rate": 1e-4, "max_completion_length": 256, "per_device_train_batch_size": 8},
    "default": {"learning_rate": 5e-5, "max_completion_length": 256, "per_device_train_batch_size": 4},
}

# fast: minutes on a laptop CPU; research: an hour on one GPU; full: the whole train split, several epochs.
# fast trains one prompt's group per step with activation checkpointing: measured on the embedded model
# (2-core CPU), peak memory 4.0 GB instead of 12.4 GB (8 completions a step, no checkpointing) at the
# same samples/s, since the full-vocabulary logits of a bigger batch dominate the memory
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"max_steps": 20, "num_generations": 4, "per_device_train_batch_size": 4, "train_limit": 64,
             "eval_limit": 20, "eval_n": 1, "logging_steps": 1, "max_completion_length": 128,
             "activation_checkpointing": True},
    "research": {"max_steps": -1, "num_train_epochs": 1, "num_generations": 8, "train_limit": None, "eval_limit": 100,
                 "eval_n": 10, "logging_steps": 5},
    "full": {"max_steps": -1, "num_train_epochs": 3, "num_generations": 16, "train_limit": None, "eval_limit": None,
             "eval_n": 10, "logging_steps": 10},
}


def _no_eval(args: Any) -> bool:
    strategy = getattr(args, "eval_strategy", "no")
    return str(getattr(strategy, "value", strategy)) == "no"


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@dataclass
class _RunArgs:
    """Fields every method shares: what to train on, LoRA, evaluation and saving."""

    model_name: str = field(default="embedded", metadata={"help": "'embedded' (SmolLM2-135M GGUF), a .gguf, a folder or a hub id"})
    dataset: str = field(default="mbpp", metadata={"help": "mbpp | humaneval | taco (a local TACO file via dataset_path)"})
    dataset_path: str | None = field(default=None, metadata={"help": "local file or folder of the dataset"})
    train_limit: int | None = field(default=None, metadata={"help": "first N train tasks only"})
    eval_limit: int | None = field(default=None, metadata={"help": "tasks per benchmark in the before/after evaluation"})
    eval_n: int = field(default=10, metadata={"help": "samples per task in the before/after evaluation (pass@1/5/10)"})
    template: str = field(default="auto", metadata={"help": "prompt template (promptgym.llm.TEMPLATES, or auto)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: str = field(default="all-linear", metadata={"help": "PEFT target_modules"})
    qlora: bool | None = field(default=None, metadata={"help": "4-bit base weights: None = when CUDA is present"})
    early_stopping_patience: int | None = field(default=None, metadata={"help": "evaluations without improvement before stopping"})
    merge_adapter: bool = field(default=False, metadata={"help": "also save the LoRA merged into a full model"})

    def _check_run_args(self) -> None:
        if self.lora_r < 1 or self.lora_alpha < 1:
            raise ValueError(f"lora_r and lora_alpha must be >= 1 (got {self.lora_r}, {self.lora_alpha}); try r=16, alpha=32")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError(f"train_limit must be >= 1 (or None for the whole train split), got {self.train_limit}")
        if self.qlora and not _cuda():
            raise ValueError("qlora=True needs a CUDA GPU (bitsandbytes 4-bit); set qlora=None or False on this machine")
        if self.early_stopping_patience is not None:
            if self.early_stopping_patience < 1:
                raise ValueError(f"early_stopping_patience must be >= 1, got {self.early_stopping_patience}")
            if _no_eval(self):
                raise ValueError("early stopping needs evaluations: set eval_strategy='steps' (with eval_steps) or "
                                 "'epoch' together with early_stopping_patience")
            if getattr(self, "metric_for_best_model", None) is None:
                raise ValueError("early stopping needs metric_for_best_model (e.g. 'eval_reward' for GRPO/RLOO, "
                                 "'eval_loss' for DPO and the reward model)")

    def _cpu_defaults(self) -> None:
        # TRL turns bf16 on when unset; on a CPU that autocasts every op for no gain, so keep fp32 there.
        if getattr(self, "bf16", None) is None and not getattr(self, "fp16", False) and not _cuda():
            self.bf16 = False


@dataclass
class _ExecRewardArgs:
    """Fields of the execution reward (and the learned reward model mixed into it)."""

    pass_weight: float = field(default=1.0, metadata={"help": "weight of the hidden-test pass fraction"})
    all_pass_bonus: float = field(default=0.5, metadata={"help": "bonus when every hidden test passes"})
    syntax_error_penalty: float = field(default=-0.5, metadata={"help": "<= 0: no parsable code"})
    timeout_penalty: float = field(default=-0.5, metadata={"help": "<= 0: the program timed out"})
    quality_weight: float = field(default=0.0, metadata={"help": "weight of the code-quality score (0 = off)"})
    exec_timeout: float = field(default=5.0, metadata={"help": "seconds per program in the sandbox"})
    sandbox_workers: int | None = field(default=None, metadata={"help": "concurrent sandbox workers"})
    reward_model_path: str | None = field(default=None, metadata={"help": "a reward model trained with method 'reward'"})
    reward_model_weight: float = field(default=0.0, metadata={"help": "weight of the reward model beside the execution reward (1.0)"})

    def _check_reward_args(self) -> None:
        self.reward_parts()  # RewardWeights validates the signs
        if self.exec_timeout <= 0:
            raise ValueError(f"exec_timeout must be > 0 seconds, got {self.exec_timeout}")
        if self.reward_model_weight < 0:
            raise ValueError(f"reward_model_weight must be >= 0, got {self.reward_model_weight}")
        if self.reward_model_weight > 0 and not self.reward_model_path:
            raise ValueError("reward_model_weight > 0 needs reward_model_path (train one with `promptgym finetune reward`)")
        if self.reward_model_path and self.reward_model_weight == 0:
            raise ValueError("reward_model_path is set but reward_model_weight is 0: give a weight > 0 (e.g. 0.2) or drop the path")
        n_funcs = 2 if self.reward_model_path else 1
        weights = getattr(self, "reward_weights", None)
        if weights is None:
            self.reward_weights = [1.0, self.reward_model_weight] if self.reward_model_path else None
        elif len(weights) != n_funcs:
            raise ValueError(f"reward_weights has {len(weights)} entries for {n_funcs} reward functions; "
                             "leave it unset and use reward_model_weight")
        if (getattr(self, "num_generations", None) or 2) < 2:
            raise ValueError("group sampling needs num_generations >= 2 (the group baseline compares completions of one prompt)")

    def reward_parts(self) -> Any:
        """The :class:`agents.finetune.rewards.RewardWeights` these fields describe."""
        from agents.finetune.rewards import RewardWeights

        return RewardWeights(self.pass_weight, self.all_pass_bonus, self.syntax_error_penalty, self.timeout_penalty,
                             self.quality_weight)


@dataclass
class _OurDefaults:
    """Listed first in each config's bases: TRL defaults we change, and the checks every method runs."""

    report_to: Any = field(default="tensorboard", metadata={"help": "tensorboard (default), wandb, or none"})
    save_strategy: Any = field(default="epoch", metadata={"help": "adapters are saved per epoch"})

    def __post_init__(self) -> None:
        self._cpu_defaults()  # type: ignore[attr-defined]
        super().__post_init__()  # type: ignore[misc]  # TRL's config
        self._check_run_args()  # type: ignore[attr-defined]
        self._check_method_args()

    def _check_method_args(self) -> None:
        """The method's own fields (each config fills it in)."""


@dataclass
class ExecGRPOConfig(_OurDefaults, GRPOConfig, _ExecRewardArgs, _RunArgs):
    """TRL's GRPOConfig plus the execution reward, LoRA and run fields (see :class:`_RunArgs`)."""


    def _check_method_args(self) -> None:
        self._check_reward_args()


@dataclass
class ExecRLOOConfig(_OurDefaults, RLOOConfig, _ExecRewardArgs, _RunArgs):
    """TRL's RLOOConfig plus the execution reward, LoRA and run fields."""


    def _check_method_args(self) -> None:
        self._check_reward_args()


@dataclass
class PairDPOConfig(_OurDefaults, DPOConfig, _RunArgs):
    """TRL's DPOConfig plus the LoRA and run fields; ``pairs_path`` is a JSONL of (prompt, chosen, rejected)."""

    pairs_path: str | None = field(default=None, metadata={"help": "JSONL of {prompt, chosen, rejected}"})

    def _check_method_args(self) -> None:
        if self.pairs_path is not None and not os.path.isfile(self.pairs_path):
            raise ValueError(f"pairs_path {self.pairs_path!r} is not a file: give a JSONL of {{prompt, chosen, rejected}} "
                             "records (the offline pipeline writes one)")


@dataclass
class PreferenceRewardConfig(_OurDefaults, RewardConfig, _RunArgs):
    """TRL's RewardConfig plus the LoRA and run fields; ``feedback_path`` is human feedback to learn from."""

    feedback_path: str | None = field(default=None, metadata={"help": "CSV/JSON/JSONL of ratings or chosen/rejected pairs"})

    def _check_method_args(self) -> None:
        if self.feedback_path is not None and not os.path.exists(self.feedback_path):
            raise ValueError(f"feedback_path {self.feedback_path!r} does not exist: give a CSV (prompt,response,rating), "
                             "JSON/JSONL records or chosen/rejected pairs")


_CLASSES = {"grpo": ExecGRPOConfig, "rloo": ExecRLOOConfig, "dpo": PairDPOConfig, "reward": PreferenceRewardConfig}


def config_class(method: str) -> type:
    """The config dataclass of a method (``grpo``, ``rloo``, ``dpo``, ``reward``)."""
    if method not in _CLASSES:
        from promptgym.error import unknown

        raise unknown("fine-tuning method", method, METHODS)
    return _CLASSES[method]


def run_name(model: str, dataset: str, method: str) -> str:
    """``{model}-{dataset}-{method}-lora``, the model shortened by :func:`agents.finetune.model.model_label`."""
    from agents.finetune.model import model_label

    data = os.path.splitext(os.path.basename(dataset))[0] if dataset.endswith((".jsonl", ".json")) else dataset
    return f"{model_label(model)}-{data}-{method}-lora"


# transformers 5.2x renamed gradient_checkpointing to activation_checkpointing (the old name is a deprecated
# alias until v6); the versions before know only the old name (seen on a GPU machine with 5.17)
_OLD_NAMES = {"activation_checkpointing": "gradient_checkpointing",
              "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs"}


def installed_names(settings: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``settings`` under the names the installed config class knows (``activation_checkpointing`` or its old name)."""
    return {(_OLD_NAMES[k] if k not in names and _OLD_NAMES.get(k) in names else k): v for k, v in settings.items()}


def build_config(method: str, model: str = "embedded", dataset: str = "mbpp", preset: str | None = None,
                 overrides: dict[str, Any] | None = None, output_root: str = "runs/finetune") -> Any:
    """The method's config from ``family defaults < preset < overrides`` (a run.yaml's keys and flags).

    Keys a method's config does not have (``num_generations`` for DPO, say) are dropped from the defaults
    and presets; unknown keys in ``overrides`` are an error naming the nearest field.
    """
    from agents.finetune.model import model_family

    cls = config_class(method)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    family = dict(FAMILY_DEFAULTS[model_family(model)])
    if "max_completion_length" not in names:  # DPO / reward model: whole prompt + response length
        family["max_length"] = 512 + family.pop("max_completion_length")
    values.update({k: v for k, v in family.items() if k in names})
    if preset is not None:
        if preset not in PRESETS:
            from promptgym.error import unknown

            raise unknown("preset", preset, PRESETS)
        values.update({k: v for k, v in installed_names(PRESETS[preset], names).items() if k in names})
    overrides = installed_names(dict(overrides or {}), names)
    bad = [k for k in overrides if k not in names]
    if bad:
        from promptgym.error import UsageError, did_you_mean

        raise UsageError(f"{method} has no setting {bad[0]!r}.{did_you_mean(bad[0], names)}")
    values.update(overrides)
    values.setdefault("model_name", model)
    values.setdefault("dataset", dataset)
    name = run_name(values["model_name"], values["dataset"], method)
    values.setdefault("run_name", name)
    values.setdefault("output_dir", os.path.join(output_root, name))
    if "generation_batch_size" not in overrides and "num_generations" in values and "steps_per_generation" not in overrides:
        # one generation batch must hold whole groups: round the batch up to a multiple of num_generations
        g, b = values["num_generations"], values.get("per_device_train_batch_size", 8)
        values["per_device_train_batch_size"] = max(g, -(-b // g) * g)
    return cls(**values)
