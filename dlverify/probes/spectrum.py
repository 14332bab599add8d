"""The Hessian spectrum: its largest eigenvalue and the share of positive eigenvalues."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import nn

from ..errors import ConvergenceWarning, NotConvergedError, ProbeError
from . import _checks, _random
from ._data import as_batches
from ._model import check_finite_weights, check_mode, trainable_parameters
from ._objective import LossFn, Objective, check_finite
from ._selection import select_parameters
from .curvature import MAX_HESSIAN_PARAMS, hessian


@dataclass(frozen=True)
class EigenResult:
    """The largest (signed) Hessian eigenvalue found by Lanczos.

    ``value`` is the largest Ritz value (a lower bound of λ_max by Cauchy
    interlacing); ``residual`` is ``‖H y − value·y‖₂`` for the unit Ritz
    vector ``y`` (``eigenvector``), computed with one extra HVP;
    ``converged`` means ``residual ≤ tol · max|Ritz value|`` (a relative
    residual with the spectral-norm estimate as scale). ``iterations`` is the
    number of Lanczos steps, one HVP each; ``hvps`` counts all HVPs (the
    iterations plus the residual check).
    """

    value: float
    converged: bool
    iterations: int
    residual: float
    hvps: int
    eigenvector: torch.Tensor = field(repr=False)


def top_eigenvalue(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
    strict: bool = False,
    params=None,
) -> EigenResult:
    """Largest **signed** (algebraic) eigenvalue λ_max of the full-data Hessian.

    Lanczos iteration with full reorthogonalization on Hessian-vector products
    (Lanczos, 1950; Golub & Van Loan, *Matrix Computations*, §10.1; the same
    Krylov approach as PyHessian, Yao et al., 2020, and Ghorbani et al.,
    2019). Unlike power iteration, which finds the eigenvalue of largest
    *magnitude* (a large negative eigenvalue at a saddle would win), Lanczos
    returns the largest algebraic eigenvalue: at a saddle with spectrum
    ``{-5, 1}`` the answer is ``1``.

    The start vector is standard normal from ``generator`` (a CPU generator
    seeded with 0 when ``None``), so the result is deterministic given the
    generator. Stops when the residual estimate ``β_k |s_k|`` falls below
    ``tol · max|Ritz value|``, after ``min(max_iter, P)`` steps, or on an
    invariant subspace. Memory: the Krylov basis, at most ``2 · iterations ×
    P`` numbers in the model's dtype on the model's device. With a single
    batch, the gradient's graph is built once and reused by every HVP.
    ``params`` (names from ``model.named_parameters()``) restricts the Hessian
    to those parameters, the others held fixed (``None``: all). For the k
    largest or smallest eigenvalues see :func:`~dlverify.probes.eigenvalues`.

    A result that did not converge (``residual > tol · max|Ritz value|``) is
    only a lower bound: it comes with a :class:`~dlverify.errors.ConvergenceWarning`,
    or raises :class:`~dlverify.errors.NotConvergedError` when ``strict=True``.
    """
    max_iter = _checks.integer(max_iter, "max_iter", minimum=1)
    tol = _checks.real(tol, "tol", above=0)
    strict = _checks.flag(strict, "strict")
    generator = _random.resolve(generator)
    objective = Objective.build(model, loss_fn, data, params)
    apply, loss = objective.hvp_operator()
    check_finite(loss, "loss")
    n, device, dtype = objective.params.count, objective.params.device, objective.params.dtype

    def matvec(v: torch.Tensor) -> torch.Tensor:
        hv = apply(v)
        check_finite(hv, "Hessian-vector product")
        return hv

    steps = min(max_iter, n)
    basis = torch.empty(min(steps, 16), n, device=device, dtype=dtype)  # grown by doubling
    v0 = _random.normal(n, generator, device=device, dtype=dtype)
    basis[0] = v0 / torch.linalg.vector_norm(v0)
    alphas: list[float] = []
    betas: list[float] = []
    for k in range(steps):
        q = basis[k]
        w = matvec(q)
        alpha = torch.dot(q, w)
        w = w - alpha * q
        if k > 0:
            w = w - betas[-1] * basis[k - 1]
        done = basis[: k + 1]
        for _ in range(2):  # full reorthogonalization; twice is enough (Parlett)
            w = w - done.T @ (done @ w)
        beta = float(torch.linalg.vector_norm(w))
        alphas.append(float(alpha))
        ritz, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas))
        top = int(np.argmax(ritz))
        scale = float(np.max(np.abs(ritz)))
        if beta * abs(vectors[-1, top]) <= tol * scale or k + 1 == steps:
            break
        betas.append(beta)
        if k + 1 == basis.shape[0]:
            extra = min(basis.shape[0], steps - basis.shape[0])
            basis = torch.cat([basis, basis.new_empty(extra, n)])
        basis[k + 1] = w / beta
    iterations = len(alphas)
    coefficients = torch.as_tensor(vectors[:, top], device=device, dtype=dtype)
    y = basis[:iterations].T @ coefficients
    y = y / torch.linalg.vector_norm(y)
    value = float(ritz[top])
    residual = float(torch.linalg.vector_norm(matvec(y) - value * y))
    converged = residual <= tol * scale
    if not converged:
        message = (
            f"top_eigenvalue did not converge in {iterations} Lanczos steps: the Ritz "
            f"value {value:.6g} has residual {residual:.3g} > tol·scale = "
            f"{tol * scale:.3g}, so it is only a lower bound of the top eigenvalue; "
            f"raise max_iter (now {max_iter}; {n} steps are exact) or tol"
        )
        if strict:
            raise NotConvergedError(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return EigenResult(
        value=value,
        converged=converged,
        iterations=iterations,
        residual=residual,
        hvps=iterations + 1,
        eigenvector=y,
    )


def minimal_ratio(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    tol: float | None = None,
    dtype: torch.dtype | None = torch.float64,
    max_params: int = MAX_HESSIAN_PARAMS,
    params=None,
) -> float:
    """Share of positive eigenvalues of the exact full-data Hessian.

    ``#{i : λ_i > tol · max_j |λ_j|} / P`` over the eigenvalues of the dense
    Hessian (:func:`hessian`), the "minimal ratio" of the *what to do when the
    gradient is small* exercise (Hung-yi Lee, ML 2021): 1 at a strict local
    minimum, smaller at a saddle point. Eigenvalues with ``|λ| ≤ tol·max|λ|``
    are treated as zero (flat directions and rounding), i.e. not positive.
    ``tol`` defaults to the square root of the machine epsilon of the dtype
    the Hessian is computed in (≈1.5e-8 in float64, ≈3.5e-4 in float32).

    The sign of small eigenvalues is what is measured, so by default the
    Hessian is computed in float64 on a float64 copy of the model and of the
    floating-point data (``dtype=None`` keeps the model's dtype). The caller's
    model is not changed. The size limit ``max_params`` is checked before
    that copy is made. ``params`` (names from ``model.named_parameters()``)
    takes the Hessian block of those parameters only, the others held fixed.
    """
    tol = None if tol is None else _checks.real(tol, "tol", at_least=0)
    max_params = _checks.integer(max_params, "max_params", minimum=1)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ProbeError(
            f"dtype must be a floating-point torch.dtype (e.g. torch.float64) or "
            f"None for the model's own, got {_checks.describe(dtype)}"
        )
    check_mode(model)
    _checks.function(loss_fn, "loss_fn")
    check_finite_weights(model)
    selected = params
    params, _ = select_parameters(trainable_parameters(model), selected)
    if (dtype or params.dtype) not in (torch.float32, torch.float64):
        raise ProbeError(
            f"minimal_ratio computes the Hessian's eigenvalues in float32 or float64, "
            f"not {dtype or params.dtype}; pass dtype=torch.float64 (the default)"
        )
    if params.count > max_params:
        raise ProbeError(
            f"the model has P = {params.count} trainable parameters, above the "
            f"limit of {max_params} for a dense Hessian ({params.count}×"
            f"{params.count} entries); pass max_params=... to raise it, or use "
            "hvp/top_eigenvalue"
        )
    if dtype is not None and dtype != params.dtype:
        batches = as_batches(data, params.device)
        cast = lambda t: t.to(dtype) if t.is_floating_point() else t  # noqa: E731
        data = [(cast(x), cast(y)) for x, y in batches.pairs]
        model = copy.deepcopy(model).to(dtype)
    h = hessian(model, loss_fn, data, max_params=max_params, params=selected)
    tol = float(torch.finfo(h.dtype).eps) ** 0.5 if tol is None else tol
    eigenvalues = torch.linalg.eigvalsh(h)
    threshold = tol * float(eigenvalues.abs().max())
    return float((eigenvalues > threshold).sum()) / eigenvalues.numel()
