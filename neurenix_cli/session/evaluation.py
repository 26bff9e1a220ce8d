"""Evaluations during training and at its end, checkpoints/best, and the early stop at train.target_reward."""

from __future__ import annotations

import statistics
from typing import Any

from neurenix_cli.numbers import thousands
from neurenix_cli.reporting import Reporter
from neurenix_cli.session.checkpoints import Checkpoints
from neurenix_cli.session.state import RunCallback, RunCallbacks, RunState, next_multiple
from neurenix_cli.session.summary import SummaryFile

EVAL_SEED_OFFSET = 10_000  # the in-training evaluation env, apart from the training envs' seeds


class Evaluation(RunCallback):
    """Every train.eval_every steps: train.eval_episodes deterministic episodes on an env of its own; a new best
    mean return saves checkpoints/best. Each result goes to `out` (evals.csv, TensorBoard) before the save."""

    def __init__(
        self,
        state: RunState,
        checkpoints: Checkpoints,
        reporter: Reporter,
        summary: SummaryFile,
        out: RunCallbacks,
    ):
        self.state, self.checkpoints, self.reporter, self.summary, self.out = (
            state,
            checkpoints,
            reporter,
            summary,
            out,
        )
        tc = state.config["train"]
        self.every = tc["eval_every"] or 0
        self.episodes = tc["eval_episodes"]
        self.target_reward = tc["target_reward"]
        self.next_eval = next_multiple(state.agent.total_steps, self.every)
        self.stop_reason: str | None = None
        self.env: Any = None

    def on_step(self, total_steps: int) -> bool:
        if not (self.every and self.episodes and total_steps >= self.next_eval):
            return False
        self.next_eval = next_multiple(total_steps, self.every)
        mean = self.evaluate(total_steps)
        if self.target_reward is not None and mean >= self.target_reward:
            self.stop_reason = (
                f"target_reward {self.target_reward:g} reached at step {thousands(total_steps)}"
            )
            self.reporter.event(f"step {thousands(total_steps)}: {self.stop_reason}; stopping")
            return True
        return False

    def final(self) -> float | None:
        """The evaluation at the end of training: the one just made at this step, or a new one."""
        if not self.episodes:
            return None
        agent = self.state.agent
        if self.state.latest_eval_step == agent.total_steps:
            return self.state.latest_eval
        return self.evaluate(agent.total_steps)

    def evaluate(self, step: int) -> float:
        from neurenix.rl.environment import make_env

        state, cfg = self.state, self.state.config
        if self.env is None:
            self.env = make_env(
                cfg["env"]["id"],
                n_envs=1,
                seed=cfg["seed"] + EVAL_SEED_OFFSET,
                action_mask_key=cfg["env"].get("action_mask_key"),
                **cfg["env"]["kwargs"],
            )
        rewards = [
            float(r)
            for r in state.agent.evaluate(
                self.env, episodes=self.episodes, deterministic=True, max_steps=cfg["train"]["max_steps"]
            )
        ]
        mean = statistics.fmean(rewards)
        std = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
        self.out.on_evaluation(step, mean, std, len(rewards))
        state.latest_eval, state.latest_eval_step = mean, step
        line = f"step {thousands(step)}: eval {mean:.2f} +/- {std:.2f} over {len(rewards)} episodes"
        if state.best_eval is None or mean > state.best_eval:
            state.best_eval, state.best_eval_step = mean, step
            self.checkpoints.save("best")
            line += " (new best, checkpoints/best saved)"
        self.reporter.event(line)
        self.summary.write("running")
        return mean

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
