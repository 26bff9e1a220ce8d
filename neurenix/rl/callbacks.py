"""Callbacks: how the training loop reports. Every hook may return True to stop training."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Callback:
    def on_train_start(self, agent: Any) -> None:
        """Called once before the first step."""

    def on_step(self, total_steps: int) -> bool:
        """After every vectorized env step (cheap checks only: it runs thousands of times a second)."""
        return False

    def on_episode_end(self, info: dict) -> bool:
        """info: episode, reward, length, total_steps, env_index, terminated, and the latest losses."""
        return False

    def on_update(self, info: dict) -> bool:
        """info: total_steps, updates, and the update's losses and diagnostics."""
        return False

    def on_train_end(self, result: dict) -> None:
        """Called once with the result `train` returns."""


class FunctionCallback(Callback):
    """A plain function called after every episode with its info dict; returning True stops training."""

    def __init__(self, fn: Callable[[dict], Any]) -> None:
        self.fn = fn

    def on_episode_end(self, info: dict) -> bool:
        return bool(self.fn(info))


class CallbackList(Callback):
    """Fans every hook out to all callbacks (each one sees every event) and stops if any asks to."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def on_train_start(self, agent: Any) -> None:
        for cb in self.callbacks:
            cb.on_train_start(agent)

    def on_step(self, total_steps: int) -> bool:
        return any([cb.on_step(total_steps) for cb in self.callbacks])

    def on_episode_end(self, info: dict) -> bool:
        return any([cb.on_episode_end(info) for cb in self.callbacks])

    def on_update(self, info: dict) -> bool:
        return any([cb.on_update(info) for cb in self.callbacks])

    def on_train_end(self, result: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_end(result)


class ProgressPrinter(Callback):
    """`verbose=True`: a plain line every `every_s` seconds (and at the end), never control codes."""

    def __init__(self, every_s: float = 5.0, print_fn: Callable[[str], None] = print) -> None:
        self.every_s, self.print_fn = every_s, print_fn
        self.rewards: deque[float] = deque(maxlen=100)
        self.losses: dict = {}

    def on_train_start(self, agent: Any) -> None:
        self.start = self.last = time.perf_counter()

    def on_update(self, info: dict) -> bool:
        self.losses = info
        return False

    def on_episode_end(self, info: dict) -> bool:
        self.rewards.append(info["reward"])
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            self.print_fn(self._line(info["episode"], info["total_steps"], now))
        return False

    def on_train_end(self, result: dict) -> None:
        self.print_fn(self._line(result["episodes"], result["total_steps"], time.perf_counter()) + " done")

    def _line(self, episode: int, steps: int, now: float) -> str:
        mean = sum(self.rewards) / len(self.rewards) if self.rewards else float("nan")
        losses = " ".join(
            f"{k} {v:.4g}"
            for k, v in self.losses.items()
            if k not in ("total_steps", "updates") and isinstance(v, float)
        )
        rate = steps / max(now - self.start, 1e-9)
        # Counts with thousands separators, as every line the CLI prints for people writes them.
        return (
            f"episode {episode:,} steps {steps:,} mean_reward_100 {mean:.2f} steps/s {rate:,.0f} {losses}"
        ).rstrip()


def as_callback(callback: Any, verbose: bool) -> Callback:
    callbacks: list[Callback] = []
    if callback is not None:
        callbacks.append(callback if isinstance(callback, Callback) else FunctionCallback(callback))
    if verbose:
        callbacks.append(ProgressPrinter())
    return callbacks[0] if len(callbacks) == 1 else CallbackList(callbacks)
