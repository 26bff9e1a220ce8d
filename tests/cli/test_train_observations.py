"""`neurenix train --check`, `train` and `eval` on observation spaces beyond a flat box: Discrete (FrozenLake,
Taxi), a Dict, a frame stack; images taken by every algorithm (its CNN encoders, DDPG, TD3 and SAC on a pixel
env with box actions) at `--check`, and a bogus `agent.encoder` refused with one paragraph and exit 2."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from clitools import TINY, load_json, write_config

from neurenix.rl import load_agent
from neurenix.rl.frames import StackedFrames

Box, Discrete = gym.spaces.Box, gym.spaces.Discrete


class PixelsEnv(gym.Env):
    """A camera image and nothing else."""

    observation_space = Box(0, 255, (3, 16, 16), np.uint8)
    action_space = Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


class PixelsBoxEnv(PixelsEnv):
    """The camera image, with box actions (for DDPG, TD3 and SAC)."""

    action_space = Box(-1.0, 1.0, (2,), np.float32)


class GrayEnv(PixelsEnv):
    """A grayscale camera image, (H, W): env.frame_stack makes it (N, H, W), as Atari's preprocessing does."""

    observation_space = Box(0, 255, (16, 16), np.uint8)


class DictEnv(gym.Env):
    """A Dict of a box and a goal id, ended after 5 steps."""

    observation_space = gym.spaces.Dict({"position": Box(-1.0, 1.0, (2,), np.float32), "goal": Discrete(3)})
    action_space = Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 5, False, {}


@pytest.fixture(scope="module", autouse=True)
def registered_envs():
    gym.register("NeurenixTestPixels-v0", entry_point=PixelsEnv)
    gym.register("NeurenixTestPixelsBox-v0", entry_point=PixelsBoxEnv)
    gym.register("NeurenixTestDict-v0", entry_point=DictEnv)
    gym.register("NeurenixTestGray-v0", entry_point=GrayEnv)
    yield
    for name in (
        "NeurenixTestPixels-v0",
        "NeurenixTestPixelsBox-v0",
        "NeurenixTestDict-v0",
        "NeurenixTestGray-v0",
    ):
        del gym.registry[name]


def config(algorithm: str, env: dict) -> dict:
    data = copy.deepcopy(TINY)
    data["env"] = {"n_envs": 1, **env}
    if algorithm == "ppo":
        data["algorithm"] = "ppo"
        data["agent"] = {
            "n_steps": 64,
            "batch_size": 32,
            "actor_hidden_dims": [16],
            "critic_hidden_dims": [16],
        }
    return data


ENVS = {
    "FrozenLake": {"id": "FrozenLake-v1", "kwargs": {"is_slippery": False}},
    "Taxi": {"id": "Taxi-v4"},
    "Dict": {"id": "NeurenixTestDict-v0"},
}


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
@pytest.mark.parametrize("env", list(ENVS))
def test_check_passes_for_discrete_and_dict_observations(cli, tmp_path, algorithm, env):
    result = cli("train", write_config(tmp_path, config(algorithm, ENVS[env])), "--check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
def test_check_accepts_images_for_the_algorithms_with_a_cnn_encoder(cli, tmp_path, algorithm):
    data = config(algorithm, {"id": "NeurenixTestPixels-v0"})
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("algorithm", ["ddpg", "td3", "sac"])
def test_check_accepts_images_for_the_box_action_algorithms_too(cli, tmp_path, algorithm):
    data = config(algorithm, {"id": "NeurenixTestPixelsBox-v0"})
    data["algorithm"] = algorithm
    data["agent"] = {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "encoder_features": 16}
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
def test_a_bogus_encoder_is_one_paragraph_at_agent_encoder(cli, tmp_path, algorithm):
    data = config(algorithm, {"id": "NeurenixTestPixels-v0"})
    data["agent"] = {**data.get("agent", {}), "encoder": "bogus"}
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "agent.encoder" in message and "nature_cnn" in message and "small_cnn" in message
    assert "Traceback" not in message and "\n" not in message


def test_minigrids_own_observation_names_its_text_mission_and_the_wrapper_that_drops_it(cli, tmp_path):
    env = {"id": "MiniGrid-Empty-5x5-v0", "imports": ["minigrid"]}
    result = cli("train", write_config(tmp_path, config("ppo", env)), "--check")
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "its part ['mission']: unsupported space MissionSpace" in message
    assert "minigrid.wrappers.ImgObsWrapper" in message and "Traceback" not in message and "\n" not in message
    env["wrappers"] = ["minigrid.wrappers.ImgObsWrapper"]
    assert cli("train", write_config(tmp_path, config("ppo", env)), "--check").exit_code == 0


def test_an_image_run_trains_and_evaluates(cli, tmp_path):
    run = tmp_path / "run"
    data = config("ppo", {"id": "NeurenixTestPixels-v0"})
    data["agent"]["encoder_features"] = 16
    result = cli("train", write_config(tmp_path, data), "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    meta = load_json(run / "checkpoints" / "last" / "meta.json")
    assert meta["hyperparameters"]["encoder"] == "auto"
    result = cli("eval", run, "--episodes", "1", "--json")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "env, encoder, stacked",
    [({"id": "NeurenixTestGray-v0"}, "small_cnn", [4, 16, 16]), ({"id": "CartPole-v1"}, "auto", [4, 4])],
    ids=["images", "vectors"],
)
def test_env_frame_stack_stacks_observations_and_dqns_replay_keeps_each_frame_once(
    cli, tmp_path, env, encoder, stacked
):
    run = tmp_path / "run"
    data = config("dqn", {**env, "frame_stack": 4})
    data["agent"] |= {"encoder": encoder, "encoder_features": 16}
    data["train"] |= {"save_replay_buffer": True}
    result = cli("train", write_config(tmp_path, data), "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    meta = load_json(run / "checkpoints" / "last" / "meta.json")
    assert meta["observation_space"]["shape"] == stacked
    assert meta["hyperparameters"]["frame_stack"] == 4, "env.frame_stack told the replay"
    agent = load_agent(run / "checkpoints" / "last")
    assert isinstance(agent.buffer.observations, StackedFrames) and len(agent.buffer) > 0
    evaluated = cli("eval", run, "--episodes", "1", "--no-save", "--json")
    assert evaluated.exit_code == 0, evaluated.output


def test_an_agent_frame_stack_that_contradicts_env_frame_stack_is_one_paragraph(cli, tmp_path):
    data = config("dqn", {"id": "NeurenixTestGray-v0", "frame_stack": 4})
    data["agent"] |= {"encoder": "small_cnn", "frame_stack": 2}
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "agent.frame_stack" in message and "env.frame_stack" in message
    assert "Traceback" not in message and "\n" not in message


def test_an_agent_frame_stack_the_observations_do_not_have_is_one_paragraph(cli, tmp_path):
    data = config("dqn", {"id": "CartPole-v1"})
    data["agent"] |= {"frame_stack": 4}  # CartPole's 4 values are not 4 stacked frames
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "agent.frame_stack" in message and "FrameStackObservation" in message
    assert "Traceback" not in message and "bug" not in message and "\n" not in message


def test_on_policy_agents_take_env_frame_stack_without_a_replay(cli, tmp_path):
    data = config("ppo", {"id": "NeurenixTestGray-v0", "frame_stack": 3})
    data["agent"] |= {"encoder": "small_cnn", "encoder_features": 16}
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("env", ["Taxi", "Dict"])
def test_discrete_and_dict_observation_runs_train_and_evaluate(cli, tmp_path, env):
    run = tmp_path / "run"
    result = cli("train", write_config(tmp_path, config("dqn", ENVS[env])), "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    meta = load_json(run / "checkpoints" / "last" / "meta.json")
    assert meta["observation_space"]["type"] == ("discrete" if env == "Taxi" else "dict")
    evaluated = cli("eval", run, "--episodes", "2", "--no-save", "--json")
    assert evaluated.exit_code == 0, evaluated.output


@pytest.mark.parametrize("goals, exit_code", [(3, 0), (4, 2)], ids=["matching", "contradicting"])
def test_a_dict_spec_in_the_config_is_checked_against_the_env(cli, tmp_path, goals, exit_code):
    data = config("dqn", ENVS["Dict"])
    data["spaces"] = {
        "observation": {
            "type": "dict",
            "spaces": {"goal": {"type": "discrete", "n": goals}, "position": {"type": "box", "shape": [2]}},
        }
    }
    result = cli("train", write_config(tmp_path, data), "--check")
    assert result.exit_code == exit_code, result.output
    if exit_code:
        assert "spaces.observation: contradicts NeurenixTestDict-v0 in spaces" in result.stderr
