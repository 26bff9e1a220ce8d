"""A2C's and PPO's updates, proven update by update against the float64 reference in `reference/onpolicy.py`.

Both start from the same weights; each update, our rollout buffer is filled with a known rollout (acted by the
reference's current policy, as the loop would: values and log-probs at acting time, terminations and time limits)
and PPO's minibatch order is drawn from a copy of `agent.rng` taken just before the update, which our update
consumes with one `permutation` per epoch. After every update the advantages, returns, reported losses and
every parameter must agree, and for PPO each gradient step's losses and parameters too, so a failure names the
first step that went wrong. Tolerance rtol 1e-5 / atol 5e-6: our float32 against float64 drifts up to 1.6e-6
absolute (GAE's sums; four updates of steps divided by sqrt(v), which magnifies rounding of small gradients);
a real difference is far above it: n vs n - 1 in the advantages' standard deviation moved a loss by 0.8%.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference.nets import Adam, RMSprop, RMSpropTFLike, assert_twins, f64, mlp_forward
from reference.onpolicy import ActorCriticNets, a2c_update, categorical, gae, gaussian, ppo_update

from neurenix.rl import A2C, PPO

OBS_DIM, N_STEPS, N_ENVS, N_UPDATES = 5, 16, 4, 4
RTOL, ATOL = 1e-5, 5e-6
SPACES = {
    "discrete": {"type": "discrete", "n": 3},
    "box": {"type": "box", "shape": (3,), "low": -1.0, "high": 1.0},
}
# SB3's optimizer settings for A2C and PPO, written from its documentation: eps 1e-5, RMSprop alpha 0.99.
REFERENCE_OPTIMIZERS = {
    "adam": lambda params, lr: Adam(params, lr, eps=1e-5),
    "rmsprop": lambda params, lr: RMSprop(params, lr, alpha=0.99, eps=1e-5),
    "rmsprop_tf": lambda params, lr: RMSpropTFLike(params, lr, alpha=0.99, eps=1e-5),
}


def twin(cls, action, **settings):
    """Our agent (small networks, equal step sizes large enough to reach the clips) and its reference."""
    settings = {
        "actor_hidden_dims": (8, 8),
        "critic_hidden_dims": (8, 8),
        "actor_learning_rate": 3e-3,
        "critic_learning_rate": 1e-2,
        "n_steps": N_STEPS,
        "n_envs": N_ENVS,
        "gamma": 0.9,
        "gae_lambda": 0.8,
        "log_std_init": -0.5,
        **settings,
    }
    agent = cls({"type": "box", "shape": (OBS_DIM,)}, SPACES[action], seed=11, **settings)
    nets = ActorCriticNets(
        f64(p.numpy() for p in agent.actor.parameters()),
        f64(p.numpy() for p in agent.critic.parameters()),
        None if agent.log_std is None else agent.log_std.numpy(),
        agent.activation,
        REFERENCE_OPTIMIZERS[agent.optimizer],
        agent.actor_learning_rate,
        agent.critic_learning_rate,
    )
    return agent, nets


def act_rollout(agent, nets, rng):
    """A rollout acted by the reference's current policy, stored in our buffer the way `_store` does, with a few
    terminations and time limits (whose bootstrap V(final obs) is recorded). Returns the float32 arrays."""
    obs = rng.standard_normal((N_STEPS, N_ENVS, OBS_DIM)).astype(np.float32)
    flat = obs.reshape(-1, OBS_DIM)
    values = nets.values(flat)
    logits_or_mean = mlp_forward(nets.actor, flat, nets.activation)[0]
    if nets.log_std is None:
        p = np.exp(logits_or_mean - logits_or_mean.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        actions = (rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1)
        log_probs = categorical(logits_or_mean, actions)[0]
    else:
        actions = logits_or_mean + np.exp(nets.log_std) * rng.standard_normal(logits_or_mean.shape)
        log_probs = gaussian(logits_or_mean, nets.log_std, actions)[0]
    ended = rng.random((N_STEPS, N_ENVS))
    rollout = {
        "obs": obs,
        "actions": actions.reshape(N_STEPS, N_ENVS, *actions.shape[1:]).astype(agent.buffer.actions.dtype),
        "rewards": rng.standard_normal((N_STEPS, N_ENVS)).astype(np.float32),
        "terminated": ended < 0.1,
        "truncated": (ended >= 0.1) & (ended < 0.15),
        "values": values.reshape(N_STEPS, N_ENVS).astype(np.float32),
        "log_probs": log_probs.reshape(N_STEPS, N_ENVS).astype(np.float32),
        "final_values": rng.standard_normal((N_STEPS, N_ENVS)).astype(np.float32),
    }
    rollout["final_values"][~rollout["truncated"]] = 0.0
    agent.buffer.reset()
    for t in range(N_STEPS):
        agent.buffer.add(*(rollout[key][t] for key in rollout))
    agent._obs = rng.standard_normal((N_ENVS, OBS_DIM)).astype(np.float32)  # what follows the rollout
    rollout["last_values"] = nets.values(agent._obs)
    return rollout


def reference_returns(agent, rollout):
    advantages = gae(
        *(
            rollout[k]
            for k in ("rewards", "values", "terminated", "truncated", "final_values", "last_values")
        ),
        agent.gamma,
        agent.gae_lambda,
    )
    return advantages, advantages + rollout["values"]


def parameters(agent, nets):
    """(name, ours, reference) for every parameter, in the order our optimizers hold them."""
    pairs = [(f"actor.{n}", p.numpy(), r) for (n, p), r in zip(agent.actor.named_parameters(), nets.actor)]
    if agent.log_std is not None:
        pairs.append(("log_std", agent.log_std.numpy(), nets.log_std))
    return pairs + [
        (f"critic.{n}", p.numpy(), r) for (n, p), r in zip(agent.critic.named_parameters(), nets.critic)
    ]


def record_steps(agent):
    """Per gradient step of our update: the losses it hands `_loss` and every parameter after `_step`."""
    steps, loss, step = [], agent._loss, agent._step

    def recording_loss(policy_loss, value_loss, mean_entropy):
        steps.append({"policy_loss": policy_loss.item(), "value_loss": value_loss.item()})
        steps[-1]["entropy"] = mean_entropy.item()
        return loss(policy_loss, value_loss, mean_entropy)

    def recording_step(total):
        step(total)
        steps[-1]["parameters"] = [p.numpy().copy() for p in agent._parameters]

    agent._loss, agent._step = recording_loss, recording_step
    return steps


def step_by_step(ours, reference, names):
    """(name, ours, reference) for each gradient step in order: its losses, then each parameter after it."""
    pairs = [("gradient steps", len(ours), len(reference))]
    for k, (mine, theirs) in enumerate(zip(ours, reference)):
        pairs += [
            (f"step {k} {key}", mine[key], theirs[key]) for key in ("policy_loss", "value_loss", "entropy")
        ]
        pairs += [(f"step {k} {n}", a, b) for n, a, b in zip(names, mine["parameters"], theirs["parameters"])]
    return pairs


def flat(rollout, key):
    array = np.asarray(rollout[key], dtype=np.float64)
    return array.reshape(N_STEPS * N_ENVS, *array.shape[2:])


@pytest.mark.parametrize(
    "action, settings",
    [
        ("discrete", {}),
        ("box", {}),
        (
            "discrete",
            {"optimizer": "adam", "normalize_advantage": True, "activation": "relu", "max_grad_norm": None},
        ),
        ("box", {"gae_lambda": 1.0, "entropy_coef": 0.0, "max_grad_norm": 0.1}),
        ("discrete", {"optimizer": "rmsprop_tf"}),  # RL Zoo's A2C Atari optimizer
    ],
)
def test_a2c_updates_match_the_reference(action, settings):
    agent, nets = twin(A2C, action, **settings)
    rng = np.random.default_rng(5)
    for update in range(N_UPDATES):
        rollout = act_rollout(agent, nets, rng)
        advantages, returns = reference_returns(agent, rollout)
        ours = agent.update()
        figures = a2c_update(
            nets,
            (flat(rollout, "obs"), flat(rollout, "actions"), advantages.reshape(-1), returns.reshape(-1)),
            value_coef=agent.value_coef,
            entropy_coef=agent.entropy_coef,
            max_grad_norm=agent.max_grad_norm,
            normalize_advantage=agent.normalize_advantage,
        )
        assert_twins(
            update,
            [
                ("advantages", agent.buffer.advantages, advantages),
                ("returns", agent.buffer.returns, returns),
                *((key, ours[key], figures[key]) for key in ("policy_loss", "value_loss", "entropy")),
                *parameters(agent, nets),
            ],
            RTOL,
            ATOL,
        )


@pytest.mark.parametrize(
    "action, settings",
    [
        ("discrete", {"target_kl": None, "actor_learning_rate": 3e-2}),
        ("box", {"target_kl": None, "clip_range_vf": 0.2}),
        ("discrete", {"target_kl": 0.003, "activation": "relu"}),
        (
            "box",
            {"target_kl": 0.02, "normalize_advantage": False, "optimizer": "rmsprop", "max_grad_norm": 0.2},
        ),
    ],
)
def test_ppo_updates_match_the_reference(action, settings):
    agent, nets = twin(PPO, action, batch_size=16, n_epochs=4, **settings)
    rng = np.random.default_rng(6)
    names = [name for name, _, _ in parameters(agent, nets)]
    our_steps = record_steps(agent)
    for update in range(N_UPDATES):
        rollout = act_rollout(agent, nets, rng)
        advantages, returns = reference_returns(agent, rollout)
        # Our update draws one permutation per epoch from agent.rng: the reference draws from a copy of it.
        order_rng = np.random.Generator(type(agent.rng.bit_generator)())
        order_rng.bit_generator.state = agent.rng.bit_generator.state
        our_steps.clear()
        ours = agent.update()
        data = [flat(rollout, k) for k in ("obs", "actions", "log_probs", "values")]
        figures, epochs, steps = ppo_update(
            nets,
            [*data, advantages.reshape(-1), returns.reshape(-1)],
            order_rng.permutation,
            n_epochs=agent.n_epochs,
            batch_size=agent.batch_size,
            target_kl=agent.target_kl,
            clip_ratio=agent.clip_ratio,
            clip_range_vf=agent.clip_range_vf,
            value_coef=agent.value_coef,
            entropy_coef=agent.entropy_coef,
            max_grad_norm=agent.max_grad_norm,
            normalize_advantage=agent.normalize_advantage,
        )
        keys = ("approx_kl", "policy_loss", "value_loss", "entropy", "clip_fraction")
        assert_twins(
            update,
            [
                ("advantages", agent.buffer.advantages, advantages),
                ("returns", agent.buffer.returns, returns),
                *step_by_step(our_steps, steps, names),
                ("epochs", ours["epochs"], epochs),
                *((key, ours[key], figures[key]) for key in keys),
                *parameters(agent, nets),
            ],
            RTOL,
            ATOL,
        )
