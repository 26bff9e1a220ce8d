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
    """s1 = b1 s1 + g; s2 = b2 s2 + g^2, both flushed (`flush_subnormals`); data -= s1 / (sqrt(s2) + eps) * step,
    in place."""
    grad_sum *= beta1
    grad_sum += grad
    flush_subnormals(grad_sum)
    grad_sq_sum *= beta2
    grad_sq_sum += grad * grad
    flush_subnormals(grad_sq_sum, non_negative=True)
    data -= grad_sum / (np.sqrt(grad_sq_sum) + eps) * step


def flush_subnormals(state: np.ndarray, non_negative: bool = False) -> None:
    """Set to +0 the entries of a decaying optimizer state below its dtype's smallest normal number, in place.

    A state that decays where the gradient is zero (a dead unit's weights) does not reach zero by itself: float32's
    smallest subnormals times 0.9 round back to themselves (times 0.999, up to 500 of them do), so they stay
    forever, and every multiply on a subnormal costs ~100 cycles on x86. Training configs/dqn_cartpole.yaml for
    20,000 steps left 36,605 of its 135,172 Adam state entries subnormal, and Adam took 7.0 s of the 15.5 s run;
    with the flush 0.65 s of 8.2 s, to the same parameters bit for bit (Intel Xeon). A parameter moves by at
    most the smallest normal / eps times the step size less, which leaves any weight above ~1e-25 as it was.
    With `non_negative` the state is known to be >= 0 (a sum of squares) and is compared as it is, as the C
    loop does.
    """
    tiny = np.finfo(state.dtype).tiny
    magnitude = state if non_negative else np.abs(state)
    np.copyto(state, 0, where=magnitude < tiny)


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


def col2im(blocks: np.ndarray, grad: np.ndarray, stride_h: int, stride_w: int) -> None:
    """grad (n, hp, wp, c) += the window gradients blocks (n, oh, ow, kh, kw, c), each where its window read, in
    place: one slice add per kernel offset, the last offset first, so that every element of grad gets its
    windows in row-major window order, as the C loop adds them."""
    _, oh, ow, kh, kw, _ = blocks.shape
    for i in reversed(range(kh)):
        for j in reversed(range(kw)):
            grad[:, i : i + stride_h * oh : stride_h, j : j + stride_w * ow : stride_w] += blocks[
                :, :, :, i, j
            ]
