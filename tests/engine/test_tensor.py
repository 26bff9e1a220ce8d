"""Tests for the autograd engine: every op's gradient against central finite differences (float64), forward
values against numpy, dtype rules, graph bookkeeping, no_grad, in-place `.data` updates and sampling."""

import numpy as np
import pytest

import neurenix
from neurenix.tensor import Tensor, no_grad


def N(*shape):
    """A standard-normal input of this shape."""
    return ("normal", shape)


def P(*shape):
    """A strictly positive input of this shape (for log, sqrt, division, powers)."""
    return ("positive", shape)


def _make_inputs(specs, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for kind, shape in specs:
        if kind == "normal":
            arrays.append(rng.standard_normal(shape))
        else:
            arrays.append(rng.uniform(0.5, 2.0, size=shape))
    return arrays


_RNG = np.random.default_rng(7)
C34 = _RNG.standard_normal((3, 4))  # constant numpy operands
C4 = _RNG.standard_normal(4)
C45 = _RNG.standard_normal((4, 5))
P34 = _RNG.uniform(0.5, 2.0, (3, 4))
MASK34 = _RNG.random((3, 4)) > 0.5
IDX_DIM1 = np.array([[0, 3], [2, 2], [1, 1]])  # gather along dim 1 of (3, 4), with duplicates
IDX_DIM0 = np.array([[0, 2, 2, 1], [0, 0, 1, 2]])  # gather along dim 0 of (3, 4), with duplicates
ACTIONS = np.array([[1], [3], [1]])


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(a, axis):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


# (id, fn on Tensors, input specs, numpy reference on arrays or None)
OPS = [
    # ---- arithmetic and broadcasting
    ("add", lambda a, b: a + b, [N(3, 4), N(3, 4)], np.add),
    ("add_bcast_col_row", lambda a, b: a + b, [N(3, 1), N(1, 4)], np.add),
    ("sub_bcast_3d_vec", lambda a, b: a - b, [N(2, 3, 4), N(4)], np.subtract),
    ("mul_bcast_3d_vec", lambda a, b: a * b, [N(2, 3, 4), N(4)], np.multiply),
    ("mul_scalar_tensor", lambda a, b: a * b, [N(), N(2, 3)], np.multiply),
    ("mul_self", lambda a: a * a, [N(3, 4)], lambda a: a * a),
    ("div", lambda a, b: a / b, [N(3, 4), P(3, 1)], np.divide),
    ("div_by_scalar_tensor", lambda a, b: a / b, [N(2, 3), P()], np.divide),
    ("neg", lambda a: -a, [N(3, 4)], np.negative),
    ("radd", lambda a: 2.5 + a, [N(3, 4)], lambda a: 2.5 + a),
    ("rsub", lambda a: 2.5 - a, [N(3, 4)], lambda a: 2.5 - a),
    ("rmul", lambda a: 3 * a, [N(3, 4)], lambda a: 3 * a),
    ("rtruediv", lambda a: 2.0 / a, [P(3, 4)], lambda a: 2.0 / a),
    ("sub_scalar", lambda a: a - 1.5, [N(3, 4)], lambda a: a - 1.5),
    ("div_scalar", lambda a: a / 4, [N(3, 4)], lambda a: a / 4),
    ("numpy_left_add", lambda a: C34 + a, [N(3, 4)], lambda a: C34 + a),
    ("numpy_left_sub", lambda a: C34 - a, [N(3, 4)], lambda a: C34 - a),
    ("numpy_left_mul", lambda a: C34 * a, [N(3, 4)], lambda a: C34 * a),
    ("numpy_left_div", lambda a: C34 / a, [P(3, 4)], lambda a: C34 / a),
    ("numpy_right_mul_bcast", lambda a: a * C4, [N(3, 4)], lambda a: a * C4),
    ("numpy_right_sub", lambda a: a - C34, [N(3, 4)], lambda a: a - C34),
    ("pow_2", lambda a: a**2, [N(3, 4)], lambda a: a**2),
    ("pow_3_int", lambda a: a**3, [N(3, 4)], lambda a: a**3),
    ("pow_half", lambda a: a**0.5, [P(3, 4)], np.sqrt),
    ("pow_negative", lambda a: a**-1.5, [P(3, 4)], lambda a: a**-1.5),
    ("pow_tensor_exponent", lambda a, b: a**b, [P(3, 4), N(3, 4)], np.power),
    ("pow_tensor_exponent_bcast", lambda a, b: a**b, [P(3, 4), N(4)], np.power),
    ("rpow", lambda a: 2.0**a, [N(3, 4)], lambda a: 2.0**a),
    # ---- matmul
    ("matmul_2d", lambda a, b: a @ b, [N(3, 4), N(4, 5)], np.matmul),
    ("matmul_method", lambda a, b: a.matmul(b), [N(3, 4), N(4, 5)], np.matmul),
    ("matmul_batched", lambda a, b: a @ b, [N(2, 3, 4), N(2, 4, 5)], np.matmul),
    ("matmul_batched_bcast_right", lambda a, b: a @ b, [N(2, 3, 4), N(4, 5)], np.matmul),
    ("matmul_batched_bcast_left", lambda a, b: a @ b, [N(3, 4), N(2, 4, 5)], np.matmul),
    ("matmul_batched_bcast_batch1", lambda a, b: a @ b, [N(1, 3, 4), N(2, 4, 5)], np.matmul),
    ("matmul_vec_mat", lambda a, b: a @ b, [N(4), N(4, 5)], np.matmul),
    ("matmul_mat_vec", lambda a, b: a @ b, [N(3, 4), N(4)], np.matmul),
    ("matmul_vec_vec", lambda a, b: a @ b, [N(4), N(4)], np.matmul),
    ("matmul_batched_vec", lambda a, b: a @ b, [N(2, 3, 4), N(4)], np.matmul),
    ("matmul_vec_batched", lambda a, b: a @ b, [N(4), N(2, 4, 5)], np.matmul),
    ("matmul_numpy_right", lambda a: a @ C45, [N(3, 4)], lambda a: a @ C45),
    ("matmul_numpy_left", lambda a: C34 @ a, [N(4, 5)], lambda a: C34 @ a),
    # ---- unary
    ("exp", lambda a: a.exp(), [N(3, 4)], np.exp),
    ("log", lambda a: a.log(), [P(3, 4)], np.log),
    ("tanh", lambda a: a.tanh(), [N(3, 4)], np.tanh),
    ("relu", lambda a: a.relu(), [N(3, 4)], lambda a: np.maximum(a, 0)),
    ("sigmoid", lambda a: a.sigmoid(), [N(3, 4)], lambda a: 1 / (1 + np.exp(-a))),
    ("softplus", lambda a: (a * 3).softplus(), [N(3, 4)], lambda a: np.log1p(np.exp(3 * a))),
    ("abs", lambda a: a.abs(), [N(3, 4)], np.abs),
    ("sqrt", lambda a: a.sqrt(), [P(3, 4)], np.sqrt),
    ("clamp_both", lambda a: a.clamp(-0.5, 0.5), [N(3, 4)], lambda a: np.clip(a, -0.5, 0.5)),
    ("clamp_min_kw", lambda a: a.clamp(min=0.1), [N(3, 4)], lambda a: np.maximum(a, 0.1)),
    ("clamp_max_kw", lambda a: a.clamp(max=-0.2), [N(3, 4)], lambda a: np.minimum(a, -0.2)),
    ("minimum", lambda a, b: a.minimum(b), [N(3, 4), N(3, 4)], np.minimum),
    ("maximum", lambda a, b: a.maximum(b), [N(3, 4), N(3, 4)], np.maximum),
    ("maximum_bcast", lambda a, b: a.maximum(b), [N(3, 4), N(4)], np.maximum),
    ("Tensor_min_elementwise", lambda a, b: Tensor.min(a, b), [N(3, 4), N(3, 4)], np.minimum),
    ("Tensor_max_elementwise", lambda a, b: Tensor.max(a, b), [N(3, 4), N(3, 4)], np.maximum),
    # ---- reductions
    ("sum_all", lambda a: a.sum(), [N(3, 4)], np.sum),
    ("sum_dim0", lambda a: a.sum(dim=0), [N(3, 4)], lambda a: a.sum(0)),
    ("sum_dim1", lambda a: a.sum(1), [N(3, 4)], lambda a: a.sum(1)),
    ("sum_dim_neg1_3d", lambda a: a.sum(dim=-1), [N(2, 3, 4)], lambda a: a.sum(-1)),
    ("sum_dim_tuple", lambda a: a.sum(dim=(0, 2)), [N(2, 3, 4)], lambda a: a.sum((0, 2))),
    ("sum_dim_tuple_neg", lambda a: a.sum(dim=(-1, 0)), [N(2, 3, 4)], lambda a: a.sum((0, 2))),
    ("sum_keepdim", lambda a: a.sum(dim=1, keepdim=True), [N(2, 3, 4)], lambda a: a.sum(1, keepdims=True)),
    (
        "sum_tuple_keepdim",
        lambda a: a.sum(dim=(0, 2), keepdim=True),
        [N(2, 3, 4)],
        lambda a: a.sum((0, 2), keepdims=True),
    ),
    ("mean_all", lambda a: a.mean(), [N(3, 4)], np.mean),
    ("mean_dim0", lambda a: a.mean(dim=0), [N(3, 4)], lambda a: a.mean(0)),
    (
        "mean_dim_neg1_keepdim",
        lambda a: a.mean(-1, keepdim=True),
        [N(2, 3, 4)],
        lambda a: a.mean(-1, keepdims=True),
    ),
    ("mean_dim_tuple", lambda a: a.mean(dim=(1, 2)), [N(2, 3, 4)], lambda a: a.mean((1, 2))),
    ("std_all", lambda a: a.std(), [N(3, 4)], lambda a: a.std(ddof=1)),
    ("std_dim1", lambda a: a.std(dim=1), [N(3, 4)], lambda a: a.std(1, ddof=1)),
    (
        "std_dim0_keepdim",
        lambda a: a.std(dim=0, keepdim=True),
        [N(3, 4)],
        lambda a: a.std(0, ddof=1, keepdims=True),
    ),
    ("std_dim_tuple", lambda a: a.std(dim=(0, 2)), [N(2, 3, 4)], lambda a: a.std((0, 2), ddof=1)),
    ("var_all", lambda a: a.var(), [N(3, 4)], lambda a: a.var(ddof=1)),
    ("var_dim_neg1", lambda a: a.var(dim=-1), [N(2, 3, 4)], lambda a: a.var(-1, ddof=1)),
    (
        "var_dim1_keepdim",
        lambda a: a.var(dim=1, keepdim=True),
        [N(3, 4)],
        lambda a: a.var(1, ddof=1, keepdims=True),
    ),
    ("max_dim1_values", lambda a: a.max(dim=1)[0], [N(3, 4)], lambda a: a.max(1)),
    (
        "max_dim0_keepdim",
        lambda a: a.max(dim=0, keepdim=True).values,
        [N(3, 4)],
        lambda a: a.max(0, keepdims=True),
    ),
    ("max_dim_neg1_3d", lambda a: a.max(-1).values, [N(2, 3, 4)], lambda a: a.max(-1)),
    ("min_dim1_values", lambda a: a.min(dim=1)[0], [N(3, 4)], lambda a: a.min(1)),
    ("min_dim0_values", lambda a: a.min(0).values, [N(3, 4)], lambda a: a.min(0)),
    ("max_all", lambda a: a.max(), [N(3, 4)], np.max),
    ("min_all", lambda a: a.min(), [N(2, 3, 4)], np.min),
    # ---- softmax family
    ("softmax_last", lambda a: a.softmax(-1), [N(3, 4)], lambda a: _softmax(a, -1)),
    ("softmax_dim0", lambda a: a.softmax(dim=0), [N(3, 4)], lambda a: _softmax(a, 0)),
    ("softmax_static_3d", lambda a: Tensor.softmax(a, dim=1), [N(2, 3, 4)], lambda a: _softmax(a, 1)),
    ("log_softmax_last", lambda a: a.log_softmax(-1), [N(3, 4)], lambda a: _log_softmax(a, -1)),
    ("log_softmax_dim0", lambda a: a.log_softmax(dim=0), [N(3, 4)], lambda a: _log_softmax(a, 0)),
    # ---- gather and indexing
    (
        "gather_dim1_dups",
        lambda a: a.gather(1, IDX_DIM1),
        [N(3, 4)],
        lambda a: np.take_along_axis(a, IDX_DIM1, 1),
    ),
    (
        "gather_dim0_dups",
        lambda a: a.gather(0, IDX_DIM0),
        [N(3, 4)],
        lambda a: np.take_along_axis(a, IDX_DIM0, 0),
    ),
    (
        "gather_neg_dim_tensor_index",
        lambda a: a.gather(-1, Tensor(ACTIONS)),
        [N(3, 4)],
        lambda a: np.take_along_axis(a, ACTIONS, 1),
    ),
    ("index_int", lambda a: a[1], [N(3, 4)], lambda a: a[1]),
    ("index_negative_int", lambda a: a[-1, 2], [N(3, 4)], lambda a: a[-1, 2]),
    ("index_slice", lambda a: a[:, 1:3], [N(3, 4)], lambda a: a[:, 1:3]),
    ("index_ellipsis", lambda a: a[..., 0], [N(2, 3, 4)], lambda a: a[..., 0]),
    ("index_list_dups", lambda a: a[[0, 2, 0]], [N(3, 4)], lambda a: a[[0, 2, 0]]),
    (
        "index_array_dups_2d",
        lambda a: a[np.array([[0, 1], [1, 1]])],
        [N(3, 4)],
        lambda a: a[np.array([[0, 1], [1, 1]])],
    ),
    (
        "index_array_pairs_dups",
        lambda a: a[np.arange(3), np.array([1, 1, 3])][np.array([0, 0, 2])],
        [N(3, 4)],
        lambda a: a[np.arange(3), np.array([1, 1, 3])][np.array([0, 0, 2])],
    ),
    ("index_bool_mask_array", lambda a: a[MASK34], [N(3, 4)], lambda a: a[MASK34]),
    ("index_bool_mask_tensor", lambda a: a[a > 0], [N(3, 4)], lambda a: a[a > 0]),
    # ---- shape ops
    ("reshape_varargs", lambda a: a.reshape(2, 6), [N(3, 4)], lambda a: a.reshape(2, 6)),
    ("reshape_tuple", lambda a: a.reshape((4, 3)), [N(3, 4)], lambda a: a.reshape(4, 3)),
    ("reshape_minus1", lambda a: a.reshape(-1), [N(2, 3, 4)], lambda a: a.reshape(-1)),
    ("view", lambda a: a.view(6, -1), [N(3, 4)], lambda a: a.reshape(6, 2)),
    ("unsqueeze0", lambda a: a.unsqueeze(0), [N(3, 4)], lambda a: a[None]),
    ("unsqueeze_neg1", lambda a: a.unsqueeze(-1), [N(3, 4)], lambda a: a[..., None]),
    ("squeeze_all", lambda a: a.squeeze(), [N(3, 1, 4, 1)], lambda a: a.reshape(3, 4)),
    ("squeeze_dim", lambda a: a.squeeze(1), [N(3, 1, 4, 1)], lambda a: a.reshape(3, 4, 1)),
    ("transpose", lambda a: a.transpose(0, 1), [N(3, 4)], lambda a: a.T),
    ("transpose_3d", lambda a: a.transpose(0, 2), [N(2, 3, 4)], lambda a: a.transpose(2, 1, 0)),
    ("T", lambda a: a.T, [N(3, 4)], lambda a: a.T),
    # ---- joining and selecting
    ("cat_dim0", lambda a, b: Tensor.cat([a, b]), [N(2, 4), N(3, 4)], lambda a, b: np.concatenate([a, b])),
    (
        "cat_dim1_three",
        lambda a, b: Tensor.cat([a, b, a], dim=1),
        [N(3, 2), N(3, 4)],
        lambda a, b: np.concatenate([a, b, a], 1),
    ),
    (
        "cat_neg_dim_numpy_item",
        lambda a: Tensor.cat([a, C34], dim=-1),
        [N(3, 4)],
        lambda a: np.concatenate([a, C34], -1),
    ),
    ("stack_dim0", lambda a, b: Tensor.stack([a, b]), [N(3, 4), N(3, 4)], lambda a, b: np.stack([a, b])),
    (
        "stack_dim1",
        lambda a, b: Tensor.stack([a, b, a], dim=1),
        [N(3, 4), N(3, 4)],
        lambda a, b: np.stack([a, b, a], 1),
    ),
    (
        "stack_neg_dim_numpy_item",
        lambda a: Tensor.stack([C34, a], dim=-1),
        [N(3, 4)],
        lambda a: np.stack([C34, a], -1),
    ),
    (
        "where_array_cond",
        lambda a, b: Tensor.where(MASK34, a, b),
        [N(3, 4), N(3, 4)],
        lambda a, b: np.where(MASK34, a, b),
    ),
    ("where_tensor_cond", lambda a, b: Tensor.where(a > b, a, b), [N(3, 4), N(3, 4)], np.maximum),
    (
        "where_bcast",
        lambda a, b: neurenix.where(MASK34, a, b),
        [N(3, 4), N(4)],
        lambda a, b: np.where(MASK34, a, b),
    ),
    (
        "where_scalar_branch",
        lambda a: Tensor.where(a > 0, a, 0.0),
        [N(3, 4)],
        lambda a: np.where(a > 0, a, 0.0),
    ),
    # ---- composites (shared subexpressions, chains)
    (
        "shared_subexpression",
        lambda x: (x + 1) * (x + 1) + (x + 1),
        [N(3, 4)],
        lambda x: (x + 1) ** 2 + x + 1,
    ),
    (
        "two_layer_net",
        lambda x, w1, w2: (x @ w1).tanh() @ w2,
        [N(5, 3), N(3, 4), N(4, 2)],
        lambda x, w1, w2: np.tanh(x @ w1) @ w2,
    ),
    (
        "policy_gradient_loss",
        lambda logits, adv: -(logits.log_softmax(-1).gather(1, ACTIONS).squeeze(1) * adv).mean(),
        [N(3, 4), N(3)],
        lambda lg, adv: -(np.take_along_axis(_log_softmax(lg, -1), ACTIONS, 1)[:, 0] * adv).mean(),
    ),
    (
        "normalised_advantages",
        lambda a: (a - a.mean()) / (a.std() + 1e-8),
        [N(6)],
        lambda a: (a - a.mean()) / (a.std(ddof=1) + 1e-8),
    ),
    (
        "gaussian_log_prob",
        lambda x, mu, log_std: (-0.5 * ((x - mu) / log_std.exp()) ** 2 - log_std).sum(-1),
        [N(3, 2), N(3, 2), N(2)],
        lambda x, mu, ls: (-0.5 * ((x - mu) / np.exp(ls)) ** 2 - ls).sum(-1),
    ),
]


@pytest.mark.parametrize("fn, specs, ref", [case[1:] for case in OPS], ids=[case[0] for case in OPS])
def test_op_gradient_matches_finite_differences(check_grad, fn, specs, ref):
    arrays = _make_inputs(specs, seed=len(specs) * 100 + sum(len(s) for _, s in specs))
    out = check_grad(fn, *arrays)
    if ref is not None:
        expected = np.asarray(ref(*arrays))
        assert out.shape == expected.shape
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_op_table_ids_are_unique():
    ids = [case[0] for case in OPS]
    assert len(ids) == len(set(ids))


def test_gradcheck_detects_a_wrong_gradient(check_grad):
    """The checker itself must fail on a wrong gradient: detach half of a product."""
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.raises(AssertionError):
        check_grad(lambda a: a * a.detach(), x)


# ---------------------------------------------------------------- construction, dtypes, conversions


def test_python_lists_and_scalars_become_float32():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor([[1.5, 2.0]]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32
    assert Tensor(3).dtype == np.float32
    assert Tensor(3.0).shape == ()
    assert Tensor([[1, 2, 3], [4, 5, 6]]).shape == (2, 3)


def test_numpy_dtypes_are_kept_and_dtype_argument_casts():
    assert Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert np.issubdtype(Tensor(np.arange(3)).dtype, np.integer)
    assert Tensor(np.array([True, False])).dtype == np.bool_
    t = Tensor(np.arange(3.0), dtype=np.float32)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), [0.0, 1.0, 2.0])


def test_float32_ops_stay_float32():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    y = ((x * 2.0 + 1) / 3 - 0.5) ** 2
    z = (y.exp().log() + x.tanh() + x.sigmoid() + x.relu() + x.softplus()).softmax(-1).log_softmax(0)
    loss = z.mean() + x.std() + x.var(dim=0).sum() + x.max() + x.abs().sqrt().sum()
    for t in (y, z, loss):
        assert t.dtype == np.float32, t.dtype
    loss.backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("scalar", [np.float64(0.5), np.int64(3), np.float32(0.5)], ids=["f64", "i64", "f32"])
def test_numpy_scalars_do_not_upcast_float32(scalar):
    """numpy scalars combine like python numbers (torch treats them as wrapped scalars): float32 stays float32."""
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    for y in (x * scalar, scalar * x, x + scalar, scalar - x, x / scalar, scalar / x, x**scalar):
        assert isinstance(y, Tensor) and y.requires_grad
        assert y.dtype == np.float32, y.dtype


def test_attributes_and_conversions():
    a = np.arange(6.0).reshape(2, 3)
    t = Tensor(a)
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2
    assert t.requires_grad is False and t.grad is None
    np.testing.assert_array_equal(np.asarray(t), a)
    assert Tensor(2.5).item() == 2.5 and isinstance(Tensor(2.5).item(), float)
    assert Tensor([[2.5]]).item() == 2.5
    assert float(Tensor(2.5)) == 2.5
    assert bool(Tensor(1.0)) is True and bool(Tensor(0.0)) is False


def test_scalar_conversions_of_one_element_tensors_of_any_rank():
    one = Tensor([[2.5]])
    assert float(one) == 2.5
    assert float(Tensor(np.array([7.0]))) == 7.0
    assert int(Tensor(np.array([[3]]))) == 3
    assert bool(Tensor([0.0])) is False and bool(Tensor([[1.0]])) is True


def test_numpy_returns_the_underlying_array_without_copy():
    t = Tensor(np.zeros(3, dtype=np.float32))
    t.numpy()[1] = 5.0
    assert t.numpy()[1] == 5.0
    assert t.numpy() is t.numpy() or np.shares_memory(t.numpy(), t.numpy())


def test_comparisons_return_masks_without_grad():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    y = Tensor(np.array([0.0, 0.0, 3.0]), requires_grad=True)
    cases = {
        "<": (x < y, [True, False, True]),
        "<=": (x <= y, [True, True, True]),
        ">": (x > 0, [False, False, True]),
        ">=": (x >= 0, [False, True, True]),
        "==": (x == y, [False, True, False]),
        "!=": (x != 0.0, [True, False, True]),
    }
    for name, (result, expected) in cases.items():
        assert isinstance(result, Tensor), name
        assert result.requires_grad is False, name
        np.testing.assert_array_equal(np.asarray(result).astype(bool), expected, err_msg=name)
    # comparison results index like boolean masks
    np.testing.assert_array_equal(x[x > -0.5].numpy(), [0.0, 2.0])


# ---------------------------------------------------------------- specific op semantics


def test_log_softmax_and_softmax_are_stable_for_extreme_logits():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    ls = x.log_softmax(-1)
    assert np.all(np.isfinite(ls.numpy()))
    np.testing.assert_allclose(ls.numpy(), [[0.0, -1000.0, -2000.0]], atol=1e-9)
    sm = x.softmax(-1)
    np.testing.assert_allclose(sm.numpy(), [[1.0, 0.0, 0.0]], atol=1e-12)
    (ls * Tensor(np.array([[1.0, 2.0, 3.0]]))).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    # d/dx sum(w * log_softmax(x)) = w - softmax(x) * sum(w)
    np.testing.assert_allclose(x.grad.numpy(), [[1.0 - 6.0, 2.0, 3.0]], atol=1e-9)
    f32 = Tensor(np.array([1000.0, 0.0, -1000.0], dtype=np.float32)).log_softmax(-1)
    assert np.all(np.isfinite(f32.numpy()))


def test_softplus_and_sigmoid_are_stable_for_large_inputs():
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    sp = x.softplus()
    np.testing.assert_allclose(
        sp.numpy(), [0.0, np.log1p(np.exp(-50.0)), np.log(2.0), 50.0, 1000.0], rtol=1e-12
    )
    sg = x.sigmoid()
    np.testing.assert_allclose(sg.numpy(), [0.0, 1 / (1 + np.exp(50.0)), 0.5, 1 / (1 + np.exp(-50.0)), 1.0])
    (sp.sum() + sg.sum()).backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_clamp_gradient_is_zero_outside_the_range():
    x = Tensor(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), requires_grad=True)
    y = x.clamp(-1.0, 1.0)
    np.testing.assert_array_equal(y.numpy(), [-1.0, -0.5, 0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_std_is_unbiased_and_var_matches():
    a = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 7.0]])
    t = Tensor(a)
    np.testing.assert_allclose(t.std().item(), a.std(ddof=1))
    np.testing.assert_allclose(t.var(dim=1).numpy(), a.var(1, ddof=1))
    np.testing.assert_allclose(t.std(dim=0).numpy(), a.std(0, ddof=1))


def test_max_min_with_dim_return_values_and_indices():
    a = np.array([[1.0, 5.0, 3.0], [7.0, -2.0, 0.0]])
    t = Tensor(a, requires_grad=True)
    res = t.max(dim=1)
    values, indices = res  # unpacks like a tuple
    assert res[0] is values or np.array_equal(np.asarray(res[0]), np.asarray(values))
    np.testing.assert_array_equal(np.asarray(res.values), [5.0, 7.0])
    np.testing.assert_array_equal(np.asarray(res.indices), [1, 0])
    assert np.issubdtype(np.asarray(indices).dtype, np.integer)
    mn = t.min(dim=0, keepdim=True)
    np.testing.assert_array_equal(np.asarray(mn.values), [[1.0, -2.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(mn.indices), [[0, 1, 1]])
    assert t.max().shape == () and t.max().item() == 7.0
    assert t.min().shape == () and t.min().item() == -2.0
    np.testing.assert_array_equal(np.asarray(t.argmax(dim=1)), [1, 0])
    np.testing.assert_array_equal(np.asarray(t.argmax(0)), [1, 0, 0])
    np.testing.assert_array_equal(np.asarray(t.argmax(-1)), [1, 0])


def test_max_gradient_with_ties_goes_to_one_element_per_reduction():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = Tensor(a, requires_grad=True)
    res = x.max(dim=1)
    res.values.sum().backward()
    g = x.grad.numpy()
    np.testing.assert_allclose(g.sum(axis=1), [1.0, 1.0])
    expected = np.zeros_like(a)
    expected[np.arange(2), np.asarray(res.indices)] = 1.0
    np.testing.assert_array_equal(g, expected)
    # full reduction: total gradient 1, only on maximal entries
    y = Tensor(np.array([3.0, 1.0, 3.0]), requires_grad=True)
    y.max().backward()
    gy = y.grad.numpy()
    np.testing.assert_allclose(gy.sum(), 1.0)
    assert gy[1] == 0.0 and np.all(gy >= 0)


def test_gather_and_index_accumulate_duplicate_gradients():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    idx = np.array([[2, 2, 0], [1, 1, 1]])
    x.gather(1, idx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    y = Tensor(np.zeros(4), requires_grad=True)
    y[np.array([3, 0, 3, 3])].sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 0.0, 0.0, 3.0])
    z = Tensor(np.zeros((3, 2)), requires_grad=True)
    z[np.array([0, 0, 2]), np.array([1, 1, 0])].sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [[0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])


def test_cat_stack_shapes_and_gradient_routing():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    assert Tensor.cat([a, b], dim=1).shape == (2, 6)
    assert Tensor.stack([a, b], dim=2).shape == (2, 3, 2)
    s = Tensor.stack([a, b])
    (s[0] * 2 + s[1] * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((2, 3), 3.0))


def test_where_routes_gradient_to_the_selected_branch():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([10.0, 20.0, 30.0]), requires_grad=True)
    cond = np.array([True, False, True])
    out = Tensor.where(cond, a, b)
    np.testing.assert_array_equal(out.numpy(), [1.0, 20.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(neurenix.where(cond, a, b).numpy(), out.numpy())


def test_reshape_family_shapes():
    t = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert t.reshape(6, 4).shape == (6, 4)
    assert t.view(-1, 2).shape == (12, 2)
    assert t.unsqueeze(1).shape == (2, 1, 3, 4)
    assert t.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert t.reshape(2, 1, 12).squeeze().shape == (2, 12)
    assert t.reshape(2, 1, 12).squeeze(1).shape == (2, 12)
    assert t.transpose(1, 2).shape == (2, 4, 3)
    assert t[0].T.shape == (4, 3)
    np.testing.assert_array_equal(
        t.transpose(-1, 0).numpy(), np.arange(24.0).reshape(2, 3, 4).transpose(2, 1, 0)
    )


# ---------------------------------------------------------------- backward bookkeeping


def test_backward_on_one_element_tensors():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    y = Tensor(np.array([3.0]), requires_grad=True)
    (y * 4).reshape(1, 1).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [4.0])


def test_backward_with_explicit_gradient():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    (x * x).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * g)
    z = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (z * 3).backward(Tensor(np.array([1.0, 10.0])))
    np.testing.assert_allclose(z.grad.numpy(), [3.0, 30.0])


def test_gradients_accumulate_over_backward_calls():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * 3).sum().backward()
    assert isinstance(x.grad, Tensor)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0 + 2.0, 3.0 - 4.0])


def test_tensor_used_twice_gets_summed_gradient():
    x = Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    a = x + 1
    b = a * a + a
    b.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (x.numpy() + 1) + 1)
    y = Tensor(np.array([3.0]), requires_grad=True)
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0])


def test_diamond_graph_with_reused_intermediates():
    x = Tensor(np.array(0.7), requires_grad=True)
    a = x * 2
    b = a.exp()
    c = a * b  # a used twice, b depends on a
    d = c + a + b
    d.backward()
    # d = 2x e^{2x} + 2x + e^{2x}; dd/dx = 2e^{2x} + 4x e^{2x} + 2 + 2e^{2x}
    xv = 0.7
    np.testing.assert_allclose(x.grad.item(), 4 * np.exp(2 * xv) + 4 * xv * np.exp(2 * xv) + 2, rtol=1e-12)


def test_backward_through_a_long_chain():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**3000, rtol=1e-9)


def test_requires_grad_propagates_only_from_leaves_that_need_it():
    a = Tensor(np.ones(3))
    b = Tensor(np.ones(3), requires_grad=True)
    assert (a * 2).requires_grad is False
    assert (a + b).requires_grad is True
    (a * b).sum().backward()
    assert a.grad is None
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3))


def test_detach_blocks_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = x.detach()
    assert d.requires_grad is False
    np.testing.assert_array_equal(d.numpy(), x.numpy())
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


# ---------------------------------------------------------------- no_grad


def test_no_grad_builds_no_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        y = x * 2
        z = (y.exp() @ x).tanh()
    assert y.requires_grad is False and z.requires_grad is False
    # y is a constant: the gradient of (y * x) is y only, not y + 2x
    (y * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_no_grad_variants_and_restoration():
    x = Tensor(np.ones(2), requires_grad=True)
    with Tensor.no_grad():
        assert (x + 1).requires_grad is False
    with neurenix.no_grad():
        with no_grad():
            pass
        assert (x + 1).requires_grad is False  # still disabled after the inner block
    assert (x + 1).requires_grad is True

    @no_grad()
    def double(t):
        return t * 2

    assert double(x).requires_grad is False
    assert (x * 2).requires_grad is True

    with pytest.raises(RuntimeError, match="boom"):
        with no_grad():
            raise RuntimeError("boom")
    assert (x * 2).requires_grad is True  # re-enabled after an exception


# ---------------------------------------------------------------- .data and in-place updates


def test_data_shares_storage_and_in_place_ops_change_the_parameter():
    p = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    assert p.data.requires_grad is False
    assert np.shares_memory(p.data.numpy(), p.numpy())
    p.data.mul_(2.0)
    np.testing.assert_array_equal(p.numpy(), [2.0, 4.0, 6.0])
    p.data.add_(Tensor(np.array([1.0, 1.0, 1.0], dtype=np.float32)), alpha=-0.5)
    np.testing.assert_array_equal(p.numpy(), [1.5, 3.5, 5.5])
    p.data.add_(1.0)
    np.testing.assert_array_equal(p.numpy(), [2.5, 4.5, 6.5])
    p.data.copy_(Tensor(np.array([7.0, 8.0, 9.0])))
    np.testing.assert_array_equal(p.numpy(), [7.0, 8.0, 9.0])
    assert p.dtype == np.float32  # copy_ casts into the parameter's dtype
    p.data.fill_(0.25)
    np.testing.assert_array_equal(p.numpy(), [0.25, 0.25, 0.25])
    p.data.zero_()
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0, 0.0])
    # nothing was recorded: the parameter is still a leaf with no gradient, and gets the plain gradient
    assert p.grad is None and p.requires_grad is True
    p.data.fill_(2.0)
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 4.0, 4.0])


def test_polyak_update_through_data():
    target = Tensor(np.zeros(3), requires_grad=True)
    source = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    tau = 0.1
    for _ in range(2):
        target.data.mul_(1 - tau)
        target.data.add_(source.data, alpha=tau)
    np.testing.assert_allclose(target.numpy(), source.numpy() * (1 - (1 - tau) ** 2))
    assert target.grad is None and source.grad is None


# ---------------------------------------------------------------- categorical sampling


def test_sample_frequencies_match_probabilities():
    neurenix.manual_seed(123)
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.05, 0.25]])
    n = 20000
    probs = Tensor(np.tile(p, (n, 1)).reshape(n, 2, 4))
    samples = probs.sample()
    assert isinstance(samples, Tensor)
    assert samples.shape == (n, 2)
    assert np.issubdtype(samples.dtype, np.integer)
    s = samples.numpy()
    for row in range(2):
        freq = np.bincount(s[:, row], minlength=4) / n
        np.testing.assert_allclose(freq, p[row], atol=0.015)
    assert np.all(s[:, 1] != 1)  # zero-probability category never drawn


def test_sample_is_seeded_and_handles_degenerate_and_1d():
    probs = Tensor(np.array([[0.2, 0.3, 0.5]] * 500, dtype=np.float32))
    neurenix.manual_seed(5)
    a = probs.sample().numpy().copy()
    neurenix.manual_seed(5)
    b = probs.sample().numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 3
    one_hot = Tensor(np.tile(np.array([0.0, 0.0, 1.0]), (100, 1)))
    np.testing.assert_array_equal(one_hot.sample().numpy(), np.full(100, 2))
    single = Tensor(np.array([0.0, 1.0, 0.0])).sample()
    assert single.shape == () and int(single.item()) == 1
