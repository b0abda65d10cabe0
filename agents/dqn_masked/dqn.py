"""Masked DQN, masked Double DQN and masked Dueling (Double) DQN as SB3 algorithms.

Masks enter in three places: epsilon-greedy exploration samples among VALID actions, the greedy
action ignores invalid ones (their Q is -inf) and the TD target maximises over the successor's
valid actions, read from a :class:`MaskableReplayBuffer`. Masks come from ``env.action_masks()``
(the sb3-contrib duck-typed name) and, for successors, from ``info["action_mask"]`` when the env
reports it: with VecEnv auto-reset the step's info still describes the terminal state, while
``action_masks()`` already describes the next episode.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from agents.dqn_masked.buffers import MaskableReplayBuffer
from agents.dqn_masked.policies import (
    DuelingDQNPolicy,
    DuelingMultiInputPolicy,
    MaskedDQNPolicy,
    MaskedMultiInputPolicy,
    apply_mask,
)


def env_action_masks(env: VecEnv, n_envs: int, n_actions: int) -> np.ndarray:
    """Current masks of every sub-env (bool, n_envs x n_actions); all-ones for envs without masks."""
    try:
        masks = np.stack(env.env_method("action_masks"))
    except AttributeError:
        return np.ones((n_envs, n_actions), dtype=bool)
    return np.asarray(masks, dtype=bool).reshape(n_envs, n_actions)


class MaskedDQN(DQN):
    """DQN (SB3) that never explores, exploits or bootstraps through an invalid action.

    Takes every keyword of :class:`stable_baselines3.DQN`; the replay buffer defaults to
    :class:`MaskableReplayBuffer` (another buffer class is accepted but then targets are unmasked).
    ``predict(obs, action_masks=...)`` honours masks both greedily and in exploration.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MaskedDQNPolicy,
        "MultiInputPolicy": MaskedMultiInputPolicy,
    }

    def __init__(
        self,
        policy: str | type[MaskedDQNPolicy],
        env: Any,
        *,
        replay_buffer_class: type[ReplayBuffer] | None = MaskableReplayBuffer,
        **kwargs: Any,
    ) -> None:
        self._last_masks: np.ndarray | None = None
        self._rollout_env: VecEnv | None = None
        super().__init__(policy, env, replay_buffer_class=replay_buffer_class, **kwargs)

    # ---- acting -------------------------------------------------------------------------------
    def _random_valid(self, mask: np.ndarray | None) -> int:
        """A uniformly random valid action (any action when no mask)."""
        if mask is None:
            return int(self.action_space.sample())
        valid = np.flatnonzero(np.asarray(mask, dtype=bool))
        return int(np.random.choice(valid)) if valid.size else int(self.action_space.sample())

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Epsilon-greedy among valid actions (greedy when ``deterministic``)."""
        if not deterministic and np.random.rand() < self.exploration_rate:
            if self.policy.is_vectorized_observation(observation):
                first = observation[next(iter(observation))] if isinstance(observation, dict) else observation
                n_batch = first.shape[0]
                masks = None if action_masks is None else np.asarray(action_masks, dtype=bool).reshape(n_batch, -1)
                action = np.array([self._random_valid(None if masks is None else masks[i]) for i in range(n_batch)])
            else:
                action = np.array(self._random_valid(action_masks))
            return action, state
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def collect_rollouts(self, env: VecEnv, *args: Any, **kwargs: Any) -> Any:
        """SB3's rollout loop; remembers ``env`` so action sampling can read its masks."""
        self._rollout_env = env
        return super().collect_rollouts(env, *args, **kwargs)

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        n_actions = int(self.action_space.n)
        masks = env_action_masks(self._rollout_env, n_envs, n_actions) if self._rollout_env is not None else None
        self._last_masks = masks
        if self.num_timesteps < learning_starts:
            action = np.array([self._random_valid(None if masks is None else masks[i]) for i in range(n_envs)])
        else:
            action, _ = self.predict(self._last_obs, deterministic=False, action_masks=masks)
        return action, action

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if isinstance(replay_buffer, MaskableReplayBuffer) and self._last_masks is not None:
            n_envs, n_actions = len(dones), int(self.action_space.n)
            current: np.ndarray | None = None
            next_masks = np.ones((n_envs, n_actions), dtype=bool)
            for i, (done, info) in enumerate(zip(dones, infos)):
                if "action_mask" in info:
                    next_masks[i] = np.asarray(info["action_mask"], dtype=bool).reshape(n_actions)
                elif not done:
                    if current is None and self._rollout_env is not None:
                        current = env_action_masks(self._rollout_env, n_envs, n_actions)
                    if current is not None:
                        next_masks[i] = current[i]
                # a done step without a reported mask keeps all-ones: (1 - done) zeroes its target
            replay_buffer.stage_masks(self._last_masks, next_masks)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    # ---- learning -----------------------------------------------------------------------------
    def next_state_values(self, samples: Any) -> th.Tensor:
        """max over valid a' of Q_target(s', a') (batch x 1)."""
        next_q = self.q_net_target(samples.next_observations)
        next_q = apply_mask(next_q, getattr(samples, "next_action_masks", None))
        return next_q.max(dim=1).values.reshape(-1, 1)

    def td_target(self, samples: Any) -> th.Tensor:
        """r + gamma * (1 - done) * next_state_values (batch x 1), no gradient."""
        discounts = samples.discounts if samples.discounts is not None else self.gamma
        with th.no_grad():
            return samples.rewards + (1 - samples.dones) * discounts * self.next_state_values(samples)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's DQN update with the masked TD target of :meth:`td_target`."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            target_q_values = self.td_target(replay_data)
            current_q_values = th.gather(self.q_net(replay_data.observations), dim=1, index=replay_data.actions.long())
            loss = F.smooth_l1_loss(current_q_values, target_q_values)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rollout_env", "_last_masks"]


class DoubleDQN(MaskedDQN):
    """Masked Double DQN (van Hasselt et al., 2016): the online net picks a', the target net rates it.

    target = r + gamma * (1 - done) * Q_target(s', argmax over VALID a' of Q_online(s', a')).
    """

    def next_state_values(self, samples: Any) -> th.Tensor:
        """Q_target(s', argmax_valid Q_online(s', .)) (batch x 1)."""
        masks = getattr(samples, "next_action_masks", None)
        best = apply_mask(self.q_net(samples.next_observations), masks).argmax(dim=1, keepdim=True)
        return th.gather(self.q_net_target(samples.next_observations), dim=1, index=best)


class DuelingDQN(DoubleDQN):
    """Masked Dueling DQN on top of :class:`DoubleDQN` (the usual "Dueling Double DQN" pairing).

    Its "MlpPolicy" is :class:`DuelingDQNPolicy`: Q = V + A - mean(A), the mean over all actions.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": DuelingDQNPolicy,
        "MultiInputPolicy": DuelingMultiInputPolicy,
    }
