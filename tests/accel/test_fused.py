"""The fused loops, the C module and its numpy twin alike, against the numpy expressions they replace: the same
bits, every dtype; and a whole training run that gives the same numbers on either."""

import math
import shutil

import gymnasium as gym
import numpy as np
import pytest

from neurenix._accel import fused_numpy as _fused_numpy
from neurenix._accel import loops as _loops
from neurenix.rl import SAC, TD3

try:
    from neurenix._accel import _fused
except ImportError:  # the install found no C compiler
    _fused = None

DTYPES = [np.float32, np.float64]
needs_c = pytest.mark.skipif(_fused is None, reason="the C module was not built (no C compiler)")
IMPLEMENTATIONS = [pytest.param(_fused, id="C", marks=needs_c), pytest.param(_fused_numpy, id="numpy")]


def _rng(seed):
    return np.random.default_rng(seed)


def _same_bits(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


def _with_specials(a):
    """NaN, infinities, signed zeros and a subnormal in the first row, where a loop could part from numpy."""
    a = a.copy()
    a.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(a.dtype).smallest_subnormal]
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_adam_step_gives_the_bits_of_numpys_ten_passes(dtype, loops):
    rng = _rng(0)
    n = 4099  # not a multiple of any vector width: the loop's tail runs too
    data, grad, s1 = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    s2 = np.abs(rng.standard_normal(n)).astype(dtype)
    grad = _with_specials(grad)
    tiny = np.finfo(dtype).tiny
    # Sums that land just below and just above the smallest normal number once decayed, for the flush's edge.
    s1[10:14] = [tiny * 1.05, -tiny * 1.05, tiny * 1.2, -tiny * 1.2]
    s2[10:14] = [tiny * 1.05, tiny * 1.2, 0.0, tiny]
    grad[10:14] = 0.0
    beta1, beta2, t = 0.9, 0.999, 7
    c = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
    eps, step = 1e-8 * c, 1e-3 * (1.0 - beta1) * c / (1.0 - beta1**t)

    expected = [data.copy(), s1.copy(), s2.copy()]
    p, m, v = expected
    with np.errstate(invalid="ignore"):
        m *= beta1
        m += grad
        m[np.abs(m) < tiny] = 0.0
        v *= beta2
        v += grad * grad
        v[v < tiny] = 0.0
        p -= m / (np.sqrt(v) + eps) * step
    actual = [data.copy(), s1.copy(), s2.copy()]
    with np.errstate(invalid="ignore"):  # the specials make NaNs, which numpy warns of
        loops.adam_step(*actual[:1], grad, *actual[1:], beta1, beta2, eps, step)
    for a, e in zip(actual, expected):
        _same_bits(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_adams_sums_leave_the_subnormal_range_where_the_gradient_stays_zero(dtype, loops):
    """Decayed by b1 = 0.9 and b2 = 0.999 alone, the smallest subnormals round back to themselves and would stay
    (each op on them ~100 cycles on x86); the step stores them as +0 instead, and a zero stays zero."""
    d = np.finfo(dtype).smallest_subnormal
    data = np.ones(4, dtype)
    s1 = np.array([3 * d, -3 * d, 0.0, -0.0], dtype)
    s2 = np.array([400 * d, 3 * d, 0.0, -0.0], dtype)
    grad = np.zeros(4, dtype)
    assert np.array_equal(s1 * dtype(0.9), s1) and np.array_equal(s2 * dtype(0.999), s2)
    for _ in range(3):
        loops.adam_step(data, grad, s1, s2, 0.9, 0.999, 1e-8, 1e-3)
        for state in (s1, s2):
            _same_bits(state, np.zeros(4, dtype))
    _same_bits(data, np.ones(4, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_lerp_gives_the_bits_of_polyaks_two_passes(dtype, loops):
    rng = _rng(1)
    target, online = (_with_specials(rng.standard_normal(1001).astype(dtype)) for _ in range(2))
    tau = 0.005
    expected = target.copy()
    with np.errstate(invalid="ignore"):
        expected *= 1.0 - tau
        expected += tau * online
    with np.errstate(invalid="ignore"):
        loops.lerp(target, online, 1.0 - tau, tau)
    _same_bits(target, expected)


def _relu_reference(a):
    """numpy's two-pass ReLU, (a + |a|) / 2: exactly max(a, 0) for finite a below 1.7e38, NaN for NaN and -inf."""
    with np.errstate(invalid="ignore"):
        return (a + np.abs(a)) * a.dtype.type(0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_add_bias_relu_gives_the_bits_of_add_then_relu(dtype, members, with_bias, loops):
    rng = _rng(2)
    out = _with_specials(rng.standard_normal((members, 37, 29)).astype(dtype))
    bias = rng.standard_normal((members, 1, 29)).astype(dtype) if with_bias else None
    with np.errstate(invalid="ignore"):
        expected = _relu_reference(out + bias if with_bias else out)
    with np.errstate(invalid="ignore"):
        loops.add_bias_relu(out, bias, members, 29)
    _same_bits(out, expected)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(out[finite], np.maximum(expected[finite], 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_relu_backward_masks_like_numpy_and_sums_the_bias_gradient_in_numpys_order(dtype, members, loops):
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
    activity = np.empty((members, 31), dtype)
    with np.errstate(invalid="ignore"):
        loops.relu_backward(grad_out, out, grad_in, bias_grad, activity, members, 31)
    _same_bits(grad_in, expected)
    _same_bits(bias_grad, expected_bias)
    _same_bits(activity, np.abs(expected).sum(axis=1))
    masked_negatives = grad_in[(out == 0) & (grad_out < 0)]
    assert masked_negatives.size and np.signbit(masked_negatives).all()  # -0.0, as numpy's multiply gives
    only_mask = np.empty_like(out)
    with np.errstate(invalid="ignore"):
        loops.relu_backward(grad_out, out, only_mask, None, None, members, 31)
    _same_bits(only_mask, expected)


@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_activity_is_zero_exactly_for_the_units_without_gradient(loops):
    """What lets a layer leave units out of its products: a column of masked (-0.0) or zero gradients sums to
    zero, a column with one subnormal or one NaN does not."""
    out = np.ones((1, 4, 5), np.float32)
    out[0, :, 0] = 0.0  # a dead unit: its negative gradients are masked to -0.0
    grad_out = -np.ones((1, 4, 5), np.float32)
    grad_out[0, :, 1] = 0.0
    grad_out[0, :, 2] = [0.0, np.finfo(np.float32).smallest_subnormal, 0.0, 0.0]
    grad_out[0, :, 3] = [0.0, 0.0, np.nan, 0.0]
    grad_in, activity = np.empty_like(out), np.empty((1, 5), np.float32)
    with np.errstate(invalid="ignore"):
        loops.relu_backward(grad_out, out, grad_in, None, activity, 1, 5)
    assert list(activity[0] != 0) == [False, False, True, True, True]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_put_columns_copies_the_bits_into_zeroed_storage(dtype, loops):
    src = _with_specials(_rng(7).standard_normal((6, 3))).astype(dtype)
    index = np.array([1, 4, 5])
    dst = np.full((6, 7), 9.0, dtype)
    loops.put_columns(src, index, dst)
    expected = np.zeros((6, 7), dtype)
    expected[:, index] = src
    _same_bits(dst, expected)
    loops.put_columns(np.empty((6, 0), dtype), np.array([], np.intp), dst)
    _same_bits(dst, np.zeros((6, 7), dtype))


def _col2im_reference(blocks, grad, stride_h, stride_w):
    """Each window's gradient added where it read, window after window in row-major order: the definition."""
    n, oh, ow, kh, kw, _ = blocks.shape
    for a in range(n):
        for y in range(oh):
            for x in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        grad[a, y * stride_h + i, x * stride_w + j] += blocks[a, y, x, i, j]


# (blocks shape, grad shape, stride): windows overlapping (kernel larger than the stride), tiling, leaving the last
# rows and columns untouched, a rectangular kernel and strides, one channel.
COL2IM_CASES = [
    ((2, 3, 3, 3, 3, 5), (2, 5, 5, 5), (1, 1)),
    ((2, 4, 3, 4, 4, 3), (2, 10, 9, 3), (2, 2)),
    ((1, 2, 2, 8, 8, 4), (1, 13, 12, 4), (4, 4)),
    ((3, 3, 4, 2, 3, 2), (3, 6, 7, 2), (2, 1)),
    ((2, 2, 2, 1, 1, 7), (2, 2, 2, 7), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "grad_shape", "stride"), COL2IM_CASES)
@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_col2im_adds_each_window_where_it_read_in_window_order(dtype, shape, grad_shape, stride, loops):
    rng = _rng(8)
    # Magnitudes 1e-6 to 1e6: a sum in any other order would round differently.
    blocks = _with_specials(rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 6, shape)).astype(dtype)
    start = rng.standard_normal(grad_shape).astype(dtype)
    expected, actual = start.copy(), start.copy()
    with np.errstate(invalid="ignore"):
        _col2im_reference(blocks, expected, *stride)
        loops.col2im(blocks, actual, *stride)
    _same_bits(actual, expected)


def test_col2im_sums_in_an_order_that_the_bits_tell_apart():
    """The reference's order is the one to match: the same values added offset by offset, first offset first,
    round differently here, so a loop that took that order would fail the test above."""
    rng = _rng(9)
    shape, stride = (1, 4, 4, 3, 3, 1), (1, 1)
    blocks = (rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 6, shape)).astype(np.float32)
    by_window = np.zeros((1, 6, 6, 1), np.float32)
    _col2im_reference(blocks, by_window, *stride)
    by_offset = np.zeros_like(by_window)
    for i in range(3):
        for j in range(3):
            by_offset[:, i : i + 4, j : j + 4] += blocks[:, :, :, i, j]
    assert not np.array_equal(by_window, by_offset)


@needs_c
def test_the_c_loops_refuse_what_they_would_get_wrong():
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
        _fused.relu_backward(a, a, np.zeros((4, 5), np.float32), None, None, 1, 6)
    with pytest.raises(ValueError, match="different shapes"):  # an activity of another width
        _fused.relu_backward(a, a, np.zeros((4, 6), np.float32), None, np.zeros(5, np.float32), 1, 6)
    with pytest.raises(ValueError, match="indices below cols"):  # would write past the row
        _fused.put_columns(np.zeros((4, 1), np.float32), np.array([6]), a)
    with pytest.raises(ValueError, match="indices below cols"):
        _fused.put_columns(np.zeros((4, 1), np.float32), np.array([-1]), a)
    blocks = np.zeros((1, 3, 3, 2, 2, 4), np.float32)
    with pytest.raises(ValueError, match="fit grad"):  # windows at stride 2 reach row 6 of a 5-row grad
        _fused.col2im(blocks, np.zeros((1, 5, 6, 4), np.float32), 2, 2)
    with pytest.raises(ValueError, match="fit grad"):  # another channel count
        _fused.col2im(blocks, np.zeros((1, 6, 6, 3), np.float32), 2, 2)
    with pytest.raises(ValueError, match="fit grad"):  # a stride of 0 would add every window at one place
        _fused.col2im(blocks, np.zeros((1, 6, 6, 4), np.float32), 0, 2)
    with pytest.raises(ValueError, match="fit grad"):  # blocks without their six axes
        _fused.col2im(blocks.reshape(9, 16), np.zeros((1, 6, 6, 4), np.float32), 2, 2)
    with pytest.raises(TypeError, match="takes 4 arguments"):
        _fused.lerp(a, a, 0.5)


def test_the_install_built_the_c_loops_where_a_compiler_exists():
    """setup.py lets the build fail quietly (the numpy twin takes over), so a broken build must fail here."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine")
    assert _fused is not None and _loops.COMPILED


def _td3_and_sac_parameters_after_training():
    """Parameters after a short run of each algorithm that uses every loop: Adam, Polyak, bias + ReLU and its
    backward through `nn.Linear` actors and ensembled critics."""
    results, updates = [], []
    env = gym.make("Pendulum-v1")
    for cls in (TD3, SAC):
        agent = cls(
            env.observation_space,
            env.action_space,
            actor_hidden_dims=[32, 24],
            critic_hidden_dims=[32, 24],
            batch_size=32,
            learning_starts=64,
            seed=0,
        )
        agent.train("Pendulum-v1", total_steps=160)
        networks = (agent.actor, agent.critic, agent.critic_target)
        results += [p.numpy().ravel() for network in networks for p in network.parameters()]
        updates.append(agent.updates)
    return np.concatenate(results), updates


@needs_c
def test_training_gives_the_same_numbers_with_the_c_loops_and_the_numpy_twin(monkeypatch):
    with_c, updates = _td3_and_sac_parameters_after_training()
    monkeypatch.setattr(_loops, "_fused", None)
    with_numpy, _ = _td3_and_sac_parameters_after_training()
    assert updates == [96, 96] and np.isfinite(with_c).all()
    np.testing.assert_array_equal(with_c.view(np.uint32), with_numpy.view(np.uint32))


def test_loops_for_gives_c_only_for_arrays_it_takes_and_numpy_for_the_rest(monkeypatch):
    a, b = np.zeros((4, 6), np.float32), np.zeros(6, np.float32)
    if _fused is not None:
        assert _loops.loops_for(a, b, None) is _fused
    assert _loops.loops_for(a[:, ::2], b[:3]) is _fused_numpy  # strided: the C loops would refuse it
    assert _loops.loops_for(a, b.astype(np.float64)) is _fused_numpy  # mixed: numpy rounds as it always has
    assert _loops.loops_for(a.astype(np.float16)) is _fused_numpy
    monkeypatch.setattr(_loops, "_fused", None)
    assert _loops.loops_for(a, b) is _fused_numpy


@pytest.mark.parametrize("loops", IMPLEMENTATIONS)
def test_a_bias_gradient_of_masked_negative_zeros_is_positive_zero_as_numpy_sums_it(loops):
    grad_out = -np.ones((1, 5, 3), np.float32)
    out = np.zeros((1, 5, 3), np.float32)  # every unit dead: each masked gradient is -0.0
    grad_in, bias_grad = np.empty_like(out), np.empty((1, 1, 3), np.float32)
    loops.relu_backward(grad_out, out, grad_in, bias_grad, None, 1, 3)
    assert np.signbit(grad_in).all()
    _same_bits(bias_grad, grad_in.sum(axis=1, keepdims=True))
    assert not np.signbit(bias_grad).any()


def test_the_bias_gradient_of_a_one_unit_layer_has_numpys_pairwise_bits():
    rng = _rng(0)
    grad_out = (rng.standard_normal((300, 1)) * 10.0 ** rng.integers(-6, 6, (300, 1))).astype(np.float32)
    row_by_row = np.float32(0.0)
    for value in grad_out[:, 0]:
        row_by_row = np.float32(row_by_row + value)
    assert row_by_row != grad_out.sum()  # these rows tell the two orders apart
    grad_in, bias_grad, _ = _loops.relu_backward(grad_out, np.ones((300, 1), np.float32), 1, with_bias=True)
    _same_bits(bias_grad.reshape(1), grad_out.sum(axis=0))


def test_a_mixed_dtype_relu_masks_by_the_outputs_own_precision():
    """A float64 output too small for float32 is still positive: the gradient must pass, as numpy's mask lets it."""
    grad_out = np.ones((2, 3), np.float32)
    out = np.full((2, 3), 1e-300)
    grad_in, bias_grad, _ = _loops.relu_backward(grad_out, out, 1, with_bias=True)
    _same_bits(grad_in, grad_out)
    _same_bits(bias_grad.reshape(3), np.full(3, 2.0, np.float32))


@pytest.mark.parametrize("members", [1, 2])
def test_the_numpy_loops_add_the_bias_through_a_strided_view(members):
    """Views the C loops refuse: every other column of an ensemble's output, and every other matrix of one
    layer's batched output (a view no reshape to rows x cols can express without a copy)."""
    rng = _rng(5)
    base = rng.standard_normal((4, 3, 10)).astype(np.float32)
    out = base[:2, :, ::2] if members == 2 else base[::2, :, :5]
    bias = rng.standard_normal((members, 1, 5)).astype(np.float32)
    expected = _relu_reference(out + (bias if members == 2 else bias[0, 0]))
    _loops.loops_for(out, bias).add_bias_relu(out, bias, members, 5)
    _same_bits(out.copy(), expected)
