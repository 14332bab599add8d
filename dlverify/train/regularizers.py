"""Weight penalties added to the training objective, Keras-style.

Keras' ``l1(f)`` adds ``f·Σ|w|`` and ``l2(f)`` adds ``f·Σw²`` (no ½) for each
kernel it is attached to; biases are not penalized. Here the penalty applies
to the ``weight`` of every ``nn.Linear`` in the model.
"""

from __future__ import annotations

import torch
from torch import nn


def _kernels(model: nn.Module):
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def l1_penalty(model: nn.Module, factor: float) -> torch.Tensor:
    """``factor · Σ_layers Σ |W|`` over the kernels of all Linear layers."""
    return factor * sum(w.abs().sum() for w in _kernels(model))


def l2_penalty(model: nn.Module, factor: float) -> torch.Tensor:
    """``factor · Σ_layers Σ W²`` over the kernels of all Linear layers (Keras ``l2``, a1's λ‖W‖²)."""
    return factor * sum(w.pow(2).sum() for w in _kernels(model))
