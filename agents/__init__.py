"""Agents for the promptgym envs: SB3 training and evaluation, the masked DQN family and baselines.

``agents.train`` and ``agents.evaluate`` are the functions (their modules stay importable as
``agents.train``/``agents.evaluate`` through ``sys.modules``). Torch and SB3 load on first call.
"""

from __future__ import annotations

from agents.evaluate import evaluate
from agents.train import train

__all__ = ["evaluate", "train"]
