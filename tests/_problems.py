"""Small classification problems shared by the probe contract tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
    ),
]


def classifier(seed: int = 0, *, dropout: bool = True, batchnorm: bool = True) -> nn.Sequential:
    """A 4-8-3 network with a sigmoid layer (index 2) and, optionally, BatchNorm and Dropout."""
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 8), nn.BatchNorm1d(8) if batchnorm else nn.Identity(), nn.Sigmoid()]
    layers += [nn.Dropout(0.5) if dropout else nn.Identity(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def batch(seed: int = 0, n: int = 12):
    """``n`` inputs of 4 features and labels in {0, 1, 2}, from their own generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
