"""Ensembles of independent linear layers run as one batched matmul: the op with its backward, the layer, and
the critic ensemble Q_k(s, a) that DDPG (K = 1), TD3 and SAC (K = 2) learn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurenix._accel import Product, ScatteredProduct, exact_skipping, loops_for, relu_backward, units_to_keep
from neurenix.nn.init import uniform_fan_in
from neurenix.nn.module import Module, Parameter
from neurenix.tensor import Tensor, from_op, no_grad


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
        loops_for(out, b).add_bias_relu(out, b, len(out), out.shape[-1])
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
    (`neurenix._accel.units_to_keep`; None: all kept), one member at a time, with the same bits."""
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

    With an `encoder` (images; `obs_dim` is then its output width) the input is [encoder(s), a], the encoder run
    once per batch and read by all K members, as SB3's ContinuousCritic shares one features extractor among its
    Q heads. Its parameters are `encoder.*`; it learns from the critic loss only (see `forward`'s `frozen`).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        members: int,
        rng: np.random.Generator,
        encoder: Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        sizes = [obs_dim + action_dim, *hidden_dims, 1]
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(EnsembleLinear(members, fan_in, fan_out, relu=i < len(sizes) - 2, rng=rng))
            setattr(self, str(i), layers[-1])
        object.__setattr__(self, "_layers", tuple(layers))

    def forward(
        self, obs: np.ndarray, actions: np.ndarray | Tensor, frozen: bool = False, members: int | None = None
    ) -> Tensor:
        if self.encoder is not None:
            # `frozen` (an actor loss through the critic) reads the features as constants: the gradient goes to
            # the actions only, so the actor loss never reaches the critic's encoder (SB3 gets the same numbers
            # by zeroing the critic's gradients before each critic step, and TD3's q1_forward by no_grad).
            if frozen:
                with no_grad():
                    features = self.encoder(obs)
            else:
                features = self.encoder(obs)
            x = Tensor.cat([features, actions if isinstance(actions, Tensor) else Tensor(actions)], dim=1)
        elif isinstance(actions, Tensor):
            x = Tensor.cat([Tensor(obs), actions], dim=1)
        else:
            x = Tensor(np.concatenate([obs, actions], axis=1))
        for layer in self._layers:
            x = layer(x, frozen=frozen, members=members)
        return x.reshape(x.shape[0], x.shape[1])
