"""PPO and A2C: the losses by hand, acting and storing (clipping, truncation bootstrap), normalisation, save/load,
determinism, validation, and the documentation's snippets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neurenix.errors import ConfigError
from neurenix.rl import A2C, PPO, Callback, load_agent, make_env, registry
from neurenix.rl.algorithms.actor_critic import approx_kl, explained_variance
from neurenix.rl.algorithms.ppo import clipped_surrogate, clipped_value_loss
from neurenix.rl.distributions import DiagGaussian
from neurenix.rl.normalize import ObservationNormalizer, RewardScaler, RunningMeanStd
from neurenix.tensor import Tensor

CARTPOLE_OBS = {"type": "box", "shape": (4,)}
TWO_ACTIONS = {"type": "discrete", "n": 2}


def params(agent):
    return np.concatenate([p.numpy().ravel() for p in agent._parameters])


# ------------------------------------------------------------------------------------------------- losses
def test_clipped_surrogate_by_hand():
    ratios = np.array([0.5, 1.0, 1.5, 0.7])
    advantages = np.array([1.0, -1.0, 1.0, -2.0])
    old_log_prob = np.array([-1.0, -2.0, -0.5, -1.5])
    log_prob = Tensor(old_log_prob + np.log(ratios), requires_grad=True)
    loss, clip_fraction = clipped_surrogate(log_prob, old_log_prob, advantages, clip_ratio=0.2)
    # min(r A, clip(r) A): 0.5 (unclipped, r below the clip but A > 0), -1 (inside), 1.2 (clipped at 1.2),
    # -1.6 (clipped at 0.8: the pessimistic side for A < 0).
    assert loss.item() == pytest.approx(-(0.5 - 1.0 + 1.2 - 1.6) / 4, rel=1e-6)
    assert clip_fraction == pytest.approx(0.75)
    loss.backward()
    # d/dlogp of -r A / 4 where the unclipped term was chosen; zero where the clipped one was.
    np.testing.assert_allclose(log_prob.grad.numpy(), [-0.5 / 4, 1.0 / 4, 0.0, 0.0], atol=1e-7)


def test_approx_kl_is_the_low_variance_estimator():
    assert approx_kl(np.zeros(5)) == 0.0
    log_ratio = np.log(np.array([0.5, 2.0]))
    assert approx_kl(log_ratio) == pytest.approx(np.mean([(0.5 - 1) - np.log(0.5), (2 - 1) - np.log(2.0)]))
    assert approx_kl(np.random.default_rng(0).standard_normal(100)) > 0  # never negative, unlike mean(-log r)


def test_clipped_value_loss_by_hand():
    values = Tensor(np.array([1.0, 3.0, 0.0]), requires_grad=True)
    old_values, returns = np.array([0.0, 0.0, 0.0]), np.array([2.0, 0.0, 1.0])
    loss = clipped_value_loss(values, old_values, returns, clip_range=0.5)
    # SB3's form: the clipped predictions 0.5, 0.5 and 0.0 regressed on R; the first two are at the clip, so
    # only the third has a gradient. (The max form would give row 2 the plain error 9 and its gradient.)
    assert loss.item() == pytest.approx((2.25 + 0.25 + 1.0) / 3)
    loss.backward()
    np.testing.assert_allclose(values.grad.numpy(), [0.0, 0.0, 2 * -1.0 / 3])


def test_explained_variance():
    targets = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(targets, targets) == 1.0
    assert explained_variance(np.full(4, targets.mean()), targets) == pytest.approx(0.0)
    assert explained_variance(targets, np.ones(4)) == 0.0  # undefined: reported as 0, never NaN


# ---------------------------------------------------------------------------------- acting and storing
def test_continuous_actions_are_clipped_for_the_env_but_stored_and_scored_unclipped():
    env = make_env("Pendulum-v1", n_envs=64, seed=0)
    agent = PPO(env.observation_space, env.action_space, log_std_init=1.0, seed=0)
    stored, env_actions = agent._explore(env.reset(seed=0))
    assert stored.shape == (64, 1) and np.abs(stored).max() > 1.0  # std e^1: many samples leave [-1, 1]
    np.testing.assert_allclose(env_actions, 2.0 * np.clip(stored, -1.0, 1.0))  # Pendulum's box is [-2, 2]
    x, _, log_probs, _ = agent._acted
    mean = agent.actor(Tensor(x))
    np.testing.assert_allclose(
        log_probs, DiagGaussian(mean, agent.log_std).log_prob(stored).numpy(), rtol=1e-6
    )
    assert np.all(np.abs(agent.predict(x * 100, deterministic=False)) <= 2.0)


def test_truncated_steps_bootstrap_from_the_final_observation_and_terminated_ones_do_not():
    env = make_env("CartPole-v1", n_envs=8, seed=0, max_episode_steps=15)
    agent = PPO(CARTPOLE_OBS, TWO_ACTIONS, n_steps=40, n_envs=8, seed=0)
    agent._on_train_start(env)
    obs = env.reset(seed=0)
    steps = []
    for _ in range(40):
        stored, env_actions = agent._explore(obs)
        step = env.step(env_actions)
        agent._store(obs, stored, step)
        steps.append(step)
        obs = step.next_obs
    assert agent.buffer.full and agent.buffer.truncated.any() and agent.buffer.terminated.any()
    for t, step in enumerate(steps):
        np.testing.assert_array_equal(agent.buffer.truncated[t], step.truncated)
        np.testing.assert_array_equal(agent.buffer.terminated[t], step.terminated)
        expected = np.where(step.truncated, agent._values(step.final_obs), 0.0)
        np.testing.assert_allclose(agent.buffer.final_values[t], expected, rtol=1e-5, atol=1e-7)
        if step.truncated.any():  # the reset observation would have given another value
            assert not np.allclose(agent._values(step.next_obs)[step.truncated], expected[step.truncated])


def test_kl_early_stopping_cuts_the_epochs():
    def epochs(target_kl):
        agent = PPO(
            CARTPOLE_OBS,
            TWO_ACTIONS,
            n_steps=64,
            batch_size=16,
            n_epochs=10,
            actor_learning_rate=0.01,
            target_kl=target_kl,
            seed=0,
        )
        return agent.train(make_env("CartPole-v1", seed=0), total_steps=64)["epochs"]

    assert epochs(None) == 10
    assert epochs(1e-4) < 10


def test_schedules_decay_the_learning_rate_and_clip_range_linearly():
    agent = PPO(
        CARTPOLE_OBS,
        TWO_ACTIONS,
        n_steps=50,
        n_epochs=1,
        lr_schedule="linear",
        clip_schedule="linear",
        actor_learning_rate=0.001,
        critic_learning_rate=0.002,
        seed=0,
    )
    seen = []

    class Record(Callback):
        def on_update(self, info):
            seen.append(info)
            return False

    agent.train(make_env("CartPole-v1", seed=0), total_steps=200, callback=Record())
    np.testing.assert_allclose([i["learning_rate"] for i in seen], [0.00075, 0.0005, 0.00025, 0.0])
    np.testing.assert_allclose([i["clip_range"] for i in seen], [0.15, 0.1, 0.05, 0.0])
    assert agent.critic_optimizer.lr == 0.0


def test_n_envs_is_used_when_training_on_an_env_id():
    agent = A2C(CARTPOLE_OBS, TWO_ACTIONS, n_envs=3, n_steps=5, seed=0)
    result = agent.train("CartPole-v1", total_steps=30)
    assert agent.buffer.observations.shape[:2] == (5, 3) and result["updates"] == 2


# ------------------------------------------------------------------------------------------ normalisation
def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 2)) for n in (1, 7, 100, 3)]
    stats = RunningMeanStd((2,), epsilon=0.0)
    for batch in batches:
        stats.update(batch)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0))
    np.testing.assert_allclose(stats.var, everything.var(0))


def test_observation_normalizer_scales_and_clips():
    normalizer = ObservationNormalizer((2,), clip=5.0)
    normalizer.update(np.array([[0.0, 10.0], [2.0, 10.0]]))
    out = normalizer(np.array([[2.0, 10.0], [1.0, 100.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 1.0, rtol=1e-3)
    assert out[1, 0] == pytest.approx(0.0, abs=1e-3) and out[1, 1] == 5.0


def test_reward_scaler_divides_by_the_discounted_return_std_and_resets_at_episode_ends():
    scaler = RewardScaler(gamma=0.5)
    scaler.reset(2)
    scaler.update(np.array([1.0, 3.0]), np.array([False, True]))
    scaled = scaler(np.array([1.0, 3.0]))
    np.testing.assert_allclose(scaler.returns, [1.0, 0.0])  # env 1's episode ended: its return restarts
    np.testing.assert_allclose(scaled, np.array([1.0, 3.0]) / np.sqrt(scaler.stats.var + 1e-8), rtol=1e-6)
    scaler.update(np.array([1.0, 1.0]), np.array([False, False]))
    np.testing.assert_allclose(scaler.returns, [1.5, 1.0])


def test_normalisation_statistics_update_in_training_only_and_are_saved(tmp_path):
    agent = PPO(
        {"type": "box", "shape": (3,)},
        {"type": "box", "shape": (1,), "low": -2.0, "high": 2.0},
        n_steps=32,
        batch_size=32,
        n_epochs=2,
        normalize_observations=True,
        normalize_rewards=True,
        seed=0,
    )
    agent.train(make_env("Pendulum-v1", n_envs=2, seed=0), total_steps=128)
    stats = agent.obs_normalizer.state_dict()
    assert stats["count"] == pytest.approx(128 + 1e-4)
    agent.evaluate(make_env("Pendulum-v1", seed=1), episodes=1)
    agent.predict(np.ones((5, 3), dtype=np.float32) * 100)
    np.testing.assert_array_equal(agent.obs_normalizer.state_dict()["mean"], stats["mean"])  # frozen
    agent.save(tmp_path / "ckpt")
    restored = load_agent(tmp_path / "ckpt")
    np.testing.assert_array_equal(
        restored.obs_normalizer.state_dict()["mean"], agent.obs_normalizer.state_dict()["mean"]
    )
    np.testing.assert_array_equal(
        restored.obs_normalizer.state_dict()["var"], agent.obs_normalizer.state_dict()["var"]
    )
    np.testing.assert_array_equal(restored.reward_scaler.stats.var, agent.reward_scaler.stats.var)


# ------------------------------------------------------------------------------- save, load, determinism
CASES = {
    "ppo-discrete": (PPO, "CartPole-v1", dict(n_steps=32, batch_size=64, n_epochs=2)),
    "a2c-discrete": (A2C, "CartPole-v1", dict(n_steps=5)),
    "ppo-continuous": (
        PPO,
        "Pendulum-v1",
        dict(
            n_steps=32,
            batch_size=64,
            n_epochs=2,
            normalize_observations=True,
            normalize_rewards=True,
            clip_range_vf=0.2,
        ),
    ),
    "a2c-continuous": (A2C, "Pendulum-v1", dict(n_steps=8, std=0.3, optimizer="adam")),
}


@pytest.mark.parametrize("case", CASES)
def test_save_load_gives_identical_actions_and_resumes_identically(case, tmp_path):
    cls, env_id, kwargs = CASES[case]
    env = make_env(env_id, n_envs=2, seed=0)
    agent = cls(env.observation_space, env.action_space, seed=0, **kwargs)
    agent.train(env, total_steps=200)
    agent.save(tmp_path / "ckpt")
    restored = load_agent(tmp_path / "ckpt")
    assert type(restored) is cls and restored.hyperparameters() == agent.hyperparameters()
    states = np.random.default_rng(0).standard_normal((50, *env.observation_space.shape)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict(states, deterministic=True), agent.predict(states, True))
    np.testing.assert_array_equal(restored.predict(states), agent.predict(states))  # the RNG came back too
    a = agent.train(make_env(env_id, n_envs=2, seed=5), total_steps=200)
    b = restored.train(make_env(env_id, n_envs=2, seed=5), total_steps=200)
    assert a["episode_rewards"] == b["episode_rewards"] and a["updates"] == b["updates"]
    np.testing.assert_array_equal(params(agent), params(restored))


@pytest.mark.parametrize("case", ["ppo-discrete", "a2c-discrete", "ppo-continuous"])
def test_same_seed_same_numbers_and_different_seed_differs(case):
    cls, env_id, kwargs = CASES[case]
    runs = []
    for seed in (0, 0, 1):
        env = make_env(env_id, n_envs=2, seed=seed)
        agent = cls(env.observation_space, env.action_space, seed=seed, **kwargs)
        result = agent.train(env, total_steps=200)
        runs.append((result["policy_loss"], params(agent)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "cls, bad",
    [
        (PPO, {"clip_ratio": 0.0}),
        (PPO, {"target_kl": -0.01}),
        (PPO, {"batch_size": 0}),
        (PPO, {"clip_schedule": "cosine"}),
        (PPO, {"clip_range_vf": 0}),
        (A2C, {"n_steps": 0}),
        (A2C, {"lr_schedule": "exponential"}),
        (A2C, {"optimizer": "sgd"}),
        (A2C, {"actor_hidden_dims": [0]}),
        (A2C, {"gae_lambda": 1.5}),
        (A2C, {"std": 0.0}),
        (A2C, {"activation": "gelu"}),
    ],
)
def test_bad_hyperparameters_are_config_errors_that_name_the_argument(cls, bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        cls(CARTPOLE_OBS, TWO_ACTIONS, **bad)


def test_unbounded_continuous_actions_are_refused():
    with pytest.raises(ConfigError, match="bounded"):
        PPO(CARTPOLE_OBS, {"type": "box", "shape": (2,)})


def test_registered_and_hyperparameters_cover_every_constructor_argument():
    import inspect

    for name, cls in (("a2c", A2C), ("ppo", PPO)):
        assert registry.get(name) is cls
        agent = cls(CARTPOLE_OBS, TWO_ACTIONS)
        expected = set(inspect.signature(cls).parameters) - {"observation_space", "action_space", "seed"}
        assert set(agent.hyperparameters()) == expected


def test_the_documentation_snippets_run():
    observation_space = {"type": "box", "shape": (4,), "dim": 4}
    action_space = {"type": "discrete", "n": 2}
    agent = A2C(
        observation_space=observation_space,
        action_space=action_space,
        actor_hidden_dims=[64, 64],
        critic_hidden_dims=[64, 64],
        actor_learning_rate=0.0003,
        critic_learning_rate=0.001,
        gamma=0.99,
        entropy_coef=0.01,
        value_coef=0.5,
        max_grad_norm=0.5,
        name="A2C",
    )
    metrics = agent.train(env=gym.make("CartPole-v1"), episodes=3, max_steps=200, verbose=False)
    assert metrics["episodes"] == 3 and agent.updates > 0
    agent = PPO(
        observation_space=observation_space,
        action_space=action_space,
        actor_hidden_dims=[64, 64],
        critic_hidden_dims=[64, 64],
        actor_learning_rate=0.0003,
        critic_learning_rate=0.001,
        gamma=0.99,
        gae_lambda=0.95,
        clip_ratio=0.2,
        target_kl=0.01,
        value_coef=0.5,
        entropy_coef=0.01,
        max_grad_norm=0.5,
        name="PPO",
        n_steps=64,
    )
    metrics = agent.train(env=gym.make("CartPole-v1"), episodes=3, max_steps=200, verbose=False)
    assert metrics["episodes"] == 3
    continuous = A2C(
        observation_space=observation_space,
        action_space={"type": "box", "shape": (2,), "low": -1.0, "high": 1.0},
    )
    assert continuous.act(np.zeros(4, dtype=np.float32)).shape == (2,)
