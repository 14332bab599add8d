"""Initialization schemes of the reports, drawn from an explicit generator.

Kernels are the ``weight`` of every ``nn.Linear``; biases start at zero unless
``bias`` says otherwise, as in Keras (``bias_initializer="zeros"``). Values are
drawn on the CPU in float64 and copied into the parameters, so one generator
state gives the same initial model on every device.

========================  ==========================================================
scheme                    kernel
========================  ==========================================================
``"zeros"``               0
``"ones"``                1
``"normal"``              N(0, std²); Keras ``RandomNormal`` default std = 0.05
``"glorot_normal"``       truncated normal, std √(2/(fan_in+fan_out)) (Glorot & Bengio, 2010)
``"he_normal"``           truncated normal, std √(2/fan_in) (He et al., 2015)
``"glorot_uniform"``      U(±√(6/(fan_in+fan_out))); Keras' default for ``Dense``
``"lecun_normal"``        truncated normal, std √(1/fan_in)
========================  ==========================================================

The truncated normals follow Keras: cut at two standard deviations, with the
std divided by 0.87962566103423978 so the truncated variance is the target.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ModelError

_TRUNCATED_STD_CORRECTION = 0.87962566103423978
SCHEMES = (
    "zeros",
    "ones",
    "normal",
    "glorot_normal",
    "he_normal",
    "glorot_uniform",
    "lecun_normal",
)


def _truncated_normal(shape, std: float, generator: torch.Generator | None) -> torch.Tensor:
    out = torch.empty(shape, dtype=torch.float64)
    return nn.init.trunc_normal_(out, 0.0, std, -2.0 * std, 2.0 * std, generator=generator)


def draw_kernel(
    shape: tuple[int, int],
    scheme: str,
    *,
    std: float = 0.05,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A float64 kernel of ``shape = (fan_out, fan_in)`` drawn from ``scheme``."""
    fan_out, fan_in = shape
    if scheme == "zeros":
        return torch.zeros(shape, dtype=torch.float64)
    if scheme == "ones":
        return torch.ones(shape, dtype=torch.float64)
    if scheme == "normal":
        if std <= 0:
            raise ModelError(f"std must be positive, got {std}")
        return torch.randn(shape, dtype=torch.float64, generator=generator) * std
    if scheme == "glorot_normal":
        return _truncated_normal(
            shape, math.sqrt(2.0 / (fan_in + fan_out)) / _TRUNCATED_STD_CORRECTION, generator
        )
    if scheme == "he_normal":
        return _truncated_normal(
            shape, math.sqrt(2.0 / fan_in) / _TRUNCATED_STD_CORRECTION, generator
        )
    if scheme == "lecun_normal":
        return _truncated_normal(
            shape, math.sqrt(1.0 / fan_in) / _TRUNCATED_STD_CORRECTION, generator
        )
    if scheme == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(shape, dtype=torch.float64, generator=generator) * 2 - 1) * limit
    raise ModelError(f"unknown init scheme {scheme!r}; choose one of {SCHEMES}")


@torch.no_grad()
def initialize(
    model: nn.Module,
    scheme: str = "glorot_uniform",
    *,
    std: float = 0.05,
    bias: str | float = "zeros",
    generator: torch.Generator | None = None,
    layers: str = "all",
) -> nn.Module:
    """Re-initialize every ``nn.Linear`` of ``model`` in place and return the model.

    ``bias`` is ``"zeros"``, ``"same"`` (drawn like the kernel, as a 1 × fan_out
    kernel) or a constant. ``layers="hidden"`` leaves the last Linear alone
    (it is then initialized with Keras' default ``glorot_uniform``).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError("the model has no nn.Linear layer to initialize")
    if layers not in ("all", "hidden"):
        raise ModelError(f"layers must be 'all' or 'hidden', got {layers!r}")
    for index, layer in enumerate(linears):
        this_scheme = (
            "glorot_uniform" if layers == "hidden" and index == len(linears) - 1 else scheme
        )
        kernel = draw_kernel(tuple(layer.weight.shape), this_scheme, std=std, generator=generator)
        layer.weight.copy_(kernel)
        if layer.bias is None:
            continue
        if bias == "zeros":
            layer.bias.zero_()
        elif bias == "same":
            layer.bias.copy_(
                draw_kernel((1, layer.bias.shape[0]), this_scheme, std=std, generator=generator)[0]
            )
        elif isinstance(bias, (int, float)):
            layer.bias.fill_(float(bias))
        else:
            raise ModelError(f"bias must be 'zeros', 'same' or a number, got {bias!r}")
    return model
