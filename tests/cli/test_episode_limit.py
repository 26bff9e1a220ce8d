"""env.kwargs.max_episode_steps against train.max_steps: the env's limit holds unless train.max_steps is set,
and when both are set and differ a notice says which won."""

from __future__ import annotations

import copy
import csv

import gymnasium as gym
import numpy as np
import pytest
import yaml
from clitools import TINY, write_config

from neurenix_cli.config import load_prepared

ENV_ID = "NeverEnding-v0"


class NeverEnding(gym.Env):
    """Never terminates: every episode ends at a step limit, so the episode lengths show which limit held."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, False, False, {}


@pytest.fixture(scope="module", autouse=True)
def never_ending():
    # Registered with a limit of 5, below the 8 the configs ask for: the env's own TimeLimit must not win.
    gym.register(ENV_ID, entry_point=NeverEnding, max_episode_steps=5)
    yield
    del gym.registry[ENV_ID]


def config(max_steps: object = "unset", limit: int = 8) -> dict:
    data = copy.deepcopy(TINY)
    data["env"] = {"id": ENV_ID, "kwargs": {"max_episode_steps": limit}}
    data["train"].update(total_steps=200, eval_every=None, eval_episodes=1)
    del data["train"]["max_steps"]
    if max_steps != "unset":
        data["train"]["max_steps"] = max_steps
    return data


@pytest.mark.parametrize("max_steps", ["unset", None])
def test_the_envs_limit_holds_when_train_max_steps_is_not_set(tmp_path, cli, max_steps):
    path = write_config(tmp_path, config(max_steps))
    prepared = load_prepared(path)
    assert prepared.config["train"]["max_steps"] == 8, "recorded, so eval and --resume cut episodes alike"
    assert prepared.notices == ()
    result = cli("train", path, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "metrics.csv") as f:
        lengths = {int(row["length"]) for row in csv.DictReader(f)}
    assert lengths == {8}, "not the 5 the env was registered with"
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recorded["train"]["max_steps"] == 8 and recorded["env"]["kwargs"] == {"max_episode_steps": 8}


def test_an_explicit_train_max_steps_wins_and_says_so(tmp_path, cli):
    path = write_config(tmp_path, config(max_steps=3))
    result = cli("train", path, "--check")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "note: train.max_steps (3) overrides env.kwargs.max_episode_steps (8): episodes are cut off after 3 "
        "steps. Set train.max_steps: null to keep the env's limit."
    )
    result = cli("train", path, "--run-dir", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.output
    assert "note: train.max_steps (3) overrides" in result.stderr
    with open(tmp_path / "run" / "metrics.csv") as f:
        assert {int(row["length"]) for row in csv.DictReader(f)} == {3}


def test_no_notice_when_both_agree_or_quiet(tmp_path, cli):
    assert load_prepared(write_config(tmp_path, config(max_steps=8))).notices == ()
    result = cli("train", write_config(tmp_path, config(max_steps=3)), "--check", "--quiet")
    assert result.exit_code == 0 and result.stderr == ""


def test_a_bad_env_limit_is_a_config_error(tmp_path, cli):
    path = write_config(tmp_path, config(limit=0))
    result = cli("train", path, "--check")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: env.kwargs.max_episode_steps: must be at least 1")
