"""The observation front-end: how every supported observation space reaches an MLP as one float32 row.

One encoder per leaf space: a Box is flattened, a Discrete one-hot encoded, a MultiDiscrete one-hot encoded per
component and concatenated, a MultiBinary read as 0/1 floats. A Dict (keys in sorted order, the order its JSON
spec keeps) or a Tuple concatenates its parts' encodings, as SB3's `MultiInputPolicy` does with its flatten
extractor.

Images (a 3-D uint8 box, or a 3-D box of bounds 0-255 with 1, 3 or 4 channels) are taken when the algorithm
builds a CNN encoder (`images=True`: every built-in algorithm; see `rl.encoders`), as the whole observation only. They are
not flattened and not scaled here: `encode` gives them as (*L, C, H, W) in their storage dtype (uint8 stays
uint8), a channels-last image (H, W, C) transposed once, as a view (SB3's VecTransposeImage), and the network's
first op divides by 255. Which axis holds the channels follows SB3: the smallest of the three (the first on a
tie). Other algorithms refuse them; an image inside a Dict or Tuple is refused too.

A batch of observations keeps the space's structure, as gymnasium's vector envs give it: one array for a leaf
space, a dict (Dict) or tuple (Tuple) of arrays otherwise, each in its leaf's storage dtype (int64 for a goal id,
uint8 for bytes), so buffers keep ids rather than one-hot rows. Encoding happens when a network reads a batch.
A 1-D float32 Box is the fast path: its float32 batches are the network input as they are, no copy, no op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.errors import ConfigError

LEAF_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
IMAGE_CHANNELS = (1, 3, 4)


def storage_dtype(space: gym.Space) -> np.dtype:
    """How a leaf's observations are stored: float boxes as float32, everything else in its own integer type."""
    if isinstance(space, gym.spaces.Box):
        return np.dtype(np.float32) if space.dtype.kind == "f" else space.dtype
    if isinstance(space, gym.spaces.MultiBinary):
        return np.dtype(np.int8)
    return np.dtype(np.int64)


def batch_observations(space: gym.Space | None, observations: list) -> Any:
    """Single observations (one per env) -> one batch in the space's structure and storage dtypes.

    Without a space (a legacy env that declares none) the observations are taken as float32 arrays.
    """
    if isinstance(space, gym.spaces.Dict):
        return {key: _stack(part, [o[key] for o in observations]) for key, part in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_stack(part, [o[i] for o in observations]) for i, part in enumerate(space.spaces))
    return np.array(observations, dtype=np.float32 if space is None else storage_dtype(space))


def _stack(space: gym.Space, items: list) -> np.ndarray:
    return np.array(items, dtype=storage_dtype(space))


def leaves(batch: Any) -> list[np.ndarray]:
    """The arrays of a batch in the front-end's order (a Dict's keys sorted)."""
    if isinstance(batch, dict):
        return [batch[key] for key in sorted(batch)]
    if isinstance(batch, tuple):
        return list(batch)
    return [batch]


def map_batch(fn: Callable[[np.ndarray], np.ndarray], batch: Any) -> Any:
    """`fn` applied to every array of a batch, the structure kept."""
    if isinstance(batch, dict):
        return {key: fn(value) for key, value in batch.items()}
    if isinstance(batch, tuple):
        return tuple(fn(value) for value in batch)
    return fn(batch)


def take(batch: Any, index: Any) -> Any:
    """The rows `index` selects (an array of row numbers or a mask), from every array of a batch."""
    return map_batch(lambda array: array[index], batch)


def put(store: Any, where: Any, batch: Any) -> None:
    """store[where] = batch, array by array (a buffer's preallocated arrays)."""
    if isinstance(store, np.ndarray):
        store[where] = batch
        return
    for target, source in zip(leaves(store), leaves(batch)):
        target[where] = source


def all_finite(batch: Any) -> bool:
    if isinstance(batch, np.ndarray):
        return bool(np.isfinite(batch).all())
    return all(np.isfinite(array).all() for array in leaves(batch))


def image_problem(space: gym.Space) -> str | None:
    """Why a Box looks like an image (uint8 with 3 dims, or 3 dims with 1, 3 or 4 channels first or last and
    bounds 0-255), else None."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 3:
        return None
    if space.dtype == np.uint8:
        return f"a uint8 box of shape {space.shape}"
    channels = space.shape[0] in IMAGE_CHANNELS or space.shape[-1] in IMAGE_CHANNELS
    if channels and np.all(space.low == 0) and np.all(space.high == 255):
        return f"a box of shape {space.shape} with bounds 0-255"
    return None


class _Leaf:
    """One leaf space's encoder: observations (N, *shape) in storage dtype -> (N, dim) float32."""

    def __init__(self, space: gym.Space, where: str, images: bool = False) -> None:
        if not isinstance(space, LEAF_SPACES):
            raise ConfigError(
                f"The observation space{where} is {type(space).__name__}, which no network front-end takes: "
                "Neurenix reads Box, Discrete, MultiDiscrete and MultiBinary observations and Dict or Tuple "
                "spaces of them. Wrap the env to turn it into one of those."
            )
        image = image_problem(space)
        if image is not None and (where or not images):
            refusal = (
                "Images inside a Dict or Tuple are not yet supported: only a plain image observation is, "
                "through the CNN encoder of DQN, A2C, PPO, DDPG, TD3 and SAC (agent.encoder)."
                if where
                else "This algorithm does not take images (not yet supported): DQN, A2C, PPO, DDPG, TD3 and SAC "
                "do, through a CNN encoder (agent.encoder)."
            )
            raise ConfigError(
                f"The observation space{where} is {image}, which looks like an image. {refusal} Give the agent "
                "vector observations, or wrap the env with gymnasium.wrappers.FlattenObservation to feed the "
                "pixels to an MLP anyway."
            )
        self.space = space
        self.dtype = storage_dtype(space)
        self.shape = tuple(space.shape)
        self.kind = "Image" if image is not None else type(space).__name__
        self.image_shape: tuple[int, int, int] | None = None
        if self.kind == "Image":
            # SB3's rule (is_image_space_channels_first): the channels are the smallest axis, the first on a tie.
            self.channels_last = int(np.argmin(self.shape)) != 0
            h, w, c = self.shape if self.channels_last else (*self.shape[1:], self.shape[0])
            self.image_shape = (c, h, w)
        if isinstance(space, gym.spaces.Discrete):
            self.dim, self.start = int(space.n), int(space.start)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            nvec = space.nvec.reshape(-1).astype(np.int64)
            self.dim = int(nvec.sum())
            # Component k's value v sets column offsets[k] + v - start[k].
            self.offsets = (np.cumsum(nvec) - nvec) - space.start.reshape(-1).astype(np.int64)
        else:
            self.dim = int(np.prod(self.shape, dtype=np.int64))

    def encode(self, obs: np.ndarray, out: np.ndarray) -> None:
        """Write the encodings of obs (N, *shape) into out (N, dim), which holds zeros where one-hot."""
        n = len(out)
        if self.kind == "Discrete":
            out[np.arange(n), obs.reshape(n) - self.start] = 1.0
        elif self.kind == "MultiDiscrete":
            out[np.arange(n)[:, None], obs.reshape(n, -1) + self.offsets] = 1.0
        else:
            out[...] = obs.reshape(n, self.dim)


class ObservationFrontEnd:
    """The encoders of an observation space and the network input width `dim`; see the module docstring.

    `float_boxes` stores every Box but an image as float32 (an on-policy rollout keeps normalised observations).
    `images` takes an image observation (an algorithm with a CNN encoder): `image_shape` is then its (C, H, W)
    and `encode` gives (*L, C, H, W) in the storage dtype; None otherwise.
    Raises ConfigError, one paragraph, for a space no front-end takes (images unless `images`, nested
    Dict/Tuple, Text, ...).
    """

    def __init__(self, space: gym.Space, float_boxes: bool = False, images: bool = False) -> None:
        self.space = space
        self.composite = isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple))
        if isinstance(space, gym.spaces.Dict):
            named = [(key, space.spaces[key]) for key in sorted(space.spaces)]
        elif isinstance(space, gym.spaces.Tuple):
            named = list(enumerate(space.spaces))
        else:
            named = [(None, space)]
        for key, part in named:
            if isinstance(part, (gym.spaces.Dict, gym.spaces.Tuple)):
                raise ConfigError(
                    f"The observation space has a {type(part).__name__} inside a {type(space).__name__} (at "
                    f"{key!r}); nested Dict and Tuple observations are not supported. Flatten the inner one with "
                    "a wrapper (gymnasium.wrappers.FlattenObservation flattens the whole observation)."
                )
        self.keys = [key for key, _ in named]
        self._leaves = [_Leaf(part, "" if key is None else f" at {key!r}", images) for key, part in named]
        self.image_shape = self._leaves[0].image_shape
        self.float_boxes = float_boxes
        self.dim = sum(leaf.dim for leaf in self._leaves)
        self.passthrough = (
            not self.composite
            and isinstance(space, gym.spaces.Box)
            and len(space.shape) == 1
            and self._leaves[0].dtype == np.float32
        )

    def boxes(self) -> list[tuple[Any, int]]:
        """(key, flat width) of each box part (key None for a plain box): the only parts normalisation scales;
        one-hot and 0/1 parts are on a fixed scale already, and images are scaled by 1/255 in the network."""
        return [(key, leaf.dim) for key, leaf in zip(self.keys, self._leaves) if leaf.kind == "Box"]

    def empty(self, leading: tuple[int, ...]) -> Any:
        """Zeroed storage for `leading` observations (a buffer's rows), in the space's structure."""
        arrays = [
            np.zeros(
                (*leading, *leaf.shape),
                dtype=np.float32 if self.float_boxes and leaf.kind == "Box" else leaf.dtype,
            )
            for leaf in self._leaves
        ]
        return self.join(arrays)

    def join(self, arrays: list[np.ndarray]) -> Any:
        """A batch of this space's structure from its arrays in `leaves` order."""
        if not self.composite:
            return arrays[0]
        if isinstance(self.space, gym.spaces.Dict):
            return dict(zip(self.keys, arrays))
        return tuple(arrays)

    def as_batch(self, state: Any) -> tuple[Any, bool]:
        """(a batch, whether `state` was a single observation): what `act` accepts, in storage dtypes."""
        parts = leaves(state) if self.composite else [state]
        arrays = [np.asarray(part, dtype=leaf.dtype) for part, leaf in zip(parts, self._leaves)]
        single = arrays[0].shape == self._leaves[0].shape
        return self.join([a[None] for a in arrays] if single else arrays), single

    def encode(self, batch: Any) -> np.ndarray:
        """A batch with any leading axes (*L) -> network inputs (*L, dim), float32."""
        if self.passthrough and isinstance(batch, np.ndarray) and batch.dtype == np.float32:
            return batch
        if self.image_shape is not None:
            # (*L, C, H, W), still uint8: the network scales. A channels-last batch is transposed as a view, so
            # memory stays channels last, the layout the first convolution's im2col reads without a copy.
            images = np.asarray(batch)
            return np.moveaxis(images, -1, -3) if self._leaves[0].channels_last else images
        arrays = [np.asarray(array) for array in leaves(batch)]
        first = self._leaves[0]
        lead = arrays[0].shape[: arrays[0].ndim - len(first.shape)]
        n = int(np.prod(lead, dtype=np.int64))
        out = np.zeros((n, self.dim), dtype=np.float32)
        column = 0
        for array, leaf in zip(arrays, self._leaves):
            leaf.encode(array, out[:, column : column + leaf.dim])
            column += leaf.dim
        return out.reshape(*lead, self.dim)
