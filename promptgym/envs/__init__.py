"""The promptgym envs; classes are imported on first access so ``import promptgym`` stays cheap."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ExecutiveEnv", "ExecutiveRewards", "HierarchicalEnv", "HierarchicalRewards", "PromptOptEnv",
           "PromptOptRewards"]

_WHERE = {
    "ExecutiveEnv": "promptgym.envs.executive", "ExecutiveRewards": "promptgym.envs.executive",
    "HierarchicalEnv": "promptgym.envs.hierarchical", "HierarchicalRewards": "promptgym.envs.hierarchical",
    "PromptOptEnv": "promptgym.envs.prompt_opt", "PromptOptRewards": "promptgym.envs.prompt_opt",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'promptgym.envs' has no attribute {name!r}")
