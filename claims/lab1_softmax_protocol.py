"""lab1's Fashion-MNIST softmax-regression protocol, shared by the lab1 claims.

Softmax (multinomial logistic) regression ``784 → 10`` on Fashion-MNIST with
inputs in [0, 1], sparse categorical cross-entropy. The report fixes the
optimizers (SGD, Adam, RMSprop), the validation splits (0.1 and 0.15), 10
epochs for the optimizer comparison and 100 epochs for the RMSprop run. What
it leaves open is taken from TensorFlow 2 / Keras defaults, once, for every
lab1 claim:

* batch size 32 (``Model.fit``), reshuffled every epoch, last batch smaller;
* kernel ``glorot_uniform``, bias zeros (``Dense``);
* one learning rate for the three optimizers (the catalogue's protocol:
  "same lr for all three"): 1e-3, Keras' default for Adam and RMSprop, with
  the other Keras settings (RMSprop ρ 0.9, ε 1e-7; Adam ε 1e-7; SGD without
  momentum) from :mod:`dlverify.train.optimizers`;
* ``validation_split`` takes the *last* 10 % (or 15 %) of the training set,
  before shuffling, as Keras does (:meth:`TensorData.split`);
* no weight penalty. The report says "Although L2 regularization was used"
  (catalogue v2) but gives no factor, and the catalogue's protocol has none.
  The only factor anywhere is in the report's linked code: ``λ·‖W‖²/2`` with
  λ = 1e-3 (``tf.nn.l2_loss``, weights only), in a 100-epoch RMSprop run that
  also uses batch 128, zero init, the *first* 10 % as validation, and the
  penalty inside the logged losses. That code is not what produced the
  report's numbers (it has no SGD/Adam comparison, and its runs reach about
  85 % where the report's 10-epoch runs log about 60 %), and borrowing its
  penalty alone would make a protocol that no one ran; so the claims keep
  the Keras default (no regularizer) with the catalogue, and do not guess a
  factor. A one-seed check of what the choice moves (RMSprop, 10 epochs,
  with and without the linked code's penalty): the penalty shrinks ‖W‖
  about fourfold and lowers the train and validation accuracies by about a
  point, which brings none of them nearer the report's.

Several seeds are trained *together* by :func:`dlverify.train.fit_many`:
model ``s`` follows the same equations as ``fit(softmax_regression(),
seed=s)`` (the same initial draw and the same per-epoch ``randperm``), and
what it reaches does not depend on which other seeds it was trained with.
Each run is stored in the run cache (:class:`Lab1Softmax`), so every claim —
on any xdist worker, in this session or a later one — reads the same run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from dlverify.data import TensorData
from dlverify.data.registry import get_spec
from dlverify.models import initialize, softmax_regression
from dlverify.runcache import RunCache
from dlverify.train import History, fit_many

EPOCHS = 10
LONG_EPOCHS = 100  # the report's long RMSprop run (Fig. 6)
BATCH_SIZE = 32
LR = 1e-3
VAL_SPLIT = 0.1
INIT = "glorot_uniform"
OPTIMIZERS = ("sgd", "adam", "rmsprop")
N_FEATURES, N_CLASSES = 784, 10
#: Bumped whenever this module changes what a run produces (part of every run-cache key).
PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class Config:
    """One softmax-regression configuration (everything but the seed)."""

    optimizer: str = "rmsprop"
    batch_size: int = BATCH_SIZE
    val_split: float = VAL_SPLIT
    lr: float = LR


REFERENCE = Config()  # the report's main run: RMSprop, batch 32, 0.1 split


@dataclass
class SeedRun:
    """One seed of a configuration: its per-epoch history and the weights after every epoch."""

    seed: int
    history: History
    weights: torch.Tensor = field(repr=False)  # (epochs, 10, 784) on the CPU: after every epoch
    biases: torch.Tensor = field(repr=False)  # (epochs, 10)

    @property
    def epochs(self) -> int:
        return len(self.weights)

    def model(self, epoch: int | None = None) -> nn.Sequential:
        """The softmax regression as it was after ``epoch`` (default: the last), in eval mode, on the CPU."""
        index = (epoch or self.epochs) - 1
        model = softmax_regression(N_FEATURES, N_CLASSES)
        with torch.no_grad():
            model[1].weight.copy_(self.weights[index])
            model[1].bias.copy_(self.biases[index])
        return model.eval()

    def upto(self, epoch: int) -> SeedRun:
        """The run as if it had stopped after ``epoch`` epochs (the same numbers: training is sequential)."""
        if not 1 <= epoch <= self.epochs:
            raise ValueError(f"this run has {self.epochs} epochs, asked for {epoch}")
        trimmed = History(
            **{name: values[:epoch] for name, values in self.history.as_dict().items()}
        )
        return replace(
            self, history=trimmed, weights=self.weights[:epoch], biases=self.biases[:epoch]
        )


class WeightsPerEpoch:
    """A ``fit_many`` callback: the softmax layer's weight and bias after every epoch (CPU copies)."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []

    def after_evaluation(self, history: History, model: nn.Module) -> None:
        self.weights.append(model[1].weight.detach().cpu().clone())
        self.biases.append(model[1].bias.detach().cpu().clone())


def train_seeds(
    train: TensorData,
    val: TensorData,
    seeds,
    config: Config,
    *,
    epochs: int,
    device: torch.device | str = "cpu",
) -> dict[int, dict]:
    """Train one softmax regression per seed, all together; the run cache's payload per seed.

    History per seed, per epoch, as Keras prints it (:func:`fit_many`):
    ``train_loss``/``train_acc`` are running means over the epoch's
    mini-batches, ``val_*`` the validation set after the epoch, ``seconds`` the
    epoch's training time for all seeds together.
    """
    device = torch.device(device)
    models = [
        initialize(
            softmax_regression(N_FEATURES, N_CLASSES),
            INIT,
            generator=torch.Generator().manual_seed(seed),
        ).to(device)
        for seed in seeds
    ]
    recorders = [WeightsPerEpoch() for _ in seeds]
    histories = fit_many(
        models,
        train.to(device),
        optimizer=config.optimizer,
        lr=config.lr,
        batch_size=config.batch_size,
        epochs=epochs,
        seeds=list(seeds),
        val=val.to(device),
        callbacks=[[recorder] for recorder in recorders],
    )
    return {
        seed: {
            "history": history.as_dict(),
            "weights": torch.stack(recorder.weights),
            "biases": torch.stack(recorder.biases),
        }
        for seed, history, recorder in zip(seeds, histories, recorders)
    }


def epoch_seconds(
    train: TensorData, batch_sizes, *, repeats: int, device: torch.device | str = "cpu"
) -> dict[int, list[float]]:
    """Seconds of one training epoch of one softmax regression (RMSprop), per batch size: ``repeats`` each.

    Timed with :func:`dlverify.train.fit` — one model, one optimizer step per
    mini-batch, as the report's Keras run (and any plain PyTorch loop) trains
    — not with the seeds-together trainer, whose cost per epoch hardly depends
    on the batch size. The sizes are interleaved within each repetition so
    that a change of machine load falls on every size alike; the first,
    untimed epoch warms up the allocator and the kernels.
    """
    from dlverify.train import fit

    train = train.to(device)
    seconds: dict[int, list[float]] = {bs: [] for bs in batch_sizes}
    for repeat in range(-1, repeats):
        for bs in batch_sizes:
            model = initialize(
                softmax_regression(N_FEATURES, N_CLASSES),
                INIT,
                generator=torch.Generator().manual_seed(max(repeat, 0)),
            ).to(device)
            history = fit(
                model,
                train,
                optimizer="rmsprop",
                lr=LR,
                batch_size=bs,
                epochs=1,
                seed=max(repeat, 0),
            )
            if repeat >= 0:
                seconds[bs].append(history.seconds[-1])
    return seconds


def flat(data: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 784)`` inputs and labels."""
    return data.inputs.reshape(len(data), -1), data.targets


@dataclass
class Lab1Softmax:
    """Trains each softmax-regression configuration once and shares it, through the run cache.

    Every configuration runs the report's 10 epochs. The reference
    configuration (RMSprop, batch 32, split 0.1) is also trained for
    ``long_epochs`` (by default the report's 100) for the claims about the
    long run, as runs of their own: a claim asking for 10 epochs reads a
    10-epoch run even when a 100-epoch run of the seed exists, so what it
    reads never depends on which claims ran before, and the seeds that only
    the 10-epoch claims add (up to 10) cost 10 epochs each, not 100.
    """

    full_train: TensorData
    test: TensorData
    long_epochs: int = LONG_EPOCHS
    run_cache: RunCache = field(default_factory=lambda: RunCache(None))
    cache: dict = field(default_factory=dict)

    def split(self, val_split: float) -> tuple[TensorData, TensorData]:
        """Keras' ``validation_split``: the last ``val_split`` of the training set is held out."""
        return self.full_train.split(val_split)

    def epochs_trained(self, config: Config, epochs: int = EPOCHS) -> int:
        """How long the run that serves ``epochs`` epochs of ``config`` is trained."""
        if epochs <= EPOCHS:
            return EPOCHS
        if config == REFERENCE and epochs <= self.long_epochs:
            return self.long_epochs
        raise ValueError(
            f"{config} is trained for {EPOCHS} epochs"
            + (f" or {self.long_epochs}" if config == REFERENCE else "")
            + f", asked for {epochs}"
        )

    def runs(self, config: Config, seeds, device, *, epochs: int = EPOCHS) -> list[SeedRun]:
        """The configuration's runs, one per seed, cut at ``epochs`` epochs.

        A run is read from this session's memory, else from the run cache; the
        seeds found in neither are trained in one :func:`fit_many` call.
        """
        device = torch.device(device)
        trained = self.epochs_trained(config, epochs)
        needed = [
            s
            for s in dict.fromkeys(int(s) for s in seeds)
            if (config, trained, s, str(device)) not in self.cache
        ]

        def create(batch: list[int]) -> dict[int, dict]:
            train, val = self.split(config.val_split)
            return train_seeds(train, val, batch, config, epochs=trained, device=device)

        specs = {seed: self._spec(config, trained, seed, device) for seed in needed}
        for seed, payload in self.run_cache.get_or_create_many(specs, create).items():
            self.cache[config, trained, seed, str(device)] = SeedRun(
                seed, History.from_dict(payload["history"]), payload["weights"], payload["biases"]
            )
        return [self.cache[config, trained, int(s), str(device)].upto(epochs) for s in seeds]

    def epoch_seconds(self, batch_sizes, *, repeats: int, device) -> dict[int, list[float]]:
        """:func:`epoch_seconds` on the 0.1 split's training set, measured once and kept in the run cache.

        Keyed like a run, plus the torch thread count (the times depend on
        it), so a later session or another worker reads the measurement
        rather than timing again: it is a measurement of this machine, as a
        stored run's history is.
        """
        device = torch.device(device)
        spec = {
            "family": "lab1-softmax-timing",
            "protocol_version": PROTOCOL_VERSION,
            "batch_sizes": list(batch_sizes),
            "repeats": repeats,
            "optimizer": "rmsprop",
            "lr": LR,
            "init": INIT,
            "device": device.type,
            "torch_threads": torch.get_num_threads(),
            "train_size": len(self.split(VAL_SPLIT)[0]),
            "data": {name: file.sha256 for name, file in get_spec("fashion-mnist").files.items()},
        }

        def measure() -> dict:
            seconds = epoch_seconds(
                self.split(VAL_SPLIT)[0], batch_sizes, repeats=repeats, device=device
            )
            return {"seconds": [seconds[bs] for bs in batch_sizes]}

        stored = self.run_cache.get_or_create(spec, measure)["seconds"]
        return {bs: list(values) for bs, values in zip(batch_sizes, stored)}

    def baseline(self, kind: str, *, seed: int, **settings) -> Baseline:
        """:func:`random_forest` (``kind="forest"``) or :func:`linear_svm` (``"svm"``), kept in the run cache.

        Fitted on the whole training set and scored on the test set; the
        fit's predictions, name and fit time are stored like a run, so a
        later session reads them instead of fitting again.
        """
        fitters = {"forest": random_forest, "svm": linear_svm}
        if kind not in fitters:
            raise ValueError(f"unknown baseline {kind!r}; choose one of {sorted(fitters)}")
        spec = {
            "family": "lab1-baseline",
            "protocol_version": PROTOCOL_VERSION,
            "kind": kind,
            "seed": seed,
            **settings,
            "train_size": len(self.full_train),
            "test_size": len(self.test),
            "dtype": str(self.full_train.inputs.dtype),
            "data": {name: file.sha256 for name, file in get_spec("fashion-mnist").files.items()},
        }

        def fit() -> dict:
            made = fitters[kind](self.full_train, self.test, seed=seed, **settings)
            return {
                "name": made.name,
                "predictions": made.predictions,
                "fit_seconds": made.fit_seconds,
            }

        stored = self.run_cache.get_or_create(spec, fit)
        return Baseline(stored["name"], stored["predictions"], float(stored["fit_seconds"]))

    def _spec(self, config: Config, trained: int, seed: int, device: torch.device) -> dict:
        """Everything that determines one run, for the run cache's key."""
        return {
            "family": "lab1-softmax",
            "protocol_version": PROTOCOL_VERSION,
            **asdict(config),
            "seed": seed,
            "epochs_trained": trained,
            "init": INIT,
            "device": device.type,
            "dtype": str(self.full_train.inputs.dtype),
            "train_size": len(self.full_train),
            "data": {name: file.sha256 for name, file in get_spec("fashion-mnist").files.items()},
        }


def record_protocol(claim, device, seeds, **extra) -> None:
    """``claim.setup`` with the softmax protocol's settings (``extra`` adds or overrides)."""
    settings = {
        "model": "softmax regression 784 -> 10",
        "init": INIT,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "epochs": EPOCHS,
        "validation": "last 10 % of the training set (Keras validation_split)",
        "device": str(device),
        "seeds": list(seeds),
    }
    settings.update(extra)
    claim.setup(**settings)


def final_values(runs, metric: str) -> list[float]:
    """The last value of History ``metric`` in each run."""
    return [getattr(run.history, metric)[-1] for run in runs]


# -- the report's scikit-learn baselines ------------------------------------------------------


@dataclass
class Baseline:
    """A fitted scikit-learn baseline: its name as run, test predictions and fit time."""

    name: str
    predictions: torch.Tensor  # (10 000,) predicted test labels
    fit_seconds: float


def random_forest(train: TensorData, test: TensorData, *, n_estimators: int, seed: int) -> Baseline:
    """``RandomForestClassifier(n_estimators, random_state=seed)`` on the flattened images, one core."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = flat(train)
    start = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    forest.fit(x.numpy(), y.numpy())
    seconds = time.perf_counter() - start
    predictions = torch.as_tensor(forest.predict(flat(test)[0].numpy()))
    return Baseline(
        f"RandomForestClassifier(n_estimators={n_estimators}, random_state={seed})",
        predictions,
        seconds,
    )


def linear_svm(
    train: TensorData, test: TensorData, *, epochs: int, seed: int, C: float = 1.0
) -> Baseline:
    """A linear SVM: the hinge loss with ``C = 1`` (``SVC``'s default) solved by averaged SGD.

    ``SGDClassifier(loss="hinge", alpha=1/(C·n), average=True, max_iter=epochs,
    tol=None)``: the same objective as a linear-kernel SVM with ``C`` (one vs
    rest), minimized by averaged stochastic gradient descent (Bottou 2010),
    which is close to its optimum after a few epochs. Measured on 60 000
    images, single-threaded and under contention: ``SVC(kernel="linear")``
    (the report's) is far too slow, ``LinearSVC(dual=False)`` took 6 min
    (84.0 % test accuracy), plain ``SGDClassifier(loss="hinge")`` 2 min
    (82.2 %, 75 epochs to its tolerance), this one 7 s CPU for 5 epochs
    (83.5 %) and 13 s for 10 (83.7 %).
    """
    from sklearn.linear_model import SGDClassifier

    x, y = flat(train)
    x = x.double().numpy()
    start = time.perf_counter()
    svm = SGDClassifier(
        loss="hinge",
        alpha=1.0 / (C * len(train)),
        average=True,
        max_iter=epochs,
        tol=None,
        random_state=seed,
    )
    svm.fit(x, y.numpy())
    seconds = time.perf_counter() - start
    predictions = torch.as_tensor(svm.predict(flat(test)[0].double().numpy()))
    return Baseline(
        f"SGDClassifier(loss='hinge', alpha=1/(C*n), C={C}, average=True, max_iter={epochs}, "
        f"tol=None, random_state={seed})",
        predictions,
        seconds,
    )
