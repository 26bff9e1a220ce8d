"""The documentation pages' snippets (../shared/seeds/), indentation restored, run against the project.

Names the snippets leave undefined (env, state, q_network, ...) are supplied by fixtures; budgets such as
`episodes=1000` are cut down so the suite stays fast, every argument name is kept as the docs write it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neurenix.tensor import Tensor


class LegacyCartPole:
    """The pre-gymnasium API the docs' evaluation loop uses: reset() -> obs, step() -> 4-tuple."""

    def __init__(self, seed: int = 0) -> None:
        self.env = gym.make("CartPole-v1")
        self.observation_space, self.action_space = self.env.observation_space, self.env.action_space
        self.seed = seed

    def reset(self):
        obs, _ = self.env.reset(seed=self.seed)
        self.seed += 1
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or truncated, {"TimeLimit.truncated": truncated and not terminated}


@pytest.fixture
def env():
    return gym.make("CartPole-v1")


def test_dqn_basic_usage_and_variants(env):
    from neurenix.rl import DQN

    # Define spaces
    observation_space = {"type": "box", "shape": (4,), "dim": 4}
    action_space = {"type": "discrete", "n": 2}
    # Create DQN agent
    agent = DQN(
        observation_space=observation_space,
        action_space=action_space,
        hidden_dims=[64, 64],
        learning_rate=0.001,
        gamma=0.99,
        epsilon_start=1.0,
        epsilon_end=0.01,
        epsilon_decay=0.995,
        buffer_size=10000,
        batch_size=64,
        update_target_every=100,
        double_q=False,
        dueling=False,
        name="DQN",
    )
    # Train
    metrics = agent.train(env=env, episodes=5, max_steps=200, verbose=True)
    assert metrics["episodes"] == 5 and len(metrics["episode_rewards"]) == 5
    assert agent.policy.epsilon < 1.0  # per-step decay ran

    obs_space = observation_space
    double = DQN(observation_space=obs_space, action_space=action_space, double_q=True)  # Use Double DQN
    dueling = DQN(observation_space=obs_space, action_space=action_space, dueling=True)  # Use Dueling DQN
    assert double.double_q and dueling.dueling


def test_dqn_architecture_replay_target_update_and_loss():
    from neurenix.nn import Linear, ReLU, Sequential

    input_dim, output_dim, batch_size, gamma, update_target_every = 4, 2, 8, 0.99, 100
    # Q-network
    q_network = Sequential(Linear(input_dim, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, output_dim))
    # Target network (for stability)
    target_network = q_network.clone()

    rng = np.random.default_rng(0)
    buffer = []
    for _ in range(20):
        state, next_state = (
            rng.standard_normal(4).astype(np.float32),
            rng.standard_normal(4).astype(np.float32),
        )
        action, reward, done = int(rng.integers(2)), float(rng.random()), bool(rng.random() < 0.2)
        # Store experience
        buffer.append((state, action, reward, next_state, done))
    # Sample batch
    indices = np.random.choice(len(buffer), batch_size, replace=False)
    batch = [buffer[i] for i in indices]
    # Unpack and convert to tensors
    states, actions, rewards, next_states, dones = zip(*batch)
    states = Tensor.stack(states)
    rewards = Tensor(rewards)
    next_states = Tensor.stack(next_states)
    dones = Tensor(dones)
    actions = Tensor(np.array(actions))  # the page leaves actions as a tuple; gather needs indices

    # Get current Q-values
    q_values = q_network(states).gather(1, actions.unsqueeze(1)).squeeze(1)
    # Compute target Q-values
    with Tensor.no_grad():
        next_q_values = target_network(next_states).max(1)[0]
        target_q_values = rewards + gamma * next_q_values * (1 - dones)
    # MSE loss
    loss = ((q_values - target_q_values) ** 2).mean()
    loss.backward()
    assert q_values.shape == (batch_size,) and not target_q_values.requires_grad
    assert np.abs(q_network[0].weight.grad.numpy()).sum() > 0

    q_network[0].weight.data.add_(1.0)
    steps = 100
    # Update target network periodically
    if steps % update_target_every == 0:
        for target_param, param in zip(target_network.parameters(), q_network.parameters()):
            target_param.data.copy_(param.data)
    assert np.array_equal(target_network[0].weight.numpy(), q_network[0].weight.numpy())


def test_a2c_networks_advantage_and_sampling():
    from neurenix.nn import Linear, ReLU, Sequential, Tanh

    obs_dim, action_dim, gamma, value_coef, entropy_coef = 4, 2, 0.99, 0.5, 0.01
    # Actor network (policy)
    actor = Sequential(
        Linear(obs_dim, 64),
        ReLU(),
        Linear(64, 64),
        ReLU(),
        Linear(64, action_dim),
        Tanh(),  # For continuous actions
    )
    # Critic network (value function)
    critic = Sequential(
        Linear(obs_dim, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 1)
    )  # Single value output
    state, next_state = Tensor(np.ones((3, obs_dim))), Tensor(np.zeros((3, obs_dim)))
    reward, done = Tensor([1.0, 0.0, 1.0]).unsqueeze(1), Tensor([0.0, 1.0, 0.0]).unsqueeze(1)
    logits = actor(state)
    action_probs = Tensor.softmax(logits, dim=-1)
    action = action_probs.sample()
    log_prob = action_probs.log().gather(1, action.unsqueeze(1))
    entropy = -(action_probs * action_probs.log()).sum(1, keepdim=True)

    # Value estimates
    value = critic(state)
    next_value = critic(next_state)
    # TD error as advantage
    advantage = reward + gamma * next_value * (1 - done) - value
    # Actor loss (policy gradient)
    actor_loss = -log_prob * advantage.detach()
    # Critic loss
    critic_loss = advantage**2
    # Total loss
    loss = actor_loss + value_coef * critic_loss - entropy_coef * entropy
    loss.mean().backward()
    assert action.shape == (3,) and set(action.numpy().tolist()) <= {0, 1}
    assert critic[0].weight.grad is not None and actor[0].weight.grad is not None

    std, noise = 0.1, np.random.default_rng(0).standard_normal((3, action_dim))
    # Actor outputs action mean (std is fixed or learned)
    mean = actor(state)
    action = mean + std * noise
    assert action.shape == (3, action_dim)


def test_ppo_objective_gae_and_early_stopping():
    rng = np.random.default_rng(1)
    old_log_prob = Tensor(rng.normal(-1, 0.1, 16))
    new_log_prob = Tensor(rng.normal(-1, 0.1, 16), requires_grad=True)
    advantages = Tensor(rng.standard_normal(16))
    clip_ratio, target_kl = 0.2, 0.01

    # Compute ratio of new and old policy
    ratio = new_log_prob.exp() / old_log_prob.exp()
    # Clipped objective (the page writes torch.min: the elementwise minimum)
    clipped_ratio = ratio.clamp(1 - clip_ratio, 1 + clip_ratio)
    objective = Tensor.min(ratio * advantages, clipped_ratio * advantages)
    # Actor loss
    actor_loss = -objective.mean()
    actor_loss.backward()
    r, a = ratio.numpy(), advantages.numpy()
    expected = -np.minimum(r * a, np.clip(r, 0.8, 1.2) * a).mean()
    assert actor_loss.item() == pytest.approx(expected, rel=1e-5)

    rewards, values, dones = [1.0, 1.0, 1.0], [0.5, 0.4, 0.3, 0.2], [0.0, 0.0, 1.0]
    gamma, gae_lambda = 0.99, 0.95
    # Compute advantages using GAE
    advantages = []
    advantage = 0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * values[t + 1] * (1 - dones[t]) - values[t]
        advantage = delta + gamma * gae_lambda * (1 - dones[t]) * advantage
        advantages.insert(0, advantage)
    advantages = Tensor(advantages)
    assert advantages.shape == (3,) and advantages.numpy()[-1] == pytest.approx(0.7)

    stopped = False
    for _ in range(3):
        # Stop optimization if KL divergence is too large
        kl_div = (old_log_prob - new_log_prob).mean()
        if kl_div > target_kl:
            stopped = True
            break
        new_log_prob = new_log_prob - 0.05
    assert stopped


def test_ddpg_networks_noise_soft_update_and_losses():
    from neurenix.nn import Linear, ReLU, Sequential, Tanh

    obs_dim, action_dim, tau, gamma, exploration_noise = 3, 1, 0.005, 0.99, 0.1
    action_low, action_high = -2.0, 2.0
    # Actor: deterministic policy
    actor = Sequential(
        Linear(obs_dim, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, action_dim), Tanh()
    )  # Bound
    # Critic: Q-function Q(s, a)
    critic = Sequential(Linear(obs_dim + action_dim, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 1))
    target_actor, target_critic = actor.clone(), critic.clone()
    states, next_states = Tensor(np.ones((5, obs_dim))), Tensor(np.zeros((5, obs_dim)))
    actions, rewards, dones = (
        Tensor(np.zeros((5, action_dim))),
        Tensor(np.ones((5, 1))),
        Tensor(np.zeros((5, 1))),
    )
    state = states

    # Add Gaussian noise for exploration
    action = actor(state)
    noisy_action = action + np.random.normal(0, exploration_noise, action.shape)
    noisy_action = np.clip(noisy_action, action_low, action_high)
    assert np.all(np.abs(np.asarray(noisy_action)) <= 2.0)

    # Critic loss
    q_values = critic(states, actions)
    target_actions = target_actor(next_states)
    target_q = target_critic(next_states, target_actions)
    target_values = rewards + gamma * target_q * (1 - dones)
    critic_loss = ((q_values - target_values) ** 2).mean()
    # Actor loss
    actor_loss = -critic(states, actor(states)).mean()
    (critic_loss + actor_loss).backward()
    assert q_values.shape == (5, 1)

    network, target_network = critic, target_critic
    network[0].weight.data.add_(1.0)
    before = target_network[0].weight.numpy().copy()
    # Slowly update target networks
    for target_param, param in zip(target_network.parameters(), network.parameters()):
        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)
    np.testing.assert_allclose(
        target_network[0].weight.numpy(), tau * network[0].weight.numpy() + (1 - tau) * before, rtol=1e-6
    )


def test_sac_temperature_tuning():
    from neurenix.optim import Adam

    action_dim, auto_alpha = 2, True
    log_alpha = Tensor(np.log([0.2]), requires_grad=True)
    alpha_optimizer = Adam([log_alpha], lr=0.01)
    log_prob = Tensor(np.full(8, 1.0))  # entropy -1 < target 2... alpha must fall
    if auto_alpha:
        # Target entropy (heuristic)
        target_entropy = -action_dim
        # Update temperature
        alpha_loss = -(log_alpha * (log_prob + target_entropy).detach()).mean()
        alpha_optimizer.zero_grad()
        alpha_loss.backward()
        alpha_optimizer.step()
        alpha = log_alpha.exp()
    assert alpha.item() < 0.2


def test_monitoring_callback_stops_training(env):
    from neurenix.rl import DQN

    logged = []

    class Logger:
        def log(self, values, step):
            logged.append((step, values))

    logger, target_reward = Logger(), 15.0
    agent = DQN(observation_space={"type": "box", "shape": (4,)}, action_space={"type": "discrete", "n": 2})

    # Custom callback
    def training_callback(metrics):
        episode = metrics["episode"]
        reward = metrics["reward"]
        # Log to tensorboard, wandb, etc.
        logger.log({"reward": reward}, step=episode)
        # Early stopping
        if reward > target_reward:
            return True  # Stop training
        return False

    metrics = agent.train(env=env, episodes=1000, callback=training_callback)
    assert logged and logged[-1][1]["reward"] > target_reward
    assert metrics["episodes"] == len(logged) < 1000


def test_evaluation_loop_with_legacy_env():
    from neurenix.rl import DQN

    env = LegacyCartPole()
    agent = DQN(
        observation_space={"type": "box", "shape": (4,)}, action_space={"type": "discrete", "n": 2}, seed=0
    )
    agent.train(env=env, episodes=3)
    # Disable exploration for evaluation
    original_epsilon = agent.policy.epsilon
    agent.policy.epsilon = 0.0
    # Run evaluation episodes
    eval_rewards = []
    for _ in range(3):
        state = env.reset()
        episode_reward = 0
        done = False
        while not done:
            action = agent.act(state)
            state, reward, done, _ = env.step(action)
            episode_reward += reward
        eval_rewards.append(episode_reward)
    # Restore exploration
    agent.policy.epsilon = original_epsilon
    print(f"Mean reward: {np.mean(eval_rewards):.2f}")
    print(f"Std reward: {np.std(eval_rewards):.2f}")
    greedy = agent.evaluate(LegacyCartPole(), episodes=3)
    assert len(eval_rewards) == 3 and all(r >= 1 for r in eval_rewards) and len(greedy) == 3


def test_policies_page(env):
    from neurenix.nn import Linear, ReLU, Sequential, Tanh
    from neurenix.rl.policy import (
        EpsilonGreedyPolicy,
        GaussianPolicy,
        GreedyPolicy,
        Policy,
        RandomPolicy,
        SoftmaxPolicy,
    )

    state = np.array([0.1, -0.2, 0.03, 0.4], dtype=np.float32)
    state_dim, action_dim = 4, 2

    class CustomPolicy(Policy):
        def __init__(self, name="CustomPolicy"):
            super().__init__(name=name)

        def select_action(self, state):
            # Implement custom action selection
            action = 0
            return action

    assert CustomPolicy()(state) == 0

    # For discrete actions
    action_space = {"type": "discrete", "n": 4}  # 4 possible actions
    policy = RandomPolicy(action_space=action_space, name="RandomPolicy")
    action = policy(state)  # Returns integer in [0, 3]
    assert action in range(4)
    # For continuous actions
    action_space = {"type": "box", "shape": (2,), "low": -1.0, "high": 1.0}
    policy = RandomPolicy(action_space=action_space)
    action = policy(state)  # Returns array in [-1, 1]^2
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)

    # Create Q-network
    q_network = Sequential(Linear(state_dim, 64), ReLU(), Linear(64, action_dim))
    action_space = {"type": "discrete", "n": action_dim}
    policy = GreedyPolicy(value_function=q_network, action_space=action_space, name="GreedyPolicy")
    # Always selects argmax_a Q(s, a)
    action = policy(state)
    assert action == int(np.argmax(q_network(Tensor(state)).numpy()))

    policy = EpsilonGreedyPolicy(
        value_function=q_network,
        action_space=action_space,
        epsilon_start=1.0,  # Start with full exploration
        epsilon_end=0.01,  # Minimum exploration rate
        epsilon_decay=0.995,  # Decay rate per step
        name="EpsilonGreedy",
    )
    # Select action (explores with probability epsilon)
    action = policy(state)
    # Update epsilon after each step
    policy.step()  # epsilon *= epsilon_decay
    # Check current exploration rate
    print(f"Current epsilon: {policy.epsilon}")
    assert policy.epsilon == pytest.approx(0.995)
    # Reset to initial epsilon
    policy.reset()
    assert policy.epsilon == 1.0

    policy = SoftmaxPolicy(
        value_function=q_network, action_space=action_space, temperature=1.0, name="Softmax"
    )
    action = policy(state)
    # High exploration
    hot_policy = SoftmaxPolicy(q_network, action_space, temperature=5.0)
    # Low exploration
    cool_policy = SoftmaxPolicy(q_network, action_space, temperature=0.1)
    assert action in (0, 1) and hot_policy(state) in (0, 1) and cool_policy(state) in (0, 1)

    # Policy network outputs action mean
    policy_network = Sequential(
        Linear(state_dim, 64),
        ReLU(),
        Linear(64, 64),
        ReLU(),
        Linear(64, action_dim),
        Tanh(),  # Bound to [-1, 1]
    )
    action_space = {"type": "box", "shape": (action_dim,), "low": -1.0, "high": 1.0}
    policy = GaussianPolicy(
        policy_network=policy_network, action_space=action_space, std=0.1, name="Gaussian"
    )
    # Sample action from N(mu(s), sigma^2)
    action = policy(state)
    sampled_action = action
    action = np.clip(sampled_action, action_space["low"], action_space["high"])
    assert action.shape == (action_dim,)

    # Normalize continuous actions
    action_space = {
        "type": "box",
        "shape": (action_dim,),
        "low": np.array([0.0, -4.0]),
        "high": np.array([2.0, 0.0]),
    }
    action_range = action_space["high"] - action_space["low"]
    action_center = (action_space["high"] + action_space["low"]) / 2
    # Map from [-1, 1] to action space
    raw_action = policy_network(Tensor(state))  # in [-1, 1]
    action = action_center + raw_action * (action_range / 2)
    assert np.all(action.numpy() >= action_space["low"]) and np.all(action.numpy() <= action_space["high"])


def test_agent_with_policy_and_value_network_function(env):
    from neurenix.nn import Linear, ReLU, Sequential
    from neurenix.optim import Adam
    from neurenix.rl.agent import Agent
    from neurenix.rl.policy import EpsilonGreedyPolicy
    from neurenix.rl.value import ValueNetworkFunction

    state, action_space = env.reset(seed=0)[0], {"type": "discrete", "n": 2}
    q_network = Sequential(Linear(4, 32), ReLU(), Linear(32, 2))
    v_network, optimizer = q_network, Adam(q_network.parameters(), lr=1e-3)
    # Create policy and value function
    policy = EpsilonGreedyPolicy(
        value_function=q_network,
        action_space=action_space,
        epsilon_start=1.0,
        epsilon_end=0.01,
        epsilon_decay=0.995,
    )
    value_function = ValueNetworkFunction(value_network=v_network, optimizer=optimizer)
    # Create agent
    agent = Agent(policy=policy, value_function=value_function, gamma=0.99)
    # Use agent
    action = agent.act(state)
    assert action in (0, 1)
    before = q_network[0].weight.numpy().copy()
    metrics = agent.train(env, episodes=3)
    assert metrics["episodes"] == 3 and not np.array_equal(before, q_network[0].weight.numpy())
    assert policy.epsilon < 1.0


def test_ucb_custom_policy():
    from neurenix.rl.policy import Policy

    class UCBPolicy(Policy):
        """Upper Confidence Bound policy for bandits."""

        def __init__(self, n_actions, c=2.0):
            super().__init__(name="UCB")
            self.n_actions = n_actions
            self.c = c
            self.counts = np.zeros(n_actions)
            self.values = np.zeros(n_actions)
            self.t = 0

        def select_action(self, state):
            self.t += 1
            # Try each action at least once
            if self.t <= self.n_actions:
                return self.t - 1
            # Compute UCB scores
            ucb_scores = self.values + self.c * np.sqrt(np.log(self.t) / (self.counts + 1e-8))
            return np.argmax(ucb_scores)

        def update(self, action, reward):
            self.counts[action] += 1
            n = self.counts[action]
            self.values[action] += (reward - self.values[action]) / n

    # Use custom policy
    policy = UCBPolicy(n_actions=10, c=2.0)
    rng, means = np.random.default_rng(0), np.linspace(0, 1, 10)
    state = None
    for _ in range(500):
        action = policy(state)
        reward = rng.normal(means[action], 0.1)
        policy.update(action, reward)
    assert policy.counts.argmax() == 9  # the best arm is pulled most
