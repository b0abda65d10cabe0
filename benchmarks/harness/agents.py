"""What ``--agent`` names: a saved SB3 run folder, a built-in baseline, or any ``module:factory``.

Every agent is driven through one protocol, ``predict(obs, info) -> action``, where
``info["action_mask"]`` holds the valid actions (int8, 1 = valid). Spec strings:

* ``baseline:random``, ``baseline:heuristic`` (:mod:`agents.baselines`),
* a run folder of ``promptgym train`` (or a model ``.zip`` in one), evaluated like ``promptgym eval``,
* ``package.module:factory`` or ``path/to/file.py:factory``: ``factory`` is called once per episode
  with those of ``env``, ``env_id``, ``seed``, ``observation_space``, ``action_space`` it names
  (all of them if it takes ``**kwargs``) and returns an object with ``predict(obs, info)``.
  Cache anything expensive (a model) in your module: episodes run in several processes.

``LABEL=SPEC`` names the agent in leaderboards (default: the spec). Several specs under one label
(``--agent ppo=runs/s0 --agent ppo=runs/s1``) are independent runs of one agent for the statistics.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from promptgym.error import UsageError

__all__ = ["AgentSpec", "Policy", "check_agent", "make_policy", "parse_agent"]

BASELINES = ("random", "heuristic")
FACTORY_KWARGS = ("env", "env_id", "seed", "observation_space", "action_space")
_LABEL = re.compile(r"^[A-Za-z0-9_.\-+]+$")


class Policy(Protocol):
    """The protocol every benchmarked agent follows."""

    def predict(self, obs: Any, info: dict[str, Any]) -> Any:
        """The next action for ``obs``; ``info["action_mask"]`` marks the valid actions."""


@dataclass(frozen=True)
class AgentSpec:
    """A parsed ``--agent`` value.

    Attributes:
        label: The name in results and leaderboards.
        spec: What builds it (``baseline:NAME``, a run folder, ``module:factory``).
        kind: ``"baseline"``, ``"run"`` or ``"factory"``.
    """

    label: str
    spec: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for a result file."""
        return {"label": self.label, "spec": self.spec, "kind": self.kind}


def parse_agent(text: str) -> AgentSpec:
    """Parse ``[LABEL=]SPEC`` (see the module docstring); UsageError for what is none of the kinds."""
    label, sep, rest = text.partition("=")
    if sep and rest and _LABEL.match(label) and not Path(text).exists():
        spec = rest
    else:
        label, spec = "", text
    spec = spec.strip()
    if not spec:
        raise UsageError(f"--agent {text!r}: empty; give baseline:random, a run folder or module:factory")
    if spec.startswith("baseline:"):
        name = spec.split(":", 1)[1]
        if name not in BASELINES:
            from promptgym.error import did_you_mean

            raise UsageError(f"--agent {text!r}: unknown baseline {name!r}.{did_you_mean(name, BASELINES)} "
                             f"Built in: {', '.join('baseline:' + b for b in BASELINES)}")
        kind = "baseline"
    elif Path(spec).exists():
        kind = "run"
    elif ":" in spec:
        kind = "factory"
    else:
        raise UsageError(f"--agent {text!r}: not a run folder (no such path), nor baseline:random|baseline:heuristic, "
                         "nor module:factory (e.g. my_agents:make_agent or path/to/agents.py:make_agent)")
    return AgentSpec(label=label or spec, spec=spec, kind=kind)


def check_agent(agent: AgentSpec) -> None:
    """Fail now, in one line, for a run folder without a model or a factory that cannot be imported."""
    if agent.kind == "run":
        path = Path(agent.spec)
        run_dir = path if path.is_dir() else path.parent
        if not (run_dir / "config.yml").exists():
            raise UsageError(f"--agent {agent.spec}: not a run folder of promptgym train (no config.yml)")
    elif agent.kind == "factory":
        _factory(agent.spec)


def _import_module(name: str) -> Any:
    if name.endswith(".py") or "/" in name or "\\" in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise UsageError(f"--agent: no such file {name!r}")
        mod_name = f"_promptgym_bench_agent_{path.stem}_{abs(hash(str(path))) % 10**8}"
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"--agent: cannot import {name!r} ({exc}); put its folder on PYTHONPATH or give "
                         "path/to/file.py:factory") from exc


def _factory(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise UsageError(f"--agent {spec!r}: expected module:factory")
    module = _import_module(module_name)
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            from promptgym.error import did_you_mean

            names = [n for n in dir(module) if not n.startswith("_")]
            raise UsageError(f"--agent {spec!r}: {module_name} has no {attr!r}.{did_you_mean(part, names)}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise UsageError(f"--agent {spec!r}: {attr} is not callable")
    return factory


class _Baseline:
    """A baseline of :mod:`agents.baselines` behind ``predict(obs, info)``."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def predict(self, obs: Any, info: dict[str, Any]) -> Any:
        self.agent.observe(info)  # the heuristic reads pass fractions from info
        mask = np.asarray(info["action_mask"], dtype=bool)
        return self.agent.predict(obs, action_masks=mask)[0]


class _Run:
    """A trained SB3 model (with its observation normaliser) behind ``predict(obs, info)``."""

    def __init__(self, model: Any, normaliser: Any) -> None:
        self.model, self.normaliser = model, normaliser
        self.takes_masks = "action_masks" in inspect.signature(model.predict).parameters

    def predict(self, obs: Any, info: dict[str, Any]) -> Any:
        x = self.normaliser.normalize_obs(obs) if self.normaliser is not None else obs
        if self.takes_masks:
            return self.model.predict(x, deterministic=True, action_masks=np.asarray(info["action_mask"], bool))[0]
        return self.model.predict(x, deterministic=True)[0]


@lru_cache(maxsize=8)
def _load_run(spec: str, env_id: str, env: Any) -> tuple[Any, Any]:
    # one load per process, env and run: a loaded SB3 model predicts deterministically, without state
    from agents.evaluate import load_agent

    model, _, normaliser = load_agent(spec, env)
    return model, normaliser


def make_policy(agent: AgentSpec, env: Any, env_id: str, seed: int) -> Policy:
    """A fresh policy for one episode on ``env`` (seeded with the episode seed)."""
    if agent.kind == "baseline":
        from agents.baselines import make_baseline

        return _Baseline(make_baseline(agent.spec.split(":", 1)[1], env, seed=seed))
    if agent.kind == "run":
        return _Run(*_load_run(agent.spec, env_id, env))
    factory = _factory(agent.spec)
    offered = {"env": env, "env_id": env_id, "seed": seed, "observation_space": env.observation_space,
               "action_space": env.action_space}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        params = {}
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = offered
    else:
        kwargs = {k: v for k, v in offered.items() if k in params}
    policy = factory(**kwargs)
    if not callable(getattr(policy, "predict", None)):
        raise UsageError(f"--agent {agent.spec}: the factory returned {type(policy).__name__}, which has no "
                         "predict(obs, info) method")
    return policy
