"""Noise injected during training: on the data, on the weights, on the learning rate.

Each takes its own ``torch.Generator`` (drawn on the CPU and moved to the
device, so a seed gives the same noise on every device) and plugs into
:func:`dlverify.train.fit` as a ``transform`` or a callback.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import TrainingError


def _normal_like(tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(tensor.shape, generator=generator, dtype=torch.float32).to(
        tensor.device, tensor.dtype
    )


class AdditiveDataNoise:
    """A ``transform``: fresh Gaussian noise on each mini-batch's inputs and/or targets.

    ``x ← x + input_std·z₁``, ``y ← y + target_std·z₂`` with ``z ~ N(0, 1)`` drawn
    per step (like Keras' ``GaussianNoise`` layer, which is active in training only).
    Targets are only perturbed when they are floating point.
    """

    def __init__(self, input_std: float = 0.0, target_std: float = 0.0) -> None:
        if input_std < 0 or target_std < 0:
            raise TrainingError("noise standard deviations must be >= 0")
        self.input_std, self.target_std = input_std, target_std

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """The batch ``(x, y)`` with fresh noise from ``generator`` added."""
        if self.input_std:
            x = x + self.input_std * _normal_like(x, generator)
        if self.target_std and y.is_floating_point():
            y = y + self.target_std * _normal_like(y, generator)
        return x, y

    def __repr__(self) -> str:
        return f"AdditiveDataNoise(input_std={self.input_std}, target_std={self.target_std})"


class WeightNoise:
    """A callback: every ``every`` steps, add ``N(0, std²)`` to every trainable parameter."""

    def __init__(self, std: float, every: int, generator: torch.Generator) -> None:
        if std < 0 or every < 1:
            raise TrainingError("need std >= 0 and every >= 1")
        self.std, self.every, self.generator = std, every, generator

    @torch.no_grad()
    def after_step(self, step: int, model: nn.Module, optimizer) -> None:
        """Add the noise to ``model``'s trainable parameters after every ``every``-th step."""
        if self.std and (step + 1) % self.every == 0:
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(self.std * _normal_like(p, self.generator))


class LearningRateNoise:
    """A callback: before each step, set ``lr = base_lr · exp(σ·z − σ²/2)``, ``z ~ N(0, 1)``.

    Log-normal multiplicative noise keeps the rate positive and its mean equal
    to ``base_lr`` (the ``−σ²/2`` term), so the noise changes the step sizes but
    not, on average, the schedule.
    """

    def __init__(self, sigma: float, generator: torch.Generator) -> None:
        if sigma < 0:
            raise TrainingError("sigma must be >= 0")
        self.sigma, self.generator = sigma, generator
        self.base: list[float] | None = None

    def before_step(self, step: int, model: nn.Module, optimizer) -> None:
        """Set each parameter group's rate to its first-seen rate times a fresh noise factor."""
        if self.base is None:
            self.base = [group["lr"] for group in optimizer.param_groups]
        z = torch.randn((), generator=self.generator, dtype=torch.float64).item()
        factor = math.exp(self.sigma * z - self.sigma**2 / 2)
        for group, base in zip(optimizer.param_groups, self.base):
            group["lr"] = base * factor
