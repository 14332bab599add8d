"""ε-sharpness of Keskar et al. (2017)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ProbeError
from . import _checks, _random
from ._model import flatten
from ._objective import LossFn, Objective, check_finite


class SharpnessResult(float):
    """ε-sharpness in percent — a ``float`` — that also carries the losses it came from.

    The value itself is the float (``result * 2``, ``str(result)``,
    ``f"{result:.3g}"`` and ``float(result)`` all use it; ``value`` names it;
    ``repr`` shows every field). ``loss`` is ``L(θ)``,
    ``max_loss`` the largest ``L(θ+δ)`` found in the box (at least ``loss``:
    δ = 0 is in the box), ``evaluations`` the number of full-data loss
    evaluations spent.
    """

    __slots__ = ("loss", "max_loss", "epsilon", "evaluations")
    loss: float
    max_loss: float
    epsilon: float
    evaluations: int

    def __new__(
        cls, value: float, *, loss: float, max_loss: float, epsilon: float, evaluations: int
    ) -> SharpnessResult:
        """The sharpness ``value`` (a float) carrying the losses and ε it was measured with."""
        result = super().__new__(cls, value)
        for name, field in (
            ("loss", loss),
            ("max_loss", max_loss),
            ("epsilon", epsilon),
            ("evaluations", evaluations),
        ):
            object.__setattr__(result, name, field)
        return result

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SharpnessResult is immutable; cannot set {name!r}")

    def __reduce__(self):
        return (_rebuild, (float(self), self.loss, self.max_loss, self.epsilon, self.evaluations))

    @property
    def value(self) -> float:
        """The ε-sharpness as a plain ``float``."""
        return float(self)

    def __str__(self) -> str:
        return float.__repr__(self)

    def __repr__(self) -> str:
        return (
            f"SharpnessResult(value={float(self)!r}, loss={self.loss!r}, max_loss={self.max_loss!r}, "
            f"epsilon={self.epsilon!r}, evaluations={self.evaluations!r})"
        )


def _rebuild(
    value: float, loss: float, max_loss: float, epsilon: float, evaluations: int
) -> SharpnessResult:
    return SharpnessResult(
        value, loss=loss, max_loss=max_loss, epsilon=epsilon, evaluations=evaluations
    )


def sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    epsilon: float = 1e-3,
    steps: int = 20,
    restarts: int = 3,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
) -> SharpnessResult:
    """Keskar et al. (2017) ε-sharpness of the full-data loss at the model's parameters.

    ``φ = 100 · (max_{δ ∈ C_ε} L(θ + δ) − L(θ)) / (1 + L(θ))`` over the box
    ``C_ε = {δ : |δ_i| ≤ ε (|θ_i| + 1)}`` in the full parameter space (their
    ``A = I``), θ the trainable parameters. N. S. Keskar et al., "On
    Large-Batch Training for Deep Learning: Generalization Gap and Sharp
    Minima", ICLR 2017, Metric 2.1.

    The inner maximization is projected gradient ascent with sign steps (as in
    PGD, Madry et al., 2018) instead of Keskar's L-BFGS-B: ``restarts`` starts
    drawn uniformly in the box from ``generator`` (CPU, seed 0 when ``None``),
    each taking ``steps`` steps ``δ ← clip(δ + a ⊙ sign(∇L(θ+δ)), −r, r)`` with
    ``r = ε(|θ|+1)`` and ``a = step_size · r``; ``step_size`` defaults to
    ``2.5 / steps`` (Madry et al.'s choice), enough to cross the box. The
    maximum over every point visited (and δ = 0) is kept, so the result is a
    lower bound of the true maximum, exact when ascent reaches the maximizing
    vertex. Requires ``1 + L(θ) > 0`` (true for non-negative losses).
    """
    epsilon = _checks.real(epsilon, "epsilon", above=0)
    steps = _checks.integer(steps, "steps", minimum=1)
    restarts = _checks.integer(restarts, "restarts", minimum=1)
    step_size = 2.5 / steps if step_size is None else _checks.real(step_size, "step_size", above=0)
    generator = _random.resolve(generator)
    objective = Objective.build(model, loss_fn, data)
    params = objective.params
    theta = params.flat()
    radius = epsilon * (theta.abs() + 1)
    base = objective.loss()
    check_finite(base, "loss")
    base_value = float(base)
    if not 1 + base_value > 0:
        raise ProbeError(
            f"ε-sharpness divides by 1 + L(θ), which is {1 + base_value} <= 0 here; "
            "it is defined for non-negative losses"
        )
    best = base
    evaluations = 1
    for _ in range(restarts):
        delta = radius * _random.uniform(
            theta.numel(), generator, device=theta.device, dtype=theta.dtype
        )
        for _ in range(steps):
            value, g = objective.value_and_grad(params.unflatten(theta + delta))
            best = torch.maximum(best, value.detach())
            direction = torch.sign(flatten([g[n] for n in params.names]))
            delta = torch.clamp(delta + step_size * radius * direction, -radius, radius)
        best = torch.maximum(best, objective.loss(params.unflatten(theta + delta)))
        evaluations += steps + 1
    check_finite(best, "perturbed loss")
    max_loss = float(best)
    return SharpnessResult(
        100 * (max_loss - base_value) / (1 + base_value),
        loss=base_value,
        max_loss=max_loss,
        epsilon=epsilon,
        evaluations=evaluations,
    )
