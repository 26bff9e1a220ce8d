"""Session: one training session of a run, from opening its env and files to the summary it ends with."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any

from neurenix.errors import PicklableError
from neurenix.rl.callbacks import Callback
from neurenix_cli.numbers import thousands
from neurenix_cli.reporting import FanOut, PlainReporter, Reporter
from neurenix_cli.session.checkpoints import Checkpoints, PeriodicCheckpoints
from neurenix_cli.session.evaluation import Evaluation
from neurenix_cli.session.files import LossAverages, MetricsFiles
from neurenix_cli.session.progress import ProgressUpdates
from neurenix_cli.session.signals import Signals
from neurenix_cli.session.state import RunCallback, RunCallbacks, RunState
from neurenix_cli.session.summary import SummaryFile


class RunInterrupted(PicklableError, KeyboardInterrupt):
    """Training stopped by a signal; `checkpoints/last` and `summary.json` (status `interrupted`) are on disk."""

    def __init__(self, signum: int, summary: dict):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.summary = summary

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class Session(Callback):
    """Trains `agent` under `config` into `path`: the callback the agent's loop calls, fanning each hook out to
    the run's callbacks (in this order: files, TensorBoard, losses, evaluation, checkpoints, progress)."""

    def __init__(
        self,
        config: dict,
        path: Path,
        reporter: Reporter | None,
        log_interval_s: float,
        extra: tuple[RunCallback, ...] = (),
    ):
        self.config = config
        self.path = path
        self.user_reporter = reporter or Reporter()
        self.log_interval_s = log_interval_s
        # The caller's own callbacks (a tuning trial's pruning hook), called after the run's: one whose
        # `stop_reason` is set when it stops the run names why in summary.json.
        self.extra = tuple(extra)

    def run(self, agent: Any, previous: dict | None) -> dict:
        from neurenix_cli import envs, runs

        cfg = self.config
        state = self.state = RunState(cfg, self.path, agent, previous or {})
        # An on-policy agent part way through a rollout goes on until the rollout is full and its update done: a
        # checkpoint holds no partial rollout, so stopping or saving earlier would waste the steps since. Its
        # rollout is full exactly at the steps that ran an update, which the loop reports through on_update.
        self.collects_rollouts = agent.collects_rollouts
        self.updated = False
        env = envs.make(
            cfg["env"], str(self.path / runs.CONFIG_NAME), cfg["env"]["n_envs"], cfg["seed"], training=True
        )
        log_file = open(self.path / "train.log", "a", encoding="utf-8")
        self.callbacks = RunCallbacks([MetricsFiles(state)])
        self.log_reporter = PlainReporter(log_file, self.log_interval_s)
        self.reporter = FanOut(self.log_reporter, self.user_reporter)
        self.signals = Signals(self.reporter)
        self.summary = SummaryFile(state)
        with self.signals.handled():
            try:
                self._wire(state)
                return self._train(agent, env)
            except RunInterrupted:
                raise
            except BaseException as exc:
                # A second signal (or a KeyboardInterrupt we had no handler for) stops at once: nothing is saved
                # mid-update, the previous checkpoint stays, and the summary says what happened. What the stop
                # interrupted may raise an error of its own (zipfile, half through a save): still a stop.
                self.signals.closing()
                if isinstance(exc, KeyboardInterrupt) or self.signals.interrupted_by is not None:
                    signum = (
                        self.signals.interrupted_by
                        or getattr(exc, "signum", None)
                        or self.signals.stop_signal
                        or signal.SIGINT
                    )
                    summary = self.summary.write(
                        "interrupted", stop_reason=signal.Signals(signum).name, best_effort=True
                    )
                    self._finish_raising(
                        f"interrupted by {summary['stop_reason']} at once; the last checkpoint is "
                        f"kept. Continue with `neurenix train --resume {self.path}`."
                    )
                    raise RunInterrupted(signum, summary) from None
                error = f"{type(exc).__name__}: {exc}"
                self.summary.write("failed", error=error, best_effort=True)
                self._finish_raising(f"failed: {error}")
                raise
            finally:
                self.signals.closing()
                self.callbacks.close()
                env.close()
                log_file.close()

    def _train(self, agent: Any, env: Any) -> dict:
        """The loop over the remaining budget, then `checkpoints/last`, the final evaluation and the summary; a
        first signal ends the loop early and the run as `interrupted` (RunInterrupted)."""
        cfg, tc, state = self.config, self.config["train"], self.state
        remaining_steps = None if tc["total_steps"] is None else tc["total_steps"] - agent.total_steps
        remaining_episodes = None if tc["episodes"] is None else tc["episodes"] - agent.episodes
        self.summary.write("running")
        verb = "resuming" if state.start_steps else "training"
        self.reporter.start(
            state.progress(),
            f"{verb} {cfg['algorithm']} on {cfg['env']['id']} "
            f"(seed {cfg['seed']}) from step {thousands(state.start_steps)} -> {self.path}",
        )
        budget_left = (remaining_steps is None or remaining_steps > 0) and (
            remaining_episodes is None or remaining_episodes > 0
        )
        if budget_left:  # else the budget was used up before an interruption: only the final steps remain
            agent.train(
                env,
                total_steps=remaining_steps,
                episodes=remaining_episodes,
                max_steps=tc["max_steps"],
                verbose=False,
                callback=self,
            )
        self.signals.loop_finished()
        self.losses.flush()
        if self.signals.stop_signal is not None:
            self.checkpoints.save_last()
            summary = self.summary.write(
                "interrupted", stop_reason=signal.Signals(self.signals.stop_signal).name
            )
            self._finish_raising(
                f"interrupted by {summary['stop_reason']} at step {thousands(agent.total_steps)}; checkpoints/last "
                f"saved. Continue with `neurenix train --resume {self.path}`."
            )
            raise RunInterrupted(self.signals.stop_signal, summary)
        # `last` first: a Ctrl-C during the final evaluation must not lose the finished training.
        self.checkpoints.save_last()
        final_eval = self.evaluation.final()
        stop_reason = self.evaluation.stop_reason or next(
            (cb.stop_reason for cb in self.extra if getattr(cb, "stop_reason", None)), None
        )
        summary = self.summary.write("completed", final_eval=final_eval, stop_reason=stop_reason)
        self.reporter.finish(
            state.progress(),
            f"completed {thousands(agent.total_steps)} steps in {summary['wall_s']:.1f}s; best eval "
            f"{_fmt(summary['best_eval'])}, final eval {_fmt(final_eval)}",
        )
        return summary

    def _wire(self, state: RunState) -> None:
        """The run's callbacks; each gets the collaborators it reports to, `self.callbacks` the ones the loop
        calls. One more integration is one more entry here."""
        self.checkpoints = Checkpoints(state, self.signals)
        if self.config["train"]["tensorboard"]:
            from neurenix_cli.session.tensorboard import TensorBoard

            self.callbacks.callbacks.append(TensorBoard(state))
        self.losses = LossAverages(state, self.config["train"]["log_every"], self.callbacks)
        self.evaluation = Evaluation(state, self.checkpoints, self.reporter, self.summary, self.callbacks)
        self.callbacks.callbacks += [
            self.losses,
            self.evaluation,
            PeriodicCheckpoints(state, self.checkpoints, self.summary, self.callbacks),
            ProgressUpdates(state, self.reporter),
            *self.extra,
        ]

    def _finish_raising(self, message: str) -> None:
        """The run ends with an exception, which tells the user how it ended (the CLI prints that once, on
        stderr): the screen gets the last progress line, train.log the message too. Reporting must not hide
        the exception."""
        with contextlib.suppress(Exception):
            progress = self.state.progress()
            self.log_reporter.finish(progress, message)
            self.user_reporter.finish(progress, None)

    # ------------------------------------------------------------------------------------- the loop's hooks
    def on_episode_end(self, info: dict) -> bool:
        return self.callbacks.on_episode_end(info)

    def on_update(self, info: dict) -> bool:
        self.updated = True
        return self.callbacks.on_update(info)

    def on_step(self, total_steps: int) -> bool:
        self.state.start_rate_clock()
        self.state.between_updates = self.updated or not self.collects_rollouts
        self.updated = False
        if self.signals.stop_signal is not None and self.state.between_updates:
            return True
        return self.callbacks.on_step(total_steps)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
