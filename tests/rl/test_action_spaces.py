"""MultiDiscrete and MultiBinary actions for A2C and PPO, invalid-action masking for PPO, A2C and DQN, and the
refusal of action spaces an algorithm cannot take. The learning tests use the envs of `action_envs`, where a
policy that gets its action space or its masks wrong stays far below the thresholds."""

from __future__ import annotations

import action_envs
import gymnasium as gym
import numpy as np
import pytest
from action_envs import MaskedMatchEnv, PickLowestEnv, PickLowestMaskedEnv

from neurenix.errors import ConfigError
from neurenix.nn import functional as F
from neurenix.rl import A2C, DQN, PPO, SAC, Agent, make_env
from neurenix.rl.environment import VecEnv
from neurenix.rl.policy import RandomPolicy
from neurenix.rl.registry import load_agent, supporting
from neurenix.rl.spaces import flat_dim, space_type, to_gym_space, to_spec
from neurenix.tensor import Tensor

SMALL_ON_POLICY = {
    "actor_hidden_dims": [32],
    "critic_hidden_dims": [32],
    "actor_learning_rate": 3e-3,
    "critic_learning_rate": 3e-3,
    "entropy_coef": 0.0,
}
PPO_SETTINGS = {**SMALL_ON_POLICY, "n_steps": 32, "batch_size": 64, "n_epochs": 4, "target_kl": None}
A2C_SETTINGS = {**SMALL_ON_POLICY, "n_steps": 8}


@pytest.fixture(scope="module", autouse=True)
def registered():
    action_envs.register()


def trained(cls, env_id: str, steps: int, action_mask_key: str | None = None, **settings):
    env = make_env(env_id, n_envs=4, seed=0, action_mask_key=action_mask_key)
    defaults = PPO_SETTINGS if cls is PPO else A2C_SETTINGS
    agent = cls(env.observation_space, env.action_space, seed=0, n_envs=4, **{**defaults, **settings})
    agent.train(env, total_steps=steps)
    return agent


def mean_return(agent, env_id: str, deterministic: bool = True, action_mask_key: str | None = None) -> float:
    env = make_env(env_id, seed=123, action_mask_key=action_mask_key)
    return float(np.mean(agent.evaluate(env, episodes=50, deterministic=deterministic)))


# ------------------------------------------------------------------------------------------ specs
@pytest.mark.parametrize(
    "space, spec",
    [
        (gym.spaces.MultiDiscrete([3, 4]), {"type": "multi_discrete", "nvec": [3, 4]}),
        (gym.spaces.MultiBinary(5), {"type": "multi_binary", "n": 5}),
    ],
)
def test_multi_spaces_round_trip_through_their_json_specs(space, spec):
    assert to_spec(space) == spec
    assert to_gym_space(spec) == space and to_spec(to_gym_space(spec)) == spec
    assert space_type(space) == spec["type"]
    assert flat_dim(space) == (7 if spec["type"] == "multi_discrete" else 5)


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.MultiDiscrete([[2, 3], [2, 2]]),
        gym.spaces.MultiDiscrete([3, 3], start=[1, 0]),
        gym.spaces.MultiBinary([2, 3]),
    ],
)
def test_action_space_forms_a_network_head_cannot_produce_are_refused(space):
    # Observations take a nonzero start and a 2-D MultiBinary (the front-end encodes them); actions do not.
    with pytest.raises(ConfigError, match="MultiDiscrete|MultiBinary"):
        PPO(gym.spaces.Box(-1, 1, (2,), np.float32), space)


@pytest.mark.parametrize("spec", [{"type": "multi_discrete", "nvec": []}, {"type": "multi_binary", "n": 0}])
def test_bad_multi_space_specs_name_the_field(spec):
    with pytest.raises(ValueError, match="'nvec'|'n'"):
        to_gym_space(spec)


# ------------------------------------------------------------------------ multi-discrete, multi-binary
def test_ppo_learns_multi_discrete_actions_component_by_component():
    agent = trained(PPO, "NeurenixMatch-v0", 4000)
    assert agent.buffer.actions.shape == (32, 4, 2) and agent.buffer.actions.dtype == np.int64
    # 4.0 is every component right at every step; getting only one component right earns at most 2.67.
    assert mean_return(agent, "NeurenixMatch-v0") >= 3.8


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_multi_binary_actions_are_learned(cls):
    agent = trained(cls, "NeurenixBits-v0", 4000)
    assert agent.buffer.actions.shape[2:] == (4,) and agent.buffer.actions.dtype == np.int8
    assert mean_return(agent, "NeurenixBits-v0") >= 3.8  # 4.0 copies every bit, a uniform policy 2.0


@pytest.mark.parametrize("env_id", ["NeurenixMatch-v0", "NeurenixBits-v0"])
def test_a_multi_action_agent_round_trips_through_a_checkpoint(env_id, tmp_path):
    agent = trained(PPO, env_id, 256)
    agent.save(tmp_path / "ckpt")
    loaded = load_agent(tmp_path / "ckpt")
    assert to_spec(loaded.action_space) == to_spec(agent.action_space)
    obs = np.stack([agent.observation_space.sample() for _ in range(16)])
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True), agent.predict(obs, deterministic=True)
    )
    env = make_env(env_id, n_envs=4, seed=5)
    first, second = (
        agent.train(env, total_steps=128),
        loaded.train(make_env(env_id, n_envs=4, seed=5), total_steps=128),
    )
    assert first["episode_rewards"] == second["episode_rewards"]


# ------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "cls, space, kind",
    [
        (SAC, gym.spaces.Discrete(3), "discrete"),
        (DQN, gym.spaces.MultiDiscrete([2, 3]), "multi_discrete"),
        (DQN, gym.spaces.MultiBinary(3), "multi_binary"),
        (SAC, gym.spaces.MultiBinary(3), "multi_binary"),
    ],
)
def test_an_action_space_an_algorithm_cannot_take_is_refused_at_construction(cls, space, kind):
    box = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    with pytest.raises(ConfigError) as error:
        cls(box, space)
    message = str(error.value)
    assert str(to_spec(space)) in message and f"{kind} space" in message and "agent:" not in message
    assert kind not in cls.action_space_types and cls.__name__.lower() not in supporting(kind)
    assert set(supporting(kind)) >= ({"a2c", "ppo"} if kind != "discrete" else {"dqn", "a2c", "ppo"})


# ----------------------------------------------------------------------------------- action masking
def test_ppo_with_masks_reaches_a_return_unmasked_play_cannot():
    masked = trained(PPO, "NeurenixPickLowestMasked-v0", 4000)
    PickLowestEnv.invalid_actions = 0
    # 10 takes the lower valid action every step; a uniform choice among the valid ones earns 5.
    assert mean_return(masked, "NeurenixPickLowestMasked-v0") >= 9.9
    assert mean_return(masked, "NeurenixPickLowestMasked-v0", deterministic=False) >= 9.5
    assert PickLowestEnv.invalid_actions == 0
    unmasked = trained(PPO, "NeurenixPickLowest-v0", 4000)  # no action_mask_key: the info is not read
    assert unmasked.buffer.action_masks is None
    assert mean_return(unmasked, "NeurenixPickLowest-v0") < 2.0
    assert PickLowestEnv.invalid_actions > 0


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_masks_from_an_info_key_are_honoured_in_training_and_evaluation(cls):
    PickLowestEnv.invalid_actions = 0
    agent = trained(cls, "NeurenixPickLowest-v0", 2000, action_mask_key="action_mask")
    assert (
        agent.buffer.action_masks.shape == (agent.n_steps, 4, 4) and agent.buffer.action_masks.dtype == bool
    )
    for deterministic in (True, False):
        mean_return(agent, "NeurenixPickLowest-v0", deterministic, action_mask_key="action_mask")
    assert PickLowestEnv.invalid_actions == 0
    assert agent.episodes > 0


def test_multi_discrete_masks_are_honoured_per_component():
    MaskedMatchEnv.violations = 0
    agent = trained(PPO, "NeurenixMaskedMatch-v0", 2000)
    assert agent.buffer.action_masks.shape == (32, 4, 7)
    assert (
        mean_return(agent, "NeurenixMaskedMatch-v0") >= 3.8
    )  # the first component learned, the second given
    mean_return(agent, "NeurenixMaskedMatch-v0", deterministic=False)
    assert MaskedMatchEnv.violations == 0


def test_stored_log_probabilities_are_those_of_the_masked_distribution():
    env = make_env("NeurenixPickLowestMasked-v0", n_envs=8, seed=0)
    agent = PPO(env.observation_space, env.action_space, seed=0, n_envs=8, n_steps=1, ortho_init=False)
    obs = env.reset(seed=0)
    agent._on_train_start(env)
    agent._action_masks = env.action_masks
    actions, _ = agent._explore(obs)
    agent._store(obs, actions, env.step(actions))
    batch = agent.buffer.full_batch()
    np.testing.assert_array_equal(batch.action_masks, agent._acted[3])
    log_prob, _, _ = agent._evaluate(batch.observations, batch.actions, batch.action_masks)
    np.testing.assert_allclose(log_prob.numpy(), batch.old_log_prob, rtol=1e-6)
    unmasked, _, _ = agent._evaluate(batch.observations, batch.actions)
    assert np.all(unmasked.numpy() < batch.old_log_prob - 0.5)  # 2 of 4 allowed: log 2 apart, about


@pytest.mark.parametrize("double_q", [False, True])
def test_dqn_never_takes_a_masked_action_in_training_or_evaluation(double_q):
    env = make_env("NeurenixPickLowestMasked-v0", n_envs=2, seed=0)
    agent = DQN(
        env.observation_space,
        env.action_space,
        seed=0,
        hidden_dims=[32],
        learning_starts=200,
        batch_size=32,
        exploration_fraction=0.5,
        epsilon_end=0.1,
        train_freq=2,
        buffer_size=5000,
        update_target_every=200,
        double_q=double_q,
    )
    PickLowestEnv.invalid_actions = 0
    result = agent.train(env, total_steps=4000)
    assert PickLowestEnv.invalid_actions == 0 and result["episodes"] >= 400 // 2
    assert agent.buffer.next_action_masks[: len(agent.buffer)].sum(axis=1).tolist() == [2] * len(agent.buffer)
    assert mean_return(agent, "NeurenixPickLowestMasked-v0") >= 9.9  # it learned to prefer the lower action
    mean_return(agent, "NeurenixPickLowestMasked-v0", deterministic=False)  # epsilon's random actions too
    assert PickLowestEnv.invalid_actions == 0


def test_dqn_targets_take_the_max_over_the_next_states_allowed_actions():
    env = make_env("NeurenixPickLowestMasked-v0", seed=0)
    agent = DQN(env.observation_space, env.action_space, seed=0, hidden_dims=[8], batch_size=16, loss="mse")
    rng = np.random.default_rng(0)
    agent.buffer.store_action_masks(4)
    masks = np.zeros((16, 4), dtype=bool)
    masks[np.arange(16), rng.integers(0, 4, 16)] = True
    obs, next_obs = rng.standard_normal((16, 2)), rng.standard_normal((16, 2))
    actions, rewards, terminated = rng.integers(0, 4, 16), rng.standard_normal(16), np.zeros(16)
    agent.buffer.add(obs, actions, rewards, next_obs, terminated, masks)
    # Every sampled row is one of the 16 stored; the loss follows from the target network's allowed values.
    agent.buffer.rng = np.random.default_rng(1)
    index = np.random.default_rng(1).integers(0, 16, size=(1, 16))[0]
    next_q = agent.target_network(Tensor(next_obs[index].astype(np.float32))).numpy()
    targets = rewards[index] + agent.gamma * np.where(masks[index], next_q, -np.inf).max(axis=1)
    q = agent.q_network(Tensor(obs[index].astype(np.float32)))
    expected = F.action_value_loss(q, actions[index], targets.astype(np.float32), "mse").item()
    assert np.isclose(agent.update()["loss"], expected, rtol=1e-5)
    unmasked = rewards[index] + agent.gamma * next_q.max(axis=1)
    assert not np.allclose(targets, unmasked)  # the masks changed the targets: the check can tell


def test_a_mask_forbidding_every_action_is_refused():
    class NoneAllowed(PickLowestMaskedEnv):
        def action_masks(self):
            return np.zeros(4, dtype=bool)

    with pytest.raises(ConfigError, match="at least one True"):
        VecEnv([NoneAllowed()]).reset(seed=0)


def test_an_agent_that_cannot_mask_refuses_an_env_that_masks():
    env = VecEnv([PickLowestMaskedEnv()])
    assert env.masks_actions and not make_env("CartPole-v1").masks_actions
    agent = Agent(RandomPolicy(env.action_space, seed=0), observation_space=env.observation_space)
    with pytest.raises(ConfigError, match="invalid-action masks"):
        agent.train(env, total_steps=10, configure_runtime=False)
    with pytest.raises(ConfigError, match="invalid-action masks"):
        agent.evaluate(env, episodes=1)


def test_dqn_replay_masks_survive_a_checkpoint_and_training_goes_on_identically(tmp_path):
    def dqn():
        env = make_env("NeurenixPickLowestMasked-v0", seed=0)
        settings = {"hidden_dims": [16], "learning_starts": 50, "batch_size": 16, "buffer_size": 1000}
        return DQN(env.observation_space, env.action_space, seed=0, **settings)

    agent = dqn()
    agent.train(make_env("NeurenixPickLowestMasked-v0", seed=0), total_steps=300, configure_runtime=False)
    agent.save(tmp_path / "ckpt", include_replay_buffer=True)
    loaded = load_agent(tmp_path / "ckpt")
    n = len(agent.buffer)
    np.testing.assert_array_equal(loaded.buffer.next_action_masks[:n], agent.buffer.next_action_masks[:n])
    assert not loaded.buffer.next_action_masks[:n].all()  # real masks, not the all-allowed default
    runs = [
        a.train(make_env("NeurenixPickLowestMasked-v0", seed=9), total_steps=200) for a in (agent, loaded)
    ]
    assert runs[0]["episode_rewards"] == runs[1]["episode_rewards"] and runs[0]["loss"] == runs[1]["loss"]


class DictMatchEnv(gym.Env):
    """MatchEnv's task read from a Dict observation (the targets as a MultiDiscrete, the step as a Discrete), with
    MaskedMatchEnv's mask: the observation front-end and masked MultiDiscrete actions in one agent."""

    observation_space = gym.spaces.Dict(
        {"targets": gym.spaces.MultiDiscrete([3, 4]), "t": gym.spaces.Discrete(action_envs.EPISODE)}
    )
    action_space = gym.spaces.MultiDiscrete([3, 4])

    def _observe(self) -> dict:
        self.targets = self.np_random.integers(0, [3, 4]).astype(np.int64)
        return {"targets": self.targets.copy(), "t": self.t}

    def action_masks(self) -> np.ndarray:
        mask = np.ones(7, dtype=bool)
        mask[3:] = False
        mask[3 + self.targets[1]] = True
        return mask

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        assert action[1] == self.targets[1], "a masked action reached the env"
        reward = 0.5 * float(action[0] == self.targets[0]) + 0.5
        self.t += 1
        return self._observe(), reward, self.t >= action_envs.EPISODE, False, {}


def test_ppo_on_dict_observations_with_masked_multi_discrete_actions_trains_and_round_trips(tmp_path):
    env = VecEnv([DictMatchEnv() for _ in range(2)], seed=0)
    agent = PPO(env.observation_space, env.action_space, seed=0, n_envs=2, **{**PPO_SETTINGS, "n_steps": 8})
    agent.train(env, total_steps=64)
    assert agent.updates > 0 and agent.buffer.action_masks.shape == (8, 2, 7)
    assert agent.buffer.observations["targets"].dtype == np.int64
    agent.save(tmp_path / "ckpt")
    loaded = load_agent(tmp_path / "ckpt")
    assert to_spec(loaded.observation_space) == to_spec(env.observation_space)
    obs = env.reset(seed=1)
    masks = env.action_masks
    actions = agent.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True, action_masks=masks), actions)
    np.testing.assert_array_equal(actions[:, 1], obs["targets"][:, 1])
    assert np.isfinite(loaded.evaluate(env, episodes=4)).all()
