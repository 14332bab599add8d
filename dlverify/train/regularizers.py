"""Weight penalties added to the training objective, Keras-style.

Keras' ``l1(f)`` adds ``f·Σ|w|`` and ``l2(f)`` adds ``f·Σw²`` (no ½) for each
kernel it is attached to; biases are not penalized. :func:`l1_penalty` and
:func:`l2_penalty` apply to the ``weight`` of every ``nn.Linear`` in the
module they are given; :class:`L1Penalty` and :class:`L2Penalty` are the same
penalties as frozen values that also name which Linear layers they cover, so
that :func:`dlverify.train.fit_many` can apply them to stacked weights.
:class:`PenaltyRecorder` records a penalty's value during training, for the
claims that add it to a loss as Keras does for ``val_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TrainingError, TrainingIndexError


def _kernels(model: nn.Module):
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def l1_penalty(model: nn.Module, factor: float) -> torch.Tensor:
    """``factor · Σ_layers Σ |W|`` over the kernels of all Linear layers."""
    return factor * sum(w.abs().sum() for w in _kernels(model))


def l2_penalty(model: nn.Module, factor: float) -> torch.Tensor:
    """``factor · Σ_layers Σ W²`` over the kernels of all Linear layers (Keras ``l2``, a1's λ‖W‖²)."""
    return factor * sum(w.pow(2).sum() for w in _kernels(model))


def _selected(kernels: list[torch.Tensor], layers: tuple[int, ...] | None) -> list[torch.Tensor]:
    if layers is None:
        return kernels
    for index in layers:
        if not -len(kernels) <= index < len(kernels):
            raise TrainingIndexError(
                f"penalty layer index {index} is out of range for a model with {len(kernels)} "
                f"Linear layers"
            )
    if len({index % len(kernels) for index in layers}) != len(layers):
        raise TrainingError(f"penalty layers {layers} name a Linear layer twice")
    return [kernels[index] for index in layers]


@dataclass(frozen=True)
class _KernelPenalty:
    factor: float
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor >= 0):
            raise TrainingError(f"penalty factor must be finite and >= 0, got {self.factor}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))

    def linear_indices(self, num_linear: int) -> list[int]:
        """The penalized Linear layers as indices in ``range(num_linear)``, in the order they are summed."""
        indices = list(range(num_linear)) if self.layers is None else list(self.layers)
        _selected(list(range(num_linear)), self.layers)  # range check
        return [i % num_linear for i in indices]

    def kernels(self, model: nn.Module) -> list[torch.Tensor]:
        """The penalized kernels of ``model`` (Linear layers counted in ``model.modules()`` order)."""
        return _selected(_kernels(model), self.layers)


@dataclass(frozen=True)
class L1Penalty(_KernelPenalty):
    """Keras ``l1(factor)`` on chosen kernels: ``factor · Σ_layers Σ |W|``.

    ``layers`` picks Linear layers by their index among the model's Linear
    layers (negative indices count from the end; None: all of them), so
    ``L1Penalty(0.01, layers=(0, 1, 2))`` is lab2's L1 on the three hidden
    kernels of a 784-100-100-100-10 MLP. Calling it on a model gives the same
    value, computed the same way, as :func:`l1_penalty` on those kernels, so it
    works as ``fit``'s ``penalty``; :func:`dlverify.train.fit_many` applies it
    to stacked weights.
    """

    def __call__(self, model: nn.Module) -> torch.Tensor:
        """The penalty ``factor · Σ |W|`` over the chosen kernels of ``model``."""
        return self.factor * sum(w.abs().sum() for w in self.kernels(model))


@dataclass(frozen=True)
class L2Penalty(_KernelPenalty):
    """Keras ``l2(factor)`` on chosen kernels: ``factor · Σ_layers Σ W²`` (no ½; a1's λ‖W‖²).

    ``layers`` as for :class:`L1Penalty`.
    """

    def __call__(self, model: nn.Module) -> torch.Tensor:
        """The penalty ``factor · Σ W²`` over the chosen kernels of ``model``."""
        return self.factor * sum(w.pow(2).sum() for w in self.kernels(model))


class PenaltyRecorder:
    """A ``fit``/``fit_many`` callback: the value of ``penalty(model)`` at every evaluation, in ``values``.

    Keras reports ``val_loss`` as the validation loss *plus* the weight
    penalty (the penalty is part of the model's loss), while
    :func:`~dlverify.train.evaluate` measures the loss alone; with the
    penalty recorded at each evaluation a claim can rebuild Keras' numbers
    (``val_loss[i] + values[i]``) or a report's regularized cost.
    """

    def __init__(self, penalty: Callable[[nn.Module], torch.Tensor]) -> None:
        self.penalty = penalty
        self.values: list[float] = []

    def after_evaluation(self, history, model: nn.Module) -> None:
        """Append ``penalty(model)`` (computed without gradients) to ``values``."""
        with torch.no_grad():
            self.values.append(float(self.penalty(model)))
