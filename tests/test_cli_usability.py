"""The command line as a user meets it: every entry point answers --help, errors are one line with exit
code 2 and leave nothing half-made, and what is left out or changed (k > n, rollout rounding,
greedy pass@1) is said, not silent."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

import pytest

import agents
from agents.train import steps_note
from promptgym.baseline import _parser as evaluate_parser
from promptgym.baseline import _summary, resolve_args
from promptgym.cli import COMMANDS
from promptgym.cli import main as cli_main
from promptgym.cli import score_main
from promptgym.tasks import get_task

sys.path.insert(0, str(Path(__file__).parent))
from _toy_envs import register_toys  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOY = register_toys()
TINY_PPO = ["-p", "n_steps=64", "batch_size=32", "n_epochs=1"]


def _console_scripts() -> list[tuple[str, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return [tuple(part.strip() for part in line.split("=", 1)) for line in lines]  # type: ignore[misc]


def _one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The single stderr line of a refused command (asserted to be exactly one, prefixed by the command)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"promptgym {command}: ")
    return err[0]


@pytest.mark.parametrize(("name", "target"), _console_scripts(), ids=lambda v: v.split(":")[0])
def test_console_scripts_answer_help(name: str, target: str) -> None:
    """Each setup.cfg console script resolves to a callable that prints help and exits 0."""
    module, func = target.split(":")
    code = f"import sys; from {module} import {func} as f; sys.argv = [{name!r}, '--help']; sys.exit(f())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_answers_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main([command, "--help"])
    assert exit_.value.code == 0
    assert f"promptgym {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--env", "Executiv-MBPP-v0"], "Did you mean 'Executive-MBPP-v0'"),
        (["--env", "Executive-MBPP-v0", "--env-kwargs", "codr=scripted"], "Did you mean 'coder'"),
        (["--env", "Executive-MBPP-v0", "--env-kwargs", "coder=scripted", "observation=boxx"], "boxx"),
        (["--env", TOY, *TINY_PPO, "lerning_rate=1e-3"], "Did you mean 'learning_rate'"),
        (["--env", TOY, "-p", "seed=3"], "--seed"),
        (["--env", TOY, "-p", "gamma"], "key=value"),
        (["--env", TOY, "--timesteps", "0"], "--timesteps"),
        (["--env", TOY, "--resume", "no-such-run"], "no model.zip"),
    ],
    ids=["env", "env-kwargs", "env-kwargs-value", "hyperparam", "set-by-train", "not-key-value", "timesteps", "resume"],
)
def test_train_refuses_in_one_line_and_leaves_no_folder(argv: list[str], needle: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the default run folder would be runs/<env>/... here
    assert cli_main(["train", *argv, "--no-progress-bar"]) == 2
    assert needle in _one_line_error(capsys, "train")
    assert list(tmp_path.iterdir()) == []


def test_train_failing_before_a_model_is_saved_removes_its_folder(tmp_path: Path) -> None:
    """A value only the algorithm rejects (an unknown policy) fails after config.yml was written: the folder goes."""
    run_dir = tmp_path / "runs" / "r"
    with pytest.raises(ValueError, match="NoSuchPolicy"):  # SB3's own error, kept with its traceback
        cli_main(["train", "--env", TOY, "-p", "policy=NoSuchPolicy", "--run-dir", str(run_dir),
                  "--no-progress-bar"])
    assert not (tmp_path / "runs").exists()


def test_train_says_up_front_when_it_rounds_timesteps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "r"
    assert cli_main(["train", "--env", TOY, "--timesteps", "100", *TINY_PPO, "--eval-freq", "0",
                     "--checkpoint-freq", "0", "--run-dir", str(run_dir), "--no-progress-bar"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == ["promptgym train: warning: training 128 steps, not 100: MaskablePPO collects whole "
                        "rollouts of n_steps=64"]
    from sb3_contrib import MaskablePPO

    assert MaskablePPO.load(run_dir / "model.zip").num_timesteps == 128  # what the warning said


def test_steps_note_off_policy(tmp_path: Path) -> None:
    """DQN steps exactly when it updates every step; otherwise it says how far it goes."""
    from stable_baselines3 import DQN

    from agents._common import make_vec_env

    env = make_vec_env(TOY, 1, 0, {})
    assert steps_note(DQN("MlpPolicy", env, train_freq=1), 101) == ""
    assert steps_note(DQN("MlpPolicy", env, train_freq=4), 101).startswith("training 104 steps, not 101: DQN")
    assert steps_note(DQN("MlpPolicy", env, train_freq=(1, "episode")), 101).startswith("training at least 101")
    env.close()


def test_eval_of_a_run_on_another_observation_space_names_its_env(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = agents.train("maskable_ppo", TOY, 64, hyperparams={"n_steps": 64, "batch_size": 32, "n_epochs": 1},
                           run_dir=tmp_path / "toy", eval_freq=0, progress_bar=False)
    capsys.readouterr()
    rc = cli_main(["eval", "--model", str(run_dir), "--env", "Executive-MBPP-v0", "--env-kwargs", "coder=scripted",
                   "embedder=hash", "--episodes", "1"])
    assert rc == 2
    line = _one_line_error(capsys, "eval")
    assert f"trained on {TOY}" in line and "observation space" in line and "(22,)" in line
    assert not list(run_dir.glob("eval_*.json"))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", "baseline:heuristic"], "--env is required"),
        (["--model", "no-such-run", "--env", TOY], "not a run folder"),
        (["--model", "baseline:heuristic", "--env", "ToyExecutiv-v0"], "Did you mean 'ToyExecutive-v0'"),
        (["--model", "baseline:random", "--env", "Executive-MBPP-v0", "--env-kwargs", "coder=scripted",
          "observation=boxx"], "boxx"),
        (["--model", "baseline:heuristic", "--env", TOY, "--episodes", "0"], "--episodes must be >= 1"),
    ],
    ids=["no-env", "no-run", "env-typo", "env-kwargs-value", "episodes"],
)
def test_eval_refuses_in_one_line(argv: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["eval", *argv]) == 2
    assert needle in _one_line_error(capsys, "eval")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--limit", "0"], "--limit must be >= 1"),
        (["--n", "0"], "--n must be >= 1"),
        (["--k", "1,x"], "--k must be comma-separated positive integers"),
        (["--dataset", "humaneva"], "Did you mean 'humaneval'"),
        (["--split", "tset"], "Did you mean 'test'"),
    ],
    ids=["limit", "n", "k", "dataset", "split"],
)
def test_evaluate_refuses_in_one_line_before_loading_a_model(argv: list[str], needle: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_main(["evaluate", *argv, "--out", str(out)]) == 2
    assert needle in _one_line_error(capsys, "evaluate")
    assert not out.exists()


def test_evaluate_warns_about_k_above_n(capsys: pytest.CaptureFixture[str]) -> None:
    args = resolve_args(evaluate_parser().parse_args(["--n", "1", "--k", "1,5"]))
    assert args.ks == [1, 5]
    assert capsys.readouterr().err.strip() == ("promptgym evaluate: warning: pass@5 left out: pass@k needs at "
                                               "least k samples per task, and --n is 1")
    resolve_args(evaluate_parser().parse_args(["--n", "1"]))  # the default ks drop quietly
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "temperature", "greedy"),
    [([], 0.8, False), (["--n", "1"], 0.0, True), (["--n", "1", "--temperature", "0.8"], 0.8, False),
     (["--n", "5", "--temperature", "0"], 0.0, True)],
    ids=["n10-default", "n1-default", "n1-explicit", "n5-explicit-greedy"],
)
def test_evaluate_one_sample_per_task_is_greedy_unless_asked(argv: list[str], temperature: float,
                                                             greedy: bool) -> None:
    args = resolve_args(evaluate_parser().parse_args(argv))
    assert args.temperature == temperature
    assert args.decoding.startswith("greedy") is greedy
    rep = {"config": vars(args), "model": "m", "n_tasks": 0, "pass_at_k": {}, "syntax_error_rate": 0.0,
           "timeout_rate": 0.0, "entry_point_missing_rate": 0.0, "tokens_generated": 0, "generation_s": 0.0,
           "execution_s": 0.0, "tasks": []}
    assert args.decoding in _summary(rep)  # the printed report says how it decoded, and why
    if argv == ["--n", "1"]:
        assert args.decoding == "greedy (temperature 0, the default for --n 1)"


def _write(path: Path, samples: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return path


def test_score_refuses_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "empty.jsonl", [])
    assert cli_main(["score", str(path), "--no-progress"]) == 2
    assert "holds no samples" in _one_line_error(capsys, "score")
    assert not (tmp_path / "empty_results.jsonl").exists()


def test_score_console_script_errors_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``promptgym.cli:score_main`` (for a ``promptgym-evaluate-samples`` script) goes through the dispatcher."""
    monkeypatch.setattr(sys, "argv", ["promptgym-evaluate-samples", str(_write(tmp_path / "e.jsonl", []))])
    assert score_main() == 2
    assert "holds no samples" in _one_line_error(capsys, "score")


def test_score_warns_about_k_above_the_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = get_task("MBPP/2").reference
    path = _write(tmp_path / "two.jsonl", [{"task_id": "MBPP/2", "completion": reference},
                                           {"task_id": "MBPP/2", "completion": "pass"}])
    assert cli_main(["score", str(path), "--k", "1,5,10", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == ("promptgym score: warning: pass@5, pass@10 left out: pass@k needs at least k "
                                    "samples per task, and the fewest samples of a task here is 2")
    assert set(json.loads(captured.out)) >= {"pass@1"} and "pass@5" not in json.loads(captured.out)
