"""Saving checkpoints: the finiteness scan every save passes first, and the periodic checkpoints/last."""

from __future__ import annotations

from neurenix_cli import runs
from neurenix_cli.numbers import thousands
from neurenix_cli.session.signals import Signals
from neurenix_cli.session.state import RunCallback, RunCallbacks, RunState, next_multiple
from neurenix_cli.session.summary import SummaryFile


class Checkpoints:
    """Saves checkpoints/<name> of the run's agent, unless its state holds NaN or inf; a signal to stop at
    once waits until the checkpoint is written."""

    def __init__(self, state: RunState, signals: Signals):
        self.state, self.signals = state, signals

    def save(self, name: str, include_replay_buffer: bool = False) -> None:
        check_finite(self.state.agent, name)
        with self.signals.deferred(f"checkpoints/{name}"):
            runs.save_checkpoint(
                self.state.agent, self.state.path / "checkpoints" / name, include_replay_buffer
            )

    def save_last(self) -> None:
        self.save("last", self.state.config["train"]["save_replay_buffer"])


def check_finite(agent: object, name: str) -> None:
    """Raise TrainingDivergedError if a float array of the agent's state is NaN or inf. The loop checks each
    update's losses, but an update whose loss was finite can still leave non-finite parameters, noticed only at
    the next update: saving in between would replace the last good checkpoint with a diverged one."""
    import numpy as np

    from neurenix.checkpoint import flatten_state
    from neurenix.errors import TrainingDivergedError

    arrays, _ = flatten_state(agent.state_dict())
    bad = sorted(k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all())
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise TrainingDivergedError(
            f"Training diverged: the parameters {shown} became NaN or infinite by step "
            f"{thousands(agent.total_steps)}; checkpoints/{name} keeps the last finite state. Lower the "
            "learning rate, clip gradients (max_grad_norm) or normalise observations."
        )


class PeriodicCheckpoints(RunCallback):
    """checkpoints/last every train.checkpoint_every steps, taken only between updates (a checkpoint holds no
    partial rollout); then every file is synced (`out.on_checkpoint`) and summary.json rewritten."""

    def __init__(self, state: RunState, checkpoints: Checkpoints, summary: SummaryFile, out: RunCallbacks):
        self.state, self.checkpoints, self.summary, self.out = state, checkpoints, summary, out
        self.every = state.config["train"]["checkpoint_every"] or 0
        self.next_checkpoint = next_multiple(state.agent.total_steps, self.every)

    def on_step(self, total_steps: int) -> bool:
        if self.every and total_steps >= self.next_checkpoint and self.state.between_updates:
            self.next_checkpoint = next_multiple(total_steps, self.every)
            self.checkpoints.save_last()
            self.out.on_checkpoint()
            self.summary.write("running")
        return False
