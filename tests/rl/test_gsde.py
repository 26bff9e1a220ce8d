"""gSDE: the state-dependent Gaussian against its closed form and finite differences, expln, the held exploration
matrices' cadence, and SAC with `use_sde` saving, resuming and training its log-std matrix."""

from __future__ import annotations

import numpy as np
import pytest

from neurenix.rl.distributions import SDE_EPSILON, StateDependentGaussian, expln
from neurenix.rl.noise import ExplorationMatrices
from neurenix.tensor import Tensor

RNG = np.random.default_rng(3)
FEATURES = np.abs(RNG.standard_normal((5, 4)))  # ReLU features of 5 states, L = 4
MEAN = RNG.standard_normal((5, 3)) * 0.5  # A = 3
LOG_STD = RNG.standard_normal((4, 3)) * 0.5 - 1.0
EPS = RNG.standard_normal((4, 3))


def closed_form_sigma(log_std: np.ndarray) -> np.ndarray:
    return np.sqrt(FEATURES**2 @ np.exp(log_std) ** 2 + SDE_EPSILON)


def test_log_prob_and_entropy_are_the_gaussian_of_the_state_dependent_variance():
    actions = RNG.standard_normal((5, 3))
    dist = StateDependentGaussian(Tensor(MEAN), FEATURES, Tensor(np.exp(LOG_STD)), squash=False)
    sigma = closed_form_sigma(LOG_STD)
    density = (-0.5 * ((actions - MEAN) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(actions).numpy(), density, rtol=1e-5)
    entropy = (np.log(sigma) + 0.5 * (1 + np.log(2 * np.pi))).sum(-1)
    np.testing.assert_allclose(dist.entropy().numpy(), entropy, rtol=1e-6)
    np.testing.assert_array_equal(dist.mode(), MEAN)


def test_one_held_matrix_moves_every_state_by_its_features_times_w():
    std = np.exp(LOG_STD)
    dist = StateDependentGaussian(Tensor(MEAN), FEATURES, Tensor(std), squash=False)
    np.testing.assert_allclose(dist.sample(EPS), MEAN + FEATURES @ (std * EPS), rtol=1e-5)
    per_env = RNG.standard_normal((5, 4, 3))
    expected = MEAN + np.stack([FEATURES[i] @ (std * per_env[i]) for i in range(5)])
    np.testing.assert_allclose(dist.sample(per_env), expected, rtol=1e-5)
    squashed = StateDependentGaussian(Tensor(MEAN), FEATURES, Tensor(std), squash=True)
    np.testing.assert_allclose(squashed.sample(EPS), np.tanh(MEAN + FEATURES @ (std * EPS)), rtol=1e-5)
    np.testing.assert_allclose(squashed.mode(), np.tanh(MEAN), rtol=1e-6)


def test_samples_over_fresh_matrices_have_the_variance_log_prob_uses():
    std = np.exp(LOG_STD)
    dist = StateDependentGaussian(Tensor(MEAN[:1]), FEATURES[:1], Tensor(std), squash=False)
    draws = np.random.default_rng(0).standard_normal((4000, 4, 3))
    samples = np.stack([dist.sample(eps)[0] for eps in draws])
    np.testing.assert_allclose(samples.std(0), closed_form_sigma(LOG_STD)[0], rtol=0.05)


def test_gradients_match_finite_differences(check_grad):
    def rsampled(mean, log_std):
        actions, log_prob = StateDependentGaussian(mean, FEATURES, log_std.exp(), squash=True).rsample(EPS)
        return actions.sum(dim=-1) + log_prob

    check_grad(rsampled, MEAN, LOG_STD)
    actions = RNG.standard_normal((5, 3))
    check_grad(
        lambda m, s: StateDependentGaussian(m, FEATURES, s.exp(), squash=False).log_prob(actions),
        MEAN,
        LOG_STD,
    )
    check_grad(lambda s: StateDependentGaussian(Tensor(MEAN), FEATURES, expln(s), False).entropy(), LOG_STD)


def test_rsample_log_prob_is_the_density_of_u_minus_the_tanh_jacobian():
    std = np.exp(LOG_STD)
    actions, log_prob = StateDependentGaussian(Tensor(MEAN), FEATURES, Tensor(std), squash=True).rsample(EPS)
    u = MEAN + FEATURES @ (std * EPS)
    sigma = closed_form_sigma(LOG_STD)
    density = (-0.5 * ((u - MEAN) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(actions.numpy(), np.tanh(u), rtol=1e-5)
    np.testing.assert_allclose(
        log_prob.numpy(), density - np.log(1 - np.tanh(u) ** 2 + 1e-6).sum(-1), rtol=1e-4
    )


def test_expln_is_exp_below_zero_and_logarithmic_above(check_grad):
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, 40.0])
    np.testing.assert_allclose(
        expln(Tensor(x)).numpy(), np.where(x <= 0, np.exp(np.minimum(x, 0)), np.log1p(np.maximum(x, 0)) + 1)
    )
    assert expln(Tensor(np.array([40.0]))).numpy()[0] < 5.0, "grows like a log, not an exp"
    check_grad(expln, np.array([-3.0, -0.5, -1e-3, 1e-3, 0.5, 3.0]))


def test_exploration_matrices_are_held_within_a_chunk_and_redrawn_at_its_start_and_every_sample_freq():
    held = ExplorationMatrices(4, 3, sample_freq=-1, rng=np.random.default_rng(0))
    first = held.before_step(0, n_envs=2).copy()
    assert first.shape == (2, 4, 3)
    for step in range(1, 8):
        np.testing.assert_array_equal(held.before_step(step, 2), first)
    assert not np.array_equal(held.before_step(0, 2), first), "a new chunk draws new matrices"
    every_3 = ExplorationMatrices(4, 3, sample_freq=3, rng=np.random.default_rng(0))
    seen = [every_3.before_step(step, 1).copy() for step in range(7)]
    changes = [step for step in range(1, 7) if not np.array_equal(seen[step], seen[step - 1])]
    assert changes == [3, 6]
    restored = ExplorationMatrices(4, 3, sample_freq=3, rng=np.random.default_rng(9))
    restored.load_state_dict(every_3.state_dict())
    np.testing.assert_array_equal(restored.before_step(7, 1), every_3.before_step(7, 1))


@pytest.fixture
def pendulum_sde():
    import gymnasium as gym

    from neurenix.rl import SAC

    env = gym.make("Pendulum-v1")

    def make(seed=0, use_sde=True):
        return SAC(
            env.observation_space,
            env.action_space,
            seed=seed,
            use_sde=use_sde,
            actor_hidden_dims=[16, 16],
            critic_hidden_dims=[16, 16],
            learning_starts=50,
            batch_size=32,
            train_freq=8,
            gradient_steps=8,
        )

    return make


def test_sac_with_gsde_trains_its_log_std_matrix_and_saves_the_held_matrices(pendulum_sde, tmp_path):
    from neurenix.rl import load_agent

    agent = pendulum_sde()
    assert agent.actor.log_std.shape == (16, 1)
    start = agent.actor.log_std.numpy().copy()
    agent.train("Pendulum-v1", total_steps=203)  # mid-chunk: 203 is not a multiple of train_freq 8
    assert agent.updates > 0 and not np.array_equal(agent.actor.log_std.numpy(), start)
    agent.save(tmp_path / "ckpt")
    resumed = load_agent(tmp_path / "ckpt")
    np.testing.assert_array_equal(resumed.exploration.eps, agent.exploration.eps)
    # Mid-chunk the held matrix is used as it is: the restored agent explores exactly as the saved one would.
    obs = np.array([[0.3, -0.9, 1.5]], dtype=np.float32)
    np.testing.assert_array_equal(resumed._act(obs), agent._act(obs))
    without = pendulum_sde(use_sde=False)
    assert "exploration" not in without.state_dict() and without.actor.log_std.__class__.__name__ == "Linear"


def test_a_stochastic_predict_leaves_the_held_matrices_alone(pendulum_sde):
    agent = pendulum_sde()
    agent.train("Pendulum-v1", total_steps=60)
    held = agent.exploration.eps.copy()
    actions = agent.predict(np.zeros((3, 3), dtype=np.float32))
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2.0)
    np.testing.assert_array_equal(agent.exploration.eps, held)


def test_ppo_with_gsde_holds_one_matrix_per_env_for_sample_freq_steps_of_a_rollout():
    import gymnasium as gym

    from neurenix.rl import PPO

    env = gym.make("Pendulum-v1")
    agent = PPO(
        env.observation_space,
        env.action_space,
        seed=0,
        use_sde=True,
        sde_sample_freq=4,
        n_envs=2,
        n_steps=16,
        batch_size=32,
        n_epochs=1,
        actor_hidden_dims=[8, 8],
        critic_hidden_dims=[8],
    )
    assert agent.log_std.shape == (8, 1)
    seen = []
    original = agent.exploration.before_step

    def recording(step_in_rollout, n_envs):
        eps = original(step_in_rollout, n_envs)
        seen.append((step_in_rollout, eps.copy()))
        return eps

    agent.exploration.before_step = recording
    start = agent.log_std.numpy().copy()
    agent.train("Pendulum-v1", total_steps=64)
    assert [step for step, _ in seen] == [*range(16), *range(16)]
    assert all(eps.shape == (2, 8, 1) for _, eps in seen)
    redrawn = [i for i in range(1, 32) if not np.array_equal(seen[i][1], seen[i - 1][1])]
    assert redrawn == [4, 8, 12, 16, 20, 24, 28]
    assert agent.updates == 2 and not np.array_equal(agent.log_std.numpy(), start), (
        "the log-std matrix learns"
    )


@pytest.mark.parametrize(
    ("settings", "key"),
    [({"std": 0.5}, "std"), ({}, "use_sde")],
)
def test_ppo_refuses_gsde_with_a_fixed_std_or_discrete_actions(settings, key):
    import gymnasium as gym

    from neurenix.errors import ConfigError
    from neurenix.rl import PPO

    env = gym.make("Pendulum-v1" if settings else "CartPole-v1")
    with pytest.raises(ConfigError) as error:
        PPO(env.observation_space, env.action_space, use_sde=True, **settings)
    assert error.value.key == key


def test_forward_with_features_is_the_forward_and_its_last_hidden_layer(check_grad):
    from neurenix import nn

    net = nn.mlp([3, 5, 4, 2], "tanh", rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    features, out = net.forward_with_features(Tensor(x))
    np.testing.assert_allclose(out.numpy(), net(Tensor(x)).numpy(), rtol=1e-6)
    hidden = np.tanh(
        np.tanh(x @ net[0].weight.numpy().T + net[0].bias.numpy()) @ net[2].weight.numpy().T
        + net[2].bias.numpy()
    )
    np.testing.assert_allclose(features.numpy(), hidden, rtol=1e-5, atol=1e-6)
