"""Policies: how an action is chosen from a state. Each accepts one state or a batch of states.

A state has the observation's shape; a batch has one more leading axis. Value-based policies evaluate their
network under `no_grad`, so acting never records a graph.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from neurenix.errors import CheckpointError
from neurenix.rl.spaces import BoxScaler, to_gym_space, to_spec
from neurenix.tensor import Tensor, no_grad


class Policy:
    """Base class: subclasses implement `select_action(state)`; `step()` advances schedules, `reset()` rewinds."""

    def __init__(self, name: str = "Policy") -> None:
        self.name = name

    def __call__(self, state: Any) -> Any:
        return self.select_action(state)

    def select_action(self, state: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement select_action(state)")

    def step(self) -> None:
        """Advance per-step schedules (e.g. epsilon decay); nothing by default."""

    def reset(self) -> None:
        """Return schedules to their initial state; nothing by default."""

    def state_dict(self) -> dict:
        """Arrays and JSON-able values that define this policy (networks included)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        del state

    def save(self, path: str | Path) -> None:
        arrays, scalars = flatten_state(self.state_dict())
        save_checkpoint(path, arrays, {"kind": "policy", "class": type(self).__name__, "state": scalars})

    def load(self, path: str | Path) -> None:
        arrays, meta = load_checkpoint(path)
        if meta.get("kind") != "policy" or meta.get("class") != type(self).__name__:
            raise CheckpointError(
                f"Checkpoint {path} holds a {meta.get('class', 'non-policy')} {meta.get('kind', '')}, "
                f"not a {type(self).__name__}."
            )
        self.load_state_dict(unflatten_state(arrays, meta.get("state", {})))


def network_output(value_function: Any, state: Any) -> np.ndarray:
    """Evaluate a network (Module or ValueFunction) on a state or batch, as float32 numpy, without a graph."""
    array = np.asarray(state)
    if array.dtype != np.uint8:  # pixels stay uint8 up to the network, whose first op scales them
        array = np.asarray(array, dtype=np.float32)
    with no_grad():
        out = value_function(Tensor(array))
    return out.numpy() if isinstance(out, Tensor) else np.asarray(out)


def _module_state(value_function: Any) -> dict:
    state_dict = getattr(value_function, "state_dict", None)
    return {"network": state_dict()} if state_dict is not None else {}


def _load_module_state(value_function: Any, state: dict) -> None:
    if "network" in state:
        value_function.load_state_dict(state["network"])


class RandomPolicy(Policy):
    """Uniform over a discrete action set or a box; the baseline and the start of off-policy training."""

    def __init__(self, action_space: Any, name: str = "RandomPolicy", seed: int | None = None) -> None:
        super().__init__(name=name)
        self.action_space = to_gym_space(action_space)
        self.rng = np.random.default_rng(seed)

    def select_action(self, state: Any = None) -> Any:
        batch = _batch_size(state, None)
        shape = () if batch is None else (batch,)
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            action = self.rng.integers(0, space.n, size=shape)
            return int(action) if batch is None else action
        return self.rng.uniform(space.low, space.high, size=shape + space.shape).astype(np.float32)


def _batch_size(state: Any, obs_ndim: int | None) -> int | None:
    """Rows in a batched state, or None for a single state (a 1-D state is single unless told otherwise)."""
    if state is None:
        return None
    array = np.asarray(state)
    single_ndim = 1 if obs_ndim is None else obs_ndim
    return array.shape[0] if array.ndim > single_ndim else None


def _argmax(values: np.ndarray) -> Any:
    action = values.argmax(axis=-1)
    return int(action) if np.ndim(action) == 0 else action


def _explored_action(u: Any, epsilon: float, n: int, masks: np.ndarray | None = None) -> Any:
    """The random action of a state whose uniform draw u fell below epsilon: u / epsilon is uniform on [0, 1).

    One draw thus decides both whether to explore and what to do, where a second draw cost ~4 us a step. With
    invalid-action masks (True: allowed) it picks uniformly among the allowed actions: the j-th of the k allowed.
    """
    if masks is None:
        return np.minimum((np.asarray(u) / epsilon * n).astype(np.int64), n - 1)
    allowed = masks.sum(axis=-1)
    j = np.minimum((np.asarray(u) / epsilon * allowed).astype(np.int64), allowed - 1)
    return (np.cumsum(masks, axis=-1) > np.asarray(j)[..., None]).argmax(axis=-1)


def masked_argmax(values: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """argmax over the allowed actions (masks True) of each row; over all of them without masks."""
    return (values if masks is None else np.where(masks, values, -np.inf)).argmax(axis=-1)


class GreedyPolicy(Policy):
    """argmax_a Q(s, a) of a value function that outputs one value per action."""

    def __init__(self, value_function: Any, action_space: Any, name: str = "GreedyPolicy") -> None:
        super().__init__(name=name)
        self.value_function = value_function
        self.action_space = to_gym_space(action_space)

    def select_action(self, state: Any) -> Any:
        return _argmax(network_output(self.value_function, state))

    def state_dict(self) -> dict:
        return _module_state(self.value_function)

    def load_state_dict(self, state: dict) -> None:
        _load_module_state(self.value_function, state)


class EpsilonGreedyPolicy(Policy):
    """Greedy with probability 1 - epsilon, uniform otherwise; epsilon(t) = max(end, start * decay^t).

    `epsilon` is writable (set it to 0 to evaluate); `step()` advances t and recomputes it, `reset()` rewinds.
    `select_action(state, action_masks)` never picks an action whose mask is False, greedily or at random.
    """

    def __init__(
        self,
        value_function: Any,
        action_space: Any,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.01,
        epsilon_decay: float = 0.995,
        name: str = "EpsilonGreedy",
        seed: int | None = None,
    ) -> None:
        super().__init__(name=name)
        for label, value in (("epsilon_start", epsilon_start), ("epsilon_end", epsilon_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}")
        if not 0.0 < epsilon_decay <= 1.0:
            raise ValueError(f"epsilon_decay must be in (0, 1], got {epsilon_decay}")
        self.value_function = value_function
        self.action_space = to_gym_space(action_space)
        self.epsilon_start, self.epsilon_end, self.epsilon_decay = epsilon_start, epsilon_end, epsilon_decay
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.epsilon = epsilon_start

    def select_action(self, state: Any, action_masks: np.ndarray | None = None) -> Any:
        # The network runs only for states that act greedily: early in training that is almost none.
        n, epsilon = self.action_space.n, self.epsilon
        masks = None if action_masks is None else np.asarray(action_masks, dtype=bool)
        batch = _batch_size(state, None)
        if batch is None:
            u = self.rng.random()
            if u < epsilon:
                return int(_explored_action(u, epsilon, n, masks))
            return int(masked_argmax(network_output(self.value_function, state), masks))
        u = self.rng.random(batch)
        explore = u < epsilon
        if explore.all():
            return _explored_action(u, epsilon, n, masks)
        actions = masked_argmax(network_output(self.value_function, state), masks)
        if explore.any():
            actions[explore] = _explored_action(
                u[explore], epsilon, n, None if masks is None else masks[explore]
            )
        return actions

    def step(self) -> None:
        self.t += 1
        self.epsilon = max(self.epsilon_end, self.epsilon_start * self.epsilon_decay**self.t)

    def reset(self) -> None:
        self.t = 0
        self.epsilon = self.epsilon_start

    def state_dict(self) -> dict:
        return {
            "t": self.t,
            "epsilon": self.epsilon,
            "rng": self.rng.bit_generator.state,
            **_module_state(self.value_function),
        }

    def load_state_dict(self, state: dict) -> None:
        self.t, self.epsilon = int(state["t"]), float(state["epsilon"])
        self.rng.bit_generator.state = state["rng"]
        _load_module_state(self.value_function, state)


class SoftmaxPolicy(Policy):
    """Boltzmann exploration: P(a|s) = exp(Q(s,a)/T) / sum_a' exp(Q(s,a')/T)."""

    def __init__(
        self,
        value_function: Any,
        action_space: Any,
        temperature: float = 1.0,
        name: str = "Softmax",
        seed: int | None = None,
    ) -> None:
        super().__init__(name=name)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.value_function = value_function
        self.action_space = to_gym_space(action_space)
        self.temperature = temperature
        self.rng = np.random.default_rng(seed)

    def probabilities(self, state: Any) -> np.ndarray:
        logits = network_output(self.value_function, state).astype(np.float64) / self.temperature
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=-1, keepdims=True)

    def select_action(self, state: Any) -> Any:
        probs = self.probabilities(state)
        u = self.rng.random(probs.shape[:-1] + (1,))
        action = (u < np.cumsum(probs, axis=-1)).argmax(axis=-1)
        return int(action) if np.ndim(action) == 0 else action

    def state_dict(self) -> dict:
        return _module_state(self.value_function)

    def load_state_dict(self, state: dict) -> None:
        _load_module_state(self.value_function, state)


class GaussianPolicy(Policy):
    """a = center + clip(mu(s) + std * noise, -1, 1) * half_range: a network's output in [-1, 1] mapped to the box."""

    def __init__(
        self,
        policy_network: Any,
        action_space: Any,
        std: float = 0.1,
        name: str = "Gaussian",
        seed: int | None = None,
    ) -> None:
        super().__init__(name=name)
        if not math.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {std}")
        self.policy_network = policy_network
        self.action_space = to_gym_space(action_space)
        if not isinstance(self.action_space, gym.spaces.Box):
            raise ValueError(f"GaussianPolicy needs a box action space, got {to_spec(self.action_space)}")
        self.scaler = BoxScaler(self.action_space)
        self.std = std
        self.rng = np.random.default_rng(seed)

    def select_action(self, state: Any, deterministic: bool = False) -> np.ndarray:
        mean = network_output(self.policy_network, state)
        unit = (
            mean
            if deterministic
            else mean + self.std * self.rng.standard_normal(mean.shape).astype(np.float32)
        )
        return self.scaler.to_box(unit).astype(np.float32)

    def state_dict(self) -> dict:
        return _module_state(self.policy_network)

    def load_state_dict(self, state: dict) -> None:
        _load_module_state(self.policy_network, state)
