"""ReLU units without gradient left out of a layer's gradient products: the same bits as computing them, and less
arithmetic only where it pays.

Whether the BLAS keeps the bits depends on its kernels (`_accel.keeps_bits` tries each shape), so the bit tests
check that skipping happened wherever the probe allowed it and gave the bits of computing every unit; the tests of
the mechanics (`skipping_allowed`) let every shape skip and compare values to float32 rounding."""

import gymnasium as gym
import numpy as np
import pytest

from neurenix import Tensor, _accel
from neurenix._accel import Product, ScatteredProduct
from neurenix.nn import Parameter, ensemble
from neurenix.nn import functional as F
from neurenix.rl import DDPG, SAC, TD3

PENDULUM_OBS = gym.spaces.Box(-8.0, 8.0, (3,), np.float32)
PENDULUM_ACTIONS = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


@pytest.fixture
def dense(monkeypatch):
    """Switch the skipping off: every unit in every product, as before it existed."""

    def switch_off():
        monkeypatch.setattr(F, "units_to_keep", lambda *shape: None)
        monkeypatch.setattr(ensemble, "units_to_keep", lambda *shape: None)

    return switch_off


@pytest.fixture
def skipping_allowed(monkeypatch):
    """Every shape may skip, whatever the BLAS's kernels do to the bits."""
    monkeypatch.setattr(_accel.dead_units, "keeps_bits", lambda *shape: True)


@pytest.fixture
def verdicts(monkeypatch):
    """The probe's answers during a test, recorded as they are given."""
    real, answers = _accel.dead_units.keeps_bits, []

    def recording(*shape):
        answers.append(real(*shape))
        return answers[-1]

    monkeypatch.setattr(_accel.dead_units, "keeps_bits", recording)
    return answers


def _activity(live_count, width=300, seed=0):
    activity = np.zeros(width, np.float32)
    activity[np.random.default_rng(seed).choice(width, live_count, replace=False)] = 1.0
    return activity


def test_live_units_keeps_every_unit_with_a_gradient_topped_up_to_a_multiple_of_the_quantum():
    activity = _activity(70)
    live = _accel.live_units(activity)
    assert len(live) == 96 and len(live) % _accel.dead_units.SKIP_QUANTUM == 0
    assert set(np.flatnonzero(activity)) <= set(live)
    assert np.all(np.diff(live) > 0)  # ascending: the products add the kept units in their own order
    assert len(live) in _accel.skipped_widths(300)  # a shape same_bits_on was asked about


def test_live_units_keeps_all_when_too_few_are_dead_and_none_when_all_are():
    assert _accel.live_units(_activity(230)) is None  # 256 of 300 kept would not pay for the gathering
    assert len(_accel.live_units(_activity(0))) == 0
    assert _accel.live_units(_activity(5, width=30)) is None  # too narrow ever to pay


def _relu_layer(seed, dead):
    """A 64 -> 300 ReLU layer over a 256-row batch whose first `dead` units are negative on every row and whose
    others are positive on some."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((256, 64), dtype=np.float32), requires_grad=True)
    weight = Parameter(rng.standard_normal((300, 64), dtype=np.float32) * 0.1)
    bias = Parameter(rng.standard_normal(300, dtype=np.float32) * 0.1)
    bias.numpy()[:dead] = -100.0
    return x, weight, bias, rng.standard_normal((256, 300), dtype=np.float32)


def _linear_gradients(dead, twice=False):
    x, weight, bias, upstream = _relu_layer(0, dead)
    for _ in range(2 if twice else 1):  # twice: the second product adds to a gradient already there
        (F.linear(x, weight, bias, "relu") * Tensor(upstream)).sum().backward()
    return [t.grad.numpy().copy() for t in (x, weight, bias)]


@pytest.mark.parametrize("twice", [False, True])
def test_a_relu_layer_leaving_dead_units_out_gives_the_bits_of_computing_them(dense, verdicts, twice):
    skipping = _linear_gradients(dead=180, twice=twice)
    assert verdicts  # the layer asked whether it may skip
    dense()
    for ours, full in zip(skipping, _linear_gradients(dead=180, twice=twice)):
        np.testing.assert_array_equal(ours.view(np.uint32), full.view(np.uint32))


def test_a_relu_layer_leaves_its_dead_units_out_of_the_weight_gradient_product(skipping_allowed):
    x, weight, bias, upstream = _relu_layer(0, dead=180)
    out = F.linear(x, weight, bias, "relu")
    grad_x, grad_w, _ = out._backward(upstream)
    assert isinstance(grad_w, ScatteredProduct)
    ((_, axis, kept, g_kept, _),) = grad_w.blocks
    # The 120 live units and 8 dead ones to make a multiple of 32: the rows of the weight gradient computed.
    assert axis == 0 and len(kept) == 128 and set(range(180, 300)) <= set(kept)
    assert g_kept.shape == (128, 256)
    every_unit = (upstream * (out.numpy() > 0)).T @ x.numpy()
    np.testing.assert_allclose(grad_w.compute(), every_unit, rtol=1e-5, atol=1e-5)


def test_a_relu_layer_whose_every_unit_is_dead_has_zero_gradients(skipping_allowed):
    # SAC with gSDE meets it: with every mean clipped, no gradient reaches the actor's trunk.
    x, weight, bias, upstream = _relu_layer(0, dead=300)
    (F.linear(x, weight, bias, "relu") * Tensor(upstream)).sum().backward()
    grad_w = weight.grad.numpy() if hasattr(weight.grad, "numpy") else weight.grad
    assert not np.any(grad_w) and not np.any(x.grad.numpy()) and not np.any(bias.grad.numpy())


@pytest.mark.parametrize("rows", [None, 1, 2, 3, 31])
def test_a_short_minibatch_keeps_every_unit(dense, rows):
    """Below 4 rows numpy and OpenBLAS add a product's terms in an order that depends on them: dropping zero
    terms would round differently, so short minibatches compute every unit (and gain nothing from skipping)."""

    def gradients():
        rng = np.random.default_rng(2)
        shape = (400,) if rows is None else (rows, 400)
        x = Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        weight = Parameter(rng.standard_normal((300, 400), dtype=np.float32) * 0.05)
        bias = Parameter(np.where(np.arange(300) < 200, -100.0, 0.0).astype(np.float32))
        y = F.linear(x, weight, bias, "relu")
        (y * Tensor(rng.standard_normal(y.shape, dtype=np.float32))).sum().backward()
        return [t.grad.numpy().copy() for t in (x, weight, bias)]

    kept = gradients()
    dense()
    for ours, full in zip(kept, gradients()):
        np.testing.assert_array_equal(ours.view(np.uint32), full.view(np.uint32))


def _ensemble_gradients(frozen, members=None):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((256, 64), dtype=np.float32), requires_grad=True)
    weight = Parameter(rng.standard_normal((2, 64, 300), dtype=np.float32) * 0.1)
    bias = Parameter(rng.standard_normal((2, 1, 300), dtype=np.float32))
    bias.numpy()[0, 0, :200] = -100.0  # member 0 mostly dead, member 1 all alive: one skips, one does not
    out = ensemble.ensemble_linear(x, weight, bias, relu=True, frozen=frozen, members=members)
    (out * Tensor(rng.standard_normal(out.shape, dtype=np.float32))).sum().backward()
    return [t.grad.numpy().copy() for t in (x, weight, bias) if t.grad is not None]


@pytest.mark.parametrize("frozen, members", [(False, None), (True, None), (True, 1)])
def test_an_ensemble_leaving_each_members_dead_units_out_gives_the_bits_of_computing_them(
    dense, verdicts, frozen, members
):
    skipping = _ensemble_gradients(frozen, members)
    assert len(skipping) == (1 if frozen else 3) and verdicts
    dense()
    for ours, full in zip(skipping, _ensemble_gradients(frozen, members)):
        np.testing.assert_array_equal(ours.view(np.uint32), full.view(np.uint32))


@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
def test_float64_layers_compute_every_unit(skipping_allowed, x_dtype):
    """OpenBLAS's float64 products add their terms in an order that dropping zero terms changes."""
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((256, 64)).astype(x_dtype), requires_grad=True)
    weight = Parameter(rng.standard_normal((1, 64, 300)) * 0.1)
    bias = Parameter(np.where(np.arange(300) < 200, -100.0, 0.0).reshape(1, 1, 300))
    out = ensemble.ensemble_linear(x, weight, bias, relu=True)
    _, grad_w, _ = out._backward(rng.standard_normal(out.shape))
    assert type(grad_w) is Product
    x32, weight32 = Tensor(x.numpy().astype(np.float32)), Parameter(weight.numpy().astype(np.float32))
    out = ensemble.ensemble_linear(x32, weight32, Parameter(bias.numpy().astype(np.float32)), relu=True)
    assert type(out._backward(rng.standard_normal(out.shape, dtype=np.float32))[1]) is ScatteredProduct


def _parameters_after_updates(algorithm, **kwargs):
    agent = algorithm(
        PENDULUM_OBS,
        PENDULUM_ACTIONS,
        actor_hidden_dims=[64, 128],
        critic_hidden_dims=[64, 128],
        batch_size=64,
        seed=0,
        **kwargs,
    )
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((500, 3), dtype=np.float32)
    agent.buffer.add(
        obs, rng.uniform(-1, 1, (500, 1)).astype(np.float32), rng.standard_normal(500), obs, np.zeros(500)
    )
    # Half the second layer's units dead on every input, as RL Zoo's Pendulum networks have from the start.
    for net in (agent.actor, agent.critic):
        for name, p in net.named_parameters():
            if name.endswith("bias") and p.shape[-1] == 128:
                p.numpy()[..., :64] = -100.0
    for _ in range(5):
        agent.update()
    return [p.numpy().copy() for net in (agent.actor, agent.critic) for p in net.parameters()]


@pytest.mark.parametrize(
    "algorithm, kwargs", [(DDPG, {}), (TD3, {"policy_delay": 1}), (SAC, {})], ids=["DDPG", "TD3", "SAC"]
)
def test_training_with_dead_units_left_out_gives_the_parameters_of_computing_them(
    dense, monkeypatch, verdicts, algorithm, kwargs
):
    real, kept = _accel.units_to_keep, []

    def recording(*args):
        kept.append(real(*args))
        return kept[-1]

    monkeypatch.setattr(F, "units_to_keep", recording)
    monkeypatch.setattr(ensemble, "units_to_keep", recording)
    skipping = _parameters_after_updates(algorithm, **kwargs)
    # The actor's and the critics' second layers left units out wherever the BLAS keeps the bits so.
    assert verdicts and any(live is not None for live in kept) == any(verdicts)
    dense()
    for ours, full in zip(skipping, _parameters_after_updates(algorithm, **kwargs)):
        np.testing.assert_array_equal(ours.view(np.uint32), full.view(np.uint32))


def test_the_threads_check_covers_the_shapes_of_the_kept_units():
    agent = DDPG(PENDULUM_OBS, PENDULUM_ACTIONS, actor_hidden_dims=[400, 300], critic_hidden_dims=[400, 300])
    agent.batch_size = 256
    shapes = _accel.gradient_matmuls(agent._networks(), agent.batch_size)
    # The input gradient and the weight gradients of the 300-unit layers with 96 of them kept.
    assert {(256, 96, 400), (400, 256, 96), (96, 256, 400)} <= shapes


@pytest.mark.parametrize("layout", ["out_in", "in_out"])
def test_the_probe_says_whether_skipping_keeps_the_bits_of_the_layers_own_products(monkeypatch, layout):
    """Its verdict for a shape is what leaving units out of the real layer does to the bits, on any kernels."""
    verdict = _accel.keeps_bits(layout, 256, 300, 64, 128)
    if layout == "out_in":
        gradients = lambda: _linear_gradients(dead=180)  # noqa: E731
    else:
        gradients = lambda: _ensemble_gradients(frozen=False)[:2]  # noqa: E731
    dense_bits = gradients()
    monkeypatch.setattr(_accel.dead_units, "keeps_bits", lambda *shape: True)
    forced = gradients()
    same = all(np.array_equal(a.view(np.uint32), b.view(np.uint32)) for a, b in zip(forced, dense_bits))
    assert same == verdict
