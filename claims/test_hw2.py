"""Claims of the hw2 report: initialization, saturation, batch size, learning rate and early stopping
of an MNIST network with a sigmoid first hidden layer, trained by plain mini-batch gradient descent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from claims._checks import chance_accuracy, require_learned
from claims.hw2_protocol import (
    BATCH_SIZES,
    EARLY_STOP_BATCH,
    EARLY_STOP_LR,
    FIRST_LAYER,
    HIDDEN_ACTIVATION,
    LAST_LAYER,
    LEARNING_RATES,
    LR_BATCH,
    TUTORIAL_BATCH,
    TUTORIAL_LR,
    TUTORIAL_STEPS,
    VARIANCES,
    Config,
    Hw2Runs,
    layer_weight,
    loss_fluctuation,
    relative_weight_change,
    rms_weight_change,
    split_like_tf_input_data,
)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.probes import per_layer_grad_norms, saturation
from dlverify.report.figures import curves, subplots

# Every hw2 claim shares trained networks: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("hw2")

SATURATION_MARGIN = (
    0.05  # sigmoid output within 0.05 of 0 or 1: σ' ≤ 0.0475, under a fifth of its maximum 0.25
)
CHANCE = 0.1


@pytest.fixture(scope="session")
def hw2(mnist_train, mnist_test, run_cache) -> Hw2Runs:
    train, validation = split_like_tf_input_data(mnist_train)
    return Hw2Runs(train, validation, mnist_test, run_cache=run_cache)


def _require_learned(claim, hw2, accuracies: dict) -> None:
    """:func:`claims._checks.require_learned` on final test accuracies (MNIST's 10 000 test images)."""
    require_learned(claim, accuracies, chance=chance_accuracy(hw2.test.targets), metric="test acc")


def _record_protocol(claim, device, seeds, **protocol):
    claim.setup(
        network="784-100 sigmoid-10 softmax",
        optimizer="plain mini-batch SGD (no momentum)",
        data="MNIST: train = images 5000..59999 of the 60k (55 000), validation = the first 5 000, "
        "test = the 10 000 test images (TF1 input_data split)",
        device=str(device),
        seeds=list(seeds),
        **protocol,
    )


def _init_config(init) -> Config:
    return Config(init=init, batch_size=TUTORIAL_BATCH, lr=TUTORIAL_LR, steps=TUTORIAL_STEPS)


# -- Part 1: initialization ---------------------------------------------------------------------------


@pytest.mark.claim(
    "hw2.zero-init-no-learning",
    source="hw2 Practical Exercise 1, Part 1 (Fig. 2)",
    xfail=Finding(
        "the hidden units do not stay identical and the network learns well above chance: with "
        "the biases and the output layer free, the symmetry breaks",
        fails=(
            "the hidden units' incoming weight rows stay identical",
            "test accuracy near chance (≤ 0.15)",
        ),
    ),
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
    _record_protocol(
        claim,
        device,
        [0],
        init="all weights and biases 0",
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
    )
    claim.report(
        statement="zero init: all units identical, no learning (Fig. 2: accuracy stays at chance)"
    )
    claim.measure(
        test_acc=accuracy,
        majority_class_rate=majority,
        first_layer_row_spread=row_spread,
        output_layer_column_spread=column_spread,
        first_layer_weight_norm=float(torch.linalg.norm(w1)),
    )
    claim.figure(
        curves(
            {"zero init": run.history.step_loss},
            xlabel="step",
            ylabel="mini-batch loss",
            title="Zero initialization: training loss",
        ),
        "zero-init-loss",
    )
    claim.expect(row_spread <= 1e-6, "the hidden units' incoming weight rows stay identical")
    claim.expect(accuracy <= 0.15, "test accuracy near chance (≤ 0.15)")


# "does not change": per weight, layer 1 moves by under a tenth of what layer 2 moves
STATIC_RATIO = 0.1


@pytest.mark.claim(
    "hw2.zero-init-layer1-static",
    source="hw2 Practical Exercise 1, Parts 2&3 (Fig. 7)",
    xfail=Finding(
        "the first layer does move under zero init: per weight it moves less than the "
        "second layer, but not an order of magnitude less",
        fails=("per weight, layer 1 moves less than 0.1 × what layer 2 moves",),
    ),
)
def test_zero_init_layer1_static(claim, hw2, device, seeds):
    """With zero initialization the first layer's weights do not change during training.

    The report, on its Fig. 7 (zero init): "for histogram of weights in
    layer1 we faced with vanishing gradient as no change happened during
    training procedure". Protocol: the initialization study's zero-init run
    (every weight and bias 0; lr 0.5, batch 100, 1 000 steps), one run per
    seed (only the data order differs). Measured: the root-mean-square change
    per weight, rms(W(T) − W(0)), of the first layer (784 × 100) and of the
    second (100 × 10) — per weight, so the layers' sizes do not count.
    Decided, before measuring, by the ratio first/second being below 0.1 (an
    order of magnitude: the first layer stays put while the second visibly
    moves), on log10 of the ratio over seeds. The network is not required to
    have learned: zero init is expected to hinder it.
    """
    runs = hw2.runs(_init_config("zeros"), seeds, device)
    first = [rms_weight_change(r.initial, r.model, FIRST_LAYER) for r in runs]
    second = [rms_weight_change(r.initial, r.model, LAST_LAYER) for r in runs]
    ratio = [a / b for a, b in zip(first, second)]
    _record_protocol(
        claim,
        device,
        seeds,
        init="all weights and biases 0",
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
        static_ratio=STATIC_RATIO,
    )
    claim.report(
        statement="zero init: no change in the histogram of the first layer's weights (Fig. 7)"
    )
    claim.measure(
        first_layer_rms_change=first, second_layer_rms_change=second, first_over_second=ratio
    )
    claim.figure(
        _weight_change_histograms(runs[0], "Zero initialization"), "zero-init-weight-changes"
    )
    claim.expect(
        stats.compare_to_value(
            [math.log10(max(r, 1e-12)) for r in ratio], math.log10(STATIC_RATIO), alternative="less"
        ),
        f"per weight, layer 1 moves less than {STATIC_RATIO:g} × what layer 2 moves",
    )


def _weight_change_histograms(run, title: str):
    fig, axes = subplots(1, 2, figsize=(8, 3.2))
    layers = ((FIRST_LAYER, "layer 1 (784×100)"), (LAST_LAYER, "layer 2 (100×10)"))
    for ax, (layer, name) in zip(axes, layers):
        change = layer_weight(run.model, layer) - layer_weight(run.initial, layer)
        change = change.flatten().cpu().numpy()
        ax.hist(change, bins=50)
        ax.set_yscale("log")
        ax.set_title(f"{name}: W(T) − W(0)", fontsize=9)
    fig.suptitle(f"{title} (seed {run.seed})", fontsize=10)
    fig.tight_layout()
    return fig


@pytest.mark.claim(
    "hw2.smaller-variance-better", source="hw2 Practical Exercise 1, Part 1 (Fig. 3, 4)"
)
def test_smaller_variance_better(claim, hw2, device, seeds):
    """With Gaussian init of variance 0.1, 0.2, 0.3, 1, 2 accuracy falls as the variance rises; 0.1 is best.

    Protocol: weights N(0, variance) (std = √variance) in both layers, zero
    biases; lr 0.5, batch 100, 1 000 steps (the TF1 MNIST tutorial's setting;
    the report gives neither). Decided by (1) a decreasing rank trend of test
    accuracy over the five variances across seeds and (2) variance 0.1 being
    the best condition (stats.argbest). Only variance 0.1 must have learned
    (test acc ≥ chance + 0.1): that the larger variances, down to the frozen
    first layers of variance 1 and 2, learn worse is the claim.
    """
    accuracy = {
        v: [hw2.test_accuracy(r) for r in hw2.runs(_init_config(v), seeds, device)]
        for v in VARIANCES
    }
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, variance), zero biases",
        variances=list(VARIANCES),
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
    )
    claim.report(best_variance=0.1, trend="accuracy falls as the variance rises")
    claim.measure(
        test_acc={str(v): a for v, a in accuracy.items()},
        mean_test_acc={str(v): float(np.mean(a)) for v, a in accuracy.items()},
    )
    claim.figure(_accuracy_vs_variance(accuracy), "accuracy-vs-variance")
    _require_learned(claim, hw2, {"variance 0.1": accuracy[0.1]})
    claim.expect(
        stats.rank_trend(
            list(VARIANCES), [accuracy[v] for v in VARIANCES], alternative="decreasing"
        ),
        "test accuracy decreases with the init variance",
    )
    claim.expect(
        stats.argbest({str(v): accuracy[v] for v in VARIANCES}, claimed="0.1"),
        "variance 0.1 has the best test accuracy",
    )


def _accuracy_vs_variance(accuracy):
    fig, ax = subplots(figsize=(5.5, 3.6))
    for v, values in accuracy.items():
        ax.plot([v] * len(values), values, "o", color="C0", alpha=0.6)
    ax.plot(
        list(accuracy),
        [np.mean(a) for a in accuracy.values()],
        "-",
        color="C0",
        label="mean over seeds",
    )
    ax.set_xscale("log")
    ax.set_xlabel("init variance")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy vs Gaussian init variance", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- Parts 2 & 3: saturation and vanishing gradients --------------------------------------------------


SATURATED_VARIANCES = (0.1, 0.2, 0.3)  # the report's Figs 9, 13, 16: "activation ... saturated"
FROZEN_INITS = ("zeros", 1.0, 2.0)  # its Figs 7, 18, 20: "no change happened" in layer 1's weights
FROZEN_CHANGE = 0.1  # "no change" in a histogram: the weights moved under a tenth of their spread


def _frozen_ratio(run) -> float:
    """‖W1(T) − W1(0)‖_F / ‖W1(T)‖_F: how far layer 1's weights moved, relative to their spread."""
    w0, w1 = layer_weight(run.initial, FIRST_LAYER), layer_weight(run.model, FIRST_LAYER)
    moved, spread = float(torch.linalg.norm(w1 - w0)), float(torch.linalg.norm(w1))
    return 0.0 if moved == 0.0 else moved / spread


_SATURATED = f"most first-layer outputs saturated (within {SATURATION_MARGIN} of 0 or 1)"
_FROZEN = f"first-layer weights frozen (moved < {FROZEN_CHANGE:g} of their spread)"


@pytest.mark.claim(
    "hw2.sigmoid-saturates",
    source="hw2 Practical Exercise 1, Parts 2&3 (Fig. 7-22)",
    # Measured under both profiles (full: 2026-11-24, all eight hw2 claims that cost minutes,
    # decided at the 5-seed look: 0.40, 0.54 and 0.62 of the outputs saturated at variance
    # 0.1, 0.2 and 0.3; the full finding recorded under the earlier verdict rules decided 0.2
    # and 0.3 as saturated).
    xfail=Finding(
        "variance 1 and 2 do freeze the first layer's weights, but with zero init the "
        "first-layer weights move away from zero instead of staying frozen, which refutes "
        "the claim at the first look (3 seeds, 5 under --profile full); there the share of "
        "saturated outputs is not decided for variance 0.1, 0.2 or 0.3 (0.1 lies below a "
        "half, 0.2 and 0.3 above, by less than the one-sample interval's width at that look)",
        fails=(
            f"variance 0.1: {_SATURATED}",
            f"variance 0.2: {_SATURATED}",
            f"variance 0.3: {_SATURATED}",
            f"zero init: {_FROZEN}",
        ),
    ),
)
def test_sigmoid_saturates(claim, hw2, device, seeds):
    """The sigmoid layer saturates at variance 0.1, 0.2, 0.3; its weights freeze at zeros, 1 and 2.

    What the report ties to what (catalogue v2 correction): saturation, the
    first-layer activations "reached to 1", to Var 0.1, 0.2 and 0.3 (its
    Figs 9, 13, 16), and vanishing gradients, "no change happened" in the
    histogram of the first layer's weights, to zero init, Var 1 and Var 2
    (Figs 7, 18, 20). The test decides exactly those six statements on the
    initialization study's runs (lr 0.5, batch 100, 1 000 steps), with
    criteria fixed before measuring:

    * saturated: the majority (> 0.5) of the first-layer sigmoid outputs on
      the 5 000 validation images after training lie within 0.05 of 0 or 1,
      where σ' ≤ 0.0475, under a fifth of its maximum (mean over seeds);
    * frozen: ‖W1(T) − W1(0)‖_F / ‖W1(T)‖_F < 0.1 — the weights moved by
      under a tenth of their spread at the end, which a histogram does not
      show (decided on log10 of the ratio over seeds; with zero init the
      ratio is 1 unless the weights never moved).

    The former version decided two rank trends over the variances (more
    saturation and less relative weight change as the variance grows); they
    are still measured and recorded, with the per-layer gradient norms at
    initialization as the mechanism's evidence, but no longer decide. No
    network is required to have learned: saturated or frozen sigmoids, the
    claim's content, are reasons not to.
    """
    inputs = hw2.validation.inputs.to(device)
    inits = tuple(dict.fromkeys(FROZEN_INITS + VARIANCES))
    runs = hw2.grid([_init_config(v) for v in inits], seeds, device)
    runs = {v: runs[_init_config(v)] for v in inits}
    saturated = {
        v: [
            saturation(r.model, inputs, HIDDEN_ACTIVATION, margin=SATURATION_MARGIN)
            for r in runs[v]
        ]
        for v in VARIANCES
    }
    saturated_init = {
        v: [
            saturation(r.initial, inputs, HIDDEN_ACTIVATION, margin=SATURATION_MARGIN)
            for r in runs[v]
        ]
        for v in VARIANCES
    }
    frozen = {v: [_frozen_ratio(r) for r in runs[v]] for v in inits}
    changed = {v: [relative_weight_change(r.initial, r.model) for r in runs[v]] for v in VARIANCES}
    grad_first, grad_last = {}, {}
    for v in VARIANCES:
        norms = [
            per_layer_grad_norms(
                r.initial, F.cross_entropy, (inputs, hw2.validation.targets.to(device))
            )
            for r in runs[v]
        ]
        grad_first[v] = [n[f"{FIRST_LAYER}.weight"] for n in norms]
        grad_last[v] = [n[f"{LAST_LAYER}.weight"] for n in norms]
    _record_protocol(
        claim,
        device,
        seeds,
        inits=[str(v) for v in inits],
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
        saturation_margin=SATURATION_MARGIN,
        frozen_change=FROZEN_CHANGE,
        probe_data="5 000 validation images",
    )
    claim.report(
        saturated_at=[str(v) for v in SATURATED_VARIANCES],
        frozen_first_layer_at=[str(v) for v in FROZEN_INITS],
        statement="saturation: activations reached 1 (Figs 9, 13, 16); vanishing: no "
        "change in layer 1's weight histogram (Figs 7, 18, 20)",
    )
    claim.measure(
        saturation_after_training={str(v): x for v, x in saturated.items()},
        saturation_at_init={str(v): x for v, x in saturated_init.items()},
        first_layer_moved_over_spread={str(v): x for v, x in frozen.items()},
        relative_first_layer_change={str(v): x for v, x in changed.items()},
        first_layer_grad_norm_at_init={str(v): x for v, x in grad_first.items()},
        last_layer_grad_norm_at_init={str(v): x for v, x in grad_last.items()},
        saturation_trend=stats.rank_trend(
            list(VARIANCES), [saturated[v] for v in VARIANCES], alternative="increasing"
        ).as_dict(),
        change_trend=stats.rank_trend(
            list(VARIANCES), [changed[v] for v in VARIANCES], alternative="decreasing"
        ).as_dict(),
    )
    claim.figure(_first_layer_histograms(hw2, device, seeds[0], inputs), "first-layer-histograms")
    for v in SATURATED_VARIANCES:
        claim.expect(
            stats.compare_to_value(saturated[v], 0.5, alternative="greater"),
            f"variance {v:g}: {_SATURATED}",
        )
    for v in FROZEN_INITS:
        name = "zero init" if v == "zeros" else f"variance {v:g}"
        claim.expect(
            stats.compare_to_value(
                [math.log10(max(x, 1e-12)) for x in frozen[v]],
                math.log10(FROZEN_CHANGE),
                alternative="less",
            ),
            f"{name}: {_FROZEN}",
        )


def _first_layer_histograms(hw2, device, seed, inputs):
    inits = ("zeros",) + VARIANCES
    fig, axes = subplots(2, len(inits), figsize=(3 * len(inits), 5))
    for column, v in enumerate(inits):
        run = hw2.run(_init_config(v), seed, device)
        name = "zero init" if v == "zeros" else f"var {v}"
        w0 = layer_weight(run.initial, FIRST_LAYER).flatten().cpu()
        w1 = layer_weight(run.model, FIRST_LAYER).flatten().cpu()
        axes[0, column].hist(
            [w0.numpy(), w1.numpy()], bins=40, label=["init", "end"], histtype="step"
        )
        axes[0, column].set_title(f"{name}: layer-1 weights", fontsize=9)
        with torch.no_grad():
            acts = run.model[:3](inputs).flatten().cpu()  # Flatten, Linear, Sigmoid
        axes[1, column].hist(acts.numpy(), bins=40, range=(0, 1))
        axes[1, column].set_title(f"{name}: layer-1 sigmoid outputs", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


NEAR_ONE, NEAR_ZERO = 0.99, 0.01  # the catalogue's "> 0.99"; σ' < 0.0099 there, < 4% of its max


def _output_shares(model, inputs) -> tuple[float, float]:
    """(share of first-layer sigmoid outputs > 0.99, share < 0.01) over all units and images."""
    with torch.no_grad():
        outputs = model[:3](inputs)  # Flatten, Linear, Sigmoid
    return float((outputs > NEAR_ONE).double().mean()), float((outputs < NEAR_ZERO).double().mean())


@pytest.mark.claim(
    "hw2.saturation-small-variance",
    source="hw2 Practical Exercise 1, Parts 2&3 (Fig. 9, 13, 16)",
    xfail=Finding(
        "training does push more outputs above 0.99, but at variance 0.1, 0.2 and 0.3 "
        "the outputs pile up at 0 at least as much as at 1: they saturate at both ends, "
        "not towards 1",
        fails=(
            "variance 0.1: more outputs above 0.99 than below 0.01",
            "variance 0.2: more outputs above 0.99 than below 0.01",
            "variance 0.3: more outputs above 0.99 than below 0.01",
        ),
    ),
)
def test_saturation_small_variance(claim, hw2, device, seeds):
    """At init variance 0.1 (and 0.2, 0.3) the first layer's sigmoid outputs saturate towards 1.

    The report: "It is obvious from figure9 that activation function
    saturated as its reached to 1 ... Saturation also happened in figure13
    and 16" (Var 0.1, 0.2, 0.3; TensorBoard histograms of the layer-1
    activations over training). Protocol: the initialization study's runs
    (lr 0.5, batch 100, 1 000 steps); outputs on the 5 000 validation
    images. Decided per variance, before measuring, by the two parts of
    "saturate towards 1", each paired over seeds: (1) towards 1, not 0: the
    share of outputs above 0.99 exceeds the share below 0.01 after training;
    (2) saturate, i.e. training drives them there: the share above 0.99 after
    training exceeds that at initialization. How large the saturated share
    is (the majority criterion) is hw2.sigmoid-saturates' question. No
    network is required to have learned: saturating sigmoids are the claim.
    """
    inputs = hw2.validation.inputs.to(device)
    runs = hw2.grid([_init_config(v) for v in SATURATED_VARIANCES], seeds, device)
    high, low, high_init = {}, {}, {}
    for v in SATURATED_VARIANCES:
        shares = [_output_shares(r.model, inputs) for r in runs[_init_config(v)]]
        high[v], low[v] = [h for h, _ in shares], [lo for _, lo in shares]
        high_init[v] = [_output_shares(r.initial, inputs)[0] for r in runs[_init_config(v)]]
    _record_protocol(
        claim,
        device,
        seeds,
        variances=list(SATURATED_VARIANCES),
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
        near_one=NEAR_ONE,
        near_zero=NEAR_ZERO,
        probe_data="5 000 validation images",
    )
    claim.report(
        statement="Var 0.1, 0.2, 0.3: the layer-1 activations saturated, reaching 1 "
        "(Figs 9, 13, 16)"
    )
    claim.measure(
        share_above_099={str(v): x for v, x in high.items()},
        share_below_001={str(v): x for v, x in low.items()},
        share_above_099_at_init={str(v): x for v, x in high_init.items()},
    )
    claim.figure(_output_histograms(hw2, device, seeds[0], inputs), "layer-1-outputs")
    for v in SATURATED_VARIANCES:
        claim.expect(
            stats.compare_paired(high[v], low[v], alternative="greater"),
            f"variance {v:g}: more outputs above 0.99 than below 0.01",
        )
        claim.expect(
            stats.compare_paired(high[v], high_init[v], alternative="greater"),
            f"variance {v:g}: training raises the share of outputs above 0.99",
        )


def _output_histograms(hw2, device, seed, inputs):
    columns = len(SATURATED_VARIANCES)
    fig, axes = subplots(1, columns, figsize=(3.4 * columns, 3.0))
    for ax, v in zip(axes, SATURATED_VARIANCES):
        run = hw2.run(_init_config(v), seed, device)
        with torch.no_grad():
            start = run.initial[:3](inputs).flatten().cpu().numpy()
            end = run.model[:3](inputs).flatten().cpu().numpy()
        ax.hist([start, end], bins=50, range=(0, 1), label=["init", "end"], histtype="step")
        ax.set_yscale("log")
        ax.set_title(f"var {v}: layer-1 sigmoid outputs", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"First-layer activations on the validation images (seed {seed})", fontsize=10)
    fig.tight_layout()
    return fig


SLOWER_BY = 2.0  # "much more slowly": at least a factor 2


def _relative_gradients(run, data) -> dict[str, float]:
    """‖∂L/∂W‖_F / ‖W‖_F per layer at initialization on ``data`` (a step's relative size / lr)."""
    norms = per_layer_grad_norms(run.initial, F.cross_entropy, data)
    weights = {
        layer: float(torch.linalg.norm(layer_weight(run.initial, layer)))
        for layer in (FIRST_LAYER, LAST_LAYER)
    }
    return {layer: norms[f"{layer}.weight"] / weight for layer, weight in weights.items()}


@pytest.mark.claim("hw2.early-layers-learn-slower", source="hw2 Practical Exercise 1, Parts 2&3")
def test_early_layers_learn_slower(claim, hw2, device, seeds):
    """Earlier layers learn much more slowly than later ones.

    The report: "the gradients tend to get smaller as we keep on moving
    backward in the network so neurons in the earlier layers learn very
    slowly compared to the neurons in the latter layers". Protocol: the
    initialization study's runs at every variance (lr 0.5, batch 100, 1 000
    steps), layer 1 (784 → 100, sigmoid) against layer 2 (100 → 10). Two
    scale-free measures, so that the layers' sizes do not count: how much a
    layer learned, ‖W(T) − W(0)‖/‖W(0)‖, and how fast it starts to, the
    relative gradient ‖∂L/∂W‖/‖W‖ at initialization on the 5 000
    validation images. "Much more slowly" is read, before measuring, as by
    at least a factor 2: per variance, log2(layer 1 / layer 2) below −1 on
    each measure, over seeds. No network is required to have learned:
    vanishing gradients, the claim's mechanism, are a reason not to.
    """
    data = (hw2.validation.inputs.to(device), hw2.validation.targets.to(device))
    runs = hw2.grid([_init_config(v) for v in VARIANCES], seeds, device)
    change_ratio, gradient_ratio = {}, {}
    for v in VARIANCES:
        rs = runs[_init_config(v)]
        change_ratio[v] = [
            relative_weight_change(r.initial, r.model, FIRST_LAYER)
            / relative_weight_change(r.initial, r.model, LAST_LAYER)
            for r in rs
        ]
        gradients = [_relative_gradients(r, data) for r in rs]
        gradient_ratio[v] = [g[FIRST_LAYER] / g[LAST_LAYER] for g in gradients]
    _record_protocol(
        claim,
        device,
        seeds,
        variances=list(VARIANCES),
        lr=TUTORIAL_LR,
        batch_size=TUTORIAL_BATCH,
        steps=TUTORIAL_STEPS,
        slower_by=SLOWER_BY,
        probe_data="5 000 validation images",
    )
    claim.report(statement="earlier layers learn very slowly compared to the later ones")
    claim.measure(
        relative_change_layer1_over_layer2={str(v): x for v, x in change_ratio.items()},
        relative_gradient_layer1_over_layer2_at_init={str(v): x for v, x in gradient_ratio.items()},
    )
    claim.figure(_layer_ratio_figure(change_ratio, gradient_ratio), "layer1-vs-layer2")
    for v in VARIANCES:
        claim.expect(
            stats.compare_to_value(
                [math.log2(x) for x in change_ratio[v]], -math.log2(SLOWER_BY), alternative="less"
            ),
            f"variance {v:g}: layer 1's relative weight change under half of layer 2's",
        )
        claim.expect(
            stats.compare_to_value(
                [math.log2(x) for x in gradient_ratio[v]], -math.log2(SLOWER_BY), alternative="less"
            ),
            f"variance {v:g}: layer 1's relative gradient at init under half of layer 2's",
        )


def _layer_ratio_figure(change_ratio, gradient_ratio):
    fig, ax = subplots(figsize=(5.5, 3.6))
    for offset, (label, ratios) in zip(
        (0.97, 1.03),
        (("‖ΔW‖/‖W₀‖ over training", change_ratio), ("‖∇W‖/‖W‖ at init", gradient_ratio)),
    ):
        for v, values in ratios.items():
            ax.plot(
                [v * offset] * len(values),
                values,
                "o",
                alpha=0.6,
                color="C0" if offset < 1 else "C1",
                label=label if v == VARIANCES[0] else None,
            )
    ax.axhline(1 / SLOWER_BY, color="k", linestyle=":", linewidth=1, label="factor 2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("init variance")
    ax.set_ylabel("layer 1 / layer 2")
    ax.set_title("How fast layer 1 learns relative to layer 2", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- Part 4: batch size -------------------------------------------------------------------------------


def _batch_config(batch, profile) -> Config:
    """The batch-size study: variance 0.1, lr 0.5, equal steps; test accuracy every 25 (100)."""
    return Config(
        init=0.1,
        batch_size=batch,
        lr=TUTORIAL_LR,
        steps=profile.pick(default=300, full=5_000),
        train_size=profile.pick(default=5_500, full=None),
        eval_every=profile.pick(default=25, full=100),
    )


@pytest.mark.claim(
    "hw2.batch-size-smoother",
    source="hw2 Practical Exercise 1, Part 4 (Fig. 23-28)",
    xfail={
        "default": Finding(
            "the loss does fluctuate less as the batch grows, but batch 1000 is not confidently "
            "the best at equal steps (inconclusive at the seed budget)",
            fails=("batch 1000 has the best test accuracy at equal steps",),
        ),
        "full": Finding(
            "on all 55 000 images the loss fluctuates less as the batch grows, but batch 1000 and "
            "the full batch end at the same test accuracy: batch 1000 is not confidently the best",
            fails=("batch 1000 has the best test accuracy at equal steps",),
            # Measured 2026-11-25 on an Intel Xeon, at the full profile's last look (20 seeds):
            # mean test accuracy 0.96271 at batch 1000 and 0.96270 with the full batch (paired
            # difference 0.00001, 96.25 % CI [-0.00025, 0.00027]); 0.9619 at 100, 0.7476 at 1;
            # fluctuation 3.46, 0.32, 0.11, 0.074, 0.022, 0.0 (batch 1 ... full).
        ),
    },
)
def test_batch_size_smoother(claim, hw2, device, seeds, profile):
    """Larger batches (1, 10, 50, 100, 1000, full) give a less fluctuating loss; batch 1000 reached the best accuracy.

    Protocol: init variance 0.1 (the report's best), lr 0.5, the same number
    of steps for every batch size (the report: "according to learning steps").
    Fluctuation: std of the step-to-step change of the mini-batch loss over
    the second half of training. Decided by (1) a decreasing rank trend of the
    fluctuation over the six batch sizes across seeds and (2) batch 1000
    being the best test accuracy at equal steps (stats.argbest). Every batch
    size must have learned (test acc ≥ chance + 0.1).
    """
    configs = {b: _batch_config(b, profile) for b in BATCH_SIZES}
    runs = {b: hw2.runs(c, seeds, device) for b, c in configs.items()}
    n_train = configs[1].train_size or len(hw2.train)
    sizes = [n_train if b == "full" else b for b in BATCH_SIZES]
    fluctuation = {b: [loss_fluctuation(r.history.step_loss) for r in rs] for b, rs in runs.items()}
    accuracy = {b: [hw2.test_accuracy(r) for r in rs] for b, rs in runs.items()}
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        lr=TUTORIAL_LR,
        batch_sizes=sizes,
        steps=configs[1].steps,
        train_size=n_train,
    )
    if not profile.full:
        claim.scaled(
            f"training set: the first 5 500 of the 55 000 images (so 'full batch' = 5 500) and "
            f"{configs[1].steps} steps per batch size instead of 55 000 and 5 000 (the report's step "
            f"count for batch 10); full-batch steps on 55 000 images cost ~0.3 s each on one CPU thread"
        )
    claim.report(best_batch_size=1000, trend="loss fluctuates less as the batch grows")
    claim.measure(
        loss_fluctuation={str(b): f for b, f in fluctuation.items()},
        test_acc={str(b): a for b, a in accuracy.items()},
    )
    claim.figure(
        curves(
            {f"batch {b}": runs[b][0].history.step_loss for b in BATCH_SIZES},
            xlabel="step",
            ylabel="mini-batch loss",
            logy=True,
            title=f"Loss per batch size (seed {seeds[0]})",
        ),
        "loss-per-batch-size",
    )
    _require_learned(claim, hw2, {f"batch {b}": accuracy[b] for b in BATCH_SIZES})
    claim.expect(
        stats.rank_trend(sizes, [fluctuation[b] for b in BATCH_SIZES], alternative="decreasing"),
        "loss fluctuation decreases with the batch size",
    )
    claim.expect(
        stats.argbest({str(b): accuracy[b] for b in BATCH_SIZES}, claimed="1000"),
        "batch 1000 has the best test accuracy at equal steps",
    )


TARGET_FRACTION = 0.95  # "trained": 95% of the best final test accuracy of the batch sizes (a seed)


def _steps_to(history, target: float) -> int | None:
    """The first evaluated step whose test accuracy reaches ``target``; None if none does."""
    steps = zip(history.step, history.val_acc)
    return next((step for step, accuracy in steps if accuracy >= target), None)


@pytest.mark.claim(
    "hw2.large-batch-fewer-steps", source="hw2 Practical Exercise 1, Part 4 (Fig. 23-28)"
)
def test_large_batch_fewer_steps(claim, hw2, device, seeds, profile):
    """Larger batches need fewer steps to train.

    The report: "as batch size increased ... also less step is needed to
    train the network". Protocol: the batch-size study's runs (variance 0.1,
    lr 0.5, batches 1, 10, 50, 100, 1000, full, the same number of steps),
    with the test accuracy evaluated every 25 steps (full profile: 100).
    "Trained" needs a common target: 95% of the best final test accuracy
    that any of the six batch sizes reaches with that seed (a level some
    batch size attains by construction; the report gives none). Measured:
    the first evaluated step at which the test accuracy reaches it; a run
    that never does ranks after every run that does (its steps are recorded
    as None). Decided by a decreasing rank trend of those steps over the
    batch sizes across seeds (Page's L). Every batch size must have learned
    (final test acc ≥ chance + 0.1).
    """
    configs = {b: _batch_config(b, profile) for b in BATCH_SIZES}
    runs = {b: hw2.runs(c, seeds, device) for b, c in configs.items()}
    n_train = configs[1].train_size or len(hw2.train)
    sizes = [n_train if b == "full" else b for b in BATCH_SIZES]
    targets = [
        TARGET_FRACTION * max(runs[b][i].history.val_acc[-1] for b in BATCH_SIZES)
        for i in range(len(seeds))
    ]
    reached = {b: [_steps_to(r.history, t) for r, t in zip(runs[b], targets)] for b in BATCH_SIZES}
    never = configs[1].steps + configs[1].eval_every  # ranks a run that never got there last
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        lr=TUTORIAL_LR,
        batch_sizes=sizes,
        steps=configs[1].steps,
        train_size=n_train,
        eval_every=configs[1].eval_every,
        target=f"{TARGET_FRACTION} × best final test acc",
    )
    if not profile.full:
        claim.scaled(
            f"as hw2.batch-size-smoother: the first 5 500 images and {configs[1].steps} "
            f"steps per batch size instead of 55 000 and 5 000; documented cost ≈ "
            f"1.3·10¹⁴ FLOP per seed (the full-batch run alone 5 000 × 55 000 "
            f"sample-passes), beyond the default profile on 2 cores"
        )
    claim.report(statement="as the batch size grows, fewer steps are needed to train the network")
    claim.measure(
        target_test_acc=targets,
        steps_to_target={str(b): x for b, x in reached.items()},
        final_test_acc={str(b): [r.history.val_acc[-1] for r in rs] for b, rs in runs.items()},
    )
    claim.figure(
        curves(
            {f"batch {b}": runs[b][0].history.val_acc for b in BATCH_SIZES},
            x=runs[1][0].history.step,
            xlabel="step",
            ylabel="test accuracy",
            title=f"Test accuracy per batch size (seed {seeds[0]}; target {targets[0]:.3f})",
        ),
        "test-accuracy-per-batch-size",
    )
    _require_learned(
        claim,
        hw2,
        {f"batch {b}": [r.history.val_acc[-1] for r in runs[b]] for b in BATCH_SIZES},
    )
    steps = [[never if x is None else x for x in reached[b]] for b in BATCH_SIZES]
    claim.expect(
        stats.rank_trend(sizes, steps, alternative="decreasing"),
        "steps to the target test accuracy decrease with the batch size",
    )


BATCH50_STEPS, BATCH50_WINDOW = 5_000, 7  # the report's run; its log shows steps 4993-4999
REPORTED_BATCH50_LOSSES = (
    0.16715118,
    0.18832992,
    0.59605277,
    0.22909981,
    0.27075666,
    0.06928189,
    0.30363256,
)


def _window_ranges(values, window: int, last: int) -> float:
    """Mean over the last ``last`` steps of (max − min) of ``window`` consecutive values."""
    tail = np.asarray(values[-last:], dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(tail, window)
    return float(np.mean(windows.max(axis=1) - windows.min(axis=1)))


@pytest.mark.claim(
    "hw2.batch50-log",
    source="hw2 Practical Exercise 1, Part 4 (log under Fig. 24)",
    xfail=Finding(
        "the documented run ends well above the report's test and train accuracy, and "
        "its per-step test loss swings less than the report's window does",
        fails=(
            "final test accuracy within 1 point of 0.9277",
            "final train accuracy within 1 point of 0.9310",
            "the per-step test loss swings as in the report "
            "(7-step range within a factor 2 of 0.527)",
        ),
    ),
)
def test_batch50_log(claim, hw2, device, seeds):
    """Batch 50, 5 000 steps: test accuracy 0.9277, train 0.9310; the test loss swings (0.07–0.60).

    The documented run, which fits the default profile (5 000 steps of 50
    images): the 55 000 training images, batch 50, 5 000 steps, with the
    batch-size study's variance 0.1 and lr 0.5 (the report gives neither).
    The log's per-step "test loss" swings too much between consecutive steps
    for the whole test set (0.07 → 0.30 in one step at 0.93 accuracy), so it is
    the loss on a test mini-batch of the training batch size, 50, taken as
    TF1's ``next_batch`` does (consecutive batches of a permutation of the
    test set; ``NextTestBatchLoss``). Decided, before measuring, over seeds:
    the final test accuracy (10 000 images) and train accuracy (55 000)
    each within 1 point of the report's; and the swing: the range (max −
    min) of 7 consecutive per-step test losses — the report's window, 0.069
    to 0.596, range 0.527 — averaged over every such window of the last
    1 000 steps, within a factor 2 of 0.527 (on log2 of the ratio).
    """
    config = Config(init=0.1, batch_size=50, lr=TUTORIAL_LR, steps=BATCH50_STEPS, test_batch=50)
    runs = hw2.runs(config, seeds, device)
    test_acc = [hw2.test_accuracy(r) for r in runs]
    train_acc = [hw2.train_accuracy(r) for r in runs]
    swing = [_window_ranges(r.test_batch_loss, BATCH50_WINDOW, 1_000) for r in runs]
    reported_swing = max(REPORTED_BATCH50_LOSSES) - min(REPORTED_BATCH50_LOSSES)
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        lr=TUTORIAL_LR,
        batch_size=50,
        steps=BATCH50_STEPS,
        train_size=len(hw2.train),
        test_loss="cross-entropy on the next 50 test images, after every step",
    )
    claim.report(
        test_acc=0.9277,
        train_acc=0.9310182,
        test_loss_steps_4993_4999=list(REPORTED_BATCH50_LOSSES),
        test_loss_range=reported_swing,
    )
    claim.measure(
        test_acc=test_acc,
        train_acc=train_acc,
        mean_range_of_7_step_windows=swing,
        test_loss_steps_4993_4999=[r.test_batch_loss[-BATCH50_WINDOW:] for r in runs],
    )
    claim.figure(_batch50_figure(runs[0]), "batch50-test-loss")
    claim.expect(
        stats.within(test_acc, 0.9277 - 0.01, 0.9277 + 0.01),
        "final test accuracy within 1 point of 0.9277",
    )
    claim.expect(
        stats.within(train_acc, 0.9310 - 0.01, 0.9310 + 0.01),
        "final train accuracy within 1 point of 0.9310",
    )
    claim.expect(
        stats.within([math.log2(x / reported_swing) for x in swing], -1.0, 1.0),
        "the per-step test loss swings as in the report (7-step range within a factor 2 of 0.527)",
    )


def _batch50_figure(run):
    steps = np.arange(BATCH50_STEPS - 999, BATCH50_STEPS + 1)
    fig, ax = subplots(figsize=(6.5, 3.4))
    ax.plot(
        steps,
        run.test_batch_loss[-1_000:],
        "-",
        linewidth=0.6,
        color="C0",
        label=f"ours (seed {run.seed})",
    )
    ax.plot(
        np.arange(4993, 5000) + 1,
        REPORTED_BATCH50_LOSSES,
        "o-",
        color="C3",
        label="the report (steps 4993-4999)",
    )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss on 50 test images")
    ax.set_title("Batch 50: per-step test loss, last 1 000 steps", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


EQUAL_EPOCHS = 1  # one pass over the training images for every batch size


def _epoch_config(batch, profile) -> Config:
    """Variance 0.1, lr 0.5 as in the batch-size study; :data:`EQUAL_EPOCHS` pass(es) of data."""
    train_size = profile.pick(default=5_500, full=None)
    n = train_size or 55_000
    return Config(
        init=0.1,
        batch_size=batch,
        lr=TUTORIAL_LR,
        train_size=train_size,
        steps=EQUAL_EPOCHS * math.ceil(n / (n if batch == "full" else batch)),
    )


@pytest.mark.claim(
    "hw2.batch1-best-generalization",
    source="hw2 Practical Exercise 1, Part 4",
    xfail=Finding(
        "at equal epochs and the batch-size study's lr 0.5, single-image steps are too "
        "noisy: batch 1 generalizes worse than batch 10, 50 and 100",
        fails=("batch 1 has the best test accuracy after one epoch",),
    ),
)
def test_batch1_best_generalization(claim, hw2, device, seeds, profile):
    """Generalization is often best at batch size 1.

    The report quotes Goodfellow et al., Deep Learning (2016), §8.1.3:
    "Generalization error is often best for batch size = 1". A comparison
    of batch sizes at equal steps favours large batches (they see more
    data); at equal epochs — the same data, as many updates as the batch
    size allows — is the comparison the statement is about (Wilson &
    Martinez, "The general inefficiency of batch training for gradient
    descent learning", Neural Networks 16, 2003). Protocol (the report has
    none for this sentence; ours): the batch-size study's network, variance
    0.1 and lr 0.5, one epoch over the training images for each of the
    batches 1, 10, 50, 100, 1000 and full; test accuracy on the 10 000 test
    images. One epoch because batch 1 costs one step per image. Decided by
    batch 1 being the best condition (stats.argbest with claimed="1",
    paired over seeds). Batches 1 to 100 must have learned (test acc ≥
    chance + 0.1); batch 1000 and the full batch need not: that an epoch
    gives them a handful of steps (one for the full batch) is the reason
    the claim expects them behind.
    """
    configs = {b: _epoch_config(b, profile) for b in BATCH_SIZES}
    runs = hw2.grid(configs.values(), seeds, device)
    accuracy = {b: [hw2.test_accuracy(r) for r in runs[c]] for b, c in configs.items()}
    n_train = configs[1].train_size or len(hw2.train)
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        lr=TUTORIAL_LR,
        batch_sizes=[str(b) for b in BATCH_SIZES],
        epochs=EQUAL_EPOCHS,
        steps={str(b): c.steps for b, c in configs.items()},
        train_size=n_train,
    )
    if not profile.full:
        claim.scaled(
            f"the first {n_train} of the 55 000 training images (the batch-size study's "
            f"default subset), so an epoch of batch 1 is {n_train} steps instead of "
            f"55 000 (≈ 25 s for 3 seeds on one core); --profile full uses all 55 000"
        )
    claim.report(best_batch_size=1, statement="generalization error is often best for batch size 1")
    claim.measure(
        test_acc={str(b): a for b, a in accuracy.items()},
        mean_test_acc={str(b): float(np.mean(a)) for b, a in accuracy.items()},
    )
    claim.figure(_accuracy_vs_batch(accuracy, n_train), "accuracy-vs-batch-equal-epochs")
    _require_learned(claim, hw2, {f"batch {b}": accuracy[b] for b in (1, 10, 50, 100)})
    claim.expect(
        stats.argbest({str(b): accuracy[b] for b in BATCH_SIZES}, claimed="1"),
        "batch 1 has the best test accuracy after one epoch",
    )


def _accuracy_vs_batch(accuracy, n_train):
    fig, ax = subplots(figsize=(5.5, 3.6))
    sizes = [n_train if b == "full" else b for b in accuracy]
    for size, values in zip(sizes, accuracy.values()):
        ax.plot([size] * len(values), values, "o", color="C0", alpha=0.6)
    means = [np.mean(a) for a in accuracy.values()]
    ax.plot(sizes, means, "-", color="C0", label="mean over seeds")
    ax.set_xscale("log")
    ax.set_xlabel(f"batch size ({n_train} = full)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Test accuracy after {EQUAL_EPOCHS} epoch(s), lr 0.5", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- Part 5: learning rate ----------------------------------------------------------------------------


@pytest.mark.claim(
    "hw2.higher-lr-faster",
    source="hw2 Practical Exercise 1, Part 5 (Fig. 29-36)",
    xfail={
        "default": Finding(
            "in the default profile's 200 steps lr 0.001 and 0.005 do not learn (test accuracy "
            "under chance + 0.1), so their order says nothing about convergence speed (nor is it "
            "shown: the 3-seed look cannot decide a 3-rate trend); and the largest rates are not "
            "shown to make the loss fluctuate more than lr 0.01 does",
            fails=(
                "every compared network learned (test acc ≥ chance + 0.1)",
                "test accuracy after a fixed step count rises over lr 0.001 → 0.005 → 0.01",
                "the loss fluctuates more at lr 1 than at lr 0.01",
                "the loss fluctuates more at lr 2 than at lr 0.01",
            ),
        ),
        # Measured 2026-11-24, --profile full (10 000 steps, all eight rates), decided at the
        # 5-seed look: test accuracy 0.69, 0.86, 0.89 at lr 0.001, 0.005, 0.01 (report: 0.418,
        # 0.724, 0.853) and 0.975 at lr 2; loss fluctuation 0.035 at lr 0.01, 0.0094 at lr 1,
        # 0.0042 at lr 2.
        "full": Finding(
            "after the documented 10 000 steps the three small rates learn in the claimed order, "
            "but no rate the report tried is too high: the step-to-step change of the loss falls "
            "steadily as the rate rises, so it is smaller at lr 1 and 2 than at lr 0.01, and lr 2 "
            "ends with the best test accuracy of the eight",
            fails=(
                "the loss fluctuates more at lr 1 than at lr 0.01",
                "the loss fluctuates more at lr 2 than at lr 0.01",
            ),
        ),
    },
)
def test_higher_lr_faster(claim, hw2, device, seeds, profile):
    """With batch 1000, a higher learning rate (0.001 → 0.005 → 0.01) converges faster; too high a rate fluctuates.

    The report: test accuracy 0.418, 0.724, 0.853 after 10 000 steps at
    lr 0.001, 0.005, 0.01. Protocol: init variance 0.1, batch 1000, a fixed
    step count for every rate. Decided by (1) an increasing rank trend of test
    accuracy over lr 0.001, 0.005, 0.01 across seeds and (2) the loss
    fluctuation (std of step-to-step loss change, second half) at the largest
    rates, 1 and 2, above that at 0.01 (paired over seeds). The three rates
    of the trend must have learned (test acc ≥ chance + 0.1), as the report's
    0.418 to 0.853 did: "faster" compares networks that learn; rates 1 and 2
    need not, since "too high" may diverge.
    """
    steps = profile.pick(default=200, full=10_000)
    rates = profile.pick(default=(0.001, 0.005, 0.01, 0.1, 1.0, 2.0), full=LEARNING_RATES)
    runs = {
        lr: hw2.runs(Config(init=0.1, batch_size=LR_BATCH, lr=lr, steps=steps), seeds, device)
        for lr in rates
    }
    accuracy = {lr: [hw2.test_accuracy(r) for r in rs] for lr, rs in runs.items()}
    fluctuation = {
        lr: [loss_fluctuation(r.history.step_loss) for r in rs] for lr, rs in runs.items()
    }
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        batch_size=LR_BATCH,
        learning_rates=list(rates),
        steps=steps,
    )
    if not profile.full:
        claim.scaled(
            f"{steps} steps instead of 10 000, and rates {list(rates)} of the report's {list(LEARNING_RATES)}"
        )
    claim.report(test_acc={"0.001": 0.4176, "0.005": 0.7239, "0.01": 0.853}, steps=10_000)
    claim.measure(
        test_acc={str(lr): a for lr, a in accuracy.items()},
        loss_fluctuation={str(lr): f for lr, f in fluctuation.items()},
    )
    claim.figure(
        curves(
            {f"lr {lr}": runs[lr][0].history.step_loss for lr in rates},
            xlabel="step",
            ylabel="mini-batch loss",
            logy=True,
            title=f"Loss per learning rate, batch 1000 (seed {seeds[0]})",
        ),
        "loss-per-learning-rate",
    )
    slow = (0.001, 0.005, 0.01)
    _require_learned(claim, hw2, {f"lr {lr:g}": accuracy[lr] for lr in slow})
    claim.expect(
        stats.rank_trend(list(slow), [accuracy[lr] for lr in slow], alternative="increasing"),
        "test accuracy after a fixed step count rises over lr 0.001 → 0.005 → 0.01",
    )
    for lr in (1.0, 2.0):
        claim.expect(
            stats.compare_paired(fluctuation[lr], fluctuation[0.01], alternative="greater"),
            f"the loss fluctuates more at lr {lr:g} than at lr 0.01",
        )


# -- Part 6: early stopping ---------------------------------------------------------------------------


def _early_stopping_config(profile) -> Config:
    """The report's long run: variance 0.1, lr 2, batch 1000, 100 000 steps, validated every 1 000.

    Scaled under the default profile (see :func:`_early_stopping_scaling`).
    """
    return Config(
        init=0.1,
        batch_size=EARLY_STOP_BATCH,
        lr=EARLY_STOP_LR,
        steps=profile.pick(default=1_500, full=100_000),
        train_size=profile.pick(default=2_750, full=None),
        eval_every=profile.pick(default=50, full=1_000),
        validate_on="validation",
        evaluate_train=True,
    )


def _early_stopping_scaling(claim, config) -> None:
    claim.scaled(
        f"documented: 55 000 images, 100 000 steps of batch 1000 (≈ 1 800 epochs, 10⁸ "
        f"sample-passes × 79 510 parameters, ≈ 5·10¹³ FLOP per seed, ≈ 9 min per seed on "
        f"one core) evaluated every 1 000 steps; run: the first {config.train_size} "
        f"images, {config.steps} steps "
        f"(≈ {config.steps * EARLY_STOP_BATCH // config.train_size} epochs, "
        f"{config.steps / 1_000:g}% of the cost per seed) evaluated every "
        f"{config.eval_every} steps, because the documented run is beyond the default "
        f"profile's budget with the seeds a verdict needs (3 to 10); the smaller set "
        f"overfits in fewer steps. --profile full runs the documented protocol"
    )


@pytest.mark.claim(
    "hw2.early-stopping-point", source="hw2 Practical Exercise 1, Part 6 (Fig. 37-40)"
)
def test_early_stopping_point(claim, hw2, device, seeds, profile):
    """Validation loss reaches a minimum and then rises while the training loss keeps falling (≈ 20 000 steps).

    The report: batch 1000, lr 2 (the captions of Figs 37-40; catalogue v2
    note), validation every 1 000 steps up to 100 000 steps; ≈ 20 000 steps
    is "a good choice" to stop. Its test accuracy 0.932 and train accuracy
    0.970 are those at the *end* of the 100 000-step run, not at the stopping
    point (catalogue v2 correction): they are recorded next to our final
    accuracies, and our accuracies at the stopping point are recorded apart.
    Decided over seeds, before measuring, by: (1) the final validation loss
    is at least 5% above its minimum (a rise, not noise; a minimum at the
    last evaluation gives ratio 1 and fails), on log(final/min); (2) the
    training loss (whole training set, eval mode) at the end is below its
    value at the validation minimum, paired over seeds.
    """
    config = _early_stopping_config(profile)
    runs = hw2.runs(config, seeds, device)
    results = [_early_stopping_summary(hw2, r) for r in runs]
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        batch_size=EARLY_STOP_BATCH,
        lr=EARLY_STOP_LR,
        steps=config.steps,
        eval_every=config.eval_every,
        train_size=config.train_size or len(hw2.train),
    )
    if not profile.full:
        _early_stopping_scaling(claim, config)
    claim.report(
        stopping_step=20_000, test_acc_at_100000_steps=0.932, train_acc_at_100000_steps=0.9703818
    )
    claim.measure(runs=results)
    history = runs[0].history
    stop = results[0]["stopping_step"]
    fig = curves(
        {"train": history.train_eval_loss, "validation": history.val_loss},
        x=history.step,
        xlabel="step",
        ylabel="cross-entropy",
        logy=True,
        title=f"Early stopping: batch 1000, lr 2 (seed {runs[0].seed}: stop at {stop})",
    )
    fig.axes[0].axvline(stop, color="k", linestyle=":", linewidth=1)
    claim.figure(fig, "early-stopping")
    claim.expect(
        stats.compare_to_value(
            [math.log(r["final_over_min"]) for r in results], math.log(1.05), alternative="greater"
        ),
        "validation loss has an interior minimum and rises ≥ 5% after it",
    )
    claim.expect(
        stats.compare_paired(
            [r["train_loss_at_stop"] for r in results],
            [r["train_loss_end"] for r in results],
            alternative="greater",
        ),
        "training loss still falls after the validation minimum",
    )


def _early_stopping_summary(hw2, run) -> dict:
    h = run.history
    best = int(np.argmin(h.val_loss))
    return {
        "seed": run.seed,
        "stopping_step": h.step[best],
        "min_before_end": best < len(h.val_loss) - 1,
        "val_loss_min": h.val_loss[best],
        "val_loss_final": h.val_loss[-1],
        "final_over_min": h.val_loss[-1] / h.val_loss[best],
        "train_loss_at_stop": h.train_eval_loss[best],
        "train_loss_end": h.train_eval_loss[-1],
        "val_acc_at_stop": h.val_acc[best],
        "val_acc_final": h.val_acc[-1],
        "train_acc_at_stop": h.train_eval_acc[best],
        "train_acc_final": h.train_eval_acc[-1],
        "test_acc_final": hw2.test_accuracy(run),
    }


LATE_FRACTION = 0.9  # the report's window: steps 90 000 to 99 000 of 100 000


@pytest.mark.claim(
    "hw2.late-val-loss-plateau", source="hw2 Practical Exercise 1, Part 6 (log under Fig. 37)"
)
def test_late_val_loss_plateau(claim, hw2, device, seeds, profile):
    """Late in the long run the validation loss is flat or falling (≈ 0.31 at 90 000 → 0.30).

    The report's log of the lr 2, batch 1000 run: validation loss 0.3099
    (step 90 000), 0.3040, 0.3072, 0.3023 (99 000); at the end test accuracy
    0.932, train 0.970. Protocol: hw2.early-stopping-point's runs (the same
    configuration and seeds). Decided, before measuring, by the last
    evaluation's validation loss over the one at 90% of the steps being below
    1.05 — not the ≥ 5% rise that hw2.early-stopping-point calls a rise — on
    log of the ratio over seeds. The final accuracies are recorded next to
    the report's, not decided: on the default profile's 5 500-image subset
    they are not comparable, and the statement is about the curve.
    """
    config = _early_stopping_config(profile)
    runs = hw2.runs(config, seeds, device)
    late_step = int(LATE_FRACTION * config.steps)
    ratios, late, final = [], [], []
    for run in runs:
        h = run.history
        index = h.step.index(late_step)
        late.append(h.val_loss[index])
        final.append(h.val_loss[-1])
        ratios.append(h.val_loss[-1] / h.val_loss[index])
    _record_protocol(
        claim,
        device,
        seeds,
        init="N(0, 0.1)",
        batch_size=EARLY_STOP_BATCH,
        lr=EARLY_STOP_LR,
        steps=config.steps,
        eval_every=config.eval_every,
        train_size=config.train_size or len(hw2.train),
        window=f"steps {late_step} to {config.steps}",
    )
    if not profile.full:
        _early_stopping_scaling(claim, config)
    claim.report(
        val_loss={"90000": 0.3099, "97000": 0.3040483, "98000": 0.3071608, "99000": 0.3022921},
        test_acc=0.932,
        train_acc=0.9703818,
    )
    claim.measure(
        val_loss_at_late_step=late,
        val_loss_final=final,
        final_over_late=ratios,
        test_acc_final=[hw2.test_accuracy(r) for r in runs],
        train_acc_final=[r.history.train_eval_acc[-1] for r in runs],
    )
    h = runs[0].history
    fig = curves(
        {"validation": h.val_loss},
        x=h.step,
        xlabel="step",
        ylabel="validation cross-entropy",
        title=f"lr 2, batch 1000: the last {100 - int(100 * LATE_FRACTION)}% of the steps "
        f"shaded (seed {runs[0].seed})",
    )
    fig.axes[0].axvspan(late_step, config.steps, color="0.85")
    claim.figure(fig, "late-validation-loss")
    claim.expect(
        stats.compare_to_value([math.log(r) for r in ratios], math.log(1.05), alternative="less"),
        "validation loss over the last 10% of the steps is flat or falling (rises < 5%)",
    )
