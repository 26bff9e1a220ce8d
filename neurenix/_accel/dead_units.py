"""Dead-unit skipping: which of a ReLU layer's units its gradient products may leave out, with the same bits.

The layers (`neurenix.nn.functional.linear`, the critic ensembles) ask `exact_skipping` whether a layer may skip,
get each unit's activity from `neurenix._accel.loops.relu_backward`, and hand `live_units` to their products;
`neurenix._accel.runtime.gradient_matmuls` lists the narrower shapes (`skipped_widths`) for the threads check.
"""

from __future__ import annotations

import numpy as np

# A ReLU unit that is zero for every row of a minibatch (dead on all its inputs, as about half of the second
# layer of RL Zoo's 400-300 Pendulum critics is) passes no gradient: it adds exactly zero to its layer's input
# gradient and leaves its weights' gradient at zero. Leaving such units out of the two gradient products gives the
# same bits with less arithmetic, once they are few enough to pay for gathering the others and scattering the
# weight gradient back. Measured on the 2-core machine we target, alternating 200-step blocks with and without
# it: DDPG's 400-300 step 14% faster, TD3's 7%, SAC's 256-256 3%, DQN's no change (batch 64). The units kept are
# topped up with dead ones to a multiple of SKIP_QUANTUM, so that a run's products have few shapes, all of which
# `neurenix._accel.runtime.same_bits_on` can check (`skipped_widths`).
# The results equal computing every unit for finite inputs (an infinite input makes a dead unit's weight gradient
# NaN when computed, 0 when left out; the loss is already NaN then), in float32, and for minibatches of
# SKIP_MIN_ROWS rows or more: OpenBLAS's float32 kernels add a product's terms in order, but its float64 ones
# (95 of 200 products differed) and the vector kernels of numpy and OpenBLAS below 4 rows do not, so layers of
# float64 or of mixed types, and short minibatches, compute every unit.
# Not every float32 kernel adds in order either: OpenBLAS's Haswell kernels (what it runs on AMD EPYC with
# OPENBLAS_CORETYPE=Haswell) give other bits for every shape tried, and its native kernels there for a 3-wide input
# layer's products. So a layer skips only where `keeps_bits` has found, for that exact shape and layout, that the
# BLAS gives the bits of computing every unit.
SKIP_QUANTUM = 32
SKIP_MAX_FRACTION = 0.8  # of a layer's units, kept after topping up
SKIP_MIN_ROWS = 32


def exact_skipping(x: np.ndarray, weight: np.ndarray) -> bool:
    """Whether a layer's products come out the same with units left out (see above)."""
    return x.dtype == weight.dtype == np.float32


def skipped_widths(width: int) -> range:
    """The numbers of units a layer of `width` ReLU units may keep in its gradient products, other than all."""
    return range(SKIP_QUANTUM, int(SKIP_MAX_FRACTION * width) + 1, SKIP_QUANTUM)


def units_to_keep(activity: np.ndarray, rows: int, other: int, layout: str) -> np.ndarray | None:
    """`live_units`, for a layer whose gradient products keep the bits with that many units left out, else
    None (keep all). rows: the minibatch's; other: the width of the layer's other side (its input); layout:
    "out_in" for weights stored (width, other), "in_out" for (other, width)."""
    live = live_units(activity)
    if live is None or not keeps_bits(layout, rows, len(activity), other, len(live)):
        return None
    return live


_keeps_bits: dict[tuple[str, int, int, int, int], bool] = {}


def keeps_bits(layout: str, rows: int, width: int, other: int, kept: int) -> bool:
    """Whether the BLAS computes both gradient products of a layer of `width` ReLU units (input gradient and
    weight gradient over `rows` rows) to the same bits with only `kept` units as with all of them, the others'
    gradients being zero. Tried once per shape and process, on random data, with the expressions the layers use
    (`neurenix.nn.functional.linear` for "out_in", the critic ensembles for "in_out"): the order in which a
    kernel adds a product's terms depends on the shapes, not on the values."""
    key = (layout, rows, width, other, kept)
    if key not in _keeps_bits:
        rng = np.random.default_rng(0)
        keep = np.sort(rng.choice(width, kept, replace=False))
        g = rng.standard_normal((rows, width), dtype=np.float32)
        g[:, np.setdiff1d(np.arange(width), keep)] = 0.0
        x = rng.standard_normal((rows, other), dtype=np.float32)
        g_kept = g[:, keep]
        if layout == "out_in":
            w = rng.standard_normal((width, other), dtype=np.float32)
            same = np.array_equal(g @ w, g_kept @ w[keep]) and np.array_equal(
                np.matmul(g.T, x)[keep], np.matmul(g_kept.T, x)
            )
        else:
            w = rng.standard_normal((other, width), dtype=np.float32)
            same = np.array_equal(g @ w.T, g_kept @ w[:, keep].T) and np.array_equal(
                np.matmul(x.T, g)[:, keep], np.matmul(x.T, g_kept)
            )
        _keeps_bits[key] = same
    return _keeps_bits[key]


def live_units(activity: np.ndarray) -> np.ndarray | None:
    """The indices, ascending, of a layer's units to keep in its gradient products, given each unit's gradient
    magnitudes summed over the minibatch (`relu_backward`'s activity, zero exactly for a unit without gradient):
    those with a gradient, and as many without as make a multiple of SKIP_QUANTUM. None when that is more than
    SKIP_MAX_FRACTION of the units: then all are kept."""
    keep = activity != 0
    count = int(np.count_nonzero(keep))
    kept = -(-count // SKIP_QUANTUM) * SKIP_QUANTUM
    if kept > SKIP_MAX_FRACTION * len(keep):
        return None
    keep[np.flatnonzero(~keep)[: kept - count]] = True
    return np.flatnonzero(keep)
