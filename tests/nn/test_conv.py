"""Tests for the convolution layers: `F.conv2d` against a direct loop-based convolution and its gradients against
finite differences (float64), `nn.Flatten`, and a stack shaped like SB3's NatureCNN trained one Adam step."""

import numpy as np
import pytest

import neurenix.nn.functional as F
from neurenix import nn, optim
from neurenix._accel import loops as _loops
from neurenix.tensor import Tensor, no_grad


def _rng(seed=0):
    return np.random.default_rng(seed)


def _reference_conv2d(x, w, b, stride, padding):
    """The definition, one output element at a time: sum over c, u, v of xpad[n, c, i*sh + u, j*sw + v] w[o, c, u, v]."""
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, width = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for a in range(n):
        for k in range(o):
            for i in range(oh):
                for j in range(ow):
                    field = xp[a, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    out[a, k, i, j] = np.sum(field * w[k]) + (0.0 if b is None else b[k])
    return out


# (id, input shape, weight shape, stride, padding): strides 1, 2 and 4, padding 0 and 1, kernels larger than the
# stride, inputs the windows do not tile (their last rows and columns get no gradient), a rectangular kernel.
CASES = [
    ("3x3_s1_p0", (2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (0, 0)),
    ("3x3_s1_p1", (2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1)),
    ("3x3_s2_p0_untiled", (2, 2, 8, 8), (3, 2, 3, 3), (2, 2), (0, 0)),
    ("4x4_s2_p1", (2, 2, 8, 7), (3, 2, 4, 4), (2, 2), (1, 1)),
    ("8x8_s4_p0", (2, 2, 14, 13), (3, 2, 8, 8), (4, 4), (0, 0)),
    ("8x8_s4_p1", (1, 2, 12, 12), (2, 2, 8, 8), (4, 4), (1, 1)),
    ("2x3_s21_p01", (2, 3, 6, 5), (2, 3, 2, 3), (2, 1), (0, 1)),
    ("1x1_s1_p0", (2, 3, 4, 4), (5, 3, 1, 1), (1, 1), (0, 0)),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), [c[1:] for c in CASES], ids=IDS)
def test_conv2d_forward_matches_the_direct_convolution(x_shape, w_shape, stride, padding):
    rng = _rng(1)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    expected = _reference_conv2d(x, w, b, stride, padding)
    out = F.conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    no_bias = F.conv2d(Tensor(x), Tensor(w), None, stride, padding)
    np.testing.assert_allclose(no_bias.numpy(), _reference_conv2d(x, w, None, stride, padding), atol=1e-12)
    single = F.conv2d(
        Tensor(x.astype(np.float32)),
        Tensor(w.astype(np.float32)),
        Tensor(b.astype(np.float32)),
        stride,
        padding,
    )
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), [c[1:] for c in CASES], ids=IDS)
def test_conv2d_gradients_match_finite_differences(check_grad, x_shape, w_shape, stride, padding):
    rng = _rng(2)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, w, b)
    check_grad(lambda x, w: F.conv2d(x, w, None, stride, padding), x, w)


def test_stacked_convolutions_pass_gradients_through_the_channels_last_output(check_grad):
    """The second layer reads the first's output as stored (channels last) and hands back a gradient in that
    layout; a ReLU between them and a flatten after see NCHW semantics throughout."""
    rng = _rng(3)
    x = rng.standard_normal((2, 2, 9, 9))
    w1, b1 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    w2, b2 = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4)

    def stack(x, w1, b1, w2, b2):
        return F.conv2d(F.conv2d(x, w1, b1, 2, 1).relu(), w2, b2, 1, 0).flatten(1)

    out = check_grad(stack, x, w1, b1, w2, b2)
    hidden = np.maximum(_reference_conv2d(x, w1, b1, (2, 2), (1, 1)), 0.0)
    expected = _reference_conv2d(hidden, w2, b2, (1, 1), (0, 0)).reshape(2, -1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_a_gradient_check_catches_a_wrong_convolution_gradient(check_grad):
    """The checker fails when the weight's gradient is off: a detached weight inside the op gives it none."""
    rng = _rng(4)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3))
    with pytest.raises(AssertionError):
        check_grad(lambda x, w: F.conv2d(x, w) * F.conv2d(x, w.detach()), x, w)


def test_conv2d_rejects_inputs_it_cannot_convolve():
    w = Tensor(np.zeros((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match="N, C, H, W"):
        F.conv2d(Tensor(np.zeros((3, 5, 5), np.float32)), w)
    with pytest.raises(ValueError, match="4 channels"):
        F.conv2d(Tensor(np.zeros((1, 4, 5, 5), np.float32)), w)
    with pytest.raises(ValueError, match="does not fit"):
        F.conv2d(Tensor(np.zeros((1, 3, 2, 5), np.float32)), w)


def test_conv2d_under_no_grad_records_no_graph():
    layer = nn.Conv2d(2, 3, 3, rng=_rng())
    x = Tensor(_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32), requires_grad=True)
    with no_grad():
        out = layer(x)
    assert not out.requires_grad and out._parents == () and out._backward is None
    assert layer(x).requires_grad


# ---------------------------------------------------------------- the layers


def test_conv2d_layer_parameters_and_default_init_are_torchs():
    layer = nn.Conv2d(16, 32, 5, stride=2, padding=1, rng=_rng(5))
    assert layer.weight.shape == (32, 16, 5, 5) and layer.bias.shape == (32,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    bound = 1 / np.sqrt(16 * 5 * 5)
    w = layer.weight.numpy()
    assert np.all(np.abs(w) <= bound) and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.02)
    assert np.all(np.abs(layer.bias.numpy()) <= bound)
    assert nn.Conv2d(2, 3, (2, 4), bias=False, rng=_rng()).weight.shape == (3, 2, 2, 4)
    assert nn.Conv2d(2, 3, 3, bias=False, rng=_rng()).bias is None


def test_conv2d_layer_computes_the_functional_op():
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=_rng(6))
    x = _rng(7).standard_normal((2, 3, 9, 9)).astype(np.float32)
    expected = _reference_conv2d(
        x.astype(np.float64), layer.weight.numpy().astype(np.float64), layer.bias.numpy(), (2, 2), (1, 1)
    )
    out = layer(x)
    assert out.shape == (2, 4, 5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_flatten_keeps_the_batch_axis_and_routes_the_gradient_back(check_grad):
    x = _rng(8).standard_normal((3, 2, 4, 5))
    out = check_grad(lambda x: nn.Flatten()(x) * nn.Flatten()(x), x)
    assert out.shape == (3, 40)
    np.testing.assert_array_equal(nn.Flatten()(Tensor(x)).numpy(), x.reshape(3, 40))
    assert nn.Flatten()(Tensor(np.zeros((4, 7)))).shape == (4, 7)


# ---------------------------------------------------------------- a NatureCNN-shaped stack


def _nature_cnn(seed):
    """SB3's NatureCNN (Mnih et al. 2015) on 4 stacked 84x84 frames, then its 512-unit linear layer."""
    rng = _rng(seed)
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4, rng=rng),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2, rng=rng),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1, rng=rng),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512, rng=rng),
        nn.ReLU(),
    )


def _frames(batch, seed=9):
    return _rng(seed).uniform(0.0, 1.0, (batch, 4, 84, 84)).astype(np.float32)


def test_a_nature_cnn_stack_runs_forward_backward_and_every_parameter_steps_with_adam():
    net = _nature_cnn(0)
    names = [name for name, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "7.weight", "7.bias"]
    opt = optim.Adam(net.parameters(), lr=1e-3)
    before = [p.numpy().copy() for p in net.parameters()]
    out = net(_frames(3))
    assert out.shape == (3, 512) and out.dtype == np.float32 and out.requires_grad
    opt.zero_grad()
    (out * out).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name
        assert np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).max() > 0, name
    opt.step()
    for (name, p), old in zip(net.named_parameters(), before):
        assert not np.array_equal(p.numpy(), old), f"{name} did not move"
    with no_grad():
        acted = net(_frames(3))
    assert not acted.requires_grad and acted.shape == (3, 512)


def test_the_same_seed_gives_the_same_bits_forward_backward_and_after_a_step():
    results = []
    for _ in range(2):
        net = _nature_cnn(1)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        out = net(_frames(2))
        opt.zero_grad()
        out.sum().backward()
        grads = [p.grad.numpy().copy() for p in net.parameters()]
        opt.step()
        results.append((out.numpy().copy(), grads, [p.numpy().copy() for p in net.parameters()]))
    (out_a, grads_a, params_a), (out_b, grads_b, params_b) = results
    np.testing.assert_array_equal(out_a.view(np.uint32), out_b.view(np.uint32))
    for a, b in zip(grads_a + params_a, grads_b + params_b):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    other = _nature_cnn(2)
    assert not np.array_equal(other[0].weight.numpy(), _nature_cnn(1)[0].weight.numpy())


def test_a_cloned_or_reloaded_stack_computes_the_same_bits():
    """Target networks (`clone`) and checkpoints (`state_dict`) hold the 4-D kernels as they hold a matrix."""
    net, frames = _nature_cnn(4), _frames(2)
    expected = net(frames).numpy()
    np.testing.assert_array_equal(net.clone()(frames).numpy(), expected)
    other = _nature_cnn(5)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(frames).numpy(), expected)


@pytest.mark.skipif(not _loops.COMPILED, reason="the C module was not built (no C compiler)")
def test_gradients_have_the_same_bits_with_the_c_col2im_and_its_numpy_twin(monkeypatch):
    def gradients():
        net = _nature_cnn(3)
        x = Tensor(_frames(2), requires_grad=True)  # the first layer's input gradient too: 4 channels, 8x8/4
        (net(x) ** 2).sum().backward()
        return [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in net.parameters()]

    with_c = gradients()
    monkeypatch.setattr(_loops, "_fused", None)
    with_numpy = gradients()
    assert np.abs(with_c[0]).max() > 0
    for a, b in zip(with_c, with_numpy):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_a_fused_conv2d_relu_has_the_gradients_of_the_two_ops(check_grad):
    rng = _rng(5)
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, 2, 1, activation="relu"), x, w, b)
    with pytest.raises(ValueError, match="fuses 'relu'"):
        F.conv2d(Tensor(x), Tensor(w), Tensor(b), activation="tanh")


def test_a_fused_conv2d_relu_cut_into_blocks_computes_conv_then_relu():
    """NatureCNN's first layer at batch 32: the fused ReLU and its backward run in row blocks (1.6 MB of
    output), the bias gradient summed per block; the values are the unfused ops', the bias gradient to float32
    rounding."""
    rng = _rng(6)
    frames = rng.uniform(0, 1, (32, 4, 84, 84)).astype(np.float32)
    w, b = (rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((32, 4, 8, 8), (32,)))
    g = rng.standard_normal((32, 32, 20, 20)).astype(np.float32)
    results = []
    for fused in (True, False):
        weight, bias = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        x = Tensor(frames)
        out = (
            F.conv2d(x, weight, bias, 4, activation="relu") if fused else F.conv2d(x, weight, bias, 4).relu()
        )
        (out * Tensor(g)).sum().backward()
        results.append((out.numpy().copy(), weight.grad.numpy().copy(), bias.grad.numpy().copy()))
    (out_f, w_f, b_f), (out_u, w_u, b_u) = results
    assert np.array_equal(out_f, out_u) and np.array_equal(w_f, w_u)
    np.testing.assert_allclose(b_f, b_u, rtol=1e-5, atol=1e-3)
