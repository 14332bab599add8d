"""Keras-default SGD, Adam and RMSprop on K models' stacked parameters, one learning rate per model.

The parameters, gradients and optimizer state are ``(K, P)`` tensors (row
``k`` is model ``k``; see :class:`._stacked.StackedMLP`), so a step is a few
operations on whole buffers however many layers the models have, plus one
operation per model where the learning rates differ. The update equations
are those of ``torch.optim`` with the settings :func:`..optimizers.make_optimizer`
gives (Keras defaults), written with the same ATen operations in the same
order as torch's single-tensor implementations (the CPU default), so each row
is updated exactly as a separate optimizer would update that model:

- SGD: ``θ ← θ − lr·g``;
- RMSprop (α = 0.9, ε = 1e-7, ε outside the root): ``s ← α s + (1−α) g²``,
  ``θ ← θ − lr · g / (√s + ε)``;
- Adam (β = 0.9, 0.999, ε = 1e-7): ``m ← m + (1−β₁)(g − m)`` (``lerp``),
  ``v ← β₂ v + (1−β₂) g²``, ``θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)``.

For Adam, ATen's fused CPU/CUDA kernel (``torch._fused_adam_``, what
``torch.optim.Adam(fused=True)`` runs) is used when ``fused=True``: one pass
over memory instead of seven and none of ATen's ``sqrt`` kernel (which is
slow on zeros and subnormals on some CPUs); the same equations, but it rounds
a few updates differently in the last bit (measured: 857 of 99 710
parameters after 50 steps). Its vectorized body and its scalar tail round
differently too, so each model's row goes to the kernel as a tensor of its
own: a row then ends in the tail where a model trained alone ends, and a
model's update does not depend on its companions (given the whole buffer, only
the last row did; measured on lab2's network, 2 epochs: about half of the
other rows' parameters differed from the same model trained alone).

The square roots are taken of ``max(s, FLT_MIN)`` rather than ``s``: ATen's
``sqrt`` is up to nine times slower on zeros (measured on this project's
2-core Intel Xeon: 1.2 ms against 0.14 ms for 498 550 floats, one thread), and a
trained MLP's second-moment state is full of exact zeros (weights of pixels
that are 0 in every image, units that never fire). The clamp changes no
result: for ``s < FLT_MIN``, ``√s / √(1−β₂ᵗ)`` is at most ``√FLT_MIN / √(1−β₂)``
≈ 3.4e-18, less than half an ulp of ε = 1e-7 (3.6e-15), so ``… + ε`` rounds
to ε either way; :func:`_clamp_is_exact` checks that in float32 arithmetic
for the ε and β₂ in use, and the clamp is skipped where it would not hold.

Reference: Kingma & Ba (2015), Adam, Algorithm 1; Tieleman & Hinton (2012),
RMSprop; ``torch/optim/adam.py::_single_tensor_adam``, ``rmsprop.py``, ``sgd.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import TrainingError
from .optimizers import KERAS_DEFAULTS

_TINY = torch.finfo(torch.float32).tiny  # FLT_MIN, the smallest normal float32


def _clamp_is_exact(eps: float, smallest_correction: float, dtype: torch.dtype) -> bool:
    """Whether ``√x / c + ε == ε`` for every ``x ≤ FLT_MIN`` and correction ``c ≥ smallest_correction``.

    Then ``sqrt(max(x, FLT_MIN))`` may stand for ``sqrt(x)`` in a denominator
    ``√x / c + ε``: both round to ε below FLT_MIN, and they are the same above.
    """
    if dtype not in (torch.float32, torch.float64):
        return False
    largest = torch.sqrt(torch.tensor(_TINY, dtype=dtype)) / smallest_correction
    return bool(largest + eps == torch.tensor(eps, dtype=dtype))


def _clamps(params: torch.Tensor, eps: float, smallest_correction: float) -> bool:
    """Whether to clamp: exact for these settings, and on the CPU, whose ``sqrt`` is slow on zeros.

    On a GPU the clamp would be one more pass over the buffer for nothing.
    """
    return params.device.type == "cpu" and _clamp_is_exact(eps, smallest_correction, params.dtype)


def _sqrt_into(values: torch.Tensor, out: torch.Tensor, clamp: bool) -> torch.Tensor:
    """``√values`` written into ``out``; of ``max(values, FLT_MIN)`` when ``clamp`` (see the module docstring)."""
    if clamp:
        return torch.clamp_min(values, _TINY, out=out).sqrt_()
    return torch.sqrt(values, out=out)


class StackedOptimizer:
    """Base: holds the ``(K, P)`` parameters and gradients and the per-model learning rates."""

    def __init__(self, params: torch.Tensor, grad: torch.Tensor, lrs: Sequence[float]) -> None:
        self.params, self.grad, self.lrs = params, grad, [float(lr) for lr in lrs]
        self.same_lr = len(set(self.lrs)) == 1
        self.steps = 0

    def _apply(
        self, numerator: torch.Tensor, denominator: torch.Tensor | None, step_sizes: Sequence[float]
    ) -> None:
        """``θ_k ← θ_k − step_k · numerator_k [/ denominator_k]``: one op, or one per model if the steps differ."""
        if self.same_lr:
            rows = [(self.params, numerator, denominator, step_sizes[0])]
        else:
            rows = [
                (
                    self.params[k],
                    numerator[k],
                    None if denominator is None else denominator[k],
                    step_sizes[k],
                )
                for k in range(len(step_sizes))
            ]
        for param, num, den, size in rows:
            if den is None:
                param.add_(num, alpha=-size)
            else:
                param.addcdiv_(num, den, value=-size)


class StackedSGD(StackedOptimizer):
    def step(self) -> None:
        self.steps += 1
        self._apply(self.grad, None, self.lrs)


class StackedRMSprop(StackedOptimizer):
    def __init__(self, params, grad, lrs, *, alpha: float, eps: float) -> None:
        super().__init__(params, grad, lrs)
        self.alpha, self.eps = alpha, eps
        self.square_avg = torch.zeros_like(params)
        self._denominator = torch.empty_like(params)
        self._clamp = _clamps(params, eps, 1.0)

    def step(self) -> None:
        self.steps += 1
        self.square_avg.mul_(self.alpha).addcmul_(self.grad, self.grad, value=1 - self.alpha)
        avg = _sqrt_into(self.square_avg, self._denominator, self._clamp).add_(self.eps)
        self._apply(self.grad, avg, self.lrs)


class StackedAdam(StackedOptimizer):
    def __init__(
        self, params, grad, lrs, *, betas: tuple[float, float], eps: float, fused: bool = False
    ) -> None:
        super().__init__(params, grad, lrs)
        self.beta1, self.beta2 = betas
        self.eps, self.fused = eps, fused
        self.exp_avg = torch.zeros_like(params)
        self.exp_avg_sq = torch.zeros_like(params)
        if fused:
            self._step_tensor = torch.zeros((), dtype=torch.float32, device=params.device)
        else:
            self._denominator = torch.empty_like(params)
            # The smallest bias correction √(1−β₂ᵗ) is the first step's.
            self._clamp = _clamps(params, eps, (1 - self.beta2) ** 0.5)

    def step(self) -> None:
        self.steps += 1
        if self.fused:
            self._fused_step()
            return
        beta1, beta2, step = self.beta1, self.beta2, float(self.steps)
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denominator = (
            _sqrt_into(self.exp_avg_sq, self._denominator, self._clamp)
            .div_(bias_correction2**0.5)
            .add_(self.eps)
        )
        self._apply(self.exp_avg, denominator, [lr / bias_correction1 for lr in self.lrs])

    def _fused_step(self) -> None:
        self._step_tensor.add_(1)
        # One tensor per model, never the whole buffer: the kernel rounds its vectorized body
        # and its scalar tail differently, so a row must end where a model trained alone ends.
        groups = (
            [(range(self.params.shape[0]), self.lrs[0])]
            if self.same_lr
            else [([k], lr) for k, lr in enumerate(self.lrs)]
        )
        for models, lr in groups:
            torch._fused_adam_(
                [self.params[k] for k in models],
                [self.grad[k] for k in models],
                [self.exp_avg[k] for k in models],
                [self.exp_avg_sq[k] for k in models],
                [],
                [self._step_tensor] * len(models),
                lr=lr,
                beta1=self.beta1,
                beta2=self.beta2,
                weight_decay=0.0,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )


def make_stacked_optimizer(
    name: str,
    params: torch.Tensor,
    grad: torch.Tensor,
    lrs: Sequence[float | None],
    *,
    fused: bool = False,
) -> StackedOptimizer:
    """The stacked counterpart of ``make_optimizer(name, ..., lr=lr_k)`` for each model ``k``."""
    key = name.lower() if isinstance(name, str) else name
    if key not in KERAS_DEFAULTS:
        raise TrainingError(f"unknown optimizer {name!r}; choose one of {sorted(KERAS_DEFAULTS)}")
    defaults = KERAS_DEFAULTS[key]
    rates = []
    for lr in lrs:
        if lr is not None and not lr > 0:
            raise TrainingError(f"learning rate must be positive, got {lr}")
        rates.append(defaults["lr"] if lr is None else lr)
    if key == "sgd":
        return StackedSGD(params, grad, rates)
    if key == "rmsprop":
        return StackedRMSprop(params, grad, rates, alpha=defaults["alpha"], eps=defaults["eps"])
    return StackedAdam(
        params, grad, rates, betas=defaults["betas"], eps=defaults["eps"], fused=fused
    )
