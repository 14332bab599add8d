"""hw1's protocols, shared by every hw1 claim.

The report leaves most settings open; the choices below are made once here and
used by every claim that needs them (the tests' docstrings repeat the ones that
matter to each claim).

Function nets (§1-1 simulate a function, §1-2 PCA / gradient norm / near-zero
gradient): 200 evenly spaced points on [−10, 10], mean squared error, Adam with
the report's §1-2 rate 0.01, **full batch** (the report feeds "a tensor of 200
points"; one epoch = one step), ReLU hidden units (the report's stated
activation for §1-2 and its MNIST nets). Kernels start from Keras' ``Dense``
default (Glorot uniform, zero biases) except the report's hand-written model 2
of §1-1, whose weights and biases are drawn ``N(0, 1)`` (``tf.random.normal`` /
``torch.randn``, the usual way such a model is written).

The S seeds of one function net are trained together by
:func:`dlverify.train.fit_many` (:func:`train_stacked`), so the 8 PCA runs or
100 near-zero-gradient runs cost about as much as one; each seed is unstacked
into an ordinary ``nn.Sequential`` for the probes.

MNIST nets (§1-1 train on actual tasks, §1-3): Keras ``Sequential`` with
``Flatten``, ``Dense`` ReLU layers and a softmax output, Keras defaults
(Glorot uniform kernels, zero biases, Adam lr 1e-3, batch 32) unless the report
states otherwise. Each (configuration, seed, device) is trained once, the seeds
a claim asks for together in one :func:`dlverify.train.fit_many` call, and kept
in the run cache (:class:`Hw1Runs`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacrev

from dlverify.data import TensorData, function_problem, random_labels
from dlverify.data.registry import get_spec
from dlverify.models import initialize, mlp
from dlverify.runcache import RunCache
from dlverify.train import History, evaluate, fit_many

# Part of every MNIST run's cache key: bump it when a change here changes what a run produces.
PROTOCOL_VERSION = 3

# -- function nets ---------------------------------------------------------------------------------

FUNCTION_LR = 0.01  # the report's §1-2 rate, used for every function net
FIT_EPOCHS = 1000  # §1-1 states none; enough full-batch steps for the loss to level off
FIT_SIZES = (1, 10, 1)  # 31 parameters, as the report counts
PCA_SIZES = (1, 10, 10, 1)  # §1-2: "three fully connected layers"; widths chosen as §1-1's 10
PCA_EPOCHS, PCA_EVERY, PCA_RUNS = 100, 3, 8
FIT_MODELS = {  # report's model name -> (init scheme, kwargs)
    "model 1 (Keras Dense)": ("glorot_uniform", {}),
    "model 2 (hand-written, N(0,1))": ("normal", {"std": 1.0, "bias": "same"}),
}


def _relu_net(sizes: Sequence[int]) -> nn.Sequential:
    return mlp(list(sizes), activation="relu", flatten=False)


@dataclass
class StackedRun:
    """S seeds of one function net trained together (see the module docstring).

    ``loss[e, s]`` and ``grad_norm[e, s]`` are the full-data MSE and the norm of
    its gradient at the parameters *before* step ``e`` (so row 0 is the initial
    model), and one more row after the last step. ``snapshots[k]`` is the
    ``(S, P)`` flat parameter matrix after epoch ``snapshot_epochs[k]``.
    """

    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    params: list[torch.Tensor]
    loss: np.ndarray
    grad_norm: np.ndarray
    snapshot_epochs: list[int] = field(default_factory=list)
    snapshots: list[torch.Tensor] = field(default_factory=list)

    def model(self, index: int) -> nn.Sequential:
        """The trained network of the ``index``-th seed as an ordinary module (eval mode)."""
        return _unstack(self.sizes, self.params, index)

    def payload(self) -> dict:
        """What the run cache stores: every field, arrays as float64 tensors."""
        return {
            "sizes": list(self.sizes),
            "seeds": list(self.seeds),
            "params": list(self.params),
            "loss": torch.from_numpy(self.loss),
            "grad_norm": torch.from_numpy(self.grad_norm),
            "snapshot_epochs": list(self.snapshot_epochs),
            "snapshots": list(self.snapshots),
        }

    @classmethod
    def from_payload(cls, payload: dict) -> StackedRun:
        return cls(
            tuple(payload["sizes"]),
            tuple(payload["seeds"]),
            list(payload["params"]),
            payload["loss"].numpy(),
            payload["grad_norm"].numpy(),
            list(payload["snapshot_epochs"]),
            list(payload["snapshots"]),
        )

    def snapshot_matrix(self, index: int, first_layer: bool = False) -> torch.Tensor:
        """``(snapshots, P)`` parameters of one run over time (``first_layer``: its kernel only)."""
        rows = torch.stack([snap[index] for snap in self.snapshots])
        return rows[:, : self.sizes[0] * self.sizes[1]] if first_layer else rows


def _unstack(sizes: Sequence[int], params: Sequence[torch.Tensor], index: int) -> nn.Sequential:
    net = _relu_net(sizes)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, module in enumerate(linears):
            module.weight.copy_(params[2 * layer][index])
            module.bias.copy_(params[2 * layer + 1][index])
    return net.eval()


def stacked_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Outputs ``(S, n, 1)`` of S stacked ReLU nets on the shared inputs ``x`` ``(n, 1)``."""
    h = x.unsqueeze(0).expand(params[0].shape[0], -1, -1)
    layers = len(params) // 2
    for layer in range(layers):
        h = torch.baddbmm(params[2 * layer + 1].unsqueeze(1), h, params[2 * layer].transpose(1, 2))
        if layer < layers - 1:
            h = torch.relu(h)
    return h


def per_seed_mse(params: Sequence[torch.Tensor], data: TensorData) -> torch.Tensor:
    """Full-data mean squared error of each stacked net, shape ``(S,)``."""
    return (
        (stacked_forward(params, data.inputs) - data.targets.unsqueeze(0)).pow(2).mean(dim=(1, 2))
    )


class _ParameterTrace:
    """``fit_many`` callback: the model's flat parameters after every evaluation (CPU copies)."""

    def __init__(self) -> None:
        self.rows: list[torch.Tensor] = []

    def after_evaluation(self, history, model) -> None:
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        self.rows.append(flat.cpu().clone())


def _unflatten(sizes: Sequence[int], flat: torch.Tensor) -> list[torch.Tensor]:
    """``(R, P)`` flat parameter rows → the stacked ``[W1 (R, out, in), b1 (R, out), …]``."""
    params, start = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(flat[:, start : start + fan_in * fan_out].reshape(-1, fan_out, fan_in))
        start += fan_in * fan_out
        params.append(flat[:, start : start + fan_out])
        start += fan_out
    return params


def train_stacked(
    sizes: Sequence[int],
    data: TensorData,
    seeds: Sequence[int],
    *,
    epochs: int,
    scheme: str = "glorot_uniform",
    init_kwargs: dict | None = None,
    lr: float = FUNCTION_LR,
    snapshot_every: int | None = None,
    device: torch.device | str = "cpu",
) -> StackedRun:
    """Full-batch Adam (Keras defaults, ``lr``) on the MSE, S seeds; records loss and gradient norm.

    The S nets are trained by :func:`dlverify.train.fit_many` (one batch = the
    whole data, one step per epoch), which keeps each net's parameters after
    every step; the full-data MSE and the norm of its gradient at each of
    those ``epochs + 1`` parameter sets (the initial one first) are then
    evaluated together, all (step, seed) pairs as one stacked batch. Trains on
    ``device`` (initial weights drawn on the CPU, as everywhere, then moved);
    the curves, snapshots and final parameters come back on the CPU.
    """
    device = torch.device(device)
    models = [
        initialize(
            _relu_net(sizes),
            scheme,
            generator=torch.Generator().manual_seed(s),
            **(init_kwargs or {}),
        ).to(device)
        for s in seeds
    ]
    initial = [
        torch.cat([p.detach().flatten() for p in m.parameters()]).cpu().clone() for m in models
    ]
    traces = [_ParameterTrace() for _ in seeds]
    data = data.to(device)
    fit_many(
        models,
        data,
        optimizer="adam",
        lr=lr,
        batch_size=len(data),
        epochs=epochs,
        seeds=list(seeds),
        loss_fn=F.mse_loss,
        eval_every=1,
        callbacks=[[t] for t in traces],
    )
    rows = torch.stack(
        [torch.stack([first, *trace.rows]) for first, trace in zip(initial, traces)], dim=1
    )  # (epochs + 1, S, P)
    params = [p.to(device).requires_grad_() for p in _unflatten(sizes, rows.flatten(0, 1))]
    loss = per_seed_mse(params, data)
    grads = torch.autograd.grad(loss.sum(), params)
    norms = torch.sqrt(sum(g.pow(2).flatten(start_dim=1).sum(dim=1) for g in grads))
    shape = (epochs + 1, len(seeds))
    snap_epochs = list(range(snapshot_every, epochs + 1, snapshot_every)) if snapshot_every else []
    final = [p.detach().reshape(*shape, *p.shape[1:])[-1].cpu() for p in params]
    return StackedRun(
        tuple(sizes),
        tuple(seeds),
        final,
        loss.detach().double().cpu().numpy().reshape(shape),
        norms.detach().double().cpu().numpy().reshape(shape),
        snap_epochs,
        [rows[e].clone() for e in snap_epochs],
    )


def r_squared(model: nn.Module, data: TensorData) -> float:
    """Coefficient of determination ``1 − SS_res / SS_tot`` of the model's fit on ``data``."""
    with torch.no_grad():
        residual = (model(data.inputs) - data.targets).double().pow(2).sum()
    total = (data.targets.double() - data.targets.double().mean()).pow(2).sum()
    return float(1 - residual / total)


def early_drop_fraction(loss: Sequence[float], fraction: float = 0.1) -> float:
    """Share of the total loss drop (first → last epoch) reached after the first ``fraction`` of epochs."""
    loss = np.asarray(loss, dtype=float)
    cut = max(1, int(round(fraction * (len(loss) - 1))))
    total = loss[0] - loss[-1]
    return float((loss[0] - loss[cut]) / total) if total > 0 else float("nan")


# -- near-zero-gradient points -----------------------------------------------------------------------

NEAR_ZERO_SIZES = FIT_SIZES  # "the small network" of §1-2, on sin(x) + 0.5x
NEAR_ZERO_TRAIN_EPOCHS = 100  # §1-2's training length, then the objective switches to ‖∇L‖²
NEAR_ZERO_LM_ITERATIONS = 50
CRITICAL_POINT_RUNS = 100  # the exercise's "train the network 100 times"; ~20 s on one core
GRAD_NORM_RELATIVE_TOLERANCE = (
    1e-2  # "almost zero": ‖∇L‖ at most 1 % of the run's gradient norm at initialization
)
NEAR_ZERO_WEIGHT_THRESHOLD = (
    1e-2  # the report's "weight near zero": |w| < 0.01 (threshold unstated there)
)


@dataclass
class CriticalPoint:
    """One point reached by minimizing ‖∇L‖² from a trained net."""

    seed: int
    loss: float
    grad_norm: float
    initial_grad_norm: float  # of the same run, at initialization
    minimal_ratio: float  # share of positive Hessian eigenvalues
    near_zero_weight_ratio: float  # the report's definition
    smallest_eigenvalue: float  # λ_min of the Hessian: < 0 at a saddle, ≈ 0 at a flat minimum
    largest_eigenvalue: float  # λ_max, the scale a "≈ 0" is judged against


def minimize_grad_norm(
    model: nn.Module, data: TensorData, *, iterations: int = NEAR_ZERO_LM_ITERATIONS
) -> nn.Module:
    """A float64 copy of ``model`` moved to a minimum of ‖∇L‖² by Levenberg–Marquardt on the residual ∇L.

    The usual second phase of the exercise: after training, the objective
    becomes the squared norm of the full-data MSE gradient. ‖∇L(θ)‖² is a
    least-squares problem in the residual ``g(θ) = ∇L(θ)`` whose Jacobian is
    the Hessian ``H``, so each step solves ``(HᵀH + λ·(1 + mean diag HᵀH)·I) δ = −Hᵀg``
    (exact float64 Hessian of the 31 parameters), accepting steps that lower
    ‖∇L‖ and adapting λ (Levenberg 1944; Marquardt 1963). L-BFGS with a
    strong-Wolfe line search, tried first, stalls after a few dozen steps:
    a ReLU net's gradient jumps wherever a hidden unit's kink crosses a data
    point, which breaks the line search. Stops after ``iterations`` steps,
    at ‖∇L‖ < 1e-12, or when no step lowers ‖∇L‖.
    """
    net = copy.deepcopy(model).double().eval()
    x, y = data.inputs.double(), data.targets.double()
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    theta = torch.cat([p.detach().flatten() for p in net.parameters()])

    def unflatten(flat: torch.Tensor) -> dict[str, torch.Tensor]:
        sizes = [s.numel() for s in shapes]
        return {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}

    def loss(flat: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(functional_call(net, unflatten(flat), (x,)), y)

    gradient, hessian = grad(loss), jacrev(grad(loss))
    damping, g = 1e-3, gradient(theta)
    identity = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)
    for _ in range(iterations):
        if torch.linalg.vector_norm(g) < 1e-12:
            break
        h = hessian(theta)
        normal, rhs = h.T @ h, h.T @ g
        scale = 1 + float(normal.diagonal().mean())
        while damping <= 1e8:
            candidate = theta + torch.linalg.solve(normal + damping * scale * identity, -rhs)
            g_candidate = gradient(candidate)
            if torch.linalg.vector_norm(g_candidate) < torch.linalg.vector_norm(g):
                theta, g, damping = candidate, g_candidate, max(damping / 3, 1e-12)
                break
            damping *= 3
        else:
            break
    with torch.no_grad():
        for p, value in zip(net.parameters(), unflatten(theta).values()):
            p.copy_(value)
    return net


# -- MNIST -----------------------------------------------------------------------------------------

MNIST_LR, MNIST_BATCH = 1e-3, 32  # Keras defaults
DEEP_SIZES = (784, 64, 64, 10)  # §1-1 model 1: two ReLU layers, fewer units each
WIDE_SIZES = (784, 128, 10)  # §1-1 model 2: one ReLU layer with more units
ONE_LAYER_WIDTH = 128  # §1-3 "a dense ReLU layer": Keras' tutorial width
PARAM_WIDTHS = (4, 16, 64, 256)  # §1-3 parameters vs generalization: hidden widths
BATCH_SIZES = (
    64,
    128,
    256,
    512,
    1024,
)  # §1-3 part 2: five batch sizes, spanning part 1's 64 and 1024
INTERPOLATION = {"a": {"batch_size": 64, "lr": 1e-3}, "b": {"batch_size": 1024, "lr": 1e-2}}
INTERPOLATION_EPOCHS = 5
INTERPOLATION_TRAIN_CURVE = 2000  # the training-loss curve: the first 2000 training images
# α of θ(α) = (1 − α)·θ_a + α·θ_b. The usual sweep: −1 … 2 in steps of 0.1 (0 and 1 exactly).
SWEEP_ALPHAS = np.round(np.linspace(-1.0, 2.0, 31), 6)
# The report's text reads α on a log axis (0.001, 0.01, 0.1, 1; "α < 0.01", "α > 1"): four
# points a decade from 1e-4, a decade below the smallest value it names, to 10^0.25 ≈ 1.78,
# inside the sweep's end 2.
LOG_ALPHAS = np.round(10.0 ** (np.arange(-16, 2) / 4), 12)
INTERPOLATION_ALPHAS = np.unique(np.concatenate([SWEEP_ALPHAS, LOG_ALPHAS]))


@dataclass
class MnistRun:
    model: nn.Module
    history: History
    train_loss: float | None = None  # eval-mode loss over the training data used, after training
    train_acc: float | None = None
    test_loss: float | None = None
    test_acc: float | None = None


@dataclass
class InterpolationRun:
    """The two models of §1-3 part 1 and the line between them, at :data:`INTERPOLATION_ALPHAS`.

    ``test`` is on all 10 000 test images, ``train`` on the first
    :data:`INTERPOLATION_TRAIN_CURVE` training images (each an
    :class:`dlverify.probes.interpolation.InterpolationResult`).
    """

    a: MnistRun
    b: MnistRun
    test: object
    train: object

    def at(self, split: str, alphas) -> tuple[np.ndarray, np.ndarray]:
        """Loss and accuracy of ``split`` at the given α (each one of the stored α)."""
        curve = getattr(self, split)
        index = [int(np.flatnonzero(curve.alphas == a)[0]) for a in np.asarray(alphas, dtype=float)]
        return curve.loss[index], curve.accuracy[index]


@dataclass
class Hw1Runs:
    """Trains each hw1 configuration once per session and hands it to every claim that asks.

    The MNIST runs are also kept in ``run_cache`` (shared by sessions and
    xdist workers) and trained with :func:`dlverify.train.fit_many`; the
    function nets (seconds of training) stay in this session's memory.
    """

    train: TensorData
    test: TensorData
    run_cache: RunCache = field(default_factory=lambda: RunCache(None))
    cache: dict = field(default_factory=dict)

    def _cached(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    # function nets: trained on ``device``; the unstacked nets the probes read are CPU modules.
    # They are kept in the run cache too: seconds each to train, but many of them.
    def _stored(self, spec: dict, make, encode, decode):
        spec = {"family": "hw1", "protocol_version": PROTOCOL_VERSION, **spec}
        return decode(self.run_cache.get_or_create(spec, lambda: encode(make())))

    def _stacked(self, spec: dict, make) -> StackedRun:
        return self._stored(spec, make, StackedRun.payload, StackedRun.from_payload)

    def function_fits(
        self, function: str, model: str, seeds: Sequence[int], device: torch.device
    ) -> StackedRun:
        scheme, kwargs = FIT_MODELS[model]
        device = torch.device(device)
        spec = {
            "run": "function-fit",
            "function": function,
            "points": 200,
            "sizes": list(FIT_SIZES),
            "seeds": [int(s) for s in seeds],
            "epochs": FIT_EPOCHS,
            "scheme": scheme,
            "init_kwargs": kwargs,
            "lr": FUNCTION_LR,
            "device": device.type,
        }
        key = ("fit", function, model, tuple(seeds), str(device))
        return self._cached(
            key,
            lambda: self._stacked(
                spec,
                lambda: train_stacked(
                    FIT_SIZES,
                    function_problem(function),
                    seeds,
                    epochs=FIT_EPOCHS,
                    scheme=scheme,
                    init_kwargs=kwargs,
                    device=device,
                ),
            ),
        )

    def pca_runs(self, device: torch.device, runs: int = PCA_RUNS, *, group: int = 0) -> StackedRun:
        """The §1-2 PCA experiment: ``runs`` trainings, seeds ``group·runs … (group + 1)·runs − 1``.

        Group 0 is the report's one experiment; further groups repeat it from
        other seeds, for claims decided over several experiments.
        """
        device = torch.device(device)
        seeds = tuple(range(group * runs, (group + 1) * runs))
        spec = {
            "run": "pca",
            "function": "sin",
            "points": 200,
            "sizes": list(PCA_SIZES),
            "seeds": list(seeds),
            "epochs": PCA_EPOCHS,
            "snapshot_every": PCA_EVERY,
            "scheme": "glorot_uniform",
            "lr": FUNCTION_LR,
            "device": device.type,
        }
        return self._cached(
            ("pca", runs, group, str(device)),
            lambda: self._stacked(
                spec,
                lambda: train_stacked(
                    PCA_SIZES,
                    function_problem("sin"),
                    seeds,
                    epochs=PCA_EPOCHS,
                    snapshot_every=PCA_EVERY,
                    device=device,
                ),
            ),
        )

    def critical_points(self, runs: int, device: torch.device) -> list[CriticalPoint]:
        device = torch.device(device)
        spec = {
            "run": "critical-points",
            # 2: the eigenvalues' Hessian products are the R-operator's for MLPs (the same values
            #    up to rounding, so stored points are recomputed rather than mixed).
            "products": 2,
            "function": "sin",
            "points": 200,
            "runs": runs,
            "sizes": list(NEAR_ZERO_SIZES),
            "train_epochs": NEAR_ZERO_TRAIN_EPOCHS,
            "lr": FUNCTION_LR,
            "lm_iterations": NEAR_ZERO_LM_ITERATIONS,
            "weight_threshold": NEAR_ZERO_WEIGHT_THRESHOLD,
            "device": device.type,
        }
        return self._cached(
            ("critical", runs, str(device)),
            lambda: self._stored(
                spec,
                lambda: _critical_points(runs, device),
                lambda points: {
                    "points": [
                        {k: (int(v) if k == "seed" else float(v)) for k, v in asdict(p).items()}
                        for p in points
                    ]
                },
                lambda payload: [CriticalPoint(**p) for p in payload["points"]],
            ),
        )

    # MNIST
    def mnist(
        self,
        sizes: Sequence[int],
        seed: int,
        device: torch.device,
        *,
        n_train: int | None,
        epochs: int,
        batch_size: int = MNIST_BATCH,
        lr: float = MNIST_LR,
        shuffled_labels: bool = False,
        val_every_epochs: int | None = None,
    ) -> MnistRun:
        """One Keras-default MNIST MLP: Glorot uniform, Adam, cross-entropy on the first ``n_train``
        images."""
        return self.mnist_many(
            sizes,
            [seed],
            device,
            n_train=n_train,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            shuffled_labels=shuffled_labels,
            val_every_epochs=val_every_epochs,
        )[0]

    def mnist_many(
        self,
        sizes: Sequence[int],
        seeds: Sequence[int],
        device: torch.device,
        *,
        n_train: int | None,
        epochs: int,
        batch_size: int = MNIST_BATCH,
        lr: float = MNIST_LR,
        shuffled_labels: bool = False,
        val_every_epochs: int | None = None,
    ) -> list[MnistRun]:
        """:meth:`mnist` for each of ``seeds``: read from this session, else from the run cache;
        the seeds found in neither are trained together in one :func:`dlverify.train.fit_many`.

        Each run's numbers do not depend on which seeds it was trained with
        (each model computed on its own slice, one thread; ``fit_many``'s
        default unfused Adam), so a run read back equals a run trained now.
        """
        device = torch.device(device)
        settings = {
            "sizes": list(sizes),
            "n_train": n_train,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "shuffled_labels": shuffled_labels,
            "val_every_epochs": val_every_epochs,
        }

        def key(seed):
            return (
                "mnist",
                tuple(sizes),
                seed,
                str(device),
                n_train,
                epochs,
                batch_size,
                lr,
                shuffled_labels,
                val_every_epochs,
            )

        needed = [s for s in dict.fromkeys(int(s) for s in seeds) if key(s) not in self.cache]
        specs = {seed: self._mnist_spec(settings, seed, device) for seed in needed}
        stored = self.run_cache.get_or_create_many(
            specs, lambda batch: self._train_mnist_many(settings, batch, device)
        )
        for seed, payload in stored.items():
            model = mlp(list(sizes))
            model.load_state_dict(payload["model"])
            scores = (
                float(payload[k]) for k in ("train_loss", "train_acc", "test_loss", "test_acc")
            )
            self.cache[key(seed)] = MnistRun(
                model.to(device).eval(), History.from_dict(payload["history"]), *scores
            )
        return [self.cache[key(int(s))] for s in seeds]

    def _mnist_spec(self, settings: dict, seed: int, device: torch.device) -> dict:
        """Everything that determines one MNIST run, for the run cache's key."""
        label_seed = 10_000 + seed if settings["shuffled_labels"] else None
        return {
            "family": "hw1",
            "protocol_version": PROTOCOL_VERSION,
            "run": "mnist",
            **settings,
            "seed": seed,
            "init": "glorot_uniform",
            "optimizer": "adam",
            "label_seed": label_seed,
            "device": device.type,
            "dtype": str(self.train.inputs.dtype),
            "data": {name: file.sha256 for name, file in get_spec("mnist").files.items()},
        }

    def _train_mnist_many(
        self, settings: dict, seeds: list[int], device: torch.device
    ) -> dict[int, dict]:
        n_train, batch_size = settings["n_train"], settings["batch_size"]
        val_every = settings["val_every_epochs"]
        train = self.train if n_train is None else self.train.take(slice(0, n_train))
        if settings["shuffled_labels"]:
            trains = [
                random_labels(train, generator=torch.Generator().manual_seed(10_000 + s)).to(device)
                for s in seeds
            ]
        else:
            trains = [train.to(device)] * len(seeds)
        test = self.test.to(device)
        models = [
            initialize(
                mlp(settings["sizes"]), "glorot_uniform", generator=torch.Generator().manual_seed(s)
            ).to(device)
            for s in seeds
        ]
        steps_per_epoch = -(-len(train) // batch_size)
        histories = fit_many(
            models,
            trains if settings["shuffled_labels"] else trains[0],
            optimizer="adam",
            lr=settings["lr"],
            batch_size=batch_size,
            epochs=settings["epochs"],
            seeds=seeds,
            val=test if val_every else None,
            eval_every=val_every * steps_per_epoch if val_every else None,
        )
        payloads = {}
        for seed, model, history, data in zip(seeds, models, histories, trains):
            model.eval()
            train_loss, train_acc = evaluate(model, data)
            test_loss, test_acc = evaluate(model, test)
            payloads[seed] = {
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "history": history.as_dict(),
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
            }
        return payloads

    def interpolation(
        self, seed: int, device: torch.device, *, n_train: int | None
    ) -> InterpolationRun:
        """Model a (batch 64, lr 1e-3) from ``seed`` and model b (batch 1024, lr 1e-2) from
        ``1000 + seed``, 784-128-10 ReLU, Adam, 5 epochs, and loss/accuracy along the line between.

        The curves are kept in the run cache beside the models (evaluating
        every α is most of the cost once the models are trained).
        """
        from dlverify.probes import InterpolationResult, interpolate

        device = torch.device(device)
        sizes = (784, ONE_LAYER_WIDTH, 10)
        seeds = {"a": seed, "b": 1000 + seed}

        def model(name):
            return self.mnist(
                sizes,
                seeds[name],
                device,
                n_train=n_train,
                epochs=INTERPOLATION_EPOCHS,
                **INTERPOLATION[name],
            )

        def curves():
            a, b = model("a"), model("b")
            train = self.train.take(slice(0, INTERPOLATION_TRAIN_CURVE))
            found = {}
            for split, data in (("test", self.test), ("train", train)):
                result = interpolate(
                    a.model, b.model, F.cross_entropy, tuple(data.to(device)), INTERPOLATION_ALPHAS
                )
                found[split] = {
                    "loss": torch.from_numpy(result.loss.copy()),
                    "accuracy": torch.from_numpy(result.accuracy.copy()),
                }
            return found

        def settings(name):
            return {
                "sizes": list(sizes),
                "n_train": n_train,
                "epochs": INTERPOLATION_EPOCHS,
                **INTERPOLATION[name],
                "shuffled_labels": False,
                "val_every_epochs": None,
            }

        def make():
            spec = {
                "family": "hw1",
                "protocol_version": PROTOCOL_VERSION,
                "run": "interpolation",
                "seed": seed,
                "alphas": INTERPOLATION_ALPHAS.tolist(),
                "train_curve_images": INTERPOLATION_TRAIN_CURVE,
                "models": {
                    name: self._mnist_spec(settings(name), seeds[name], device)
                    for name in ("a", "b")
                },
            }
            stored = self.run_cache.get_or_create(spec, curves)
            results = [
                InterpolationResult(
                    INTERPOLATION_ALPHAS.copy(),
                    stored[split]["loss"].numpy(),
                    stored[split]["accuracy"].numpy(),
                )
                for split in ("test", "train")
            ]
            return InterpolationRun(model("a"), model("b"), *results)

        return self._cached(("interpolation", seed, str(device), n_train), make)

    def interpolations(
        self, seeds: Sequence[int], device: torch.device, *, n_train: int | None
    ) -> dict[int, InterpolationRun]:
        """:meth:`interpolation` for each seed; missing models a and b each trained in one batch."""
        sizes, epochs = (784, ONE_LAYER_WIDTH, 10), INTERPOLATION_EPOCHS
        self.mnist_many(
            sizes, list(seeds), device, n_train=n_train, epochs=epochs, **INTERPOLATION["a"]
        )
        self.mnist_many(
            sizes,
            [1000 + s for s in seeds],
            device,
            n_train=n_train,
            epochs=epochs,
            **INTERPOLATION["b"],
        )
        return {s: self.interpolation(s, device, n_train=n_train) for s in seeds}


def _critical_points(runs: int, device: torch.device) -> list[CriticalPoint]:
    from dlverify.probes import eigenvalues, grad_norm, minimal_ratio, near_zero_weight_ratio

    data = function_problem("sin").to(device)
    trained = train_stacked(
        NEAR_ZERO_SIZES, data, tuple(range(runs)), epochs=NEAR_ZERO_TRAIN_EPOCHS, device=device
    )
    data64 = (data.inputs.double(), data.targets.double())
    points = []
    for index, seed in enumerate(trained.seeds):
        net = minimize_grad_norm(trained.model(index).to(device), data)
        loss = float(F.mse_loss(net(data64[0]), data64[1]).detach())
        points.append(
            CriticalPoint(
                seed=seed,
                loss=loss,
                grad_norm=grad_norm(net, F.mse_loss, data64),
                initial_grad_norm=float(trained.grad_norm[0, index]),
                minimal_ratio=minimal_ratio(net, F.mse_loss, data64),
                near_zero_weight_ratio=near_zero_weight_ratio(net, NEAR_ZERO_WEIGHT_THRESHOLD),
                # 31 parameters: Lanczos spans the whole space, so both ends are exact.
                smallest_eigenvalue=float(
                    eigenvalues(net, F.mse_loss, data64, which="smallest", tol=1e-10).values[0]
                ),
                largest_eigenvalue=float(eigenvalues(net, F.mse_loss, data64, tol=1e-10).values[0]),
            )
        )
    return points
