"""lab2's protocol, shared by every lab2 claim.

An MNIST MLP with three hidden ReLU layers of 100 units and a softmax output,
Adam (lr 1e-3, Keras defaults), batch 512, 20 epochs, sparse categorical
cross-entropy, validated on the 10 000 test images. Weights start from Keras'
default for ``Dense`` (Glorot uniform, zero biases) unless an initializer is
being studied. Each (configuration, seed, device) is trained once per session
and shared by every claim that needs it.

The 13 configurations of the report and how each is implemented (choices the
report leaves open follow Keras/TF2 defaults, as the report used TensorFlow):

``none``
    the network as above (§3.1).
``l1`` / ``l2``
    Keras ``regularizers.l1(f)`` / ``l2(f)`` (``f·Σ|W|`` / ``f·ΣW²``, no ½) on
    the kernels of the three hidden ``Dense`` layers — the report puts its
    regularizers "with the layers" of the "three layers, each with 100
    neurons"; the output layer and the biases are not penalized (§3.2–3.3).
    The report does not give ``f``. Keras' default 0.01 does not reproduce its
    runs: under the documented protocol (60 000 images, batch 512, 20 epochs,
    seed 0) ``l1(0.01)`` never learns (train 2.418, val 2.418, val acc 0.1135,
    chance) where the report's L1 run reached (0.1973, 0.2265), and
    ``l2(0.01)`` ends at (0.406, 0.394) against the report's (0.0547, 0.1126).
    Measured the same way, ``f = 1e-4`` gives (0.198, 0.218) for L1 and
    (0.0575, 0.121) for L2 — the report's numbers; 1e-3 gave (0.444, 0.433)
    and (0.149, 0.169), 3e-4 (0.287, 0.289) and (0.097, 0.145). So
    ``f = 1e-4`` for both (:data:`PENALTY_FACTORS`).
``augmentation``
    random translation ±10 % (both axes), zoom ±10 %, rotation ±10° per image
    and per step (:class:`dlverify.train.augment.RandomAffine`, Keras' random
    layers with their reflect fill and bilinear interpolation) (§3.4).
``input_noise_0.2`` / ``input_noise_0.05``
    Gaussian noise of *variance* 0.2 / 0.05 (std √0.2 ≈ 0.447 / √0.05 ≈ 0.224,
    the report names the variance) added to the training images only, no
    clipping. Drawn **once** per seed, as a fixed noisy copy of the training
    set, not per step: the report "adds noise to the train data" and explains
    the near-zero train loss (0.0006) by the model learning "to fit the noise in
    the train data", which only a fixed draw allows (fresh noise every step,
    like ``AdditiveDataNoise`` or Keras' ``GaussianNoise`` layer, cannot be
    memorized) (§3.5).
``label_noise``
    one-hot training targets; per image one value ``ε ~ N(0, 0.1)``, read as
    *variance* 0.1 (std √0.1 ≈ 0.316) because the report writes "mean 0 and
    variance 0.1", subtracted from the true class and ``ε/9`` added to each
    other class (rows still sum to 1), drawn once per seed as the report
    preprocesses the labels before ``fit``; categorical cross-entropy on these
    targets (torch's ``cross_entropy`` takes probability targets). Validation
    keeps the clean labels (§3.6).
``dropout``
    ``Dropout(0.5)`` after each hidden ReLU (§3.7).
``zeros``, ``ones``, ``random``, ``glorot``, ``he``
    the baseline network with every kernel from Keras' ``Zeros``, ``Ones``,
    ``RandomNormal(stddev=0.05)``, ``GlorotNormal``, ``HeNormal`` (biases zero,
    Keras' ``bias_initializer`` default) (§4).

Losses are recorded as Keras reports them: the train loss is the running mean
of the minimized objective over each epoch (penalty included, dropout active,
noisy inputs/targets), the validation loss is the cross-entropy on the clean
validation set plus the weight penalty at the end of the epoch (Keras adds
``model.losses`` to the validation loss too). The plain validation
cross-entropy is kept as ``val_ce`` for comparisons across techniques.

What a run stores besides its curves and final weights (read by the
catalogue-v2 claims): on a fixed probe batch of 512 training images
(:data:`PROBE_SIZE`, drawn once with :data:`PROBE_SEED` from the training images
as run), the mean absolute activation of each layer and the per-layer kernel
gradient norms of the clean cross-entropy before the first step. The
initializer runs (:data:`INITIALIZERS`) also keep those gradient norms after
every epoch and every mini-batch objective (``History.step_loss``); the other
configurations do not, as no claim reads them there and they cost about a
tenth of a run.

Long runs: ``none:long`` and ``augmentation:long`` are ``none`` and
``augmentation`` trained for ``long_epochs`` (60 under the default profile, 100
under ``full``: the catalogue's "60–100 epochs" for
lab2.augmentation-needs-more-epochs). Adam has no schedule and each model's data
order and augmentation come from its own generators consumed epoch after epoch,
so the first 20 epochs of a long run are the 20-epoch run, number for number
(the 20-epoch runs are nevertheless trained on their own: other claims ask for
``none`` on up to 10 seeds, the long runs are needed on only as many seeds as
their claim takes, so sharing the prefix would cost more than it saves).

Sized networks: ``none@WxD`` / ``dropout@WxD`` are the baseline network and its
dropout-0.5 twin with D hidden ReLU layers of W units (``none@100x3`` is
``none``), for lab2.dropout-helps-larger-nets.

Scaling (default profile): the documented protocol is 13 configurations × seeds
× 20 epochs over 60 000 images. Under the default profile each run trains on a
fixed subset of 10 000 training images (the same for every configuration and
seed) with the batch scaled in proportion (512 · 10 000 / 60 000 ≈ 85), so a
run keeps the documented 20 epochs *and* the documented 118 Adam steps per
epoch (2 360 steps): each image is seen 20 times, as in the report, and the
optimizer takes as many steps of size ~lr. The price is more gradient noise
(smaller batch) and a smaller training set, which makes overfitting easier, not
harder. ``--profile full`` trains on all 60 000 images with batch 512. The
claims that read only runs drawing no augmentation, dropout or label noise
(the initializers, ``none``, ``l1``, ``l2`` and the input-noise levels, whose
noise is drawn once per seed) are decided on the documented protocol under
every profile (a second ``Lab2Runs`` on all the images, the
``lab2_documented`` fixture of ``claims/test_lab2.py``): theirs are the
cheapest runs of the study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dlverify.data import TensorData
from dlverify.data.registry import get_spec
from dlverify.models import initialize, mlp
from dlverify.probes import per_layer_grad_norms
from dlverify.report.figures import subplots
from dlverify.runcache import RunCache
from dlverify.train import History, L1Penalty, L2Penalty, PenaltyRecorder, fit_many
from dlverify.train.augment import RandomAffine

# Part of every run's cache key: bump it when a change here changes what a run produces.
# 4: runs store step-0 activation and gradient-norm probes (initializer runs: also per epoch,
#    and step losses); long runs; sized networks.
PROTOCOL_VERSION = 4
SIZES = (784, 100, 100, 100, 10)
EPOCHS, BATCH_SIZE, LR = 20, 512, 1e-3
FULL_TRAIN_SIZE = 60_000
DEFAULT_SUBSET = 10_000
SUBSET_SEED = (
    0  # the default profile's training subset: the same images for every configuration and seed
)
PENALTY_FACTORS = {
    "l1": 1e-4,
    "l2": 1e-4,
}  # the factors that reproduce the report's L1 and L2 runs (see above)
HIDDEN_LAYERS = (0, 1, 2)  # the penalized kernels: the three hidden Dense layers, not the output
INPUT_NOISE_VARIANCES = {"input_noise_0.2": 0.2, "input_noise_0.05": 0.05}
LABEL_NOISE_VARIANCE = 0.1
DROPOUT = 0.5
AUGMENTATION = {"translation": 0.1, "zoom": 0.1, "rotation_degrees": 10.0}
LONG_CONFIGURATIONS = ("none", "augmentation")  # also trained for long_epochs, as "name:long"
# The fixed probe batch for gradient norms and activations: one batch's worth of training images.
PROBE_SIZE, PROBE_SEED = 512, 1

TECHNIQUES = (
    "none",
    "l1",
    "l2",
    "augmentation",
    "input_noise_0.2",
    "input_noise_0.05",
    "label_noise",
    "dropout",
)
INITIALIZERS = {  # technique name -> (scheme, kwargs); "random" is Keras RandomNormal(stddev=0.05)
    "zeros": ("zeros", {}),
    "ones": ("ones", {}),
    "random": ("normal", {"std": 0.05}),
    "glorot": ("glorot_normal", {}),
    "he": ("he_normal", {}),
}
CONFIGURATIONS = TECHNIQUES + tuple(INITIALIZERS)
# The configurations that also run as ``name@WxD`` (other widths and depths).
SIZED = ("none", "dropout")


def parse_configuration(name: str) -> tuple[str, tuple[int, ...]]:
    """``"dropout@200x3"`` → ``("dropout", (784, 200, 200, 200, 10))``.

    A plain name has :data:`SIZES`; ``"none:long"`` is ``none`` (a long run).
    """
    base, _, shape = name.removesuffix(":long").partition("@")
    if name.endswith(":long") and (shape or base not in LONG_CONFIGURATIONS):
        raise ValueError(f"long runs are kept for {LONG_CONFIGURATIONS} only, not {name!r}")
    if not shape:
        if base not in CONFIGURATIONS:
            raise ValueError(
                f"unknown lab2 configuration {name!r}; choose one of "
                f"{CONFIGURATIONS}, or {SIZED} as 'name@WIDTHxDEPTH'"
            )
        return base, SIZES
    width, _, depth = shape.partition("x")
    valid = width.isdigit() and depth.isdigit() and int(width) >= 1 and int(depth) >= 1
    if base not in SIZED or not valid:
        raise ValueError(
            f"a sized lab2 configuration is one of {SIZED} followed by '@WIDTHxDEPTH' "
            f"(e.g. 'dropout@200x3'), got {name!r}"
        )
    return base, (SIZES[0],) + (int(width),) * int(depth) + (SIZES[-1],)


def sized(name: str, width: int, depth: int) -> str:
    """``name`` with ``depth`` hidden layers of ``width`` units (at 100×3: plain ``name``)."""
    if (SIZES[0],) + (width,) * depth + (SIZES[-1],) == SIZES:
        return name
    return f"{name}@{width}x{depth}"


# The report's final (train, val) losses, Tables 1-13. Table 6 (variance 0.05) repeats Table 5.
REPORTED_LOSSES = {
    "none": (0.0099, 0.0922),
    "l1": (0.1973, 0.2265),
    "l2": (0.0547, 0.1126),
    "augmentation": (0.023, 0.1141),
    "input_noise_0.2": (0.0006, 0.1326),
    "input_noise_0.05": (0.0006, 0.1326),
    "label_noise": (0.4744, 0.1448),
    "dropout": (0.0118, 0.095),
    "zeros": (2.301, 2.301),
    "ones": (6223, 6089),
    "random": (0.0143, 0.0959),
    "glorot": (0.0085, 0.0988),
    "he": (0.0126, 0.0927),
}
LABELS = {
    "none": "no regularization",
    "l1": "L1 (0.01)",
    "l2": "L2 (0.01)",
    "augmentation": "augmentation",
    "input_noise_0.2": "input noise var 0.2",
    "input_noise_0.05": "input noise var 0.05",
    "label_noise": "label noise",
    "dropout": "dropout 0.5",
    "zeros": "zeros init",
    "ones": "ones init",
    "random": "random normal init",
    "glorot": "Glorot normal init",
    "he": "He normal init",
}


def weight_penalty(name: str) -> L1Penalty | L2Penalty | None:
    """Keras ``l1`` / ``l2`` on the three hidden kernels, or None for the other configurations."""
    if name == "l1":
        return L1Penalty(PENALTY_FACTORS["l1"], layers=HIDDEN_LAYERS)
    if name == "l2":
        return L2Penalty(PENALTY_FACTORS["l2"], layers=HIDDEN_LAYERS)
    return None


def noise_generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator for noise drawn once per seed, on a stream apart from init, shuffling and augmentation."""
    return torch.Generator().manual_seed(1_000_003 * (stream + 1) + seed)


def noisy_inputs(data: TensorData, variance: float, generator: torch.Generator) -> TensorData:
    """A fixed noisy copy of ``data``: ``x + √variance · z``, ``z ~ N(0, 1)`` drawn once (no clipping)."""
    z = torch.randn(data.inputs.shape, generator=generator, dtype=torch.float32).to(
        data.device, data.inputs.dtype
    )
    return TensorData(data.inputs + math.sqrt(variance) * z, data.targets)


def noisy_labels(
    data: TensorData, variance: float, generator: torch.Generator, num_classes: int = 10
) -> TensorData:
    """The report's output noise: one-hot targets, ``ε ~ N(0, variance)`` per image taken from the
    true class and ``ε/(num_classes − 1)`` added to each other class; each row still sums to 1."""
    eps = math.sqrt(variance) * torch.randn(len(data), 1, generator=generator, dtype=torch.float32)
    eps = eps.to(data.device)
    one_hot = F.one_hot(data.targets, num_classes).to(torch.float32)
    targets = one_hot * (1.0 - eps) + (1.0 - one_hot) * eps / (num_classes - 1)
    return TensorData(data.inputs, targets)


def kernel_names(model: nn.Module) -> list[str]:
    """The parameter names of the Linear kernels, input to output (``"1.weight"``, ...)."""
    return [
        f"{name}.weight" for name, module in model.named_modules() if isinstance(module, nn.Linear)
    ]


def kernel_grad_norms(model: nn.Module, probe: TensorData) -> list[float]:
    """``‖∂L/∂W_l‖₂`` per Linear kernel ``W_l``, ``L`` the mean cross-entropy on ``probe``.

    The mode is switched for the measurement and restored (dropout off: the
    same deterministic function for every configuration).
    """
    training = model.training
    model.eval()
    try:
        norms = per_layer_grad_norms(model, F.cross_entropy, (probe.inputs, probe.targets))
    finally:
        model.train(training)
    return [norms[name] for name in kernel_names(model)]


@torch.no_grad()
def activation_magnitudes(model: nn.Module, inputs: torch.Tensor) -> list[float]:
    """Mean ``|a|`` over batch and units: each hidden ReLU's output, then the logits (eval mode)."""
    outputs = []
    modules = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    handles = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(float(out.abs().mean())))
        for m in modules
    ]
    training = model.training
    model.eval()
    try:
        logits = model(inputs)
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return outputs + [float(logits.abs().mean())]


class GradientNormTrace:
    """A ``fit_many`` callback: :func:`kernel_grad_norms` on the probe batch at every evaluation."""

    def __init__(self, probe: TensorData) -> None:
        self.probe, self.values = probe, []

    def after_evaluation(self, history: History, model: nn.Module) -> None:
        self.values.append(kernel_grad_norms(model, self.probe))


@dataclass
class Lab2Run:
    """One trained configuration: Keras-style loss curves, accuracy, the model."""

    name: str
    seed: int
    history: History
    model: nn.Module
    penalty: list[float] = field(default_factory=list)
    # per Linear kernel, on the probe batch: before step 1 (initializer runs: then after every epoch)
    grad_norms: list[list[float]] = field(default_factory=list)
    # mean |a| of each hidden layer, then of the logits, on the probe batch before step 1
    activations: list[float] = field(default_factory=list)

    @property
    def train_loss(self) -> list[float]:
        """Keras' ``loss``: the running mean of the minimized objective over each epoch."""
        return self.history.train_loss

    @property
    def val_ce(self) -> list[float]:
        """Cross-entropy on the clean validation set (the same loss for every configuration)."""
        return self.history.val_loss

    @property
    def val_loss(self) -> list[float]:
        """Keras' ``val_loss``: validation cross-entropy plus the weight penalty, if any."""
        if not self.penalty:
            return self.history.val_loss
        return [v + p for v, p in zip(self.history.val_loss, self.penalty)]

    @property
    def val_acc(self) -> list[float]:
        return self.history.val_acc

    @property
    def gap(self) -> float:
        """|final val loss − final train loss|, the distance between the report's two curves."""
        return abs(self.val_loss[-1] - self.train_loss[-1])

    @property
    def kernel_grad_norm(self) -> list[float]:
        """``‖∂L/∂W‖₂`` over all kernels together (probe batch): before step 1, then per epoch."""
        return [math.sqrt(sum(g * g for g in norms)) for norms in self.grad_norms]

    def payload(self) -> dict:
        """What the run cache stores: the curves, the probes, the final weights."""
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return {
            "history": self.history.as_dict(),
            "penalty": list(self.penalty),
            "model": state,
            "grad_norms": [list(g) for g in self.grad_norms],
            "activations": list(self.activations),
        }

    @classmethod
    def from_payload(cls, name: str, seed: int, payload: dict, model: nn.Module) -> Lab2Run:
        """The run rebuilt from :meth:`payload` into ``model`` (a fresh network of the configuration's shape)."""
        model.load_state_dict(payload["model"])
        return cls(
            name,
            seed,
            History.from_dict(payload["history"]),
            model.eval(),
            list(payload["penalty"]),
            [list(g) for g in payload["grad_norms"]],
            list(payload["activations"]),
        )

    def curves(self) -> History:
        """A History with the Keras-style curves, for :func:`dlverify.report.figures.train_val_curves`."""
        return History(
            epoch=list(self.history.epoch),
            train_loss=list(self.train_loss),
            val_loss=list(self.val_loss),
        )


@dataclass
class Lab2Runs:
    """Trains each lab2 configuration once per (seed, device) and hands it to every claim that asks.

    ``subset`` is the number of training images (None: all of them); the batch
    is scaled with it so every run takes the documented 118 steps per epoch.
    ``long_epochs`` (None: no long runs) is how long :meth:`long_runs` trains
    the :data:`LONG_CONFIGURATIONS`.
    """

    train: TensorData
    val: TensorData
    subset: int | None = None
    epochs: int = EPOCHS
    long_epochs: int | None = None
    run_cache: RunCache = field(default_factory=lambda: RunCache(None))
    cache: dict = field(default_factory=dict)
    _data: dict = field(default_factory=dict)

    @property
    def train_size(self) -> int:
        return len(self.train) if self.subset is None else self.subset

    @property
    def batch_size(self) -> int:
        """512 on the full set; in proportion on a subset (same number of steps per epoch)."""
        return (
            BATCH_SIZE if self.subset is None else round(BATCH_SIZE * self.subset / FULL_TRAIN_SIZE)
        )

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_size / self.batch_size)

    def protocol(self) -> dict:
        """The protocol as run, for ``claim.setup``."""
        return {
            "network": "784-100-100-100-10 ReLU, softmax",
            "optimizer": "adam (Keras defaults)",
            "lr": LR,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "train_images": self.train_size,
            "steps_per_epoch": self.steps_per_epoch,
            "validation": f"MNIST test set ({len(self.val)})",
            "default_init": "glorot_uniform (Keras Dense default), zero biases",
        }

    def scaling(self) -> str | None:
        """How this protocol departs from the documented one, or None when it is the documented one."""
        if self.subset is None:
            return None
        return (
            f"training set: a fixed subset of {self.subset} of the 60 000 MNIST training images (the same for "
            f"every configuration and seed), batch {BATCH_SIZE} → {self.batch_size} in proportion, so the "
            f"documented 20 epochs and 118 Adam steps per epoch ({self.epochs * self.steps_per_epoch} steps) "
            f"are kept; validation on all 10 000 test images"
        )

    def epochs_trained(self, name: str) -> int:
        """How many epochs configuration ``name`` is trained for (long runs: ``long_epochs``)."""
        if name.endswith(":long"):
            if self.long_epochs is None:
                raise ValueError(f"{name!r} needs long_epochs; build Lab2Runs(..., long_epochs=N)")
            return max(self.epochs, self.long_epochs)
        return self.epochs

    def train_data(self, device: torch.device) -> TensorData:
        """The training images as run (the subset under the default profile), on ``device``."""
        key = str(device)
        if key not in self._data:
            data = self.train
            if self.subset is not None:
                order = torch.randperm(
                    len(data), generator=torch.Generator().manual_seed(SUBSET_SEED)
                )
                data = data.take(order[: self.subset])
            picker = torch.Generator().manual_seed(PROBE_SEED)
            probe = data.take(torch.randperm(len(data), generator=picker)[:PROBE_SIZE])
            self._data[key] = (data.to(device), self.val.to(device), probe.to(device))
        return self._data[key][0]

    def _val_data(self, device: torch.device) -> TensorData:
        self.train_data(device)
        return self._data[str(device)][1]

    def probe_data(self, device: torch.device) -> TensorData:
        """The fixed probe batch: :data:`PROBE_SIZE` training images as run (:data:`PROBE_SEED`)."""
        self.train_data(device)
        return self._data[str(device)][2]

    def run(self, name: str, seed: int, device: torch.device) -> Lab2Run:
        """The configuration ``name`` (one of :data:`CONFIGURATIONS`) trained from ``seed`` on ``device``."""
        return self.runs(name, [seed], device)[0]

    def runs(self, name: str, seeds, device: torch.device) -> list[Lab2Run]:
        """The configuration ``name`` trained from each of ``seeds``; the missing ones trained together.

        A run is read from this session's memory, else from the run cache; the
        seeds found in neither are trained in one :func:`dlverify.train.fit_many`
        call and stored one by one. Each run's numbers do not depend on which
        other seeds it was trained with (each model is computed on its own
        slice, one thread), so a run read back equals a run trained now.
        """
        return self._runs(name, seeds, torch.device(device))

    def long_runs(self, name: str, seeds, device: torch.device) -> list[Lab2Run]:
        """One of :data:`LONG_CONFIGURATIONS` trained for ``long_epochs``, from each seed."""
        if name not in LONG_CONFIGURATIONS or self.long_epochs is None:
            raise ValueError(
                f"long runs are kept for {LONG_CONFIGURATIONS} when long_epochs is "
                f"set (long_epochs={self.long_epochs}, asked for {name!r}); "
                f"use runs()"
            )
        return self._runs(f"{name}:long", seeds, torch.device(device))

    def _runs(self, name: str, seeds, device: torch.device) -> list[Lab2Run]:
        parse_configuration(name)
        needed = [
            seed for seed in dict.fromkeys(seeds) if (name, seed, str(device)) not in self.cache
        ]
        specs = {seed: self._spec(name, seed, device) for seed in needed}
        stored = self.run_cache.get_or_create_many(
            specs, lambda batch: self._fit_many(name, batch, device)
        )
        for seed, payload in stored.items():
            self.cache[name, seed, str(device)] = Lab2Run.from_payload(
                name, seed, payload, self._model(name).to(device)
            )
        return [self.cache[name, seed, str(device)] for seed in seeds]

    def _spec(self, name: str, seed: int, device: torch.device) -> dict:
        """Everything that determines one run, for the run cache's key."""
        return {
            "family": "lab2",
            "protocol_version": PROTOCOL_VERSION,
            "configuration": name,
            "seed": seed,
            "device": device.type,
            "dtype": str(self.train.inputs.dtype),
            **self.protocol(),
            "sizes": list(parse_configuration(name)[1]),
            "epochs_trained": self.epochs_trained(name),
            "probe": {"size": PROBE_SIZE, "seed": PROBE_SEED},
            "data": {name: file.sha256 for name, file in get_spec("mnist").files.items()},
        }

    @staticmethod
    def _model(name: str) -> nn.Module:
        base, sizes = parse_configuration(name)
        return mlp(sizes, dropout=DROPOUT if base == "dropout" else 0.0)

    def init_run(self, name: str, seed: int, device: torch.device) -> Lab2Run:
        """Baseline network (no regularization) started from one of the report's initializers."""
        if name not in INITIALIZERS:
            raise ValueError(f"unknown initializer {name!r}; choose one of {tuple(INITIALIZERS)}")
        return self.run(name, seed, device)

    def _fit_many(self, name: str, seeds: list[int], device: torch.device) -> dict[int, dict]:
        """Train configuration ``name`` from each of ``seeds`` at once; the run cache's payload per seed."""
        base, _ = parse_configuration(name)
        scheme, kwargs = INITIALIZERS.get(base, ("glorot_uniform", {}))
        models = [
            initialize(
                self._model(name), scheme, generator=torch.Generator().manual_seed(seed), **kwargs
            ).to(device)
            for seed in seeds
        ]
        probe = self.probe_data(device)
        initial = [
            (activation_magnitudes(m, probe.inputs), kernel_grad_norms(m, probe)) for m in models
        ]
        train = self.train_data(device)
        if base in INPUT_NOISE_VARIANCES:
            variance = INPUT_NOISE_VARIANCES[base]
            train = [
                noisy_inputs(train, variance, noise_generator(seed, stream=0)) for seed in seeds
            ]
        if base == "label_noise":
            train = [
                noisy_labels(train, LABEL_NOISE_VARIANCE, noise_generator(seed, stream=1))
                for seed in seeds
            ]
        penalty = weight_penalty(base)
        epochs = self.epochs_trained(name)
        traces = [[PenaltyRecorder(penalty)] if penalty is not None else [] for _ in seeds]
        traced = (
            base in INITIALIZERS
        )  # gradient norms per epoch and step losses: initializer runs only
        grads = [[GradientNormTrace(probe)] if traced else [] for _ in seeds]
        transform = RandomAffine(**AUGMENTATION) if base == "augmentation" else None
        histories = fit_many(
            models,
            train,
            optimizer="adam",
            lr=LR,
            batch_size=self.batch_size,
            epochs=epochs,
            seeds=seeds,
            val=self._val_data(device),
            penalty=penalty,
            transform=transform,
            record_steps=traced,
            callbacks=[[*t, *g] for t, g in zip(traces, grads)],
        )
        return {
            seed: Lab2Run(
                name,
                seed,
                history,
                model,
                trace[0].values if trace else [],
                [grad0, *(grad[0].values if grad else [])],
                acts,
            ).payload()
            for seed, history, model, trace, grad, (acts, grad0) in zip(
                seeds, histories, models, traces, grads, initial
            )
        }


def panel_figure(runs: dict[str, Lab2Run], *, title: str, logy: bool = False, columns: int = 4):
    """One panel per configuration: train (solid) and val (dashed) loss per epoch, as the report's figures."""
    rows = math.ceil(len(runs) / columns)
    fig, axes = subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for ax, (name, run) in zip(axes.flat, runs.items()):
        ax.plot(run.history.epoch, run.train_loss, "-", color="C0", label="train")
        ax.plot(run.history.epoch, run.val_loss, "--", color="C1", label="val")
        reported = REPORTED_LOSSES.get(name)
        if reported is not None:
            ax.axhline(reported[0], color="C0", linewidth=0.6, linestyle=":")
            ax.axhline(reported[1], color="C1", linewidth=0.6, linestyle=":")
        ax.set_title(f"{LABELS.get(name, name)} (seed {run.seed})", fontsize=8)
        if logy:  # symlog where a curve goes negative (label noise's unbounded cross-entropy)
            negative = min(min(run.train_loss), min(run.val_loss)) <= 0
            ax.set_yscale("symlog", linthresh=1e-2) if negative else ax.set_yscale("log")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title} (dotted: the report's final values)", fontsize=10)
    fig.supxlabel("epoch", fontsize=8)
    fig.supylabel("loss", fontsize=8)
    fig.tight_layout()
    return fig


def loss_table(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Final train/val losses per configuration (mean over seeds) next to the report's Tables 1-13."""
    return {
        name: {
            **values,
            "reported_train": REPORTED_LOSSES[name][0],
            "reported_val": REPORTED_LOSSES[name][1],
        }
        for name, values in rows.items()
    }


def table_figure(table: dict[str, dict[str, float]], *, title: str):
    """The loss table as a figure: measured (mean over seeds) vs reported final losses."""
    columns = ("train (ours)", "val (ours)", "train (report)", "val (report)")
    cells = [
        [
            f"{row['train']:.4g}",
            f"{row['val']:.4g}",
            f"{row['reported_train']:.4g}",
            f"{row['reported_val']:.4g}",
        ]
        for row in table.values()
    ]
    fig, ax = subplots(figsize=(7.0, 0.32 * len(table) + 0.9))
    ax.axis("off")
    ax.table(
        cellText=cells,
        rowLabels=[LABELS.get(name, name) for name in table],
        colLabels=columns,
        loc="center",
        cellLoc="right",
    )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
