"""`neurenix train CONFIG --init-from SOURCE`: a new run from another run's weights (networks and normalisation
statistics, not its optimizer or progress), and the configs it refuses before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from clitools import TINY, load_json, write_config
from typer.testing import CliRunner

from neurenix.rl import load_agent
from neurenix_cli import runs
from neurenix_cli.config import validation
from neurenix_cli.main import app
from neurenix_cli.session.evaluation import EVAL_SEED_OFFSET
from neurenix_cli.session.loop import Session

# TINY for 6 episodes of at most 100 steps, learning only from step 1000: the weights a run starts from are still
# its weights when it ends. (A step budget below the first update is refused at validation: it trains nothing.)
NO_UPDATES = {
    **TINY,
    "agent": {**TINY["agent"], "learning_starts": 1000},
    "train": {**TINY["train"], "total_steps": None, "episodes": 6},
}
PPO_TINY = {
    "algorithm": "ppo",
    "seed": 0,
    "env": {"id": "CartPole-v1", "n_envs": 1},
    "agent": {
        "actor_hidden_dims": [16],
        "critic_hidden_dims": [16],
        "n_steps": 64,
        "batch_size": 32,
        "n_epochs": 2,
        "normalize_observations": True,
    },
    "train": {"total_steps": 256, "max_steps": 100, "eval_every": 0, "eval_episodes": 2, "log_every": 64},
}


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory) -> Path:
    """A finished tiny PPO run that normalises its observations."""
    root = tmp_path_factory.mktemp("ppo")
    config = write_config(root, PPO_TINY)
    result = CliRunner().invoke(app, ["train", str(config), "--run-dir", str(root / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "run"


def assert_same_arrays(state: dict, expected: dict, part: str) -> None:
    assert state.keys() == expected.keys(), part
    for key, value in expected.items():
        np.testing.assert_array_equal(state[key], value, err_msg=f"{part}.{key}")


def test_the_new_run_starts_from_the_weights_and_its_first_evaluation_equals_the_sources(
    cli, trained_run, tmp_path, monkeypatch
):
    # A budget that ends before the first update is refused at --check (it trains nothing); this run needs
    # exactly that, to see the carried weights untouched, so the refusal is lifted for it alone.
    monkeypatch.setattr(validation, "_check_budget_reaches_an_update", lambda agent, config, check: None)
    run = tmp_path / "new"
    result = cli("train", write_config(tmp_path, NO_UPDATES), "--init-from", trained_run, "--run-dir", run)
    assert result.exit_code == 0, result.output

    source, started = (
        load_agent(trained_run / "checkpoints" / "best"),
        load_agent(run / "checkpoints" / "last"),
    )
    lengths = [int(row["length"]) for row in runs.read_csv(run / "metrics.csv")]
    assert started.updates == 0 and len(lengths) == 6 and started.total_steps == sum(lengths)
    # (Its target network is a copy of q_network by now: DQN syncs it at the first chance of a run.)
    assert_same_arrays(started.q_network.state_dict(), source.q_network.state_dict(), "q_network")
    assert source.optimizer.step_count > 0 and started.optimizer.step_count == 0, (
        "the optimizer is not carried"
    )
    assert runs.read_csv(run / "metrics.csv")[0]["episode"] == "1", "the counters are the new run's own"
    record = load_json(run / "init_from.json")
    assert record["checkpoint"].endswith("checkpoints/best") and record["source_steps"] == source.total_steps
    assert record["carried"] == ["q_network", "target_network"]

    # The in-training evaluation: its env seeded with the run's seed + EVAL_SEED_OFFSET, TINY's episodes.
    evaluated = cli(
        "eval",
        trained_run,
        "--checkpoint",
        "best",
        "--seed",
        TINY["seed"] + EVAL_SEED_OFFSET,
        "--episodes",
        TINY["train"]["eval_episodes"],
        "--json",
    )
    assert evaluated.exit_code == 0, evaluated.output
    first = runs.read_csv(run / "evals.csv")[0]
    assert float(first["mean_reward"]) == pytest.approx(json.loads(evaluated.stdout)["mean_reward"])


def test_normalisation_statistics_are_carried_and_a_kill_before_the_first_checkpoint_resumes_from_them(
    cli, ppo_run, tmp_path, monkeypatch
):
    def killed(self, total_steps):
        raise KeyboardInterrupt("a second Ctrl-C at the first step: nothing saved since the start")

    monkeypatch.setattr(Session, "on_step", killed)
    run = tmp_path / "new"
    result = cli("train", write_config(tmp_path, PPO_TINY), "--init-from", ppo_run, "--run-dir", run)
    assert result.exit_code == 130, result.output
    monkeypatch.undo()

    source, started = load_agent(ppo_run / "checkpoints" / "best"), load_agent(run / "checkpoints" / "last")
    assert started.total_steps == 0
    for part in ("actor", "critic", "obs_normalizer"):
        assert_same_arrays(started.state_dict()[part], source.state_dict()[part], part)
    assert started.actor_optimizer.step_count == 0 < source.actor_optimizer.step_count

    resumed = cli("train", "--resume", run, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "completed"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"agent": {**TINY["agent"], "hidden_dims": [32, 32]}},
            [
                "q_network/0.weight has shape (16, 4) in the weights, (32, 4) in the config",
                "agent.hidden_dims",
            ],
        ),
        ({"agent": {**TINY["agent"], "dueling": True}}, ["q_network/", "agent.dueling"]),
        ({"algorithm": "ppo", "agent": {"n_steps": 32}}, ["dqn's", "trains ppo"]),
    ],
    ids=["wider", "dueling", "another algorithm"],
)
@pytest.mark.parametrize("check", [False, True], ids=["train", "--check"])
def test_a_config_that_builds_other_networks_is_refused_before_anything_is_written(
    cli, trained_run, tmp_path, change, expected, check
):
    config = write_config(tmp_path, {**TINY, **change})
    root = tmp_path / "runs"
    result = cli(
        "train", config, "--init-from", trained_run, *(["--check"] if check else []), "--runs-root", root
    )
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    assert not root.exists(), "nothing is written"


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"activation": "relu"}, "Tanh()"), ({"normalize_observations": False}, "obs_normalizer")],
    ids=["another activation", "no normalisation"],
)
def test_networks_of_the_same_shapes_that_compute_otherwise_are_refused(
    cli, ppo_run, tmp_path, change, expected
):
    config = write_config(tmp_path, {**PPO_TINY, "agent": {**PPO_TINY["agent"], **change}})
    result = cli("train", config, "--init-from", ppo_run, "--check")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and f"agent.{next(iter(change))}" in result.stderr


def test_check_with_init_from_validates_the_weights_and_writes_nothing(
    cli, trained_run, tiny_config, tmp_path
):
    root = tmp_path / "runs"
    last = trained_run / "checkpoints" / "last"
    result = cli("train", tiny_config, "--init-from", last, "--check", "--runs-root", root)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["algorithm"] == "dqn"
    assert "fit this config" in result.stderr
    assert not root.exists()


def test_a_source_that_is_neither_a_run_nor_a_checkpoint_and_init_from_on_resume_are_refused(
    cli, trained_run, tiny_config, tmp_path
):
    for source, expected in ((tmp_path / "nowhere", "does not exist"), (tmp_path, "neither a run directory")):
        result = cli("train", tiny_config, "--init-from", source, "--runs-root", tmp_path / "runs")
        assert result.exit_code == 2 and expected in result.stderr, result.output
    assert not (tmp_path / "runs").exists()
    result = cli("train", "--resume", trained_run, "--init-from", trained_run)
    assert result.exit_code == 2 and "--init-from" in result.stderr
