"""The run's CSV files: metrics.csv (a row per episode), updates.csv (a row per log_every steps), evals.csv."""

from __future__ import annotations

from neurenix_cli import runs
from neurenix_cli.session.state import RunCallback, RunCallbacks, RunState

METRICS_FIELDS = ["step", "episode", "return", "length", "wall_s"]
EVALS_FIELDS = ["step", "mean_reward", "std_reward", "episodes"]


class MetricsFiles(RunCallback):
    """Appends a row to each file as its event happens; a periodic checkpoint syncs them, so that a resume
    from that checkpoint finds every row up to it."""

    def __init__(self, state: RunState):
        self.state = state
        self.metrics = runs.CsvLog(state.path / "metrics.csv", METRICS_FIELDS)
        self.updates = runs.CsvLog(state.path / "updates.csv")
        self.evals = runs.CsvLog(state.path / "evals.csv", EVALS_FIELDS)

    def on_episode_end(self, info: dict) -> bool:
        self.metrics.write(
            {
                "step": info["total_steps"],
                "episode": info["episode"],
                "return": info["reward"],
                "length": info["length"],
                "wall_s": self.state.wall_s(),
            }
        )
        return False

    def on_log(self, step: int, updates: int | None, losses: dict[str, float]) -> None:
        self.updates.write({"step": step, "updates": updates, **losses})

    def on_evaluation(self, step: int, mean: float, std: float, episodes: int) -> None:
        self.evals.write({"step": step, "mean_reward": mean, "std_reward": std, "episodes": episodes})

    def on_checkpoint(self) -> None:
        for log in (self.metrics, self.updates, self.evals):
            log.sync()

    def close(self) -> None:
        for log in (self.metrics, self.updates, self.evals):
            log.close()


class LossAverages(RunCallback):
    """Averages each update's losses over `log_every` steps and hands the averages on (`on_log`) as one row."""

    def __init__(self, state: RunState, log_every: int, out: RunCallbacks):
        self.state, self.log_every, self.out = state, log_every, out
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.updates: int | None = None
        # Rows of updates.csv keep the uninterrupted run's cadence: a resumed run counts log_every from the last
        # row on disk, not from the checkpoint's step.
        logged = runs.read_csv(state.path / "updates.csv")
        self.last_log_step = int(logged[-1]["step"]) if logged else 0

    def on_update(self, info: dict) -> bool:
        for key, value in info.items():
            if key in ("total_steps", "updates") or not isinstance(value, (int, float)):
                continue
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.state.latest_losses[key] = float(value)
        self.updates = info.get("updates")
        if info["total_steps"] - self.last_log_step >= self.log_every:
            self.flush(info["total_steps"])
        return False

    def flush(self, step: int | None = None) -> None:
        """Hand on the losses since the last row (at the agent's step by default: the end of a session)."""
        if not self.counts:
            return
        step = self.state.agent.total_steps if step is None else step
        self.out.on_log(step, self.updates, {k: self.sums[k] / self.counts[k] for k in self.sums})
        self.sums.clear()
        self.counts.clear()
        self.last_log_step = step
