"""The C loops of neurenix._fused against the numpy expressions they replace: the same bits, every dtype."""

import math

import numpy as np
import pytest

from neurenix import _fused

DTYPES = [np.float32, np.float64]


def _rng(seed):
    return np.random.default_rng(seed)


def _same_bits(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


def _with_specials(a):
    """NaN, infinities, signed zeros and a subnormal in the first row, where a loop could part from numpy."""
    a = a.copy()
    a.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45]
    return a


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_gives_the_bits_of_numpys_ten_passes(dtype):
    rng = _rng(0)
    n = 4099  # not a multiple of any vector width: the loop's tail runs too
    data, grad, s1 = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    s2 = np.abs(rng.standard_normal(n)).astype(dtype)
    grad = _with_specials(grad)
    beta1, beta2, t = 0.9, 0.999, 7
    c = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
    eps, step = 1e-8 * c, 1e-3 * (1.0 - beta1) * c / (1.0 - beta1**t)

    expected = [data.copy(), s1.copy(), s2.copy()]
    p, m, v = expected
    with np.errstate(invalid="ignore"):
        m *= beta1
        m += grad
        v *= beta2
        v += grad * grad
        p -= m / (np.sqrt(v) + eps) * step
    actual = [data.copy(), s1.copy(), s2.copy()]
    _fused.adam_step(*actual[:1], grad, *actual[1:], beta1, beta2, eps, step)
    for a, e in zip(actual, expected):
        _same_bits(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lerp_gives_the_bits_of_polyaks_two_passes(dtype):
    rng = _rng(1)
    target, online = (_with_specials(rng.standard_normal(1001).astype(dtype)) for _ in range(2))
    tau = 0.005
    expected = target.copy()
    with np.errstate(invalid="ignore"):
        expected *= 1.0 - tau
        expected += tau * online
    _fused.lerp(target, online, 1.0 - tau, tau)
    _same_bits(target, expected)


def _relu_reference(a):
    """numpy's two-pass ReLU, (a + |a|) / 2: exactly max(a, 0) for finite a below 1.7e38, NaN for NaN and -inf."""
    with np.errstate(invalid="ignore"):
        return (a + np.abs(a)) * a.dtype.type(0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("with_bias", [True, False])
def test_add_bias_relu_gives_the_bits_of_add_then_relu(dtype, members, with_bias):
    rng = _rng(2)
    out = _with_specials(rng.standard_normal((members, 37, 29)).astype(dtype))
    bias = rng.standard_normal((members, 1, 29)).astype(dtype) if with_bias else None
    with np.errstate(invalid="ignore"):
        expected = _relu_reference(out + bias if with_bias else out)
    _fused.add_bias_relu(out, bias, members, 29)
    _same_bits(out, expected)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(out[finite], np.maximum(expected[finite], 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("members", [1, 3])
def test_relu_backward_masks_like_numpy_and_sums_the_bias_gradient_in_numpys_order(dtype, members):
    rng = _rng(3)
    # Large and small magnitudes together: a sum in any other order would round differently.
    grad_out = _with_specials(
        rng.standard_normal((members, 257, 31)) * 10.0 ** rng.integers(-6, 6, 31)
    ).astype(dtype)
    out = _relu_reference(rng.standard_normal((members, 257, 31)).astype(dtype))
    with np.errstate(invalid="ignore"):
        expected = grad_out * (out > 0.0)
    expected_bias = expected.sum(axis=1, keepdims=True)
    grad_in, bias_grad = np.empty_like(out), np.empty((members, 1, 31), dtype)
    _fused.relu_backward(grad_out, out, grad_in, bias_grad, members, 31)
    _same_bits(grad_in, expected)
    _same_bits(bias_grad, expected_bias)
    masked_negatives = grad_in[(out == 0) & (grad_out < 0)]
    assert masked_negatives.size and np.signbit(masked_negatives).all()  # -0.0, as numpy's multiply gives
    only_mask = np.empty_like(out)
    _fused.relu_backward(grad_out, out, only_mask, None, members, 31)
    _same_bits(only_mask, expected)


def test_the_loops_refuse_what_they_would_get_wrong():
    a = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):  # a strided view's copy would take the update
        _fused.lerp(a[:, ::2], np.zeros((4, 3), np.float32), 0.5, 0.5)
    with pytest.raises(TypeError, match="float32 or float64"):
        _fused.lerp(np.zeros(3, np.int32), np.zeros(3, np.int32), 0.5, 0.5)
    with pytest.raises(TypeError):  # mixed dtypes would read the bytes of one as the other
        _fused.lerp(np.zeros(3, np.float32), np.zeros(3, np.float64), 0.5, 0.5)
    with pytest.raises(ValueError, match="different sizes"):
        _fused.adam_step(*(np.zeros(n, np.float32) for n in (3, 3, 3, 4)), 0.9, 0.999, 1e-8, 1e-3)
    with pytest.raises(ValueError, match="members, rows, cols"):
        _fused.add_bias_relu(a, None, 1, 5)
    with pytest.raises(ValueError, match="bias"):
        _fused.add_bias_relu(a, np.zeros(5, np.float32), 1, 6)
    with pytest.raises(ValueError, match="different shapes"):
        _fused.relu_backward(a, a, np.zeros((4, 5), np.float32), None, 1, 6)
    with pytest.raises(TypeError, match="takes 4 arguments"):
        _fused.lerp(a, a, 0.5)
