"""Thin wrappers that hand TRL's trainers a model, a LoRA config, data and the sandbox-judged rewards.

Nothing here trains: GRPO, RLOO, DPO and the reward model are ``trl.GRPOTrainer``, ``trl.RLOOTrainer``,
``trl.DPOTrainer`` and ``trl.RewardTrainer``; LoRA/QLoRA is PEFT (passed as ``peft_config``); logging,
checkpoints (adapters per epoch), early stopping and W&B/TensorBoard are the transformers ``Trainer``'s.
This module only builds their inputs:

- the train split's tasks as a prompt dataset (``prompt`` + ``task_id`` columns, the LLM layer's templates);
- :class:`agents.finetune.rewards.ExecutionReward` judging each batch on hidden tests, plus, when
  configured, a learned reward model (a folder TRL loads itself) mixed in with ``reward_weights``;
- generation: TRL's own (``model.generate``), or vLLM with ``use_vllm=True`` where vLLM is installed
  (TRL's integration: ``vllm_mode="colocate"`` on one GPU, or ``"server"`` beside ``trl vllm-serve``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptgym.error import UsageError

__all__ = ["adapter_weights", "finish", "load_train_tasks", "load_validation_tasks", "make_dpo_trainer",
           "make_online_trainer", "make_reward_trainer", "prompt_dataset"]

TRAIN_SPLIT = {"mbpp": "train", "mbpp-sanitized": "train", "taco": "train"}
VALIDATION_SPLIT = {"mbpp": "validation", "mbpp-sanitized": "validation"}


def load_train_tasks(dataset: str = "mbpp", limit: int | None = None, path: str | None = None) -> list[Any]:
    """The train split's tasks (never test or validation: held-out evaluation stays clean)."""
    from promptgym.tasks import load_tasks

    if dataset.endswith(".jsonl"):
        tasks = load_tasks(dataset, split="train", path=path)
    elif dataset not in TRAIN_SPLIT:
        raise UsageError(f"{dataset} has no train split to train on ({dataset} is for evaluation only); "
                         f"train on one of {', '.join(sorted(TRAIN_SPLIT))} and evaluate on {dataset}")
    else:
        tasks = load_tasks(dataset, split=TRAIN_SPLIT[dataset], path=path)
    if not tasks:
        raise UsageError(f"{dataset} has no tasks in its train split")
    return tasks[:limit] if limit else tasks


def load_validation_tasks(dataset: str = "mbpp", limit: int | None = None, path: str | None = None) -> list[Any]:
    """The validation split's tasks (early stopping's metric), or [] where the dataset has none."""
    from promptgym.tasks import load_tasks

    if dataset not in VALIDATION_SPLIT:
        return []
    tasks = load_tasks(dataset, split=VALIDATION_SPLIT[dataset], path=path)
    return tasks[:limit] if limit else tasks


def _is_chat(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def prompt_dataset(tasks: Sequence[Any], tokenizer: Any = None, template: str = "auto") -> Any:
    """A ``datasets.Dataset`` with ``prompt`` (chat messages for chat models, else text) and ``task_id``.

    The prompt is the LLM layer's template (MBPP's instruction with its visible tests); the reward
    looks the task up by ``task_id`` and judges on the hidden ones.
    """
    from datasets import Dataset

    from promptgym.llm import resolve_template

    chat = _is_chat(tokenizer)
    rows = []
    for task in tasks:
        tpl = resolve_template(template, task, chat_model=chat)
        rows.append({"prompt": tpl(task), "task_id": task.task_id})
    return Dataset.from_list(rows)


def _model_and_tokenizer(config: Any, model: Any, tokenizer: Any, kind: str) -> tuple[Any, Any]:
    from agents.finetune.model import load_model

    if model is None:
        model, tok = load_model(config.model_name, kind=kind, load_in_4bit=config.qlora)
        tokenizer = tokenizer or tok
    elif tokenizer is None:
        raise ValueError("pass the tokenizer with the model (load both with agents.finetune.load_model)")
    return model, tokenizer


def _peft(config: Any, kind: str) -> Any:
    from agents.finetune.model import lora_config

    return lora_config(kind, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                       target_modules=config.lora_target_modules)


def _callbacks(config: Any, extra: Sequence[Any] | None) -> list[Any]:
    callbacks = list(extra or [])
    if config.early_stopping_patience:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    return callbacks


def make_online_trainer(method: str, config: Any, model: Any = None, tokenizer: Any = None,
                        tasks: Sequence[Any] | None = None, eval_tasks: Sequence[Any] | None = None,
                        reward: Any = None, callbacks: Sequence[Any] | None = None) -> tuple[Any, Any]:
    """``(trainer, execution_reward)``: TRL's GRPO or RLOO trainer, online, group-sampled, on the train split.

    Args:
        method: ``"grpo"`` or ``"rloo"``.
        config: An :class:`~agents.finetune.config.ExecGRPOConfig` / ``ExecRLOOConfig``.
        model, tokenizer: A loaded causal LM and its tokenizer; default: ``config.model_name``.
        tasks: Training tasks (default: the dataset's train split, ``config.train_limit`` of them).
        eval_tasks: Tasks for TRL's evaluation loop (default: the validation split when evaluation is on).
        reward: An :class:`~agents.finetune.rewards.ExecutionReward` (default: one from the config's weights).
        callbacks: Extra ``TrainerCallback``s.
    """
    from trl import GRPOTrainer, RLOOTrainer

    from agents.finetune.model import check_supported
    from agents.finetune.rewards import ExecutionReward

    cls = {"grpo": GRPOTrainer, "rloo": RLOOTrainer}.get(method)
    if cls is None:
        raise UsageError(f"online method must be grpo or rloo, got {method!r}")
    model, tokenizer = _model_and_tokenizer(config, model, tokenizer, "causal")
    check_supported(method, model)
    if tokenizer.padding_side != "left":  # generation pads on the left
        tokenizer.padding_side = "left"
    tasks = list(tasks) if tasks is not None else load_train_tasks(config.dataset, config.train_limit, config.dataset_path)
    if eval_tasks is None and str(getattr(config.eval_strategy, "value", config.eval_strategy)) != "no":
        eval_tasks = load_validation_tasks(config.dataset, config.eval_limit, config.dataset_path)
    eval_tasks = list(eval_tasks or [])
    if reward is None:
        reward = ExecutionReward([*tasks, *eval_tasks], weights=config.reward_parts(), workers=config.sandbox_workers,
                                 timeout=config.exec_timeout)
    reward_funcs: list[Any] = [reward]
    if config.reward_model_path:
        reward_funcs.append(config.reward_model_path)  # TRL loads it (AutoModelForSequenceClassification)
    names = [getattr(reward, "__name__", "execution")] + ([Path(config.reward_model_path).name] if config.reward_model_path else [])
    if hasattr(reward, "constants"):  # each function's weight, logged every step beside the reward parts
        weights = config.reward_weights or [1.0] * len(names)
        reward.constants.update({f"reward_weight/{n}": float(w) for n, w in zip(names, weights)})
    trainer = cls(
        model=model, reward_funcs=reward_funcs, args=config,
        train_dataset=prompt_dataset(tasks, tokenizer, config.template),
        eval_dataset=prompt_dataset(eval_tasks, tokenizer, config.template) if eval_tasks else None,
        processing_class=tokenizer, peft_config=None if _has_peft(model) else _peft(config, "causal"),
        callbacks=_callbacks(config, callbacks),
    )
    return trainer, reward


def _has_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


def make_dpo_trainer(config: Any, model: Any = None, tokenizer: Any = None, pairs: Any = None,
                     eval_pairs: Any = None, callbacks: Sequence[Any] | None = None) -> Any:
    """TRL's DPOTrainer with LoRA on a JSONL of ``{prompt, chosen, rejected}`` (default ``config.pairs_path``).

    With LoRA the reference model is the base with the adapter off (TRL's PEFT path): no second copy.
    """
    from trl import DPOTrainer

    from agents.finetune.feedback import preference_dataset
    from agents.finetune.model import check_supported, is_encoder_decoder

    pairs = pairs if pairs is not None else config.pairs_path
    if pairs is None:
        raise UsageError("DPO needs preference pairs: --pairs FILE.jsonl (records {prompt, chosen, rejected})")
    model, tokenizer = _model_and_tokenizer(config, model, tokenizer, "causal")
    check_supported("dpo", model)
    data = pairs if hasattr(pairs, "column_names") else preference_dataset(pairs)
    evald = None if eval_pairs is None else (eval_pairs if hasattr(eval_pairs, "column_names") else preference_dataset(eval_pairs))
    kind = "seq2seq" if is_encoder_decoder(model) else "causal"
    return DPOTrainer(model=model, args=config, train_dataset=data, eval_dataset=evald, processing_class=tokenizer,
                      peft_config=None if _has_peft(model) else _peft(config, kind),
                      callbacks=_callbacks(config, callbacks))


def make_reward_trainer(config: Any, model: Any = None, tokenizer: Any = None, feedback: Any = None,
                        eval_feedback: Any = None, callbacks: Sequence[Any] | None = None) -> Any:
    """TRL's RewardTrainer with LoRA (``SEQ_CLS``, the score head trained in full) on human feedback.

    ``feedback`` is a file :mod:`agents.finetune.feedback` reads (ratings or pairs), records, or a dataset.
    """
    from trl import RewardTrainer

    from agents.finetune.feedback import preference_dataset

    feedback = feedback if feedback is not None else config.feedback_path
    if feedback is None:
        raise UsageError("the reward model needs human feedback: --feedback FILE (.csv prompt,response,rating; "
                         ".json/.jsonl records; or chosen/rejected pairs)")
    model, tokenizer = _model_and_tokenizer(config, model, tokenizer, "reward")
    if tokenizer.padding_side != "right":
        tokenizer.padding_side = "right"
    data = feedback if hasattr(feedback, "column_names") else preference_dataset(feedback)
    evald = None
    if eval_feedback is not None:
        evald = eval_feedback if hasattr(eval_feedback, "column_names") else preference_dataset(eval_feedback)
    return RewardTrainer(model=model, args=config, train_dataset=data, eval_dataset=evald, processing_class=tokenizer,
                         peft_config=None if _has_peft(model) else _peft(config, "reward"),
                         callbacks=_callbacks(config, callbacks))


def finish(trainer: Any, config: Any, method: str) -> dict[str, str]:
    """Save the final adapter (``<output_dir>/adapter``) and, when asked (always for a reward model), the merged model.

    A reward model is saved merged (``<output_dir>/merged``) because GRPO/RLOO load it by folder
    (``reward_model_path``), and a GGUF base cannot be re-found from an adapter's config.
    """
    out = Path(config.output_dir)
    adapter = out / "adapter"
    trainer.save_model(str(adapter))
    tok = trainer.processing_class
    if tok is not None:
        tok.save_pretrained(str(adapter))
    paths = {"adapter": str(adapter)}
    if config.merge_adapter or method == "reward":
        from agents.finetune.model import merge_adapter

        paths["merged"] = str(merge_adapter(trainer.model, out / "merged", tok))
    return paths


def adapter_weights(model: Any) -> dict[str, Any]:
    """A copy of the LoRA parameters (to check that training changed them)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def env_offline() -> None:
    """Never reach the hub from tests and benchmarks that only use local models."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
