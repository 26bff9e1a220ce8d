"""Fused ops: one forward and its backward, where fusing saves Python overhead on the hot path."""

from __future__ import annotations

import math

import numpy as np

from neurenix._accel import (
    Product,
    ScatteredProduct,
    blocks,
    exact_skipping,
    loops_for,
    relu_backward,
    units_to_keep,
)
from neurenix.tensor import Tensor, from_op


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """activation(x @ weight.T + bias) as one op: weight is (out, in) like torch; x is (..., in).

    `activation` is None, "relu" or "tanh", applied in place on the product: an MLP layer is one node of the
    graph and one output array instead of two.
    """
    xd, w = x.numpy(), weight.numpy()
    out = linear_values(xd, w, None if bias is None else bias.numpy(), activation)

    def backward(g):
        grad_bias = live = None
        if activation == "relu":
            g, grad_bias, activity = relu_backward(
                g, out, 1, bias is not None, track_live=exact_skipping(xd, w)
            )
            if activity is not None:
                live = units_to_keep(activity[0], g.size // g.shape[-1], w.shape[1], "out_in")
        elif activation == "tanh":
            g = g * (1.0 - out * out)
        if live is not None:
            # Units without a gradient add exactly zero to grad_x and leave their rows of grad_w at zero: leaving
            # them out of both products gives the same bits for less arithmetic.
            g, w_used = g[..., live], w[live]
        else:
            w_used = w
        g2 = g.reshape(math.prod(g.shape[:-1]), g.shape[-1])  # not -1: every unit may be dead (0 columns)
        x2 = xd.reshape(-1, xd.shape[-1])
        # The first layer's input is data (observations): skip the matmul whose result nobody reads.
        grad_x = None
        if x.requires_grad:
            # A one-output head (a critic's Q, a value): (B, 1) @ (1, in) is an outer product, which a broadcast
            # multiply computes ~4x faster than matmul.
            grad_x = g * w_used if w_used.shape[0] == 1 else blocks.dense_matmul(g, w_used)
        grad_w = None
        if weight.requires_grad:
            grad_w = (
                Product(g2.T, x2)
                if live is None
                else ScatteredProduct(weight.shape, [(None, 0, live, g2.T, x2)])
            )
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g2.sum(axis=0) if grad_bias is None else grad_bias.reshape(bias.shape)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return from_op(out, parents, backward)


def linear_values(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, activation: str | None
) -> np.ndarray:
    """The forward of `linear` on plain arrays: what acting uses, where no graph is recorded."""
    out = blocks.dense_matmul(x, weight.T)
    if activation == "relu":
        loops_for(out, bias).add_bias_relu(out, bias, 1, out.shape[-1])
        return out
    if bias is not None:
        out += bias
    if activation == "tanh":
        np.tanh(out, out=out)
    elif activation is not None:
        raise ValueError(f"linear() fuses 'relu' or 'tanh', not {activation!r}")
    return out


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    activation: str | None = None,
) -> Tensor:
    """torch's conv2d (a cross-correlation): x (N, C, H, W), weight (O, C, kh, kw), bias (O,) give
    (N, O, OH, OW) with OH = (H + 2 padding - kh) // stride + 1, and OW likewise; `activation` "relu" applies
    a ReLU in the same op (as `linear` does), on the cores the products use.

    im2col: each receptive field is one row of a (N*OH*OW, kh*kw*C) matrix, so the forward and the weight's
    gradient are one BLAS product each, and the input's gradient is one product scattered back (col2im). Rows
    hold channels last, so that a window's kernel rows are copied in runs of kw*C values, not kw; the output is
    the product's (N, OH, OW, O) array seen as NCHW, which the next layer's im2col reads without a transposing
    copy.
    """
    xd, w = x.numpy(), weight.numpy()
    if xd.ndim != 4:
        raise ValueError(f"conv2d takes a (N, C, H, W) input, not one of shape {xd.shape}")
    out_channels, channels, kh, kw = w.shape
    if xd.shape[1] != channels:
        raise ValueError(f"conv2d: the input has {xd.shape[1]} channels, the weight expects {channels}")
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d() fuses 'relu', not {activation!r}")
    stride, padding = _pair(stride), _pair(padding)
    cols = _im2col(xd, (kh, kw), stride, padding)
    n, oh, ow = cols.shape[:3]
    cols = cols.reshape(n * oh * ow, -1)
    w_rows = w.transpose(0, 2, 3, 1).reshape(out_channels, -1)  # (O, kh*kw*C), the order of a row of cols
    rows = blocks.matmul(cols, w_rows.T)
    if activation == "relu":
        blocks.add_bias_relu(rows, None if bias is None else bias.numpy())
    elif bias is not None:
        rows += bias.numpy()
    out = rows.reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2)

    def backward(g):
        g_rows = g.transpose(0, 2, 3, 1).reshape(-1, out_channels)
        grad_bias = None
        if activation == "relu":
            g_rows, grad_bias = blocks.relu_backward(g_rows, rows, bias is not None)
        grad_x = grad_w = None
        if x.requires_grad:
            grad_x = _col2im(
                blocks.matmul(g_rows, w_rows).reshape(n, oh, ow, kh, kw, channels), xd.shape, stride, padding
            )
        if weight.requires_grad:
            # cols.T @ g rather than g.T @ cols: BLAS runs the long inner axis (a row per window) ~10-40% faster
            # with the window columns as rows of the product, and row blocks of cols.T then cut it.
            grad_w = (
                blocks.matmul(cols.T, g_rows).T.reshape(out_channels, kh, kw, channels).transpose(0, 3, 1, 2)
            )
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g_rows.sum(axis=0) if grad_bias is None else grad_bias

    parents = (x, weight) if bias is None else (x, weight, bias)
    return from_op(out, parents, backward)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]):
    """The receptive fields of x (N, C, H, W) as a copy, (N, OH, OW, kh, kw, C).

    The windows are a strided view of x in channels-last memory: an input stored so already (another conv2d's
    output) is read as it is; any other is copied once into channels-last storage, padding included.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: a {kh}x{kw} kernel does not fit a {h}x{w} input padded by {ph}, {pw}")
    last = x.transpose(0, 2, 3, 1)
    if ph or pw:
        padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
        padded[:, ph : ph + h, pw : pw + w] = last
        last = padded
    elif not last.flags.c_contiguous:
        last = blocks.contiguous(last)
    s_n, s_h, s_w, s_c = last.strides
    windows = np.lib.stride_tricks.as_strided(
        last, (n, oh, ow, kh, kw, c), (s_n, sh * s_h, sw * s_w, s_h, s_w, s_c), writeable=False
    )
    return blocks.contiguous(windows)


def _col2im(
    windows: np.ndarray, shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int]
) -> np.ndarray:
    """The gradient of x (N, C, H, W) from its windows' gradients (N, OH, OW, kh, kw, C): the sum, at each
    input position, of every window that covers it (im2col's adjoint), computed channels last and seen as NCHW.
    """
    (ph, pw), (n, c, h, w) = padding, shape
    grad = blocks.col2im(windows, (n, h + 2 * ph, w + 2 * pw, c), stride)
    return grad[:, ph : ph + h, pw : pw + w].transpose(0, 3, 1, 2)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.log_softmax(dim)


def _difference(input: Tensor, target: Tensor | np.ndarray | float):
    t = target.numpy() if isinstance(target, Tensor) else np.asarray(target, dtype=input.dtype)
    return input.numpy() - t


def _loss(input: Tensor, target, value: np.ndarray, grad_input: np.ndarray) -> Tensor:
    """Wrap a mean loss whose gradient w.r.t. `input` is `grad_input` (and minus that w.r.t. target)."""
    if isinstance(target, Tensor):
        return from_op(value, (input, target), lambda g: (g * grad_input, -g * grad_input))
    return from_op(value, (input,), lambda g: (g * grad_input,))


def _mean(a: np.ndarray) -> np.ndarray:
    """np.mean's bits (the same pairwise sum, then one division) without its Python wrapper: ~4 us a loss."""
    return np.asarray(np.add.reduce(a, axis=None) / a.size)


def _squared_error(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mean(d^2) and its gradient w.r.t. d."""
    return _mean(d * d), d * (2.0 / d.size)


def _huber(d: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """The mean Huber loss of d and its gradient w.r.t. d.

    clip(d, -delta, delta) is the derivative, and c (d - c/2) with c that clip is the value in both regimes: four
    passes where the two-branch formula takes ten, with the same bits (d - d/2 is exact).
    """
    clipped = np.clip(d, -delta, delta)
    return _mean(clipped * (d - 0.5 * clipped)), clipped / d.size


def mse_loss(input: Tensor, target) -> Tensor:
    """mean((input - target)^2)."""
    return _loss(input, target, *_squared_error(_difference(input, target)))


def huber_loss(input: Tensor, target, delta: float = 1.0) -> Tensor:
    """mean of 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta): quadratic near 0, linear in the tails."""
    return _loss(input, target, *_huber(_difference(input, target), delta))


def action_value_loss(
    q_values: Tensor, actions: np.ndarray, targets: np.ndarray, loss: str = "mse"
) -> Tensor:
    """The mean `loss` ("mse" or "huber") of Q(s_i, a_i) = q_values[i, actions[i]] against targets[i], as one op.

    Q-learning fits only the taken actions' values; one node here replaces gather, squeeze and the loss, which
    cost more Python than arithmetic at DQN's batch of 64.
    """
    q = q_values.numpy()
    rows = np.arange(len(q))
    d = q[rows, actions] - np.asarray(targets, dtype=q.dtype)
    value, grad = _huber(d, 1.0) if loss == "huber" else _squared_error(d)

    def backward(g):
        grad_q = np.zeros_like(q)
        grad_q[rows, actions] = g * grad
        return (grad_q,)

    return from_op(value, (q_values,), backward)


def smooth_l1_loss(input: Tensor, target, beta: float = 1.0) -> Tensor:
    """torch's smooth L1: the Huber loss with delta = beta, divided by beta."""
    value, grad = _huber(_difference(input, target), beta)
    return _loss(input, target, np.asarray(value / beta), grad / beta)
