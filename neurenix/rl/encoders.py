"""Image encoders: what turns a batch of pixels into the feature row an algorithm's MLP heads read.

`agent.encoder` picks one (every algorithm declares it with `encoder_field()`: DQN and A2C/PPO in their records,
DDPG, TD3 and SAC in `ContinuousHyperparameters`):

- `nature_cnn`: SB3's NatureCNN (Mnih et al. 2015): Conv 32 8x8 stride 4, Conv 64 4x4 stride 2, Conv 64 3x3
  stride 1, each followed by ReLU, Flatten, Linear `encoder_features` (default 512) + ReLU. Needs images of at
  least 36x36.
- `small_cnn`: for small grids (MiniGrid's 7x7x3 view, the network SB3 users write for MiniGrid): Conv 16, 32, 64
  of 2x2 stride 1, each followed by ReLU, Flatten, Linear `encoder_features` (default 128) + ReLU. Needs at least
  4x4.
- `mlp`: on an image, only scaled and flattened (C*H*W inputs to the heads); otherwise the front-end's own
  encoding, the flat path exactly as without this module.
- `auto` (the default): `nature_cnn` for images of at least 36x36, `small_cnn` for smaller ones, `mlp` for every
  other observation space.

Every image encoder's first op is `ScaleImage`: pixels reach the network in their storage dtype (uint8 stays
uint8 in buffers and up to here, channels-first as the front-end's `encode` gives them) and are divided by 255
there, as SB3's `preprocess_obs` does, so nothing unscaled meets a weight.

Who reads which encoder follows SB3's CnnPolicy: DQN's Q-network is `EncodedNetwork(encoder, head)`; A2C/PPO's
actor and critic share one; DDPG, TD3 and SAC (share_features_extractor=False) give the actor its own (trained by
the actor loss) and the critic one read by all its Q-networks (`nn.ensemble.QEnsemble`, trained by the critic
loss only). Target networks are clones, with their own copies of the encoders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurenix import nn
from neurenix._accel import blocks
from neurenix.errors import ConfigError
from neurenix.rl.hyperparameters import hyperparameter
from neurenix.rl.observations import ObservationFrontEnd
from neurenix.tensor import Tensor

ENCODERS = ("auto", "nature_cnn", "small_cnn", "mlp")
# (out_channels, kernel, stride) per convolution, each followed by a ReLU.
CONVOLUTIONS = {
    "nature_cnn": ((32, 8, 4), (64, 4, 2), (64, 3, 1)),
    "small_cnn": ((16, 2, 1), (32, 2, 1), (64, 2, 1)),
}
DEFAULT_FEATURES = {"nature_cnn": 512, "small_cnn": 128}
NATURE_MIN_SIZE = 36  # 36 -> 8 -> 3 -> 1: the smallest side NatureCNN's three convolutions fit


def encoder_field() -> Any:
    return hyperparameter(
        "auto",
        "How observations reach the networks: nature_cnn (SB3's NatureCNN), small_cnn (three 2x2 convolutions, "
        "for small grids such as MiniGrid's 7x7), mlp (an image only scaled by 1/255 and flattened), or auto: "
        "nature_cnn for images of at least 36x36, small_cnn for smaller images, mlp for everything else.",
        choices=ENCODERS,
    )


def encoder_features_field() -> Any:
    return hyperparameter(
        None,
        "Width of a CNN encoder's output (its last Linear + ReLU); None: 512 for nature_cnn, 128 for small_cnn. "
        "Ignored by mlp.",
        low=1,
    )


class ScaleImage(nn.Module):
    """Pixels -> floats in [0, 1], x / 255: an image encoder's first op. float32 out (float64 in, float64 out,
    for gradient checks); no gradient flows to the input, which is data.

    With `channels_last` a (N, C, H, W) batch comes out as the NCHW view of channels-last memory, what the first
    convolution's im2col reads without a transposing copy: the scaling pass does the transposition (Atari's
    frame stacks arrive channels first)."""

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last

    def forward(self, x: Any) -> Tensor:
        pixels = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        dtype = np.float64 if pixels.dtype == np.float64 else np.float32
        if self.channels_last and pixels.ndim == 4:
            return Tensor(blocks.divided_channels_last(pixels, 255.0, dtype).transpose(0, 3, 1, 2))
        # order K (numpy's default) keeps a channels-last batch channels last in memory, which im2col reads as is.
        return Tensor(np.divide(pixels, 255.0, dtype=dtype))

    def __repr__(self) -> str:
        return f"ScaleImage(channels_last={self.channels_last})" if self.channels_last else "ScaleImage()"


class FlatImage(nn.Module):
    """encoder `mlp` on an image: scaled by 1/255 and flattened, (N, C, H, W) -> (N, C*H*W); no parameters."""

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.scale = ScaleImage()
        self.features = int(np.prod(image_shape))

    def forward(self, x: Any) -> Tensor:
        return self.scale(x).flatten(1)


class CNNEncoder(nn.Module):
    """ScaleImage, convolutions each followed by ReLU, Flatten, Linear + ReLU: (N, C, H, W) -> (N, features).

    Parameter names follow SB3's NatureCNN: `cnn.0.weight`, ..., `linear.0.weight`.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        convolutions: tuple[tuple[int, int, int], ...],
        features: int,
        orthogonal: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        channels, h, w = image_shape
        layers: list[nn.Module] = []
        for out_channels, kernel, stride in convolutions:
            layers += [nn.Conv2d(channels, out_channels, kernel, stride, rng=rng), nn.ReLU()]
            channels, h, w = out_channels, (h - kernel) // stride + 1, (w - kernel) // stride + 1
        self.scale = ScaleImage(channels_last=True)
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        self.linear = nn.Sequential(nn.Linear(channels * h * w, features, rng=rng), nn.ReLU())
        self.features = features
        if orthogonal:
            # SB3's ActorCriticPolicy with ortho_init: the features extractor orthogonal at gain sqrt(2), zero bias.
            for module in (*self.cnn, self.linear[0]):
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    weight = module.weight.numpy()
                    shape = (weight.shape[0], int(np.prod(weight.shape[1:])))
                    weight[...] = nn.init.orthogonal(shape, math.sqrt(2.0), rng).reshape(weight.shape)
                    module.bias.numpy()[...] = 0.0

    def forward(self, x: Any) -> Tensor:
        return self.linear(self.cnn(self.scale(x)))


class EncodedNetwork(nn.Module):
    """head(encoder(x)): a Q-network over images (`encoder.*` and `head.*` parameters), cloned whole for a
    target network, so the target has its own copy of the encoder."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: Any) -> Tensor:
        return self.head(self.encoder(x))


def encoded(encoder: nn.Module | None, x: Any) -> Tensor:
    """What a network's first layer reads: `encoder(x)` for images, the front-end's rows `x` as they are when
    there is no encoder (None)."""
    return Tensor(x) if encoder is None else encoder(x)


def resolve(front_end: ObservationFrontEnd, name: str) -> str:
    """The encoder `name` stands for on this front-end's observations (`auto` resolved); a CNN asked for on
    observations that are not an image, or an image too small for it, is a ConfigError at `encoder`."""
    image = front_end.image_shape
    if name == "auto":
        if image is None:
            return "mlp"
        # Below small_cnn's 4x4 there is nothing to convolve: such an image is scaled and flattened.
        return (
            "nature_cnn"
            if min(image[1:]) >= NATURE_MIN_SIZE
            else "small_cnn"
            if min(image[1:]) >= 4
            else "mlp"
        )
    if name in CONVOLUTIONS:
        if image is None:
            raise ConfigError(
                f"encoder {name!r} reads images, and the observation space {front_end.space} is not one (a 3-D "
                "uint8 box, or 0-255 bounds with 1, 3 or 4 channels). Use encoder: mlp (or auto).",
                key="encoder",
            )
        size = NATURE_MIN_SIZE if name == "nature_cnn" else 4
        if min(image[1:]) < size:
            raise ConfigError(
                f"encoder {name!r} needs images of at least {size}x{size}; these are {image[1]}x{image[2]} "
                "(C, H, W = " + ", ".join(map(str, image)) + "). Use encoder: small_cnn (or auto) for small "
                "grids.",
                key="encoder",
            )
    return name


def build_encoder(
    front_end: ObservationFrontEnd,
    name: str,
    features: int | None,
    orthogonal: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[nn.Module | None, int]:
    """(encoder, its output width): None and `front_end.dim` where the networks read the front-end's rows as
    they are (no image; nothing drawn from `rng`, so the flat path's numbers do not change)."""
    name = resolve(front_end, name)
    if front_end.image_shape is None:
        return None, front_end.dim
    if name == "mlp":
        encoder: nn.Module = FlatImage(front_end.image_shape)
    else:
        width = features if features is not None else DEFAULT_FEATURES[name]
        encoder = CNNEncoder(front_end.image_shape, CONVOLUTIONS[name], width, orthogonal, rng)
    return encoder, encoder.features
