"""Update rules, each matching its torch.optim namesake step for step, except that a decaying state entry below
the smallest normal float is stored as zero (torch keeps it, and it never leaves: see `flush_subnormals`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from neurenix._accel import flush_subnormals, loops_for
from neurenix.optim.optimizer import Optimizer
from neurenix.tensor import Tensor


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"invalid {name} {value}: must be >= 0")


class SGD(Optimizer):
    """p -= lr * buf, buf = momentum * buf + g (the first buf is g itself)."""

    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        _check_non_negative(momentum=momentum, weight_decay=weight_decay)
        self.momentum, self.weight_decay = momentum, weight_decay
        super().__init__(params, lr)

    def _update(self, data, grad, state, scratch):
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        if self.momentum:
            buf = state["momentum_buffer"]
            if self.step_count == 1:
                buf[...] = grad
            else:
                buf *= self.momentum
                buf += grad
                flush_subnormals(buf)
            grad = buf
        np.multiply(grad, self.lr, out=scratch)
        data -= scratch


class Adam(Optimizer):
    """Kingma & Ba (2015), as torch.optim.Adam: p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).

    The state holds the discounted sums s1 = b1 s1 + g and s2 = b2 s2 + g^2, torch's m and v divided by
    (1 - b1) and (1 - b2): each takes one multiply per parameter fewer to update than m = b1 m + (1 - b1) g,
    and the factors move into two scalars of the step.
    """

    state_names = ("grad_sum", "grad_sq_sum")
    uses_scratch = False  # one fused loop per step

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid betas {betas}: each must be in [0, 1)")
        _check_non_negative(eps=eps, weight_decay=weight_decay)
        self.betas, self.eps, self.weight_decay = (float(betas[0]), float(betas[1])), eps, weight_decay
        super().__init__(params, lr)

    def load_state_dict(self, state: dict) -> None:
        """Also reads the torch-style exp_avg/exp_avg_sq that checkpoints written before the sums hold."""
        if "exp_avg" in state and "grad_sum" not in state:
            state = dict(state)
            state["grad_sum"] = np.asarray(state.pop("exp_avg")) / (1.0 - self.betas[0])
            state["grad_sq_sum"] = np.asarray(state.pop("exp_avg_sq")) / (1.0 - self.betas[1])
        super().load_state_dict(state)

    def _update(self, data, grad, state, scratch):
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        # With m = (1 - b1) s1, v = (1 - b2) s2 and c = sqrt((1 - b2^t) / (1 - b2)), torch's step is
        # lr (1 - b1) c / (1 - b1^t) * s1 / (sqrt(s2) + eps c): one fused pass over the parameters.
        t = self.step_count
        c = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
        s1, s2 = state["grad_sum"], state["grad_sq_sum"]
        loops_for(data, grad, s1, s2).adam_step(
            data,
            grad,
            s1,
            s2,
            beta1,
            beta2,
            self.eps * c,
            self.lr * (1.0 - beta1) * c / (1.0 - beta1**t),
        )


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps), with optional momentum on that step."""

    state_names = ("square_avg", "momentum_buffer")
    square_avg_start = 0.0
    eps_inside_sqrt = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
    ):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"invalid alpha {alpha}: must be in [0, 1)")
        _check_non_negative(eps=eps, weight_decay=weight_decay, momentum=momentum)
        self.alpha, self.eps, self.weight_decay, self.momentum = alpha, eps, weight_decay, momentum
        super().__init__(params, lr)
        for square_avg in self.state["square_avg"]:
            square_avg.fill(self.square_avg_start)

    def _update(self, data, grad, state, scratch):
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        v = state["square_avg"]
        v *= self.alpha
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - self.alpha
        v += scratch
        flush_subnormals(v, non_negative=True)
        if self.eps_inside_sqrt:
            np.add(v, self.eps, out=scratch)
            np.sqrt(scratch, out=scratch)
        else:
            np.sqrt(v, out=scratch)
            scratch += self.eps
        np.divide(grad, scratch, out=scratch)
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += scratch
            flush_subnormals(buf)
            scratch[...] = buf
        scratch *= self.lr
        data -= scratch


class RMSpropTFLike(RMSprop):
    """TensorFlow's RMSprop, as SB3's `RMSpropTFLike` (and stable-baselines 2 before it) runs it: v starts at 1,
    not 0, and p -= lr g / sqrt(v + eps). RL Zoo's A2C Atari entry is tuned with it: from v = 0 the first steps
    are ~10x lr in size (1 / sqrt(1 - alpha)), from v = 1 they are ~lr g."""

    square_avg_start = 1.0
    eps_inside_sqrt = True
