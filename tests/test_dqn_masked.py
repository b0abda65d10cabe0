"""Masked DQN family: masks honoured everywhere, Double DQN target and dueling head by hand."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from agents.dqn_masked import DoubleDQN, DuelingDQN, MaskableReplayBuffer, MaskableReplayBufferSamples, MaskedDQN


class ToyMaskedEnv(gym.Env):
    """Test double for algorithm mechanics: 5 actions, a state-dependent mask, counts invalid picks.

    State k in 0..3 (one-hot obs); valid actions are {k, 4}; action k pays +1 and moves on, 4 pays 0.
    Episodes last 4 steps. An invalid action pays -1 and is counted in ``invalid``.
    """

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Discrete(5)
        self.k, self.t, self.invalid = 0, 0, 0

    def action_masks(self) -> np.ndarray:
        mask = np.zeros(5, dtype=bool)
        mask[[self.k, 4]] = True
        return mask

    def _obs(self) -> np.ndarray:
        return np.eye(4, dtype=np.float32)[self.k]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.k, self.t = int(self.np_random.integers(4)), 0
        return self._obs(), {"action_mask": self.action_masks().astype(np.int8)}

    def step(self, action: int):
        if not self.action_masks()[action]:
            self.invalid += 1
            reward = -1.0
        else:
            reward = 1.0 if action == self.k else 0.0
            if action == self.k:
                self.k = (self.k + 1) % 4
        self.t += 1
        return self._obs(), reward, self.t >= 4, False, {"action_mask": self.action_masks().astype(np.int8)}


ALGOS = [MaskedDQN, DoubleDQN, DuelingDQN]


@pytest.mark.parametrize("algo", ALGOS, ids=lambda a: a.__name__)
def test_training_never_picks_masked_actions(algo: type[MaskedDQN], tmp_path) -> None:
    """Warm-up, epsilon=1 exploration and greedy play all stay inside the mask; save/load round-trips."""
    env = ToyMaskedEnv()
    model = algo("MlpPolicy", env, learning_starts=50, buffer_size=1000, batch_size=16, train_freq=1,
                 exploration_fraction=0.5, target_update_interval=50, seed=0, policy_kwargs={"net_arch": [16]})
    assert isinstance(model.replay_buffer, MaskableReplayBuffer)
    model.learn(400)
    assert env.invalid == 0
    # the buffer recorded the masks that the env reported
    stored = model.replay_buffer.action_masks[: model.replay_buffer.pos, 0]
    assert stored.sum(axis=1).max() == 2 and stored[:, 4].all()
    # greedy and exploring predictions, single and batched
    obs = np.eye(4, dtype=np.float32)
    masks = np.zeros((4, 5), dtype=bool)
    masks[np.arange(4), np.arange(4)] = True
    greedy, _ = model.predict(obs, deterministic=True, action_masks=masks)
    assert list(greedy) == [0, 1, 2, 3]
    model.exploration_rate = 1.0
    picks = {int(model.predict(obs[1], deterministic=False, action_masks=masks[1])[0]) for _ in range(200)}
    assert picks == {1}
    model.save(tmp_path / "m.zip")
    loaded = algo.load(tmp_path / "m.zip")
    assert type(loaded.policy) is type(model.policy)
    again, _ = loaded.predict(obs, deterministic=True, action_masks=masks)
    assert list(again) == [0, 1, 2, 3]


def _samples(next_obs: th.Tensor, next_masks: th.Tensor, rewards: th.Tensor, dones: th.Tensor):
    n = next_obs.shape[0]
    return MaskableReplayBufferSamples(
        observations=next_obs, actions=th.zeros((n, 1), dtype=th.long), next_observations=next_obs,
        dones=dones, rewards=rewards, discounts=None, action_masks=th.ones_like(next_masks),
        next_action_masks=next_masks,
    )


def _set_linear(net: th.nn.Module, weight: list[list[float]]) -> None:
    (layer,) = [m for m in net.modules() if isinstance(m, th.nn.Linear)]
    with th.no_grad():
        layer.weight.copy_(th.tensor(weight))
        layer.bias.zero_()


def test_double_dqn_target_by_hand() -> None:
    """target = r + gamma*(1-d)*Q_target(s', argmax over valid a' of Q_online(s', a'))."""
    env = ToyMaskedEnv()
    model = DoubleDQN("MlpPolicy", env, gamma=0.5, policy_kwargs={"net_arch": []}, seed=0)
    # obs one-hot e0: online Q = [1, 5, 3, 0, 2] ; target Q = [10, 20, 30, 40, 50]
    _set_linear(model.q_net, [[1, 0, 0, 0], [5, 0, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0], [2, 0, 0, 0]])
    _set_linear(model.q_net_target, [[10, 0, 0, 0], [20, 0, 0, 0], [30, 0, 0, 0], [40, 0, 0, 0], [50, 0, 0, 0]])
    obs = th.tensor([[1.0, 0, 0, 0]] * 3)
    masks = th.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 0, 0], [1, 0, 1, 0, 0]], dtype=th.bool)
    rewards = th.tensor([[1.0], [1.0], [1.0]])
    dones = th.tensor([[0.0], [0.0], [1.0]])
    target = model.td_target(_samples(obs, masks, rewards, dones)).flatten().tolist()
    # row 0: online argmax = 1 -> target 20 -> 1 + 0.5*20 ; row 1: valid {0,2}: argmax 2 -> 30 ; row 2: done
    assert target == pytest.approx([11.0, 16.0, 1.0])
    # plain masked DQN maxes the target net over valid actions instead
    plain = MaskedDQN("MlpPolicy", env, gamma=0.5, policy_kwargs={"net_arch": []}, seed=0)
    plain.q_net_target.load_state_dict(model.q_net_target.state_dict())
    assert plain.td_target(_samples(obs, masks, rewards, dones)).flatten().tolist() == pytest.approx([26.0, 16.0, 1.0])


def test_dueling_head_by_hand() -> None:
    """Q = V + A - mean(A), mean over all five actions."""
    model = DuelingDQN("MlpPolicy", ToyMaskedEnv(), policy_kwargs={"net_arch": []}, seed=0)
    net = model.q_net
    with th.no_grad():
        net.value_head.weight.copy_(th.tensor([[2.0, 0, 0, 0]]))
        net.value_head.bias.fill_(1.0)
        advantage = [[1.0, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0], [4, 0, 0, 0], [5, 0, 0, 0]]
        net.advantage_head.weight.copy_(th.tensor(advantage))
        net.advantage_head.bias.zero_()
        q = net(th.tensor([[1.0, 0, 0, 0]])).flatten().tolist()
    # V = 3, A = [1..5], mean 3 -> Q = [1, 2, 3, 4, 5]
    assert q == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    action, _ = model.predict(np.array([1.0, 0, 0, 0], dtype=np.float32), deterministic=True,
                              action_masks=np.array([1, 1, 1, 0, 0], dtype=bool))
    assert int(action) == 2


def test_buffer_rejects_bad_setup() -> None:
    """Clear errors for spaces and options the buffer cannot serve."""
    with pytest.raises(ValueError, match="Discrete"):
        MaskableReplayBuffer(10, spaces.Box(0, 1, (2,)), spaces.Box(0, 1, (2,)))
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        MaskableReplayBuffer(10, spaces.Box(0, 1, (2,)), spaces.Discrete(2), optimize_memory_usage=True)


def test_vec_env_masks_follow_auto_reset() -> None:
    """With 2 auto-resetting envs, stored next-masks are those of the stored next observation (terminal ones too)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([ToyMaskedEnv, ToyMaskedEnv])
    model = DoubleDQN("MlpPolicy", venv, learning_starts=20, buffer_size=500, batch_size=8, seed=1,
                      policy_kwargs={"net_arch": [8]})
    model.learn(200)
    assert all(e.invalid == 0 for e in venv.envs)
    buf = model.replay_buffer
    next_obs = buf.next_observations[: buf.pos].reshape(-1, 4)
    expected = np.zeros((len(next_obs), 5), dtype=bool)
    expected[np.arange(len(next_obs)), next_obs.argmax(axis=1)] = True
    expected[:, 4] = True
    assert (buf.next_action_masks[: buf.pos].reshape(-1, 5) == expected).all()
    assert buf.dones[: buf.pos].sum() > 0  # terminal transitions were among those checked
