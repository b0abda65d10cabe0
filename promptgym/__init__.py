"""promptgym: Gymnasium environments for RL-driven LLM code generation."""

from __future__ import annotations

from promptgym import registration as _registration

__version__ = "0.1.0"

_registration.register_envs()
