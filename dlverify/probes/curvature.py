"""Hessian-vector products and dense Hessians of the full-data loss."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import vmap

from ..errors import ProbeError
from . import _checks
from ._objective import LossFn, Objective, check_finite

#: Largest number of trainable parameters :func:`hessian` accepts by default.
#: A dense float32 Hessian of 5000 parameters takes 100 MB.
MAX_HESSIAN_PARAMS = 5000


def hvp(
    model: nn.Module, loss_fn: LossFn, data, vector: torch.Tensor, *, params=None
) -> torch.Tensor:
    """Hessian-vector product ``H v`` of the full-data loss.

    ``H = ∇²L(θ)`` over the trainable parameters, ``v`` a flat vector of length
    P in ``model.parameters()`` order (trainable ones only); it is moved to the
    model's device and dtype. Computed with ``torch.func`` as the ``vjp`` of
    ``grad`` over ``functional_call`` (Pearlmutter, 1994: exact, no finite
    differences), batch by batch and weighted by batch size. Returns a flat
    tensor of length P.

    ``params`` (names from ``model.named_parameters()``) restricts θ, P and
    ``v`` to those parameters; the others are held fixed (``None``: all).
    """
    objective = Objective.build(model, loss_fn, data, params)
    n = objective.params.count
    if isinstance(vector, torch.Tensor):
        _checks.tensor(vector, "vector")
        if _checks.count_non_finite(vector):
            raise ProbeError("vector holds NaN or infinite entries; pass a finite direction")
    if not isinstance(vector, torch.Tensor) or vector.dim() != 1 or vector.numel() != n:
        shape = tuple(vector.shape) if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise ProbeError(
            f"vector must be a flat tensor of length P = {n} (the number of "
            f"trainable parameters), got shape {shape}"
        )
    vector = vector.detach().to(objective.params.device, objective.params.dtype)
    hv, loss = objective.hvp(objective.params.as_dict(), objective.params.unflatten(vector))
    check_finite(loss, "loss")
    result = torch.cat([hv[name].reshape(-1) for name in objective.params.names])
    check_finite(result, "Hessian-vector product")
    return result


def hessian(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    max_params: int = MAX_HESSIAN_PARAMS,
    chunk_size: int = 256,
    params=None,
) -> torch.Tensor:
    """Dense P×P Hessian of the full-data loss, for small models.

    Column ``j`` is ``H e_j`` (:func:`hvp` of the j-th basis vector), computed
    ``chunk_size`` columns at a time with ``vmap``; the result is symmetrized,
    ``(H + Hᵀ)/2``, which removes only rounding. Rows and columns follow
    ``model.parameters()`` order (trainable parameters only); dtype and device
    are the model's. Refuses models with more than ``max_params`` trainable
    parameters (P² entries are stored).

    ``params`` (names from ``model.named_parameters()``) gives the diagonal
    block of those parameters, the others held fixed (``None``: all), e.g.
    the curvature of one layer.
    """
    objective = Objective.build(model, loss_fn, data, params)
    n = objective.params.count
    max_params = _checks.integer(max_params, "max_params", minimum=1)
    chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
    if n > max_params:
        raise ProbeError(
            f"the model has P = {n} trainable parameters, above the limit of "
            f"{max_params} for a dense Hessian ({n}×{n} entries); pass "
            "max_params=... to raise it, or use hvp/top_eigenvalue"
        )
    apply, loss = objective.hvp_operator()
    check_finite(loss, "loss")
    columns = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        basis = torch.zeros(
            stop - start, n, device=objective.params.device, dtype=objective.params.dtype
        )
        basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
        columns.append(vmap(apply)(basis))
    h = torch.cat(columns)
    h = (h + h.T) / 2
    check_finite(h, "Hessian")
    return h
