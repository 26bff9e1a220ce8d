"""Categorical and DiagGaussian: log_prob and entropy against closed forms, gradients against finite differences,
samples against their probabilities."""

from __future__ import annotations

import math

import numpy as np

from neurenix.rl.distributions import Bernoulli, Categorical, DiagGaussian, MultiCategorical
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


# ------------------------------------------------------------------ masked, multi-discrete and Bernoulli


def test_masked_categorical_is_the_softmax_over_the_allowed_actions_alone():
    logits = np.array([[1.0, 2.0, 3.0, 0.5], [0.0, 5.0, 0.0, 0.0]])
    mask = np.array([[True, True, False, True], [True, False, True, False]])
    dist = Categorical(Tensor(logits), mask)
    allowed = np.where(mask, np.exp(logits), 0.0)
    p = allowed / allowed.sum(1, keepdims=True)
    np.testing.assert_allclose(np.exp(dist.log_prob(np.array([1, 2])).numpy()), [p[0, 1], p[1, 2]], rtol=1e-6)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(1)
    np.testing.assert_allclose(dist.entropy().numpy(), entropy, rtol=1e-6)
    np.testing.assert_array_equal(dist.mode(), [1, 0])  # row 0's largest logit (3.0) is masked


def test_masked_categorical_never_samples_a_masked_action():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((20000, 5)) * 3
    mask = rng.random((20000, 5)) < 0.4
    mask[np.arange(20000), rng.integers(0, 5, 20000)] = True  # at least one allowed per row
    samples = Categorical(Tensor(logits), mask).sample(rng)
    assert mask[np.arange(20000), samples].all()


def test_masked_categorical_gradients_match_finite_differences(check_grad):
    rng = np.random.default_rng(2)
    mask = np.array([[True, False, True, True], [False, True, True, False], [True, True, True, True]])
    actions = np.array([3, 1, 0])
    check_grad(lambda logits: Categorical(logits, mask).log_prob(actions), rng.standard_normal((3, 4)))
    check_grad(lambda logits: Categorical(logits, mask).entropy(), rng.standard_normal((3, 4)))


def test_multi_categorical_is_the_product_of_its_components():
    rng = np.random.default_rng(3)
    nvec = np.array([3, 2, 4])
    logits = rng.standard_normal((6, 9))
    actions = np.stack([rng.integers(0, n, 6) for n in nvec], axis=1)
    dist = MultiCategorical(Tensor(logits), nvec)
    parts = [Categorical(Tensor(logits[:, a : a + n])) for a, n in zip([0, 3, 5], nvec)]
    log_prob = sum(part.log_prob(actions[:, k]).numpy() for k, part in enumerate(parts))
    np.testing.assert_allclose(dist.log_prob(actions).numpy(), log_prob, rtol=1e-6)
    np.testing.assert_allclose(dist.entropy().numpy(), sum(p.entropy().numpy() for p in parts), rtol=1e-6)
    np.testing.assert_array_equal(dist.mode(), np.stack([p.mode() for p in parts], axis=1))


def test_multi_categorical_samples_follow_each_components_probabilities():
    probs = [np.array([0.2, 0.8]), np.array([0.5, 0.1, 0.4])]
    logits = np.log(np.tile(np.concatenate(probs), (20000, 1)))
    samples = MultiCategorical(Tensor(logits), [2, 3]).sample(np.random.default_rng(0))
    assert samples.shape == (20000, 2) and samples.dtype == np.int64
    for k, p in enumerate(probs):
        np.testing.assert_allclose(np.bincount(samples[:, k], minlength=len(p)) / 20000, p, atol=0.01)


def test_multi_categorical_gradients_match_finite_differences(check_grad):
    rng = np.random.default_rng(4)
    actions = np.array([[0, 1, 3], [2, 0, 0], [1, 1, 2], [2, 0, 1]])
    check_grad(
        lambda logits: MultiCategorical(logits, [3, 2, 4]).log_prob(actions), rng.standard_normal((4, 9))
    )
    check_grad(lambda logits: MultiCategorical(logits, [3, 2, 4]).entropy(), rng.standard_normal((4, 9)))


def test_masked_multi_categorical_masks_each_component_and_never_samples_a_masked_value(check_grad):
    rng = np.random.default_rng(6)
    mask = np.ones((2000, 5), dtype=bool)
    mask[:, 0] = False  # component 0 (2 values) may only take value 1
    mask[np.arange(2000), 2 + rng.integers(0, 3, 2000)] = False  # component 1 (3 values) loses one
    logits = rng.standard_normal((2000, 5)) * 3
    dist = MultiCategorical(Tensor(logits), [2, 3], mask)
    samples = dist.sample(rng)
    assert (samples[:, 0] == 1).all() and mask[np.arange(2000), 2 + samples[:, 1]].all()
    assert mask[np.arange(2000), 2 + dist.mode()[:, 1]].all()
    expected = Categorical(Tensor(logits[:, 2:]), mask[:, 2:]).log_prob(samples[:, 1]).numpy()
    np.testing.assert_allclose(dist.log_prob(samples).numpy(), expected, rtol=1e-6, atol=1e-6)
    actions = np.array([[1, 0], [1, 2]])
    small = mask[:2] | np.array([[False, False, True, True, True]])
    small[1, 2] = False
    check_grad(lambda x: MultiCategorical(x, [2, 3], small).log_prob(actions), rng.standard_normal((2, 5)))
    check_grad(lambda x: MultiCategorical(x, [2, 3], small).entropy(), rng.standard_normal((2, 5)))


def test_bernoulli_log_prob_and_entropy_match_closed_forms():
    logits = np.array([[0.0, 2.0, -1.0], [12.0, -12.0, 0.5]])
    actions = np.array([[1, 0, 0], [1, 0, 1]], dtype=np.int8)
    dist = Bernoulli(Tensor(logits))
    p = 1 / (1 + np.exp(-logits))
    expected = np.where(actions == 1, np.log(p), np.log1p(-p)).sum(1)
    np.testing.assert_allclose(dist.log_prob(actions).numpy(), expected, rtol=1e-6, atol=1e-12)
    terms = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    np.testing.assert_allclose(dist.entropy().numpy(), terms.sum(1), rtol=1e-6, atol=1e-12)
    assert math.isclose(dist.entropy().numpy()[0] - terms[0, 1:].sum(), math.log(2), rel_tol=1e-9)
    np.testing.assert_array_equal(dist.mode(), [[0, 1, 0], [1, 0, 1]])


def test_bernoulli_samples_follow_the_probabilities():
    p = np.array([0.1, 0.5, 0.9])
    samples = Bernoulli(Tensor(np.tile(np.log(p / (1 - p)), (20000, 1)))).sample(np.random.default_rng(0))
    assert samples.dtype == np.int8
    np.testing.assert_allclose(samples.mean(0), p, atol=0.01)


def test_bernoulli_gradients_match_finite_differences(check_grad):
    rng = np.random.default_rng(5)
    actions = (rng.random((5, 3)) < 0.5).astype(np.int8)
    check_grad(lambda logits: Bernoulli(logits).log_prob(actions), rng.standard_normal((5, 3)) * 2)
    check_grad(lambda logits: Bernoulli(logits).entropy(), rng.standard_normal((5, 3)) * 2)
