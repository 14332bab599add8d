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

Several seeds are trained *together*: the weights of ``S`` models are stacked
as ``(S, 10, 784)`` and each step feeds every model its own mini-batch from its
own shuffle. The objective is the sum of the models' mean losses, so each
model receives exactly its own gradient, and Adam/RMSprop/SGD update every
element independently: model ``s`` follows the same equations as
``fit(softmax_regression(), seed=s)`` (the same initial draw and the same
per-epoch ``randperm`` from a CPU generator seeded ``s``), at a third of the
cost. Each configuration is trained once per session (:class:`Lab1Softmax`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from dlverify.data import TensorData
from dlverify.models import initialize, softmax_regression
from dlverify.train import History, make_optimizer

EPOCHS = 10
BATCH_SIZE = 32
LR = 1e-3
VAL_SPLIT = 0.1
INIT = "glorot_uniform"
OPTIMIZERS = ("sgd", "adam", "rmsprop")
N_FEATURES, N_CLASSES = 784, 10


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
    weights: list[torch.Tensor] = field(repr=False)  # per epoch: (10, 784) on the CPU
    biases: list[torch.Tensor] = field(repr=False)  # per epoch: (10,)

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

    def upto(self, epoch: int) -> "SeedRun":
        """The run as if it had stopped after ``epoch`` epochs (the same numbers: training is sequential)."""
        if not 1 <= epoch <= self.epochs:
            raise ValueError(f"this run has {self.epochs} epochs, asked for {epoch}")
        trimmed = History(**{name: values[:epoch] for name, values in self.history.as_dict().items()})
        return replace(self, history=trimmed, weights=self.weights[:epoch], biases=self.biases[:epoch])


def _initial_parameters(seeds: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    models = [initialize(softmax_regression(N_FEATURES, N_CLASSES), INIT, generator=torch.Generator().manual_seed(s))
              for s in seeds]
    return (torch.stack([m[1].weight.detach() for m in models]),
            torch.stack([m[1].bias.detach() for m in models]))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _evaluate(weight: torch.Tensor, bias: torch.Tensor, data: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean cross-entropy and accuracy on ``data``: two ``(S,)`` tensors."""
    x = data.inputs.reshape(len(data), -1)
    logits = torch.einsum("nf,scf->snc", x, weight) + bias[:, None, :]
    targets = data.targets.expand(weight.shape[0], -1)
    loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(1)
    accuracy = (logits.argmax(-1) == targets).double().mean(1)
    return loss.double(), accuracy


def train_seeds(train: TensorData, val: TensorData, seeds: tuple[int, ...], config: Config, *, epochs: int,
                device: torch.device | str = "cpu") -> list[SeedRun]:
    """Train one softmax regression per seed, all together; see the module docstring.

    History per seed, per epoch, as Keras prints it: ``train_loss``/``train_acc``
    are running means over the epoch's mini-batches, ``val_*`` the validation
    set after the epoch, ``seconds`` the epoch's training time for all seeds
    together (synchronized, evaluation excluded).
    """
    device = torch.device(device)
    seeds = tuple(seeds)
    n_models, n = len(seeds), len(train)
    x_all = train.inputs.reshape(n, -1).to(device)
    y_all = train.targets.to(device)
    val = val.to(device)
    w0, b0 = _initial_parameters(seeds)
    weight = w0.to(device).requires_grad_()
    bias = b0.to(device).requires_grad_()
    optimizer = make_optimizer(config.optimizer, [weight, bias], lr=config.lr)
    shufflers = [torch.Generator().manual_seed(s) for s in seeds]
    steps_per_epoch = math.ceil(n / config.batch_size)
    histories = [History() for _ in seeds]
    weights: list[list[torch.Tensor]] = [[] for _ in seeds]
    biases: list[list[torch.Tensor]] = [[] for _ in seeds]
    for epoch in range(1, epochs + 1):
        orders = torch.stack([torch.randperm(n, generator=g) for g in shufflers]).to(device)
        loss_sum = torch.zeros(n_models, dtype=torch.float64, device=device)
        correct = torch.zeros(n_models, dtype=torch.int64, device=device)
        _sync(device)
        clock = time.perf_counter()
        for position in range(steps_per_epoch):
            index = orders[:, position * config.batch_size:(position + 1) * config.batch_size]
            x, y = x_all[index], y_all[index]  # (S, B, 784), (S, B)
            logits = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))  # (S, B, 10)
            losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)  # (S,)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            loss_sum += losses.detach().double() * y.shape[1]
            correct += (logits.detach().argmax(-1) == y).sum(1)
        _sync(device)
        seconds = time.perf_counter() - clock
        val_loss, val_acc = _evaluate(weight.detach(), bias.detach(), val)
        train_loss, train_acc = (loss_sum / n).tolist(), (correct.double() / n).tolist()
        val_loss, val_acc = val_loss.tolist(), val_acc.tolist()
        for s, history in enumerate(histories):
            history.step.append(epoch * steps_per_epoch)
            history.epoch.append(float(epoch))
            history.seconds.append(seconds)
            history.train_loss.append(train_loss[s])
            history.train_acc.append(train_acc[s])
            history.val_loss.append(val_loss[s])
            history.val_acc.append(val_acc[s])
            if not math.isfinite(train_loss[s]):
                raise FloatingPointError(f"seed {seeds[s]}: training loss {train_loss[s]} in epoch {epoch}")
            weights[s].append(weight[s].detach().cpu().clone())
            biases[s].append(bias[s].detach().cpu().clone())
    return [SeedRun(seed, histories[s], weights[s], biases[s]) for s, seed in enumerate(seeds)]


def flat(data: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 784)`` inputs and labels."""
    return data.inputs.reshape(len(data), -1), data.targets


class Lab1Softmax:
    """Trains each softmax-regression configuration once per session and shares it.

    The reference configuration (RMSprop, batch 32, split 0.1) is trained for
    ``long_epochs`` (the report's 100-epoch run, scaled under the default
    profile); its first 10 epochs *are* the 10-epoch RMSprop run of the
    optimizer claims (training is sequential, so stopping later changes
    nothing before). Every other configuration runs 10 epochs.
    """

    def __init__(self, train: TensorData, test: TensorData, *, long_epochs: int) -> None:
        self.full_train = train
        self.test = test
        self.long_epochs = long_epochs
        self.cache: dict[tuple, SeedRun] = {}

    def split(self, val_split: float) -> tuple[TensorData, TensorData]:
        """Keras' ``validation_split``: the last ``val_split`` of the training set is held out."""
        return self.full_train.split(val_split)

    def runs(self, config: Config, seeds, device, *, epochs: int = EPOCHS) -> list[SeedRun]:
        """The configuration's runs, one per seed, cut at ``epochs`` epochs."""
        trained = self.long_epochs if config == REFERENCE else EPOCHS
        if epochs > trained:
            raise ValueError(f"{config} is trained for {trained} epochs in this session, asked for {epochs}")
        missing = tuple(s for s in dict.fromkeys(seeds) if (config, s, str(device)) not in self.cache)
        if missing:  # only the seeds not trained yet, stacked; a seed's run does not depend on its companions
            train, val = self.split(config.val_split)
            for run in train_seeds(train, val, missing, config, epochs=trained, device=device):
                self.cache[config, run.seed, str(device)] = run
        return [self.cache[config, s, str(device)].upto(epochs) for s in seeds]


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
    return Baseline(f"RandomForestClassifier(n_estimators={n_estimators}, random_state={seed})", predictions, seconds)


def linear_svm(train: TensorData, test: TensorData, *, epochs: int, seed: int, C: float = 1.0) -> Baseline:
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
    svm = SGDClassifier(loss="hinge", alpha=1.0 / (C * len(train)), average=True, max_iter=epochs, tol=None,
                        random_state=seed)
    svm.fit(x, y.numpy())
    seconds = time.perf_counter() - start
    predictions = torch.as_tensor(svm.predict(flat(test)[0].double().numpy()))
    return Baseline(f"SGDClassifier(loss='hinge', alpha=1/(C*n), C={C}, average=True, max_iter={epochs}, "
                    f"tol=None, random_state={seed})", predictions, seconds)
