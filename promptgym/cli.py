"""The `promptgym` command: one dispatcher, each subcommand implemented beside what it runs."""

from __future__ import annotations

import importlib
import sys

from promptgym.error import DatasetNotFound, DependencyNotInstalled, TaskNotFound, UnknownName, UsageError

# Errors that mean "the user asked for something that cannot be done": shown as one line, exit code 2.
# Anything else (a bug) keeps its traceback.
USER_ERRORS = (UsageError, TaskNotFound, UnknownName, DatasetNotFound, DependencyNotInstalled)

# subcommand -> (module with main(argv), one-line help); imported only when chosen, so --help is instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("agents.demo", "the main job: train an agent on the embedded model, compare with baselines"),
    "evaluate": ("promptgym.baseline", "generate with an LLM backend, execute, report pass@k"),
    "score": ("promptgym.samples", "score a JSONL of samples (task_id, completion) as pass@k"),
    "train": ("agents.train", "train an SB3 agent on a registered env"),
    "eval": ("agents.evaluate", "evaluate a trained run or a baseline agent on an env"),
    "doctor": ("promptgym.doctor", "check that the embedded model, MiniLM and the sandboxes work here"),
    "finetune": ("agents.finetune.cli", "fine-tune a code LLM with execution rewards (TRL + PEFT)"),
    "bench": ("benchmarks.harness.cli", "benchmark agents (runs, baselines, module:factory) on fixed suites"),
    "report": ("benchmarks.harness.report", "write a Markdown analysis report with plots from bench results"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``promptgym`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: promptgym {" + ",".join(COMMANDS) + "} ...\n")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<10} {help_text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        from promptgym.error import did_you_mean

        print(f"promptgym: unknown command {name!r}.{did_you_mean(name, COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except USER_ERRORS as exc:
        print(f"promptgym {name}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


def score_main() -> int:
    """Entry point of the ``promptgym-evaluate-samples`` console script: ``promptgym score``."""
    return main(["score", *sys.argv[1:]])


def warn(command: str, message: str) -> None:
    """Print a one-line warning of ``promptgym <command>`` on stderr (what was done instead of what was asked)."""
    print(f"promptgym {command}: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
