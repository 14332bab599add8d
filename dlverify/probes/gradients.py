"""Norms of the full-data gradient."""

from __future__ import annotations

import torch
from torch import nn

from ._objective import LossFn, Objective, check_finite


def grad_norm(model: nn.Module, loss_fn: LossFn, data) -> float:
    """L2 norm of the full-data gradient over all trainable parameters.

    ``‖∇L(θ)‖₂`` with ``L(θ) = Σ_b (n_b/n) · loss_fn(f(θ, x_b), y_b)`` (batch
    means weighted by batch size, so batching does not change the value) and θ
    the parameters with ``requires_grad=True``. Near-zero values identify the
    critical points of the "gradient is small" exercise.
    """
    objective = Objective.build(model, loss_fn, data)
    value, g = objective.value_and_grad()
    check_finite(value, "loss")
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in g.values()]))
    check_finite(norm, "gradient norm")
    return float(norm)


def per_layer_grad_norms(model: nn.Module, loss_fn: LossFn, data) -> dict[str, float]:
    """L2 norm of the full-data gradient of each trainable parameter tensor.

    Keys are the names from ``model.named_parameters()`` (``"0.weight"``,
    ``"0.bias"``, ...), in that order; group them by prefix for per-module norms.
    Small norms in the first layers relative to the last are the signature of
    vanishing gradients (Glorot & Bengio, 2010; Hochreiter, 1991).
    """
    objective = Objective.build(model, loss_fn, data)
    value, g = objective.value_and_grad()
    check_finite(value, "loss")
    norms = torch.stack([torch.linalg.vector_norm(g[n]) for n in objective.params.names])
    check_finite(norms, "gradient norm")
    return dict(zip(objective.params.names, norms.tolist()))
