"""Gradient norms, Hessian-vector products, dense Hessians and the Hessian spectrum.

Reference values: closed forms (linear regression, softmax regression), dense
float64 Hessians from ``torch.func.hessian`` and ``numpy.linalg.eigvalsh``.
Tolerances are stated per assertion; float64 throughout unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from dlverify.errors import ConvergenceWarning, ProbeError
from dlverify.probes import (
    grad_norm,
    hessian,
    hvp,
    minimal_ratio,
    near_zero_weight_ratio,
    per_layer_grad_norms,
    top_eigenvalue,
)
from tests.conftest import QuadraticLoss

# torch.func.hessian (jacfwd) uses torch.jit.script internally, deprecated in torch 2.13.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

F64 = torch.float64
seeds = st.integers(0, 2**31 - 1)


def mse(outputs, targets):
    return F.mse_loss(outputs.squeeze(-1), targets)


def regression(seed: int, n: int = 20, d: int = 3):
    """A float64 linear-regression problem and an ``nn.Linear(d, 1)`` at random parameters."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.randn(n, generator=g, dtype=F64)
    torch.manual_seed(seed)
    return nn.Linear(d, 1).double(), x, y


def design(x):
    """``[X, 1]``: the design matrix in ``model.parameters()`` order (weight, then bias)."""
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)


def mlp(seed: int, sizes=(3, 5, 3), activation=nn.Tanh):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers).double()


def classification(seed: int, n: int = 24, d: int = 3, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64), torch.randint(0, classes, (n,), generator=g)


def reference_hessian(model, loss_fn, x, y):
    """Dense Hessian of the whole-data loss from ``torch.func.hessian`` on a flat vector."""
    named = [(n, p.detach()) for n, p in model.named_parameters()]
    theta = torch.cat([p.reshape(-1) for _, p in named])

    def loss(flat):
        pieces = torch.split(flat, [p.numel() for _, p in named])
        params = {n: piece.view(p.shape) for (n, p), piece in zip(named, pieces)}
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.func.hessian(loss)(theta)


def split(x, y, sizes):
    """Split the rows of (x, y) into consecutive batches of the given sizes."""
    return list(zip(torch.split(x, sizes), torch.split(y, sizes)))


# --- dense Hessian --------------------------------------------------------------------------


def test_hessian_of_linear_regression_is_two_over_n_xtx():
    model, x, y = regression(0, n=25, d=4)
    a = design(x)
    expected = 2 / x.shape[0] * a.T @ a
    torch.testing.assert_close(hessian(model, mse, (x, y)), expected, rtol=0, atol=1e-12)


def test_hessian_of_softmax_regression_matches_closed_form():
    # H = 1/N Σ_i (diag p_i − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ with x̃ = [x; 1]; reorder to (W row-major, b).
    torch.manual_seed(1)
    n, d, c = 30, 4, 3
    model = nn.Linear(d, c).double()
    x, y = classification(1, n=n, d=d, classes=c)
    p = torch.softmax(model(x), dim=1).detach()
    s = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    xt = design(x)
    h4 = torch.einsum("icd,ij,ik->cjdk", s, xt, xt) / n
    order = [k * (d + 1) + j for k in range(c) for j in range(d)] + [
        k * (d + 1) + d for k in range(c)
    ]
    expected = h4.reshape(c * (d + 1), c * (d + 1))[order][:, order]
    torch.testing.assert_close(
        hessian(model, F.cross_entropy, (x, y)), expected, rtol=0, atol=1e-12
    )


def test_hessian_matches_torch_func_hessian_across_batches_and_chunks():
    model = mlp(2, sizes=(3, 4, 3))
    x, y = classification(2, n=23)
    expected = reference_hessian(model, F.cross_entropy, x, y)
    got = hessian(model, F.cross_entropy, split(x, y, [10, 8, 5]), chunk_size=7)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)


def test_hessian_refuses_more_parameters_than_the_limit():
    model = mlp(3, sizes=(3, 5, 3))  # 38 parameters
    x, y = classification(3)
    with pytest.raises(ProbeError, match=r"P = 38 trainable parameters, above the limit of 30"):
        hessian(model, F.cross_entropy, (x, y), max_params=30)
    assert hessian(model, F.cross_entropy, (x, y), max_params=38).shape == (38, 38)


def test_hessian_covers_only_trainable_parameters():
    model = mlp(4, sizes=(3, 4, 2))
    model[0].weight.requires_grad_(False)
    x, y = classification(4, classes=2)
    h = hessian(model, F.cross_entropy, (x, y))
    full = reference_hessian(model, F.cross_entropy, x, y)
    keep = slice(model[0].weight.numel(), None)
    torch.testing.assert_close(h, full[keep, keep], rtol=0, atol=1e-12)


# --- Hessian-vector products ----------------------------------------------------------------


def test_hvp_is_the_dense_hessian_times_the_vector():
    model = mlp(5)
    x, y = classification(5)
    h = reference_hessian(model, F.cross_entropy, x, y)
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(5), dtype=F64)
    torch.testing.assert_close(hvp(model, F.cross_entropy, (x, y), v), h @ v, rtol=0, atol=1e-12)


def test_hvp_works_with_mse_loss():
    # Forward-over-reverse fails on F.mse_loss in torch 2.x (pytorch/pytorch#123996).
    model, x, y = regression(6)
    v = torch.arange(4, dtype=F64)
    torch.testing.assert_close(
        hvp(model, mse, (x, y), v), 2 / 20 * design(x).T @ (design(x) @ v), rtol=0, atol=1e-12
    )


@settings(max_examples=15, deadline=None)
@given(seed=seeds, a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_hvp_is_linear_and_symmetric(seed, a, b):
    model = mlp(seed)
    data = classification(seed)
    g = torch.Generator().manual_seed(seed)
    p = sum(t.numel() for t in model.parameters())
    u, v = torch.randn(p, generator=g, dtype=F64), torch.randn(p, generator=g, dtype=F64)
    hu, hv = hvp(model, F.cross_entropy, data, u), hvp(model, F.cross_entropy, data, v)
    combined = hvp(model, F.cross_entropy, data, a * u + b * v)
    torch.testing.assert_close(combined, a * hu + b * hv, rtol=1e-10, atol=1e-12)
    assert float(u @ hv) == pytest.approx(float(v @ hu), rel=1e-10, abs=1e-12)


def test_hvp_rejects_a_vector_of_the_wrong_length():
    model, x, y = regression(7)
    with pytest.raises(ProbeError, match=r"flat tensor of length P = 4 .* got shape \(5,\)"):
        hvp(model, mse, (x, y), torch.zeros(5, dtype=F64))
    with pytest.raises(ProbeError, match=r"length P = 4"):
        hvp(model, mse, (x, y), torch.zeros(2, 2, dtype=F64))


# --- gradient norms -------------------------------------------------------------------------


def test_grad_norm_matches_closed_form_gradient_of_least_squares():
    model, x, y = regression(8)
    a = design(x)
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    expected = torch.linalg.vector_norm(2 / x.shape[0] * a.T @ (a @ theta - y))
    assert grad_norm(model, mse, (x, y)) == pytest.approx(float(expected), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, n=st.integers(6, 40), d=st.integers(1, 4))
def test_grad_norm_vanishes_at_the_least_squares_optimum(seed, n, d):
    model, x, y = regression(seed, n=n, d=d)
    solution = torch.linalg.lstsq(design(x), y.unsqueeze(1)).solution.squeeze(1)
    with torch.no_grad():
        model.weight.copy_(solution[:d].unsqueeze(0))
        model.bias.copy_(solution[d:])
    scale = float(torch.linalg.vector_norm(design(x)) * torch.linalg.vector_norm(y)) / n
    assert grad_norm(model, mse, (x, y)) <= 1e-10 * max(scale, 1.0)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, cuts=st.lists(st.integers(1, 29), max_size=4, unique=True))
def test_batch_splitting_does_not_change_the_gradient_norm(seed, cuts):
    model = mlp(seed)
    x, y = classification(seed, n=30)
    bounds = [0, *sorted(cuts), 30]
    sizes = [hi - lo for lo, hi in zip(bounds, bounds[1:])]
    whole = grad_norm(model, F.cross_entropy, (x, y))
    assert grad_norm(model, F.cross_entropy, split(x, y, sizes)) == pytest.approx(whole, rel=1e-12)


def test_per_layer_grad_norms_partition_the_full_gradient():
    model = mlp(9, sizes=(3, 4, 4, 2))
    x, y = classification(9, classes=2)
    norms = per_layer_grad_norms(model, F.cross_entropy, (x, y))
    assert list(norms) == [n for n, _ in model.named_parameters()]
    total = grad_norm(model, F.cross_entropy, (x, y))
    assert np.sqrt(sum(v**2 for v in norms.values())) == pytest.approx(total, rel=1e-12)
    grads = torch.func.grad(lambda p: F.cross_entropy(functional_call(model, p, (x,)), y))(
        {n: p.detach() for n, p in model.named_parameters()}
    )
    for name, value in norms.items():
        assert value == pytest.approx(float(grads[name].norm()), rel=1e-12)


# --- spectrum -------------------------------------------------------------------------------


def test_top_eigenvalue_matches_eigvalsh_of_the_dense_hessian():
    model = mlp(10, sizes=(3, 6, 3))
    x, y = classification(10, n=40)
    eigenvalues = np.linalg.eigvalsh(reference_hessian(model, F.cross_entropy, x, y).numpy())
    result = top_eigenvalue(
        model, F.cross_entropy, (x, y), tol=1e-8, generator=torch.Generator().manual_seed(0)
    )
    scale = np.abs(eigenvalues).max()
    assert result.converged
    assert result.value == pytest.approx(eigenvalues[-1], abs=1e-8 * scale)
    assert result.residual <= 1e-8 * scale
    assert result.hvps == result.iterations + 1 <= 101
    assert float(result.eigenvector.norm()) == pytest.approx(1.0, abs=1e-12)


def test_top_eigenvalue_is_the_largest_signed_eigenvalue_not_the_largest_magnitude():
    loss = QuadraticLoss(torch.diag(torch.tensor([-5.0, 1.0, 0.5, -0.25], dtype=F64)))
    model, data = loss.problem()
    result = top_eigenvalue(model, loss, data, generator=torch.Generator().manual_seed(0))
    assert result.converged
    assert result.value == pytest.approx(1.0, abs=1e-8)  # power iteration would give −5
    assert result.iterations <= 4  # Lanczos is exact after P = 4 steps


def test_top_eigenvalue_in_float32_agrees_with_float64():
    model = mlp(11, sizes=(3, 6, 3))
    x, y = classification(11, n=40)
    exact = top_eigenvalue(model, F.cross_entropy, (x, y), tol=1e-8).value
    single = top_eigenvalue(model.float(), F.cross_entropy, (x.float(), y))
    assert single.converged
    assert single.value == pytest.approx(exact, rel=1e-4)


def test_top_eigenvalue_is_deterministic_given_the_generator():
    model = mlp(12)
    data = classification(12)
    with pytest.warns(ConvergenceWarning, match="did not converge in 3 Lanczos steps"):
        runs = [
            top_eigenvalue(
                model, F.cross_entropy, data, max_iter=3, generator=torch.Generator().manual_seed(7)
            )
            for _ in range(2)
        ]
    assert runs[0].value == runs[1].value and runs[0].residual == runs[1].residual
    assert runs[0].iterations == 3 and not runs[0].converged
    with pytest.warns(ConvergenceWarning):
        other = top_eigenvalue(
            model, F.cross_entropy, data, max_iter=3, generator=torch.Generator().manual_seed(8)
        )
    assert other.value != runs[0].value


@settings(max_examples=15, deadline=None)
@given(seed=seeds, n=st.integers(5, 30), d=st.integers(1, 4))
def test_minimal_ratio_of_full_rank_least_squares_is_one(seed, n, d):
    model, x, y = regression(seed, n=n, d=d)
    assert minimal_ratio(model, mse, (x, y)) == 1.0


def test_minimal_ratio_counts_flat_directions_as_not_positive():
    model, x, y = regression(13, d=3)
    x = torch.cat([x, x[:, :1]], dim=1)  # duplicate column: one exact zero eigenvalue
    model = nn.Linear(4, 1).double()
    assert minimal_ratio(model, mse, (x, y)) == pytest.approx(4 / 5)


def test_minimal_ratio_at_a_saddle_is_the_share_of_positive_eigenvalues():
    loss = QuadraticLoss(torch.diag(torch.tensor([-5.0, 1.0, 0.5, -0.25], dtype=F64)))
    model, data = loss.problem()
    assert minimal_ratio(model, loss, data) == 0.5


def test_minimal_ratio_matches_a_count_over_eigvalsh_and_computes_in_float64():
    model = mlp(14, sizes=(3, 5, 3))
    x, y = classification(14)
    eigenvalues = np.linalg.eigvalsh(reference_hessian(model, F.cross_entropy, x, y).numpy())
    tol = np.sqrt(np.finfo(np.float64).eps)
    expected = np.mean(eigenvalues > tol * np.abs(eigenvalues).max())
    # The softmax's shift invariance gives 6 exact zero eigenvalues; they must not count.
    assert np.sum(np.abs(eigenvalues) <= tol * np.abs(eigenvalues).max()) == 6
    assert minimal_ratio(model, F.cross_entropy, (x, y)) == pytest.approx(expected)
    single = model.float()
    assert minimal_ratio(single, F.cross_entropy, (x.float(), y)) == pytest.approx(expected)
    assert next(single.parameters()).dtype == torch.float32


def test_near_zero_weight_ratio_counts_every_trainable_parameter():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.05, -0.2], [0.5, -0.09, 1.0]]))
        model.bias.copy_(torch.tensor([0.01, 2.0]))
    assert near_zero_weight_ratio(model, 0.1) == pytest.approx(4 / 8)
    assert near_zero_weight_ratio(model, 0.05) == pytest.approx(2 / 8)  # strict: |w| < threshold
    with pytest.raises(ProbeError, match="threshold must be > 0"):
        near_zero_weight_ratio(model, 0.0)
