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

The common yardstick for runs with different losses is the distance of
``(W, b)`` to the truth ``(3, 2)``. Because ``x ~ N(0, 1)`` is independent of
the noise, the held-out MSE of a line is ``1 + (W − 3)² + (b − 2)²``, so this
distance *is* the held-out excess MSE (squared), whatever loss was minimized.

Many runs are needed (three losses, three starting points, four noise settings,
several seeds), so :func:`linear_bank` trains ``K`` independent lines side by
side in one :func:`dlverify.train.fit` call: column ``k`` has its own data set,
starting point, loss and noise streams, all drawn from its own seed, and its
parameters get only its own loss's gradient (the objective is the sum of the
columns' losses), so each column is the run :func:`linear_run` gives alone
(up to float summation order). :func:`linear_run` is the one-column case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dlverify.data import TensorData, linear_problem
from dlverify.train import History, fit

N_POINTS = 10_000
LR = 1e-3
STEPS = 2_500
TRUE_W, TRUE_B = 3.0, 2.0
DATA_NOISE_STD = 0.1
WEIGHT_NOISE_STD, WEIGHT_NOISE_EVERY = 0.01, 100
LR_NOISE_SIGMA = 0.1
TOLERANCE = 0.1  # converged: (W, b) within 0.1 of (3, 2), i.e. held-out excess MSE ≤ 0.01 (1 % of the noise)

# loss name -> (weight of |r|, weight of r²): MSE, MAE and the report's hybrid with α = 0.5
LOSS_MIX = {"mse": (0.0, 1.0), "mae": (1.0, 0.0), "hybrid": (0.5, 0.5)}
NOISE_SOURCES = ("data", "weights", "lr")


def hybrid_loss(outputs: torch.Tensor, targets: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """The report's hybrid loss ``mean(α·|r| + (1−α)·r²)``, α = 0.5."""
    residual = outputs - targets
    return (alpha * residual.abs() + (1 - alpha) * residual.pow(2)).mean()


@dataclass(frozen=True)
class Column:
    """One run of the linear protocol: its seed, loss, starting point and noise sources."""

    seed: int = 0
    loss: str = "mse"
    init: tuple[float, float] = (0.0, 0.0)
    noise: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise", frozenset(self.noise))
        if unknown := self.noise - set(NOISE_SOURCES):
            raise ValueError(f"unknown noise sources {sorted(unknown)}; choose from {NOISE_SOURCES}")
        if self.loss not in LOSS_MIX:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {sorted(LOSS_MIX)}")


class LineBank(nn.Module):
    """``K`` independent lines ``ŷ[:, k] = W_k·x[:, k] + b_k``, parameters ``weight``, ``bias`` of shape ``(K,)``.

    The output has a trailing unit dimension, ``(N, K, 1)``, so that the
    trainer does not take the ``K`` columns for class scores.
    """

    def __init__(self, inits: Sequence[tuple[float, float]]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([float(w) for w, _ in inits]))
        self.bias = nn.Parameter(torch.tensor([float(b) for _, b in inits]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight + self.bias).unsqueeze(-1)

    def state(self) -> torch.Tensor:
        """``(K, 2)``: each column's current ``(W, b)``, detached."""
        return torch.stack([self.weight, self.bias], dim=1).detach()


def column_losses(outputs: torch.Tensor, targets: torch.Tensor, losses: Sequence[str]) -> torch.Tensor:
    """``(K,)``: each column's own loss, ``mean_n(a_k·|r| + c_k·r²)`` with ``(a_k, c_k)`` from :data:`LOSS_MIX`."""
    mix = torch.tensor([LOSS_MIX[name] for name in losses], dtype=outputs.dtype, device=outputs.device)
    residual = outputs.squeeze(-1) - targets
    return mix[:, 0] * residual.abs().mean(0) + mix[:, 1] * residual.pow(2).mean(0)


def _noisy(columns: Sequence[Column], source: str) -> list[int]:
    return [k for k, column in enumerate(columns) if source in column.noise]


class ColumnDataNoise:
    """A ``transform``: fresh ``N(0, std²)`` on x and y of the columns with data noise.

    Column ``k`` draws its x noise then its y noise from its own CPU generator
    seeded ``seed_k + 1`` (what :func:`fit` gives a single run's transform),
    moved to the device; the other columns are left clean.
    """

    def __init__(self, std: float, columns: Sequence[Column]) -> None:
        self.std = std
        self.index = _noisy(columns, "data")
        self.generators = [torch.Generator().manual_seed(columns[k].seed + 1) for k in self.index]

    def __call__(self, x: torch.Tensor, y: torch.Tensor, _generator: torch.Generator):
        if not self.index:
            return x, y
        draws = torch.stack([torch.randn(2, x.shape[0], generator=g) for g in self.generators], dim=2)
        noise = torch.zeros(2, *x.shape)
        noise[:, :, self.index] = draws  # (2, n, K): x noise, y noise
        noise = noise.to(x.device, x.dtype)
        return x + self.std * noise[0], y + self.std * noise[1]


class ColumnWeightNoise:
    """A callback: every ``every`` steps add ``N(0, std²)`` to W and b of the columns with weight noise.

    Each such column draws (W's, then b's) from its own generator, seeded ``seed_k + 101``.
    """

    def __init__(self, std: float, every: int, columns: Sequence[Column]) -> None:
        self.std, self.every = std, every
        self.index = _noisy(columns, "weights")
        self.generators = [torch.Generator().manual_seed(columns[k].seed + 101) for k in self.index]
        self.k = len(columns)

    @torch.no_grad()
    def after_step(self, step: int, model: "LineBank", optimizer) -> None:
        if not self.index or (step + 1) % self.every:
            return
        draws = torch.zeros(self.k, 2)
        draws[self.index] = torch.stack([torch.randn(2, generator=g) for g in self.generators])
        draws = draws.to(model.weight.device, model.weight.dtype)
        model.weight.add_(self.std * draws[:, 0])
        model.bias.add_(self.std * draws[:, 1])


class ColumnLearningRateNoise:
    """Per-column learning-rate noise: at each step column ``k`` moves with ``lr·exp(σ·z_k − σ²/2)``.

    Log-normal and mean-preserving, as :class:`dlverify.train.LearningRateNoise`,
    but with one factor per column with learning-rate noise, ``z_k`` from the
    column's own generator (seeded ``seed_k + 202``); other columns keep
    factor 1. For plain gradient descent, scaling column ``k``'s gradient by
    its factor is the same as scaling its learning rate, so the factors are
    applied by gradient hooks on ``weight`` and ``bias``; ``before_step`` draws them.
    """

    def __init__(self, sigma: float, columns: Sequence[Column], model: "LineBank") -> None:
        self.sigma = sigma
        self.index = _noisy(columns, "lr")
        self.generators = [torch.Generator().manual_seed(columns[k].seed + 202) for k in self.index]
        self.factors = torch.ones(len(columns), dtype=model.weight.dtype, device=model.weight.device)
        if self.index:
            model.weight.register_hook(lambda grad: grad * self.factors)
            model.bias.register_hook(lambda grad: grad * self.factors)

    def before_step(self, step: int, model: nn.Module, optimizer) -> None:
        if not self.index:
            return
        z = torch.stack([torch.randn((), generator=g, dtype=torch.float64) for g in self.generators])
        factors = torch.ones(len(self.factors), dtype=torch.float64)
        factors[self.index] = torch.exp(self.sigma * z - self.sigma**2 / 2)
        self.factors = factors.to(self.factors.device, self.factors.dtype)


class Trajectory:
    """A callback keeping every column's ``(W, b)`` after every step (on the device until the end)."""

    def __init__(self, model: LineBank) -> None:
        self.states = [model.state().clone()]

    def after_step(self, step: int, model: LineBank, optimizer) -> None:
        self.states.append(model.state().clone())

    def tensor(self) -> torch.Tensor:
        """``(steps + 1, K, 2)`` on the CPU, row 0 the starting point."""
        return torch.stack(self.states).cpu()


@dataclass
class BankRun:
    """``K`` linear runs trained together; column ``k`` is ``columns[k]``."""

    columns: tuple[Column, ...]
    trajectory: torch.Tensor  # (steps + 1, K, 2): (W, b) of every column after every step
    data: TensorData  # (N, K) clean inputs and targets, column k from columns[k].seed (CPU)
    history: History

    def index(self, column: Column) -> int:
        return self.columns.index(column)

    def distance(self, column: Column) -> torch.Tensor:
        """``(steps + 1,)``: ‖(W, b) − (3, 2)‖ after each step (float64)."""
        path = self.trajectory[:, self.index(column)].double()
        return torch.linalg.vector_norm(path - torch.tensor([TRUE_W, TRUE_B], dtype=torch.float64), dim=1)

    def steps_to_tolerance(self, column: Column, tolerance: float = TOLERANCE) -> int | None:
        """First step after which (W, b) is within ``tolerance`` of (3, 2); None if never reached."""
        reached = torch.nonzero(self.distance(column) <= tolerance)
        return int(reached[0]) if len(reached) else None

    def final(self, column: Column) -> tuple[float, float]:
        w, b = self.trajectory[-1, self.index(column)].tolist()
        return w, b

    def clean_mse(self, column: Column, steps: Sequence[int] | None = None) -> list[float]:
        """MSE on the column's clean training data at the given steps (default: every 25th and the last)."""
        k = self.index(column)
        if steps is None:
            steps = sorted(set(range(0, len(self.trajectory), 25)) | {len(self.trajectory) - 1})
        x, y = self.data.inputs[:, k].double(), self.data.targets[:, k].double()
        params = self.trajectory[list(steps), k].double()  # (S, 2)
        predictions = params[:, :1] * x + params[:, 1:]
        return (predictions - y).pow(2).mean(1).tolist()

    def column_loss(self, column: Column, steps: Sequence[int]) -> list[float]:
        """The column's own training loss (MSE, MAE or hybrid) on its clean data at ``steps``."""
        k = self.index(column)
        a, c = LOSS_MIX[column.loss]
        x, y = self.data.inputs[:, k].double(), self.data.targets[:, k].double()
        params = self.trajectory[list(steps), k].double()
        residual = params[:, :1] * x + params[:, 1:] - y
        return (a * residual.abs().mean(1) + c * residual.pow(2).mean(1)).tolist()

    def noise_floor(self, column: Column) -> float:
        """The least-squares minimum of the column's clean training MSE (≈ the noise variance 1)."""
        k = self.index(column)
        x, y = self.data.inputs[:, k].double(), self.data.targets[:, k].double()
        design = torch.stack([x, torch.ones_like(x)], dim=1)
        solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution
        return float((design @ solution - y.unsqueeze(1)).pow(2).mean())


def linear_bank(columns: Sequence[Column], *, device: torch.device | str = "cpu", steps: int = STEPS,
                record_steps: bool = False) -> BankRun:
    """Train every column of the linear protocol side by side; see the module docstring."""
    columns = tuple(columns)
    sets = [linear_problem(N_POINTS, weight=TRUE_W, bias=TRUE_B, generator=torch.Generator().manual_seed(c.seed))
            for c in columns]
    data = TensorData(torch.cat([d.inputs for d in sets], 1), torch.cat([d.targets for d in sets], 1))
    model = LineBank([c.init for c in columns]).to(device)
    trajectory = Trajectory(model)
    callbacks = [ColumnWeightNoise(WEIGHT_NOISE_STD, WEIGHT_NOISE_EVERY, columns),
                 ColumnLearningRateNoise(LR_NOISE_SIGMA, columns, model), trajectory]
    losses = [c.loss for c in columns]
    history = fit(model, data.to(device), optimizer="sgd", lr=LR, batch_size=N_POINTS, steps=steps,
                  seed=columns[0].seed, loss_fn=lambda out, y: column_losses(out, y, losses).sum(),
                  transform=ColumnDataNoise(DATA_NOISE_STD, columns), callbacks=callbacks, eval_every=steps,
                  record_steps=record_steps)
    return BankRun(columns, trajectory.tensor(), data, history)


@dataclass
class LinearRun:
    weight: torch.Tensor  # the final W, as a 0-d tensor on the run's device
    bias: torch.Tensor
    history: History  # per-step objective in history.step_loss
    bank: BankRun

    def final(self) -> tuple[float, float]:
        return float(self.weight), float(self.bias)


ALL_NOISE = {"data_noise": True, "weight_noise": True, "lr_noise": True}


def linear_run(*, device: torch.device | str = "cpu", seed: int = 0, loss: str = "mse",
               init: tuple[float, float] = (0.0, 0.0), steps: int = STEPS, data_noise: bool = False,
               weight_noise: bool = False, lr_noise: bool = False) -> LinearRun:
    """Train lab1's linear model once; every random draw comes from ``seed``.

    The data set and all noise are drawn from ``seed`` on the CPU and moved,
    so runs on different devices see identical data and noise. Every step's
    objective is kept in ``history.step_loss``.
    """
    noise = frozenset(name for name, on in zip(NOISE_SOURCES, (data_noise, weight_noise, lr_noise)) if on)
    bank = linear_bank([Column(seed, loss, init, noise)], device=device, steps=steps, record_steps=True)
    model_w, model_b = bank.trajectory[-1, 0]
    final_w = torch.as_tensor(model_w).to(device)
    final_b = torch.as_tensor(model_b).to(device)
    return LinearRun(final_w, final_b, bank.history, bank)


INITS = {"near truth (3, 2)": (3.0, 2.0), "far (1.5, -2.5)": (1.5, -2.5), "zero (0, 0)": (0.0, 0.0)}
NOISE_SETTINGS = {"data": frozenset({"data"}), "weights": frozenset({"weights"}), "learning rate": frozenset({"lr"}),
                  "all three": frozenset(NOISE_SOURCES)}


def protocol_columns(seeds: Sequence[int]) -> list[Column]:
    """Every run the lab1 linear claims compare, for each seed: the three losses from (0, 0),
    MSE from the other two starting points, and MSE under each noise setting."""
    columns: list[Column] = []
    for seed in seeds:
        columns += [Column(seed, loss) for loss in LOSS_MIX]
        columns += [Column(seed, "mse", init) for init in INITS.values() if init != (0.0, 0.0)]
        columns += [Column(seed, "mse", noise=noise) for noise in NOISE_SETTINGS.values()]
    return columns


class LinearRuns:
    """The lab1 linear runs, trained once per (seeds, device) in one bank and shared by the claims."""

    def __init__(self) -> None:
        self.cache: dict[tuple, BankRun] = {}

    def bank(self, seeds: Sequence[int], device: torch.device | str) -> BankRun:
        key = (tuple(seeds), str(device))
        if key not in self.cache:
            self.cache[key] = linear_bank(protocol_columns(seeds), device=device)
        return self.cache[key]
