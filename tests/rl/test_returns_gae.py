"""GAE against a plain per-env reference loop, hand-computed cases, and the rollout buffer around it."""

from __future__ import annotations

import numpy as np
import pytest

from neurenix.rl.buffers import RolloutBuffer
from neurenix.rl.returns import gae


def reference_gae(rewards, values, terminated, truncated, final_values, last_values, gamma, lam):
    """One env and one step at a time, with the three cases spelled out (float64)."""
    T, N = rewards.shape
    advantages = np.zeros((T, N))
    for n in range(N):
        running = 0.0
        for t in reversed(range(T)):
            if terminated[t, n]:  # nothing after a terminal state
                running = rewards[t, n] - values[t, n]
            elif truncated[t, n]:  # the episode goes on unseen: bootstrap from its true last observation
                running = rewards[t, n] + gamma * final_values[t, n] - values[t, n]
            else:
                next_value = values[t + 1, n] if t + 1 < T else last_values[n]
                delta = rewards[t, n] + gamma * next_value - values[t, n]
                running = delta + gamma * lam * running
            advantages[t, n] = running
    return advantages


@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 1.0), (0.98, 0.0), (1.0, 0.8)])
def test_gae_matches_the_reference_loop_with_terminations_and_truncations(gamma, lam):
    rng = np.random.default_rng(0)
    T, N = 64, 6
    rewards = rng.standard_normal((T, N)).astype(np.float32)
    values = rng.standard_normal((T, N)).astype(np.float32)
    final_values = rng.standard_normal((T, N)).astype(np.float32)
    last_values = rng.standard_normal(N).astype(np.float32)
    ends = rng.random((T, N))
    terminated = ends < 0.08
    truncated = (ends >= 0.08) & (ends < 0.15)
    assert terminated.sum() > 10 and truncated.sum() > 10

    advantages = gae(rewards, values, terminated, truncated, final_values, last_values, gamma, lam)

    assert advantages.shape == (T, N) and advantages.dtype == np.float32
    expected = reference_gae(rewards, values, terminated, truncated, final_values, last_values, gamma, lam)
    np.testing.assert_allclose(advantages, expected, rtol=1e-4, atol=1e-4)


def test_gae_by_hand_without_episode_ends():
    # gamma 0.5, lambda 1: A_t = sum_k 0.5^k r_{t+k} + 0.5^(T-t) V_last - V_t.
    rewards = np.array([[1.0], [1.0], [1.0]], dtype=np.float32)
    values = np.zeros((3, 1), dtype=np.float32)
    none = np.zeros((3, 1), dtype=bool)
    advantages = gae(rewards, values, none, none, np.zeros((3, 1), np.float32), np.array([8.0]), 0.5, 1.0)
    np.testing.assert_allclose(advantages[:, 0], [1.75 + 1.0, 1.5 + 2.0, 1.0 + 4.0])


def test_no_bootstrap_through_termination_and_truncation_uses_the_final_observation():
    # Step 1 ends an episode; values[2] and last_values belong to the next one and must not leak into step 1.
    rewards = np.ones((3, 2), dtype=np.float32)
    values = np.array([[0.0, 0.0], [0.0, 0.0], [1e6, 1e6]], dtype=np.float32)
    terminated = np.array([[False, False], [True, False], [False, False]])
    truncated = np.array([[False, False], [False, True], [False, False]])
    final_values = np.array([[1e6, 1e6], [1e6, 20.0], [1e6, 1e6]], dtype=np.float32)
    advantages = gae(rewards, values, terminated, truncated, final_values, np.zeros(2), 0.9, 1.0)
    np.testing.assert_allclose(advantages[:2, 0], [1.0 + 0.9 * 1.0, 1.0])  # terminated: reward only
    np.testing.assert_allclose(advantages[:2, 1], [1.0 + 0.9 * 19.0, 1.0 + 0.9 * 20.0])  # truncated: V(final)


def make_full_buffer(rng, n_steps=8, n_envs=3):
    buffer = RolloutBuffer(n_steps, n_envs, (2,), action_shape=())
    for t in range(n_steps):
        buffer.add(
            obs=np.full((n_envs, 2), t, dtype=np.float32) + np.arange(n_envs)[:, None] / 10,
            actions=rng.integers(0, 2, n_envs),
            rewards=rng.standard_normal(n_envs),
            terminated=rng.random(n_envs) < 0.2,
            truncated=rng.random(n_envs) < 0.1,
            values=rng.standard_normal(n_envs),
            log_probs=-rng.random(n_envs),
            final_values=rng.standard_normal(n_envs),
        )
    return buffer


def test_buffer_returns_are_advantages_plus_values_and_minibatches_cover_each_sample_once():
    buffer = make_full_buffer(np.random.default_rng(1))
    assert buffer.full
    with pytest.raises(RuntimeError, match="full"):
        buffer.add(*([np.zeros(3)] * 8))
    buffer.compute_returns_and_advantages(np.zeros(3), gamma=0.99, gae_lambda=0.95)
    expected = gae(
        buffer.rewards,
        buffer.values,
        buffer.terminated,
        buffer.truncated,
        buffer.final_values,
        np.zeros(3),
        0.99,
        0.95,
    )
    np.testing.assert_allclose(buffer.advantages, expected)
    np.testing.assert_allclose(buffer.returns, expected + buffer.values)

    batches = list(buffer.minibatches(10, np.random.default_rng(0)))
    assert [len(b.observations) for b in batches] == [10, 10, 4]
    seen = np.concatenate([b.observations for b in batches])
    flat = buffer.full_batch()
    np.testing.assert_array_equal(np.sort(seen, axis=0), np.sort(flat.observations, axis=0))
    # Every field of a sample travels together: the row an observation came from gives its other fields.
    for batch in batches:
        rows = np.array([np.flatnonzero((flat.observations == o).all(axis=1))[0] for o in batch.observations])
        np.testing.assert_array_equal(batch.old_log_prob, flat.old_log_prob[rows])
        np.testing.assert_array_equal(batch.advantages, flat.advantages[rows])
        np.testing.assert_array_equal(batch.returns, flat.returns[rows])


def test_minibatch_order_comes_from_the_given_generator():
    buffer = make_full_buffer(np.random.default_rng(2))
    buffer.compute_returns_and_advantages(np.zeros(3), 0.99, 0.95)

    def order(seed):
        return np.concatenate([b.observations for b in buffer.minibatches(5, np.random.default_rng(seed))])

    np.testing.assert_array_equal(order(7), order(7))
    assert not np.array_equal(order(7), order(8))
