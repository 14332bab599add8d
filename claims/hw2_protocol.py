"""hw2's protocol, shared by every hw2 claim.

Data: MNIST as TensorFlow 1's ``input_data.read_data_sets`` split it, which is
where the report's "55 000 training images" come from: the *first* 5 000 of the
60 000 training images are the validation set, the remaining 55 000 (indices
5 000…59 999, in file order) the training set; the 10 000 test images are the
test set. Pixels are scaled to [0, 1] (as ``input_data`` does).

Network: 784 → 100 sigmoid → 10 softmax (logits; cross-entropy loss). The
report fixes only "a sigmoid first hidden layer"; its TensorBoard panels show
two layers (``layer_1``, ``layer_2``), so the smallest network with that shape
is used: one sigmoid hidden layer of 100 units and the softmax output layer.
A second hidden layer would add cost without changing any claim's mechanism
(all claims are about the first, sigmoid layer).

Initialization: every weight matrix drawn from N(0, variance) (std =
√variance), biases zero; ``"zeros"`` sets every weight and bias to 0.

Optimizer: plain mini-batch gradient descent (``torch.optim.SGD``, no
momentum, no weight decay), the TF1 ``GradientDescentOptimizer``. TF1 has no
default learning rate or batch size for it; where the report leaves them
open (the initialization study and the batch-size study) we use the TF1 MNIST
tutorial that ``input_data`` comes from: learning rate 0.5, batches of 100,
1 000 steps. The learning-rate and early-stopping studies use the report's
batch size 1000 and its rates.

Every configuration is trained once per session (cache keyed by the whole
configuration, seed and device) and shared by every claim that asks for it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from dlverify.data import TensorData
from dlverify.data.registry import get_spec
from dlverify.models import initialize, mlp
from dlverify.runcache import RunCache
from dlverify.train import History, evaluate, fit

# Part of every run's cache key: bump it when a change here changes what a run produces.
PROTOCOL_VERSION = 1

SIZES = (784, 100, 10)
N_VALIDATION = 5_000  # TF input_data: the first 5 000 training images
HIDDEN_ACTIVATION = "2"  # the nn.Sigmoid module of mlp(SIZES, activation="sigmoid")
FIRST_LAYER, LAST_LAYER = "1", "3"  # the two nn.Linear modules (index 0 is nn.Flatten)

TUTORIAL_LR, TUTORIAL_BATCH, TUTORIAL_STEPS = 0.5, 100, 1_000
VARIANCES = (0.1, 0.2, 0.3, 1.0, 2.0)
BATCH_SIZES = (1, 10, 50, 100, 1000, "full")
LEARNING_RATES = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0)
LR_BATCH = 1000
EARLY_STOP_LR, EARLY_STOP_BATCH = 2.0, 1000


@dataclass(frozen=True)
class Config:
    """One hw2 training run, minus seed and device."""

    init: str | float = 0.1  # "zeros" or a Gaussian variance
    batch_size: int | str = TUTORIAL_BATCH  # or "full"
    lr: float = TUTORIAL_LR
    steps: int = TUTORIAL_STEPS
    train_size: int | None = None  # None: all 55 000; else the first train_size of them
    eval_every: int | None = None  # None: evaluate once, at the end
    validate_on: str = "test"  # "test" or "validation"


@dataclass
class Hw2Run:
    config: Config
    seed: int
    history: History
    model: torch.nn.Module
    initial: torch.nn.Module


def split_like_tf_input_data(train60k: TensorData) -> tuple[TensorData, TensorData]:
    """(55 000 training images, 5 000 validation images): TF1 input_data's split, in file order."""
    return train60k.take(slice(N_VALIDATION, None)), train60k.take(slice(0, N_VALIDATION))


def build_model(init: str | float, seed: int) -> torch.nn.Module:
    """784-100 sigmoid-10, weights N(0, init) (std √init) and zero biases, or all zeros."""
    model = mlp(SIZES, activation="sigmoid")
    generator = torch.Generator().manual_seed(seed)
    if init == "zeros":
        return initialize(model, "zeros", generator=generator)
    return initialize(model, "normal", std=math.sqrt(float(init)), generator=generator)


def _payload(run: Hw2Run) -> dict:
    """What the run cache keeps of a run: its history and the weights at the start and the end."""
    return {"history": run.history.as_dict(),
            "model": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
            "initial": {k: v.detach().cpu() for k, v in run.initial.state_dict().items()}}


def loss_fluctuation(step_loss: list[float]) -> float:
    """Standard deviation of the step-to-step change of the mini-batch loss over the second half of training.

    Computed on the second half so the large early drop, which every run shares,
    does not count as fluctuation.
    """
    tail = np.asarray(step_loss[len(step_loss) // 2:], dtype=np.float64)
    return float(np.std(np.diff(tail)))


def relative_weight_change(before: torch.nn.Module, after: torch.nn.Module, layer: str = FIRST_LAYER) -> float:
    """‖W_end − W_0‖_F / ‖W_0‖_F of one Linear layer's weight."""
    w0 = dict(before.named_modules())[layer].weight.detach().double()
    w1 = dict(after.named_modules())[layer].weight.detach().double()
    return float(torch.linalg.norm(w1 - w0) / torch.linalg.norm(w0))


@dataclass
class Hw2Runs:
    """Trains each hw2 configuration once and hands it to every claim that asks."""

    train: TensorData  # the 55 000 training images
    validation: TensorData  # the first 5 000 of the 60 000
    test: TensorData
    run_cache: RunCache = field(default_factory=lambda: RunCache(None))
    cache: dict = field(default_factory=dict)

    def run(self, config: Config, seed: int, device: torch.device) -> Hw2Run:
        key = (config, seed, str(device))
        if key not in self.cache:
            device = torch.device(device)
            spec = {"family": "hw2", "protocol_version": PROTOCOL_VERSION, **asdict(config), "seed": seed,
                    "device": device.type, "dtype": str(self.train.inputs.dtype), "train_images": len(self.train),
                    "data": {name: file.sha256 for name, file in get_spec("mnist").files.items()}}
            stored = self.run_cache.get_or_create(spec, lambda: _payload(self._train(config, seed, device)))
            model, initial = build_model(config.init, seed), build_model(config.init, seed)
            model.load_state_dict(stored["model"])
            initial.load_state_dict(stored["initial"])
            self.cache[key] = Hw2Run(config, seed, History.from_dict(stored["history"]), model.to(device).eval(),
                                     initial.to(device))
        return self.cache[key]

    def _train(self, config: Config, seed: int, device: torch.device) -> Hw2Run:
        train = self.train if config.train_size is None else self.train.take(slice(0, config.train_size))
        train = train.to(device)
        held_out = (self.test if config.validate_on == "test" else self.validation).to(device)
        batch = len(train) if config.batch_size == "full" else int(config.batch_size)
        model = build_model(config.init, seed).to(device)
        initial = copy.deepcopy(model)
        history = fit(model, train, optimizer=torch.optim.SGD(model.parameters(), lr=config.lr),
                      batch_size=batch, steps=config.steps, seed=seed, val=held_out,
                      eval_every=config.eval_every or config.steps, record_steps=True,
                      evaluate_train=config.eval_every is not None)
        model.eval()
        return Hw2Run(config, seed, history, model, initial)

    def test_accuracy(self, run: Hw2Run) -> float:
        """Accuracy on the 10 000 test images of a finished run."""
        device = next(run.model.parameters()).device
        return evaluate(run.model, self.test.to(device), F.cross_entropy)[1]
