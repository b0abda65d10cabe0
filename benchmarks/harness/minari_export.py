"""Export a benchmark run as Minari datasets, so its episodes feed offline RL.

One dataset per (agent, env) of the run (observation and action spaces differ between envs), named
``<namespace>/<env>-<agent>-v0``, in Minari's Arrow format. Each episode carries its observations,
actions, rewards, terminations, truncations and infos: ``action_mask`` per step, ``task_id`` and every
scalar info key the env reports at every step (tokens, llm_calls, pass_fraction, ...). Episode ``i``
of a dataset is the ``i``-th episode of that agent and env in ``results.json``; its seed is the
episode's reset seed. ``minari.load_dataset(dataset_id)`` loads it back.

    python -m benchmarks.harness.minari_export OUT_DIR --namespace promptgym-bench [--path DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from promptgym.error import DependencyNotInstalled, UsageError

__all__ = ["dataset_id", "episode_buffers", "export"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


def dataset_id(namespace: str, env_id: str, agent: str) -> str:
    """The Minari dataset id of ``agent`` on ``env_id`` under ``namespace``."""
    return f"{namespace.strip('/')}/{_slug(env_id)}-{_slug(agent)}-v0"


def episode_buffers(out: Path, episodes: list[dict[str, Any]]) -> list[Any]:
    """Minari ``EpisodeBuffer`` objects from the saved trajectories of ``episodes`` (in order)."""
    from minari.data_collector import EpisodeBuffer

    buffers = []
    for i, ep in enumerate(episodes):
        if not ep.get("trajectory"):
            raise UsageError(f"{out}: episode {ep['key']} has no trajectory (run without --no-trajectories)")
        with np.load(out / "trajectories" / ep["trajectory"]) as z:
            arrays = {k: z[k] for k in z.files}
        obs_keys = [k for k in arrays if k.startswith("obs.")]
        observations: Any = ({k[4:]: arrays[k] for k in obs_keys} if obs_keys else arrays["obs"])
        infos: dict[str, Any] = {}
        for k, v in arrays.items():
            if k.startswith("info."):
                # Minari's Arrow storage round-trips 1-D info columns as lists, 2-D ones (masks) as arrays
                infos[k[5:]] = v if v.ndim > 1 else v.tolist()
        buffers.append(EpisodeBuffer(
            id=i, seed=int(ep["episode_seed"]), options={"task_id": ep["task_id"]} if ep.get("task_id") else None,
            observations=observations, actions=arrays["actions"], rewards=arrays["rewards"].tolist(),
            terminations=arrays["terminations"].tolist(), truncations=arrays["truncations"].tolist(), infos=infos))
    # Minari stores one info schema per dataset: keep the keys every episode has
    if buffers:
        common = set.intersection(*(set(b.infos) for b in buffers))
        buffers = [EpisodeBuffer(id=b.id, seed=b.seed, options=b.options, observations=b.observations,
                                 actions=b.actions, rewards=b.rewards, terminations=b.terminations,
                                 truncations=b.truncations, infos={k: b.infos[k] for k in sorted(common)})
                   for b in buffers]
    return buffers


def export(out: str | Path, namespace: str = "promptgym-bench", path: str | Path | None = None,
           overwrite: bool = False) -> list[str]:
    """Write one Minari dataset per (agent, env) of the run in ``out``; return their ids.

    Args:
        out: A ``promptgym bench`` output folder (with ``results.json`` and ``trajectories/``).
        namespace: Dataset id prefix.
        path: Minari's datasets folder (default: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``).
        overwrite: Replace datasets of the same id.
    """
    try:
        import minari
    except ImportError as exc:
        raise DependencyNotInstalled("the Minari export needs minari: pip install 'promptgym[bench]'") from exc
    import gymnasium as gym

    import promptgym  # noqa: F401  (registers the envs)

    out = Path(out)
    if path is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(path).resolve())
    results = json.loads((out / "results.json").read_text())
    header = results["header"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ep in results["episodes"]:
        groups.setdefault((ep["agent"], ep["env_id"]), []).append(ep)
    ids = []
    for (agent, env_id), eps in groups.items():
        ds_id = dataset_id(namespace, env_id, agent)
        if ds_id in minari.list_local_datasets():
            if not overwrite:
                raise UsageError(f"Minari dataset {ds_id} exists; pass --overwrite or another namespace")
            minari.delete_dataset(ds_id)
        plan = header["envs"][env_id]
        spec = gym.spec(env_id)
        env_spec = dataclasses.replace(spec, kwargs={**(spec.kwargs or {}), **plan["kwargs"]})
        env = gym.make(env_spec)
        try:
            obs_space, act_space = env.observation_space, env.action_space
        finally:
            env.close()
        suite = header["suite"]
        with warnings.catch_warnings():  # Minari nags about author e-mail and permalink: a local export has none
            warnings.simplefilter("ignore", UserWarning)
            minari.create_dataset_from_buffers(
                dataset_id=ds_id, buffer=episode_buffers(out, eps), env=env_spec, algorithm_name=agent,
                observation_space=obs_space, action_space=act_space, data_format="arrow", author="promptgym bench",
                description=(f"promptgym bench: agent {agent} on {env_id}, suite {suite['name']} "
                             f"{suite.get('version') or ''}, seeds {header['seeds']}, settings "
                             f"{json.dumps(plan['settings'])}"))
        ids.append(ds_id)
    return ids


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.harness.minari_export OUT_DIR``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.harness.minari_export", description=__doc__.splitlines()[0])
    p.add_argument("out", help="a promptgym bench output folder")
    p.add_argument("--namespace", default="promptgym-bench")
    p.add_argument("--path", default=None, help="Minari datasets folder (default: $MINARI_DATASETS_PATH or ~/.minari)")
    p.add_argument("--overwrite", action="store_true")
    ns = p.parse_args(argv)
    for ds_id in export(ns.out, ns.namespace, ns.path, ns.overwrite):
        print(f"minari dataset: {ds_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
