"""What DDPG, TD3 and SAC share: replay with warm-up and cadence, fused critic ensembles, action noise, state.

Actions live in two spaces. Networks produce and the replay buffer stores *unit* actions in [-1, 1]^A (a tanh
actor's range, and the scale at which exploration noise and target smoothing are specified, as in SB3 and the TD3
paper); the env receives them mapped to its box by `BoxScaler`. Trap: storing env-scale actions would feed the
critic inputs of another scale than the actor's output at update time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neurenix._accel import Product, ScatteredProduct, exact_skipping, relu_backward, units_to_keep
from neurenix._accel import loops as _loops
from neurenix.errors import ConfigError
from neurenix.nn import Module, Parameter
from neurenix.nn.init import uniform_fan_in
from neurenix.rl.agent import check_hidden_dims, check_positive_int, check_range
from neurenix.rl.buffers import ReplayBatch, ReplayBuffer, replay_update_due
from neurenix.rl.environment import StepResult
from neurenix.rl.spaces import BoxScaler
from neurenix.tensor import Tensor, from_op


def check_off_policy_arguments(
    actor_hidden_dims: Any,
    critic_hidden_dims: Any,
    actor_learning_rate: Any,
    critic_learning_rate: Any,
    tau: Any,
    buffer_size: Any,
    batch_size: Any,
    learning_starts: Any,
    train_freq: Any,
    gradient_steps: Any,
) -> None:
    """Raise ConfigError naming the first constructor argument the three algorithms share that is invalid."""
    check_hidden_dims("actor_hidden_dims", actor_hidden_dims)
    check_hidden_dims("critic_hidden_dims", critic_hidden_dims)
    check_range("actor_learning_rate", actor_learning_rate, 0.0, 1.0, low_open=True)
    check_range("critic_learning_rate", critic_learning_rate, 0.0, 1.0, low_open=True)
    check_range("tau", tau, 0.0, 1.0, low_open=True)
    for label, value in (
        ("buffer_size", buffer_size),
        ("batch_size", batch_size),
        ("train_freq", train_freq),
        ("gradient_steps", gradient_steps),
    ):
        check_positive_int(label, value)
    check_positive_int("learning_starts", learning_starts, allow_zero=True)


# ------------------------------------------------------------------------------------------ replay and cadence
class OffPolicyReplay:
    """The replay buffer, the warm-up before `learning_starts` and the `train_freq` cadence.

    Until `learning_starts` env steps have been taken, actions are uniform in the box, drawn for the whole
    warm-up in one call (gymnasium's `Box.sample()` costs ~14 µs a step); after that the algorithm's exploring
    policy acts. An update is due every `train_freq` vectorized steps once `learning_starts` steps are stored.

    The warm-up actions not yet used are part of the state: a run resumed mid-warm-up must take the actions the
    uninterrupted run would have, and must not draw them again from the (restored) rng, whose stream the
    uninterrupted run spends on replay sampling and noise instead.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        buffer_size: int,
        batch_size: int,
        learning_starts: int,
        train_freq: int,
        rng: np.random.Generator,
    ) -> None:
        if len(action_space.shape) != 1:
            raise ConfigError(f"continuous actions must be a 1-D box, got shape {action_space.shape}")
        try:
            self.scaler = BoxScaler(action_space)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.action_dim = action_space.shape[0]
        self.buffer = ReplayBuffer(
            buffer_size,
            observation_space.shape,
            action_shape=(self.action_dim,),
            discrete_actions=False,
            rng=rng,
        )
        self.batch_size, self.learning_starts, self.train_freq = batch_size, learning_starts, train_freq
        self.rng = rng
        self.n_envs = 1
        self.warmup_actions = np.empty((0, self.action_dim), dtype=np.float32)  # unused, in order of use

    def start(self, n_envs: int, total_steps: int) -> None:
        """Draw the unit actions for the rest of the warm-up from the agent's rng, unless they are at hand."""
        self.n_envs = n_envs
        rows = -(-max(self.learning_starts - total_steps, 0) // n_envs) * n_envs
        if len(self.warmup_actions) != rows:
            self.warmup_actions = self.rng.uniform(-1.0, 1.0, (rows, self.action_dim)).astype(np.float32)

    def explore(
        self, obs: np.ndarray, total_steps: int, policy: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(unit actions to store, box actions for the env): warm-up draws, then `policy(obs)` in [-1, 1]."""
        if total_steps < self.learning_starts:
            unit, self.warmup_actions = np.split(self.warmup_actions, [self.n_envs])
        else:
            unit = policy(obs)
        return unit, self.scaler.to_box(unit)

    def store(self, obs: np.ndarray, unit_actions: np.ndarray, step: StepResult) -> None:
        # Trap: final_obs, not next_obs. Where an episode ended, next_obs is already the next episode's reset
        # observation; final_obs is the true s'. Only `terminated` stops the bootstrap: a time-limit
        # truncation (Pendulum's 200 steps) still bootstraps from final_obs.
        self.buffer.add(obs, unit_actions, step.rewards, step.final_obs, step.terminated)

    def due(self, total_steps: int) -> bool:
        return replay_update_due(
            self.buffer, total_steps, self.n_envs, self.learning_starts, self.train_freq, self.batch_size
        )

    def sample(self) -> ReplayBatch:
        return self.buffer.sample(self.batch_size)

    def state_dict(self) -> dict:
        return {"warmup_actions": self.warmup_actions.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.warmup_actions = np.asarray(state["warmup_actions"], dtype=np.float32).reshape(
            -1, self.action_dim
        )


# ------------------------------------------------------------------------------------------ critic ensembles
def ensemble_linear(
    x: Tensor, weight: Tensor, bias: Tensor, relu: bool, frozen: bool = False, members: int | None = None
) -> Tensor:
    """y_k = act(x_k @ W_k + b_k) for every ensemble member k, as one op over a batched matmul.

    x: (B, in), shared by all members, or (K, B, in); weight (K, in, out); bias (K, 1, out) -> y (K, B, out).
    `frozen` treats the weights as constants: the gradient reaches x only, so an actor loss backpropagates through
    the critics without computing (or accumulating) weight gradients the actor's optimizer would never use.
    `members=m` uses only the first m members (TD3's actor follows Q_1); it needs `frozen`.
    """
    w, b, xd = weight.numpy(), bias.numpy(), x.numpy()
    if members is not None:
        if not frozen:
            raise ValueError("members= selects a slice of the weights, which can only be used frozen")
        w, b = w[:members], b[:members]
    out = np.matmul(xd, w)
    if relu:
        _loops.loops_for(out, b).add_bias_relu(out, b, len(out), out.shape[-1])
    else:
        out += b

    def backward(g):
        grad_b = lives = None
        if relu:
            g, grad_b, activity = relu_backward(
                g, out, len(out), not frozen, track_live=exact_skipping(xd, w)
            )
            if activity is not None:
                rows, inputs = g.shape[1], w.shape[1]
                lives = [units_to_keep(member, rows, inputs, "in_out") for member in activity]
        if lives is not None and any(live is not None for live in lives):
            return _backward_live_units(g, lives, xd, w, x.requires_grad, frozen, grad_b)
        # A shared x receives (K, B, in); the engine sums it over the members. For the Q head (out = 1) the
        # product is an outer product, which a broadcast multiply computes ~4x faster than numpy's matmul.
        grad_x = None
        if x.requires_grad:
            w_t = np.swapaxes(w, -1, -2)
            grad_x = g * w_t if w.shape[-1] == 1 else np.matmul(g, w_t)
        if frozen:
            return (grad_x,)
        if grad_b is None:
            grad_b = g.sum(axis=1, keepdims=True)
        return grad_x, Product(np.swapaxes(xd, -1, -2), g), grad_b

    return from_op(out, (x,) if frozen else (x, weight, bias), backward)


def _backward_live_units(
    g: np.ndarray,
    lives: list[np.ndarray | None],
    xd: np.ndarray,
    w: np.ndarray,
    needs_grad_x: bool,
    frozen: bool,
    grad_b: np.ndarray | None,
) -> tuple:
    """`ensemble_linear`'s gradients with each member's units without a gradient left out of its products
    (`neurenix.nn.functional.live_units`; None: all kept), one member at a time, with the same bits."""
    kept = [g[k] if live is None else g[k][:, live] for k, live in enumerate(lives)]
    grad_x = None
    if needs_grad_x:
        grad_x = np.empty((len(g), g.shape[1], w.shape[1]), dtype=np.result_type(g, w))
        for k, (g_k, live) in enumerate(zip(kept, lives)):
            np.matmul(g_k, (w[k] if live is None else w[k][:, live]).T, out=grad_x[k])
    if frozen:
        return (grad_x,)
    x_t = np.swapaxes(xd, -1, -2)
    blocks = [
        (k, 1, live, x_t if x_t.ndim == 2 else x_t[k], g_k) for k, (g_k, live) in enumerate(zip(kept, lives))
    ]
    return grad_x, ScatteredProduct(w.shape, blocks), grad_b


class EnsembleLinear(Module):
    """K independent linear layers with torch's default init, U(-1/sqrt(in), 1/sqrt(in)) for W and b.

    weight is stored (K, in, out), input-major unlike `nn.Linear`'s (out, in), so the forward is x @ W with no
    transposed copy.
    """

    def __init__(
        self, members: int, in_features: int, out_features: int, relu: bool, rng: np.random.Generator
    ) -> None:
        super().__init__()
        self.relu = relu
        self.weight = Parameter(uniform_fan_in((members, in_features, out_features), in_features, rng))
        self.bias = Parameter(uniform_fan_in((members, 1, out_features), in_features, rng))

    def forward(self, x: Tensor, frozen: bool = False, members: int | None = None) -> Tensor:
        return ensemble_linear(x, self.weight, self.bias, self.relu, frozen, members)


class QEnsemble(Module):
    """K critics Q_k(s, a) = MLP_k([s, a]) evaluated together: (B, obs_dim), (B, A) -> (K, B).

    Each layer holds all K critics' weights and runs as one batched matmul, so twin critics (TD3, SAC) cost one
    pass of the engine instead of two, and both read the one concatenated input. K = 1 is DDPG's critic.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        members: int,
        rng: np.random.Generator,
    ) -> None:
        super().__init__()
        sizes = [obs_dim + action_dim, *hidden_dims, 1]
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(EnsembleLinear(members, fan_in, fan_out, relu=i < len(sizes) - 2, rng=rng))
            setattr(self, str(i), layers[-1])
        object.__setattr__(self, "_layers", tuple(layers))

    def forward(
        self, obs: np.ndarray, actions: np.ndarray | Tensor, frozen: bool = False, members: int | None = None
    ) -> Tensor:
        if isinstance(actions, Tensor):
            x = Tensor.cat([Tensor(obs), actions], dim=1)
        else:
            x = Tensor(np.concatenate([obs, actions], axis=1))
        for layer in self._layers:
            x = layer(x, frozen=frozen, members=members)
        return x.reshape(x.shape[0], x.shape[1])


# ---------------------------------------------------------------------------------------------- action noise
class GaussianNoise:
    """Independent N(0, sigma^2) per step and action dimension (what TD3 and RL Zoo's DDPG use)."""

    def __init__(self, sigma: float, action_dim: int, rng: np.random.Generator) -> None:
        self.sigma, self.action_dim, self.rng = sigma, action_dim, rng
        self.n_envs = 1

    def start(self, n_envs: int) -> None:
        self.n_envs = n_envs

    def sample(self) -> np.ndarray:
        return self.rng.standard_normal((self.n_envs, self.action_dim), dtype=np.float32) * self.sigma

    def reset(self, done: np.ndarray) -> None:
        """Stateless: nothing to reset at an episode's end."""


class OrnsteinUhlenbeckNoise:
    """Temporally correlated noise (Lillicrap et al. 2016): x += theta (mu - x) dt + sigma sqrt(dt) N(0, 1).

    theta = 0.15, dt = 0.01 and mu = 0 as in the DDPG paper and SB3; the stationary std is sigma / sqrt(2 theta)
    ~ 1.8 sigma. One process per env, restarted at 0 with each episode so that no episode inherits the last one's
    drift. Hence no state to checkpoint: `train` begins new episodes, even when it resumes a run.
    """

    theta, dt = 0.15, 1e-2

    def __init__(self, sigma: float, action_dim: int, rng: np.random.Generator) -> None:
        self.sigma, self.action_dim, self.rng = sigma, action_dim, rng
        self.x = np.zeros((0, action_dim), dtype=np.float32)

    def start(self, n_envs: int) -> None:
        self.x = np.zeros((n_envs, self.action_dim), dtype=np.float32)

    def sample(self) -> np.ndarray:
        shock = self.rng.standard_normal(self.x.shape, dtype=np.float32) * (self.sigma * math.sqrt(self.dt))
        self.x = self.x * (1.0 - self.theta * self.dt) + shock
        return self.x

    def reset(self, done: np.ndarray) -> None:
        self.x[done] = 0.0


NOISE_TYPES = {"gaussian": GaussianNoise, "ornstein_uhlenbeck": OrnsteinUhlenbeckNoise}


def make_noise(noise_type: str, sigma: float, action_dim: int, rng: np.random.Generator):
    if noise_type not in NOISE_TYPES:
        raise ConfigError(
            f"noise_type must be one of {', '.join(map(repr, NOISE_TYPES))}, got {noise_type!r}"
        )
    return NOISE_TYPES[noise_type](sigma, action_dim, rng)


# ---------------------------------------------------------------------------------------------------- state
def parts_state(owner: Any, names: Sequence[str]) -> dict:
    """{name: owner.name.state_dict()} for networks, targets, optimizers and the replay's warm-up alike."""
    return {name: getattr(owner, name).state_dict() for name in names}


def load_parts_state(owner: Any, names: Sequence[str], state: dict) -> None:
    """The inverse of `parts_state`; a missing part is a KeyError (a CheckpointError for `Agent.load`)."""
    for name in names:
        getattr(owner, name).load_state_dict(state[name])
