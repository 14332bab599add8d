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


@dataclass(frozen=True)
class DensityResult:
    """A smoothed spectral density and the Gauss quadrature it was built from.

    ``nodes`` and ``weights`` (n_runs × n_iter, float64, read-only): run r's
    Ritz values θ and weights τ (each row sums to 1); ``grid`` the points
    where ``density`` is evaluated, normalized so that its trapezoidal
    integral over the grid is 1; ``sigma`` the Gaussian kernel's width.
    ``Σ_j τ_rj θ_rj^p`` is exactly ``v_rᵀ H^p v_r / P`` for p < 2·n_iter
    (Gauss quadrature), an unbiased estimate of the spectral moment
    ``tr(H^p)/P``. ``hvps`` counts the Hessian-vector products.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    hvps: int

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


def _quadratures(op, n_runs: int, n_iter: int, generator) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (n_runs × steps) of ``n_runs`` Lanczos runs advanced in lockstep.

    The start vectors are drawn first, run after run; then every step takes
    one block product for all runs (:meth:`HessianOperator.products`).
    """
    n = op.shape[0]
    starts = [
        rademacher(n, generator, device=op.device, dtype=op._params.dtype) for _ in range(n_runs)
    ]
    processes = [Lanczos(op.apply, start, generator) for start in starts]
    lockstep(processes, min(n_iter, n), op.products)
    ritz = [process.ritz() for process in processes]
    nodes = np.stack([values for values, _ in ritz])
    return nodes, np.stack([vectors[0] ** 2 for _, vectors in ritz])


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
    """
    n_runs = _checks.integer(n_runs, "n_runs", minimum=1)
    n_iter = _checks.integer(n_iter, "n_iter", minimum=1)
    if sigma is not None:
        sigma = _checks.real(sigma, "sigma", above=0)
    if grid is not None:
        grid = _grid(grid)
    generator = _random.resolve(generator)
    op = hessian_operator(model, loss_fn, data, params=params)
    nodes, weights = _quadratures(op, n_runs, n_iter, generator)
    low, high = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = float(np.sqrt(1e-5 * max(1.0, high - low)))
    if grid is None:
        grid = np.linspace(low - 5 * sigma, high + 5 * sigma, GRID_POINTS)
    density = np.zeros_like(grid)
    for run_nodes, run_weights in zip(nodes, weights):
        for start in range(0, grid.size, 1000):  # bounded memory: 1000 × n_iter at a time
            t = grid[start : start + 1000, None]
            kernel = np.exp(-0.5 * ((t - run_nodes[None, :]) / sigma) ** 2)
            density[start : start + 1000] += kernel @ run_weights
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
    )
