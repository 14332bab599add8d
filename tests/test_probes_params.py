"""``params=``: every curvature probe restricted to named parameters is the dense sub-block's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlverify.errors import ProbeError
from dlverify.probes import (
    eigenvalues,
    hessian,
    hessian_operator,
    hessian_trace,
    hvp,
    minimal_ratio,
    spectral_density,
    top_eigenvalue,
)
from dlverify.probes._lanczos import rademacher
from tests.conftest import F64, classification, mlp, reference_hessian

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

LAYER = ["2.weight", "2.bias"]  # the output layer of a 3-5-3 MLP: 18 parameters


def problem(seed: int = 0):
    model = mlp(seed)
    x, y = classification(seed)
    return model, (x, y)


def block(model, data, names):
    """The dense Hessian's rows and columns of ``names``, from the full reference Hessian."""
    full = reference_hessian(model, *data)
    sizes = [(n, p.numel()) for n, p in model.named_parameters()]
    index, start = [], 0
    for name, size in sizes:
        if name in names:
            index.extend(range(start, start + size))
        start += size
    return full[index][:, index]


@pytest.mark.parametrize("names", [LAYER, ["0.weight"], ["2.bias", "0.bias"]])
def test_hessian_with_params_is_the_dense_sub_block(names):
    model, data = problem(1)
    expected = block(model, data, names)
    torch.testing.assert_close(
        hessian(model, F.cross_entropy, data, params=names), expected, rtol=0, atol=1e-12
    )
    # The sub-block is also the Hessian of the loss as a function of those parameters alone.
    torch.testing.assert_close(
        expected, reference_hessian(model, *data, names=names), rtol=0, atol=1e-12
    )


def test_hvp_and_operator_with_params_multiply_by_the_sub_block():
    model, data = problem(2)
    h = block(model, data, LAYER)
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(2), dtype=F64)
    torch.testing.assert_close(
        hvp(model, F.cross_entropy, data, v, params=LAYER), h @ v, rtol=0, atol=1e-12
    )
    op = hessian_operator(model, F.cross_entropy, data, params=LAYER)
    assert op.shape == (18, 18) and op.names == tuple(LAYER)
    np.testing.assert_allclose(op @ v.numpy(), (h @ v).numpy(), rtol=0, atol=1e-12)


def test_spectral_probes_with_params_measure_the_sub_block():
    model, data = problem(3)
    h = block(model, data, LAYER).numpy()
    exact = np.linalg.eigvalsh(h)
    top = top_eigenvalue(model, F.cross_entropy, data, tol=1e-10, params=LAYER)
    assert top.value == pytest.approx(exact[-1], abs=1e-9)
    # The output layer's block has 6 exact zeros (softmax shift invariance), a repeated
    # eigenvalue at the bottom end; the first layer's block has distinct eigenvalues.
    first = ["0.weight", "0.bias"]
    exact_first = np.linalg.eigvalsh(block(model, data, first).numpy())
    low = eigenvalues(model, F.cross_entropy, data, k=2, which="smallest", tol=1e-10, params=first)
    np.testing.assert_allclose(low.values, exact_first[:2], atol=1e-9)
    lowest = eigenvalues(model, F.cross_entropy, data, which="smallest", tol=1e-10, params=LAYER)
    assert lowest.values[0] == pytest.approx(exact[0], abs=1e-9)
    trace = hessian_trace(model, F.cross_entropy, data, n_samples=3 * 18 + 2, params=LAYER)
    assert trace.value == pytest.approx(np.trace(h), rel=1e-10)
    density = spectral_density(model, F.cross_entropy, data, n_iter=18, params=LAYER)
    assert density.nodes.shape == (1, 18)  # all 18 steps: deflated, the block's exact spectrum
    np.testing.assert_allclose(density.nodes[0], exact, atol=1e-9)
    np.testing.assert_array_equal(density.weights[0], np.full(18, 1 / 18))
    density = spectral_density(model, F.cross_entropy, data, n_iter=18, params=LAYER, deflate=False)
    v = rademacher(
        18, torch.Generator().manual_seed(0), device=torch.device("cpu"), dtype=F64
    ).numpy()  # the default generator's first draw: the start vector
    assert density.moment(1) == pytest.approx(v @ h @ v / 18, abs=1e-12)
    assert density.moment(2) == pytest.approx(v @ h @ h @ v / 18, abs=1e-12)
    tol = np.sqrt(np.finfo(np.float64).eps)
    assert minimal_ratio(model, F.cross_entropy, data, params=LAYER) == pytest.approx(
        np.mean(exact > tol * np.abs(exact).max())
    )


def test_params_order_follows_the_model_not_the_argument():
    model, data = problem(4)
    a = hessian(model, F.cross_entropy, data, params=["2.bias", "0.weight"])
    b = hessian(model, F.cross_entropy, data, params=["0.weight", "2.bias"])
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_params_leave_the_model_alone():
    model, data = problem(5)
    before = {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}
    hessian(model, F.cross_entropy, data, params=LAYER)
    for n, p in model.named_parameters():
        assert torch.equal(before[n][0], p) and before[n][1] == p.requires_grad


@pytest.mark.parametrize(
    "names, message",
    [
        ("2.weight", r"list of parameter names, e.g. \['2.weight'\]"),
        ([], "params is empty"),
        (["2.weight", "2.weight"], "more than once"),
        (["3.weight"], r"no trainable parameter named '3.weight'; trainable parameters are"),
        ([2], "must be parameter names"),
    ],
)
def test_bad_params_are_refused(names, message):
    model, data = problem(6)
    with pytest.raises(ProbeError, match=message):
        hessian(model, F.cross_entropy, data, params=names)


def test_a_frozen_parameter_cannot_be_selected():
    model, data = problem(7)
    model[2].bias.requires_grad_(False)
    with pytest.raises(ProbeError, match="requires_grad=False ones are always held fixed"):
        hessian(model, F.cross_entropy, data, params=["2.bias"])
