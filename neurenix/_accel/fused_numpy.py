"""The loops of `_fused.c` as the numpy passes they fuse: what runs where the install built no C, and
for arrays the C loops do not take (strided views, mixed dtypes), which numpy handles as it always does.

Same functions, arguments and bits as the C module (tests/accel/test_fused.py holds both to one reference); only
slower, by the extra passes over memory: a gradient step of TD3's or DDPG's 400-300 networks takes ~15% longer.
"""

from __future__ import annotations

import numpy as np


def adam_step(
    data: np.ndarray,
    grad: np.ndarray,
    grad_sum: np.ndarray,
    grad_sq_sum: np.ndarray,
    beta1: float,
    beta2: float,
    eps: float,
    step: float,
) -> None:
    """s1 = b1 s1 + g; s2 = b2 s2 + g^2; data -= s1 / (sqrt(s2) + eps) * step, in place."""
    grad_sum *= beta1
    grad_sum += grad
    grad_sq_sum *= beta2
    grad_sq_sum += grad * grad
    data -= grad_sum / (np.sqrt(grad_sq_sum) + eps) * step


def lerp(target: np.ndarray, online: np.ndarray, keep: float, weight: float) -> None:
    """target = target * keep + weight * online, in place."""
    target *= keep
    target += weight * online


def add_bias_relu(out: np.ndarray, bias: np.ndarray | None, members: int, cols: int) -> None:
    """out = relu(out + bias) in place, the ReLU as (v + |v|) * 0.5; bias is (members, 1, cols) or None, and out
    (members, ..., cols), or any (..., cols) for one member."""
    if bias is not None:
        out += bias.reshape((cols,) if members == 1 else (members,) + (1,) * (out.ndim - 2) + (cols,))
    out += np.abs(out)
    out *= out.dtype.type(0.5)


def relu_backward(
    grad_out: np.ndarray,
    out: np.ndarray,
    grad_in: np.ndarray,
    bias_grad: np.ndarray | None,
    activity: np.ndarray | None,
    members: int,
    cols: int,
) -> None:
    """grad_in = grad_out * (out > 0); bias_grad (or None) = grad_in summed over each member's rows; activity (or
    None), (members, cols) = |grad_in| summed likewise, zero exactly for the columns of grad_in that are."""
    np.multiply(grad_out, out > 0.0, out=grad_in)
    per_member = grad_in.reshape(members, -1, cols)
    if bias_grad is not None:
        bias_grad[...] = per_member.sum(axis=1).reshape(bias_grad.shape)
    if activity is not None:
        activity[...] = np.abs(per_member).sum(axis=1).reshape(activity.shape)


def put_columns(src: np.ndarray, index: np.ndarray, dst: np.ndarray) -> None:
    """dst = 0 but in its columns `index`, which get src's (rows, len(index)) values."""
    dst.fill(0)
    dst[:, index] = src
