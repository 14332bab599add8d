"""Claims of the hw1 report: function fitting, optimization, and generalization on MNIST.

Protocol choices shared by several claims live in :mod:`claims.hw1_protocol`
(read its docstring); each test names the ones that matter to it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import silhouette_score

from claims import hw1_protocol as hw1
from claims._checks import chance_accuracy, require_learned
from dlverify import stats
from dlverify.data import FUNCTIONS, function_problem
from dlverify.evidence import Finding
from dlverify.models import count_parameters
from dlverify.probes import sensitivity, sharpness, weight_pca
from dlverify.report.figures import curves, subplots

# hw1's claims share trained networks: keep them on one xdist worker. The interpolation and
# batch-size studies share none with the rest and have groups of their own, so that two
# workers can balance the family (it trains about 250 s in a cold run).
pytestmark = pytest.mark.xdist_group("hw1")
INTERPOLATION_GROUP = pytest.mark.xdist_group("hw1-interpolation")
BATCH_SIZE_GROUP = pytest.mark.xdist_group("hw1-batch-size")

LN10 = math.log(10)


@pytest.fixture(scope="session")
def hw1_runs(mnist_train, mnist_test, run_cache) -> hw1.Hw1Runs:
    return hw1.Hw1Runs(mnist_train, mnist_test, run_cache=run_cache)


@pytest.fixture(scope="session")
def function_runs(run_cache) -> hw1.Hw1Runs:
    """The function-net experiments need no MNIST; their cache lives apart so they run without it."""
    return hw1.Hw1Runs(None, None, run_cache=run_cache)


def _require_learned(claim, hw1_runs, accuracies: dict) -> None:
    """:func:`claims._checks.require_learned` on final test accuracies (MNIST's 10 000 test images)."""
    require_learned(
        claim, accuracies, chance=chance_accuracy(hw1_runs.test.targets), metric="test acc"
    )


def _record_function_protocol(claim, *, sizes, epochs, seeds, **extra):
    claim.setup(
        network="-".join(map(str, sizes)) + " ReLU",
        data="200 evenly spaced points on [-10, 10]",
        loss="MSE",
        optimizer="adam (Keras defaults)",
        lr=hw1.FUNCTION_LR,
        batch="full (200)",
        epochs=epochs,
        seeds=list(seeds),
        **extra,
    )


def test_stacked_training_is_separate_training():
    """Protocol check (no claim): seed-stacked training equals one ``fit`` run per seed.

    :func:`claims.hw1_protocol.train_stacked` trains several function nets at
    once with ``fit_many`` and evaluates the loss and gradient norm at every
    step afterwards; each seed must follow the same trajectory as
    :func:`dlverify.train.fit` with a full batch, and its recorded losses be
    ``fit``'s.
    """
    from dlverify.models import function_net, initialize
    from dlverify.train import fit

    data = function_problem("sin")
    stacked = hw1.train_stacked(hw1.FIT_SIZES, data, (0, 1), epochs=30)
    alone = initialize(
        function_net(10), "glorot_uniform", generator=torch.Generator().manual_seed(1)
    )
    history = fit(
        alone,
        data,
        optimizer="adam",
        lr=hw1.FUNCTION_LR,
        batch_size=len(data),
        epochs=30,
        seed=1,
        loss_fn=F.mse_loss,
    )
    np.testing.assert_allclose(stacked.loss[:-1, 1], history.train_loss, rtol=1e-5)
    for a, b in zip(stacked.model(1).parameters(), alone.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# -- 1-1 simulate a function ------------------------------------------------------------------------


def _fit_table(function_runs, seeds, device):
    """R², loss curves and final MSE of both §1-1 models on both functions, per seed."""
    table = {}
    for function in FUNCTIONS:
        data = function_problem(function)
        for model in hw1.FIT_MODELS:
            run = function_runs.function_fits(function, model, seeds, device)
            table[function, model] = {
                "run": run,
                "data": data,
                "r2": [hw1.r_squared(run.model(i), data) for i in range(len(seeds))],
                "early_drop": [
                    hw1.early_drop_fraction(run.loss[:, i], 0.1) for i in range(len(seeds))
                ],
                "late_drop": [
                    1 - hw1.early_drop_fraction(run.loss[:, i], 0.5) for i in range(len(seeds))
                ],
                "final_mse": run.loss[-1].tolist(),
            }
    return table


def _fit_figures(claim, table):
    fig, axes = subplots(1, 2, figsize=(10, 3.6))
    for ax, function in zip(axes, FUNCTIONS):
        data = table[function, next(iter(hw1.FIT_MODELS))]["data"]
        ax.scatter(data.inputs.squeeze(), data.targets.squeeze(), s=4, color="0.6", label="target")
        for model in hw1.FIT_MODELS:
            with torch.no_grad():
                ax.plot(
                    data.inputs.squeeze(),
                    table[function, model]["run"].model(0)(data.inputs).squeeze(),
                    label=f"{model}, seed 0",
                )
        ax.set_title(FUNCTIONS[function][1], fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    claim.figure(fig, "function-fits")
    series = {f"{FUNCTIONS[f][1]} — {m}": table[f, m]["run"].loss[:, 0] for f, m in table}
    claim.figure(
        curves(series, ylabel="MSE", logy=True, title="Training loss (seed 0), full batch"),
        "function-loss-curves",
    )


@pytest.mark.claim("hw1.fit-functions", source="hw1 §1-1 Simulate a function")
def test_fit_functions(claim, function_runs, seeds, device):
    """1-10-1 networks (31 parameters) fit sin(x) + 0.5x and cos(x) + 0.5x²; the loss drops sharply in the
    first epochs and then flattens.

    Both of the report's models, on both functions. Criteria fixed before
    measuring, each on the median over seeds of every (function, model):
    "fit" is R² ≥ 0.9 on the 200 training points; "drops sharply in the first
    epochs" is at least half of the total loss drop (initial → final) reached
    within the first 10 % of epochs; "flattens" is at most 10 % of the drop
    left to the second half of training. Open choices (see
    :mod:`claims.hw1_protocol`): ReLU hidden units, full-batch Adam at the
    report's §1-2 rate 0.01, 1000 epochs (the report gives none for §1-1);
    model 1 starts from Keras' Dense default (Glorot uniform, zero biases),
    the hand-written model 2 from N(0, 1) weights and biases.
    """
    table = _fit_table(function_runs, seeds, device)
    _record_function_protocol(
        claim,
        sizes=hw1.FIT_SIZES,
        epochs=hw1.FIT_EPOCHS,
        seeds=seeds,
        models={m: f"{s} {kw}" for m, (s, kw) in hw1.FIT_MODELS.items()},
    )
    claim.report(
        parameters=31,
        statement="loss drops sharply within the first few epochs and flattens; "
        "both models fit both functions",
    )
    claim.measure(
        parameters=count_parameters(table["sin", next(iter(hw1.FIT_MODELS))]["run"].model(0)),
        **{
            f"{f} / {m}": {k: v for k, v in row.items() if k not in ("run", "data")}
            for (f, m), row in table.items()
        },
    )
    sin_part = float(torch.sin(function_problem("sin").inputs.double()).var(unbiased=False))
    claim.measure(
        sin_oscillation_explained={
            m: [1 - mse / sin_part for mse in table["sin", m]["final_mse"]] for m in hw1.FIT_MODELS
        }
    )
    claim.note(
        "R² on sin(x) + 0.5x is dominated by the linear term; sin_oscillation_explained = 1 − MSE / Var(sin x) "
        "shows how much of the oscillation itself the 31-parameter nets capture (recorded, not decided on)."
    )
    _fit_figures(claim, table)
    for (function, model), row in table.items():
        where = f"{FUNCTIONS[function][1]}, {model}"
        claim.expect(bool(np.median(row["r2"]) >= 0.9), f"{where}: median R² >= 0.9")
        claim.expect(
            bool(np.median(row["early_drop"]) >= 0.5),
            f"{where}: >= 50% of the loss drop in the first 10% of epochs",
        )
        claim.expect(
            bool(np.median(row["late_drop"]) <= 0.1),
            f"{where}: <= 10% of the loss drop in the second half",
        )


@pytest.mark.claim(
    "hw1.quadratic-harder",
    source="hw1 §1-1 Comment on results (b)",
    # Measured under both profiles.
    xfail=Finding(
        "the relative gap between the two models is not confidently larger on cos(x) + 0.5x² "
        "than on sin(x) + 0.5x: inconclusive at the seed budget",
        fails=("relative gap between the models larger on cos(x) + 0.5x^2 than on sin(x) + 0.5x",),
    ),
)
def test_quadratic_harder(claim, function_runs, seeds, device):
    """The two models differ noticeably only on cos(x) + 0.5x².

    Measured as the gap between the two models' final MSE relative to the
    target's variance, |MSE₁ − MSE₂| / Var(y), per seed and function (the
    functions' scales differ by a factor ≈ 25, so raw MSEs are not
    comparable). Decided by a paired comparison over seeds: the relative gap
    on cos(x) + 0.5x² exceeds the one on sin(x) + 0.5x. Same runs as
    hw1.fit-functions.
    """
    table = _fit_table(function_runs, seeds, device)
    gaps = {}
    for function in FUNCTIONS:
        rows = [table[function, m] for m in hw1.FIT_MODELS]
        variance = float(rows[0]["data"].targets.double().var(unbiased=False))
        gaps[function] = [
            abs(a - b) / variance for a, b in zip(rows[0]["final_mse"], rows[1]["final_mse"])
        ]
    _record_function_protocol(claim, sizes=hw1.FIT_SIZES, epochs=hw1.FIT_EPOCHS, seeds=seeds)
    claim.report(statement="only a significant difference between the models on cos(x) + 0.5x^2")
    claim.measure(
        relative_mse_gap=gaps, final_mse={f"{f} / {m}": table[f, m]["final_mse"] for f, m in table}
    )
    fig, ax = subplots(figsize=(5, 3.4))
    for i, function in enumerate(FUNCTIONS):
        ax.scatter([i] * len(gaps[function]), gaps[function], label=FUNCTIONS[function][1])
    ax.set_xticks(range(len(FUNCTIONS)), [FUNCTIONS[f][1] for f in FUNCTIONS])
    ax.set_ylabel("|MSE1 − MSE2| / Var(y)")
    ax.set_yscale("log")
    ax.set_title("Gap between the two models, per seed", fontsize=10)
    fig.tight_layout()
    claim.figure(fig, "model-gap")
    claim.expect(
        stats.compare_paired(gaps["cos"], gaps["sin"], alternative="greater"),
        "relative gap between the models larger on cos(x) + 0.5x^2 than on sin(x) + 0.5x",
    )


# -- 1-1 train on actual tasks -------------------------------------------------------------------------

# The report names neither the epochs nor the widths of its two MNIST models (its curves are figures
# without numbers in the text); 10 epochs on all 60 000 training images, under every profile.
DEEP_WIDE_EPOCHS = 10


@pytest.mark.claim(
    "hw1.mnist-deep-vs-wide",
    source="hw1 §1-1 Train on actual tasks",
    # Measured under both profiles (5 seeds of the 3-5-10 plan, 10 of the 5-10-20 plan).
    xfail=Finding(
        "on all 60 000 images the wider model starts lower, not higher, and ends with a clearly "
        "lower training loss: the final ratio is not shown to lie within [2/3, 3/2]",
        fails=(
            "final loss ratio wide/deep within [2/3, 3/2]",
            "first-epoch loss of the wide model above the deep model's",
        ),
    ),
)
def test_mnist_deep_vs_wide(claim, hw1_runs, device, seeds):
    """On MNIST a deeper-narrower DNN and a shallower-wider DNN reach similar final training loss; the wider
    one starts slightly higher.

    Widths and epochs the report leaves open: deep 784-64-64-10, wide
    784-128-10 (ReLU, softmax output), 10 epochs on all 60 000 training images;
    Keras defaults (Glorot uniform, Adam 1e-3, batch 32).
    Losses are Keras' per-epoch training loss (running mean over the epoch).
    "Similar" is a final-loss ratio wide/deep within [2/3, 3/2] (bootstrap
    interval of the mean log ratio inside ±log 1.5); "starts slightly higher"
    is a paired comparison of the first-epoch losses, wide above deep. Both
    models must have learned (test acc ≥ chance + 0.1).
    """
    runs = _deep_wide_runs(hw1_runs, device, seeds)
    first = {k: [r.history.train_loss[0] for r in v] for k, v in runs.items()}
    final = {k: [r.history.train_loss[-1] for r in v] for k, v in runs.items()}
    log_ratio = [math.log(w / d) for w, d in zip(final["wide"], final["deep"])]
    _record_deep_wide_protocol(claim, seeds, device)
    claim.report(statement="similar final training loss; model 2 (wider) starts slightly higher")
    claim.measure(
        first_epoch_loss=first,
        final_train_loss=final,
        final_loss_ratio_wide_over_deep=[math.exp(v) for v in log_ratio],
        parameters={k: count_parameters(v[0].model) for k, v in runs.items()},
        final_train_acc={k: [r.history.train_acc[-1] for r in v] for k, v in runs.items()},
    )
    series = {
        f"{k} seed {s}": r.history.train_loss for k, v in runs.items() for s, r in zip(seeds, v)
    }
    claim.figure(
        curves(series, ylabel="training loss", logy=True, title="MNIST: deep vs wide"),
        "deep-vs-wide",
    )
    _require_learned(claim, hw1_runs, {k: [r.test_acc for r in v] for k, v in runs.items()})
    claim.expect(
        stats.within(log_ratio, -math.log(1.5), math.log(1.5)),
        "final loss ratio wide/deep within [2/3, 3/2]",
    )
    claim.expect(
        stats.compare_paired(first["wide"], first["deep"], alternative="greater"),
        "first-epoch loss of the wide model above the deep model's",
    )


def _deep_wide_runs(hw1_runs, device, seeds):
    """The §1-1 MNIST pair per seed (hw1.mnist-deep-vs-wide, hw1.mnist-acc-curves-close).

    The report's protocol under every profile: all 60 000 training images,
    :data:`DEEP_WIDE_EPOCHS` epochs (about 16 s for the deep and 24 s for the
    wide model per three seeds on one core).
    """
    return {
        name: hw1_runs.mnist_many(sizes, seeds, device, n_train=None, epochs=DEEP_WIDE_EPOCHS)
        for name, sizes in (("deep", hw1.DEEP_SIZES), ("wide", hw1.WIDE_SIZES))
    }


def _record_deep_wide_protocol(claim, seeds, device):
    claim.setup(
        deep="784-64-64-10 ReLU",
        wide="784-128-10 ReLU",
        optimizer="adam",
        lr=hw1.MNIST_LR,
        batch_size=hw1.MNIST_BATCH,
        epochs=DEEP_WIDE_EPOCHS,
        train_images=60000,
        seeds=list(seeds),
        device=str(device),
    )


@pytest.mark.claim(
    "hw1.mnist-acc-curves-close",
    source="hw1 §1-1 Train on actual tasks, Comment on results",
)
def test_mnist_acc_curves_close(claim, hw1_runs, device, seeds):
    """On MNIST the second (wider) model quickly reaches high accuracy and stays very close to
    the first throughout.

    The runs of hw1.mnist-deep-vs-wide; accuracies are Keras' per-epoch
    training accuracy (running mean over the epoch), as the report plots.
    Criterion fixed before measuring (the catalogue's): per seed, the largest
    |accuracy_wide − accuracy_deep| over the epochs after the first is below
    one percentage point (mean over seeds, t interval). The first epoch is
    left out as the report's "quickly reaches" allows a start apart; its
    accuracies are recorded. Both models must have learned (test acc ≥
    chance + 0.1): two curves at chance are close without meaning it.
    """
    runs = _deep_wide_runs(hw1_runs, device, seeds)
    acc = {k: np.array([r.history.train_acc for r in v]) for k, v in runs.items()}
    largest_gap = np.abs(acc["wide"][:, 1:] - acc["deep"][:, 1:]).max(axis=1)
    _record_deep_wide_protocol(claim, seeds, device)
    claim.report(
        statement="model 2 rapidly reached a high accuracy and stayed very close to "
        "model 1 throughout"
    )
    claim.measure(
        train_acc={k: v.tolist() for k, v in acc.items()},
        first_epoch_acc={k: v[:, 0] for k, v in acc.items()},
        largest_gap_after_epoch_1=largest_gap,
    )
    series = {
        f"{k} seed {s}": r.history.train_acc for k, v in runs.items() for s, r in zip(seeds, v)
    }
    claim.figure(
        curves(series, ylabel="training accuracy", title="MNIST: deep vs wide"),
        "deep-vs-wide-accuracy",
    )
    _require_learned(claim, hw1_runs, {k: [r.test_acc for r in v] for k, v in runs.items()})
    claim.expect(
        stats.compare_to_value(largest_gap, 0.01, alternative="less"),
        "largest per-epoch accuracy gap after epoch 1 below 1 point",
    )


# -- 1-2 visualize the optimization process -------------------------------------------------------------


def _pca_views(run):
    """Whole-model and first-layer PCA of every snapshot of every run, with the run index of each row."""
    runs = range(len(run.seeds))
    whole = weight_pca([row for i in runs for row in run.snapshot_matrix(i)])
    first = weight_pca([row for i in runs for row in run.snapshot_matrix(i, first_layer=True)])
    labels = np.repeat(np.arange(len(run.seeds)), len(run.snapshots))
    return whole, first, labels


def _nearest_centroid_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    centroids = np.stack([points[labels == k].mean(axis=0) for k in np.unique(labels)])
    nearest = np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    return float((nearest == labels).mean())


def _pca_figure(whole, first, labels):
    fig, axes = subplots(1, 2, figsize=(10, 4))
    for ax, result, title in (
        (axes[0], whole, "whole model"),
        (axes[1], first, "first layer (kernel)"),
    ):
        for k in np.unique(labels):
            ax.scatter(*result.projections[labels == k].T, s=8, label=f"run {k}")
        ratio = result.explained_variance_ratio
        ax.set_title(f"PCA of weights, {title} (EVR {ratio[0]:.2f}, {ratio[1]:.2f})", fontsize=9)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _record_pca_protocol(claim, run):
    _record_function_protocol(
        claim,
        sizes=hw1.PCA_SIZES,
        epochs=hw1.PCA_EPOCHS,
        seeds=run.seeds,
        function="sin(x) + 0.5x",
        snapshot_every_epochs=hw1.PCA_EVERY,
        snapshots_per_run=len(run.snapshots),
    )


@pytest.mark.claim("hw1.pca-runs-separate", source="hw1 §1-2 Visualize the optimization process")
def test_pca_runs_separate(claim, function_runs, device):
    """PCA of the whole model's weights, collected every 3 epochs over 8 runs (Adam 0.01, 100 epochs, 200
    points of sin(x) + 0.5x on [−10, 10]), shows separate clusters, one per run.

    The report's protocol; the widths of its "three fully connected layers"
    are open and taken as 1-10-10-1 (ReLU, Keras Dense init, full batch).
    PCA over all 8 × 33 snapshots together (``weight_pca``). Criterion fixed
    before measuring: the 2-D projections grouped by run have a silhouette
    above 0.5 (Kaufman & Rousseeuw's "reasonable structure"); the
    nearest-centroid accuracy of the run labels is recorded beside it.
    """
    run = function_runs.pca_runs(device)
    whole, first, labels = _pca_views(run)
    silhouette = float(silhouette_score(whole.projections, labels))
    _record_pca_protocol(claim, run)
    claim.report(
        statement="several clusters along the horizontal axis; different solutions per training run"
    )
    claim.measure(
        silhouette_by_run=silhouette,
        nearest_centroid_accuracy=_nearest_centroid_accuracy(whole.projections, labels),
        explained_variance_ratio=whole.explained_variance_ratio,
    )
    claim.figure(_pca_figure(whole, first, labels), "weight-pca")
    claim.expect(silhouette > 0.5, "silhouette of the whole-model projections grouped by run > 0.5")


@pytest.mark.claim(
    "hw1.pca-first-layer-one-axis",
    source="hw1 §1-2 Visualize the optimization process (3)",
    xfail=Finding(
        "the first layer's weights do not vary along one direction: the first principal component "
        "explains well under half of their variance, which the runs' different initializations "
        "dominate",
        fails=("first principal component explains > 50% of the first layer's variance",),
    ),
)
def test_pca_first_layer_one_axis(claim, function_runs, device):
    """The first layer's weights vary mostly along one direction.

    Same 8 runs and snapshots as hw1.pca-runs-separate; the first layer's
    kernel (its 10 weights, biases excluded: the report says "weights").
    "Mostly along one direction" is fixed as: the first principal component
    explains more than half of the total variance of the snapshots.
    """
    run = function_runs.pca_runs(device)
    whole, first, labels = _pca_views(run)
    ratio = first.explained_variance_ratio
    _record_pca_protocol(claim, run)
    claim.report(statement="first-layer points lie along one diagonal axis")
    claim.measure(
        first_component_explained_variance=float(ratio[0]),
        second_component_explained_variance=float(ratio[1]),
        silhouette_by_run=float(silhouette_score(first.projections, labels)),
    )
    claim.figure(_pca_figure(whole, first, labels), "weight-pca")
    claim.expect(
        bool(ratio[0] > 0.5),
        "first principal component explains > 50% of the first layer's variance",
    )


@pytest.mark.claim(
    "hw1.pca-whole-more-diverse",
    source="hw1 §1-2 Visualize the optimization process (3)",
    xfail=Finding(
        "the whole model's variance is less concentrated on one axis, but its runs are not more "
        "distinctly grouped: the first layer's snapshots separate by run about as well",
        fails=("silhouette by run higher for the whole model than for the first layer",),
    ),
)
def test_pca_whole_more_diverse(claim, function_runs, device, seeds):
    """The whole model's weight trajectories show more structure and distinct groupings than the
    first layer's.

    The report's experiment (8 runs, snapshots every 3 epochs, PCA to 2-D;
    see hw1.pca-runs-separate) repeated once per seed s from the training
    seeds 8s … 8s + 7 (s = 0 is the other PCA claims' experiment), so the
    comparison is paired over independent experiments. Criteria fixed before
    measuring, from the report's contrast of a first layer "predominantly
    along one axis" with a whole model of "more complex structure with
    distinct groupings": the silhouette of the 2-D projections grouped by
    run is higher for the whole model, and the first principal component
    explains a smaller share of the whole model's variance than of the first
    layer's.
    """
    groups = [function_runs.pca_runs(device, group=s) for s in seeds]
    views = [_pca_views(run) for run in groups]
    silhouette = {
        part: [float(silhouette_score(v[i].projections, v[2])) for v in views]
        for i, part in ((0, "whole"), (1, "first_layer"))
    }
    first_component = {
        part: [float(v[i].explained_variance_ratio[0]) for v in views]
        for i, part in ((0, "whole"), (1, "first_layer"))
    }
    _record_pca_protocol(claim, groups[0])
    claim.setup(experiments=len(groups), training_seeds=[list(run.seeds) for run in groups])
    claim.report(
        statement="the entire model's weights exhibit a more complex structure with "
        "distinct groupings than the first layer's, which vary predominantly "
        "along one axis"
    )
    claim.measure(silhouette_by_run=silhouette, first_component_explained_variance=first_component)
    claim.figure(_pca_figure(*views[0]), "weight-pca")
    claim.expect(
        stats.compare_paired(silhouette["whole"], silhouette["first_layer"], alternative="greater"),
        "silhouette by run higher for the whole model than for the first layer",
    )
    claim.expect(
        stats.compare_paired(
            first_component["whole"], first_component["first_layer"], alternative="less"
        ),
        "first component explains less of the whole model's variance than of the first layer's",
    )


@pytest.mark.claim(
    "hw1.grad-norm-decreases",
    source="hw1 §1-2 Observe gradient norm during training",
    xfail=Finding(
        "the gradient norm and the loss fall, but the norm does not settle: its spread over the "
        "last part of training stays above the fixed stability criterion",
        fails=("late gradient norm stable (CV < 0.25)",),
    ),
)
def test_grad_norm_decreases(claim, function_runs, device):
    """During training the gradient norm falls and stabilizes while the loss falls.

    The 8 runs of the PCA experiment (the report's §1-2 network), full-data
    gradient norm and MSE before every step. Criteria fixed before measuring,
    on the mean over runs (bootstrap interval): "falls" is the mean norm over
    the last 20 epochs at most half the mean over the first 10 (log ratio
    below log 0.5); "stabilizes" is a coefficient of variation (std/mean) of
    the norm over the last 20 epochs below 0.25; "the loss falls" is a final
    loss below half the initial loss.
    """
    run = function_runs.pca_runs(device)
    norms, losses = run.grad_norm, run.loss
    early, late = norms[:10].mean(axis=0), norms[-20:].mean(axis=0)
    late_cv = norms[-20:].std(axis=0) / late
    _record_pca_protocol(claim, run)
    claim.report(statement="gradient norm decreases and stabilizes while the loss decreases")
    claim.measure(
        early_grad_norm=early,
        late_grad_norm=late,
        late_cv=late_cv,
        initial_loss=losses[0],
        final_loss=losses[-1],
    )
    fig, axes = subplots(2, 1, figsize=(5.5, 5), sharex=True)
    for i in range(len(run.seeds)):
        axes[0].plot(norms[:, i], linewidth=1)
        axes[1].plot(losses[:, i], linewidth=1)
    axes[0].set_ylabel("gradient norm")
    axes[1].set_ylabel("MSE")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    fig.tight_layout()
    claim.figure(fig, "grad-norm-and-loss")
    claim.expect(
        stats.compare_to_value(np.log(late / early), math.log(0.5), alternative="less"),
        "late gradient norm at most half the early one",
    )
    claim.expect(
        stats.compare_to_value(late_cv, 0.25, alternative="less"),
        "late gradient norm stable (CV < 0.25)",
    )
    claim.expect(
        stats.compare_to_value(np.log(losses[-1] / losses[0]), math.log(0.5), alternative="less"),
        "final loss below half the initial loss",
    )


# -- 1-2 what happens when the gradient is almost zero ---------------------------------------------------


def _critical_points(function_runs, profile, device):
    """The near-zero-gradient points of all 100 training runs, under every profile.

    The exercise's 100 runs cost about 20 s on one core, so the default
    profile runs them too (it used 12 before): 12 points cannot show a rank
    correlation below |rho| ≈ 0.55, so hw1.minimal-ratio-no-trend would hold
    on 12 for want of power and be refuted on 100.
    """
    runs = hw1.CRITICAL_POINT_RUNS
    points = function_runs.critical_points(runs, device)
    kept = [
        p for p in points if p.grad_norm <= hw1.GRAD_NORM_RELATIVE_TOLERANCE * p.initial_grad_norm
    ]
    return runs, points, kept


def _record_critical_protocol(claim, runs):
    claim.setup(
        network="1-10-1 ReLU (31 parameters)",
        function="sin(x) + 0.5x",
        training_runs=runs,
        training=f"full-batch Adam lr {hw1.FUNCTION_LR}, {hw1.NEAR_ZERO_TRAIN_EPOCHS} epochs, Keras Dense init",
        then=f"Levenberg-Marquardt on ||grad L||^2 in float64, up to {hw1.NEAR_ZERO_LM_ITERATIONS} steps",
        kept_if_grad_norm_below=f"{hw1.GRAD_NORM_RELATIVE_TOLERANCE} x the run's gradient norm at initialization",
        near_zero_weight_threshold=hw1.NEAR_ZERO_WEIGHT_THRESHOLD,
    )


def _critical_figure(kept):
    fig, axes = subplots(1, 2, figsize=(10, 3.6), sharey=True)
    loss = [p.loss for p in kept]
    axes[0].scatter([p.near_zero_weight_ratio for p in kept], loss, s=12)
    axes[0].set_xlabel(f"share of |w| < {hw1.NEAR_ZERO_WEIGHT_THRESHOLD} (report's ratio)")
    axes[1].scatter([p.minimal_ratio for p in kept], loss, s=12, color="C1")
    axes[1].set_xlabel("minimal ratio (share of positive Hessian eigenvalues)")
    axes[0].set_ylabel("MSE")
    for ax in axes:
        ax.axhspan(0.3, 0.55, color="0.9", zorder=0)
    fig.suptitle("Points where the gradient is almost zero", fontsize=10)
    fig.tight_layout()
    return fig


@pytest.mark.claim(
    "hw1.near-zero-grad-loss-band", source="hw1 §1-2 What happens when gradient is almost zero"
)
def test_near_zero_grad_loss_band(claim, function_runs, profile, device):
    """At points where the gradient norm is nearly zero, the loss sits in a narrow band (0.3–0.55 reported).

    Points are found the usual way for this exercise: train the 1-10-1 net
    (ReLU, as everywhere in §1; full-batch Adam 0.01, 100 epochs), then
    minimize ‖∇L‖² (Levenberg–Marquardt on ∇L, float64; see
    ``hw1_protocol.minimize_grad_norm``) and keep the points whose gradient
    norm is at most 1 % of that run's norm at initialization. Disclosed
    revision of the "almost zero" threshold: it was first fixed at an
    absolute 1e-3, which only 1 of 20 points reached, because a ReLU net's
    gradient jumps where a kink crosses a data point, so ‖∇L‖ = 0 is
    generally unreachable; the relative threshold was chosen from that,
    *before* looking at the losses or ratios the claims are decided on.
    "Narrow band" is fixed from the report's own band width: the 10th–90th
    percentile range of the losses spans at most 0.25. At least 5 such
    points are needed to judge a spread.
    """
    runs, points, kept = _critical_points(function_runs, profile, device)
    loss = np.array([p.loss for p in kept])
    _record_critical_protocol(claim, runs)
    claim.report(loss_band=[0.3, 0.55])
    spread = float(np.percentile(loss, 90) - np.percentile(loss, 10)) if len(kept) else float("nan")
    claim.measure(
        points_found=len(kept),
        runs=runs,
        losses=loss,
        loss_p10_p90_width=spread,
        loss_range=[float(loss.min()), float(loss.max())] if len(kept) else None,
        share_in_reported_band=float(((loss >= 0.3) & (loss <= 0.55)).mean())
        if len(kept)
        else None,
        grad_norms=[p.grad_norm for p in points],
    )
    claim.figure(_critical_figure(kept), "loss-vs-minimal-ratio")
    claim.expect(len(kept) >= 5, "at least 5 near-zero-gradient points found")
    claim.expect(
        len(kept) >= 5 and spread <= 0.25,
        "10th-90th percentile range of the loss at most 0.25 wide",
    )


@pytest.mark.claim(
    "hw1.minimal-ratio",
    source="hw1 §1-2 What happens when gradient is almost zero (3)",
    xfail=Finding(
        "at the near-zero-gradient points the report's ratio (share of weights with |w| < 0.01) is "
        "mostly 0, not in the reported 0.06–0.12 band",
        fails=("at least 80% of the points have the report's ratio in [0.06, 0.12]",),
    ),
)
def test_minimal_ratio(claim, function_runs, profile, device):
    """At those points the minimal ratio is 0.06–0.12 (the report computes it as the share of weights near
    zero).

    Both definitions are computed at the same points as
    hw1.near-zero-grad-loss-band: the standard minimal ratio (share of
    positive eigenvalues of the exact Hessian, float64) and the report's
    share of parameters with |w| < 0.01 (the report names no threshold;
    0.01 is fixed here). Decided on the report's definition: "clustered
    between 0.06 and 0.12" is at least 80 % of the points in [0.06, 0.12].
    """
    runs, points, kept = _critical_points(function_runs, profile, device)
    report_ratio = np.array([p.near_zero_weight_ratio for p in kept])
    hessian_ratio = np.array([p.minimal_ratio for p in kept])
    share = float(((report_ratio >= 0.06) & (report_ratio <= 0.12)).mean()) if len(kept) else 0.0
    _record_critical_protocol(claim, runs)
    claim.report(minimal_ratio_band=[0.06, 0.12], definition="share of weights below a threshold")
    # Saddle or minimum: the minimal ratio counts a zero eigenvalue as "not positive", so it cannot
    # tell a flat minimum (λ_min ≈ 0) from a saddle (λ_min < 0); the smallest eigenvalue can, judged
    # against √eps64 · λ_max, the tolerance minimal_ratio itself uses.
    saddles = sum(p.smallest_eigenvalue < -1.5e-8 * p.largest_eigenvalue for p in kept)
    claim.measure(
        points_found=len(kept),
        near_zero_weight_ratio=report_ratio,
        hessian_minimal_ratio=hessian_ratio,
        share_in_band=share,
        losses=[p.loss for p in kept],
        smallest_hessian_eigenvalue=[p.smallest_eigenvalue for p in kept],
        largest_hessian_eigenvalue=[p.largest_eigenvalue for p in kept],
        saddles=saddles,
    )
    claim.figure(_critical_figure(kept), "loss-vs-minimal-ratio")
    claim.expect(len(kept) >= 5, "at least 5 near-zero-gradient points found")
    claim.expect(share >= 0.8, "at least 80% of the points have the report's ratio in [0.06, 0.12]")


def spearman_interval(x, y, confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Spearman's rho of ``x`` and ``y`` with its Fisher-z interval, std. error √(1.06 / (n − 3)).

    Fieller, Hartley & Pearson, "Tests for rank correlation coefficients. I",
    Biometrika 44 (1957): z = artanh(rho) is close to normal with that
    variance for n ≥ 10; the interval is tanh(z ± q·se), q the normal
    quantile. NaN (and an infinite interval) when either variable is constant.
    """
    from scipy.stats import norm, spearmanr

    n = len(x)
    rho = float(spearmanr(x, y).statistic) if n >= 3 else float("nan")
    if n < 4 or not math.isfinite(rho):
        return rho, (-math.inf, math.inf)
    half = norm.ppf((1 + confidence) / 2) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    return rho, (math.tanh(z - half), math.tanh(z + half))


@pytest.mark.claim(
    "hw1.minimal-ratio-no-trend",
    source="hw1 §1-2 What happens when gradient is almost zero (3)",
    xfail=Finding(
        "over the 100 runs' near-zero-gradient points the report's ratio does trend with the loss: "
        "the interval of the rank correlation excludes 0",
        fails=("95% interval of Spearman's rho (report's ratio vs loss) contains 0",),
    ),
)
def test_minimal_ratio_no_trend(claim, function_runs, profile, device):
    """At the near-zero-gradient points there is no clear trend of the minimal ratio against the
    loss.

    The points of hw1.near-zero-grad-loss-band. Decided, as the catalogue
    fixes it, on the report's definition of the ratio (share of weights with
    |w| < 0.01, the quantity its figure plots): Spearman's rho of ratio and
    loss over the points, with a 95 % Fisher-z interval (Fieller, Hartley &
    Pearson 1957); "no clear trend" holds when the interval contains 0 and
    is refuted when it excludes it. The same for the standard minimal ratio
    (share of positive Hessian eigenvalues) is recorded. At least 10 points
    are needed for the interval.
    """
    runs, points, kept = _critical_points(function_runs, profile, device)
    loss = np.array([p.loss for p in kept])
    report_ratio = np.array([p.near_zero_weight_ratio for p in kept])
    hessian_ratio = np.array([p.minimal_ratio for p in kept])
    rho, interval = spearman_interval(report_ratio, loss)
    hessian_rho, hessian_interval = spearman_interval(hessian_ratio, loss)
    _record_critical_protocol(claim, runs)
    claim.report(statement="no clear trend of minimal ratio against loss")
    claim.measure(
        points_found=len(kept),
        spearman_rho=rho,
        spearman_rho_interval=interval,
        hessian_minimal_ratio_spearman_rho=hessian_rho,
        hessian_rho_interval=hessian_interval,
    )
    claim.figure(_critical_figure(kept), "loss-vs-minimal-ratio")
    if len(kept) < 10 or not math.isfinite(rho):
        claim.undecidable(
            "at least 10 near-zero-gradient points with a varying ratio",
            f"{len(kept)} points, rho {rho}",
        )
    claim.expect(
        bool(interval[0] <= 0 <= interval[1]),
        "95% interval of Spearman's rho (report's ratio vs loss) contains 0",
    )


# -- 1-3 random labels, parameters vs generalization ---------------------------------------------------


@pytest.mark.claim("hw1.random-labels-fit", source="hw1 §1-3 Can network fit random labels")
def test_random_labels_fit(claim, hw1_runs, device, profile):
    """A network can fit MNIST with shuffled labels: training loss keeps falling while test performance stays at
    chance.

    784-128-10 (one ReLU layer, Keras' tutorial width), Adam 1e-3, batch 32,
    training labels permuted once. To give memorization a fair chance within
    the budget it trains on the first 1000 images for 50 epochs (default) or
    10 000 images for 100 epochs (full). Criteria fixed before measuring:
    "fits" is training accuracy (eval mode, on the shuffled labels) ≥ 0.9;
    "keeps falling" is the last recorded training loss below the one at
    mid-training; "test performance at chance" is the 95 % Wilson interval
    of the accuracy on the 10 000 test images (true labels) containing 0.1.
    """
    n_train = profile.pick(default=1000, full=10_000)
    epochs = profile.pick(default=50, full=100)
    run = hw1_runs.mnist(
        (784, hw1.ONE_LAYER_WIDTH, 10),
        0,
        device,
        n_train=n_train,
        epochs=epochs,
        shuffled_labels=True,
        val_every_epochs=5,
    )
    history = run.history
    correct = round(run.test_acc * len(hw1_runs.test))
    interval = stats.proportion_interval(correct, len(hw1_runs.test), method="wilson")
    middle = len(history.train_loss) // 2
    claim.setup(
        network="784-128-10 ReLU",
        optimizer="adam",
        lr=hw1.MNIST_LR,
        batch_size=hw1.MNIST_BATCH,
        epochs=epochs,
        train_images=n_train,
        labels="permuted once (seed 10000)",
        device=str(device),
        test="10 000 MNIST test images, true labels",
        curves="every 5 epochs",
    )
    claim.scaled(
        f"a {n_train}-image training subset and {epochs} epochs (the report gives neither)"
    )
    claim.report(statement="training loss decreases while test performance stays at chance")
    claim.measure(
        train_acc=run.train_acc,
        train_loss=run.train_loss,
        test_acc=run.test_acc,
        test_acc_interval=interval,
        train_loss_curve=history.train_loss,
        test_acc_curve=history.val_acc,
        max_test_acc_on_curve=max(history.val_acc),
    )
    fig, axes = subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(history.epoch, history.train_loss, label="train (random labels)")
    axes[0].plot(history.epoch, history.val_loss, label="test")
    axes[0].set_ylabel("cross-entropy")
    axes[1].plot(history.epoch, history.train_acc, label="train (random labels)")
    axes[1].plot(history.epoch, history.val_acc, label="test")
    axes[1].axhline(0.1, color="0.5", linestyle=":", label="chance")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    claim.figure(fig, "random-labels")
    claim.expect(run.train_acc >= 0.9, "training accuracy on the random labels >= 0.9")
    claim.expect(
        history.train_loss[-1] < history.train_loss[middle],
        "training loss still falling after mid-training",
    )
    claim.expect(
        bool(interval[0] <= 0.1 <= interval[1]), "95% Wilson interval of test accuracy contains 0.1"
    )


@pytest.mark.claim(
    "hw1.params-vs-generalization", source="hw1 §1-3 Number of parameters vs generalization"
)
def test_params_vs_generalization(claim, hw1_runs, device, seeds, profile):
    """More parameters give better training performance but not better generalization.

    One-hidden-layer ReLU nets of widths 4, 16, 64, 256 (the report's widths
    are not given), Keras defaults (Adam 1e-3, batch 32). "Better training
    performance" is a training loss (eval mode) that falls with the parameter
    count; "not better generalization" is a generalization gap (test loss −
    train loss) that grows with it — both decided by a rank trend over widths
    × seeds. Every width must have learned (test acc ≥ chance + 0.1).
    """
    n_train = profile.pick(default=2000, full=None)
    epochs = profile.pick(default=10, full=20)
    runs = {
        w: hw1_runs.mnist_many((784, w, 10), seeds, device, n_train=n_train, epochs=epochs)
        for w in hw1.PARAM_WIDTHS
    }
    params = [count_parameters(runs[w][0].model) for w in hw1.PARAM_WIDTHS]
    table = {
        name: [[getattr(r, name) for r in runs[w]] for w in hw1.PARAM_WIDTHS]
        for name in ("train_loss", "test_loss", "train_acc", "test_acc")
    }
    gap = (np.array(table["test_loss"]) - np.array(table["train_loss"])).tolist()
    claim.setup(
        widths=list(hw1.PARAM_WIDTHS),
        parameters=params,
        optimizer="adam",
        lr=hw1.MNIST_LR,
        batch_size=hw1.MNIST_BATCH,
        epochs=epochs,
        train_images=n_train or 60000,
        seeds=list(seeds),
        device=str(device),
    )
    if n_train:
        claim.scaled(
            f"{n_train} training images and {epochs} epochs under the default profile (60 000 and 20 under full)"
        )
    claim.report(
        statement="more parameters: better training performance, not necessarily better generalization"
    )
    claim.measure(**table, generalization_gap=gap)
    fig, axes = subplots(1, 2, figsize=(10, 3.6))
    for metric, ax in (("loss", axes[0]), ("acc", axes[1])):
        for split in ("train", "test"):
            values = np.array(table[f"{split}_{metric}"])
            ax.errorbar(
                params, values.mean(axis=1), yerr=values.std(axis=1), marker="o", label=split
            )
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
    fig.tight_layout()
    claim.figure(fig, "params-vs-generalization")
    _require_learned(
        claim, hw1_runs, {f"width {w}": a for w, a in zip(hw1.PARAM_WIDTHS, table["test_acc"])}
    )
    claim.expect(
        stats.rank_trend(params, table["train_loss"], alternative="decreasing"),
        "training loss falls as the parameter count grows",
    )
    claim.expect(
        stats.rank_trend(params, gap, alternative="increasing"),
        "generalization gap (test − train loss) grows with the parameter count",
    )


# -- 1-3 flatness vs generalization --------------------------------------------------------------------

ALPHAS = hw1.SWEEP_ALPHAS  # step 0.1, both ends, 0 and 1 exactly


def _interpolation_runs(hw1_runs, device, seeds):
    """The §1-3 part-1 pairs and their interpolation curves (the three interpolation claims).

    All 60 000 training images under every profile, as the report: the
    models of 5 seeds cost about 40 s of one core.
    """
    return hw1_runs.interpolations(seeds, device, n_train=None)


def _record_interpolation_protocol(claim, seeds, device, alphas):
    claim.setup(
        network="784-128-10 ReLU",
        model_a=hw1.INTERPOLATION["a"],
        model_b=hw1.INTERPOLATION["b"],
        optimizer="adam",
        epochs=hw1.INTERPOLATION_EPOCHS,
        alphas=alphas,
        train_images=60000,
        train_curve_images=hw1.INTERPOLATION_TRAIN_CURVE,
        test_images=10000,
        seeds=list(seeds),
        device=str(device),
    )


def _require_endpoints_learned(claim, hw1_runs, runs) -> None:
    """Models a and b (the interpolation's end points) must have learned (test acc ≥ chance + 0.1)."""
    _require_learned(
        claim,
        hw1_runs,
        {name: [getattr(run, name).test_acc for run in runs.values()] for name in ("a", "b")},
    )


def _interpolation_figure(runs, alphas, *, logx=False, title=""):
    fig, axes = subplots(1, 2, figsize=(10, 3.6))
    for i, (s, run) in enumerate(runs.items()):
        for split, style in (("train", "-"), ("test", "--")):
            loss, accuracy = run.at(split, alphas)
            axes[0].plot(alphas, loss, style, color=f"C{i}", label=f"{split} seed {s}")
            axes[1].plot(alphas, accuracy, style, color=f"C{i}", label=f"{split} seed {s}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("cross-entropy")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel("alpha (0: batch 64, 1: batch 1024)")
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@INTERPOLATION_GROUP
@pytest.mark.claim(
    "hw1.interpolation-blend",
    source="hw1 §1-3 Flatness vs generalization, part 1",
    # Measured under both profiles, both on all 60 000 training images.
    xfail=Finding(
        "no blend beats both models: along the interpolation the test loss is lowest at an "
        "end point, not at an interior α",
        fails=("an interior alpha has lower test loss than both end points",),
    ),
)
def test_interpolation_blend(claim, hw1_runs, device, seeds):
    """Interpolating between a batch-64 / lr 1e-3 model and a batch-1024 / lr 1e-2 model (Adam, 5 epochs) gives
    a U-shaped loss with the minimum near α ≈ 0.1; a blend beats both models.

    784-128-10 ReLU nets (width open; Keras tutorial), each from its own
    initialization (seed s and 1000 + s, as two separately built Keras
    models). θ(α) = (1 − α)·θ_64 + α·θ_1024 over α = −1, −0.9, …, 2. "A blend
    beats both" is decided on the test loss by a paired comparison over
    seeds: the lower end-point loss minus the lowest loss at an interior α
    (0 < α < 1) is above zero. The arg-min α is recorded against the
    report's 0.1. The training-loss curve (figure) uses the first 2000
    training images; the decision uses all 10 000 test images. Models a and
    b must have learned (test acc ≥ chance + 0.1).
    """
    runs = _interpolation_runs(hw1_runs, device, seeds)
    curves_by_seed, advantage, argmins = {}, [], []
    interior = (ALPHAS > 0) & (ALPHAS < 1)
    for s, run in runs.items():
        (test_loss, test_acc), (train_loss, _) = run.at("test", ALPHAS), run.at("train", ALPHAS)
        curves_by_seed[s] = {"test_loss": test_loss, "train_loss": train_loss, "test_acc": test_acc}
        ends = min(test_loss[ALPHAS == 0][0], test_loss[ALPHAS == 1][0])
        advantage.append(float(ends - test_loss[interior].min()))
        argmins.append(float(ALPHAS[int(np.argmin(test_loss))]))
    _record_interpolation_protocol(claim, seeds, device, ALPHAS)
    claim.report(
        argmin_alpha=0.1, statement="U-shaped loss, minimum near alpha 0.1; a blend is best"
    )
    claim.measure(
        **{
            name: {s: c[name] for s, c in curves_by_seed.items()}
            for name in ("test_loss", "train_loss", "test_acc")
        },
        endpoint_minus_best_interior_test_loss=advantage,
        argmin_alpha=argmins,
    )
    claim.figure(_interpolation_figure(runs, ALPHAS), "interpolation")
    _require_endpoints_learned(claim, hw1_runs, runs)
    claim.expect(
        stats.compare_paired(advantage, [0.0] * len(advantage), alternative="greater"),
        "an interior alpha has lower test loss than both end points",
    )


@INTERPOLATION_GROUP
@pytest.mark.claim(
    "hw1.interp-acc-peak",
    source="hw1 §1-3 Flatness vs generalization, part 1 (c)",
    # Measured under both profiles, both on all 60 000 training images.
    xfail=Finding(
        "no inverted U: the test accuracy is highest at or next to an end point (model a, mostly), "
        "and no interior alpha beats both end points",
        fails=("best interior test accuracy above both end points'",),
        # Measured 2026-11-25 on an Intel Xeon: the arg-max is within a step of the arg-min on
        # every seed but seed 3 (accuracy highest at alpha 1, loss lowest at 0). Under its
        # AVX-512 kernels it stays inconclusive at 10 seeds under both profiles (mean distance
        # 0.11, interval up to 1.00 and 1.07); under AVX2 kernels (MKL_ENABLE_INSTRUCTIONS=AVX2
        # ATEN_CPU_CAPABILITY=avx2) it holds at the default profile's 3 seeds and is
        # inconclusive at the full profile's 10. On its threshold: it may go either way between
        # CPUs, never against the claim.
        undecided=(
            "arg-max alpha of test accuracy within one grid step of the arg-min alpha of test loss",
        ),
    ),
)
def test_interp_acc_peak(claim, hw1_runs, device, seeds):
    """Along the interpolation, accuracy is an inverted U with its peak near the loss minimum.

    The runs and test curves of hw1.interpolation-blend, on the usual sweep
    α = −1, −0.9, …, 2. The log-spaced α below 0.1 are left out here: they
    lie within 1 % of model a's weights and change its predictions on a
    handful of the 10 000 test images, so a maximum over them would measure
    that noise, not a peak. Criteria fixed before measuring, per seed, on
    the test images: "peak near the loss minimum" is the arg-max α of the
    test accuracy within one grid step (|Δα| < 0.15) of the arg-min α of the
    test loss (mean over seeds, t interval); "inverted U" is the best
    accuracy at an interior α (0 < α < 1) above the better end point's,
    paired over seeds. Models a and b must have learned (test acc ≥ chance +
    0.1).
    """
    runs = _interpolation_runs(hw1_runs, device, seeds)
    interior = (ALPHAS > 0) & (ALPHAS < 1)
    distance, advantage, argmax_acc, argmin_loss = [], [], [], []
    for run in runs.values():
        loss, accuracy = run.at("test", ALPHAS)
        argmax_acc.append(float(ALPHAS[int(np.argmax(accuracy))]))
        argmin_loss.append(float(ALPHAS[int(np.argmin(loss))]))
        distance.append(abs(argmax_acc[-1] - argmin_loss[-1]))
        ends = max(accuracy[ALPHAS == 0][0], accuracy[ALPHAS == 1][0])
        advantage.append(float(accuracy[interior].max() - ends))
    _record_interpolation_protocol(claim, seeds, device, ALPHAS)
    claim.report(
        peak_alpha=0.1,
        statement="inverted U for accuracy, peak around the alpha that minimizes the loss",
    )
    claim.measure(
        argmax_test_acc_alpha=argmax_acc,
        argmin_test_loss_alpha=argmin_loss,
        argmax_minus_argmin_distance=distance,
        best_interior_minus_best_endpoint_test_acc=advantage,
        test_acc={s: run.at("test", ALPHAS)[1] for s, run in runs.items()},
    )
    claim.figure(
        _interpolation_figure(runs, ALPHAS, title="Accuracy and loss along the interpolation"),
        "interpolation-accuracy",
    )
    _require_endpoints_learned(claim, hw1_runs, runs)
    claim.expect(
        stats.compare_to_value(distance, 0.15, alternative="less"),
        "arg-max alpha of test accuracy within one grid step of the arg-min alpha of test loss",
    )
    claim.expect(
        stats.compare_to_value(advantage, 0.0, alternative="greater"),
        "best interior test accuracy above both end points'",
    )


def _log_region_mean(run, split, alphas):
    """Mean over ``alphas`` of the test − train loss gap (``"gap"``) or of the test accuracy."""
    test_loss, test_acc = run.at("test", alphas)
    if split == "acc":
        return float(np.mean(test_acc))
    return float(np.mean(test_loss - run.at("train", alphas)[0]))


@INTERPOLATION_GROUP
@pytest.mark.claim(
    "hw1.interp-train-test-diverge",
    source="hw1 §1-3 Flatness vs generalization, part 1 (c)",
    xfail={
        "default": Finding(
            "the losses do diverge in both regions and the accuracy drops beyond alpha 1, but below "
            "alpha 0.01 (next to model a) the accuracy is higher than at alpha 0.1, not lower",
            fails=("test accuracy lower at alpha < 0.01 than at alpha = 0.1",),
        ),
        "full": Finding(
            "below alpha 0.01 (next to model a) the accuracy is higher than at alpha 0.1, not "
            "lower, and at the full profile's stricter 10-seed look (its plan runs 5 to 20 seeds) "
            "the loss gap beyond alpha 1 is not confidently larger than at alpha 0.1",
            fails=(
                "test − train loss gap larger at alpha > 1 than at alpha = 0.1",
                "test accuracy lower at alpha < 0.01 than at alpha = 0.1",
            ),
        ),
    },
)
def test_interp_train_test_diverge(claim, hw1_runs, device, seeds):
    """Train and test losses diverge for α < 0.01 and α > 1; accuracy drops there.

    The runs of hw1.interpolation-blend, read on the report's log axis: α =
    10^(k/4) from 1e-4 to 10^0.25 (:data:`claims.hw1_protocol.LOG_ALPHAS`,
    with 0.001, 0.01, 0.1 and 1 among them) plus the sweep's α in (1, 2].
    "Diverge" is the gap test loss (10 000 test images) − training loss
    (first 2000 training images), averaged over the α of each region
    (0 < α < 0.01; 1 < α ≤ 2, the sweep's end), above the gap at α = 0.1;
    "accuracy drops there" is the mean test accuracy of each region below
    the one at α = 0.1. Four paired comparisons over seeds. Models a and b
    must have learned (test acc ≥ chance + 0.1).
    """
    runs = _interpolation_runs(hw1_runs, device, seeds)
    alphas = hw1.INTERPOLATION_ALPHAS
    regions = {
        "alpha < 0.01": alphas[(alphas > 0) & (alphas < 0.01)],
        "alpha > 1": alphas[(alphas > 1) & (alphas <= 2)],
    }
    reference = np.array([0.1])
    table = {
        name: {
            region: [_log_region_mean(run, name, where) for run in runs.values()]
            for region, where in {**regions, "alpha = 0.1": reference}.items()
        }
        for name in ("gap", "acc")
    }
    axis = alphas[(alphas > 0) & (alphas <= 2)]
    _record_interpolation_protocol(claim, seeds, device, axis)
    claim.report(
        statement="train and test losses diverge for alpha < 0.01 and > 1; accuracy "
        "drops for alpha < 0.001 and > 1"
    )
    claim.measure(
        test_minus_train_loss=table["gap"],
        test_acc=table["acc"],
        regions={k: v for k, v in regions.items()},
    )
    claim.figure(
        _interpolation_figure(runs, axis, logx=True, title="Interpolation on a log axis"),
        "interpolation-log-axis",
    )
    _require_endpoints_learned(claim, hw1_runs, runs)
    for region in regions:
        claim.expect(
            stats.compare_paired(
                table["gap"][region], table["gap"]["alpha = 0.1"], alternative="greater"
            ),
            f"test − train loss gap larger at {region} than at alpha = 0.1",
        )
    for region in regions:
        claim.expect(
            stats.compare_paired(
                table["acc"][region], table["acc"]["alpha = 0.1"], alternative="less"
            ),
            f"test accuracy lower at {region} than at alpha = 0.1",
        )


def _batch_size_runs(hw1_runs, device, seeds):
    """The five batch-size models (shared by hw1.sensitivity-vs-batch and hw1.large-batch-lower-train-loss).

    All 60 000 training images under every profile, as the report: the
    models of 5 seeds cost about 60 s of one core.
    """
    epochs = hw1.INTERPOLATION_EPOCHS
    runs = {
        b: hw1_runs.mnist_many(
            (784, hw1.ONE_LAYER_WIDTH, 10),
            seeds,
            device,
            n_train=None,
            epochs=epochs,
            batch_size=b,
        )
        for b in hw1.BATCH_SIZES
    }
    return epochs, runs


def _record_batch_protocol(claim, epochs, seeds, device):
    claim.setup(
        network="784-128-10 ReLU",
        batch_sizes=list(hw1.BATCH_SIZES),
        optimizer="adam",
        lr=hw1.MNIST_LR,
        epochs=epochs,
        train_images=60000,
        seeds=list(seeds),
        device=str(device),
    )


def _batch_figure(batch_sizes, series):
    fig, axes = subplots(1, len(series), figsize=(4 * len(series), 3.4))
    for ax, (name, values) in zip(np.atleast_1d(axes), series.items()):
        values = np.array(values)
        ax.errorbar(batch_sizes, values.mean(axis=1), yerr=values.std(axis=1), marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


@BATCH_SIZE_GROUP
@pytest.mark.claim(
    "hw1.sensitivity-vs-batch",
    source="hw1 §1-3 Flatness vs generalization, part 2",
    # Measured under both profiles, both on all 60 000 training images.
    xfail=Finding(
        "the test loss does rise with the batch size, but the sensitivity rises with it instead of falling",
        fails=("sensitivity falls as batch size grows",),
    ),
)
def test_sensitivity_vs_batch(claim, hw1_runs, device, seeds):
    """Across 5 batch sizes, sensitivity (Frobenius norm of the input Jacobian) falls as batch size grows, while
    test loss rises.

    Five 784-128-10 ReLU nets at batch 64, 128, 256, 512, 1024 (the report
    names none; this spans its part-1 sizes), Adam 1e-3, 5 epochs as in
    part 1. Sensitivity: mean Frobenius norm of the Jacobian of the softmax
    output w.r.t. the input over the first 500 test images. Both trends are
    decided by a rank trend over batch sizes × seeds. ε-sharpness (Keskar,
    ε = 1e-3, on the first 1000 training images) is recorded beside them.
    Every batch size must have learned (test acc ≥ chance + 0.1).
    """
    epochs, runs = _batch_size_runs(hw1_runs, device, seeds)
    probe_images = hw1_runs.test.inputs[:500].to(device)
    sharp_data = tuple(hw1_runs.train.take(slice(0, 1000)).to(device))
    sens = [[sensitivity(r.model, probe_images) for r in runs[b]] for b in hw1.BATCH_SIZES]
    sharp = [
        [
            sharpness(
                r.model,
                F.cross_entropy,
                sharp_data,
                epsilon=1e-3,
                steps=10,
                restarts=1,
                generator=torch.Generator().manual_seed(0),
            ).value
            for r in runs[b]
        ]
        for b in hw1.BATCH_SIZES
    ]
    test_loss = [[r.test_loss for r in runs[b]] for b in hw1.BATCH_SIZES]
    _record_batch_protocol(claim, epochs, seeds, device)
    claim.report(
        statement="sensitivity decreases as batch size increases; cross-entropy (test) loss increases"
    )
    claim.measure(
        sensitivity=sens,
        test_loss=test_loss,
        epsilon_sharpness=sharp,
        test_acc=[[r.test_acc for r in runs[b]] for b in hw1.BATCH_SIZES],
    )
    claim.figure(
        _batch_figure(
            hw1.BATCH_SIZES, {"sensitivity": sens, "test loss": test_loss, "ε-sharpness (%)": sharp}
        ),
        "sensitivity-vs-batch",
    )
    _require_learned(
        claim, hw1_runs, {f"batch {b}": [r.test_acc for r in runs[b]] for b in hw1.BATCH_SIZES}
    )
    claim.expect(
        stats.rank_trend(list(hw1.BATCH_SIZES), sens, alternative="decreasing"),
        "sensitivity falls as batch size grows",
    )
    claim.expect(
        stats.rank_trend(list(hw1.BATCH_SIZES), test_loss, alternative="increasing"),
        "test loss rises as batch size grows",
    )


@BATCH_SIZE_GROUP
@pytest.mark.claim(
    "hw1.large-batch-lower-train-loss",
    source="hw1 §1-3 Flatness vs generalization, part 2 (c)",
    # Measured under both profiles, both on all 60 000 training images.
    xfail=Finding(
        "the opposite at equal epochs: the training loss rises and the training accuracy "
        "falls as the batch grows (fewer steps per epoch)",
        fails=(
            "training loss falls as batch size grows",
            "training accuracy rises as batch size grows",
        ),
    ),
)
def test_large_batch_lower_train_loss(claim, hw1_runs, device, seeds):
    """Larger batches reach lower training loss and higher training accuracy.

    The same five batch-size models as hw1.sensitivity-vs-batch (equal
    epochs). Training loss and accuracy are measured in eval mode over the
    training images used, after training; each trend is decided by a rank
    trend over batch sizes × seeds. Every batch size must have learned (test
    acc ≥ chance + 0.1).
    """
    epochs, runs = _batch_size_runs(hw1_runs, device, seeds)
    train_loss = [[r.train_loss for r in runs[b]] for b in hw1.BATCH_SIZES]
    train_acc = [[r.train_acc for r in runs[b]] for b in hw1.BATCH_SIZES]
    _record_batch_protocol(claim, epochs, seeds, device)
    claim.report(
        statement="larger batch sizes lead to lower training loss and higher training accuracy"
    )
    claim.measure(train_loss=train_loss, train_acc=train_acc)
    claim.figure(
        _batch_figure(hw1.BATCH_SIZES, {"train loss": train_loss, "train accuracy": train_acc}),
        "train-vs-batch",
    )
    _require_learned(
        claim, hw1_runs, {f"batch {b}": [r.test_acc for r in runs[b]] for b in hw1.BATCH_SIZES}
    )
    claim.expect(
        stats.rank_trend(list(hw1.BATCH_SIZES), train_loss, alternative="decreasing"),
        "training loss falls as batch size grows",
    )
    claim.expect(
        stats.rank_trend(list(hw1.BATCH_SIZES), train_acc, alternative="increasing"),
        "training accuracy rises as batch size grows",
    )
