"""The documentation's dict specs <-> gymnasium spaces, and the [-1, 1] <-> box action mapping.

A spec is plain data, e.g. {"type": "discrete", "n": 2} or {"type": "box", "shape": (4,), "low": -1.0,
"high": 1.0}; extra keys (the docs' "dim") are allowed and ignored. Checkpoints store specs, never pickled spaces.
The other types: {"type": "multi_discrete", "nvec": [3, 2]}, {"type": "multi_binary", "n": 4} (or a shape),
{"type": "dict", "spaces": {"pos": spec, ...}} and {"type": "tuple", "spaces": [spec, ...]}. A box is float32
unless its spec says "dtype" (an integer type, e.g. "uint8"); discrete and multi_discrete specs carry "start"
only where it is not 0, so the specs of older checkpoints read as before.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.errors import ConfigError, PicklableError

SPACE_TYPES = ("discrete", "box", "multi_discrete", "multi_binary", "dict", "tuple")
_GYM_TYPES = {
    gym.spaces.Discrete: "discrete",
    gym.spaces.Box: "box",
    gym.spaces.MultiDiscrete: "multi_discrete",
    gym.spaces.MultiBinary: "multi_binary",
    gym.spaces.Dict: "dict",
    gym.spaces.Tuple: "tuple",
}


def to_gym_space(spec: Any) -> gym.Space:
    """A gymnasium space from a spec (a space passes through). Raises ValueError naming the bad field."""
    if isinstance(spec, gym.Space):
        if type(spec) not in _GYM_TYPES:
            raise ValueError(
                f"unsupported space {spec}: Neurenix supports Discrete, Box, MultiDiscrete, MultiBinary, Dict "
                "and Tuple spaces"
            )
        return spec
    if not isinstance(spec, dict):
        raise ValueError(f"a space spec must be a dict like {{'type': 'discrete', 'n': 2}}, got {spec!r}")
    kind = spec.get("type")
    if kind == "discrete":
        n = spec.get("n")
        if not _positive_int(n):
            raise ValueError(f"discrete space field 'n' must be a positive integer, got {n!r}")
        return gym.spaces.Discrete(int(n), start=_integer(spec.get("start", 0), "discrete", "start"))
    if kind == "box":
        shape = _shape(spec.get("shape", (spec["dim"],) if "dim" in spec else None), "box")
        dtype = _box_dtype(spec.get("dtype", "float32"))
        low = _bound(spec.get("low", -np.inf), shape, "low")
        high = _bound(spec.get("high", np.inf), shape, "high")
        if np.any(low > high):
            raise ValueError("box space field 'low' must not exceed 'high'")
        if dtype != np.float32:
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise ValueError(f"box space of dtype {dtype.name} needs finite fields 'low' and 'high'")
            low, high = low.astype(dtype), high.astype(dtype)
        return gym.spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "multi_discrete":
        nvec = spec.get("nvec")
        if not isinstance(nvec, (list, tuple)) or not nvec or not all(_positive_int(v) for v in nvec):
            raise ValueError(
                f"multi_discrete space field 'nvec' must be a list of positive integers, got {nvec!r}"
            )
        start = spec.get("start", 0)
        starts = start if isinstance(start, (list, tuple)) else [start] * len(nvec)
        starts = [_integer(value, "multi_discrete", "start") for value in starts]
        if len(starts) != len(nvec):
            raise ValueError("multi_discrete space field 'start' must have one entry per entry of 'nvec'")
        return gym.spaces.MultiDiscrete(
            np.array(nvec, dtype=np.int64), start=np.array(starts, dtype=np.int64)
        )
    if kind == "multi_binary":
        n = spec.get("n")
        return gym.spaces.MultiBinary(int(n) if _positive_int(n) else list(_shape(n, "multi_binary", "n")))
    if kind == "dict":
        spaces = spec.get("spaces")
        if not isinstance(spaces, dict) or not spaces or not all(isinstance(key, str) for key in spaces):
            raise ValueError("dict space field 'spaces' must map string keys to space specs")
        return gym.spaces.Dict({key: to_gym_space(value) for key, value in spaces.items()})
    if kind == "tuple":
        spaces = spec.get("spaces")
        if not isinstance(spaces, (list, tuple)) or not spaces:
            raise ValueError("tuple space field 'spaces' must be a non-empty list of space specs")
        return gym.spaces.Tuple([to_gym_space(value) for value in spaces])
    raise ValueError(f"space field 'type' must be one of {SPACE_TYPES}, got {kind!r}")


def to_spec(space: Any) -> dict:
    """A JSON-able spec of a space (bounds as scalars when uniform, else lists)."""
    space = to_gym_space(space)
    if isinstance(space, gym.spaces.Discrete):
        spec = {"type": "discrete", "n": int(space.n)}
        if space.start:
            spec["start"] = int(space.start)
        return spec
    if isinstance(space, gym.spaces.MultiDiscrete):
        if space.nvec.ndim != 1:
            raise ValueError(f"multi_discrete spaces must have a 1-d nvec, got shape {space.nvec.shape}")
        spec = {"type": "multi_discrete", "nvec": space.nvec.astype(int).tolist()}
        if np.any(space.start):
            spec["start"] = space.start.astype(int).tolist()
        return spec
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "multi_binary", "n": int(space.n) if np.ndim(space.n) == 0 else list(space.shape)}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "dict", "spaces": {key: _part_spec(key, part) for key, part in space.spaces.items()}}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "tuple", "spaces": [_part_spec(i, part) for i, part in enumerate(space.spaces)]}
    spec = {
        "type": "box",
        "shape": list(space.shape),
        "low": _compact(space.low),
        "high": _compact(space.high),
    }
    if not np.issubdtype(space.dtype, np.floating):
        spec["dtype"] = np.dtype(space.dtype).name
    return spec


class _PartError(PicklableError, ValueError):
    """A Dict's or Tuple's part that has no spec, with its path from the outer space: ['t'][1]['m']."""

    def __init__(self, path: list[str | int], reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"its part {''.join(f'[{key!r}]' for key in path)}: {reason}")


def _part_spec(key: str | int, part: Any) -> dict:
    """A Dict's or Tuple's part as a spec; an unsupported part is named by its path (MiniGrid's ['mission'])."""
    try:
        return to_spec(part)
    except _PartError as exc:
        raise _PartError([key, *exc.path], exc.reason) from None
    except ValueError as exc:
        raise _PartError([key], str(exc)) from None


def space_type(space: Any) -> str:
    """The spec's "type" of a space: discrete, box, multi_discrete, multi_binary, dict or tuple."""
    return _GYM_TYPES[type(to_gym_space(space))]


def flat_dim(space: Any) -> int:
    """Input or output width of a network for this space: n for discrete, sum(nvec) for multi-discrete (one
    logit, or one-hot entry, per choice of each component), n for multi-binary, prod(shape) for a box."""
    space = to_gym_space(space)
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    return int(np.prod(space.shape))


def check_action_space(space: gym.Space) -> None:
    """Refuses the MultiDiscrete and MultiBinary forms no network head produces: a head's outputs are one flat
    row, its choices counted from 0, so an action space must be a 1-D MultiDiscrete with start 0 or a 1-D
    MultiBinary (observations may take the other forms)."""
    if isinstance(space, (gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)) and len(space.shape) != 1:
        raise ConfigError(f"unsupported action space {space}: only a 1-D {type(space).__name__} is supported")
    if isinstance(space, gym.spaces.MultiDiscrete) and np.any(space.start != 0):
        raise ConfigError(
            f"unsupported action space {space}: a MultiDiscrete with a nonzero start is not supported"
        )


def compatible(ours: Any, theirs: Any, check_bounds: bool) -> bool:
    """Same type and shape (and n); bounds too when they matter, i.e. for actions that get scaled to them."""
    a, b = to_spec(ours), to_spec(theirs)
    if not check_bounds:
        a, b = _without_bounds(a), _without_bounds(b)
    return a == b


def _without_bounds(spec: Any) -> Any:
    """A spec with every box's low and high left out, inside dict and tuple specs too."""
    if isinstance(spec, list):
        return [_without_bounds(part) for part in spec]
    if not isinstance(spec, dict):
        return spec
    return {key: _without_bounds(value) for key, value in spec.items() if key not in ("low", "high")}


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


def _integer(value: Any, kind: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{kind} space field {name!r} must be an integer, got {value!r}")
    return int(value)


def _shape(shape: Any, kind: str, name: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or not shape or not all(_positive_int(s) for s in shape):
        raise ValueError(
            f"{kind} space field {name!r} must be a non-empty tuple of positive integers, got {shape!r}"
        )
    return tuple(int(s) for s in shape)


def _box_dtype(name: Any) -> np.dtype:
    """float32, or an integer (or bool) type: float boxes of any precision are stored and read as float32."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = None
    if dtype is None or not (dtype == np.float32 or np.issubdtype(dtype, np.integer) or dtype == np.bool_):
        raise ValueError(
            f"box space field 'dtype' must be float32 or an integer type like uint8, got {name!r}"
        )
    return dtype


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
