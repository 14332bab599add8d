"""Statistics of the weights themselves."""

from __future__ import annotations

from torch import nn

from . import _checks
from ._model import check_finite_weights, check_module, trainable_parameters


def near_zero_weight_ratio(model: nn.Module, threshold: float) -> float:
    """Share of trainable parameters with ``|w| < threshold``.

    The hw1 report's own "ratio" (counted over every trainable parameter,
    weights and biases alike), *not* the Hessian-based minimal ratio of
    :func:`dlverify.probes.minimal_ratio`.
    """
    threshold = _checks.real(threshold, "threshold", above=0)
    check_module(model)
    check_finite_weights(model)
    flat = trainable_parameters(model).flat()
    return float((flat.abs() < threshold).sum()) / flat.numel()
