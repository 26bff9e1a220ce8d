"""The one dispatch point of the fused elementwise loops: the C module where the install built it, else its numpy
twin.

`loops_for(arrays)` gives the C module when it can take the arrays (built, every array C-contiguous and of one
float dtype) and the numpy twin otherwise: the twin computes what numpy computes for any layout and any mix of
dtypes, and where both apply they give the same bits, so a run's numbers do not depend on which one ran.
"""

from __future__ import annotations

import numpy as np

from neurenix._accel import fused_numpy as _fused_numpy
from neurenix._accel.dead_units import SKIP_MIN_ROWS, skipped_widths

try:
    from neurenix._accel import _fused
except ImportError:  # installed where no C compiler was found: setup.py marks the module optional
    _fused = None

COMPILED = _fused is not None
_C_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def loops_for(*arrays: np.ndarray | None):
    """The module whose loops to run on `arrays` (None entries, absent optional arrays, are ignored)."""
    if _fused is None:
        return _fused_numpy
    dtype = arrays[0].dtype
    if dtype not in _C_DTYPES:
        return _fused_numpy
    for a in arrays:
        if a is not None and (a.dtype != dtype or not a.flags.c_contiguous):
            return _fused_numpy
    return _fused


def put_columns(src: np.ndarray, index: np.ndarray, dst: np.ndarray) -> None:
    """dst = 0 but in its columns `index`, which get src's (rows, len(index)) values."""
    loops_for(src, dst).put_columns(src, index, dst)


def relu_backward(
    grad_out: np.ndarray, out: np.ndarray, members: int, with_bias: bool, track_live: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The gradient through a ReLU whose output was `out` and, with `with_bias`, the gradient of the bias added
    before it, in one pass: `out` holds `members` stacked layers' outputs, (members, ..., n), and the bias
    gradient is each member's sum over its rows, (members, 1, n). The gradients have grad_out's dtype.

    With `track_live`, also each unit's activity for `live_units`, (members, n): its gradient's magnitudes summed
    over the rows. None instead when the layer is too narrow or the minibatch too short (see SKIP_MIN_ROWS).

    One column is summed by numpy, which adds a single contiguous column pairwise, not row by row as the C loop.
    """
    grad_out = np.ascontiguousarray(grad_out)
    grad_in = np.empty_like(grad_out)
    cols = out.shape[-1]
    grad_bias = np.empty((members, 1, cols), dtype=grad_out.dtype) if with_bias else None
    rows = grad_out.size // (members * cols)
    skippable = track_live and rows >= SKIP_MIN_ROWS and len(skipped_widths(cols)) > 0
    activity = np.empty((members, cols), dtype=grad_out.dtype) if skippable else None
    relu_loops(grad_out, out, grad_in, grad_bias, activity).relu_backward(
        grad_out, out, grad_in, grad_bias, activity, members, cols
    )
    return grad_in, grad_bias, activity


def relu_loops(grad_out: np.ndarray, out: np.ndarray, *outputs: np.ndarray | None):
    """The module whose `relu_backward` to run: `loops_for` the arrays, but numpy's for one column (its sum)."""
    return loops_for(grad_out, out, *outputs) if out.shape[-1] > 1 else _fused_numpy


def col2im(blocks: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """im2col's adjoint, channels last: the (n, hp, wp, c) sum, at each position, of the gradients of the windows
    (n, oh, ow, kh, kw, c) that read it.

    numpy's slice adds, one per kernel offset, take as long as the product that makes `blocks`, and far longer
    for few channels (runs of C values); the C loop adds each window's kernel rows, kw * C values in a run, ~5x
    faster for NatureCNN's layers (the figures are in _fused.c's header).
    """
    grad = np.zeros(padded_shape, dtype=blocks.dtype)
    add_windows(blocks, grad, stride)
    return grad


def add_windows(blocks: np.ndarray, grad: np.ndarray, stride: tuple[int, int]) -> None:
    """grad (n, hp, wp, c) += the window gradients (n, oh, ow, kh, kw, c), each where its window read."""
    loops_for(blocks, grad).col2im(blocks, grad, *stride)
