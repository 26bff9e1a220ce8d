"""Optimizers, gradient clipping and schedules."""

from neurenix._accel import FlatParameters
from neurenix.optim.optimizer import Optimizer, clip_grad_norm_
from neurenix.optim.rules import SGD, Adam, RMSprop, RMSpropTFLike
from neurenix.optim.schedules import LinearSchedule

__all__ = [
    "SGD",
    "Adam",
    "FlatParameters",
    "LinearSchedule",
    "Optimizer",
    "RMSprop",
    "RMSpropTFLike",
    "clip_grad_norm_",
]
