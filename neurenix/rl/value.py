"""Value functions: V(s) or Q(s, ·) estimates that can be queried without a graph and fitted to targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from neurenix.errors import CheckpointError
from neurenix.nn import functional as F
from neurenix.optim import clip_grad_norm_
from neurenix.tensor import Tensor, no_grad


class ValueFunction:
    """Base class: `__call__(states)` returns value estimates as numpy; `update` fits them to targets."""

    def __call__(self, states: Any) -> np.ndarray:
        raise NotImplementedError

    def update(self, states: Any, targets: Any, actions: Any = None) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        del state

    def save(self, path: str | Path) -> None:
        arrays, scalars = flatten_state(self.state_dict())
        save_checkpoint(
            path, arrays, {"kind": "value_function", "class": type(self).__name__, "state": scalars}
        )

    def load(self, path: str | Path) -> None:
        arrays, meta = load_checkpoint(path)
        if meta.get("kind") != "value_function":
            raise CheckpointError(f"Checkpoint {path} does not hold a value function.")
        self.load_state_dict(unflatten_state(arrays, meta.get("state", {})))


class ValueNetworkFunction(ValueFunction):
    """A network and its optimizer. With `actions`, the network's outputs are Q(s, ·) and the chosen ones are
    fitted; without, its single output is V(s)."""

    def __init__(
        self,
        value_network: nn.Module,
        optimizer: Any = None,
        loss: str = "mse",
        max_grad_norm: float | None = None,
    ) -> None:
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got {loss!r}")
        self.value_network = value_network
        self.optimizer = optimizer
        self.loss = loss
        self.max_grad_norm = max_grad_norm

    def __call__(self, states: Any) -> np.ndarray:
        with no_grad():
            return self.value_network(Tensor(np.asarray(states, dtype=np.float32))).numpy()

    def predict(self, states: Tensor) -> Tensor:
        """The network's output with a graph, for losses that combine it with other terms."""
        return self.value_network(states)

    def parameters(self) -> list:
        return self.value_network.parameters()

    def update(self, states: Any, targets: Any, actions: Any = None) -> float:
        if self.optimizer is None:
            raise ValueError("ValueNetworkFunction.update needs an optimizer")
        out = self.value_network(Tensor(np.asarray(states, dtype=np.float32)))
        targets = np.asarray(targets, dtype=np.float32)
        if actions is not None:
            loss = F.action_value_loss(
                out, np.asarray(actions, dtype=np.intp).reshape(-1), targets, self.loss
            )
        else:
            if out.ndim == 2 and out.shape[1] == 1:
                out = out.squeeze(1)
            loss = F.huber_loss(out, targets) if self.loss == "huber" else F.mse_loss(out, targets)
        self.optimizer.zero_grad()
        loss.backward()
        if self.max_grad_norm is not None:
            clip_grad_norm_(self.optimizer.params, self.max_grad_norm)  # what is stepped; no module walk
        self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict:
        state: dict = {"network": self.value_network.state_dict()}
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.value_network.load_state_dict(state["network"])
        if self.optimizer is not None and "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])


class QFunction(ValueNetworkFunction):
    """Q(s, ·) for discrete actions: one output per action."""

    def greedy(self, states: Any) -> np.ndarray:
        return self(states).argmax(axis=-1)


class DuelingQNetwork(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) over a shared trunk (Wang et al. 2016).

    Subtracting the mean makes V and A identifiable, which is what stabilises learning.
    """

    def __init__(
        self, obs_dim: int, n_actions: int, hidden_dims: list[int], rng: np.random.Generator | None = None
    ):
        super().__init__()
        self.trunk = nn.mlp([obs_dim, *hidden_dims], output_activation="relu", rng=rng)
        width = [obs_dim, *hidden_dims][-1]
        self.value_head = nn.Linear(width, 1, rng=rng)
        self.advantage_head = nn.Linear(width, n_actions, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        features = self.trunk(x)
        advantages = self.advantage_head(features)
        return self.value_head(features) + advantages - advantages.mean(dim=-1, keepdim=True)
