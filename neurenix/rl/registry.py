"""Algorithm names -> classes, and rebuilding an agent from a checkpoint (no code in the file, only names)."""

from __future__ import annotations

import difflib
from pathlib import Path

from neurenix.checkpoint import load_checkpoint
from neurenix.errors import CheckpointError, ConfigError
from neurenix.rl.algorithms.a2c import A2C
from neurenix.rl.algorithms.ddpg import DDPG
from neurenix.rl.algorithms.dqn import DQN
from neurenix.rl.algorithms.ppo import PPO
from neurenix.rl.algorithms.sac import SAC
from neurenix.rl.algorithms.td3 import TD3
from neurenix.rl.base import BaseAgent
from neurenix.rl.persistence import check_agent_meta, restore_state

ALGORITHMS: dict[str, type[BaseAgent]] = {
    "dqn": DQN,
    "ddpg": DDPG,
    "td3": TD3,
    "sac": SAC,
    "a2c": A2C,
    "ppo": PPO,
}


def names() -> list[str]:
    return list(ALGORITHMS)


def supporting(action_space_type: str) -> list[str]:
    """The names of the algorithms that take actions of this spec type ("discrete", "multi_binary", ...)."""
    return [name for name, cls in ALGORITHMS.items() if action_space_type in cls.action_space_types]


def get(name: str) -> type[BaseAgent]:
    """The class registered as `name` (case-insensitive); ConfigError with the valid names otherwise."""
    key = str(name).lower()
    if key not in ALGORITHMS:
        close = difflib.get_close_matches(key, ALGORITHMS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown algorithm {name!r}.{hint} Available: {', '.join(ALGORITHMS)}.")
    return ALGORITHMS[key]


def load_agent(path: str | Path) -> BaseAgent:
    """Build the agent a checkpoint describes (registry lookup, constructor, then its state)."""
    arrays, meta = load_checkpoint(path)
    check_agent_meta(meta, path)
    try:
        cls = get(meta.get("algorithm", ""))
    except ConfigError:
        raise CheckpointError(
            f"Checkpoint {path} was written by unknown algorithm {meta.get('algorithm')!r}."
        ) from None
    try:
        agent = cls(
            observation_space=meta["observation_space"],
            action_space=meta["action_space"],
            **meta["hyperparameters"],
        )
    except Exception as error:
        # The constructor validates its arguments, but a file may hold anything: whatever a value it rejects
        # raises (including MemoryError for absurd sizes), the checkpoint cannot be built.
        raise CheckpointError(
            f"Checkpoint {path} has hyperparameters or spaces this version cannot build: "
            f"{type(error).__name__}: {error}."
        ) from None
    restore_state(agent, arrays, meta, path)
    return agent
