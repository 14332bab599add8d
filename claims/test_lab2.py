"""Claims of the lab2 report: regularization and initialization of an MNIST MLP."""

from __future__ import annotations

import math

import pytest
import torch

from claims.lab2_protocol import BATCH_SIZE, EPOCHS, LR, Lab2Runs
from dlverify.report.figures import train_val_curves

# Every lab2 claim shares trained networks: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("lab2")

LN10 = math.log(10)


@pytest.fixture(scope="session")
def lab2(mnist_train, mnist_test) -> Lab2Runs:
    return Lab2Runs(mnist_train, mnist_test)


def _protocol(claim, device, seeds):
    claim.setup(network="784-100-100-100-10 ReLU", optimizer="adam", lr=LR, batch_size=BATCH_SIZE,
                epochs=EPOCHS, validation="MNIST test set (10 000)", device=str(device), seeds=list(seeds))


def label_entropy(labels: torch.Tensor) -> float:
    """Entropy (nats) of the empirical label distribution: the best loss without looking at the input."""
    p = torch.bincount(labels).double() / labels.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


@pytest.mark.claim("lab2.zero-init-stalls", source="lab2 §4.1 Zero initialization")
def test_zero_init_stalls(claim, lab2, mnist_train, device):
    """Zero initialization stalls training: train and val loss stay at 2.301 (≈ ln 10).

    With every weight zero, each ReLU unit outputs 0, so no kernel receives a
    gradient; only the output bias learns, and it learns the label prior. The
    loss should therefore sit at the entropy of the training labels (2.3012
    nats). Tolerance: 0.01 nats, the report quoting 2.301 to three decimals
    (the entropy and ln 10 differ by only 0.0014).
    """
    run = lab2.init_run("zeros", 0, device)
    entropy = label_entropy(mnist_train.targets)
    kernels = [m.weight for m in run.model.modules() if isinstance(m, torch.nn.Linear)]
    max_abs_kernel = max(float(w.detach().abs().max()) for w in kernels)
    final_train, final_val = run.history.train_loss[-1], run.history.val_loss[-1]
    _protocol(claim, device, [0])
    claim.report(train_loss=2.301, val_loss=2.301)
    claim.measure(train_loss=final_train, val_loss=final_val, label_entropy=entropy, ln10=LN10,
                  max_abs_kernel_weight=max_abs_kernel, val_acc=run.history.val_acc[-1])
    claim.figure(train_val_curves({"zero init": run.history}, title="Zero initialization"), "zero-init")
    claim.expect(abs(final_train - entropy) < 0.01, "final train loss within 0.01 of the label entropy")
    claim.expect(abs(final_val - entropy) < 0.01, "final val loss within 0.01 of the label entropy")
    claim.expect(max_abs_kernel == 0.0, "every kernel weight is still exactly zero")


@pytest.mark.claim(
    "lab2.ones-init-explodes", source="lab2 §4.2 Ones initialization",
    xfail="the loss is huge (568 train, 355 val after 20 epochs: ~250x the chance level ln 10) but not in "
          "the thousands the report gives (6223, 6089); measured on CPU, seed 0",
)
def test_ones_init_explodes(claim, lab2, device):
    """Initializing every weight to one gives a huge loss, in the thousands (6223 train, 6089 val).

    Decided on the claim's own scale, fixed before measuring: both final losses
    are at least 1000. The ratio to the chance level ln 10 is recorded too, and
    a separate expectation checks the weaker reading (at least 100x chance).
    """
    run = lab2.init_run("ones", 0, device)
    final_train, final_val = run.history.train_loss[-1], run.history.val_loss[-1]
    _protocol(claim, device, [0])
    claim.report(train_loss=6223, val_loss=6089)
    claim.measure(train_loss=final_train, val_loss=final_val, chance_loss=LN10,
                  train_over_chance=final_train / LN10, val_acc=run.history.val_acc[-1])
    claim.figure(train_val_curves({"ones init": run.history}, title="Ones initialization", logy=True), "ones-init")
    claim.expect(min(final_train, final_val) >= 100 * LN10, "final losses at least 100x the chance level")
    claim.expect(final_train >= 1000, "final train loss in the thousands")
    claim.expect(final_val >= 1000, "final val loss in the thousands")


@pytest.mark.claim("lab2.random-init-learns", source="lab2 §4.3 Random initialization")
def test_random_init_learns(claim, lab2, device):
    """Random normal initialization (Keras ``RandomNormal``, std 0.05) learns normally: 0.0143 train, 0.0959 val.

    "Near the reported values' scale" is taken as the same order of magnitude:
    within a factor √10 ≈ 3.16 of each reported loss. "Far below chance" is
    below a tenth of ln 10.
    """
    run = lab2.init_run("random", 0, device)
    final_train, final_val = run.history.train_loss[-1], run.history.val_loss[-1]
    reported = {"train": 0.0143, "val": 0.0959}
    _protocol(claim, device, [0])
    claim.report(train_loss=reported["train"], val_loss=reported["val"])
    claim.measure(train_loss=final_train, val_loss=final_val, val_acc=run.history.val_acc[-1])
    claim.figure(train_val_curves({"random normal": run.history}, title="Random normal initialization"), "random-init")
    for name, value in (("train", final_train), ("val", final_val)):
        ratio = value / reported[name]
        claim.expect(10 ** -0.5 <= ratio <= 10 ** 0.5, f"final {name} loss within a factor √10 of the report's")
        claim.expect(value < LN10 / 10, f"final {name} loss far below chance (< ln10/10)")
