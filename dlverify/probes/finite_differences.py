"""Analytic gradients against centered finite differences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..errors import ProbeError
from . import _checks
from ._model import user_call
from ._objective import check_finite


@dataclass(frozen=True)
class GradcheckResult:
    """Differences between the autograd gradient and the finite-difference one.

    ``max_rel_diff`` is ``max |a − n| / max(rel_floor, |a| + |n|)`` over all
    entries (a: analytic, n: numerical); ``shapes`` are the parameter shapes;
    ``analytic`` and ``numerical`` the float64 gradients, one per parameter.
    """

    max_abs_diff: float
    max_rel_diff: float
    mean_abs_diff: float
    shapes: tuple[tuple[int, ...], ...]
    analytic: tuple[torch.Tensor, ...] = field(repr=False)
    numerical: tuple[torch.Tensor, ...] = field(repr=False)


def _checked_params(given) -> tuple[torch.Tensor, ...]:
    """``params`` as a non-empty tuple of finite floating-point tensors, or a ProbeError saying what is wrong."""
    params = given
    if isinstance(params, torch.Tensor):
        params = (params,)
    elif isinstance(params, Iterable) and not isinstance(params, (str, bytes)):
        params = tuple(params)
    if (
        not isinstance(params, tuple)
        or not params
        or not all(isinstance(p, torch.Tensor) for p in params)
    ):
        raise ProbeError(
            "params must be a tensor or a non-empty sequence of tensors, got "
            f"{_checks.describe(given)}"
        )
    if not all(p.is_floating_point() for p in params):
        raise ProbeError(f"params must be floating point, got {[p.dtype for p in params]}")
    if sum(p.numel() for p in params) == 0:
        raise ProbeError("params have no entries to check")
    if any(_checks.count_non_finite(p.detach()) for p in params):
        raise ProbeError(
            "params hold NaN or infinite entries; pass the finite point at which "
            "to check the gradient"
        )
    return params


def gradcheck(
    fn: Callable[..., torch.Tensor],
    params: Sequence[torch.Tensor] | torch.Tensor,
    *,
    eps: float = 1e-6,
    rel_floor: float = 1e-6,
) -> GradcheckResult:
    """Compare the autograd gradient of the scalar ``fn(*params)`` with finite differences.

    Numerical gradient: centered differences
    ``n_i = (fn(θ + eps·e_i) − fn(θ − eps·e_i)) / (2 eps)``, one pair of calls
    per entry, error ``O(eps²)``. Relative difference per entry:
    ``|a − n| / max(rel_floor, |a| + |n|)``, the form of the CS231n notes and
    the DD2424 assignments (the floor keeps entries where both are ~0 from
    dividing by zero; look at ``max_abs_diff`` for those).

    Everything runs in float64 on copies of ``params`` (same device), so the
    caller's tensors, their dtype, ``requires_grad`` and ``.grad`` are left
    alone. ``fn`` must be deterministic and return a tensor with one element.
    """
    _checks.function(fn, "fn")
    params = _checked_params(params)
    eps = _checks.real(eps, "eps", above=0)
    rel_floor = _checks.real(rel_floor, "rel_floor", above=0)
    base = [
        p.detach().to(torch.float64).clone(memory_format=torch.contiguous_format) for p in params
    ]

    def evaluate(values) -> torch.Tensor:
        with user_call(
            f"fn(*params), with {len(values)} float64 tensor(s) of shapes "
            f"{[tuple(v.shape) for v in values]},",
            "pass an fn that takes the "
            "params as positional tensors and returns a one-element tensor",
        ):
            out = fn(*values)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ProbeError(f"fn must return a tensor with one element, got {shape}")
        out = out.reshape(())
        check_finite(out.detach(), "function value")
        return out

    with torch.enable_grad():
        leaves = [b.clone().requires_grad_(True) for b in base]
        value = evaluate(leaves)
        if not value.requires_grad:
            raise ProbeError(
                "fn(*params) has no gradient path to params, so autograd gives no "
                "analytic gradient to check: fn detaches its value (.item(), "
                ".detach(), .numpy(), torch.tensor(...), float(...)) or does not "
                "use params; compute it from params with torch operations only"
            )
        analytic = torch.autograd.grad(value, leaves, allow_unused=True)
    analytic = tuple(
        torch.zeros_like(b) if g is None else g.detach() for g, b in zip(analytic, base)
    )

    numerical = []
    with torch.no_grad():
        for i, b in enumerate(base):
            grad = torch.empty_like(b)
            flat_grad = grad.view(-1)
            for j in range(b.numel()):
                shifted = []
                for sign in (1.0, -1.0):
                    point = b.clone()
                    point.view(-1)[j] += sign * eps
                    shifted.append(evaluate(base[:i] + [point] + base[i + 1 :]))
                flat_grad[j] = (shifted[0] - shifted[1]) / (2 * eps)
            numerical.append(grad)

    a = torch.cat([g.reshape(-1) for g in analytic])
    n = torch.cat([g.reshape(-1) for g in numerical])
    diff = (a - n).abs()
    rel = diff / torch.clamp(a.abs() + n.abs(), min=rel_floor)
    return GradcheckResult(
        max_abs_diff=float(diff.max()),
        max_rel_diff=float(rel.max()),
        mean_abs_diff=float(diff.mean()),
        shapes=tuple(tuple(p.shape) for p in params),
        analytic=analytic,
        numerical=tuple(numerical),
    )
