"""Optimizers by name, with the defaults of the framework the reports used.

The TensorFlow/Keras reports leave optimizer settings at Keras' defaults, so
those are the defaults here (PyTorch's differ: RMSprop ``alpha`` 0.99, ``eps``
1e-8; Adam ``eps`` 1e-8):

=========  =======  ===========================================================
name       lr       other settings
=========  =======  ===========================================================
sgd        1e-2     no momentum (``keras.optimizers.SGD``)
adam       1e-3     β₁ = 0.9, β₂ = 0.999, ε = 1e-7 (``keras.optimizers.Adam``)
rmsprop    1e-3     ρ = 0.9, no momentum, ε = 1e-7 (``keras.optimizers.RMSprop``)
=========  =======  ===========================================================

Both frameworks add ε outside the square root, so with these settings the
updates are the same equations.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..errors import TrainingError

KERAS_DEFAULTS: dict[str, dict] = {
    "sgd": {"lr": 1e-2},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7},
    "rmsprop": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7},
}
_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


def make_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], *, lr: float | None = None, **overrides
) -> torch.optim.Optimizer:
    """An optimizer by name (``sgd``, ``adam``, ``rmsprop``) with Keras defaults unless overridden."""
    key = name.lower()
    if key not in _CLASSES:
        raise TrainingError(f"unknown optimizer {name!r}; choose one of {sorted(_CLASSES)}")
    settings = {**KERAS_DEFAULTS[key], **overrides}
    if lr is not None:
        if not lr > 0:
            raise TrainingError(f"learning rate must be positive, got {lr}")
        settings["lr"] = lr
    return _CLASSES[key](params, **settings)
