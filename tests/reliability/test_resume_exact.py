"""A resumed run ends exactly where the uninterrupted one does, when the environment's state cannot differ.

What a resume restores is the agent's whole state: networks, target network, optimizer moments, counters,
exploration schedule and RNGs, and with `train.save_replay_buffer` the replay buffer. What it cannot restore
is the environment's state: gymnasium envs cannot be saved, so `--resume` starts fresh episodes, and on a real
env (CartPole) the resumed run then sees other states than the uninterrupted one would have, and its numbers
drift apart (as two seeds do, no better or worse).

To prove that nothing of the agent's state is lost, these tests use a one-step bandit whose observation never
changes: there the env's state is irrelevant, so the interrupted-and-resumed run must match the uninterrupted
one bit for bit, parameters, replay buffer, RNG states and every metrics row. A completed run continued to a
larger budget (`--resume --set train.total_steps=N`) must likewise match one given N from the start, as long as
its schedules do not depend on the budget; those that do must follow the new one.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from reltools import load_json
from typer.testing import CliRunner

from neurenix.checkpoint import load_checkpoint
from neurenix_cli import experiment, runs
from neurenix_cli.config import load_config
from neurenix_cli.main import app
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
    # DQN again with both statistics on: their means, variances and counts must come back exactly (the
    # bandit pays 1 or 0.2, so the return statistics are not trivial).
    "dqn-normalized": "algorithm: dqn\nenv: {id: %s}\n"
    "agent: {hidden_dims: [8], learning_starts: 50, train_freq: 7, gradient_steps: 3, batch_size: 16,\n"
    "        update_target_every: 40, exploration_fraction: 0.5, buffer_size: 1000,\n"
    "        normalize_observations: true, normalize_rewards: true}\n",
    # DQN updating every 3 episodes (each of the bandit's is one step) with gradient_steps -1: the chunk in
    # progress at the stop (733: one step into it; 600: just closed) must come back with the counters.
    "dqn-episodes": "algorithm: dqn\nenv: {id: %s}\n"
    "agent: {hidden_dims: [8], learning_starts: 50, train_freq: 3, train_freq_unit: episode,\n"
    "        gradient_steps: -1, batch_size: 16, update_target_every: 40, exploration_fraction: 0.5,\n"
    "        buffer_size: 1000}\n",
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
        ("dqn-normalized", "graceful", 733),
        ("dqn-normalized", "crash", 600),
        ("dqn-episodes", "graceful", 733),
        ("dqn-episodes", "crash", 600),
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

    if algorithm == "dqn-episodes":
        chunk = final_state(tmp_path / "stopped")[1]["counters"]
        assert (chunk["chunk_steps"], chunk["chunk_episodes"]) == (3, 3), "the last chunk closed at 1536"
    assert algorithm != "dqn" or any(
        k.startswith("replay_buffer") for k in final_state(tmp_path / "straight")[0]
    )
    # updates.csv keeps its cadence across the resume: a row every log_every steps counted from the last row,
    # not from the checkpoint. (A graceful stop adds one row where it stopped, with the losses since.)
    assert_same_training(tmp_path / "stopped", tmp_path / "straight", updates_csv=how == "crash")
    if algorithm == "dqn-normalized":
        arrays, state = final_state(tmp_path / "stopped")
        assert "obs_normalizer/mean" in arrays and "reward_scaler" in {
            *state,
            *(k.split("/")[0] for k in arrays),
        }


# ------------------------------------------------------------------------ continuing to a larger budget
HALF = BUDGET // 2  # the budget a run completes before it is continued to BUDGET: 12 PPO rollouts
# Schedules that do not depend on the budget (epsilon decaying per step, constant rates), and cadences the old end
# falls on (evaluations every 256 steps, updates.csv rows every 128, DQN updates every 4): a run continued from
# HALF to BUDGET can then equal one given BUDGET from the start, evaluations and loss rows included.
ALIGNED = {
    "dqn": [
        "agent.exploration_fraction=null",
        "agent.train_freq=4",
        "train.eval_every=256",
        "train.log_every=128",
    ],
    "ppo": ["train.eval_every=256", "train.log_every=128"],
}


def invoke(*args: object, sets: tuple[str, ...] | list[str] = ()):
    """`neurenix ARGS --set S...` in-process (the bandit is registered in this process only)."""
    overrides = [arg for text in sets for arg in ("--set", text)]
    result = CliRunner().invoke(app, [*map(str, args), *overrides])
    assert result.exit_code == 0, result.output
    return result


def continued(tmp_path: Path, algorithm: str, settings: list[str]) -> Path:
    """A run of the bandit config with `settings` completed at HALF steps, then continued to BUDGET."""
    run = tmp_path / "continued"
    invoke(
        "train",
        bandit_yaml(tmp_path, algorithm),
        "--run-dir",
        run,
        "--quiet",
        sets=[*settings, f"train.total_steps={HALF}"],
    )
    assert load_json(run / "summary.json")["status"] == "completed"
    result = invoke("train", "--resume", run, "--json", sets=[f"train.total_steps={BUDGET}"])
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["total_steps"] == BUDGET
    return run


@pytest.mark.parametrize("algorithm", ["dqn", "ppo"])
def test_a_completed_run_continued_to_a_larger_budget_ends_as_one_given_it_from_the_start(
    tmp_path, algorithm
):
    straight = tmp_path / "straight"
    invoke(
        "train", bandit_yaml(tmp_path, algorithm), "--run-dir", straight, "--quiet", sets=ALIGNED[algorithm]
    )
    run = continued(tmp_path, algorithm, ALIGNED[algorithm])

    assert_same_training(run, straight)
    assert any(k.startswith("replay_buffer") for k in final_state(run)[0]) == (algorithm == "dqn")
    summary, expected = load_json(run / "summary.json"), load_json(straight / "summary.json")
    for key in ("status", "total_steps", "episodes", "best_eval", "best_eval_step", "final_eval"):
        assert summary[key] == expected[key], key
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["total_steps"] == BUDGET


def epsilon(progress: float) -> float:
    """DQN's epsilon at `progress` with exploration_fraction 0.8 (from epsilon_start 1 to epsilon_end 0.01)."""
    return 1.0 + min(progress / 0.8, 1.0) * (0.01 - 1.0)


@pytest.mark.parametrize(
    ("algorithm", "settings", "expected"),
    [
        (
            "dqn",
            ["agent.exploration_fraction=0.8", "agent.train_freq=4"],
            {"epsilon": epsilon},
        ),
        (
            "ppo",
            [
                "agent.lr_schedule=linear",
                "agent.actor_learning_rate=0.0003",
                "agent.clip_schedule=linear",
                "agent.clip_ratio=0.2",
            ],
            {"learning_rate": lambda p: 0.0003 * (1 - p), "clip_range": lambda p: 0.2 * (1 - p)},
        ),
    ],
)
def test_schedules_over_the_budget_follow_the_new_total_when_a_run_continues(
    tmp_path, algorithm, settings, expected
):
    """SB3's learn(reset_num_timesteps=False): the fraction of the budget done is steps / the new total, so a
    schedule that had run its course at HALF jumps back to where the new budget's course is at HALF."""
    run = continued(tmp_path, algorithm, [*settings, "train.log_every=1"])
    logged = runs.read_csv(run / "updates.csv")
    for row in logged:  # one row per update: the values that update used
        step = int(row["step"])
        progress = step / (HALF if step <= HALF else BUDGET)
        for column, schedule in expected.items():
            assert float(row[column]) == pytest.approx(schedule(progress), rel=1e-5, abs=1e-9), (column, step)
    before = [row for row in logged if int(row["step"]) <= HALF][-1]
    after = next(row for row in logged if int(row["step"]) > HALF)
    for column in expected:
        assert float(after[column]) > float(before[column]), f"{column} did not come back past the old end"
