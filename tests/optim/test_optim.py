"""Tests for neurenix.optim: exact update rules against hand-written numpy (torch semantics), convergence on a
small regression, state-dict resumption, gradient clipping, hyperparameter validation and schedules."""

import collections
import copy
import importlib
import pickle
import tracemalloc

import numpy as np
import pytest

import neurenix.nn.functional as F
from neurenix import nn, optim
from neurenix.tensor import Tensor

engine = importlib.import_module("neurenix.tensor")  # the module: `neurenix.tensor` is also a function

# ---------------------------------------------------------------- exact update rules
# A separable quadratic: loss = scale * sum(0.5 * c * p^2 + d * p), so grad = scale * (c * p + d) varies per step.


def _problem():
    rng = np.random.default_rng(0)
    shapes = [(3,), (2, 2)]
    p0 = [rng.standard_normal(s) for s in shapes]
    c = [rng.uniform(0.5, 1.5, s) for s in shapes]
    d = [rng.standard_normal(s) for s in shapes]
    return p0, c, d


def _engine_trajectory(make_opt, scale, steps=3, layout="fresh"):
    """layout: "fresh" params; "owned": params already handed to another optimizer; "mixed": an extra float32
    parameter (zero gradient) beside the float64 ones."""
    p0, c, d = _problem()
    params = [Tensor(a.copy(), requires_grad=True) for a in p0]
    if layout == "owned":
        optim.SGD(params, lr=123.0)  # never stepped
    if layout == "mixed":
        params.append(Tensor(np.zeros(2, dtype=np.float32), requires_grad=True))
    opt = make_opt(params)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.0
        for p, ci, di in zip(params, c, d):
            loss = loss + ((p * p * Tensor(ci)) * 0.5 + p * Tensor(di)).sum() * scale
        if layout == "mixed":
            loss = loss + (params[-1] * 0.0).sum()
        loss.backward()
        opt.step()
        trajectory.append([p.numpy().copy() for p in params[: len(p0)]])
    return trajectory


def _hand_trajectory(update, scale, steps=3):
    """update(p, g, state, t) -> new p at step t (1-based); state is a per-parameter dict."""
    p0, c, d = _problem()
    params = [a.copy() for a in p0]
    states = [{} for _ in params]
    trajectory = []
    for t in range(1, steps + 1):
        grads = [scale * (ci * p + di) for p, ci, di in zip(params, c, d)]
        params = [update(p, g, s, t) for p, g, s in zip(params, grads, states)]
        trajectory.append([p.copy() for p in params])
    return trajectory


def _assert_same(engine, hand, rtol=1e-10):
    assert len(engine) == len(hand)
    for step, (e_step, h_step) in enumerate(zip(engine, hand)):
        for e, h in zip(e_step, h_step):
            np.testing.assert_allclose(e, h, rtol=rtol, atol=1e-13, err_msg=f"step {step + 1}")


def _sgd_rule(lr, momentum=0.0, weight_decay=0.0):
    def update(p, g, state, t):
        g = g + weight_decay * p
        if momentum:
            state["buf"] = g.copy() if "buf" not in state else momentum * state["buf"] + g
            g = state["buf"]
        return p - lr * g

    return update


def _adam_rule(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas

    def update(p, g, state, t):
        g = g + weight_decay * p
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = state["m"] / (1 - b1**t)
        v_hat = state["v"] / (1 - b2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    return update


def _rmsprop_rule(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, v_start=0.0, eps_inside=False):
    """torch's RMSprop; SB3's RMSpropTFLike with v_start 1 and eps_inside (the square root's)."""

    def update(p, g, state, t):
        g = g + weight_decay * p
        state["v"] = alpha * state.get("v", v_start) + (1 - alpha) * g * g
        step = g / (np.sqrt(state["v"] + eps) if eps_inside else np.sqrt(state["v"]) + eps)
        if momentum:
            state["buf"] = momentum * state.get("buf", 0.0) + step
            step = state["buf"]
        return p - lr * step

    return update


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.1, weight_decay=0.3),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1),
]


LAYOUTS = ["fresh", "owned", "mixed"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=["plain", "momentum", "weight_decay", "momentum_wd"])
def test_sgd_matches_torch_update(kwargs, layout):
    engine = _engine_trajectory(lambda ps: optim.SGD(ps, **kwargs), scale=1.0, layout=layout)
    _assert_same(engine, _hand_trajectory(_sgd_rule(**kwargs), scale=1.0))


ADAM_CASES = [
    # gradients ~1e-3 with eps=1e-3: eps changes the update by a large factor, so its placement is checked
    (dict(lr=0.01, eps=1e-3), 1e-3),
    (dict(lr=0.02, betas=(0.8, 0.9), eps=1e-3), 1e-3),
    (dict(lr=0.01, eps=1e-8, weight_decay=0.5), 1.0),
    (dict(lr=0.003), 1.0),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kwargs, scale", ADAM_CASES, ids=["eps_effect", "betas", "weight_decay", "defaults"])
def test_adam_matches_closed_form(kwargs, scale, layout):
    engine = _engine_trajectory(lambda ps: optim.Adam(ps, **kwargs), scale=scale, layout=layout)
    _assert_same(engine, _hand_trajectory(_adam_rule(**kwargs), scale=scale))


def test_adam_eps_case_is_sensitive_to_eps():
    """Guard for the test above: in the eps case, eps=0 or the 'efficient' eps placement give other results."""
    kwargs, scale = ADAM_CASES[0]
    reference = _hand_trajectory(_adam_rule(**kwargs), scale)[-1]
    without_eps = _hand_trajectory(_adam_rule(**dict(kwargs, eps=0.0)), scale)[-1]
    p0 = _problem()[0]
    for r, w, p in zip(reference, without_eps, p0):
        assert np.abs((r - p) - (w - p)).max() > 0.2 * np.abs(w - p).max()


def test_adam_first_step_is_lr_times_sign():
    engine = _engine_trajectory(lambda ps: optim.Adam(ps, lr=0.01), scale=1.0, steps=1)[0]
    p0, c, d = _problem()
    for e, p, ci, di in zip(engine, p0, c, d):
        np.testing.assert_allclose(e, p - 0.01 * np.sign(ci * p + di), rtol=1e-6)


RMSPROP_CASES = [
    (dict(lr=0.01, eps=1e-3), 1e-3),
    (dict(lr=0.01, alpha=0.9, eps=1e-8), 1.0),
    (dict(lr=0.005, alpha=0.95, eps=1e-3, momentum=0.9), 1e-3),
    (dict(lr=0.01, weight_decay=0.2, momentum=0.5), 1.0),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "kwargs, scale", RMSPROP_CASES, ids=["eps_effect", "alpha", "momentum", "weight_decay"]
)
def test_rmsprop_matches_torch_update(kwargs, scale, layout):
    engine = _engine_trajectory(lambda ps: optim.RMSprop(ps, **kwargs), scale=scale, layout=layout)
    _assert_same(engine, _hand_trajectory(_rmsprop_rule(**kwargs), scale=scale))


TF_LIKE = dict(v_start=1.0, eps_inside=True)
# With v near 1, only an eps near 1 shows where it is added.
RMSPROP_TF_CASES = [*RMSPROP_CASES, (dict(lr=0.01, eps=1.0), 1.0)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "kwargs, scale", RMSPROP_TF_CASES, ids=["eps_effect", "alpha", "momentum", "weight_decay", "eps_place"]
)
def test_rmsprop_tf_like_matches_sb3s_update(kwargs, scale, layout):
    engine = _engine_trajectory(lambda ps: optim.RMSpropTFLike(ps, **kwargs), scale=scale, layout=layout)
    _assert_same(engine, _hand_trajectory(_rmsprop_rule(**kwargs, **TF_LIKE), scale=scale))


@pytest.mark.parametrize(
    "change", [dict(v_start=0.0), dict(eps_inside=False)], ids=["v_from_0", "eps_outside"]
)
def test_rmsprop_tf_like_cases_see_each_difference_from_torchs_rule(change):
    """Guard for the test above: v from 0 or eps outside the root each end far from RMSpropTFLike's parameters
    in one of its cases."""
    kwargs, scale = RMSPROP_TF_CASES[0 if "v_start" in change else -1]
    reference = _hand_trajectory(_rmsprop_rule(**kwargs, **TF_LIKE), scale)[-1]
    other = _hand_trajectory(_rmsprop_rule(**kwargs, **{**TF_LIKE, **change}), scale)[-1]
    for r, o, p in zip(reference, other, _problem()[0]):
        assert np.abs((r - p) - (o - p)).max() > 0.2 * np.abs(r - p).max()


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "RMSpropTFLike"])
def test_lr_is_settable(name):
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1)
    opt.lr = 0.0
    assert opt.lr == 0.0
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, -2.0])


def test_sgd_lr_change_takes_effect():
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.step()
    opt.lr = 0.5
    opt.step()  # same gradient still stored
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.2 - 1.0])


# Every update rule with its momentum and weight decay on, so that the state it keeps is exercised.
each_rule_with_state = pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.1, weight_decay=0.1, momentum=0.9),
        lambda ps: optim.RMSpropTFLike(ps, lr=0.1, weight_decay=0.1, momentum=0.9),
    ],
    ids=["SGD", "Adam", "RMSprop", "RMSpropTFLike"],
)


@each_rule_with_state
def test_params_that_never_get_a_gradient_are_not_updated(make):
    """torch skips a parameter whose .grad is None (never used in a loss): no weight decay, no momentum."""
    used = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    unused = Tensor(np.array([3.0, 4.0], dtype=np.float32), requires_grad=True)
    opt = make([used, unused])
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    assert not np.allclose(used.numpy(), [1.0, 2.0])  # the used parameter does move
    np.testing.assert_array_equal(unused.numpy(), [3.0, 4.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.9),
    ],
    ids=["SGD", "Adam", "RMSprop"],
)
def test_a_state_that_decays_without_gradient_reaches_zero_instead_of_sticking_subnormal(make):
    """After one tiny gradient (its square is float32-subnormal) and then none, the decaying sums and averages
    would stop at a few subnormals, where 0.9 or 0.999 times the value rounds back to it; they must reach 0."""
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = make([p])
    for step in range(700):
        scale = np.float32(1e-21 if step == 0 else 0.0)
        opt.zero_grad()
        (p * Tensor(np.full(3, scale, dtype=np.float32))).sum().backward()
        opt.step()
    states = [np.asarray(opt.state_dict()[name]) for name in opt.state_names]
    for state in states:
        np.testing.assert_array_equal(state, np.zeros_like(state))


@each_rule_with_state
def test_float32_parameters_stay_float32(make):
    net = nn.mlp([3, 8, 2], rng=np.random.default_rng(0))
    opt = make(net.parameters())
    x = Tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    for _ in range(3):
        opt.zero_grad()
        (net(x) ** 2).mean().backward()
        opt.step()
    for name, p in net.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name
    assert net(x).dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [lambda p: optim.Adam(p), lambda p: optim.SGD(p, lr=0.1, momentum=0.9)],
    ids=["adam", "sgd"],
)
def test_an_optimizer_holds_four_parameter_sized_arrays(make):
    """Flat data and gradients, plus Adam's two sums, or SGD's momentum and the work array of its numpy passes:
    Adam's step is one fused loop and needs no work array."""
    net = nn.mlp([64, 256, 256, 1], rng=np.random.default_rng(0))
    size = sum(p.numel() for p in net.parameters()) * 4
    tracemalloc.start()
    try:
        optimizer = make(net.parameters())
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert optimizer.flat is not None
    assert 3.9 * size < held < 4.5 * size


def test_optimizer_zero_grad():
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.Adam([p])
    (p * 3).sum().backward()
    opt.zero_grad()
    assert p.grad is None or not np.any(p.grad.numpy())
    (p * 2).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0])


def test_weight_gradients_are_written_into_the_optimizers_buffer_and_accumulate(monkeypatch):
    """After zero_grad a weight's gradient is computed straight into the optimizer's flat buffer; a second use
    of the weights in the graph, or a second backward, adds to it: the same bits as without an optimizer."""
    x, x2 = (np.random.default_rng(i).standard_normal((6, 3)).astype(np.float32) for i in (1, 2))

    def loss(net):
        return (net(Tensor(x)) * net(Tensor(x2))).sum()  # every weight is used twice in the graph

    # The reference: two copies of the network, each used once, without an optimizer.
    first, second = (nn.mlp([3, 5, 2], rng=np.random.default_rng(0)) for _ in range(2))
    (first(Tensor(x)) * second(Tensor(x2))).sum().backward()
    once = [a.grad.numpy() + b.grad.numpy() for a, b in zip(first.parameters(), second.parameters())]
    single = nn.mlp([3, 5, 2], rng=np.random.default_rng(0))
    single(Tensor(x)).sum().backward()
    then_single = [g + p.grad.numpy() for g, p in zip(once, single.parameters())]

    trained = nn.mlp([3, 5, 2], rng=np.random.default_rng(0))
    opt = optim.Adam(trained.parameters())
    copied = []  # leaves whose gradient the engine copies in rather than computes in place
    copy_in = engine._accumulate_leaf
    monkeypatch.setattr(
        engine, "_accumulate_leaf", lambda leaf, grad: (copied.append(leaf), copy_in(leaf, grad))
    )
    for _ in range(2):
        opt.zero_grad()
        loss(trained).backward()
        for p, want in zip(trained.parameters(), once):
            np.testing.assert_array_equal(p.grad.numpy(), want)
    # Each weight's first contribution per backward is computed in place; only the second is added in.
    copies = collections.Counter(id(leaf) for leaf in copied)
    assert [copies[id(p)] for p in trained.parameters()] == [
        2 if p.ndim == 2 else 4 for p in trained.parameters()
    ]
    trained(Tensor(x)).sum().backward()
    for p, want in zip(trained.parameters(), then_single):
        assert np.shares_memory(p.grad.numpy(), opt.flat.grad)
        np.testing.assert_array_equal(p.grad.numpy(), want)


def _train_steps(reset, steps=5):
    """Train a small net with SGD, clearing gradients before each backward with `reset(net, opt)`."""
    net = nn.mlp([2, 8, 1], activation="tanh", rng=np.random.default_rng(0))
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.5)
    x = Tensor(np.random.default_rng(1).standard_normal((16, 2)).astype(np.float32))
    y = Tensor(np.random.default_rng(2).standard_normal((16, 1)).astype(np.float32))
    for _ in range(steps):
        reset(net, opt)
        F.mse_loss(net(x), y).backward()
        opt.step()
    return [p.numpy().copy() for p in net.parameters()]


def _opt_zero_grad(net, opt):
    opt.zero_grad()


def _module_zero_grad(net, opt):
    net.zero_grad()


def _grads_to_none(net, opt):
    for p in net.parameters():
        p.grad = None


@pytest.mark.parametrize("reset", [_module_zero_grad, _grads_to_none], ids=["module_zero_grad", "grad_none"])
def test_every_way_of_clearing_gradients_trains_the_same(reset):
    """`net.zero_grad()` and the torch idiom `p.grad = None` must leave the optimizer seeing the new gradients."""
    reference = _train_steps(_opt_zero_grad)
    initial = _train_steps(_opt_zero_grad, steps=0)
    assert any(not np.allclose(r, i) for r, i in zip(reference, initial))
    for got, want in zip(_train_steps(reset), reference):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_deep_copied_network_trains_and_clips_like_the_original():
    """copy.deepcopy of a network that already has an optimizer (the torch idiom for a target network)."""
    net = nn.mlp([2, 8, 1], rng=np.random.default_rng(0))
    optim.Adam(net.parameters(), lr=1e-3)
    twin = copy.deepcopy(net)
    opt = optim.SGD(twin.parameters(), lr=0.1)
    opt.zero_grad()
    twin(Tensor(np.ones((4, 2), dtype=np.float32))).sum().backward()
    grads = [p.grad.numpy().astype(np.float64) for p in twin.parameters()]
    total = np.sqrt(sum((g**2).sum() for g in grads))
    assert total > 1.0
    returned = optim.clip_grad_norm_(twin.parameters(), max_norm=0.5)
    np.testing.assert_allclose(float(returned), total, rtol=1e-5)
    for p, g in zip(twin.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), g * 0.5 / total, rtol=1e-4, atol=1e-7)
    before = [p.numpy().copy() for p in twin.parameters()]
    original = [p.numpy().copy() for p in net.parameters()]
    opt.step()
    for p, b, g in zip(twin.parameters(), before, grads):
        np.testing.assert_allclose(p.numpy(), b - 0.1 * g * 0.5 / total, rtol=1e-4, atol=1e-6)
    for p, o in zip(net.parameters(), original):
        np.testing.assert_array_equal(p.numpy(), o)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=-0.1),
        lambda ps: optim.Adam(ps, lr=-1e-3),
        lambda ps: optim.RMSprop(ps, lr=-1e-2),
        lambda ps: optim.Adam(ps, betas=(1.0, 0.999)),
        lambda ps: optim.Adam(ps, betas=(0.9, 1.0)),
        lambda ps: optim.Adam(ps, betas=(-0.1, 0.999)),
        lambda ps: optim.Adam(ps, betas=(0.9, -0.5)),
    ],
    ids=["sgd_lr", "adam_lr", "rmsprop_lr", "beta1_is_1", "beta2_is_1", "beta1_negative", "beta2_negative"],
)
def test_invalid_hyperparameters_raise(make):
    with pytest.raises(ValueError):
        make([Tensor(np.zeros(2), requires_grad=True)])


def test_boundary_hyperparameters_are_valid():
    ps = [Tensor(np.zeros(2), requires_grad=True)]
    assert optim.Adam(ps, betas=(0.0, 0.0)).lr == pytest.approx(1e-3)
    assert optim.SGD(ps, lr=0.0).lr == 0.0


# ---------------------------------------------------------------- convergence


def _sine_data():
    x = np.linspace(-np.pi, np.pi, 256, dtype=np.float32)[:, None]
    return Tensor(x), Tensor(np.sin(x))


def _fit(make_opt, steps):
    x, y = _sine_data()
    net = nn.mlp([1, 32, 1], activation="tanh", rng=np.random.default_rng(0))
    opt = make_opt(net.parameters())
    with_init = F.mse_loss(net(x), y).item()
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    final = F.mse_loss(net(x), y).item()
    return with_init, final


@pytest.mark.parametrize(
    "make_opt, steps, threshold",
    [
        # thresholds are 5-10x above the worst final MSE over 8 initialisation seeds; SGD without momentum
        # stalls at 2-4e-3 after the same steps, so the SGD case also needs momentum to work
        (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), 1500, 1e-3),
        (lambda ps: optim.Adam(ps, lr=0.01), 1500, 5e-4),
        (lambda ps: optim.RMSprop(ps, lr=1e-3), 1500, 3e-3),
    ],
    ids=["SGD_momentum", "Adam", "RMSprop"],
)
def test_two_layer_mlp_fits_sine(make_opt, steps, threshold):
    initial, final = _fit(make_opt, steps)
    assert initial > 0.1
    assert final < threshold, (initial, final)
    assert final < initial / 20


# ---------------------------------------------------------------- state dicts and resumption


def _regression_batches(n_steps):
    rng = np.random.default_rng(3)
    batches = []
    for _ in range(n_steps):
        x = rng.standard_normal((32, 3)).astype(np.float32)
        batches.append((x, np.tanh(x.sum(1, keepdims=True)).astype(np.float32)))
    return batches


def _train(net, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        F.mse_loss(net(Tensor(x)), Tensor(y)).backward()
        opt.step()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
        lambda ps: optim.RMSpropTFLike(ps, lr=0.01, momentum=0.5),
    ],
    ids=["SGD", "Adam", "RMSprop", "RMSpropTFLike"],
)
def test_optimizer_state_dict_resumes_exactly(make_opt):
    batches = _regression_batches(10)
    net = nn.mlp([3, 16, 1], activation="tanh", rng=np.random.default_rng(0))
    opt = make_opt(net.parameters())
    _train(net, opt, batches[:5])
    saved = pickle.dumps((net.state_dict(), opt.state_dict()))
    _train(net, opt, batches[5:])  # the uninterrupted run; must not alter what was saved

    fresh = nn.mlp([3, 16, 1], activation="tanh", rng=np.random.default_rng(1))
    fresh_opt = make_opt(fresh.parameters())  # built before loading: loading works in place
    model_state, opt_state = pickle.loads(saved)
    fresh.load_state_dict(model_state)
    fresh_opt.load_state_dict(opt_state)
    _train(fresh, fresh_opt, batches[5:])
    for (name, p), (_, q) in zip(net.named_parameters(), fresh.named_parameters()):
        np.testing.assert_array_equal(q.numpy(), p.numpy(), err_msg=name)


def test_adam_loads_the_torch_style_moments_of_older_checkpoints():
    batches = _regression_batches(6)
    net = nn.mlp([3, 16, 1], activation="tanh", rng=np.random.default_rng(0))
    opt = optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.99))
    _train(net, opt, batches[:3])
    state = opt.state_dict()
    older = {key: value for key, value in state.items() if key not in ("grad_sum", "grad_sq_sum")}
    older["exp_avg"] = state["grad_sum"] * (1.0 - 0.8)  # what torch and the earlier format hold
    older["exp_avg_sq"] = state["grad_sq_sum"] * (1.0 - 0.99)
    fresh = optim.Adam(nn.mlp([3, 16, 1], activation="tanh").parameters(), lr=0.01, betas=(0.8, 0.99))
    fresh.load_state_dict(older)
    for name in ("grad_sum", "grad_sq_sum"):
        np.testing.assert_allclose(fresh.state_dict()[name], state[name], rtol=1e-6)


def test_optimizer_state_dict_is_a_snapshot():
    batches = _regression_batches(4)
    net = nn.mlp([3, 8, 1], rng=np.random.default_rng(0))
    opt = optim.Adam(net.parameters(), lr=0.01)
    _train(net, opt, batches[:2])
    snapshot = pickle.dumps(opt.state_dict())
    state = opt.state_dict()
    _train(net, opt, batches[2:])
    assert pickle.dumps(state) == snapshot


# ---------------------------------------------------------------- gradient clipping


def test_clip_grad_norm_scales_to_max_norm():
    rng = np.random.default_rng(0)
    ga, gb = rng.standard_normal(3), rng.standard_normal((2, 2))
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros((2, 2)), requires_grad=True)
    unused = Tensor(np.zeros(2), requires_grad=True)
    ((a * Tensor(ga)).sum() + (b * Tensor(gb)).sum()).backward()
    total = np.sqrt((ga**2).sum() + (gb**2).sum())
    returned = optim.clip_grad_norm_([a, b, unused], max_norm=total / 4)
    np.testing.assert_allclose(float(returned), total, rtol=1e-6)
    new_norm = np.sqrt((a.grad.numpy() ** 2).sum() + (b.grad.numpy() ** 2).sum())
    assert new_norm <= total / 4 * (1 + 1e-7)
    np.testing.assert_allclose(new_norm, total / 4, rtol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), ga / 4, rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), gb / 4, rtol=1e-5)


@pytest.mark.parametrize("partial", [False, True], ids=["both_networks", "one_layer_missing"])
def test_clip_grad_norm_over_two_optimizers_networks_is_the_global_norm(partial):
    """An actor's and a critic's parameters, each network in its own optimizer's flat buffer, clipped jointly
    (PPO, A2C); with a parameter left out, the others are clipped by their own norm."""
    actor, critic = (
        nn.mlp([3, 8, 2], rng=np.random.default_rng(0)),
        nn.mlp([3, 8, 1], rng=np.random.default_rng(1)),
    )
    optim.Adam(actor.parameters()), optim.Adam(critic.parameters())
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    (actor(x).sum() * 3.0 + critic(x).sum()).backward()
    params = actor.parameters() + critic.parameters()[: -1 if partial else None]
    left_out = critic.parameters()[-1].grad.numpy().copy()
    before = [p.grad.numpy().astype(np.float64) for p in params]
    total = np.sqrt(sum((g**2).sum() for g in before))
    returned = optim.clip_grad_norm_(params, max_norm=total / 2)
    np.testing.assert_allclose(float(returned), total, rtol=1e-5)
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad.numpy(), g / 2, rtol=1e-5, atol=1e-7)
    if partial:  # not clipped, so not halved
        np.testing.assert_array_equal(critic.parameters()[-1].grad.numpy(), left_out)


def test_clip_grad_norm_leaves_small_gradients_alone():
    net = nn.mlp([2, 4, 1], rng=np.random.default_rng(0))
    net(Tensor(np.ones((3, 2), dtype=np.float32))).sum().backward()
    before = [p.grad.numpy().copy() for p in net.parameters()]
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in before))
    returned = optim.clip_grad_norm_(net.parameters(), max_norm=total * 2)
    np.testing.assert_allclose(float(returned), total, rtol=1e-5)
    for p, g in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.grad.numpy(), g)
        assert p.grad.dtype == np.float32


# ---------------------------------------------------------------- schedules


def test_linear_schedule():
    decay = optim.LinearSchedule(1.0, 0.1)
    assert decay(0.0) == pytest.approx(1.0)
    assert decay(0.5) == pytest.approx(0.55)
    assert decay(1.0) == pytest.approx(0.1)
    assert decay(-0.5) == pytest.approx(1.0)
    assert decay(3.0) == pytest.approx(0.1)
    grow = optim.LinearSchedule(0.0, 10.0)
    assert grow(0.25) == pytest.approx(2.5)
    assert grow(2.0) == pytest.approx(10.0)


def test_adam_updates_a_non_contiguous_parameter_in_place_through_its_view():
    """Mixed dtypes keep per-parameter storage; a transposed view is updated in place through the view (the
    numpy loops, which the C ones hand strided arrays to), so whatever else shares its memory sees the update."""
    rng = np.random.default_rng(5)
    weight = rng.standard_normal((3, 4)).astype(np.float32)
    initial = weight.T.copy()
    scale = rng.standard_normal(2)  # float64: the optimizer cannot hold both in one flat buffer
    strided = Tensor(weight.T, requires_grad=True)
    assert not strided.numpy().flags.c_contiguous
    doubles = Tensor(scale.copy(), requires_grad=True)
    reference = Tensor(weight.T.copy(), requires_grad=True)
    mixed, alone = optim.Adam([strided, doubles], lr=0.1), optim.Adam([reference], lr=0.1)
    for _ in range(3):
        for opt, p in ((mixed, strided), (alone, reference)):
            opt.zero_grad()
            (p * p).sum().backward()
        doubles.grad = np.ones(2)
        mixed.step()
        alone.step()
    np.testing.assert_array_equal(strided.numpy(), reference.numpy())
    assert not np.array_equal(reference.numpy(), initial)  # the steps moved the parameter
    assert np.shares_memory(strided.numpy(), weight)
    np.testing.assert_array_equal(weight.T, reference.numpy())
    np.testing.assert_allclose(doubles.numpy(), scale - 0.3, rtol=1e-6)
