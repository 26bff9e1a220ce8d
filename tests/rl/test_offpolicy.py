"""DDPG, TD3 and SAC: the math each update rests on, the shared replay plumbing, save/load and determinism."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from neurenix.checkpoint import flatten_state
from neurenix.errors import ConfigError
from neurenix.nn.ensemble import QEnsemble, ensemble_linear
from neurenix.rl import DDPG, DQN, SAC, TD3, load_agent, make_env, registry
from neurenix.rl.algorithms import sac as sac_module
from neurenix.rl.algorithms import td3 as td3_module
from neurenix.rl.algorithms.off_policy import OffPolicyAgent
from neurenix.rl.distributions import TANH_EPSILON, SquashedGaussian
from neurenix.rl.environment import StepResult
from neurenix.rl.noise import OrnsteinUhlenbeckNoise
from neurenix.rl.returns import polyak_update
from neurenix.tensor import Tensor

PENDULUM_OBS = {"type": "box", "shape": (3,), "low": -8.0, "high": 8.0}
PENDULUM_ACTION = {"type": "box", "shape": (1,), "low": -2.0, "high": 2.0}
TWO_D_ACTION = {"type": "box", "shape": (2,), "low": [-1.0, 0.0], "high": [1.0, 4.0]}
ALGORITHMS = (DDPG, TD3, SAC)


def small(cls, seed=0, action_space=PENDULUM_ACTION, **kwargs):
    settings = dict(
        actor_hidden_dims=[16, 16],
        critic_hidden_dims=[16, 16],
        batch_size=32,
        buffer_size=1000,
        learning_starts=100,
        seed=seed,
    )
    settings.update(kwargs)
    return cls(PENDULUM_OBS, action_space, **settings)


def params(module):
    return np.concatenate([p.numpy().ravel() for p in module.parameters()])


def fill_replay(agent, n=200, seed=0):
    """Random transitions straight into the buffer, so an update can run without an env."""
    rng = np.random.default_rng(seed)
    action_dim = agent.buffer.actions.shape[1]
    agent.buffer.add(
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        rng.uniform(-1, 1, (n, action_dim)).astype(np.float32),
        rng.standard_normal(n).astype(np.float32),
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        (rng.random(n) < 0.1).astype(np.float32),
    )


# ------------------------------------------------------------------------------------------ squashed Gaussian
def _normal_cdf(x, mean, std):
    return 0.5 * (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0))))


def test_squashed_gaussian_log_prob_matches_a_numerical_change_of_variables():
    """log pi(a) against the density of a = tanh(u) computed from u's CDF: P(a - h < A < a + h) / 2h, less
    SB3's epsilon term: log(1 - a^2 + eps) = log(1 - a^2) + log1p(eps / (1 - a^2))."""
    mean = np.array([[0.0, 0.5], [-1.0, 2.0], [3.0, -2.5], [0.2, 0.0]], dtype=np.float64)
    log_std = np.array([[0.0, -1.0], [0.5, -0.5], [-0.3, 0.3], [-2.0, 1.0]], dtype=np.float64)
    actions, log_prob = SquashedGaussian(Tensor(mean), Tensor(log_std)).rsample(np.random.default_rng(3))
    a, std = actions.numpy().astype(np.float64), np.exp(log_std)
    numeric = np.zeros(len(a))
    for row in range(a.shape[0]):
        for i in range(a.shape[1]):
            h = 1e-5 * (1.0 - abs(a[row, i]))  # stay inside (-1, 1) where tanh saturates
            upper = _normal_cdf(math.atanh(a[row, i] + h), mean[row, i], std[row, i])
            lower = _normal_cdf(math.atanh(a[row, i] - h), mean[row, i], std[row, i])
            numeric[row] += math.log((upper - lower) / (2 * h))
    epsilon_term = np.log1p(TANH_EPSILON / (1.0 - a * a)).sum(axis=1)
    np.testing.assert_allclose(log_prob.numpy(), numeric - epsilon_term, rtol=1e-4, atol=1e-4)


def test_squashed_gaussian_caps_the_saturated_correction_as_sb3():
    """At u = 8 (std ~ 0: u is the mean) 1 - tanh(u)^2 = 4.5e-7: SB3's form gives log(1.45e-6) = -13.44 per
    dimension where the exact log(1 - tanh^2) gives -14.61; float32's 1 - a^2 is good to ~15% there."""
    mean, log_std = np.full((1, 2), 8.0, dtype=np.float32), np.full((1, 2), -20.0, dtype=np.float32)
    _, log_prob = SquashedGaussian(Tensor(mean), Tensor(log_std)).rsample(np.random.default_rng(0))
    z = np.random.default_rng(0).standard_normal((1, 2))  # the draw rsample makes
    gaussian = float(np.sum(-0.5 * z * z - 0.5 * math.log(2 * math.pi) + 20.0))
    one_minus = 1.0 - math.tanh(8.0) ** 2
    sb3 = gaussian - 2 * math.log(one_minus + TANH_EPSILON)
    exact = gaussian - 2 * math.log(one_minus)
    assert abs(float(log_prob.numpy()[0]) - sb3) < 0.3 < abs(sb3 - exact) - 0.3


# ------------------------------------------------------------------------------------------ critic ensembles
@pytest.mark.parametrize("relu", [True, False])
def test_ensemble_linear_gradients_match_finite_differences(check_grad, relu):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 1, 4))
    check_grad(lambda x, w, b: ensemble_linear(x, w, b, relu=relu), x, w, b)
    stacked = rng.standard_normal((2, 5, 3))
    check_grad(lambda x, w, b: ensemble_linear(x, w, b, relu=relu), stacked, w, b)


def test_frozen_ensemble_passes_gradient_to_its_input_only():
    critic = QEnsemble(3, 1, [8, 8], members=2, rng=np.random.default_rng(0))
    obs = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    actions = Tensor(np.zeros((6, 1), dtype=np.float32), requires_grad=True)
    critic(obs, actions, frozen=True).sum().backward()
    assert actions.grad is not None and np.abs(actions.grad.numpy()).sum() > 0
    assert all(p.grad is None for p in critic.parameters())


def test_q_ensemble_members_are_independent_critics_on_the_concatenation():
    critic = QEnsemble(3, 2, [8, 4], members=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    obs, actions = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    q = critic(obs.astype(np.float32), actions.astype(np.float32)).numpy()
    assert q.shape == (2, 5)
    layers = [(layer.weight.numpy(), layer.bias.numpy()) for layer in critic._layers]
    for k in range(2):
        h = np.concatenate([obs, actions], axis=1)
        for i, (w, b) in enumerate(layers):
            h = h @ w[k] + b[k]
            h = np.maximum(h, 0) if i < len(layers) - 1 else h
        np.testing.assert_allclose(q[k], h[:, 0], rtol=1e-5, atol=1e-5)
    first = critic(obs.astype(np.float32), actions.astype(np.float32), frozen=True, members=1).numpy()
    np.testing.assert_array_equal(first, q[:1])


# --------------------------------------------------------------------------------------------- soft updates
def test_polyak_update_moves_target_by_tau():
    target, online = Tensor(np.full(3, 1.0)), Tensor(np.array([3.0, 5.0, -1.0]))
    polyak_update([target], [online], tau=0.25)
    np.testing.assert_allclose(target.numpy(), [1.5, 2.0, 0.5])


def test_polyak_update_of_a_cloned_network_runs_on_one_array_and_matches_the_per_parameter_update():
    from neurenix import nn
    from neurenix._accel import flat_data
    from neurenix.optim import Adam

    online = nn.mlp([3, 8, 2], rng=np.random.default_rng(0))
    target = online.clone()
    # The online side is one array too while its optimizer lives, as in every algorithm.
    optimizer = Adam(online.parameters())
    for p in online.parameters():
        p.data = p.numpy() + 1.0
    assert flat_data(target.parameters()) is not None
    assert flat_data(online.parameters()) is optimizer.flat.data
    expected = [0.75 * t.numpy() + 0.25 * p.numpy() for t, p in zip(target.parameters(), online.parameters())]
    polyak_update(target.parameters(), online.parameters(), tau=0.25)
    for got, want in zip(target.parameters(), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    polyak_update(target.parameters(), online.parameters(), tau=1.0)
    for got, want in zip(target.parameters(), online.parameters()):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_cloned_network_trains_in_its_own_optimizer_buffer_and_polyak_follows_its_storage():
    from neurenix import nn
    from neurenix._accel import flat_data
    from neurenix.optim import Adam

    online = nn.mlp([3, 8, 2], rng=np.random.default_rng(0))
    Adam(online.parameters())
    whole, partial = online.clone(), online.clone()
    assert Adam(whole.parameters()).flat is not None  # one buffer, as for any fresh network
    last_layer = partial.parameters()[-2:]
    optimizer = Adam(last_layer)  # re-homes only these two: the clone's own buffer no longer holds all of it
    assert flat_data(last_layer) is optimizer.flat.data
    assert flat_data(partial.parameters()) is None
    for p in online.parameters():
        p.data = p.numpy() + 1.0
    polyak_update(partial.parameters(), online.parameters(), tau=1.0)
    for got, want in zip(partial.parameters(), online.parameters()):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_targets_follow_their_networks_by_tau_after_each_update(cls):
    agent = small(cls, tau=0.1, policy_delay=1) if cls is TD3 else small(cls, tau=0.1)
    fill_replay(agent)
    pairs = [(agent.critic_target, agent.critic)]
    if cls is not SAC:
        pairs.append((agent.actor_target, agent.actor))
    before = [params(target) for target, _ in pairs]
    np.testing.assert_array_equal(before[0], params(agent.critic))  # targets start as copies
    agent.update()
    for (target, online), old in zip(pairs, before):
        assert not np.array_equal(params(online), old)
        np.testing.assert_allclose(params(target), 0.1 * params(online) + 0.9 * old, rtol=1e-5, atol=1e-6)


def test_td3_delays_the_actor_and_the_targets():
    agent = small(TD3, policy_delay=3)
    fill_replay(agent)
    actor, target = params(agent.actor), params(agent.critic_target)
    for _ in range(2):
        losses = agent.update()
        assert "actor_loss" not in losses
    np.testing.assert_array_equal(params(agent.actor), actor)
    np.testing.assert_array_equal(params(agent.critic_target), target)
    assert "actor_loss" in agent.update()
    assert not np.array_equal(params(agent.actor), actor)
    assert not np.array_equal(params(agent.critic_target), target)


# ------------------------------------------------------------------------------------------ twin minimum
def _set_target_critics(agent, values):
    """Make target critic k output the constant values[k] for every input."""
    last = agent.critic_target._layers[-1]
    last.weight.numpy()[...] = 0.0
    last.bias.numpy()[...] = np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


@pytest.mark.parametrize("cls, module", [(TD3, td3_module), (SAC, sac_module)])
def test_target_takes_the_minimum_of_the_twin_critics(cls, module, monkeypatch):
    seen = []
    real = module.td_target
    monkeypatch.setattr(
        module, "td_target", lambda r, d, v, gamma: seen.append(v.copy()) or real(r, d, v, gamma)
    )
    agent = small(cls)
    fill_replay(agent)
    start = agent.state_dict()
    for values in ([3.0, -2.0], [-2.0, 3.0], [3.0, 3.0]):
        agent.load_state_dict(start)  # the same batch and the same sampled next actions each time
        _set_target_critics(agent, values)
        agent.update()
    np.testing.assert_allclose(seen[0], seen[1])
    np.testing.assert_allclose(seen[2] - seen[0], 5.0, rtol=1e-5)


# ------------------------------------------------------------------------------------------ temperature
@pytest.mark.parametrize("target_entropy, direction", [(50.0, 1), (-50.0, -1)])
def test_alpha_rises_below_the_target_entropy_and_falls_above_it(target_entropy, direction):
    agent = small(SAC, target_entropy=target_entropy, alpha=0.5)
    fill_replay(agent)
    losses = agent.update()
    assert np.sign(losses["alpha"] - 0.5) == direction
    assert np.sign(agent.temperature.alpha - 0.5) == direction


def test_fixed_alpha_stays_fixed_and_auto_target_is_minus_action_dim():
    agent = small(SAC, action_space=TWO_D_ACTION, auto_alpha=False, alpha=0.3)
    fill_replay(agent)
    agent.update()
    assert agent.temperature.alpha == pytest.approx(0.3) and agent.entropy_target == -2.0


# --------------------------------------------------------------------------------- replay, cadence, exploration
def test_warm_up_acts_uniformly_over_the_box_without_the_policy():
    agent = small(SAC, action_space=TWO_D_ACTION, learning_starts=2000, buffer_size=3000)
    agent._on_train_start(make_env("Pendulum-v1", n_envs=2))
    agent._sample = None  # the policy must not be consulted before learning_starts
    units, boxes = [], []
    for step in range(0, 2000, 2):
        agent.total_steps = step
        unit, box = agent._explore(np.zeros((2, 3), dtype=np.float32))
        units.append(unit)
        boxes.append(box)
    units, boxes = np.concatenate(units), np.concatenate(boxes)
    np.testing.assert_allclose(boxes, agent.replay.scaler.to_box(units))
    assert boxes[:, 0].min() >= -1.0 and boxes[:, 0].max() <= 1.0
    assert boxes[:, 1].min() >= 0.0 and boxes[:, 1].max() <= 4.0
    np.testing.assert_allclose(boxes.mean(axis=0), [0.0, 2.0], atol=0.1)
    np.testing.assert_allclose(boxes.std(axis=0), [2 / math.sqrt(12), 4 / math.sqrt(12)], rtol=0.05)
    assert len(np.unique(units[:, 0])) == len(units)  # fresh draws, not a repeated block


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_cadence_runs_gradient_steps_every_train_freq_after_learning_starts(cls):
    agent = small(cls, learning_starts=120, train_freq=4, gradient_steps=3)
    agent.train(make_env("Pendulum-v1", seed=0), total_steps=200)
    updates = len([t for t in range(1, 201) if t > 120 and t % 4 == 0])
    assert agent.updates == updates
    assert agent.critic_optimizer.step_count == 3 * updates
    assert len(agent.buffer) == 200


def test_store_keeps_the_true_final_observation_and_only_termination():
    agent = small(DDPG, noise_type="ornstein_uhlenbeck")
    agent.noise.start(2)
    for _ in range(5):
        agent.noise.sample()
    final = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    step = StepResult(
        next_obs=np.zeros((2, 3), dtype=np.float32),  # the reset observations of the next episodes
        rewards=np.array([1.0, 2.0], dtype=np.float32),
        terminated=np.array([False, True]),
        truncated=np.array([True, False]),
        final_obs=final,
        episodes=[],
    )
    before = agent.noise.x.copy()
    assert np.all(before != 0)
    agent._store(np.ones((2, 3), dtype=np.float32), np.zeros((2, 1), dtype=np.float32), step)
    np.testing.assert_array_equal(agent.buffer.next_observations[:2], final)
    np.testing.assert_array_equal(agent.buffer.terminated[:2], [0.0, 1.0])
    np.testing.assert_array_equal(agent.noise.x, 0.0)  # both episodes ended: both processes restart


def test_ornstein_uhlenbeck_noise_is_correlated_and_resets_per_env():
    noise = OrnsteinUhlenbeckNoise(0.5, 1, np.random.default_rng(0))
    noise.start(2)
    xs = np.array([noise.sample().copy() for _ in range(4000)])[:, :, 0]
    lag_one = np.corrcoef(xs[1:, 0], xs[:-1, 0])[0, 1]
    assert lag_one > 0.95
    noise.reset(np.array([True, False]))
    assert noise.x[0, 0] == 0.0 and noise.x[1, 0] == xs[-1, 1]


# ------------------------------------------------------------------------------------------- save and load
@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (DDPG, {"noise_type": "ornstein_uhlenbeck"}),
        (DDPG, {}),
        (TD3, {}),
        (SAC, {}),
        (SAC, {"auto_alpha": False}),
    ],
)
def test_save_load_gives_identical_actions_and_resumes_exactly(cls, kwargs, tmp_path):
    agent = small(cls, **kwargs)
    agent.train(make_env("Pendulum-v1", seed=0), total_steps=300)
    agent.save(tmp_path / "ckpt", include_replay_buffer=True)
    restored = load_agent(tmp_path / "ckpt")
    assert type(restored) is cls and restored.hyperparameters() == agent.hyperparameters()
    states = np.random.default_rng(0).uniform(-1, 1, (50, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        restored.predict(states, deterministic=True), agent.predict(states, deterministic=True)
    )
    for a in (agent, restored):
        a.train(make_env("Pendulum-v1", seed=7), total_steps=150)
    for name in ("actor", "critic", "critic_target"):
        np.testing.assert_array_equal(params(getattr(restored, name)), params(getattr(agent, name)))
    assert restored.state_dict().keys() == agent.state_dict().keys()
    if cls is SAC:
        assert restored.temperature.alpha == agent.temperature.alpha


class ConstantBandit(gym.Env):
    """One step per episode from the same observation, so an env restarted by a resume cannot differ."""

    observation_space = gym.spaces.Box(-8.0, 8.0, (3,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.array([0.5, -0.5, 1.0], dtype=np.float32), {}

    def step(self, action):
        return np.array([0.5, -0.5, 1.0], dtype=np.float32), -(float(action[0] - 1.0) ** 2), True, False, {}


@pytest.mark.parametrize("cls", ALGORITHMS)
@pytest.mark.parametrize("stop_at", [60, 160])  # during the warm-up (learning_starts 100), and after it
def test_a_run_resumed_from_a_checkpoint_matches_the_uninterrupted_run_bit_for_bit(cls, stop_at, tmp_path):
    straight = small(cls)
    straight.train(ConstantBandit(), total_steps=300)
    first = small(cls)
    first.train(ConstantBandit(), total_steps=stop_at)
    first.save(tmp_path / "ckpt", include_replay_buffer=True)
    resumed = load_agent(tmp_path / "ckpt")
    resumed.train(ConstantBandit(), total_steps=300 - stop_at)
    expected, got = flatten_state(straight.state_dict()), flatten_state(resumed.state_dict())
    assert got[1] == expected[1], "counters, optimizer steps and RNG state"
    assert got[0].keys() == expected[0].keys()
    for name, array in expected[0].items():
        np.testing.assert_array_equal(got[0][name], array, err_msg=name)
    np.testing.assert_array_equal(resumed.buffer.actions, straight.buffer.actions)


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_same_seed_same_numbers_and_different_seed_differs(cls):
    runs = []
    for seed in (0, 0, 1):
        agent = small(cls, seed=seed)
        result = agent.train(make_env("Pendulum-v1", seed=seed), total_steps=250)
        runs.append((result["episode_rewards"], result["critic_loss"], params(agent.actor)))
    assert runs[0][:2] == runs[1][:2]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert not np.array_equal(runs[0][2], runs[2][2])


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_actions_land_in_the_box(cls):
    agent = small(cls, action_space=TWO_D_ACTION)
    states = np.random.default_rng(0).uniform(-8, 8, (200, 3)).astype(np.float32)
    for deterministic in (True, False):
        actions = agent.predict(states, deterministic=deterministic)
        assert actions.shape == (200, 2)
        assert np.all(actions >= [-1.0, 0.0]) and np.all(actions <= [1.0, 4.0])


# ---------------------------------------------------------------------------------------- documented usage
def test_the_documented_ddpg_and_sac_usage_runs_as_written():
    env = make_env("Pendulum-v1", seed=0)
    observation_space, action_space = env.observation_space, env.action_space
    ddpg = DDPG(
        observation_space=observation_space,
        action_space=action_space,
        actor_hidden_dims=[64, 64],
        critic_hidden_dims=[64, 64],
        actor_learning_rate=0.001,
        critic_learning_rate=0.001,
        gamma=0.99,
        tau=0.005,  # Soft target update rate
        buffer_size=10000,
        batch_size=64,
        exploration_noise=0.1,  # Gaussian exploration noise
        name="DDPG",
    )
    sac = SAC(
        observation_space=observation_space,
        action_space=action_space,
        actor_hidden_dims=[64, 64],
        critic_hidden_dims=[64, 64],
        actor_learning_rate=0.0003,
        critic_learning_rate=0.0003,
        alpha_learning_rate=0.0003,  # Temperature learning rate
        gamma=0.99,
        tau=0.005,
        alpha=0.2,  # Initial temperature
        auto_alpha=True,  # Automatic temperature tuning
        buffer_size=10000,
        batch_size=64,
        name="SAC",
    )
    for agent in (ddpg, sac):
        metrics = agent.train(env=env, episodes=2, max_steps=100, verbose=True)
        assert metrics["episodes"] == 2 and metrics["total_steps"] == 200 and agent.updates == 100
        assert agent.act(np.zeros(3, dtype=np.float32)).shape == (1,)


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (DDPG, {"tau": 0.0}, "tau"),
        (DDPG, {"actor_hidden_dims": [-1]}, "actor_hidden_dims"),
        (DDPG, {"noise_type": "pink"}, "noise_type"),
        (DDPG, {"exploration_noise": -0.1}, "exploration_noise"),
        (TD3, {"policy_delay": 0}, "policy_delay"),
        (TD3, {"target_noise_clip": -1.0}, "target_noise_clip"),
        (SAC, {"alpha": 0.0}, "alpha"),
        (SAC, {"target_entropy": "high"}, "target_entropy"),
        (SAC, {"gradient_steps": 0}, "gradient_steps"),
        (SAC, {"learning_starts": -1}, "learning_starts"),
    ],
)
def test_bad_hyperparameters_raise_config_errors_naming_the_argument(cls, kwargs, name):
    with pytest.raises(ConfigError, match=name):
        small(cls, **kwargs)


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_discrete_unbounded_and_matrix_action_spaces_are_refused(cls):
    with pytest.raises(ConfigError, match="box"):
        cls(PENDULUM_OBS, {"type": "discrete", "n": 2})
    with pytest.raises(ConfigError, match="bounded"):
        cls(PENDULUM_OBS, {"type": "box", "shape": (1,)})
    with pytest.raises(ConfigError, match="1-D"):
        cls(PENDULUM_OBS, {"type": "box", "shape": (2, 2), "low": -1.0, "high": 1.0})


@pytest.mark.parametrize("algorithm", ["dqn", "ddpg", "td3", "sac"])
def test_every_off_policy_algorithm_keeps_the_bases_cadence_and_saved_state(algorithm):
    cls = registry.get(algorithm)
    assert issubclass(cls, OffPolicyAgent)
    for hook in ("_update_due", "_store", "_explore"):
        assert getattr(cls, hook) is getattr(OffPolicyAgent, hook), hook


@pytest.mark.parametrize(
    "env_id, cls, n_envs, settings",
    [
        ("CartPole-v1", DQN, 1, {"learning_starts": 100, "batch_size": 32, "train_freq": 50}),
        ("CartPole-v1", DQN, 2, {"learning_starts": 100, "batch_size": 32, "train_freq": 3}),
        ("CartPole-v1", DQN, 3, {"learning_starts": 10, "batch_size": 64, "train_freq": 4}),
        ("Pendulum-v1", SAC, 1, {"learning_starts": 10, "batch_size": 16, "actor_hidden_dims": [8]}),
    ],
)
def test_first_update_step_is_where_training_first_updates(env_id, cls, n_envs, settings):
    """The step `--check` refuses budgets below: one vectorized step less trains nothing, that step trains."""
    env = make_env(env_id, n_envs=n_envs, seed=0)
    first = cls(env.observation_space, env.action_space, seed=0, **settings).first_update_step(n_envs)
    for budget, updates in ((first - n_envs, 0), (first, 1)):
        agent = cls(env.observation_space, env.action_space, seed=0, **settings)
        agent.train(make_env(env_id, n_envs=n_envs, seed=0), total_steps=budget)
        assert agent.updates == updates, (budget, first)


@pytest.mark.parametrize("train_freq, first", [(1, 101), (4, 104), (50, 150), (101, 101)])
def test_the_first_update_comes_after_learning_starts_as_in_sb3(train_freq, first):
    """SB3 trains once num_timesteps > learning_starts: with 100 warm-up steps, step 100 never updates."""
    env = make_env("CartPole-v1", seed=0)
    agent = DQN(
        env.observation_space, env.action_space, learning_starts=100, batch_size=32, train_freq=train_freq
    )
    assert agent.first_update_step(1) == first


# ------------------------------------------------------------ RL Zoo's cadence and schedules (gradient_steps -1, lin_X)
PENDULUM_SPACES = (gym.spaces.Box(-8.0, 8.0, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
CARTPOLE_SPACES = (gym.spaces.Box(-5.0, 5.0, (4,), np.float32), gym.spaces.Discrete(2))


@pytest.mark.parametrize("algorithm", [DQN, DDPG, TD3, SAC], ids=lambda cls: cls.__name__)
def test_gradient_steps_minus_one_takes_one_gradient_step_per_env_step_since_the_last_update(algorithm):
    spaces = CARTPOLE_SPACES if algorithm is DQN else PENDULUM_SPACES
    env_id = "CartPole-v1" if algorithm is DQN else "Pendulum-v1"
    agent = algorithm(*spaces, seed=0, gradient_steps=-1, train_freq=5, learning_starts=64, batch_size=16)
    counted = []
    original = agent.update

    def counting():
        before = sum(
            int(getattr(agent, name).step_count) for name in agent._parts if name.endswith("optimizer")
        )
        losses = original()
        after = sum(
            int(getattr(agent, name).step_count) for name in agent._parts if name.endswith("optimizer")
        )
        counted.append(after - before)
        return losses

    agent.update = counting
    agent.train(make_env(env_id, n_envs=2, seed=0), total_steps=120)
    assert agent.steps_per_update == 10 and counted, "train_freq 5 x 2 envs"
    # Every optimizer steps once per gradient step, TD3's actor every policy_delay (2) of them.
    per_update = {"DQN": 10, "DDPG": 20, "TD3": 10 + 5, "SAC": 30}[algorithm.__name__]
    assert set(counted) == {per_update}, counted


def test_gradient_steps_zero_is_refused():
    with pytest.raises(ConfigError) as error:
        DQN(*CARTPOLE_SPACES, gradient_steps=0)
    assert error.value.key == "gradient_steps"


@pytest.mark.parametrize("algorithm", [DQN, DDPG, TD3, SAC], ids=lambda cls: cls.__name__)
def test_a_linear_lr_schedule_falls_from_each_rate_to_zero_over_the_budget(algorithm):
    spaces = CARTPOLE_SPACES if algorithm is DQN else PENDULUM_SPACES
    env_id = "CartPole-v1" if algorithm is DQN else "Pendulum-v1"
    agent = algorithm(*spaces, seed=0, lr_schedule="linear", learning_starts=32, batch_size=16, train_freq=4)
    seen = []
    original = agent.update

    def recording():
        losses = original()
        seen.append((agent.progress, [optimizer.lr for optimizer, _ in agent._scheduled_rates()]))
        return losses

    agent.update = recording
    agent.train(make_env(env_id, seed=0), total_steps=400)
    rates = [rate for _, rate in agent._scheduled_rates()]
    assert len(rates) == (1 if algorithm is DQN else 3 if algorithm is SAC else 2)
    for progress, lrs in seen:
        np.testing.assert_allclose(lrs, [rate * (1 - progress) for rate in rates], rtol=1e-12)
    assert seen[-1][1][0] < 0.05 * rates[0] and seen[0][1][0] > 0.9 * rates[0]
    constant = algorithm(*spaces, seed=0, learning_starts=32, batch_size=16, train_freq=4)
    constant.train(make_env(env_id, seed=0), total_steps=100)
    assert [optimizer.lr for optimizer, _ in constant._scheduled_rates()] == [
        rate for _, rate in constant._scheduled_rates()
    ]
