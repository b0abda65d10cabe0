"""Q-network policies that honour action masks: a plain one and a dueling one (V + A - mean A)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.torch_layers import create_mlp
from stable_baselines3.dqn.policies import DQNPolicy, MultiInputPolicy, QNetwork
from torch import nn


def apply_mask(q_values: th.Tensor, action_masks: np.ndarray | th.Tensor | None) -> th.Tensor:
    """Q-values with invalid actions set to -inf (rows without any valid action are left as is)."""
    if action_masks is None:
        return q_values
    mask = th.as_tensor(np.asarray(action_masks, dtype=bool) if not isinstance(action_masks, th.Tensor)
                        else action_masks.bool(), device=q_values.device).reshape(q_values.shape)
    mask = mask | ~mask.any(dim=1, keepdim=True)
    return q_values.masked_fill(~mask, -th.inf)


class _MaskedPredictMixin:
    """``predict(..., action_masks=...)``: the greedy action among valid ones."""

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Greedy action (Q-learning has no stochastic policy), invalid actions excluded."""
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        with th.no_grad():
            q_values = apply_mask(self.q_net(obs_tensor), action_masks)
            actions = q_values.argmax(dim=1).cpu().numpy().reshape((-1, *self.action_space.shape))
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, state


class MaskedDQNPolicy(_MaskedPredictMixin, DQNPolicy):
    """SB3's DQN MlpPolicy whose ``predict`` accepts ``action_masks``."""


class MaskedMultiInputPolicy(_MaskedPredictMixin, MultiInputPolicy):
    """SB3's DQN MultiInputPolicy (Dict observations) whose ``predict`` accepts ``action_masks``."""


class DuelingQNetwork(QNetwork):
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') on a shared MLP trunk (Wang et al., 2016).

    The mean runs over ALL actions, valid or not: it only makes V and A identifiable and must not
    change with the state's mask (otherwise the same weights would mean different Q-values);
    masks are applied afterwards, to the greedy choice and the target max.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.q_net  # replaced by the trunk and the two heads
        n_actions = int(self.action_space.n)
        self.trunk = nn.Sequential(*create_mlp(self.features_dim, -1, self.net_arch, self.activation_fn))
        last = self.net_arch[-1] if self.net_arch else self.features_dim
        self.value_head = nn.Linear(last, 1)
        self.advantage_head = nn.Linear(last, n_actions)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        """Q-values (batch x n_actions)."""
        hidden = self.trunk(self.extract_features(obs, self.features_extractor))
        advantage = self.advantage_head(hidden)
        return self.value_head(hidden) + advantage - advantage.mean(dim=1, keepdim=True)


class _DuelingMixin:
    def make_q_net(self) -> DuelingQNetwork:
        """The dueling Q-network (used for both the online and the target network)."""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return DuelingQNetwork(**net_args).to(self.device)


class DuelingDQNPolicy(_DuelingMixin, MaskedDQNPolicy):
    """Masked DQN policy with a :class:`DuelingQNetwork`."""


class DuelingMultiInputPolicy(_DuelingMixin, MaskedMultiInputPolicy):
    """Masked DQN policy for Dict observations with a :class:`DuelingQNetwork`."""


__all__ = [
    "DuelingDQNPolicy",
    "DuelingMultiInputPolicy",
    "DuelingQNetwork",
    "MaskedDQNPolicy",
    "MaskedMultiInputPolicy",
    "apply_mask",
]
