"""Fine-tuning with execution rewards: the rewards (sandbox-judged, ungameable), feedback import, configs,
and a few real GRPO/RLOO/DPO/reward-model steps with LoRA on the embedded SmolLM2-135M (as a torch model)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agents.finetune.feedback import load_feedback, preference_dataset, to_pairs
from agents.finetune.rewards import ExecutionReward, RewardWeights, judge_job
from promptgym.error import UsageError
from promptgym.tasks import Task

ADD = Task(task_id="toy/add", prompt="Write a function add(a, b) that returns the sum of a and b.", entry_point="add",
           tests=("assert add(1, 2) == 3", "assert add(-1, 1) == 0"), dataset="toy", split="train")
NEG = Task(task_id="toy/neg", prompt="Write a function neg(x) that returns -x.", entry_point="neg",
           tests=("assert neg(2) == -2",), dataset="toy", split="train")
TOY = [ADD, NEG]


def fenced(code: str) -> list[dict[str, str]]:
    """A conversational completion, as TRL passes it for chat prompts."""
    return [{"role": "assistant", "content": f"Here you go:\n```python\n{code}\n```"}]


@pytest.fixture(scope="module")
def reward() -> Iterator[ExecutionReward]:
    r = ExecutionReward(TOY, workers=2, timeout=2.0)
    yield r
    r.close()


# -- rewards ---------------------------------------------------------------------------------------
def test_reward_parts_from_the_sandbox(reward: ExecutionReward) -> None:
    before = reward.stats.executions
    logged: dict[str, float] = {}
    comps = [fenced("def add(a, b):\n    return a + b"),  # all pass: 1 + 0.5
             fenced("def add(a, b):\n    return 3"),  # passes add(1, 2) == 3 only: 0.5
             fenced("def add(a, b)\n    return a + b"),  # syntax error: -0.5, not executed
             [{"role": "assistant", "content": "I cannot write code."}],  # no code: -0.5, an extraction failure
             fenced("def add(a, b):\n    while True:\n        pass")]  # timeout: -0.5
    out = reward(comps, task_id=["toy/add"] * 5, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == pytest.approx([1.5, 0.5, -0.5, -0.5, -0.5])
    assert reward.stats.executions - before == 3  # the unparsable two never reach the sandbox
    assert logged["exec/pass_fraction"] == pytest.approx((1 + 0.5) / 5)
    assert logged["exec/extraction_failure_rate"] == pytest.approx(1 / 5)  # the prose: no code came out
    assert logged["exec/syntax_error_rate"] == pytest.approx(2 / 5)
    assert logged["exec/timeout_rate"] == pytest.approx(1 / 5)
    # the same batch again is served by the result cache (the timeout is not cached: it may be load)
    runs = reward.stats.sandbox_runs
    reward(comps[:2], task_id=["toy/add"] * 2)
    assert reward.stats.sandbox_runs == runs


def test_gaming_completion_gets_no_pass_reward(reward: ExecutionReward) -> None:
    cheat = ("class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
             "    def __ne__(self, other):\n        return False\n    __hash__ = object.__hash__\n\n"
             "def add(a, b):\n    return AlwaysEqual()\n")
    rows = reward.score([fenced(cheat)], ["toy/add"])
    assert rows[0]["parts"]["pass_fraction"] == 0.0 and rows[0]["parts"]["all_pass"] == 0.0
    assert rows[0]["reward"] <= 0.0 and rows[0]["status"] != "passed"


def test_rewards_judge_on_hidden_tests(reward: ExecutionReward) -> None:
    # visible: the first test only; a program passing it but failing the hidden one earns no all-pass bonus
    task = Task("toy/h", "add", "add", ("assert add(1, 2) == 3",), visible_tests=("assert add(1, 2) == 3",),
                hidden_tests=("assert add(1, 2) == 3", "assert add(2, 2) == 4"))
    assert judge_job(task, "x = 1", timeout=1.0)["tests"] == list(task.hidden_tests)
    rows = ExecutionReward([task], sandbox=reward.sandbox).score([fenced("def add(a, b):\n    return 3\n")], ["toy/h"])
    assert rows[0]["parts"]["pass_fraction"] == 0.5 and rows[0]["parts"]["all_pass"] == 0.0


def test_reward_errors_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="<= 0"):
        RewardWeights(syntax_error_penalty=0.5)
    r = ExecutionReward(TOY)
    with pytest.raises(ValueError, match="task_id"):
        r(["x"])


def test_quality_score_and_reward() -> None:
    from agents.finetune.quality import quality_reward, quality_scores

    clean = "def add(a, b):\n    return a + b\n"
    messy = "import os\n" + "def add(a, b):\n" + "".join(f"    if a == {i}:\n        return {i}\n" for i in range(20)) + "    return a + b\n"
    q_clean, q_messy, q_bad = quality_scores([clean, messy, "def ("])
    assert q_clean.syntax_ok and q_clean.lint_findings == 0 and q_clean.max_complexity == 1
    assert q_messy.lint_findings >= 1 and q_messy.max_complexity > 15
    assert q_clean.score > q_messy.score > q_bad.score == 0.0
    assert quality_reward([fenced(clean)], entry_point=["add"]) == [pytest.approx(0.75)]  # no execution part


# -- human feedback --------------------------------------------------------------------------------
def test_feedback_import_all_formats(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text('prompt,response,rating\nP,good,5\nP,bad,1\nP,meh,1\nQ,only,3\n')
    (tmp_path / "f.json").write_text(json.dumps([{"prompt": "P", "response": "a", "rating": 2},
                                                 {"prompt": "P", "response": "b", "rating": 4}]))
    (tmp_path / "f.jsonl").write_text('{"prompt": "P", "chosen": "c", "rejected": "r"}\n')
    assert to_pairs(load_feedback(tmp_path / "f.csv")) == [
        {"prompt": "P", "chosen": "good", "rejected": "bad"}, {"prompt": "P", "chosen": "good", "rejected": "meh"}]
    assert to_pairs(load_feedback(tmp_path / "f.json")) == [{"prompt": "P", "chosen": "b", "rejected": "a"}]
    ds = preference_dataset(tmp_path / "f.jsonl")
    assert ds.column_names == ["prompt", "chosen", "rejected"] and len(ds) == 1
    (tmp_path / "bad.csv").write_text("prompt,answer\nP,x\n")
    with pytest.raises(UsageError, match="expected prompt, response, rating"):
        load_feedback(tmp_path / "bad.csv")


# -- configs ---------------------------------------------------------------------------------------
def test_config_layers_and_validation() -> None:
    pytest.importorskip("trl")
    from agents.finetune.config import FAMILY_DEFAULTS, build_config

    cfg = build_config("grpo", preset="fast", overrides={"report_to": "none", "output_dir": "/tmp/x"})
    assert cfg.run_name == "smollm2-135m-mbpp-grpo-lora"
    assert cfg.learning_rate == FAMILY_DEFAULTS["smollm"]["learning_rate"] and cfg.max_steps == 20
    assert cfg.max_completion_length == 128  # the preset beats the family default
    assert cfg.per_device_train_batch_size % cfg.num_generations == 0
    assert cfg.per_device_train_batch_size == 4 and cfg.activation_checkpointing  # ~4 GB peak, not 12+
    assert build_config("dpo", model="Salesforce/codet5p-770m-py", overrides={"report_to": "none"}).run_name == \
        "codet5p-770m-py-mbpp-dpo-lora"
    with pytest.raises(ValueError, match="reward_model_path"):
        build_config("grpo", overrides={"reward_model_weight": 0.3, "report_to": "none"})
    with pytest.raises(ValueError, match="generations"):
        build_config("rloo", overrides={"num_generations": 1, "per_device_train_batch_size": 2, "report_to": "none"})
    with pytest.raises(ValueError, match="eval_strategy"):
        build_config("grpo", overrides={"early_stopping_patience": 2, "report_to": "none"})
    with pytest.raises(UsageError, match="Did you mean 'learning_rate'"):
        build_config("grpo", overrides={"learning_rat": 1e-4})


def test_checkpointing_goes_by_the_name_the_installed_transformers_knows() -> None:
    """transformers before 5.2x calls activation checkpointing gradient_checkpointing (a GPU machine with 5.17
    refused the fast preset's setting)."""
    from agents.finetune.config import installed_names

    old = {"gradient_checkpointing", "learning_rate"}
    assert installed_names({"activation_checkpointing": True, "learning_rate": 1e-4}, old) == \
        {"gradient_checkpointing": True, "learning_rate": 1e-4}
    new = old | {"activation_checkpointing"}
    assert installed_names({"activation_checkpointing": True}, new) == {"activation_checkpointing": True}


def test_gguf_models_are_unpacked_for_training_and_generation() -> None:
    """On CUDA, transformers 5.2x keeps GGUF weights packed (no nn.Linear for LoRA, ~50 ms a token on an H100):
    both loaders ask for a dense model wherever transformers has the option."""
    pytest.importorskip("transformers")
    from promptgym.llm._transformers import dense_gguf_kwargs

    kwargs = dense_gguf_kwargs()
    assert not kwargs or kwargs["quantization_config"].dequantize is True



# -- real training steps (LoRA on the embedded SmolLM2-135M, loaded from its GGUF) ------------------
@pytest.fixture(scope="module")
def smollm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded GGUF loaded once as a torch model, saved as a plain folder each test reloads cheaply."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from agents.finetune.model import load_model

    model, tok = load_model("embedded")
    assert type(model).__name__ == "LlamaForCausalLM" and model.hf_quantizer is None
    out = tmp_path_factory.mktemp("smollm2")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _tiny(method: str, out: Path, **kw: Any) -> Any:
    from agents.finetune.config import build_config

    base = {"output_dir": str(out), "report_to": "none", "logging_steps": 1, "save_strategy": "no", "seed": 0,
            "activation_checkpointing": False, "learning_rate": 1e-3, "lora_r": 8, "lora_alpha": 16}
    if method in ("grpo", "rloo"):
        base.update(max_completion_length=32, num_generations=4, per_device_train_batch_size=4, temperature=1.0,
                    sandbox_workers=2, exec_timeout=3.0, beta=0.0)  # beta 0: no reference forward pass
    else:
        base.update(max_length=128, per_device_train_batch_size=2)
    base.update(kw)
    return build_config(method, overrides=base)


def _lora_changed(before: dict[str, Any], model: Any) -> int:
    from agents.finetune.trainers import adapter_weights

    after = adapter_weights(model)
    assert before and set(before) == set(after)
    return sum(not bool((before[k] == after[k]).all()) for k in before)


def _train_online(trainer: Any, reward: Any) -> int:
    """Train an online trainer, closing its execution reward's sandbox; the LoRA tensors that changed."""
    from agents.finetune.trainers import adapter_weights

    try:
        before = adapter_weights(trainer.model)
        trainer.train()
    finally:
        reward.close()
    return _lora_changed(before, trainer.model)


@pytest.mark.slow
def test_grpo_steps_change_lora_with_sandbox_rewards(smollm_dir: Path, tmp_path: Path) -> None:
    from agents.finetune.model import load_model
    from agents.finetune.trainers import finish, make_online_trainer

    model, tok = load_model(smollm_dir)
    cfg = _tiny("grpo", tmp_path, max_steps=2)
    trainer, reward = make_online_trainer("grpo", cfg, model=model, tokenizer=tok, tasks=TOY)
    changed = _train_online(trainer, reward)
    assert reward.stats.calls == 2 and reward.stats.executions + reward.stats.syntax_errors == 2 * 4
    assert reward.stats.executions > 0  # the rewards came from sandbox runs
    assert changed > 0
    logs = {k for row in trainer.state.log_history for k in row}
    assert {"rewards/execution/mean", "exec/pass_fraction", "exec/extraction_failure_rate",
            "reward_weight/execution"} <= logs
    paths = finish(trainer, cfg, "grpo")
    assert (Path(paths["adapter"]) / "adapter_config.json").is_file() and "merged" not in paths


@pytest.mark.slow
def test_reward_model_then_rloo_mixes_it_in(smollm_dir: Path, tmp_path: Path) -> None:
    """A reward model trained from ratings with LoRA (RewardTrainer), then mixed into RLOO with a logged weight."""
    from agents.finetune.model import load_model
    from agents.finetune.trainers import adapter_weights, finish, make_online_trainer, make_reward_trainer

    fb = tmp_path / "feedback.csv"
    fb.write_text("prompt,response,rating\n"
                  'Write add.,"def add(a, b): return a + b",5\nWrite add.,"def add(a, b): return a - b",1\n'
                  "Write neg.,def neg(x): return -x,4\nWrite neg.,def neg(x): return x,0\n")
    model, tok = load_model(smollm_dir, kind="reward")
    rcfg = _tiny("reward", tmp_path / "rm", max_steps=1)
    rtrainer = make_reward_trainer(rcfg, model=model, tokenizer=tok, feedback=fb)
    before = adapter_weights(rtrainer.model)
    rtrainer.train()
    assert _lora_changed(before, rtrainer.model) > 0
    merged = finish(rtrainer, rcfg, "reward")["merged"]  # a reward model is always saved merged
    assert (Path(merged) / "config.json").is_file()

    model, tok = load_model(smollm_dir)
    cfg = _tiny("rloo", tmp_path / "rloo", max_steps=1, reward_model_path=merged, reward_model_weight=0.25)
    assert cfg.reward_weights == [1.0, 0.25]
    trainer, reward = make_online_trainer("rloo", cfg, model=model, tokenizer=tok, tasks=TOY)
    changed = _train_online(trainer, reward)
    assert reward.stats.calls == 1
    assert changed > 0  # the reward model's scores vary even when execution ties
    logs = trainer.state.log_history[0]
    assert logs["reward_weight/merged"] == 0.25 and "rewards/merged/mean" in logs and "rewards/execution/mean" in logs


@pytest.mark.slow
def test_dpo_steps_on_pairs_jsonl(smollm_dir: Path, tmp_path: Path) -> None:
    from agents.finetune.model import load_model
    from agents.finetune.trainers import adapter_weights, make_dpo_trainer

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "Write add(a, b).", "chosen": "def add(a, b):\n    return a + b", "rejected": "def add(a, b):\n    return a - b"},
        {"prompt": "Write neg(x).", "chosen": "def neg(x):\n    return -x", "rejected": "def neg(x):\n    return x"}]))
    model, tok = load_model(smollm_dir)
    cfg = _tiny("dpo", tmp_path, max_steps=2, pairs_path=str(pairs))
    trainer = make_dpo_trainer(cfg, model=model, tokenizer=tok)
    before = adapter_weights(trainer.model)
    trainer.train()
    assert _lora_changed(before, trainer.model) > 0
    assert any("rewards/chosen" in row for row in trainer.state.log_history)


def test_encoder_decoder_gets_seq2seq_lora_and_a_clear_refusal() -> None:
    """A tiny T5 built from a config: PEFT's SEQ_2_SEQ_LM LoRA applies; TRL's causal-only trainers are refused."""
    pytest.importorskip("peft")
    from peft import get_peft_model
    from transformers import T5Config, T5ForConditionalGeneration

    from agents.finetune.model import check_supported, is_encoder_decoder, lora_config

    t5 = T5ForConditionalGeneration(T5Config(vocab_size=128, d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1,
                                             num_heads=2, d_kv=16, decoder_start_token_id=0))
    assert is_encoder_decoder(t5)
    peft_model = get_peft_model(t5, lora_config("seq2seq", r=4, alpha=8, target_modules=["q", "v"]))
    assert any("lora_" in n for n, _ in peft_model.named_parameters())
    import torch

    out = peft_model(input_ids=torch.tensor([[5, 6, 7]]), labels=torch.tensor([[8, 9]]))
    out.loss.backward()
    assert all(p.grad is not None for n, p in peft_model.named_parameters() if "lora_B" in n)
    for method in ("grpo", "rloo", "dpo"):
        with pytest.raises(UsageError, match="encoder-decoder"):
            check_supported(method, t5)


# -- command line and the PPO export ----------------------------------------------------------------
def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from promptgym.cli import main

    assert main(["finetune", "grpoo"]) == 2
    assert "Did you mean 'grpo'?" in capsys.readouterr().err
    assert main(["finetune", "dpo", "--report-to", "none", "--output-dir", str(tmp_path)]) == 2
    assert "--pairs" in capsys.readouterr().err
    assert main(["finetune", "grpo", "--dataset", "humaneval", "--report-to", "none", "--output-dir", str(tmp_path)]) == 2
    assert "no train split" in capsys.readouterr().err


@pytest.mark.parametrize("framework", ["verl", "openrlhf"])
def test_ppo_export_reads_back_and_scores_with_the_sandbox(framework: str, tmp_path: Path) -> None:
    import importlib.util

    from agents.finetune.export import export_ppo
    from promptgym.tasks import get_task

    files = export_ppo(framework, tmp_path, dataset="mbpp", limit=3)
    if framework == "verl":
        import pandas as pd

        df = pd.read_parquet(files["train"])
        assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"] and len(df) == 3
        label = df.iloc[0]["reward_model"]["ground_truth"]
    else:
        rows = [json.loads(line) for line in Path(files["train"]).read_text().splitlines()]
        assert set(rows[0]) == {"prompt", "label"} and len(rows) == 3
        label = rows[0]["label"]
    spec = importlib.util.spec_from_file_location("promptgym_reward_" + framework, files["reward_module"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    task = get_task(json.loads(label)["task_id"])
    good = f"```python\n{task.reference}\n```"
    from agents.finetune.export import close_reward

    if framework == "verl":
        assert module.compute_score("promptgym/mbpp", good, label) == 1.5
        assert module.compute_score("promptgym/mbpp", "no code", label) == -0.5
    else:
        out = module.reward_func(["P" + good], ["P"], [label])
        assert out["rewards"].tolist() == [1.5] and out["scores"].tolist() == [1.0]
    close_reward()
