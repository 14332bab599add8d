"""The k largest or k smallest eigenvalues of the Hessian: sharp directions and saddles."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ConvergenceWarning, NotConvergedError, ProbeError
from . import _checks, _random
from ._arrays import readonly
from ._lanczos import Lanczos
from ._objective import LossFn
from .hessian_operator import hessian_operator


@dataclass(frozen=True)
class EigenvaluesResult:
    """k signed Hessian eigenvalues at one end of the spectrum, found by Lanczos.

    ``values`` (float64, read-only): largest first for ``which="largest"``,
    smallest first for ``which="smallest"``. ``vectors`` (k × P tensor on the
    model's device) the unit Ritz vectors, row i for ``values[i]``.
    ``residuals[i] = ‖H y_i − λ_i y_i‖₂``, computed with one extra HVP per
    vector; ``converged[i]`` means ``residuals[i] ≤ tol · ‖H‖`` (‖H‖
    estimated by the largest Ritz value in magnitude). ``iterations`` Lanczos
    steps; ``hvps`` all Hessian-vector products (iterations + k).
    """

    values: np.ndarray
    converged: np.ndarray
    residuals: np.ndarray
    iterations: int
    hvps: int
    vectors: torch.Tensor = field(repr=False)


def eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    k: int = 1,
    which: str = "largest",
    params=None,
    max_iter: int = 200,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
    strict: bool = False,
) -> EigenvaluesResult:
    """The ``k`` largest or ``k`` smallest (signed) eigenvalues of the full-data Hessian.

    Lanczos with full reorthogonalization on Hessian-vector products
    (Lanczos, 1950; Golub & Van Loan, *Matrix Computations*, §10.1; Cullum &
    Willoughby, 1985). The Ritz values of the Krylov space converge first at
    both ends of the spectrum, so one Krylov space gives the top-k
    (sharpness; PyHessian's ``top_n``) and the bottom-k (a negative smallest
    eigenvalue makes a near-zero-gradient point a saddle rather than a
    minimum). Values are algebraic, not by magnitude. ``k = 1``,
    ``which="largest"`` is :func:`~dlverify.probes.top_eigenvalue`.

    Stops when the residual estimates ``β_m |s_{m,i}|`` of all k wanted Ritz
    pairs are ≤ ``tol · ‖H‖``, after ``min(max_iter, P)`` steps, or when the
    space is exhausted. Start vector standard normal from ``generator`` (a
    CPU generator seeded with 0 when ``None``). A single Krylov sequence
    holds one direction per distinct eigenvalue until it meets an invariant
    subspace; after that (β ≈ 0) it continues from a fresh random orthogonal
    vector, which finds further copies of a repeated eigenvalue; after such a
    breakdown (small or degenerate problems) the iteration runs until the
    space is spanned, ``min(max_iter, P)`` steps. On a large model a repeated
    eigenvalue at the wanted end can still be reported once where it occurs
    several times; the residuals stay exact. Memory:
    the Krylov basis, ``iterations × P`` numbers. ``params`` restricts the
    Hessian to the named parameters (see :func:`hessian_operator`). Values
    that did not converge come with a :class:`~dlverify.errors.ConvergenceWarning`
    (``strict=True``: :class:`~dlverify.errors.NotConvergedError`), as for
    :func:`~dlverify.probes.top_eigenvalue`.
    """
    k = _checks.integer(k, "k", minimum=1)
    if not isinstance(which, str) or which not in ("largest", "smallest"):
        raise ProbeError(f"which must be 'largest' or 'smallest', got {_checks.describe(which)}")
    max_iter = _checks.integer(max_iter, "max_iter", minimum=1)
    tol = _checks.real(tol, "tol", above=0)
    strict = _checks.flag(strict, "strict")
    generator = _random.resolve(generator)
    op = hessian_operator(model, loss_fn, data, params=params)
    n = op.shape[0]
    if k > n:
        raise ProbeError(f"k = {k} is more than the P = {n} eigenvalues the Hessian has")
    dtype = op._params.dtype
    start = _random.normal(n, generator, device=op.device, dtype=dtype)
    process = Lanczos(op.apply, start, generator)
    steps = max(min(max_iter, n), k)
    while True:
        process.step()
        if process.steps < k:
            continue
        ritz, vectors = process.ritz()
        wanted = (
            np.arange(len(ritz) - 1, len(ritz) - 1 - k, -1) if which == "largest" else np.arange(k)
        )
        estimates = process.residual_estimates(vectors[:, wanted])
        if process.steps >= steps:
            break
        # After an invariant subspace, further copies of a wanted eigenvalue can only come
        # from the rest of the space: continue until it is spanned.
        if np.all(estimates <= tol * process.scale) and not process.breakdowns:
            break
    coefficients = torch.as_tensor(vectors[:, wanted], device=op.device, dtype=dtype)
    ritz_vectors = (process.basis[: process.steps].T @ coefficients).T
    ritz_vectors = ritz_vectors / torch.linalg.vector_norm(ritz_vectors, dim=1, keepdim=True)
    values = ritz[wanted]
    products = op.apply(ritz_vectors.T.contiguous()).T
    residual_vectors = (
        products - torch.as_tensor(values, device=op.device, dtype=dtype)[:, None] * ritz_vectors
    )
    residuals = torch.linalg.vector_norm(residual_vectors, dim=1).double().cpu().numpy()
    scale = max(process.scale, float(np.max(np.abs(ritz))))
    if not np.all(residuals <= tol * scale):
        message = (
            f"{which} eigenvalues not converged after {process.steps} Lanczos steps "
            f"(residuals {residuals.tolist()} above tol · ‖H‖ = {tol * scale:.3g}); "
            "raise max_iter or tol"
        )
        if strict:
            raise NotConvergedError(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return EigenvaluesResult(
        values=readonly(values),
        converged=readonly(residuals <= tol * scale, dtype=bool),
        residuals=readonly(residuals),
        iterations=process.steps,
        hvps=op.hvps,
        vectors=ritz_vectors,
    )
