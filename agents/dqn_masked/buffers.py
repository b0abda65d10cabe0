"""A replay buffer that also stores the action masks of each state and of its successor."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize


class MaskableReplayBufferSamples(NamedTuple):
    """SB3's ReplayBufferSamples plus the masks of ``s`` and ``s'`` (bool tensors, batch x n_actions)."""

    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    discounts: th.Tensor | None
    action_masks: th.Tensor
    next_action_masks: th.Tensor


class MaskableReplayBuffer(ReplayBuffer):
    """ReplayBuffer with ``action_masks`` and ``next_action_masks`` per transition (Discrete actions).

    SB3 calls ``add(obs, next_obs, action, reward, done, infos)`` with no room for masks, so the
    algorithm stages them with :meth:`stage_masks` just before; unstaged transitions get all-ones
    (every action valid), which is also what a terminal successor gets: ``done`` zeroes its target.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"MaskableReplayBuffer needs a Discrete action space, got {action_space}")
        if optimize_memory_usage:
            # next masks would then have to come from the next slot, which is wrong at episode ends
            raise ValueError("MaskableReplayBuffer does not support optimize_memory_usage=True; set it to False")
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
        )
        n = int(action_space.n)
        self.action_masks = np.ones((self.buffer_size, self.n_envs, n), dtype=bool)
        self.next_action_masks = np.ones((self.buffer_size, self.n_envs, n), dtype=bool)
        self._staged: tuple[np.ndarray, np.ndarray] | None = None

    def stage_masks(self, masks: np.ndarray, next_masks: np.ndarray) -> None:
        """Masks (n_envs x n_actions) for the transition the next :meth:`add` call stores."""
        shape = (self.n_envs, self.action_masks.shape[-1])
        self._staged = (_valid_rows(masks, shape), _valid_rows(next_masks, shape))

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one vectorised transition and the staged masks (all-ones when none were staged)."""
        if self._staged is None:
            self.action_masks[self.pos] = True
            self.next_action_masks[self.pos] = True
        else:
            self.action_masks[self.pos], self.next_action_masks[self.pos] = self._staged
            self._staged = None
        super().add(obs, next_obs, action, reward, done, infos)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> MaskableReplayBufferSamples:
        # Re-implemented (not wrapped) because the parent draws env indices that the masks need too.
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        data = (
            self._normalize_obs(self.observations[batch_inds, env_indices, :], env),
            self.actions[batch_inds, env_indices, :],
            self._normalize_obs(self.next_observations[batch_inds, env_indices, :], env),
            (self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])).reshape(-1, 1),
            self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env),
        )
        tensors = tuple(map(self.to_torch, data))
        return MaskableReplayBufferSamples(
            *tensors,
            None,
            self.to_torch(self.action_masks[batch_inds, env_indices]),
            self.to_torch(self.next_action_masks[batch_inds, env_indices]),
        )


def _valid_rows(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Masks as bool rows; a row with no valid action becomes all-ones (its max would be -inf)."""
    arr = np.asarray(masks, dtype=bool).reshape(shape).copy()
    arr[~arr.any(axis=1)] = True
    return arr
