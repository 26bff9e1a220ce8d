"""The engine's fused elementwise loops: the C module where the install built it, else its numpy twin.

`loops_for(arrays)` gives the C module when it can take the arrays (built, every array C-contiguous and of one
float dtype) and the numpy twin otherwise: the twin computes what numpy computes for any layout and any mix of
dtypes, and where both apply they give the same bits, so a run's numbers do not depend on which one ran.
"""

from __future__ import annotations

import numpy as np

from neurenix import _fused_numpy

try:
    from neurenix import _fused
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
