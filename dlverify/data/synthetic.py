"""Generated problems: lab1's linear regression, hw1's 1-D functions, random labels."""

from __future__ import annotations

import math

import torch

from .tensors import TensorData


def linear_problem(
    n: int = 10_000,
    *,
    weight: float = 3.0,
    bias: float = 2.0,
    noise_std: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TensorData:
    """``y = weight·x + bias + ε`` with ``x ~ N(0, 1)`` and ``ε ~ N(0, noise_std²)``, shapes ``(n, 1)``.

    Drawn on the CPU from ``generator`` and then moved, so the same generator
    gives the same numbers on every device. lab1's problem is the default.
    """
    x = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    noise = torch.randn(n, 1, generator=generator, dtype=torch.float64) * noise_std
    y = weight * x + bias + noise
    return TensorData(x.to(dtype), y.to(dtype)).to(device)


FUNCTIONS = {
    "sin": (lambda x: torch.sin(x) + 0.5 * x, "sin(x) + 0.5x"),
    "cos": (lambda x: torch.cos(x) + 0.5 * x**2, "cos(x) + 0.5x^2"),
}


def function_problem(
    name: str,
    n: int = 200,
    *,
    low: float = -10.0,
    high: float = 10.0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TensorData:
    """``n`` evenly spaced points of one of hw1's functions on ``[low, high]``, shapes ``(n, 1)``.

    ``name`` is ``"sin"`` for ``y = sin(x) + 0.5x`` or ``"cos"`` for ``y = cos(x) + 0.5x²``.
    """
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; choose one of {sorted(FUNCTIONS)}")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got [{low}, {high}]")
    x = torch.linspace(low, high, n, dtype=torch.float64).unsqueeze(1)
    y = FUNCTIONS[name][0](x)
    return TensorData(x.to(dtype), y.to(dtype)).to(device)


def random_labels(data: TensorData, *, generator: torch.Generator) -> TensorData:
    """The same inputs with their labels randomly permuted (Zhang et al., 2017).

    A permutation keeps the class frequencies while destroying any relation
    between an image and its label.
    """
    order = torch.randperm(len(data), generator=generator).to(data.device)
    return TensorData(data.inputs, data.targets[order])
