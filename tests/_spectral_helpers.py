"""Small float64 problems with dense reference Hessians, shared by the spectral-probe tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

F64 = torch.float64


def mlp(seed: int, sizes=(3, 5, 3)) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).double()


def classification(seed: int, n: int = 24, d: int = 3, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64), torch.randint(0, classes, (n,), generator=g)


def reference_hessian(model, x, y, loss_fn=F.cross_entropy, names=None) -> torch.Tensor:
    """Dense Hessian from ``torch.func.hessian`` over the named parameters (default: all)."""
    named = [(n, p.detach()) for n, p in model.named_parameters() if names is None or n in names]
    others = {
        n: p.detach() for n, p in model.named_parameters() if names is not None and n not in names
    }
    theta = torch.cat([p.reshape(-1) for _, p in named])

    def loss(flat):
        pieces = torch.split(flat, [p.numel() for _, p in named])
        params = {n: piece.view(p.shape) for (n, p), piece in zip(named, pieces)}
        return loss_fn(functional_call(model, {**others, **params}, (x,)), y)

    return torch.func.hessian(loss)(theta)


class QuadraticLoss:
    """``L(θ) = ½ θᵀ A θ`` for a bias-free ``nn.Linear(P, 1)`` fed the identity: Hessian ``A``."""

    def __init__(self, a: torch.Tensor):
        self.a = a

    def __call__(self, outputs, targets):
        theta = outputs.squeeze(-1)
        return 0.5 * theta @ self.a @ theta

    def problem(self, seed: int = 0):
        p = self.a.shape[0]
        torch.manual_seed(seed)
        model = nn.Linear(p, 1, bias=False).double()
        return model, (torch.eye(p, dtype=F64), torch.zeros(p, dtype=F64))
