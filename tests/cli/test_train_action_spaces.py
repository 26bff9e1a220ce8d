"""`neurenix train --check` refuses an action space the algorithm cannot take, naming the space and the
algorithms that can; `env.action_mask_key` is checked there too, and `neurenix eval` honours the masks."""

from __future__ import annotations

import json

import action_envs
import pytest
import yaml
from action_envs import PickLowestEnv

ON_POLICY = {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "n_steps": 32, "batch_size": 32}


@pytest.fixture(scope="module", autouse=True)
def registered():
    action_envs.register()


def config(tmp_path, algorithm: str, env: dict, agent: dict | None = None, steps: int = 256):
    path = tmp_path / "config.yaml"
    data = {
        "algorithm": algorithm,
        "env": env,
        "agent": agent or {},
        "train": {"total_steps": steps, "eval_every": 0, "eval_episodes": 3, "checkpoint_every": 0},
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "algorithm, env_id, space, who",
    [
        ("sac", "CartPole-v1", '{"type": "discrete", "n": 2}', "dqn, a2c, ppo"),
        ("dqn", "NeurenixMatch-v0", '{"type": "multi_discrete", "nvec": [3, 4]}', "a2c, ppo"),
        ("ddpg", "NeurenixBits-v0", '{"type": "multi_binary", "n": 4}', "a2c, ppo"),
    ],
)
def test_an_action_space_the_algorithm_cannot_take_is_refused_at_check(
    cli, tmp_path, algorithm, env_id, space, who
):
    result = cli("train", config(tmp_path, algorithm, {"id": env_id}), "--check")
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert f"algorithm: {algorithm} cannot take the action space of {env_id}, {space}" in message, message
    assert f"Use an algorithm that takes {space.split(chr(34))[3]} actions: {who}." in message
    assert "agent:" not in message and "Traceback" not in message and message.count("\n") == 1


@pytest.mark.parametrize("env_id", ["NeurenixMatch-v0", "NeurenixBits-v0"])
def test_ppo_takes_multi_discrete_and_multi_binary_actions_at_check(cli, tmp_path, env_id):
    result = cli("train", config(tmp_path, "ppo", {"id": env_id}, ON_POLICY), "--check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "env, words",
    [
        ({"id": "NeurenixPickLowest-v0", "action_mask_key": "mask"}, ["no 'mask' entry", "'action_mask'"]),
        ({"id": "CartPole-v1", "action_mask_key": "action_mask"}, ["no 'action_mask' entry"]),
        (
            {"id": "Pendulum-v1", "action_mask_key": "action_mask"},
            ["Discrete and MultiDiscrete action spaces only"],
        ),
        ({"id": "NeurenixPickLowest-v0", "action_mask_key": 3}, ["expects"]),
    ],
)
def test_a_mask_key_the_env_cannot_serve_is_refused_at_check(cli, tmp_path, env, words):
    algorithm = "sac" if env["id"] == "Pendulum-v1" else "ppo"
    result = cli("train", config(tmp_path, algorithm, env), "--check")
    assert result.exit_code == 2, result.output
    assert "env.action_mask_key" in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.mark.parametrize(
    "algorithm, env, agent",
    [
        ("ppo", {"id": "NeurenixPickLowest-v0", "action_mask_key": "action_mask", "n_envs": 2}, ON_POLICY),
        ("dqn", {"id": "NeurenixPickLowestMasked-v0"}, {"hidden_dims": [16], "learning_starts": 50}),
    ],
)
def test_masked_runs_train_and_evaluate_without_an_invalid_action(cli, tmp_path, algorithm, env, agent):
    PickLowestEnv.invalid_actions = 0
    run = tmp_path / "run"
    result = cli("train", config(tmp_path, algorithm, env, agent, steps=512), "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["env"].get("action_mask_key") == env.get(
        "action_mask_key"
    )
    for extra in ([], ["--stochastic"]):
        result = cli("eval", run, "--episodes", "20", "--json", "--no-save", *extra)
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["rewards"]) == 20
    assert PickLowestEnv.invalid_actions == 0


def test_list_algorithms_shows_action_spaces_and_masks(cli):
    result = cli("list", "algorithms", "--json")
    rows = {row["name"]: row for row in json.loads(result.stdout)["algorithms"]}
    assert rows["ppo"]["action_spaces"] == ["discrete", "box", "multi_discrete", "multi_binary"]
    assert rows["dqn"]["action_masks"] and not rows["sac"]["action_masks"]
