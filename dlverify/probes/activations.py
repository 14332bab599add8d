"""Saturation of sigmoid and tanh units."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ProbeError
from . import _checks
from ._data import as_inputs
from ._model import check_finite_weights, check_mode, model_device, resolve_layer, user_call

_BOUNDS = {nn.Sigmoid: (0.0, 1.0), nn.Tanh: (-1.0, 1.0)}


def saturation(
    model: nn.Module, inputs: torch.Tensor, layer: nn.Module | str, *, margin: float = 0.05
) -> float:
    """Share of a sigmoid/tanh layer's activations within ``margin`` of its bounds.

    ``#{a : a ≤ lo + margin or a ≥ hi − margin} / #a`` over every activation
    the layer produces for ``inputs`` (all units, all rows), with bounds
    ``(lo, hi) = (0, 1)`` for ``nn.Sigmoid`` and ``(−1, 1)`` for ``nn.Tanh``.
    Saturated units pass almost no gradient (Glorot & Bengio, "Understanding
    the difficulty of training deep feedforward neural networks", AISTATS
    2010, §3). ``layer`` is the activation module or its name in
    ``model.named_modules()``; its outputs are read by a forward hook that
    is removed before returning. If the layer runs several times in one
    forward pass, every call counts.
    """
    check_mode(model)
    check_finite_weights(model)
    margin = _checks.real(margin, "margin")
    name, module = resolve_layer(model, layer)
    bounds = next((b for kind, b in _BOUNDS.items() if isinstance(module, kind)), None)
    if bounds is None:
        raise ProbeError(
            f"layer {name!r} is {type(module).__name__}; saturation is defined for "
            "nn.Sigmoid and nn.Tanh layers"
        )
    if not 0 <= margin < (bounds[1] - bounds[0]) / 2:
        raise ProbeError(f"margin must be in [0, {(bounds[1] - bounds[0]) / 2}), got {margin}")
    inputs = as_inputs(inputs, model_device(model))
    counts = []

    def record(_module, _inputs, output):
        counts.append(
            (
                ((output <= bounds[0] + margin) | (output >= bounds[1] - margin)).sum(),
                output.numel(),
                _checks.count_non_finite(output),
            )
        )

    handle = module.register_forward_hook(record)
    try:
        with (
            torch.no_grad(),
            user_call(
                f"the model, on inputs of shape {tuple(inputs.shape)} ({inputs.dtype}),",
                "pass inputs the model accepts",
            ),
        ):
            model(inputs)
    finally:
        handle.remove()
    if not counts:
        raise ProbeError(f"layer {name!r} did not run in the model's forward pass")
    if any(bad for _, _, bad in counts):
        raise ProbeError(
            f"layer {name!r} produced {sum(b for _, _, b in counts)} NaN or infinite "
            "activation(s), which are neither saturated nor not; check the layers "
            "before it for overflow (inf - inf) or NaN"
        )
    return float(sum(c for c, _, _ in counts)) / sum(n for _, n, _ in counts)
