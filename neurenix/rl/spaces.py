"""The documentation's dict specs <-> gymnasium spaces, and the [-1, 1] <-> box action mapping.

A spec is plain data, e.g. {"type": "discrete", "n": 2}, {"type": "box", "shape": (4,), "low": -1.0,
"high": 1.0}, {"type": "multi_discrete", "nvec": [3, 4]} or {"type": "multi_binary", "n": 5}; extra keys (the
docs' "dim") are allowed and ignored. Checkpoints store specs, never pickled spaces.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

SPACE_TYPES = ("discrete", "box", "multi_discrete", "multi_binary")
_GYM_TYPES = (gym.spaces.Discrete, gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def to_gym_space(spec: Any) -> gym.Space:
    """A gymnasium space from a spec (a space passes through). Raises ValueError naming the bad field."""
    if isinstance(spec, gym.Space):
        if not isinstance(spec, _GYM_TYPES):
            raise ValueError(
                f"unsupported space {spec}: Neurenix supports Discrete, Box, MultiDiscrete and MultiBinary spaces"
            )
        if isinstance(spec, (gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
            _check_multi_space(spec)
        return spec
    if not isinstance(spec, dict):
        raise ValueError(f"a space spec must be a dict like {{'type': 'discrete', 'n': 2}}, got {spec!r}")
    kind = spec.get("type")
    if kind == "discrete":
        n = spec.get("n")
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"discrete space field 'n' must be a positive integer, got {n!r}")
        return gym.spaces.Discrete(int(n))
    if kind == "box":
        shape = spec.get("shape")
        if shape is None and "dim" in spec:
            shape = (spec["dim"],)
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)) or not shape or not all(_positive_int(s) for s in shape):
            raise ValueError(
                f"box space field 'shape' must be a non-empty tuple of positive integers, got {shape!r}"
            )
        shape = tuple(int(s) for s in shape)
        low = _bound(spec.get("low", -np.inf), shape, "low")
        high = _bound(spec.get("high", np.inf), shape, "high")
        if np.any(low > high):
            raise ValueError("box space field 'low' must not exceed 'high'")
        return gym.spaces.Box(low=low, high=high, shape=shape, dtype=np.float32)
    if kind == "multi_discrete":
        return multi_discrete_from_spec(spec)
    if kind == "multi_binary":
        return multi_binary_from_spec(spec)
    raise ValueError(f"space field 'type' must be one of {SPACE_TYPES}, got {kind!r}")


def to_spec(space: Any) -> dict:
    """A JSON-able spec of a space (bounds as scalars when uniform, else lists)."""
    space = to_gym_space(space)
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, (gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        return multi_spec(space)
    return {
        "type": "box",
        "shape": list(space.shape),
        "low": _compact(space.low),
        "high": _compact(space.high),
    }


def space_type(space: Any) -> str:
    """The spec's "type" of a space: one of SPACE_TYPES."""
    space = to_gym_space(space)
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return "multi_discrete"
    return "multi_binary" if isinstance(space, gym.spaces.MultiBinary) else "box"


def flat_dim(space: Any) -> int:
    """Input or output width of a network for this space: n for discrete, sum(nvec) for multi-discrete (one
    logit, or one-hot entry, per choice of each component), n for multi-binary, prod(shape) for a box."""
    space = to_gym_space(space)
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    return int(np.prod(space.shape))


def multi_discrete_from_spec(spec: dict) -> gym.spaces.MultiDiscrete:
    """{"type": "multi_discrete", "nvec": [3, 4]}: independent choices among 3 and among 4 values (from 0)."""
    nvec = spec.get("nvec")
    if not isinstance(nvec, (list, tuple)) or not nvec or not all(_positive_int(n) for n in nvec):
        raise ValueError(
            f"multi_discrete space field 'nvec' must be a non-empty list of positive integers, got {nvec!r}"
        )
    return gym.spaces.MultiDiscrete([int(n) for n in nvec])


def multi_binary_from_spec(spec: dict) -> gym.spaces.MultiBinary:
    """{"type": "multi_binary", "n": 5}: five independent 0/1 choices."""
    n = spec.get("n")
    if not _positive_int(n):
        raise ValueError(f"multi_binary space field 'n' must be a positive integer, got {n!r}")
    return gym.spaces.MultiBinary(int(n))


def multi_spec(space: gym.spaces.MultiDiscrete | gym.spaces.MultiBinary) -> dict:
    """The spec of a (checked) MultiDiscrete or MultiBinary space."""
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "multi_discrete", "nvec": [int(n) for n in space.nvec]}
    return {"type": "multi_binary", "n": int(space.n)}


def _check_multi_space(space: gym.spaces.MultiDiscrete | gym.spaces.MultiBinary) -> None:
    """Only the flat forms, counted from 0: what a spec can say and a network head can produce."""
    if len(space.shape) != 1:
        raise ValueError(f"unsupported space {space}: only a 1-D {type(space).__name__} is supported")
    if isinstance(space, gym.spaces.MultiDiscrete) and np.any(space.start != 0):
        raise ValueError(f"unsupported space {space}: a MultiDiscrete with a nonzero start is not supported")


def compatible(ours: Any, theirs: Any, check_bounds: bool) -> bool:
    """Same type and shape (and n); bounds too when they matter, i.e. for actions that get scaled to them."""
    a, b = to_spec(ours), to_spec(theirs)
    if not check_bounds:
        a, b = ({k: v for k, v in spec.items() if k not in ("low", "high")} for spec in (a, b))
    return a == b


class BoxScaler:
    """Maps actions in [-1, 1] to a box [low, high] and back: center + unit * half_range."""

    def __init__(self, space: gym.spaces.Box) -> None:
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ValueError("continuous actions need a bounded box: 'low' and 'high' must be finite")
        self.low = space.low.astype(np.float32)
        self.high = space.high.astype(np.float32)
        self.center = (self.high + self.low) / 2
        self.half_range = (self.high - self.low) / 2

    def to_box(self, unit: np.ndarray) -> np.ndarray:
        # The final clip is not redundant: in float32, center + half_range can round one ulp past `high`.
        return np.clip(self.center + np.clip(unit, -1.0, 1.0) * self.half_range, self.low, self.high)

    def to_unit(self, action: np.ndarray) -> np.ndarray:
        return (np.asarray(action, dtype=np.float32) - self.center) / self.half_range


def _positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def _bound(value: Any, shape: tuple, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"box space field {name!r} must be a number or a list of numbers, got {value!r}"
        ) from None
    if array.ndim and array.shape != shape:
        raise ValueError(f"box space field {name!r} has shape {array.shape}, expected a scalar or {shape}")
    return np.broadcast_to(array, shape).copy()


def _compact(bound: np.ndarray) -> Any:
    flat = bound.reshape(-1)
    if np.all(flat == flat[0]):
        return float(flat[0])
    return bound.astype(float).tolist()
