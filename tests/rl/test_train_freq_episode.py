"""`train_freq_unit: episode` (SB3's `train_freq=(n, "episode")`): an update where the n-th episode since the
last collection chunk ends, counted over all envs; `gradient_steps: -1` then takes one gradient step per env
step of that chunk; the chunk in progress is saved with the counters; SAC's gSDE redraws where a chunk opens."""

from __future__ import annotations

import numpy as np
import pytest

from neurenix.rl import DQN, SAC, TD3, make_env
from neurenix.rl.callbacks import Callback


class Recorder(Callback):
    """total_steps of every update, and of every step at which episodes ended (with how many)."""

    def __init__(self) -> None:
        self.updates: list[int] = []
        self.ends: dict[int, int] = {}

    def on_update(self, info: dict) -> bool:
        self.updates.append(info["total_steps"])
        return False

    def on_episode_end(self, info: dict) -> bool:
        self.ends[info["total_steps"]] = self.ends.get(info["total_steps"], 0) + 1
        return False


def dqn(**settings):
    env = make_env("CartPole-v1", seed=0)
    base = dict(hidden_dims=[16], batch_size=16, learning_starts=60, train_freq_unit="episode", seed=0)
    return DQN(env.observation_space, env.action_space, **{**base, **settings})


def chunk_ends(ends: dict[int, int], every: int) -> list[tuple[int, int]]:
    """(total_steps, env steps of the chunk) where chunks close, computed from the episode ends alone."""
    closes, count, opened = [], 0, 0
    for total in sorted(ends):
        count += ends[total]
        if count >= every:
            closes.append((total, total - opened))
            count, opened = 0, total
    return closes


@pytest.mark.parametrize("n_envs, every", [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3)])
def test_updates_come_exactly_where_the_nth_episode_since_the_last_chunk_ends(n_envs, every):
    agent, recorder = dqn(train_freq=every), Recorder()
    agent.train(make_env("CartPole-v1", n_envs=n_envs, seed=0), total_steps=600, callback=recorder)
    expected = [total for total, _ in chunk_ends(recorder.ends, every) if total > agent.learning_starts]
    assert len(expected) >= 5 and recorder.updates == expected
    if every == 1 and n_envs == 1:
        # Every episode end after the warm-up, and nothing in between (CartPole's lengths vary).
        assert recorder.updates == [total for total in sorted(recorder.ends) if total > 60]


@pytest.mark.parametrize("n_envs", [1, 2])
def test_gradient_steps_minus_one_takes_the_env_steps_of_the_chunk(n_envs):
    agent, recorder = dqn(train_freq=2, gradient_steps=-1), Recorder()
    taken = []
    original = agent.update

    def counting():
        before = agent.optimizer.step_count
        losses = original()
        taken.append(int(agent.optimizer.step_count - before))
        return losses

    agent.update = counting
    agent.train(make_env("CartPole-v1", n_envs=n_envs, seed=0), total_steps=600, callback=recorder)
    expected = [steps for total, steps in chunk_ends(recorder.ends, 2) if total > agent.learning_starts]
    assert len(expected) >= 3 and taken == expected
    assert len(set(taken)) > 1, "chunks of episodes differ in length, and so do the updates"


def test_the_step_unit_is_unchanged_and_only_the_episode_unit_saves_its_chunk():
    steps, episodes = dqn(train_freq_unit="step", train_freq=4), dqn(train_freq=2)
    assert steps.first_update_step(1) == 64 and episodes.first_update_step(1) is None
    earliest = max(
        episodes.learning_starts + 1, episodes.batch_size
    )  # then the first chunk of episodes must end
    assert episodes.no_update_before(1) == earliest and episodes.no_update_before(7) == 7 * -(-earliest // 7)
    assert steps.no_update_before(1) == 64
    for agent in (steps, episodes):
        agent.train(make_env("CartPole-v1", seed=0), total_steps=150)
    assert set(steps.state_dict()["counters"]) == {"total_steps", "episodes", "updates"}
    assert {"chunk_steps", "chunk_episodes"} <= set(episodes.state_dict()["counters"])


def test_the_chunk_in_progress_survives_a_checkpoint(tmp_path):
    agent = dqn(train_freq=3, gradient_steps=-1)
    agent.train(make_env("CartPole-v1", seed=0), total_steps=137)
    assert agent._chunk_steps > 0, "stopped mid-chunk"
    agent.save(tmp_path / "ckpt")
    loaded = dqn(train_freq=3, gradient_steps=-1)
    loaded.load(tmp_path / "ckpt")
    assert (loaded._chunk_steps, loaded._chunk_episodes) == (agent._chunk_steps, agent._chunk_episodes)
    assert loaded.steps_per_update == agent.steps_per_update == agent._chunk_steps
    # A state without them (every checkpoint from before train_freq_unit, all step-unit) loads with zeros.
    old = agent.state_dict()
    old["counters"] = {name: old["counters"][name] for name in ("total_steps", "episodes", "updates")}
    fresh = dqn(train_freq=3)
    fresh.load_state_dict(old)
    assert (fresh._chunk_steps, fresh._chunk_episodes) == (0, 0)
    old["counters"]["chunk_steps"] = -1
    with pytest.raises(ValueError, match="chunk_steps"):
        fresh.load_state_dict(old)


def test_gsde_redraws_its_matrices_where_an_episode_chunk_opens():
    env = make_env("Pendulum-v1", seed=0, max_episode_steps=15)
    agent = SAC(
        env.observation_space,
        env.action_space,
        use_sde=True,
        train_freq=2,
        train_freq_unit="episode",
        learning_starts=0,
        batch_size=8,
        actor_hidden_dims=[8],
        critic_hidden_dims=[8],
        seed=0,
    )
    seen = []
    original = agent.exploration.before_step

    def recording(step_in_chunk, n_envs):
        seen.append(step_in_chunk)
        return original(step_in_chunk, n_envs)

    agent.exploration.before_step = recording
    agent.train(env, total_steps=75)
    # Episodes of 15 steps, chunks of two: each chunk's 30 steps are numbered 0..29.
    assert seen == [*range(30), *range(30), *range(15)]


@pytest.mark.learning
def test_td3_learns_pendulum_with_rl_zoos_episode_cadence():
    """RL Zoo's TD3 Pendulum cadence (an update after every episode, gradient_steps -1, gamma 0.98, Gaussian
    noise 0.1), with the small networks and shorter warm-up of test_learning_offpolicy.py."""
    env = make_env("Pendulum-v1", seed=0)
    agent = TD3(
        env.observation_space,
        env.action_space,
        train_freq=1,
        train_freq_unit="episode",
        gradient_steps=-1,
        gamma=0.98,
        learning_starts=1000,
        actor_hidden_dims=[64, 64],
        critic_hidden_dims=[64, 64],
        batch_size=128,
        seed=0,
    )
    result = agent.train(env, total_steps=8000)
    assert result["updates"] == 35, (
        "one per 200-step episode after step 1000 (SB3: num_timesteps > learning_starts)"
    )
    mean = float(np.mean(agent.evaluate(make_env("Pendulum-v1", seed=100), episodes=10)))
    assert mean >= -600
