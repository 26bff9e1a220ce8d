"""Categorical and DiagGaussian: log_prob and entropy against closed forms, gradients against finite differences,
samples against their probabilities."""

from __future__ import annotations

import math

import numpy as np

from neurenix.rl.distributions import Categorical, DiagGaussian
from neurenix.tensor import Tensor


def test_categorical_log_prob_and_entropy_match_closed_forms():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-50.0, 0.0, 50.0]])
    actions = np.array([2, 1, 0])
    dist = Categorical(Tensor(logits))
    log_z = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    np.testing.assert_allclose(dist.log_prob(actions).numpy(), logits[[0, 1, 2], actions] - log_z, rtol=1e-6)
    p = np.exp(logits - log_z[:, None])
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(1)
    np.testing.assert_allclose(dist.entropy().numpy(), entropy, rtol=1e-6, atol=1e-12)
    assert math.isclose(dist.entropy().numpy()[1], math.log(3), rel_tol=1e-9)  # uniform: log n
    np.testing.assert_array_equal(dist.mode(), [2, 0, 2])


def test_categorical_samples_follow_the_probabilities():
    logits = np.log(np.array([[0.1, 0.6, 0.3]] * 20000))
    samples = Categorical(Tensor(logits)).sample(np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(samples, minlength=3) / len(samples), [0.1, 0.6, 0.3], atol=0.01)


def test_categorical_gradients_match_finite_differences(check_grad):
    rng = np.random.default_rng(0)
    actions = np.array([0, 3, 1, 1, 2])
    check_grad(lambda logits: Categorical(logits).log_prob(actions), rng.standard_normal((5, 4)))
    check_grad(lambda logits: Categorical(logits).entropy(), rng.standard_normal((5, 4)))


def gaussian_log_density(a, mean, std):
    return (-0.5 * ((a - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)


def test_diag_gaussian_log_prob_and_entropy_match_closed_forms():
    rng = np.random.default_rng(1)
    mean = rng.standard_normal((6, 3))
    log_std = np.array([-1.0, 0.0, 0.5])  # state-independent: one per action dimension, shared by the batch
    actions = rng.standard_normal((6, 3)) * 2
    dist = DiagGaussian(Tensor(mean), Tensor(log_std))
    np.testing.assert_allclose(
        dist.log_prob(actions).numpy(), gaussian_log_density(actions, mean, np.exp(log_std)), rtol=1e-5
    )
    # H = sum_i 0.5 log(2 pi e sigma_i^2), the same for every row.
    entropy = 0.5 * np.log(2 * np.pi * np.e * np.exp(2 * log_std)).sum()
    np.testing.assert_allclose(dist.entropy().numpy(), np.full(6, entropy), rtol=1e-6)
    np.testing.assert_array_equal(dist.mode(), mean)


def test_diag_gaussian_samples_have_its_mean_and_std():
    mean, log_std = np.array([[1.0, -2.0]] * 50000), np.array([np.log(0.5), np.log(2.0)])
    samples = DiagGaussian(Tensor(mean), Tensor(log_std)).sample(np.random.default_rng(0))
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(samples.std(0), [0.5, 2.0], rtol=0.02)


def test_diag_gaussian_gradients_match_finite_differences(check_grad):
    rng = np.random.default_rng(2)
    actions = rng.standard_normal((4, 2))
    mean, log_std = rng.standard_normal((4, 2)), rng.standard_normal(2) * 0.3
    check_grad(lambda m, s: DiagGaussian(m, s).log_prob(actions), mean, log_std)
    check_grad(lambda m, s: DiagGaussian(m, s).log_prob(actions), mean, rng.standard_normal((4, 2)) * 0.3)
    check_grad(lambda s: DiagGaussian(Tensor(mean), s).entropy(), log_std)
