"""Registers every promptgym env id with Gymnasium in one place (string entry points: cheap import).

``-v1`` ids split each task's tests (``feedback="visible"``): visible tests teach, hidden tests
judge at the episode's end. ``-v0`` ids keep the pre-split behaviour (``feedback="all"``: the
standard tests both teach and judge) to reproduce older numbers. The split is part of an env's
definition, so it is versioned here; see :class:`promptgym.tasks.Task` for it per dataset.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENV_IDS", "register_envs"]

_PROMPT_OPT = "promptgym.envs.prompt_opt:PromptOptEnv"
_EXECUTIVE = "promptgym.envs.executive:ExecutiveEnv"
_HIERARCHICAL = "promptgym.envs.hierarchical:HierarchicalEnv"
_MBPP = {"dataset": "mbpp", "split": "train"}
_HUMANEVAL = {"dataset": "humaneval", "split": "test"}
_VERSIONS = {"v0": {"feedback": "all"}, "v1": {"feedback": "visible"}}

# family -> [(name without version, entry point, kwargs, max_episode_steps)]
_FAMILIES: dict[str, list[tuple[str, str, dict[str, Any], int]]] = {
    "PromptOpt": [("PromptOpt-MBPP", _PROMPT_OPT, _MBPP, 8), ("PromptOpt-HumanEval", _PROMPT_OPT, _HUMANEVAL, 8)],
    "Executive": [("Executive-MBPP", _EXECUTIVE, _MBPP, 12), ("Executive-HumanEval", _EXECUTIVE, _HUMANEVAL, 12)],
    "Hierarchical": [("Hierarchical-MBPP", _HIERARCHICAL, _MBPP, 10)],
}

ENV_IDS: tuple[str, ...] = tuple(f"{name}-{version}" for family in _FAMILIES.values() for name, *_ in family
                                 for version in _VERSIONS)


def register_envs() -> None:
    """Register all promptgym ids; ids already in the registry are skipped (idempotent)."""
    import gymnasium as gym

    for family in _FAMILIES.values():
        for name, entry_point, kwargs, max_steps in family:
            for version, variant in _VERSIONS.items():
                env_id = f"{name}-{version}"
                if env_id in gym.registry:
                    continue
                gym.register(id=env_id, entry_point=entry_point, kwargs={**kwargs, **variant},
                             max_episode_steps=max_steps)
