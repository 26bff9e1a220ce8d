"""TensorBoard event files of a run (train.tensorboard): the same events as the CSV files, as scalars."""

from __future__ import annotations

from neurenix_cli.session.state import RunCallback, RunState
from neurenix_cli.tensorboard_log import TensorBoardLog


class TensorBoard(RunCallback):
    def __init__(self, state: RunState):
        self.state = state
        self.log = TensorBoardLog(state.path, resume_step=state.start_steps)

    def on_episode_end(self, info: dict) -> bool:
        self.log.episode(info["total_steps"], float(info["reward"]), int(info["length"]))
        return False

    def on_log(self, step: int, updates: int | None, losses: dict[str, float]) -> None:
        self.log.update(step, losses, self.state.progress().steps_per_s)

    def on_evaluation(self, step: int, mean: float, std: float, episodes: int) -> None:
        self.log.evaluation(step, mean, std)

    def on_checkpoint(self) -> None:
        self.log.flush()

    def close(self) -> None:
        self.log.close()
