"""Any Hugging Face causal or encoder-decoder LM through transformers: batched, GPU+bf16 when available."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptgym.error import DependencyNotInstalled
from promptgym.llm.base import Backend, Completion, Prompt


class TransformersBackend(Backend):
    """A causal LM from a hub id, a local folder, or a GGUF file (default: the embedded SmolLM2 GGUF),
    or an encoder-decoder code model (CodeT5+ such as ``Salesforce/codet5p-770m-py``: its config says
    ``is_encoder_decoder``; the prompt goes to the encoder, the completion is all the decoder writes).

    Seeds: a torch.Generator-free ``torch.manual_seed(seed + i)`` before sample i's batch; exact on
    CPU, but GPU kernels (bf16 matmuls, atomics) can make sampled text differ run to run.
    """

    name = "transformers"

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str | None = None,
                 batch_size: int = 8, dtype: str | None = None) -> None:
        if model_path is None:
            from promptgym.assets import smollm2_gguf

            model_path = smollm2_gguf()
        self._model_path = str(model_path)
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self._model: Any = None
        self._tok: Any = None
        self._seq2seq = False

    @property
    def model(self) -> str:
        """The model path or hub id."""
        return self._model_path

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_model=None, _tok=None)
        return state

    def _load(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._model, self._tok
        try:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as e:
            raise DependencyNotInstalled("The transformers backend needs torch and transformers") from e
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, self.dtype) if self.dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        p = Path(self._model_path)
        kw: dict[str, Any] = {}
        src = self._model_path
        if p.suffix == ".gguf":
            src, kw["gguf_file"] = str(p.parent), p.name
        self._seq2seq = bool(getattr(AutoConfig.from_pretrained(src, **kw), "is_encoder_decoder", False))
        tok = AutoTokenizer.from_pretrained(src, **kw)
        tok.padding_side = "right" if self._seq2seq else "left"  # decoder-only batching must pad on the left
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        cls = AutoModelForSeq2SeqLM if self._seq2seq else AutoModelForCausalLM
        dense = dense_gguf_kwargs() if "gguf_file" in kw else {}
        model = cls.from_pretrained(src, torch_dtype=dtype, **kw, **dense).to(device).eval()
        self.device = device
        self._model, self._tok = model, tok
        return model, tok

    def _render(self, tok: Any, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if getattr(tok, "chat_template", None) is None:  # code T5s have no chat template: the messages' text
            return "\n\n".join(str(m.get("content", "")) for m in prompt)
        return tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[Prompt], n: int = 1, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None) -> list[list[Completion]]:
        """Generate in batches of ``batch_size`` prompts; stop strings are applied to the decoded text."""
        import torch

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        model, tok = self._load()
        texts = [self._render(tok, p) for p in prompts]
        out: list[list[Completion]] = [[] for _ in prompts]
        base = 0 if seed is None else int(seed)
        for i in range(n):
            for s in range(0, len(texts), self.batch_size):
                chunk = texts[s:s + self.batch_size]
                enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
                torch.manual_seed(base + i)
                kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id}
                if temperature > 0:
                    kw.update(do_sample=True, temperature=temperature, top_p=top_p)
                else:
                    kw.update(do_sample=False)
                with torch.no_grad():
                    gen = model.generate(**enc, **kw)
                new = gen if self._seq2seq else gen[:, enc["input_ids"].shape[1]:]  # a causal LM echoes the prompt
                for j, row in enumerate(new):
                    ids = [t for t in row.tolist() if t != tok.pad_token_id]
                    text = tok.decode(ids, skip_special_tokens=True)
                    finish = "length" if len(ids) >= max_new_tokens else "stop"
                    for st in stop or ():
                        if st in text:
                            text, finish = text.split(st, 1)[0], "stop"
                    prompt_len = int(enc["attention_mask"][j].sum())
                    out[s + j].append(Completion(text, prompt_len, len(ids), finish))
        return out

    def close(self) -> None:
        """Drop the model."""
        self._model = self._tok = None


def dense_gguf_kwargs() -> dict[str, Any]:
    """``from_pretrained`` keywords that unpack a GGUF file into an ordinary dense model.

    transformers from 5.2x keeps a GGUF model's weights packed wherever it has a matmul kernel for them
    (CUDA): LoRA's ``all-linear`` finds no ``nn.Linear`` there, and the embedded model generated at
    about 50 ms a token on an H100 in bf16. Versions before always unpack and know no such option.
    """
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}
