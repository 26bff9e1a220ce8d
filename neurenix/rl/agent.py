"""`Agent(policy, value_function, gamma)`: the documentation's generic agent on the shared loop — a policy plus a
value function learned by one-step TD (Q-learning when the value function outputs one value per action)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.rl.base import BaseAgent
from neurenix.rl.environment import StepResult, VecEnv
from neurenix.rl.policy import EpsilonGreedyPolicy, GaussianPolicy, SoftmaxPolicy, network_output
from neurenix.rl.returns import td_target


class Agent(BaseAgent):
    """A policy and a value function (the documentation's generic agent); `update` is one TD(0) step."""

    def __init__(
        self,
        policy: Any = None,
        value_function: Any = None,
        gamma: float = 0.99,
        observation_space: Any = None,
        action_space: Any = None,
        seed: int | None = None,
        name: str = "Agent",
    ) -> None:
        self.policy = policy
        self.value_function = value_function
        if action_space is None and policy is not None:
            action_space = getattr(policy, "action_space", None)
        super().__init__(observation_space, action_space, seed=seed, gamma=gamma, name=name)

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations (n, *obs_shape), computed without a graph."""
        policy = self.policy
        if deterministic and isinstance(policy, (EpsilonGreedyPolicy, SoftmaxPolicy)):
            return network_output(policy.value_function, obs).argmax(axis=-1)
        if deterministic and isinstance(policy, GaussianPolicy):
            return policy.select_action(obs, deterministic=True)
        return np.asarray([policy(o) for o in obs])

    # -------------------------------------------------------------------------------------- loop hooks
    def _explore(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(actions to store, actions for the env) while training."""
        actions = self.predict(obs, deterministic=False)
        return actions, actions

    def _store(self, obs: np.ndarray, actions: np.ndarray, step: StepResult) -> None:
        self._transition = (obs, actions, step.rewards, step.final_obs, step.terminated.astype(np.float32))

    def _on_env_step(self, n_transitions: int) -> None:
        """Advance per-step schedules; the generic agent steps its policy once per transition."""
        for _ in range(n_transitions):
            self.policy.step()

    def _update_due(self) -> bool:
        return getattr(self.value_function, "optimizer", None) is not None

    def _on_train_start(self, env: VecEnv) -> None:
        """Allocate per-run storage once the number of envs is known."""

    def update(self) -> dict[str, float]:
        """One TD(0) step on the last transitions: Q-learning for per-action outputs, else V-learning."""
        obs, actions, rewards, next_obs, terminated = self._transition
        next_values = np.asarray(self.value_function(next_obs))
        per_action = isinstance(self.action_space, gym.spaces.Discrete) and next_values.ndim == 2
        if per_action and next_values.shape[1] == self.action_space.n:
            targets = td_target(rewards, terminated, next_values.max(axis=1), self.gamma)
            loss = self.value_function.update(obs, targets, actions=actions)
        else:
            targets = td_target(rewards, terminated, next_values.reshape(-1), self.gamma)
            loss = self.value_function.update(obs, targets)
        return {"value_loss": float(loss)}

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.policy is not None:
            state["policy"] = self.policy.state_dict()
        if self.value_function is not None and hasattr(self.value_function, "state_dict"):
            state["value_function"] = self.value_function.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "policy" in state:
            self.policy.load_state_dict(state["policy"])
        if "value_function" in state:
            self.value_function.load_state_dict(state["value_function"])
