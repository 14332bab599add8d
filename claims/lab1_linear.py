"""lab1's linear-regression protocol, shared by the lab1 claims.

The report fits ``y = W·x + b`` to 10 000 points of ``y = 3x + 2 + ε``,
``x, ε ~ N(0, 1)``, by plain full-batch gradient descent with lr 1e-3 from
``W = b = 0``. Choices the report leaves open, made once here for every lab1
claim:

* training length: 2 500 steps, the length of the report's own training log;
* data noise: fresh ``N(0, 0.1²)`` on x and y at every step (10 % of x's spread);
* weight noise: ``N(0, 0.01²)`` added to W and b every 100 steps ("periodic");
* learning-rate noise: log-normal, ``lr·exp(0.1·z − 0.005)`` each step (mean lr);
* the report's patience-based learning-rate decay is not part of the claims'
  protocol (the catalogue says plain gradient descent) and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlverify.data import linear_problem
from dlverify.models import linear_model
from dlverify.train import AdditiveDataNoise, History, LearningRateNoise, WeightNoise, fit

N_POINTS = 10_000
LR = 1e-3
STEPS = 2_500
TRUE_W, TRUE_B = 3.0, 2.0
DATA_NOISE_STD = 0.1
WEIGHT_NOISE_STD, WEIGHT_NOISE_EVERY = 0.01, 100
LR_NOISE_SIGMA = 0.1


def hybrid_loss(outputs: torch.Tensor, targets: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """The report's hybrid loss ``mean(α·|r| + (1−α)·r²)``, α = 0.5."""
    residual = outputs - targets
    return (alpha * residual.abs() + (1 - alpha) * residual.pow(2)).mean()


LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "hybrid": hybrid_loss}


@dataclass
class LinearRun:
    weight: torch.Tensor  # the final W, as a 0-d tensor on the run's device
    bias: torch.Tensor
    history: History  # per-step objective in history.step_loss

    def final(self) -> tuple[float, float]:
        return float(self.weight), float(self.bias)


def linear_run(*, device: torch.device | str = "cpu", seed: int = 0, loss: str = "mse",
               init: tuple[float, float] = (0.0, 0.0), steps: int = STEPS, data_noise: bool = False,
               weight_noise: bool = False, lr_noise: bool = False, eval_every: int = 50) -> LinearRun:
    """Train lab1's linear model once; every random draw comes from ``seed``.

    The data set is drawn from ``seed`` on the CPU and moved, so runs on
    different devices see identical data and noise.
    """
    data = linear_problem(N_POINTS, weight=TRUE_W, bias=TRUE_B, generator=torch.Generator().manual_seed(seed),
                          device=device)
    model = linear_model().to(device)
    with torch.no_grad():
        model.weight.fill_(init[0])
        model.bias.fill_(init[1])
    callbacks = []
    if weight_noise:
        callbacks.append(WeightNoise(WEIGHT_NOISE_STD, WEIGHT_NOISE_EVERY, torch.Generator().manual_seed(seed + 101)))
    if lr_noise:
        callbacks.append(LearningRateNoise(LR_NOISE_SIGMA, torch.Generator().manual_seed(seed + 202)))
    transform = AdditiveDataNoise(DATA_NOISE_STD, DATA_NOISE_STD) if data_noise else None
    history = fit(model, data, optimizer="sgd", lr=LR, batch_size=N_POINTS, steps=steps, seed=seed,
                  loss_fn=LOSSES[loss], transform=transform, callbacks=callbacks, eval_every=eval_every,
                  record_steps=True)
    return LinearRun(model.weight.detach().reshape(()), model.bias.detach().reshape(()), history)
