"""Claims of the hw2 report: initialization, saturation, batch size, learning rate and early stopping
of an MNIST network with a sigmoid first hidden layer, trained by plain mini-batch gradient descent."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from claims.hw2_protocol import (
    BATCH_SIZES, EARLY_STOP_BATCH, EARLY_STOP_LR, FIRST_LAYER, HIDDEN_ACTIVATION, LAST_LAYER, LEARNING_RATES,
    LR_BATCH, TUTORIAL_BATCH, TUTORIAL_LR, TUTORIAL_STEPS, VARIANCES, Config, Hw2Runs, loss_fluctuation,
    relative_weight_change, split_like_tf_input_data,
)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.probes import per_layer_grad_norms, saturation
from dlverify.report.figures import curves

# Every hw2 claim shares trained networks: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("hw2")

SATURATION_MARGIN = 0.05  # sigmoid output within 0.05 of 0 or 1: σ' ≤ 0.0475, under a fifth of its maximum 0.25
CHANCE = 0.1


@pytest.fixture(scope="session")
def hw2(mnist_train, mnist_test, run_cache) -> Hw2Runs:
    train, validation = split_like_tf_input_data(mnist_train)
    return Hw2Runs(train, validation, mnist_test, run_cache=run_cache)


def _network(claim, device, seeds, **protocol):
    claim.setup(network="784-100 sigmoid-10 softmax", optimizer="plain mini-batch SGD (no momentum)",
                data="MNIST: train = images 5000..59999 of the 60k (55 000), validation = the first 5 000, "
                     "test = the 10 000 test images (TF1 input_data split)",
                device=str(device), seeds=list(seeds), **protocol)


def _init_config(init) -> Config:
    return Config(init=init, batch_size=TUTORIAL_BATCH, lr=TUTORIAL_LR, steps=TUTORIAL_STEPS)


# -- Part 1: initialization ---------------------------------------------------------------------------


@pytest.mark.claim(
    "hw2.zero-init-no-learning", source="hw2 Practical Exercise 1, Part 1 (Fig. 2)",
    xfail=Finding("the hidden units do not stay identical and the network learns well above chance: with the biases and the output layer free, the symmetry breaks", fails=("the hidden units' incoming weight rows stay identical", 'test accuracy near chance (≤ 0.15)')),
)
def test_zero_init_no_learning(claim, hw2, device):
    """Zero initialization keeps all units of a layer identical and prevents the network from learning.

    Protocol: every weight and bias 0, then the initialization study's
    protocol (lr 0.5, batch 100, 1 000 steps). Decided on the claim's two
    parts, fixed before measuring: (1) the 100 rows of the first-layer weight
    matrix (one per hidden unit) stay identical, max |row − row₀| ≤ 1e-6; (2)
    "prevents learning": test accuracy at most 0.15, i.e. near the chance
    level of 0.10–0.11 (majority class 11.35%). The network can still learn
    what a single hidden unit can (symmetry leaves it one effective unit), so
    part (2) is the real question.
    """
    run = hw2.run(_init_config("zeros"), 0, device)
    layers = dict(run.model.named_modules())
    w1 = layers[FIRST_LAYER].weight.detach()
    w2 = layers[LAST_LAYER].weight.detach()
    row_spread = float((w1 - w1[:1]).abs().max())
    column_spread = float((w2 - w2[:, :1]).abs().max())
    accuracy = hw2.test_accuracy(run)
    majority = float(torch.bincount(hw2.test.targets).max()) / len(hw2.test)
    _network(claim, device, [0], init="all weights and biases 0", lr=TUTORIAL_LR, batch_size=TUTORIAL_BATCH,
             steps=TUTORIAL_STEPS)
    claim.report(statement="zero init: all units identical, no learning (Fig. 2: accuracy stays at chance)")
    claim.measure(test_acc=accuracy, majority_class_rate=majority, first_layer_row_spread=row_spread,
                  output_layer_column_spread=column_spread,
                  first_layer_weight_norm=float(torch.linalg.norm(w1)))
    claim.figure(curves({"zero init": run.history.step_loss}, xlabel="step", ylabel="mini-batch loss",
                        title="Zero initialization: training loss"), "zero-init-loss")
    claim.expect(row_spread <= 1e-6, "the hidden units' incoming weight rows stay identical")
    claim.expect(accuracy <= 0.15, "test accuracy near chance (≤ 0.15)")


@pytest.mark.claim("hw2.smaller-variance-better", source="hw2 Practical Exercise 1, Part 1 (Fig. 3, 4)")
def test_smaller_variance_better(claim, hw2, device, seeds):
    """With Gaussian init of variance 0.1, 0.2, 0.3, 1, 2 accuracy falls as the variance rises; 0.1 is best.

    Protocol: weights N(0, variance) (std = √variance) in both layers, zero
    biases; lr 0.5, batch 100, 1 000 steps (the TF1 MNIST tutorial's setting;
    the report gives neither). Decided by (1) a decreasing rank trend of test
    accuracy over the five variances across seeds and (2) variance 0.1 being
    the best condition (stats.argbest).
    """
    accuracy = {v: [hw2.test_accuracy(hw2.run(_init_config(v), s, device)) for s in seeds] for v in VARIANCES}
    _network(claim, device, seeds, init="N(0, variance), zero biases", variances=list(VARIANCES),
             lr=TUTORIAL_LR, batch_size=TUTORIAL_BATCH, steps=TUTORIAL_STEPS)
    claim.report(best_variance=0.1, trend="accuracy falls as the variance rises")
    claim.measure(test_acc={str(v): a for v, a in accuracy.items()},
                  mean_test_acc={str(v): float(np.mean(a)) for v, a in accuracy.items()})
    claim.figure(_accuracy_vs_variance(accuracy), "accuracy-vs-variance")
    claim.expect(stats.rank_trend(list(VARIANCES), [accuracy[v] for v in VARIANCES], alternative="decreasing"),
                 "test accuracy decreases with the init variance")
    claim.expect(stats.argbest({str(v): accuracy[v] for v in VARIANCES}, claimed="0.1"),
                 "variance 0.1 has the best test accuracy")


def _accuracy_vs_variance(accuracy):
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for v, values in accuracy.items():
        ax.plot([v] * len(values), values, "o", color="C0", alpha=0.6)
    ax.plot(list(accuracy), [np.mean(a) for a in accuracy.values()], "-", color="C0", label="mean over seeds")
    ax.set_xscale("log")
    ax.set_xlabel("init variance")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy vs Gaussian init variance", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- Parts 2 & 3: saturation and vanishing gradients --------------------------------------------------


@pytest.mark.claim("hw2.sigmoid-saturates", source="hw2 Practical Exercise 1, Parts 2&3 (Fig. 7-22)")
def test_sigmoid_saturates(claim, hw2, device, seeds):
    """A large init variance saturates the sigmoid layer and its weights barely change (vanishing gradients).

    Measured with probes, not histograms, on the initialization study's runs:
    the share of first-layer sigmoid outputs within 0.05 of 0 or 1 (where
    σ' ≤ 0.0475) on the 5 000 validation images after training, and the
    relative change of the first-layer weights ‖W_end − W_0‖/‖W_0‖. Decided by
    two rank trends over the variances across seeds: saturation increasing and
    relative weight change decreasing. Per-layer gradient norms at
    initialization are recorded as the mechanism's evidence.
    """
    inputs = hw2.validation.inputs.to(device)
    saturated, changed, absolute, grad_first, grad_last, saturated_init = {}, {}, {}, {}, {}, {}
    for v in VARIANCES:
        runs = [hw2.run(_init_config(v), s, device) for s in seeds]
        saturated[v] = [saturation(r.model, inputs, HIDDEN_ACTIVATION, margin=SATURATION_MARGIN) for r in runs]
        saturated_init[v] = [saturation(r.initial, inputs, HIDDEN_ACTIVATION, margin=SATURATION_MARGIN) for r in runs]
        changed[v] = [relative_weight_change(r.initial, r.model) for r in runs]
        absolute[v] = [float(torch.linalg.norm(dict(r.model.named_modules())[FIRST_LAYER].weight.detach()
                                               - dict(r.initial.named_modules())[FIRST_LAYER].weight.detach()))
                       for r in runs]
        norms = [per_layer_grad_norms(r.initial, F.cross_entropy, (inputs, hw2.validation.targets.to(device)))
                 for r in runs]
        grad_first[v] = [n[f"{FIRST_LAYER}.weight"] for n in norms]
        grad_last[v] = [n[f"{LAST_LAYER}.weight"] for n in norms]
    _network(claim, device, seeds, variances=list(VARIANCES), lr=TUTORIAL_LR, batch_size=TUTORIAL_BATCH,
             steps=TUTORIAL_STEPS, saturation_margin=SATURATION_MARGIN, probe_data="5 000 validation images")
    claim.report(statement="large variance: sigmoid outputs pile up at 0 and 1, first-layer weights barely change")
    claim.measure(saturation_after_training={str(v): x for v, x in saturated.items()},
                  saturation_at_init={str(v): x for v, x in saturated_init.items()},
                  relative_first_layer_change={str(v): x for v, x in changed.items()},
                  absolute_first_layer_change={str(v): x for v, x in absolute.items()},
                  first_layer_grad_norm_at_init={str(v): x for v, x in grad_first.items()},
                  last_layer_grad_norm_at_init={str(v): x for v, x in grad_last.items()})
    claim.figure(_first_layer_histograms(hw2, device, seeds[0], inputs), "first-layer-histograms")
    claim.expect(stats.rank_trend(list(VARIANCES), [saturated[v] for v in VARIANCES], alternative="increasing"),
                 "sigmoid saturation rises with the init variance")
    claim.expect(stats.rank_trend(list(VARIANCES), [changed[v] for v in VARIANCES], alternative="decreasing"),
                 "relative change of the first-layer weights falls with the init variance")


def _first_layer_histograms(hw2, device, seed, inputs):
    fig, axes = plt.subplots(2, len(VARIANCES), figsize=(3 * len(VARIANCES), 5))
    for column, v in enumerate(VARIANCES):
        run = hw2.run(_init_config(v), seed, device)
        w0 = dict(run.initial.named_modules())[FIRST_LAYER].weight.detach().flatten().cpu()
        w1 = dict(run.model.named_modules())[FIRST_LAYER].weight.detach().flatten().cpu()
        axes[0, column].hist([w0.numpy(), w1.numpy()], bins=40, label=["init", "end"], histtype="step")
        axes[0, column].set_title(f"var {v}: layer-1 weights", fontsize=9)
        with torch.no_grad():
            acts = torch.sigmoid(dict(run.model.named_modules())[FIRST_LAYER](inputs.flatten(1))).flatten().cpu()
        axes[1, column].hist(acts.numpy(), bins=40, range=(0, 1))
        axes[1, column].set_title(f"var {v}: layer-1 sigmoid outputs", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# -- Part 4: batch size -------------------------------------------------------------------------------


def _batch_config(batch, profile) -> Config:
    return Config(init=0.1, batch_size=batch, lr=TUTORIAL_LR, steps=profile.pick(default=300, full=5_000),
                  train_size=profile.pick(default=5_500, full=None))


@pytest.mark.claim(
    "hw2.batch-size-smoother", source="hw2 Practical Exercise 1, Part 4 (Fig. 23-28)",
    xfail={"default": Finding("the loss does fluctuate less as the batch grows, but batch 1000 is not confidently the best at equal steps (inconclusive at the seed budget)", fails=('batch 1000 has the best test accuracy at equal steps',))},
)
def test_batch_size_smoother(claim, hw2, device, seeds, profile):
    """Larger batches (1, 10, 50, 100, 1000, full) give a less fluctuating loss; batch 1000 reached the best accuracy.

    Protocol: init variance 0.1 (the report's best), lr 0.5, the same number
    of steps for every batch size (the report: "according to learning steps").
    Fluctuation: std of the step-to-step change of the mini-batch loss over
    the second half of training. Decided by (1) a decreasing rank trend of the
    fluctuation over the six batch sizes across seeds and (2) batch 1000
    being the best test accuracy at equal steps (stats.argbest).
    """
    configs = {b: _batch_config(b, profile) for b in BATCH_SIZES}
    runs = {b: [hw2.run(c, s, device) for s in seeds] for b, c in configs.items()}
    n_train = configs[1].train_size or len(hw2.train)
    sizes = [n_train if b == "full" else b for b in BATCH_SIZES]
    fluctuation = {b: [loss_fluctuation(r.history.step_loss) for r in rs] for b, rs in runs.items()}
    accuracy = {b: [hw2.test_accuracy(r) for r in rs] for b, rs in runs.items()}
    _network(claim, device, seeds, init="N(0, 0.1)", lr=TUTORIAL_LR, batch_sizes=sizes, steps=configs[1].steps,
             train_size=n_train)
    if not profile.full:
        claim.scaled(f"training set: the first 5 500 of the 55 000 images (so 'full batch' = 5 500) and "
                     f"{configs[1].steps} steps per batch size instead of 55 000 and 5 000 (the report's step "
                     f"count for batch 10); full-batch steps on 55 000 images cost ~0.3 s each on one CPU thread")
    claim.report(best_batch_size=1000, trend="loss fluctuates less as the batch grows")
    claim.measure(loss_fluctuation={str(b): f for b, f in fluctuation.items()},
                  test_acc={str(b): a for b, a in accuracy.items()})
    claim.figure(curves({f"batch {b}": runs[b][0].history.step_loss for b in BATCH_SIZES}, xlabel="step",
                        ylabel="mini-batch loss", logy=True, title=f"Loss per batch size (seed {seeds[0]})"),
                 "loss-per-batch-size")
    claim.expect(stats.rank_trend(sizes, [fluctuation[b] for b in BATCH_SIZES], alternative="decreasing"),
                 "loss fluctuation decreases with the batch size")
    claim.expect(stats.argbest({str(b): accuracy[b] for b in BATCH_SIZES}, claimed="1000"),
                 "batch 1000 has the best test accuracy at equal steps")


# -- Part 5: learning rate ----------------------------------------------------------------------------


@pytest.mark.claim(
    "hw2.higher-lr-faster", source="hw2 Practical Exercise 1, Part 5 (Fig. 29-36)",
    xfail={"default": Finding("a higher lr does converge faster over 0.001 → 0.005 → 0.01, but the largest rates do not make the loss fluctuate more than lr 0.01 does", fails=('the loss fluctuates more at lr 1 than at lr 0.01', 'the loss fluctuates more at lr 2 than at lr 0.01'))},
)
def test_higher_lr_faster(claim, hw2, device, seeds, profile):
    """With batch 1000, a higher learning rate (0.001 → 0.005 → 0.01) converges faster; too high a rate fluctuates.

    The report: test accuracy 0.418, 0.724, 0.853 after 10 000 steps at
    lr 0.001, 0.005, 0.01. Protocol: init variance 0.1, batch 1000, a fixed
    step count for every rate. Decided by (1) an increasing rank trend of test
    accuracy over lr 0.001, 0.005, 0.01 across seeds and (2) the loss
    fluctuation (std of step-to-step loss change, second half) at the largest
    rates, 1 and 2, above that at 0.01 (paired over seeds).
    """
    steps = profile.pick(default=200, full=10_000)
    rates = profile.pick(default=(0.001, 0.005, 0.01, 0.1, 1.0, 2.0), full=LEARNING_RATES)
    runs = {lr: [hw2.run(Config(init=0.1, batch_size=LR_BATCH, lr=lr, steps=steps), s, device) for s in seeds]
            for lr in rates}
    accuracy = {lr: [hw2.test_accuracy(r) for r in rs] for lr, rs in runs.items()}
    fluctuation = {lr: [loss_fluctuation(r.history.step_loss) for r in rs] for lr, rs in runs.items()}
    _network(claim, device, seeds, init="N(0, 0.1)", batch_size=LR_BATCH, learning_rates=list(rates), steps=steps)
    if not profile.full:
        claim.scaled(f"{steps} steps instead of 10 000, and rates {list(rates)} of the report's {list(LEARNING_RATES)}")
    claim.report(test_acc={"0.001": 0.4176, "0.005": 0.7239, "0.01": 0.853}, steps=10_000)
    claim.measure(test_acc={str(lr): a for lr, a in accuracy.items()},
                  loss_fluctuation={str(lr): f for lr, f in fluctuation.items()})
    claim.figure(curves({f"lr {lr}": runs[lr][0].history.step_loss for lr in rates}, xlabel="step",
                        ylabel="mini-batch loss", logy=True, title=f"Loss per learning rate, batch 1000 (seed {seeds[0]})"),
                 "loss-per-learning-rate")
    slow = (0.001, 0.005, 0.01)
    claim.expect(stats.rank_trend(list(slow), [accuracy[lr] for lr in slow], alternative="increasing"),
                 "test accuracy after a fixed step count rises over lr 0.001 → 0.005 → 0.01")
    for lr in (1.0, 2.0):
        claim.expect(stats.compare_paired(fluctuation[lr], fluctuation[0.01], alternative="greater"),
                     f"the loss fluctuates more at lr {lr:g} than at lr 0.01")


# -- Part 6: early stopping ---------------------------------------------------------------------------


@pytest.mark.claim("hw2.early-stopping-point", source="hw2 Practical Exercise 1, Part 6 (Fig. 37-40)")
def test_early_stopping_point(claim, hw2, device, seeds, profile):
    """Validation loss reaches a minimum and then rises while the training loss keeps falling (≈ 20 000 steps).

    The report: batch 1000, lr 2, validation every 1 000 steps up to 100 000
    steps; stop at ≈ 20 000; test acc 0.932, train 0.970. Decided, before
    measuring, by: (1) the validation-loss minimum lies strictly before the
    last evaluation and the final validation loss is at least 5% above it
    (a rise, not noise); (2) the training loss (whole training set, eval
    mode) at the end is below its value at the validation minimum.
    """
    scaled = not profile.full
    config = Config(init=0.1, batch_size=EARLY_STOP_BATCH, lr=EARLY_STOP_LR,
                    steps=profile.pick(default=3_000, full=100_000), train_size=profile.pick(default=5_500, full=None),
                    eval_every=profile.pick(default=100, full=1_000), validate_on="validation")
    run_seeds = seeds[:1] if scaled else seeds
    runs = [hw2.run(config, s, device) for s in run_seeds]
    results = [_early_stopping_summary(hw2, r) for r in runs]
    _network(claim, device, run_seeds, init="N(0, 0.1)", batch_size=EARLY_STOP_BATCH, lr=EARLY_STOP_LR,
             steps=config.steps, eval_every=config.eval_every, train_size=config.train_size or len(hw2.train))
    if scaled:
        claim.scaled("training set: the first 5 500 of the 55 000 images, 3 000 steps (≈ 545 epochs) evaluated "
                     "every 100 steps, one seed; the report: 55 000 images, 100 000 steps (≈ 1 800 epochs) every "
                     "1 000 steps; the smaller set overfits in fewer steps")
    claim.report(stopping_step=20_000, test_acc=0.932, train_acc=0.9703818)
    claim.measure(runs=results)
    history = runs[0].history
    stop = results[0]["stopping_step"]
    fig = curves({"train": history.train_eval_loss, "validation": history.val_loss}, x=history.step,
                 xlabel="step", ylabel="cross-entropy", logy=True,
                 title=f"Early stopping: batch 1000, lr 2 (stop at step {stop})")
    fig.axes[0].axvline(stop, color="k", linestyle=":", linewidth=1)
    claim.figure(fig, "early-stopping")
    for result in results:
        claim.expect(result["min_before_end"] and result["final_over_min"] >= 1.05,
                     f"seed {result['seed']}: validation loss has an interior minimum and rises ≥ 5% after it")
        claim.expect(result["train_loss_end"] < result["train_loss_at_stop"],
                     f"seed {result['seed']}: training loss still falls after the validation minimum")


def _early_stopping_summary(hw2, run) -> dict:
    h = run.history
    best = int(np.argmin(h.val_loss))
    return {
        "seed": run.seed, "stopping_step": h.step[best], "min_before_end": best < len(h.val_loss) - 1,
        "val_loss_min": h.val_loss[best], "val_loss_final": h.val_loss[-1],
        "final_over_min": h.val_loss[-1] / h.val_loss[best],
        "train_loss_at_stop": h.train_eval_loss[best], "train_loss_end": h.train_eval_loss[-1],
        "val_acc_at_stop": h.val_acc[best], "val_acc_final": h.val_acc[-1],
        "train_acc_final": h.train_eval_acc[-1], "test_acc_final": hw2.test_accuracy(run),
    }
