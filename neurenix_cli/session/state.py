"""What a session's callbacks share, and the hooks a run adds to the library's training-loop callbacks."""

from __future__ import annotations

import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

from neurenix.rl.callbacks import Callback, CallbackList
from neurenix_cli.reporting import Progress


class RunState:
    """The run's config and directory, the agent, the session's clock and the latest numbers that the reporter
    and summary.json show. `previous` is the summary of the session this one continues ({} for a new run)."""

    def __init__(self, config: dict, path: Path, agent: Any, previous: dict):
        self.config, self.path, self.agent = config, path, agent
        self.wall_before = float(previous.get("wall_s") or 0.0)
        self.best_eval = previous.get("best_eval")
        self.best_eval_step = previous.get("best_eval_step")
        self.latest_eval: float | None = None
        self.latest_eval_step: int | None = None
        self.started_at = previous.get("started_at") or now()
        self.t0 = time.monotonic()
        self.start_steps, self.start_episodes = agent.total_steps, agent.episodes
        self.rate_clock: tuple[float, int, int] | None = None  # (time, steps, episodes) at the first step
        self.returns: deque[float] = deque(maxlen=100)
        self.latest_losses: dict[str, float] = {}
        # Whether the agent holds no partly collected rollout at this step (see Session.on_step).
        self.between_updates = True

    def wall_s(self) -> float:
        return self.wall_before + (time.monotonic() - self.t0)

    def start_rate_clock(self) -> None:
        """At the session's first step: the rate and ETA the reporter shows count from here (see Progress)."""
        if self.rate_clock is None:
            self.rate_clock = (time.monotonic(), self.agent.total_steps, self.agent.episodes)

    def progress(self) -> Progress:
        tc = self.config["train"]
        return Progress(
            algorithm=self.config["algorithm"],
            env_id=self.config["env"]["id"],
            run_dir=str(self.path),
            step_budget=tc["total_steps"],
            episode_budget=tc["episodes"],
            total_steps=self.agent.total_steps,
            episodes=self.agent.episodes,
            rate_start_steps=self.rate_clock[1] if self.rate_clock else self.start_steps,
            rate_start_episodes=self.rate_clock[2] if self.rate_clock else self.start_episodes,
            rate_s=time.monotonic() - self.rate_clock[0] if self.rate_clock else None,
            mean_return=statistics.fmean(self.returns) if self.returns else None,
            latest_eval=self.latest_eval,
            latest_eval_step=self.latest_eval_step,
            best_eval=self.best_eval,
            losses=dict(self.latest_losses),
        )


class RunCallback(Callback):
    """The library's loop hooks plus the run's own events, which the loop knows nothing of."""

    def on_log(self, step: int, updates: int | None, losses: dict[str, float]) -> None:
        """The losses averaged since the previous row of updates.csv."""

    def on_evaluation(self, step: int, mean: float, std: float, episodes: int) -> None:
        """An evaluation finished (before checkpoints/best is saved for it)."""

    def on_checkpoint(self) -> None:
        """A periodic checkpoints/last was saved: whatever the callback has written should be on disk too."""

    def close(self) -> None:
        """The session is over (however it ended): release files."""


class RunCallbacks(CallbackList):
    """Fans the run's hooks out too, in list order."""

    callbacks: list[RunCallback]

    def on_log(self, step: int, updates: int | None, losses: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_log(step, updates, losses)

    def on_evaluation(self, step: int, mean: float, std: float, episodes: int) -> None:
        for cb in self.callbacks:
            cb.on_evaluation(step, mean, std, episodes)

    def on_checkpoint(self) -> None:
        for cb in self.callbacks:
            cb.on_checkpoint()

    def close(self) -> None:
        for cb in self.callbacks:
            cb.close()


def next_multiple(step: int, every: int) -> int:
    """The first multiple of `every` after `step` (with n_envs > 1 steps jump by n_envs, hence `>=` checks)."""
    return (step // every + 1) * every if every else 0


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
