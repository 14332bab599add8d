"""lab2's protocol, shared by every lab2 claim.

An MNIST MLP with three hidden ReLU layers of 100 units and a softmax output,
Adam (lr 1e-3, Keras defaults), batch 512, 20 epochs, sparse categorical
cross-entropy, validated on the 10 000 test images. Weights start from Keras'
default for ``Dense`` (Glorot uniform, zero biases) unless an initializer is
being studied. Each (technique, seed, device) is trained once per session and
shared by every claim that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dlverify.data import TensorData
from dlverify.models import initialize, mlp
from dlverify.train import History, fit

SIZES = (784, 100, 100, 100, 10)
EPOCHS, BATCH_SIZE, LR = 20, 512, 1e-3
INITIALIZERS = {  # technique name -> (scheme, kwargs); "random" is Keras RandomNormal(stddev=0.05)
    "zeros": ("zeros", {}),
    "ones": ("ones", {}),
    "random": ("normal", {"std": 0.05}),
    "glorot": ("glorot_normal", {}),
    "he": ("he_normal", {}),
}


@dataclass
class Lab2Run:
    history: History
    model: torch.nn.Module


@dataclass
class Lab2Runs:
    """Trains each lab2 configuration once and hands the result to every claim that asks."""

    train: TensorData
    val: TensorData
    epochs: int = EPOCHS
    cache: dict = field(default_factory=dict)

    def init_run(self, name: str, seed: int, device: torch.device) -> Lab2Run:
        """Baseline network (no regularization) started from one of the report's initializers."""
        key = ("init", name, seed, str(device))
        if key not in self.cache:
            scheme, kwargs = INITIALIZERS[name]
            model = initialize(mlp(SIZES), scheme, generator=torch.Generator().manual_seed(seed), **kwargs).to(device)
            history = fit(model, self.train.to(device), optimizer="adam", lr=LR, batch_size=BATCH_SIZE,
                          epochs=self.epochs, seed=seed, val=self.val.to(device))
            self.cache[key] = Lab2Run(history, model)
        return self.cache[key]
