"""A new budget for a run being resumed: `neurenix train --resume RUN --set train.total_steps=N`.

A resumed run keeps the config it was started with, so that its checkpoint, its metrics and its config.yaml keep
describing one training. Only what decides when training stops may change: the step and episode budgets and
the target reward. The budget is the new total (SB3's `learn(n, reset_num_timesteps=False)` is given the steps
to add instead): a run continued to N steps ends with N steps, whatever it had done.

Schedules that run over the budget (DQN's `exploration_fraction`, every algorithm's linear `lr_schedule` and
PPO's `clip_schedule`) are read from the fraction of the *new* budget done, as SB3's schedules are after
`learn(reset_num_timesteps=False)`: a linear learning rate that had reached 0 at the old end comes back at
(1 - old/new) of its start and falls to 0 at the new end. Per-step schedules (DQN's `epsilon_decay`) go on from
where they were.
"""

from __future__ import annotations

import collections.abc
from typing import Any

from neurenix_cli.config import ConfigFileError
from neurenix_cli.numbers import thousands

BUDGET_KEYS = ("train.total_steps", "train.episodes", "train.target_reward")


def check_budget_keys(overrides: collections.abc.Sequence[str], config_path: str, run_dir: Any) -> None:
    """Refuse a `--set` of anything but a budget key before anything is read or written."""
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key not in BUDGET_KEYS:
            raise ConfigFileError(
                config_path,
                key,
                "cannot change when a run is resumed: the run continues with the settings it was trained "
                f"with, and only its budget ({', '.join(BUDGET_KEYS)}) may change.",
                "To train with other settings, start a new run from this one's weights: "
                f"`neurenix train CONFIG --init-from {run_dir}`.",
                via=text,
            )


def check_budget_left(config: dict, agent: Any, config_path: str, origins: dict[str, str]) -> None:
    """Refuse a new budget the run has already used up: there would be nothing to train. `origins`: the
    `--set` that gave each key (`apply_overrides`)."""
    done = {"train.total_steps": (agent.total_steps, "steps"), "train.episodes": (agent.episodes, "episodes")}
    for key, (count, unit) in done.items():
        budget = config["train"][key.partition(".")[2]]
        if budget is not None and budget <= count:
            raise ConfigFileError(
                config_path,
                key,
                f"is {thousands(budget)}, and the run has done {thousands(count)} {unit} already: nothing is left to train.",
                f"Give a value above {thousands(count)}"
                + ("." if key in origins else f" (--set {key}=N), or set it to null (--set {key}=null)."),
                via=origins.get(key),
            )
