"""The masked DQN family (plain, Double, Dueling) as SB3 algorithms, with a mask-storing replay buffer."""

from agents.dqn_masked.buffers import MaskableReplayBuffer, MaskableReplayBufferSamples
from agents.dqn_masked.dqn import DoubleDQN, DuelingDQN, MaskedDQN
from agents.dqn_masked.policies import DuelingDQNPolicy, DuelingQNetwork, MaskedDQNPolicy, apply_mask

__all__ = [
    "DoubleDQN",
    "DuelingDQN",
    "DuelingDQNPolicy",
    "DuelingQNetwork",
    "MaskableReplayBuffer",
    "MaskableReplayBufferSamples",
    "MaskedDQN",
    "MaskedDQNPolicy",
    "apply_mask",
]
