"""The Hessian's eigenvalue density by stochastic Lanczos quadrature."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ProbeError
from . import _checks, _random
from ._arrays import readonly
from ._lanczos import Lanczos, lockstep, rademacher
from ._objective import LossFn
from .hessian_operator import hessian_operator

#: Grid points of the default grid (PyHessian's ``num_bins``).
GRID_POINTS = 10_000

#: A Ritz pair counts as an eigenpair when its residual is at most this fraction of its gap
#: to the nearest other Ritz value (then sin∠(Ritz vector, eigenvector) ≤ this, Davis–Kahan).
DEFLATION_GAP = 1e-2

#: ... and its weight is at most this many times 1/P. A simple eigenvalue's weight is
#: (uᵀv)²/P with (uᵀv)² ≈ χ²₁ (exceeds 9 with probability 0.3 %); an eigenvalue of multiplicity
#: k has weight ≈ χ²_k/P, so the many-fold ones (zero eigenvalues of dead units, softmax shift
#: directions) keep their stochastic weight instead of a single 1/P.
DEFLATION_MAX_WEIGHT = 9.0


@dataclass(frozen=True)
class DensityResult:
    """A smoothed spectral density and the Gauss quadrature it was built from.

    ``nodes`` and ``weights`` (n_runs × n_iter, float64, read-only): run r's
    Ritz values θ and weights τ (each row sums to 1); ``grid`` the points
    where ``density`` is evaluated, normalized so that its trapezoidal
    integral over the grid is 1; ``sigma`` the Gaussian kernel's width.
    Without deflation ``Σ_j τ_rj θ_rj^p`` is exactly ``v_rᵀ H^p v_r / P`` for
    p < 2·n_iter (Gauss quadrature), an unbiased estimate of the spectral
    moment ``tr(H^p)/P``; with it (``deflated``, n_runs × n_iter bool: the
    nodes taken as eigenvalues, weight 1/P each) the estimate trades that
    identity for a much smaller variance (see :func:`spectral_density`).
    ``hvps`` counts the Hessian-vector products.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    hvps: int
    deflated: np.ndarray

    def moment(self, power: int) -> float:
        """The quadrature's estimate of ``tr(H^power)/P``, averaged over the runs."""
        return float(np.mean(np.sum(self.weights * self.nodes**power, axis=1)))


def _grid(grid) -> np.ndarray:
    """``grid`` as a float64 vector of at least 2 finite, strictly increasing points."""
    if isinstance(grid, torch.Tensor):
        grid = _checks.tensor(grid, "grid").detach().cpu().double().numpy()
    try:
        values = np.asarray(grid, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ProbeError(
            f"grid must be a sequence of numbers, got {_checks.describe(grid)}"
        ) from None
    if values.size < 2 or not np.all(np.isfinite(values)) or not np.all(np.diff(values) > 0):
        raise ProbeError("grid must hold at least 2 finite, strictly increasing points")
    return values


#: Beyond this many σ the Gaussian kernel exp(−z²/2) is exactly 0 in float64 (z > 38.6).
_KERNEL_REACH = 40.0


def _smoothed(grid: np.ndarray, nodes: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """``Σ_j w_j exp(−(t − θ_j)²/2σ²)`` on the grid, each node only where its kernel is not 0."""
    density = np.zeros_like(grid)
    low = np.searchsorted(grid, nodes - _KERNEL_REACH * sigma)
    high = np.searchsorted(grid, nodes + _KERNEL_REACH * sigma)
    for node, weight, a, b in zip(nodes, weights, low, high):
        density[a:b] += weight * np.exp(-0.5 * ((grid[a:b] - node) / sigma) ** 2)
    return density


def _deflate(
    values: np.ndarray, weights: np.ndarray, residuals: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One run's weights with its converged, simple Ritz pairs taken as eigenpairs.

    A pair (θ_j, y_j) whose residual is at most ``DEFLATION_GAP`` times its gap
    to the nearest other Ritz value, and whose weight τ_j is at most
    ``DEFLATION_MAX_WEIGHT``/P, gets the weight 1/P of one eigenvalue; the
    other weights are rescaled to the mass left, 1 − c/P. Returns the
    weights and the mask of deflated pairs. After P steps every pair is an
    eigenpair (weight 1/P). Before that, nothing is deflated when every pair
    qualifies (no node would be left to carry the rest of the spectrum).
    """
    m = values.size
    if m == size:  # the whole space: every Ritz pair is an eigenpair (copies found by restarts)
        return np.full(m, 1.0 / size), np.ones(m, dtype=bool)
    if m > 1:
        gaps = np.diff(values)
        gap = np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf])
    else:
        gap = np.full(1, np.inf)
    mask = (residuals <= DEFLATION_GAP * gap) & (weights * size <= DEFLATION_MAX_WEIGHT)
    count = int(mask.sum())
    rest = float(weights[~mask].sum())
    if count == 0 or count == m or not rest > 0:
        return weights, np.zeros(m, dtype=bool)
    deflated = np.where(mask, 1.0 / size, weights * ((1.0 - count / size) / rest))
    return deflated, mask


def _quadratures(
    op, n_runs: int, n_iter: int, generator, deflate: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, weights and deflation masks (n_runs × steps) of ``n_runs`` lockstep Lanczos runs.

    The start vectors are drawn first, run after run; then every step takes
    one block product for all runs (:meth:`HessianOperator.products`).
    """
    n = op.shape[0]
    starts = [
        rademacher(n, generator, device=op.device, dtype=op._params.dtype) for _ in range(n_runs)
    ]
    processes = [Lanczos(op.apply, start, generator) for start in starts]
    lockstep(processes, min(n_iter, n), op.products)
    nodes, weights, masks = [], [], []
    for process in processes:
        values, vectors = process.ritz()
        run_weights, mask = vectors[0] ** 2, np.zeros(values.size, dtype=bool)
        if deflate:
            residuals = process.residual_estimates(vectors)
            run_weights, mask = _deflate(values, run_weights, residuals, n)
        nodes.append(values)
        weights.append(run_weights)
        masks.append(mask)
    return np.stack(nodes), np.stack(weights), np.stack(masks)


def spectral_density(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    n_runs: int = 1,
    n_iter: int = 100,
    grid=None,
    sigma: float | None = None,
    params=None,
    deflate: bool = True,
    generator: torch.Generator | None = None,
) -> DensityResult:
    """Eigenvalue density of the full-data Hessian by stochastic Lanczos quadrature (SLQ).

    For each of ``n_runs`` Rademacher start vectors v, ``n_iter`` Lanczos
    steps (full reorthogonalization) give T's eigenvalues θ_j (nodes) and
    the squared first components τ_j of its eigenvectors (weights); then
    ``φ(t) = (1/n_runs) Σ_runs Σ_j τ_j 𝒩(t; θ_j, σ²)``, normalized to
    integrate to 1 over ``grid`` (G. Ghorbani, S. Krishnan, Y. Xiao, "An
    Investigation into Neural Net Optimization via Hessian Eigenvalue
    Density", ICML 2019; Lin, Saad & Yang, SIAM Review 2016; PyHessian's
    ``density``). Defaults follow PyHessian's ``density_generate``: σ² =
    10⁻⁵ · max(1, θ_max − θ_min) and ``GRID_POINTS`` points spanning the
    nodes; here the grid is padded by 5σ on both sides so the kernels fit.
    ``n_iter`` is capped at P (then the nodes are exact eigenvalues).
    The runs advance in lockstep, one block product per step for all of
    them (:meth:`HessianOperator.products`: batched with ``vmap`` on a GPU,
    column by column on a CPU, where that measured faster). Draws come from
    ``generator`` (a CPU generator seeded with 0 when ``None``): all
    ``n_runs`` start vectors first, in run order, then any fresh vector a
    run needs after a Lanczos breakdown, step by step; without a breakdown
    (the usual case, n_iter < P) every run is the one its start vector
    gives alone. ``params`` restricts H to the named parameters.

    Deflation (``deflate=True``, the default). A run's weights are
    ``τ_j = (y_jᵀv)²/P``; for a Ritz pair that has converged to an
    eigenpair (u, λ) this is (uᵀv)²/P, a χ²₁-like draw whose mean is the
    1/P the eigenvalue has in the spectrum. For the outliers of a trained
    network's Hessian, which Lanczos finds in a few steps and which sit far
    from the bulk, that noise is most of the error (in Wasserstein-1 it
    costs |τ − 1/P| times the distance to the bulk). So converged, simple
    pairs (residual ≤ ``DEFLATION_GAP`` × gap to the nearest Ritz value,
    weight ≤ ``DEFLATION_MAX_WEIGHT``/P) get exactly 1/P, and the other
    nodes, which are the Gauss quadrature of v projected off those
    eigenvectors (H maps their span to itself), are rescaled to the mass
    left, 1 − c/P: explicit deflation of the top of the spectrum as in
    Bhattacharjee, Jayaram, Musco, Musco & Ray, "Improved Spectral Density
    Estimation via Explicit and Implicit Deflation" (SODA 2025), here with
    the eigenpairs the same Lanczos run already found, so it costs no
    product. On ``benchmarks/bench_probes.py``'s CNN it cuts the
    Wasserstein error of one 20-step run sixfold (1.2e-3 to 2.1e-4 of the
    spread); where the error is the bulk's resolution (its MLP) it changes
    little. With ``n_iter = P``
    every pair converges and the nodes and weights are the exact spectrum.
    The price: ``Σ_j τ_j θ_j^p`` is no longer exactly ``vᵀH^p v/P``, but a
    ratio estimate of ``tr(H^p)/P`` (consistent, not exactly unbiased);
    ``deflate=False`` gives PyHessian's plain SLQ and the Gauss identity.
    """
    n_runs = _checks.integer(n_runs, "n_runs", minimum=1)
    n_iter = _checks.integer(n_iter, "n_iter", minimum=1)
    if sigma is not None:
        sigma = _checks.real(sigma, "sigma", above=0)
    if grid is not None:
        grid = _grid(grid)
    generator = _random.resolve(generator)
    if not isinstance(deflate, bool):
        raise ProbeError(f"deflate must be True or False, got {_checks.describe(deflate)}")
    op = hessian_operator(model, loss_fn, data, params=params)
    nodes, weights, deflated = _quadratures(op, n_runs, n_iter, generator, deflate)
    low, high = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = float(np.sqrt(1e-5 * max(1.0, high - low)))
    if grid is None:
        grid = np.linspace(low - 5 * sigma, high + 5 * sigma, GRID_POINTS)
    density = _smoothed(grid, nodes.reshape(-1), weights.reshape(-1), sigma)
    density /= n_runs * sigma * np.sqrt(2 * np.pi)
    mass = float(np.trapezoid(density, grid))
    if not mass > 0:
        raise ProbeError(
            f"the density has no mass on the grid [{grid[0]}, {grid[-1]}]; the "
            f"nodes lie in [{low}, {high}]: widen the grid or sigma"
        )
    return DensityResult(
        grid=readonly(grid),
        density=readonly(density / mass),
        nodes=readonly(nodes),
        weights=readonly(weights),
        sigma=float(sigma),
        hvps=op.hvps,
        deflated=readonly(deflated, dtype=bool),
    )
