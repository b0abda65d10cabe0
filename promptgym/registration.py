"""Registers every promptgym env id with Gymnasium in one place (string entry points: cheap import)."""

from __future__ import annotations

from typing import Any

__all__ = ["ENV_IDS", "register_envs"]

# family -> [(id, entry point, kwargs, max_episode_steps)]
_FAMILIES: dict[str, list[tuple[str, str, dict[str, Any], int]]] = {
    "PromptOpt": [
        ("PromptOpt-MBPP-v0", "promptgym.envs.prompt_opt:PromptOptEnv", {"dataset": "mbpp", "split": "train"}, 8),
        ("PromptOpt-HumanEval-v0", "promptgym.envs.prompt_opt:PromptOptEnv",
         {"dataset": "humaneval", "split": "test"}, 8),
    ],
    "Executive": [
        ("Executive-MBPP-v0", "promptgym.envs.executive:ExecutiveEnv", {"dataset": "mbpp", "split": "train"}, 12),
        ("Executive-HumanEval-v0", "promptgym.envs.executive:ExecutiveEnv",
         {"dataset": "humaneval", "split": "test"}, 12),
    ],
    "Hierarchical": [
        ("Hierarchical-MBPP-v0", "promptgym.envs.hierarchical:HierarchicalEnv",
         {"dataset": "mbpp", "split": "train"}, 10),
    ],
}

ENV_IDS: tuple[str, ...] = tuple(spec[0] for family in _FAMILIES.values() for spec in family)


def register_envs() -> None:
    """Register all promptgym ids; ids already in the registry are skipped (idempotent)."""
    import gymnasium as gym

    for family in _FAMILIES.values():
        for env_id, entry_point, kwargs, max_steps in family:
            if env_id in gym.registry:
                continue
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs), max_episode_steps=max_steps)
