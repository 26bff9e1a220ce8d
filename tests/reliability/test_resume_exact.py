"""A resumed run ends exactly where the uninterrupted one does, when the environment's state cannot differ.

What a resume restores is the agent's whole state: networks, target network, optimizer moments, counters,
exploration schedule and RNGs, and with `train.save_replay_buffer` the replay buffer. What it cannot restore
is the environment's state: gymnasium envs cannot be saved, so `--resume` starts fresh episodes, and on a real
env (CartPole) the resumed run then sees other states than the uninterrupted one would have, and its numbers
drift apart (as two seeds do, no better or worse).

To prove that nothing of the agent's state is lost, these tests use a one-step bandit whose observation never
changes: there the env's state is irrelevant, so the interrupted-and-resumed run must match the uninterrupted
one bit for bit, parameters, replay buffer, RNG states and every metrics row.
"""

from __future__ import annotations

import signal
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurenix.checkpoint import load_checkpoint
from neurenix_cli import experiment, runs
from neurenix_cli.config import load_config
from neurenix_cli.session.loop import Session

BANDIT = "NeurenixConstantBandit-v0"
BUDGET = 1536  # a whole number of PPO rollouts (2 x 32 steps)


class ConstantBandit(gym.Env):
    """One step per episode, always the same observation; action 1 pays 1, action 0 pays 0.2."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)
    _obs = np.array([0.1, -0.2, 0.3, 0.0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs.copy(), {}

    def step(self, action):
        return self._obs.copy(), 1.0 if int(action) == 1 else 0.2, True, False, {}


@pytest.fixture(scope="module", autouse=True)
def bandit():
    gym.register(BANDIT, entry_point=ConstantBandit)
    yield
    del gym.registry[BANDIT]


AGENTS = {
    # Off-policy: updates every 7 steps, the replay buffer saved with the checkpoint.
    "dqn": "algorithm: dqn\nenv: {id: %s}\n"
    "agent: {hidden_dims: [8], learning_starts: 50, train_freq: 7, gradient_steps: 3, batch_size: 16,\n"
    "        update_target_every: 40, exploration_fraction: 0.5, buffer_size: 1000}\n",
    # On-policy: rollouts of 2 envs x 32 steps; a stop waits for the rollout in progress and its update.
    "ppo": "algorithm: ppo\nenv: {id: %s, n_envs: 2}\n"
    "agent: {actor_hidden_dims: [8], critic_hidden_dims: [8], n_steps: 32, batch_size: 16, n_epochs: 2}\n",
}


def bandit_yaml(tmp_path: Path, algorithm: str) -> Path:
    path = tmp_path / "bandit.yaml"
    path.write_text(
        AGENTS[algorithm] % BANDIT + "seed: 3\n"
        f"train: {{total_steps: {BUDGET}, checkpoint_every: 200, eval_every: 500, eval_episodes: 2,\n"
        "        log_every: 100, save_replay_buffer: true}\n"
    )
    return path


def bandit_config(tmp_path: Path, algorithm: str) -> dict:
    return load_config(bandit_yaml(tmp_path, algorithm))


def stop_at(monkeypatch, step: int, how: str) -> None:
    """At `step` (or just after, with several envs): a Ctrl-C (`graceful`: the run saves checkpoints/last there), or a crash that saves nothing
    (`crash`: the run continues from the previous periodic checkpoint, as after a kill -9)."""
    real = Session.on_step
    fired = []

    def on_step(self, total_steps):
        if total_steps >= step and not fired:
            fired.append(total_steps)
            if how == "crash":
                raise KeyboardInterrupt("a second Ctrl-C: stop at once, save nothing")
            signal.raise_signal(signal.SIGINT)
        return real(self, total_steps)

    monkeypatch.setattr(Session, "on_step", on_step)


def final_state(run: Path) -> tuple[dict, dict]:
    arrays, meta = load_checkpoint(run / "checkpoints" / "last")
    return arrays, meta["state"]


def rows(run: Path, name: str, columns: list[str]) -> list[list[str]]:
    return [[r[c] for c in columns] for r in runs.read_csv(run / name)]


def assert_same_training(run: Path, straight: Path, updates_csv: bool = True) -> None:
    """`run` ended exactly where `straight` did: counters, exploration and RNG states, every array of its last
    checkpoint (replay buffer included), and the rows of its metrics files."""
    ended, expected = final_state(run), final_state(straight)
    assert ended[1] == expected[1], "counters, exploration and RNG states"
    assert ended[0].keys() == expected[0].keys()
    for name, array in expected[0].items():
        np.testing.assert_array_equal(ended[0][name], array, err_msg=name)
    files = {
        "metrics.csv": ["step", "episode", "return", "length"],
        "evals.csv": ["step", "mean_reward", "std_reward", "episodes"],
    }
    if updates_csv:
        files["updates.csv"] = ["step", "updates"]
    for name, columns in files.items():
        assert rows(run, name, columns) == rows(straight, name, columns), name


@pytest.mark.parametrize(
    ("algorithm", "how", "resumes_from"),
    [
        ("dqn", "graceful", 733),  # saved where it stopped
        ("dqn", "crash", 600),  # the last periodic checkpoint
        ("ppo", "graceful", 768),  # the end of the rollout in progress at 733
        ("ppo", "crash", 640),  # periodic checkpoints wait for a rollout's end too (600 -> 640)
    ],
)
def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_result(
    tmp_path, monkeypatch, algorithm, how, resumes_from
):
    config = bandit_config(tmp_path, algorithm)
    experiment.train(config, tmp_path / "straight")

    stop_at(monkeypatch, 733, how)
    with pytest.raises(KeyboardInterrupt):
        experiment.train(config, tmp_path / "stopped")
    monkeypatch.undo()
    assert final_state(tmp_path / "stopped")[1]["counters"]["total_steps"] == resumes_from
    summary = experiment.resume(tmp_path / "stopped")
    assert summary["status"] == "completed" and summary["total_steps"] == BUDGET

    assert algorithm != "dqn" or any(
        k.startswith("replay_buffer") for k in final_state(tmp_path / "straight")[0]
    )
    # updates.csv keeps its cadence across the resume: a row every log_every steps counted from the last row,
    # not from the checkpoint. (A graceful stop adds one row where it stopped, with the losses since.)
    assert_same_training(tmp_path / "stopped", tmp_path / "straight", updates_csv=how == "crash")
