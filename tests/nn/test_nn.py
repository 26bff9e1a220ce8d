"""Tests for neurenix.nn: layers, initialisation, module bookkeeping (names, state dicts, clone, modes) and the
functional losses."""

import numpy as np
import pytest

import neurenix
import neurenix.nn.functional as F
from neurenix import nn
from neurenix.tensor import Tensor, no_grad


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- Linear


def test_linear_shapes_forward_and_dtype():
    layer = nn.Linear(5, 3, rng=_rng())
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert layer.weight.requires_grad and layer.bias.requires_grad
    x = _rng(1).standard_normal((4, 5)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.shape == (4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(
        out.numpy(), x @ layer.weight.numpy().T + layer.bias.numpy(), rtol=1e-5, atol=1e-6
    )
    assert layer(Tensor(x[0])).shape == (3,)
    assert layer(Tensor(np.zeros((2, 7, 5), dtype=np.float32))).shape == (2, 7, 3)


def test_linear_without_bias():
    layer = nn.Linear(4, 2, bias=False, rng=_rng())
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), x @ layer.weight.numpy().T, rtol=1e-6)


def test_linear_default_init_is_torch_uniform():
    fan_in = 400
    layer = nn.Linear(fan_in, 300, rng=_rng(3))
    bound = 1 / np.sqrt(fan_in)
    w = layer.weight.numpy()
    assert np.all(np.abs(w) <= bound)
    assert np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(w.mean(), 0.0, atol=0.02 * bound)
    b = layer.bias.numpy()
    assert np.all(np.abs(b) <= bound)
    np.testing.assert_allclose(b.std(), bound / np.sqrt(3), rtol=0.15)


def test_linear_init_is_reproducible_from_rng_and_manual_seed():
    a = nn.Linear(6, 4, rng=_rng(11))
    b = nn.Linear(6, 4, rng=_rng(11))
    c = nn.Linear(6, 4, rng=_rng(12))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())
    neurenix.manual_seed(4)
    d = nn.Linear(6, 4)
    neurenix.manual_seed(4)
    e = nn.Linear(6, 4)
    np.testing.assert_array_equal(d.weight.numpy(), e.weight.numpy())


@pytest.mark.parametrize("gain", [1.0, 2.0, np.sqrt(2.0)])
def test_orthogonal_init_wide_layer(gain):
    layer = nn.Linear(16, 6, init="orthogonal", gain=gain, rng=_rng(2))
    w = layer.weight.numpy().astype(np.float64)
    assert w.shape == (6, 16) and layer.weight.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(6), atol=1e-5)


def test_orthogonal_init_tall_layer_has_orthonormal_columns():
    layer = nn.Linear(4, 10, init="orthogonal", gain=0.5, rng=_rng(5))
    w = layer.weight.numpy().astype(np.float64)
    np.testing.assert_allclose(w.T @ w, 0.25 * np.eye(4), atol=1e-5)


def test_orthogonal_init_is_random_but_reproducible():
    a = nn.Linear(8, 8, init="orthogonal", rng=_rng(0)).weight.numpy()
    b = nn.Linear(8, 8, init="orthogonal", rng=_rng(0)).weight.numpy()
    c = nn.Linear(8, 8, init="orthogonal", rng=_rng(1)).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(np.abs(a), np.eye(8))


def test_linear_gradients(check_grad):
    layer = nn.Linear(3, 2, rng=_rng())
    w = layer.weight.numpy().astype(np.float64)
    b = layer.bias.numpy().astype(np.float64)
    x = _rng(9).standard_normal((4, 3))
    check_grad(lambda x, w, b: F.linear(x, w, b), x, w, b)
    check_grad(lambda x, w: F.linear(x, w), x, w)
    np.testing.assert_allclose(F.linear(Tensor(x), Tensor(w), Tensor(b)).numpy(), x @ w.T + b, rtol=1e-12)
    x3 = _rng(10).standard_normal((2, 3, 3))
    out = check_grad(lambda x, w, b: F.linear(x, w, b), x3, w, b)
    np.testing.assert_allclose(out.numpy(), x3 @ w.T + b, rtol=1e-12)
    out = check_grad(lambda x, w, b: F.linear(x, w, b), x[0], w, b)
    assert out.shape == (2,)


@pytest.mark.parametrize(
    ("activation", "reference"), [("relu", lambda z: np.maximum(z, 0.0)), ("tanh", np.tanh)]
)
def test_linear_with_a_fused_activation(check_grad, activation, reference):
    w = _rng(1).standard_normal((5, 3))
    b = _rng(2).standard_normal(5)
    x = _rng(3).standard_normal((6, 3))
    out = check_grad(lambda x, w, b: F.linear(x, w, b, activation), x, w, b)
    np.testing.assert_allclose(out.numpy(), reference(x @ w.T + b), rtol=1e-12)
    with pytest.raises(ValueError, match="sigmoid"):
        F.linear(Tensor(x), Tensor(w), Tensor(b), "sigmoid")


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_sequential_fuses_linear_and_activation_without_changing_values_or_gradients(activation):
    fused = nn.mlp([3, 16, 16, 2], activation=activation, output_activation="tanh", rng=_rng(4))
    assert [name for _, name in fused._steps] == [activation, activation, "tanh"]
    x = _rng(5).standard_normal((7, 3)).astype(np.float32)

    def composed(net):
        """The same layers applied one module at a time, each activation its own graph node."""
        h = Tensor(x)
        for layer in net:
            h = layer(h)
        return h

    values, reference = fused(x), composed(fused)
    np.testing.assert_array_equal(values.numpy(), reference.numpy())
    with no_grad():  # acting: plain arrays, no graph
        acted = fused(x)
    assert fused._plain and not acted.requires_grad
    np.testing.assert_array_equal(acted.numpy(), reference.numpy())
    grads = []
    for out in (values, reference):
        for p in fused.parameters():
            p.grad = None
        (out * out).sum().backward()
        grads.append([p.grad.numpy().copy() for p in fused.parameters()])
    for fused_grad, reference_grad in zip(*grads):
        np.testing.assert_allclose(fused_grad, reference_grad, rtol=1e-5, atol=1e-7)


def test_replacing_a_sequential_layer_changes_what_forward_runs():
    net = nn.mlp([2, 4, 1], rng=_rng(6))
    x = _rng(7).standard_normal((3, 2)).astype(np.float32)
    replacement = nn.Linear(2, 4, rng=_rng(8))
    setattr(net, "0", replacement)
    expected = np.maximum(x @ replacement.weight.numpy().T + replacement.bias.numpy(), 0.0)
    expected = expected @ net[2].weight.numpy().T + net[2].bias.numpy()
    np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-6)
    with no_grad():
        np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-6)
    assert net[0] is replacement and len(nn.Sequential()) == 0


# ---------------------------------------------------------------- activations, Sequential, mlp


def test_activation_modules():
    a = np.array([[-2.0, -0.1, 0.0, 0.3, 4.0]])
    x = Tensor(a)
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(a))
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-a)))
    np.testing.assert_array_equal(nn.Identity()(x).numpy(), a)
    for m in (nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity()):
        assert list(m.parameters()) == []


def test_sequential_container_protocol_and_names():
    net = nn.Sequential(nn.Linear(3, 4, rng=_rng()), nn.ReLU(), nn.Linear(4, 2, rng=_rng(1)))
    assert len(net) == 3
    assert isinstance(net[0], nn.Linear) and isinstance(net[1], nn.ReLU) and net[-1] is net[2]
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    names = [n for n, _ in net.named_parameters()]
    assert set(names) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert [n.split(".")[0] for n in names] == ["0", "0", "2", "2"]
    params = list(net.parameters())
    assert len(params) == 4
    assert all(p is q for p, (_, q) in zip(params, net.named_parameters()))
    x = Tensor(_rng(2).standard_normal((5, 3)).astype(np.float32))
    expected = net[2](net[1](net[0](x)))
    np.testing.assert_array_equal(net(x).numpy(), expected.numpy())


def test_mlp_structure():
    net = nn.mlp([3, 16, 8, 2], rng=_rng())
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert net[0].weight.shape == (16, 3) and net[2].weight.shape == (8, 16) and net[4].weight.shape == (2, 8)
    names = {n for n, _ in net.named_parameters()}
    assert names == {f"{i}.{k}" for i in (0, 2, 4) for k in ("weight", "bias")}
    tanh_net = nn.mlp([3, 5, 1], activation="tanh", output_activation="tanh", rng=_rng())
    assert [type(m) for m in tanh_net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
    out = tanh_net(Tensor(_rng(1).standard_normal((10, 3)) * 100))
    assert out.shape == (10, 1) and np.all(np.abs(out.numpy()) <= 1)


def test_mlp_orthogonal_init_and_reproducibility():
    net = nn.mlp([12, 8, 4], init="orthogonal", rng=_rng(3))
    for layer in (net[0], net[2]):
        w = layer.weight.numpy().astype(np.float64)
        gram = w @ w.T
        scale = gram[0, 0]
        assert scale > 0
        np.testing.assert_allclose(gram, scale * np.eye(w.shape[0]), atol=1e-5 * max(1.0, scale))
    again = nn.mlp([12, 8, 4], init="orthogonal", rng=_rng(3))
    for (n1, p1), (n2, p2) in zip(net.named_parameters(), again.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())


# ---------------------------------------------------------------- Module bookkeeping


class _TwoHeads(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.body = nn.mlp([3, 8, 8], rng=rng)
        self.head = nn.Linear(8, 2, rng=rng)

    def forward(self, x):
        return self.head(self.body(x).relu())


def test_nested_module_names_and_parameters():
    net = _TwoHeads(_rng())
    names = [n for n, _ in net.named_parameters()]
    assert set(names) == {
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "head.weight",
        "head.bias",
    }
    assert len(names) == 6 and len(list(net.parameters())) == 6
    assert net(Tensor(np.zeros((4, 3), dtype=np.float32))).shape == (4, 2)


class _GaussianPolicy(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.mean = nn.Linear(3, 2, rng=rng)
        self.log_std = nn.Parameter(np.zeros(2, dtype=np.float32))

    def forward(self, x):
        return self.mean(x), self.log_std.exp()


def test_parameter_attributes_are_registered_and_trained():
    policy = _GaussianPolicy(_rng())
    names = [n for n, _ in policy.named_parameters()]
    assert set(names) == {"mean.weight", "mean.bias", "log_std"}
    assert policy.log_std.requires_grad
    assert set(policy.state_dict()) == set(names)
    mu, std = policy(Tensor(np.ones((4, 3), dtype=np.float32)))
    (mu.sum() + std.sum()).backward()
    np.testing.assert_allclose(policy.log_std.grad.numpy(), [1.0, 1.0])
    twin = policy.clone()
    assert twin.log_std is not policy.log_std
    np.testing.assert_array_equal(twin.log_std.numpy(), policy.log_std.numpy())


def test_zero_grad_clears_gradients():
    net = nn.mlp([3, 4, 1], rng=_rng())
    x = Tensor(_rng(1).standard_normal((6, 3)).astype(np.float32))
    net(x).sum().backward()
    first = {n: p.grad.numpy().copy() for n, p in net.named_parameters()}
    assert any(np.any(g != 0) for g in first.values())
    net.zero_grad()
    for p in net.parameters():
        assert p.grad is None or not np.any(p.grad.numpy())
    net(x).sum().backward()
    for n, p in net.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), first[n], rtol=1e-6)


def test_state_dict_is_a_copy():
    net = nn.mlp([3, 4, 2], rng=_rng())
    sd = net.state_dict()
    assert set(sd) == {n for n, _ in net.named_parameters()}
    for name, p in net.named_parameters():
        assert isinstance(sd[name], np.ndarray)
        np.testing.assert_array_equal(sd[name], p.numpy())
        assert not np.shares_memory(sd[name], p.numpy())
    before = net[0].weight.numpy().copy()
    sd["0.weight"] += 1.0
    np.testing.assert_array_equal(net[0].weight.numpy(), before)
    net[0].weight.data.add_(2.0)
    np.testing.assert_array_equal(sd["0.weight"], before + 1.0)


def test_load_state_dict_round_trip_copies_in_place():
    src = nn.mlp([3, 5, 2], activation="tanh", rng=_rng(0))
    dst = nn.mlp([3, 5, 2], activation="tanh", rng=_rng(1))
    params_before = list(dst.parameters())
    arrays_before = [p.numpy() for p in params_before]
    sd = src.state_dict()
    dst.load_state_dict({k: v.astype(np.float64) for k, v in sd.items()})
    x = Tensor(_rng(2).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    for p, q, arr in zip(dst.parameters(), params_before, arrays_before):
        assert p is q  # same Tensor objects (optimizers keep working)
        assert p.dtype == np.float32
        np.testing.assert_array_equal(arr, p.numpy())  # storage written in place
    for arr in sd.values():  # loaded values are copies, not views of the dict
        arr += 100.0
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())


def test_load_state_dict_rejects_bad_dicts():
    net = nn.mlp([3, 4, 2], rng=_rng())
    original = net.state_dict()
    missing = dict(original)
    del missing["2.bias"]
    unexpected = dict(original, **{"4.weight": np.zeros((2, 2), dtype=np.float32)})
    wrong_shape = dict(original, **{"0.weight": np.zeros((3, 4), dtype=np.float32)})
    for bad in (missing, unexpected, wrong_shape):
        with pytest.raises((KeyError, ValueError, RuntimeError)):
            net.load_state_dict(bad)
    np.testing.assert_array_equal(net[0].weight.numpy(), original["0.weight"])


def test_clone_is_independent():
    net = _TwoHeads(_rng(4))
    twin = net.clone()
    assert type(twin) is _TwoHeads and twin is not net
    x = Tensor(_rng(5).standard_normal((3, 3)).astype(np.float32))
    np.testing.assert_array_equal(twin(x).numpy(), net(x).numpy())
    for (n1, p1), (n2, p2) in zip(net.named_parameters(), twin.named_parameters()):
        assert n1 == n2 and p1 is not p2
        assert not np.shares_memory(p1.numpy(), p2.numpy())
        assert p2.requires_grad
    original = {n: p.numpy().copy() for n, p in net.named_parameters()}
    for p in twin.parameters():
        p.data.add_(1.0)
    for n, p in net.named_parameters():
        np.testing.assert_array_equal(p.numpy(), original[n])
    net(x).sum().backward()
    assert all(p.grad is None or not np.any(p.grad.numpy()) for p in twin.parameters())
    net_grads = [p.grad.numpy().copy() for p in net.parameters()]
    twin(x).sum().backward()
    for p, g in zip(net.parameters(), net_grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)  # the twin's backward did not reach the original


def test_train_eval_modes_recurse():
    net = _TwoHeads(_rng())
    assert net.training and net.body.training and net.body[0].training
    net.eval()
    assert not net.training and not net.body.training and not net.body[0].training and not net.head.training
    net.train()
    assert net.training and net.body[1].training and net.head.training


# ---------------------------------------------------------------- functional


def _huber(d, delta):
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d**2, delta * (a - 0.5 * delta)).mean()


def _smooth_l1(d, beta):
    a = np.abs(d)
    return np.where(a < beta, 0.5 * d**2 / beta, a - 0.5 * beta).mean()


def test_losses_match_torch_definitions():
    rng = _rng(8)
    x = rng.standard_normal((6, 2)) * 2
    y = rng.standard_normal((6, 2))
    d = x - y
    assert np.any(np.abs(d) < 0.5) and np.any(np.abs(d) > 1.0)  # both regimes are exercised
    X, Y = Tensor(x), Tensor(y)
    np.testing.assert_allclose(F.mse_loss(X, Y).item(), (d**2).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.huber_loss(X, Y).item(), _huber(d, 1.0), rtol=1e-12)
    np.testing.assert_allclose(F.huber_loss(X, Y, delta=0.5).item(), _huber(d, 0.5), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(X, Y).item(), _smooth_l1(d, 1.0), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(X, Y, beta=0.5).item(), _smooth_l1(d, 0.5), rtol=1e-12)
    for loss in (F.mse_loss(X, Y), F.huber_loss(X, Y), F.smooth_l1_loss(X, Y)):
        assert loss.shape == ()


@pytest.mark.parametrize(
    "loss",
    [
        lambda x, y: F.mse_loss(x, y),
        lambda x, y: F.huber_loss(x, y),
        lambda x, y: F.huber_loss(x, y, delta=0.7),
        lambda x, y: F.smooth_l1_loss(x, y),
        lambda x, y: F.smooth_l1_loss(x, y, beta=0.3),
    ],
    ids=["mse", "huber", "huber_delta", "smooth_l1", "smooth_l1_beta"],
)
def test_loss_gradients(check_grad, loss):
    rng = _rng(10)
    check_grad(loss, rng.standard_normal((5, 2)) * 1.5, rng.standard_normal((5, 2)))


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_action_value_loss_is_gather_then_loss_in_one_op(loss):
    rng = _rng(11)
    q = rng.standard_normal((8, 3)).astype(np.float32) * 2
    actions = rng.integers(0, 3, 8)
    targets = rng.standard_normal(8).astype(np.float32)
    d = q[np.arange(8), actions] - targets
    assert np.any(np.abs(d) < 0.5) and np.any(np.abs(d) > 1.0)  # both Huber regimes are exercised
    reference_loss = F.huber_loss if loss == "huber" else F.mse_loss
    reference_q, fused_q = Tensor(q, requires_grad=True), Tensor(q, requires_grad=True)
    reference = reference_loss(reference_q.gather(1, actions[:, None]).squeeze(1), targets)
    fused = F.action_value_loss(fused_q, actions, targets, loss)
    reference.backward()
    fused.backward()
    assert fused.item() == reference.item()
    np.testing.assert_array_equal(fused_q.grad, reference_q.grad)
    assert np.count_nonzero(fused_q.grad) == 8  # one entry per row: the taken action's


def test_functional_activations_match_tensor_methods(check_grad):
    a = _rng(6).standard_normal((3, 4))
    t = Tensor(a)
    np.testing.assert_allclose(F.log_softmax(t).numpy(), t.log_softmax(-1).numpy())
    np.testing.assert_allclose(F.log_softmax(t, dim=0).numpy(), t.log_softmax(0).numpy())
    np.testing.assert_allclose(F.softmax(t, dim=0).numpy().sum(0), np.ones(4))
    np.testing.assert_allclose(F.softmax(t).numpy(), np.exp(t.log_softmax(-1).numpy()), rtol=1e-12)
    np.testing.assert_array_equal(F.relu(t).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(F.tanh(t).numpy(), np.tanh(a))
    check_grad(lambda x: F.log_softmax(x, dim=0), a)
    check_grad(lambda x: F.softmax(x), a)
    check_grad(lambda x: F.relu(x) + F.tanh(x), a)


def test_float32_end_to_end():
    net = nn.mlp([4, 32, 32, 2], activation="tanh", rng=_rng())
    x = _rng(1).standard_normal((16, 4)).astype(np.float32)
    target = _rng(2).standard_normal((16, 2)).astype(np.float32)
    out = net(Tensor(x))
    assert out.dtype == np.float32
    loss = F.mse_loss(out * 0.5 + 1.0, Tensor(target)) + F.smooth_l1_loss(out, Tensor(target))
    loss = loss + out.log_softmax(-1).mean() + out.std()
    assert loss.dtype == np.float32
    loss.backward()
    for name, p in net.named_parameters():
        assert p.dtype == np.float32, name
        assert p.grad is not None and p.grad.dtype == np.float32, name
    assert net(Tensor([[0.0, 1.0, 2.0, 3.0]])).dtype == np.float32
