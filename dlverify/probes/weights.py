"""Statistics of the weights themselves."""

from __future__ import annotations

from torch import nn

from ..errors import ProbeError
from ._model import trainable_parameters


def near_zero_weight_ratio(model: nn.Module, threshold: float) -> float:
    """Share of trainable parameters with ``|w| < threshold``.

    The hw1 report's own "ratio" (counted over every trainable parameter,
    weights and biases alike), *not* the Hessian-based minimal ratio of
    :func:`dlverify.probes.minimal_ratio`.
    """
    if not threshold > 0:
        raise ProbeError(f"threshold must be > 0, got {threshold}")
    flat = trainable_parameters(model).flat()
    return float((flat.abs() < threshold).sum()) / flat.numel()
