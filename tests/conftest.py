"""Problems the library's tests share: small networks and data, dense reference Hessians.

They take arguments (a seed, sizes, options), so they are plain functions,
imported where they are used (``from tests.conftest import classifier``);
``tests`` is a package, so pytest loads this file under that same name.
The fixture :func:`project` (a pytester project opted in to the plugin) is
shared by the plugin and report tests.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

#: The one line a project writes to opt in to dlverify's pytest plugin (in its conftest.py).
OPT_IN = 'pytest_plugins = ["dlverify.plugin"]\n'


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester's project, opted in to the dlverify plugin as any project does (its conftest.py).

    Needs the ``pytester`` plugin, which the test modules using it enable
    (``pytest_plugins = ["pytester"]``).
    """
    pytester.makeconftest(OPT_IN)
    return pytester


# -- a small classifier with the layers a probe must treat with care ------------------------

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


# -- float64 problems with dense reference Hessians (the spectral probes) --------------------

F64 = torch.float64


def mlp(seed: int, sizes=(3, 5, 3), activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
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
