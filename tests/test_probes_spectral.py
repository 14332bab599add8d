"""The Hessian operator, its eigenvalues at both ends, its trace and its spectral density.

Every reference is a dense float64 Hessian (``torch.func.hessian`` or a
quadratic loss whose Hessian is given) and ``numpy.linalg.eigvalsh``.
Stochastic estimates are deterministic given their generator; they are
checked against the exact value within the standard error they report.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import eigsh
from scipy.stats import wasserstein_distance
from torch import nn

from dlverify.errors import ConvergenceWarning, NotConvergedError, ProbeError
from dlverify.probes import (
    eigenvalues,
    hessian_operator,
    hessian_trace,
    spectral_density,
    top_eigenvalue,
)
from dlverify.probes._lanczos import rademacher
from tests.conftest import F64, QuadraticLoss, classification, mlp, reference_hessian

# torch.func.hessian (jacfwd) uses torch.jit.script internally, deprecated in torch 2.13.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

seeds = st.integers(0, 2**31 - 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def problem(seed: int = 0, sizes=(3, 5, 3), n: int = 30):
    model = mlp(seed, sizes)
    x, y = classification(seed, n=n, classes=sizes[-1])
    return model, (x, y), reference_hessian(model, x, y).numpy()


def quadratic(diagonal) -> tuple:
    loss = QuadraticLoss(torch.diag(torch.tensor(diagonal, dtype=F64)))
    model, data = loss.problem()
    return model, loss, data


# --- the operator ---------------------------------------------------------------------------


def test_operator_products_are_the_dense_hessian_products_in_numpy_and_torch():
    model, data, h = problem(1)
    op = hessian_operator(model, F.cross_entropy, data)
    assert op.shape == h.shape and op.dtype == np.float64
    v = np.random.default_rng(1).standard_normal((h.shape[0], 3))
    np.testing.assert_allclose(op @ v[:, 0], h @ v[:, 0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(op @ v, h @ v, rtol=0, atol=1e-13)  # matmat: columns
    got = op @ torch.from_numpy(v)
    assert isinstance(got, torch.Tensor) and got.shape == (h.shape[0], 3)
    np.testing.assert_allclose(got.numpy(), h @ v, rtol=0, atol=1e-13)
    assert op.hvps == 1 + 3 + 3
    np.testing.assert_allclose(op.rmatvec(v[:, 0]), h @ v[:, 0], rtol=0, atol=1e-13)


def test_operator_works_with_scipy_eigsh():
    model, data, h = problem(2)
    op = hessian_operator(model, F.cross_entropy, data)
    top = eigsh(op, k=2, which="LA", return_eigenvectors=False, tol=1e-12)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(h)[-2:], rtol=0, atol=1e-10)


@pytest.mark.parametrize("batches", [1, 3])
def test_operator_is_a_snapshot_that_later_changes_to_the_model_do_not_reach(batches):
    model, (x, y), h = problem(3)
    data = (x, y) if batches == 1 else list(zip(x.split(10), y.split(10)))
    op = hessian_operator(model, F.cross_entropy, data)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    v = np.ones(h.shape[0])
    np.testing.assert_allclose(op @ v, h @ v, rtol=0, atol=1e-13)


@settings(max_examples=10, deadline=None)
@given(seed=seeds, a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_operator_is_symmetric_and_linear(seed, a, b):
    model = mlp(seed % 1000)
    op = hessian_operator(model, F.cross_entropy, classification(seed % 1000))
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(op.shape[0]), rng.standard_normal(op.shape[0])
    hu, hv = op @ u, op @ v
    np.testing.assert_allclose(op @ (a * u + b * v), a * hu + b * hv, rtol=1e-10, atol=1e-12)
    assert float(u @ hv) == pytest.approx(float(v @ hu), rel=1e-10, abs=1e-12)


def test_operator_refuses_a_tensor_of_the_wrong_shape():
    model, data, h = problem(4)
    op = hessian_operator(model, F.cross_entropy, data)
    with pytest.raises(ProbeError, match=rf"shape \(P,\) or \(P, m\) with P = {h.shape[0]}"):
        op @ torch.zeros(h.shape[0] + 1, dtype=F64)


# --- eigenvalues at both ends ---------------------------------------------------------------


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_eigenvalues_match_eigvalsh_at_both_ends(which):
    model, data, h = problem(5, sizes=(3, 6, 3), n=40)
    exact = np.linalg.eigvalsh(h)
    scale = np.abs(exact).max()
    result = eigenvalues(
        model, F.cross_entropy, data, k=3, which=which, tol=1e-10, generator=gen(0)
    )
    expected = exact[::-1][:3] if which == "largest" else exact[:3]
    assert result.converged.all()
    np.testing.assert_allclose(result.values, expected, rtol=0, atol=1e-9 * scale)
    vectors = result.vectors.numpy()
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(3), atol=1e-8)
    dense_residuals = np.linalg.norm(vectors @ h - result.values[:, None] * vectors, axis=1)
    np.testing.assert_allclose(result.residuals, dense_residuals, rtol=1e-6, atol=1e-14)
    assert (result.residuals <= 1e-10 * scale).all()
    assert result.hvps == result.iterations + 3


def test_smallest_eigenvalues_tell_a_saddle_from_a_minimum():
    model, loss, data = quadratic([-5.0, 1.0, 0.5, -0.25, 2.0])
    smallest = eigenvalues(model, loss, data, k=2, which="smallest")
    largest = eigenvalues(model, loss, data, k=2, which="largest")
    np.testing.assert_allclose(smallest.values, [-5.0, -0.25], atol=1e-12)
    np.testing.assert_allclose(largest.values, [2.0, 1.0], atol=1e-12)


def test_a_repeated_eigenvalue_is_found_as_often_as_it_occurs_in_a_small_problem():
    # One Krylov sequence sees one direction of the eigenspace of 3; the restart after the
    # invariant subspace is exhausted finds the other copies.
    model, loss, data = quadratic([3.0, 3.0, 3.0, 1.0, 1.0, 0.5])
    result = eigenvalues(model, loss, data, k=4, tol=1e-10)
    np.testing.assert_allclose(result.values, [3.0, 3.0, 3.0, 1.0], atol=1e-10)
    assert result.converged.all()


def test_one_largest_eigenvalue_is_top_eigenvalue():
    model, data, _ = problem(6)
    one = eigenvalues(model, F.cross_entropy, data, tol=1e-8, generator=gen(3))
    top = top_eigenvalue(model, F.cross_entropy, data, tol=1e-8, generator=gen(3))
    assert one.values[0] == pytest.approx(top.value, abs=1e-10)


def test_eigenvalues_are_deterministic_given_the_generator_and_report_non_convergence():
    model, data, _ = problem(7)
    with pytest.warns(ConvergenceWarning, match="not converged after 3 Lanczos steps"):
        runs = [
            eigenvalues(model, F.cross_entropy, data, k=2, max_iter=3, generator=gen(1))
            for _ in range(2)
        ]
    np.testing.assert_array_equal(runs[0].values, runs[1].values)
    assert runs[0].iterations == 3 and not runs[0].converged.all()
    with pytest.raises(NotConvergedError, match="raise max_iter or tol"):
        eigenvalues(model, F.cross_entropy, data, k=2, max_iter=3, strict=True)


@settings(max_examples=15, deadline=None)
@given(
    seed=seeds,
    p=st.integers(2, 8),
    k=st.integers(1, 3),
    which=st.sampled_from(["largest", "smallest"]),
)
def test_eigenvalues_of_a_random_symmetric_quadratic(seed, p, k, which):
    k = min(k, p)
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((p, p))
    a = (b + b.T) / 2
    loss = QuadraticLoss(torch.from_numpy(a))
    model, data = loss.problem()
    exact = np.linalg.eigvalsh(a)
    result = eigenvalues(model, loss, data, k=k, which=which, tol=1e-10, generator=gen(seed))
    expected = exact[::-1][:k] if which == "largest" else exact[:k]
    np.testing.assert_allclose(result.values, expected, atol=1e-8 * np.abs(exact).max())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must be >= 1"),
        ({"k": 100}, r"k = 100 is more than the P = 38"),
        ({"which": "middle"}, "which must be 'largest' or 'smallest'"),
        ({"tol": 0.0}, "tol must be > 0"),
        ({"k": 2.0}, "k must be an integer >= 1"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
    ],
)
def test_eigenvalues_refuse_bad_arguments(kwargs, message):
    model, data, _ = problem(8)
    with pytest.raises(ProbeError, match=message):
        eigenvalues(model, F.cross_entropy, data, **kwargs)


# --- trace ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
@pytest.mark.parametrize("seed", range(4))
def test_trace_estimate_is_within_its_standard_error_of_the_exact_trace(method, seed):
    model, data, h = problem(9, sizes=(3, 6, 3), n=40)
    result = hessian_trace(
        model, F.cross_entropy, data, n_samples=30, method=method, generator=gen(seed)
    )
    assert result.n_samples == 30 and result.hvps == 30
    assert 0 < result.std_error < np.inf
    # 4 standard errors: a normal estimate strays that far with probability 6e-5.
    assert abs(result.value - np.trace(h)) <= 4 * result.std_error


def test_hutchinson_standard_error_matches_its_known_variance():
    # Var(zᵀHz) = 2 (‖H‖_F² − Σ H_jj²) for Rademacher z (Hutchinson, 1989).
    model, data, h = problem(10, sizes=(3, 6, 3), n=40)
    m = 40
    exact = np.sqrt(2 * (np.sum(h**2) - np.sum(np.diag(h) ** 2)) / m)
    errors = [
        hessian_trace(
            model, F.cross_entropy, data, n_samples=m, method="hutchinson", generator=gen(s)
        ).std_error
        for s in range(10)
    ]
    assert np.mean(errors) == pytest.approx(exact, rel=0.25)


def test_hutch_plus_plus_is_exact_once_its_sketch_spans_the_space():
    model, data, h = problem(11)
    result = hessian_trace(model, F.cross_entropy, data, n_samples=3 * h.shape[0] + 2)
    assert result.value == pytest.approx(np.trace(h), rel=1e-10)
    assert result.std_error == pytest.approx(0, abs=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=seeds, p=st.integers(1, 10))
def test_hutchinson_trace_of_a_diagonal_convex_quadratic_is_exact(seed, p):
    # zᵀDz = Σ D_jj z_j² = tr D for every ±1 vector z.
    diagonal = np.random.default_rng(seed).uniform(0.1, 5, p)
    model, loss, data = quadratic(diagonal.tolist())
    result = hessian_trace(model, loss, data, n_samples=5, method="hutchinson", generator=gen(seed))
    assert result.value == pytest.approx(diagonal.sum(), rel=1e-12)
    assert result.std_error == pytest.approx(0, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=seeds, p=st.integers(1, 8), method=st.sampled_from(["hutchinson", "hutch++"]))
def test_trace_of_a_convex_quadratic_is_positive_and_hutch_plus_plus_exact_at_3p(seed, p, method):
    b = np.random.default_rng(seed).standard_normal((p, p))
    a = b @ b.T + 0.1 * np.eye(p)
    loss = QuadraticLoss(torch.from_numpy(a))
    model, data = loss.problem()
    result = hessian_trace(
        model, loss, data, n_samples=3 * p + 4, method=method, generator=gen(seed)
    )
    assert result.value > 0
    if method == "hutch++":
        assert result.value == pytest.approx(np.trace(a), rel=1e-10)
    else:
        assert abs(result.value - np.trace(a)) <= 5 * result.std_error + 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "dense"}, "method must be 'hutch\\+\\+', 'hutchinson' or 'exact'"),
        ({"n_samples": 3}, "n_samples must be an integer >= 4"),
        ({"n_samples": 1, "method": "hutchinson"}, "n_samples must be an integer >= 2"),
    ],
)
def test_trace_refuses_bad_arguments(kwargs, message):
    model, data, _ = problem(12)
    with pytest.raises(ProbeError, match=message):
        hessian_trace(model, F.cross_entropy, data, **kwargs)


# --- exact trace (MLPs) ---------------------------------------------------------------------


def deep_mlp(seed: int, widths, activation, *, d: int = 4, classes: int = 3) -> nn.Sequential:
    """Flatten, then Linear + activation per width (the second without bias), a Linear head."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, width in enumerate(widths):
        layers += [nn.Linear(d, width, bias=i != 1), activation()]
        d = width
    layers += [nn.Dropout(0.5), nn.Linear(d, classes)]
    return nn.Sequential(*layers).double().eval()


@pytest.mark.parametrize("activation", [nn.Tanh, nn.Sigmoid, nn.ReLU])
@pytest.mark.parametrize("widths", [(), (6,), (6, 5), (3, 7, 2), (2, 9, 9, 9)])
def test_exact_trace_is_the_dense_hessians_trace(activation, widths):
    # (2, 9, 9, 9): the factored form turns dense (9 + 3 rows >= 9) before the last product.
    model = deep_mlp(len(widths), widths, activation)
    x, y = classification(1, n=30, d=4, classes=3)
    result = hessian_trace(model, F.cross_entropy, (x, y), method="exact")
    exact = float(torch.trace(reference_hessian(model, x, y)))
    assert result.value == pytest.approx(exact, rel=1e-12, abs=1e-14)
    assert (result.std_error, result.n_samples, result.hvps) == (0.0, 0, 0)


@pytest.mark.parametrize(
    "names", [["5.weight"], ["1.weight", "3.weight"], ["3.weight", "8.bias"], ["1.bias"]]
)
def test_exact_trace_of_some_parameters_is_the_trace_of_their_dense_sub_block(names):
    model = deep_mlp(2, (5, 4, 3), nn.Tanh)
    x, y = classification(2, n=25, d=4, classes=3)
    result = hessian_trace(model, F.cross_entropy, (x, y), method="exact", params=names)
    exact = float(torch.trace(reference_hessian(model, x, y, names=names)))
    assert result.value == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_exact_trace_with_mse_batches_and_small_chunks_matches_the_dense_trace(monkeypatch):
    from dlverify.probes import _hessian_backprop

    model = deep_mlp(3, (6, 5), nn.Sigmoid)
    x = classification(3, n=30, d=4)[0]
    t = torch.randn(30, 3, generator=gen(3), dtype=F64)
    exact = float(torch.trace(reference_hessian(model, x, t, loss_fn=F.mse_loss)))
    batches = [(x[:7], t[:7]), (x[7:], t[7:])]  # weighted 7/30 and 23/30
    monkeypatch.setattr(_hessian_backprop, "_CHUNK_ELEMENTS", 40)  # one sample per chunk
    value = hessian_trace(model, F.mse_loss, batches, method="exact").value
    assert value == pytest.approx(exact, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=seeds,
    widths=st.lists(st.integers(1, 7), max_size=3),
    activation=st.sampled_from([nn.Tanh, nn.Sigmoid, nn.ReLU]),
)
def test_exact_trace_property_equals_dense_trace(seed, widths, activation):
    model = deep_mlp(seed % 1000, widths, activation, d=3, classes=4)
    x, y = classification(seed, n=12, d=3, classes=4)
    exact = float(torch.trace(reference_hessian(model, x, y)))
    value = hessian_trace(model, F.cross_entropy, (x, y), method="exact").value
    assert value == pytest.approx(exact, rel=1e-10, abs=1e-12)


def test_exact_trace_refuses_a_loss_that_couples_the_samples():
    model, data, _ = problem(13)

    def centred(outputs, targets):  # subtracts the batch mean: each loss depends on every sample
        return F.cross_entropy(outputs - outputs.mean(dim=0), targets)

    with pytest.raises(
        ProbeError, match="couples the samples of a batch: use method='hutch\\+\\+'"
    ):
        hessian_trace(model, centred, data, method="exact")


def test_exact_trace_refuses_a_batch_of_output_hessians_beyond_its_memory_bound(monkeypatch):
    from dlverify.probes import _hessian_backprop

    model, (x, y), h = problem(14, n=30)  # 3 outputs: 30 · 9 = 270 elements
    monkeypatch.setattr(_hessian_backprop, "_OUTPUT_HESSIAN_ELEMENTS", 200)
    with pytest.raises(ProbeError, match="pass the data as several smaller batches"):
        hessian_trace(model, F.cross_entropy, (x, y), method="exact")
    batches = [(x[:15], y[:15]), (x[15:], y[15:])]  # 135 elements each
    value = hessian_trace(model, F.cross_entropy, batches, method="exact").value
    assert value == pytest.approx(float(np.trace(h)), rel=1e-12)


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Sequential(nn.Conv1d(1, 2, 2), nn.Flatten(), nn.Linear(4, 3)), "module 0 is a Conv1d"),
        (nn.Sequential(nn.Linear(3, 3), nn.LeakyReLU(), nn.Linear(3, 3)), "is a LeakyReLU"),
        (nn.Linear(3, 3), "got a Linear"),
    ],
)
def test_exact_trace_refuses_models_it_cannot_backpropagate_through(model, message):
    conv = isinstance(model, nn.Sequential) and isinstance(model[0], nn.Conv1d)
    x = torch.randn(5, 1, 3) if conv else torch.randn(5, 3)
    with pytest.raises(ProbeError, match=message):
        hessian_trace(model, F.cross_entropy, (x, torch.zeros(5, dtype=torch.long)), method="exact")


@pytest.mark.parametrize(
    "inputs", [torch.randn(5, 4), torch.randn(5, 3, dtype=F64)], ids=["width", "dtype"]
)
def test_exact_trace_names_the_layer_that_refuses_the_inputs(inputs):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).eval()
    with pytest.raises(ProbeError, match=r"layer 0, on inputs of shape \(5, [34]\).*pass data"):
        hessian_trace(
            model, F.cross_entropy, (inputs, torch.zeros(5, dtype=torch.long)), method="exact"
        )


# --- spectral density -----------------------------------------------------------------------


def test_density_of_a_diagonal_hessian_is_its_spectrum_exactly():
    # A Rademacher start vector has (e_jᵀv)² = 1 for every j: weights 1/P at the eigenvalues.
    diagonal = [-1.0, 0.25, 0.5, 2.0, 3.0]
    model, loss, data = quadratic(diagonal)
    result = spectral_density(model, loss, data, n_iter=10)
    assert result.nodes.shape == (1, 5)
    np.testing.assert_allclose(result.nodes[0], diagonal, atol=1e-12)
    np.testing.assert_allclose(result.weights[0], np.full(5, 0.2), atol=1e-12)
    for p in range(5):
        assert result.moment(p) == pytest.approx(np.mean(np.array(diagonal) ** p), abs=1e-12)


def test_quadrature_moments_are_exact_for_polynomials_below_twice_the_steps():
    # Gauss quadrature: Σ τ θ^p = vᵀ H^p v / P for p < 2m (Golub & Meurant, 2010).
    model, data, h = problem(13)
    m = 4
    result = spectral_density(model, F.cross_entropy, data, n_iter=m, generator=gen(5))
    v = rademacher(h.shape[0], gen(5), device=torch.device("cpu"), dtype=F64).numpy()
    power = np.eye(h.shape[0])
    for p in range(2 * m):
        expected = v @ power @ v / h.shape[0]
        assert result.moment(p) == pytest.approx(expected, rel=1e-8, abs=1e-14), p
        power = power @ h


def test_density_moments_agree_with_the_dense_spectrum_within_their_standard_error():
    model, data, h = problem(14, sizes=(3, 6, 3), n=40)
    exact = np.linalg.eigvalsh(h)
    result = spectral_density(model, F.cross_entropy, data, n_runs=20, n_iter=8, generator=gen(0))
    for p in (1, 2, 3):
        per_run = np.sum(result.weights * result.nodes**p, axis=1)
        error = per_run.std(ddof=1) / np.sqrt(len(per_run))
        assert abs(per_run.mean() - np.mean(exact**p)) <= 4 * error, p


def test_density_integrates_to_one_and_keeps_the_quadrature_mean():
    model, data, _ = problem(15)
    result = spectral_density(model, F.cross_entropy, data, n_runs=3, n_iter=12)
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-12)
    assert (result.density >= 0).all()
    # The Gaussian kernel keeps the mean and adds σ² to the second moment.
    mean = np.trapezoid(result.grid * result.density, result.grid)
    second = np.trapezoid(result.grid**2 * result.density, result.grid)
    assert mean == pytest.approx(result.moment(1), abs=1e-6)
    assert second == pytest.approx(result.moment(2) + result.sigma**2, rel=1e-4)
    assert result.hvps == 3 * 12


def test_density_on_a_given_grid_with_a_given_width():
    model, loss, data = quadratic([0.0, 1.0])
    grid = np.linspace(-1, 2, 3001)
    result = spectral_density(model, loss, data, grid=grid, sigma=0.1)
    np.testing.assert_array_equal(result.grid, grid)
    assert result.sigma == 0.1
    # Two equal bumps at 0 and 1: the density at 0 is that of one normal of weight ½.
    at_zero = result.density[1000]
    assert at_zero == pytest.approx(0.5 / (0.1 * np.sqrt(2 * np.pi)), rel=1e-3)


def rotated(spectrum, seed: int = 0) -> tuple:
    """A quadratic problem whose Hessian is Q diag(spectrum) Qᵀ for a random orthogonal Q."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=g, dtype=F64))
    loss = QuadraticLoss(q @ torch.diag(torch.tensor(spectrum, dtype=F64)) @ q.T)
    model, data = loss.problem()
    return model, loss, data


OUTLIERS = [20.0, 40.0, 60.0, 80.0]


def bulk_and_outliers(size: int = 120) -> list[float]:
    return list(np.linspace(0.0, 1.0, size - len(OUTLIERS))) + OUTLIERS


def test_deflation_gives_each_converged_outlier_the_weight_of_one_eigenvalue():
    spectrum = bulk_and_outliers()
    model, loss, data = rotated(spectrum)
    p = len(spectrum)
    for seed in range(5):
        plain = spectral_density(model, loss, data, n_iter=15, deflate=False, generator=gen(seed))
        result = spectral_density(model, loss, data, n_iter=15, generator=gen(seed))
        np.testing.assert_array_equal(result.nodes, plain.nodes)  # only the weights change
        assert not plain.deflated.any()
        top = result.nodes[0] > 10
        np.testing.assert_allclose(result.nodes[0][top], OUTLIERS, rtol=1e-10)
        assert result.deflated[0][top].all() and not result.deflated[0][~top].any()
        np.testing.assert_array_equal(result.weights[0][top], np.full(4, 1 / p))
        assert result.weights[0].sum() == pytest.approx(1.0, abs=1e-12)
        rest = plain.weights[0][~top]  # the bulk keeps its shape, rescaled to the mass left
        np.testing.assert_allclose(result.weights[0][~top], rest * (1 - 4 / p) / rest.sum())


def test_deflation_lowers_the_wasserstein_error_where_outliers_dominate_it():
    spectrum = bulk_and_outliers()
    model, loss, data = rotated(spectrum, seed=1)

    def mean_error(deflate: bool) -> float:
        errors = []
        for seed in range(20):
            r = spectral_density(model, loss, data, n_iter=15, deflate=deflate, generator=gen(seed))
            errors.append(wasserstein_distance(r.nodes[0], spectrum, r.weights[0]))
        return float(np.mean(errors))

    assert mean_error(True) < 0.2 * mean_error(False)


def test_a_many_fold_eigenvalue_keeps_its_stochastic_weight():
    # 40 zero spectrum: one Ritz value stands for all of them, with weight ≈ χ²₄₀/P, far
    # above one eigenvalue's 1/P; deflating it would drop most of their mass.
    spectrum = [0.0] * 40 + list(np.linspace(1.0, 2.0, 76)) + OUTLIERS
    model, loss, data = rotated(spectrum, seed=2)
    result = spectral_density(model, loss, data, n_iter=15, generator=gen(3))
    zero = np.abs(result.nodes[0]) < 1e-8
    assert zero.sum() == 1 and not result.deflated[0][zero].any()
    assert result.weights[0][zero][0] > 9 / len(spectrum)
    assert result.deflated[0][result.nodes[0] > 10].all()


def test_after_p_steps_the_deflated_quadrature_is_the_spectrum():
    spectrum = [0.0] * 5 + [1.0, 1.0, 2.0, 3.0, 50.0]
    model, loss, data = rotated(spectrum, seed=4)
    result = spectral_density(model, loss, data, n_iter=10)
    np.testing.assert_allclose(result.nodes[0], spectrum, atol=1e-10)
    np.testing.assert_array_equal(result.weights[0], np.full(10, 0.1))
    assert result.deflated.all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_runs": 0}, "n_runs must be >= 1"),
        ({"n_iter": 0}, "n_iter must be >= 1"),
        ({"sigma": -1.0}, "sigma must be > 0"),
        ({"grid": "abc"}, "grid must be a sequence of numbers"),
        ({"grid": [1.0, 0.0]}, "strictly increasing"),
        ({"deflate": 1}, "deflate must be True or False"),
    ],
)
def test_density_refuses_bad_arguments(kwargs, message):
    model, data, _ = problem(16)
    with pytest.raises(ProbeError, match=message):
        spectral_density(model, F.cross_entropy, data, **kwargs)
