"""Shared finite-difference gradient checker (the `check_grad` fixture)."""

import numpy as np
import pytest

import neurenix
from neurenix.tensor import Tensor, no_grad

# The suite checks the engine's bits under the settings a training run makes (one BLAS thread outside gradient
# steps): importing neurenix no longer makes them, and tests that multiply outside `train` rely on them.
neurenix.configure_runtime()


def _check_grad(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-6, seed=1234):
    """Check d/dx sum(fn(*x) * w) for a fixed random w against central differences, in float64.

    Returns the output of fn evaluated on the (requires_grad) input tensors.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*inputs)
    assert isinstance(out, Tensor) and out.requires_grad, "output must be a Tensor attached to the graph"
    assert out.dtype == np.float64, f"float64 inputs gave a {out.dtype} output"
    weight = np.array(np.random.default_rng(seed).standard_normal(out.shape), dtype=np.float64)
    (out * Tensor(weight)).sum().backward()

    def objective(arrs):
        with no_grad():
            return float((np.asarray(fn(*[Tensor(a) for a in arrs]).numpy()) * weight).sum())

    for i, (x, a) in enumerate(zip(inputs, arrays)):
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi = [b.copy() for b in arrays]
            lo = [b.copy() for b in arrays]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            numeric[idx] = (objective(hi) - objective(lo)) / (2 * eps)
        assert x.grad is not None, f"input {i} got no gradient"
        grad = x.grad.numpy()
        assert grad.shape == a.shape and grad.dtype == np.float64, (grad.shape, grad.dtype)
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    return out


@pytest.fixture
def check_grad():
    return _check_grad
