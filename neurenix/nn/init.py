"""Weight initialisers; each takes the generator to draw from so that seeding is explicit."""

from __future__ import annotations

import numpy as np


def uniform_fan_in(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): what torch's default Linear init amounts to."""
    bound = 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def orthogonal(shape: tuple[int, int], gain: float, rng: np.random.Generator) -> np.ndarray:
    """A (semi-)orthogonal matrix scaled by `gain` (Saxe et al. 2014), as SB3 and CleanRL use for policies."""
    rows, cols = shape
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # make the decomposition unique, so the result is uniformly distributed
    if rows < cols:
        q = q.T
    return (gain * q[:rows, :cols]).astype(np.float32)
