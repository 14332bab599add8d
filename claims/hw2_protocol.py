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

Every configuration is trained once per (seed, device) and shared by every
claim that asks for it: runs live in the run cache (``Hw2Runs``), and the
(configuration, seed) pairs a claim needs that are in neither memory nor the
cache are trained together by :func:`dlverify.train.fit_many`, one call per
group of configurations that differ only in initialization and learning rate.
A run's numbers do not depend on its companions in that call (each model is
its own slice of every batched product; plain SGD updates each row on its
own; one thread).

What a run keeps: its History (per-step mini-batch loss, the evaluations),
the first- and last-layer weights at the start and the end (the whole
``state_dict`` both times), and, for the batch-50 log, the loss on a test
mini-batch after every step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from dlverify.data import TensorData
from dlverify.data.registry import get_spec
from dlverify.models import initialize, mlp
from dlverify.runcache import RunCache
from dlverify.train import History, evaluate, fit_many

# Part of every run's cache key: bump it when a change here changes what a run produces.
# 2: trained with fit_many; Config.evaluate_train and Config.test_batch.
PROTOCOL_VERSION = 2

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
# Seeds trained together: the default plan's looks (3, 5, 10) and the full plan's (5, 10, 20).
SEED_BLOCK_EDGES = (0, 3, 5, 10, 20)
# The test mini-batches' generator: a stream apart from init, data order and transforms.
TEST_BATCH_STREAM = 7


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
    evaluate_train: bool = False  # also evaluate the whole training set at every evaluation
    test_batch: int | None = None  # after every step, the loss on the next test batch of this size


@dataclass
class Hw2Run:
    config: Config
    seed: int
    history: History
    model: torch.nn.Module
    initial: torch.nn.Module
    test_batch_loss: list[float] = field(default_factory=list)  # per step, with config.test_batch
    _accuracy: dict = field(default_factory=dict, repr=False)


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


def loss_fluctuation(step_loss: list[float]) -> float:
    """Standard deviation of the step-to-step change of the mini-batch loss over the second half of training.

    Computed on the second half so the large early drop, which every run shares,
    does not count as fluctuation.
    """
    tail = np.asarray(step_loss[len(step_loss) // 2 :], dtype=np.float64)
    return float(np.std(np.diff(tail)))


def layer_weight(model: torch.nn.Module, layer: str) -> torch.Tensor:
    """The weight matrix of one ``nn.Linear`` of the network, detached, in float64."""
    return dict(model.named_modules())[layer].weight.detach().double()


def relative_weight_change(
    before: torch.nn.Module, after: torch.nn.Module, layer: str = FIRST_LAYER
) -> float:
    """‖W_end − W_0‖_F / ‖W_0‖_F of one Linear layer's weight."""
    w0, w1 = layer_weight(before, layer), layer_weight(after, layer)
    return float(torch.linalg.norm(w1 - w0) / torch.linalg.norm(w0))


def rms_weight_change(before: torch.nn.Module, after: torch.nn.Module, layer: str) -> float:
    """Root mean square of ``W_end − W_0`` over the entries of one Linear layer's weight."""
    w0, w1 = layer_weight(before, layer), layer_weight(after, layer)
    return float(torch.sqrt(torch.mean((w1 - w0) ** 2)))


class NextTestBatchLoss:
    """A :func:`fit_many` callback: the loss on the next test mini-batch, after every step.

    The report's training logs print a "test loss" per step whose swings
    (0.07 → 0.60 → 0.23 between consecutive steps at batch 50) only a
    mini-batch can produce, so it is the cross-entropy of the current model on
    ``size`` test images, taken as TF1's ``DataSet.next_batch`` hands them out:
    consecutive batches of a permutation of the test set, a new permutation
    per pass, from a generator of its own (``seed``, stream
    :data:`TEST_BATCH_STREAM`). Needs ``eval_every=1`` and no validation set,
    so that ``after_evaluation`` runs after every step and costs one small
    forward pass.
    """

    def __init__(self, test: TensorData, size: int, seed: int) -> None:
        self.test, self.size = test, size
        self.generator = torch.Generator().manual_seed(1_000_003 * (TEST_BATCH_STREAM + 1) + seed)
        self.order: torch.Tensor | None = None
        self.position = 0
        self.values: list[float] = []  # numbers, not a tensor a step (see dlverify.train.fit)

    @torch.no_grad()
    def after_evaluation(self, history: History, model: torch.nn.Module) -> None:
        if self.order is None or self.position + self.size > len(self.test):
            order = torch.randperm(len(self.test), generator=self.generator)
            self.order = order.to(self.test.device)
            self.position = 0
        rows = self.order[self.position : self.position + self.size]
        self.position += self.size
        loss = F.cross_entropy(model(self.test.inputs[rows]), self.test.targets[rows])
        self.values.append(loss.item())

    def losses(self) -> list[float]:
        return list(self.values)


def seed_block(seed: int) -> tuple[int, ...]:
    """The seeds trained with ``seed``: 0–2, 3–4, 5–9, 10–19, then tens (the seed plans' looks).

    :func:`fit_many`'s float32 rounding depends on how many models share a
    call (measured on this network: 1-ulp differences after a few steps
    between K = 2 and K = 3), so a run is always trained with the same
    companions, whichever claim asks for it first: its numbers never depend
    on the order the tests run in.
    """
    if seed < 0:
        raise ValueError(f"seeds are non-negative integers, got {seed}")
    for low, high in zip(SEED_BLOCK_EDGES, SEED_BLOCK_EDGES[1:]):
        if low <= seed < high:
            return tuple(range(low, high))
    low = SEED_BLOCK_EDGES[-1] + (seed - SEED_BLOCK_EDGES[-1]) // 10 * 10
    return tuple(range(low, low + 10))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class Hw2Runs:
    """Trains each hw2 configuration once per (seed, device); hands it to every claim that asks."""

    train: TensorData  # the 55 000 training images
    validation: TensorData  # the first 5 000 of the 60 000
    test: TensorData
    run_cache: RunCache = field(default_factory=lambda: RunCache(None))
    cache: dict = field(default_factory=dict)
    _on_device: dict = field(default_factory=dict)
    _pending: dict = field(default_factory=dict)

    def run(self, config: Config, seed: int, device: torch.device) -> Hw2Run:
        """One configuration trained from one seed on ``device``."""
        return self.grid([config], [seed], device)[config][0]

    def runs(self, config: Config, seeds: Iterable[int], device: torch.device) -> list[Hw2Run]:
        """One configuration trained from each of ``seeds``."""
        return self.grid([config], seeds, device)[config]

    def grid(
        self, configs: Iterable[Config], seeds: Iterable[int], device: torch.device
    ) -> dict[Config, list[Hw2Run]]:
        """Every configuration trained from every seed: ``{config: [run per seed]}``.

        A run comes from this session's memory, else from the run cache, else
        it is trained with the other seeds of its :func:`seed_block` in one
        :func:`fit_many` call; every run of the block goes to the run cache.
        """
        configs, seeds, device = list(dict.fromkeys(configs)), list(seeds), torch.device(device)
        for config in configs:
            for seed in dict.fromkeys(seeds):
                if (config, seed, str(device)) in self.cache:
                    continue
                spec = self._spec(config, seed, device)
                stored = self.run_cache.get_or_create(
                    spec, lambda c=config, s=seed: self._trained(c, s, device)
                )
                self.cache[config, seed, str(device)] = self._rebuild(config, seed, stored, device)
            self._store_pending(device)
        return {c: [self.cache[c, s, str(device)] for s in seeds] for c in configs}

    def _trained(self, config: Config, seed: int, device: torch.device) -> dict:
        """The payload of (config, seed); trains its seed block unless already trained."""
        key = (config, seed, str(device))
        if key not in self._pending:
            block = seed_block(seed)
            payloads = self._fit_many(config, block, device)
            self._pending.update({(config, s, str(device)): payloads[s] for s in block})
        return self._pending.pop(key)

    def _store_pending(self, device: torch.device) -> None:
        """Keep block companions trained but not asked for (run cache, memory), outside any lock."""
        for config, seed, where in list(self._pending):
            if where == str(device):
                payload = self._pending.pop((config, seed, where))
                spec = self._spec(config, seed, device)
                stored = self.run_cache.get_or_create(spec, lambda p=payload: p)
                self.cache[config, seed, where] = self._rebuild(config, seed, stored, device)

    @staticmethod
    def _rebuild(config: Config, seed: int, stored: dict, device: torch.device) -> Hw2Run:
        model, initial = build_model(config.init, seed), build_model(config.init, seed)
        model.load_state_dict(stored["model"])
        initial.load_state_dict(stored["initial"])
        return Hw2Run(
            config,
            seed,
            History.from_dict(stored["history"]),
            model.to(device).eval(),
            initial.to(device).eval(),
            list(stored["test_batch_loss"]),
        )

    def _spec(self, config: Config, seed: int, device: torch.device) -> dict:
        """Everything that determines one run, for the run cache's key."""
        return {
            "family": "hw2",
            "protocol_version": PROTOCOL_VERSION,
            **asdict(config),
            "seed": seed,
            "device": device.type,
            "dtype": str(self.train.inputs.dtype),
            "train_images": len(self.train),
            "data": {name: file.sha256 for name, file in get_spec("mnist").files.items()},
        }

    def _data(self, device: torch.device) -> dict[str, TensorData]:
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = {
                "train": self.train.to(device),
                "validation": self.validation.to(device),
                "test": self.test.to(device),
            }
        return self._on_device[key]

    def _fit_many(
        self, config: Config, seeds: Sequence[int], device: torch.device
    ) -> dict[int, dict]:
        """Train ``config`` from each of ``seeds`` at once; the run cache's payload per seed."""
        data = self._data(device)
        train = data["train"]
        if config.train_size is not None:
            train = train.take(slice(0, config.train_size))
        batch = len(train) if config.batch_size == "full" else int(config.batch_size)
        models = [build_model(config.init, s).to(device) for s in seeds]
        initial = [_state(m) for m in models]
        if config.test_batch:  # the loss on a test batch after every step (NextTestBatchLoss)
            callbacks = [[NextTestBatchLoss(data["test"], config.test_batch, s)] for s in seeds]
            val, eval_every = None, 1
        else:
            callbacks = [[] for _ in seeds]
            val, eval_every = data[config.validate_on], config.eval_every or config.steps
        histories = fit_many(
            models,
            train,
            optimizer="sgd",
            lr=config.lr,
            batch_size=batch,
            steps=config.steps,
            seeds=list(seeds),
            val=val,
            eval_every=eval_every,
            evaluate_train=config.evaluate_train,
            record_steps=True,
            callbacks=callbacks,
        )
        runs = zip(seeds, histories, models, initial, callbacks)
        return {
            seed: {
                "history": history.as_dict(),
                "model": _state(model),
                "initial": start,
                "test_batch_loss": callback[0].losses() if callback else [],
            }
            for seed, history, model, start, callback in runs
        }

    def test_accuracy(self, run: Hw2Run) -> float:
        """Accuracy on the 10 000 test images of a finished run."""
        return self._accuracy(run, "test")

    def train_accuracy(self, run: Hw2Run) -> float:
        """Accuracy on the run's training images (55 000 or the first ``train_size``), eval mode."""
        return self._accuracy(run, "train")

    def _accuracy(self, run: Hw2Run, split: str) -> float:
        if split not in run._accuracy:
            device = next(run.model.parameters()).device
            data = self._data(device)[split]
            if split == "train" and run.config.train_size is not None:
                data = data.take(slice(0, run.config.train_size))
            run._accuracy[split] = evaluate(run.model, data, F.cross_entropy)[1]
        return run._accuracy[split]
