"""Claims of the a1 report (DD2424 Assignment 1): a one-layer softmax classifier with L2 on CIFAR-10.

Every claim but the gradient check runs on CIFAR-10 (skipped where it is not on
the machine) and on Fashion-MNIST as a stand-in (``fashion-mnist-standin`` in
the test id): the claims are about the classifier, λ and η, not the images.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from claims._checks import chance_accuracy, require_learned
from claims.a1_protocol import (
    BATCH_SIZE,
    EPOCHS,
    LAMBDAS_AT_SMALL_ETA,
    LARGE_ETA,
    REPORTED_TEST,
    SMALL_ETA,
    A1Runs,
    build_model,
    normalized_total_variation,
)
from claims.hw2_protocol import loss_fluctuation
from dlverify import stats
from dlverify.errors import DataNotFoundError
from dlverify.evidence import Finding
from dlverify.probes import gradcheck
from dlverify.report.figures import subplots

# Every a1 claim shares trained classifiers: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("a1")

STANDIN_NOTE = (
    "Fashion-MNIST stand-in for CIFAR-10 (55 000 / 5 000 / 10 000, 784 inputs): same protocol; "
    "the numbers are not comparable with the report's CIFAR-10 ones, only the direction of each effect"
)


@pytest.fixture(scope="session")
def a1_runs(run_cache) -> A1Runs:
    """The documented 40 epochs under every profile (the profiles differ in seeds only)."""
    return A1Runs(epochs=EPOCHS, run_cache=run_cache)


@pytest.fixture
def a1(a1_runs, dataset) -> A1Runs:
    """The shared runs, after checking this case's data set is here (skip with instructions if not)."""
    try:
        a1_runs.dataset(dataset)
    except DataNotFoundError as error:
        pytest.skip(str(error))
    return a1_runs


def _cases(claim_id: str, source: str, *, standin_xfail: Finding | dict | None = None) -> list:
    """The two data-set cases of a claim, each carrying the claim marker.

    The marker sits on each case rather than on the function so that a
    finding measured on the stand-in (a strict xfail) does not also mark the
    CIFAR-10 case, which is decided separately where CIFAR-10 is available.
    """
    standin = {"xfail": standin_xfail} if standin_xfail else {}
    return [
        pytest.param("cifar10", marks=pytest.mark.claim(claim_id, source=source), id="cifar10"),
        pytest.param(
            "fashion-mnist-standin",
            marks=pytest.mark.claim(claim_id, source=source, **standin),
            id="fashion-mnist-standin",
        ),
    ]


def _record_protocol(claim, a1, dataset, device, seeds, settings):
    claim.setup(
        data=dataset,
        model="softmax(Wx + b), W and b ~ N(0, 0.01²)",
        cost="mean cross-entropy + λ‖W‖² (W only)",
        optimizer="mini-batch GD, no momentum",
        batch_size=BATCH_SIZE,
        epochs=a1.epochs,
        settings=[list(s) for s in settings],
        split="45 000 / 5 000 / 10 000 (CIFAR-10) or 55 000 / 5 000 / 10 000 (stand-in); last 5 000 of "
        "the training file as validation",
        inputs="flattened, standardized by the training set's per-feature mean and std (DD2424)",
        device=str(device),
        seeds=list(seeds),
    )
    if a1.epochs != EPOCHS:
        claim.scaled(f"{a1.epochs} epochs instead of the {EPOCHS} the assignment provides")
    if dataset != "cifar10":
        claim.note(STANDIN_NOTE)


def _runs(a1, dataset, settings, seeds, device):
    return a1.runs(dataset, settings, seeds, device)


def _require_learned(claim, a1, dataset, runs, settings) -> None:
    """:func:`claims._checks.require_learned` on the final validation accuracy of ``settings``."""
    require_learned(
        claim,
        {_label(s): [r.history.val_acc[-1] for r in runs[s]] for s in settings},
        chance=chance_accuracy(a1.dataset(dataset).val.targets),
    )


def _label(setting) -> str:
    return f"λ={setting[0]:g}, η={setting[1]:g}"


def _curves_figure(runs, title):
    """The report's Figure 1: loss, cost and accuracy (train solid, validation dashed) per setting, first seed."""
    fig, axes = subplots(3, len(runs), figsize=(3.2 * len(runs), 7.5), squeeze=False)
    for column, (setting, seed_runs) in enumerate(runs.items()):
        run = seed_runs[0]
        epochs = run.history.epoch
        rows = (
            ("loss", run.history.train_eval_loss, run.history.val_loss),
            ("cost", run.cost("train"), run.cost("val")),
            ("accuracy", run.history.train_eval_acc, run.history.val_acc),
        )
        for row, (name, train, val) in enumerate(rows):
            ax = axes[row, column]
            ax.plot(epochs, train, "-", label="train")
            ax.plot(epochs, val, "--", label="validation")
            ax.set_title(f"{_label(setting)}: {name}", fontsize=8)
            ax.set_xlabel("epoch", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _templates_figure(runs, image_shape, title):
    """The report's Figure 2: the 10 rows of W as images per setting, each scaled to [0, 1]."""
    fig, axes = subplots(len(runs), 10, figsize=(12, 1.35 * len(runs) + 0.4), squeeze=False)
    for row, (setting, seed_runs) in enumerate(runs.items()):
        templates = seed_runs[0].templates(image_shape)
        for column in range(10):
            t = templates[column]
            t = (t - t.min()) / (t.max() - t.min())
            ax = axes[row, column]
            ax.imshow(t.permute(1, 2, 0).numpy() if t.shape[0] == 3 else t[0].numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(_label(setting), fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _test_numbers(runs) -> dict:
    return {
        _label(s): {
            "loss": [r.test_loss for r in rs],
            "cost": [r.test_cost for r in rs],
            "acc": [r.test_acc for r in rs],
        }
        for s, rs in runs.items()
    }


# -- gradient check -------------------------------------------------------------------------------------


@pytest.mark.claim("a1.gradcheck", source="a1 §1.1 Checking the gradients")
def test_gradcheck(claim, fashion_train, device):
    """The analytic gradients match centered finite differences (mean abs difference ≈ 5e-9, max ≈ 2e-8).

    About the code, not the data: the cost J = cross-entropy + λ‖W‖² of the
    softmax classifier, differentiated by autograd through the model and the
    penalty, against centered differences (h = 1e-6, DD2424's value) in
    float64 for every entry of W and b. As in the report, W and b are drawn
    with variance 4 (std 2) so the gradients are large. Data: the first 20
    Fashion-MNIST training images, standardized by those 20 images' mean and
    std, λ = 0.1. Decided, before measuring, by the report's own terms: the
    largest absolute difference is below 1e-6 while the gradient is not small
    (its largest entry above 0.1 in absolute value).
    """
    lam, n, std, eps = 0.1, 20, 2.0, 1e-6
    x = fashion_train.inputs[:n].reshape(n, -1).double().to(device)
    x = (x - x.mean(0)) / torch.where(
        x.std(0) > 0, x.std(0), torch.ones((), dtype=x.dtype, device=device)
    )
    y = fashion_train.targets[:n].to(device)
    model = build_model(x.shape[1], seed=0, std=std).double().to(device).eval()

    def cost(weight, bias):
        logits = functional_call(model, {"1.weight": weight, "1.bias": bias}, (x,))
        return F.cross_entropy(logits, y) + lam * weight.pow(2).sum()

    params = dict(model.named_parameters())
    result = gradcheck(cost, (params["1.weight"], params["1.bias"]), eps=eps)
    diffs = [(a - b).abs() for a, b in zip(result.analytic, result.numerical)]
    largest_gradient = max(float(a.abs().max()) for a in result.analytic)
    claim.setup(
        data="first 20 Fashion-MNIST training images (stand-in; the check is about the code)",
        init="W, b ~ N(0, 4)",
        lam=lam,
        eps=eps,
        dtype="float64",
        entries=sum(d.numel() for d in diffs),
    )
    claim.report(
        gW_mean_abs_diff=5.12e-9,
        gW_max_abs_diff=2.11e-8,
        gb_mean_abs_diff=1.60e-9,
        gb_max_abs_diff=4.21e-9,
        gW_min=-1.72,
        gW_max=1.53,
    )
    claim.measure(
        max_abs_diff=result.max_abs_diff,
        mean_abs_diff=result.mean_abs_diff,
        max_rel_diff=result.max_rel_diff,
        gW_mean_abs_diff=float(diffs[0].mean()),
        gW_max_abs_diff=float(diffs[0].max()),
        gb_mean_abs_diff=float(diffs[1].mean()),
        gb_max_abs_diff=float(diffs[1].max()),
        gW_min=float(result.analytic[0].min()),
        gW_max=float(result.analytic[0].max()),
        gW_std=float(result.analytic[0].std()),
        largest_abs_gradient=largest_gradient,
    )
    claim.expect(result.max_abs_diff < 1e-6, "max |analytic − numerical| < 1e-6")
    claim.expect(largest_gradient > 0.1, "the gradient is not small (max |entry| > 0.1)")


# -- training claims, on CIFAR-10 and on the stand-in ---------------------------------------------------


@pytest.mark.parametrize(
    "dataset",
    _cases(
        "a1.high-lr-overshoots",
        "a1 §1.2 Training and evaluation, Table 1, Fig. 1a-b",
    ),
)
def test_high_lr_overshoots(claim, a1, dataset, device, seeds):
    """η = 0.1 keeps overshooting and ends worse than η = 0.001 (test accuracy 0.27 vs 0.32, λ = 0).

    Decided by (1) test accuracy at η = 0.001 above that at η = 0.1, paired over
    seeds, and (2) "keeps overshooting": the oscillation of the training
    objective, the std of its step-to-step change over the second half of
    training (the measure hw2's claims use), larger at η = 0.1, paired over
    seeds. Only η = 0.001 must have learned (val acc ≥ chance + 0.1): that
    η = 0.1 overshoots is the claim itself.
    """
    settings = ((0.0, LARGE_ETA), (0.0, SMALL_ETA))
    runs = _runs(a1, dataset, settings, seeds, device)
    data = a1.dataset(dataset)
    large, small = runs[settings[0]], runs[settings[1]]
    oscillation = {s: [loss_fluctuation(r.history.step_loss) for r in rs] for s, rs in runs.items()}
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(
        test_acc={"η=0.1": 0.27, "η=0.001": 0.32}, test_loss={"η=0.1": 6.92, "η=0.001": 2.02}
    )
    claim.measure(
        test=_test_numbers(runs),
        train_loss_oscillation={_label(s): o for s, o in oscillation.items()},
    )
    claim.figure(_curves_figure(runs, f"{dataset}: λ = 0, η = 0.1 vs 0.001"), "curves-eta")
    claim.figure(_templates_figure(runs, data.image_shape, f"{dataset}: W per η"), "templates-eta")
    _require_learned(claim, a1, dataset, runs, settings[1:])
    claim.expect(
        stats.compare_paired(
            [r.test_acc for r in small], [r.test_acc for r in large], alternative="greater"
        ),
        "test accuracy at η = 0.001 above η = 0.1",
    )
    claim.expect(
        stats.compare_paired(
            oscillation[settings[0]], oscillation[settings[1]], alternative="greater"
        ),
        "training loss oscillates more at η = 0.1",
    )


def _lambda_runs(a1, dataset, seeds, device):
    settings = tuple((lam, SMALL_ETA) for lam in LAMBDAS_AT_SMALL_ETA)
    return settings, _runs(a1, dataset, settings, seeds, device)


@pytest.mark.parametrize(
    "dataset", _cases("a1.lambda-narrows-gap", "a1 §1.2 Training and evaluation, Fig. 1b-d")
)
def test_lambda_narrows_gap(claim, a1, dataset, device, seeds):
    """Increasing λ shrinks the gap between training and validation performance.

    At η = 0.001 and λ = 0, 0.1, 1: the gap is final training accuracy (whole
    training set, eval mode) minus final validation accuracy. Decided by a
    decreasing rank trend of the gap over λ across seeds; the loss gap
    (validation minus training cross-entropy) is recorded too. Every λ must
    have learned (val acc ≥ chance + 0.1).
    """
    settings, runs = _lambda_runs(a1, dataset, seeds, device)
    acc_gap = {
        s: [r.history.train_eval_acc[-1] - r.history.val_acc[-1] for r in rs]
        for s, rs in runs.items()
    }
    loss_gap = {
        s: [r.history.val_loss[-1] - r.history.train_eval_loss[-1] for r in rs]
        for s, rs in runs.items()
    }
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(statement="with larger λ the train/validation difference decreases")
    claim.measure(
        accuracy_gap={_label(s): g for s, g in acc_gap.items()},
        loss_gap={_label(s): g for s, g in loss_gap.items()},
        test=_test_numbers(runs),
    )
    claim.figure(_curves_figure(runs, f"{dataset}: η = 0.001, λ = 0, 0.1, 1"), "curves-lambda")
    _require_learned(claim, a1, dataset, runs, settings)
    claim.expect(
        stats.rank_trend(
            list(LAMBDAS_AT_SMALL_ETA), [acc_gap[s] for s in settings], alternative="decreasing"
        ),
        "train − validation accuracy gap decreases with λ",
    )


@pytest.mark.parametrize(
    "dataset",
    _cases(
        "a1.lambda-01-best",
        "a1 §1.2 Training and evaluation, Table 1",
        # Measured after 5 and after 40 epochs; both profiles train 40 since 2026-11-24.
        standin_xfail=Finding(
            "on the Fashion-MNIST stand-in λ = 0 gives the best test accuracy, not λ = 0.1: a "
            "linear classifier of 784 inputs trained on 55 000 images barely overfits, so the "
            "penalty only costs accuracy",
            fails=("λ = 0.1 has the best test accuracy",),
        ),
    ),
)
def test_lambda_01_best(claim, a1, dataset, device, seeds):
    """λ = 0.1 gives the best test accuracy (0.41 vs 0.32 at λ = 0 and 0.37 at λ = 1); λ = 1 is too strong.

    At η = 0.001: decided by stats.argbest with λ = 0.1 claimed best, i.e.
    its test accuracy above both λ = 0 and λ = 1, paired over seeds. Every λ
    must have learned (val acc ≥ chance + 0.1): "too strong" is read as
    worse, as the report's 0.37 is, not as untrained.
    """
    settings, runs = _lambda_runs(a1, dataset, seeds, device)
    accuracy = {f"{s[0]:g}": [r.test_acc for r in rs] for s, rs in runs.items()}
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(test={_label(s): REPORTED_TEST[s] for s in settings})
    claim.measure(test=_test_numbers(runs))
    claim.figure(
        _templates_figure(
            {s: runs[s] for s in settings},
            a1.dataset(dataset).image_shape,
            f"{dataset}: W per λ (η = 0.001)",
        ),
        "templates-lambda",
    )
    _require_learned(claim, a1, dataset, runs, settings)
    claim.expect(stats.argbest(accuracy, claimed="0.1"), "λ = 0.1 has the best test accuracy")


@pytest.mark.parametrize(
    "dataset", _cases("a1.lambda-smooths-w", "a1 §1.2 Training and evaluation, Fig. 2")
)
def test_lambda_smooths_w(claim, a1, dataset, device, seeds):
    """A larger λ gives smoother class templates W.

    Smoothness of each class template (a row of W as an image): normalized
    total variation, Σ|neighbour differences| / Σ|w| over pixels and channels,
    which is scale-free so that λ's overall shrinking of W does not count as
    smoothing; averaged over the 10 classes. At η = 0.001: decided by a
    decreasing rank trend over λ = 0, 0.1, 1 across seeds. Every λ must have
    learned (val acc ≥ chance + 0.1): the templates of an untrained
    classifier are its initialization.
    """
    settings, runs = _lambda_runs(a1, dataset, seeds, device)
    shape = a1.dataset(dataset).image_shape
    roughness = {
        s: [float(normalized_total_variation(r.templates(shape)).mean()) for r in rs]
        for s, rs in runs.items()
    }
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(statement="larger λ, smoother W (Fig. 2)")
    claim.measure(
        normalized_total_variation={_label(s): v for s, v in roughness.items()},
        weight_norm={
            _label(s): [float(r.templates(shape).norm()) for r in rs] for s, rs in runs.items()
        },
    )
    claim.figure(
        _templates_figure(runs, shape, f"{dataset}: W per λ (η = 0.001)"), "templates-lambda"
    )
    _require_learned(claim, a1, dataset, runs, settings)
    claim.expect(
        stats.rank_trend(
            list(LAMBDAS_AT_SMALL_ETA), [roughness[s] for s in settings], alternative="decreasing"
        ),
        "normalized total variation of the templates decreases with λ",
    )


@pytest.mark.parametrize(
    "dataset",
    _cases(
        "a1.test-loss-order",
        "a1 §1.2 Training and evaluation, Table 1",
        # Measured under both profiles (3 seeds and up to 20).
        standin_xfail=Finding(
            "on the Fashion-MNIST stand-in the penalty raises the test loss (λ = 0 lowest, then "
            "λ = 0.1, then λ = 1), and after 40 epochs η = 0.1 ends between λ = 0 and λ = 0.1, "
            "not far above them all",
            fails=("test loss: λ=0.1 < λ=1 < λ=0 (η=0.001) < η=0.1",),
        ),
    ),
)
def test_test_loss_order(claim, a1, dataset, device, seeds):
    """Test loss orders λ = 0.1 (1.74) < λ = 1 (1.85) < λ = 0 (2.02) ≪ η = 0.1 (6.92).

    All four settings of Table 1; the test loss is the cross-entropy on the
    test images (the cost, with λ‖W‖², is recorded beside it). Decided by
    ``stats.ordering`` over paired seeds: every adjacent step of the chain
    lower than the next. The three η = 0.001 settings must have learned
    (val acc ≥ chance + 0.1); η = 0.1 need not: its overshooting is the
    report's reason for the chain's last step.
    """
    order = ((0.1, SMALL_ETA), (1.0, SMALL_ETA), (0.0, SMALL_ETA), (0.0, LARGE_ETA))
    runs = _runs(a1, dataset, order, seeds, device)
    losses = {_label(s): [r.test_loss for r in runs[s]] for s in order}
    _record_protocol(claim, a1, dataset, device, seeds, order)
    claim.report(test={_label(s): REPORTED_TEST[s] for s in order})
    claim.measure(test=_test_numbers(runs))
    fig, ax = subplots(figsize=(5.5, 3.4))
    for i, setting in enumerate(order):
        ax.scatter([i] * len(seeds), losses[_label(setting)], color="C0", s=14)
        ax.scatter([i], [REPORTED_TEST[setting]["loss"]], color="C3", marker="x", s=40)
    ax.set_xticks(range(len(order)), [_label(s) for s in order], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("test cross-entropy (x: the report's)")
    ax.set_title(f"{dataset}: test loss per setting", fontsize=9)
    fig.tight_layout()
    claim.figure(fig, "test-loss-order")
    _require_learned(claim, a1, dataset, runs, order[:3])
    claim.expect(
        stats.ordering(losses, [_label(s) for s in order], alternative="less"),
        "test loss: λ=0.1 < λ=1 < λ=0 (η=0.001) < η=0.1",
    )


def class_means(train) -> torch.Tensor:
    """The mean training input of each class, ``(classes, features)`` in float64."""
    inputs, labels = train.inputs.reshape(len(train), -1).double().cpu(), train.targets.cpu()
    return torch.stack([inputs[labels == c].mean(dim=0) for c in range(int(labels.max()) + 1)])


def class_template_correlation(templates: torch.Tensor, means: torch.Tensor) -> list[float]:
    """Per class c: Pearson correlation of W's row c with the mean training input of class c."""
    flat = templates.reshape(templates.shape[0], -1).double()
    a, b = flat - flat.mean(dim=1, keepdim=True), means - means.mean(dim=1, keepdim=True)
    return ((a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))).tolist()


@pytest.mark.parametrize(
    "dataset", _cases("a1.regularized-w-class-patterns", "a1 §1.2 Training and evaluation, Fig. 2")
)
def test_regularized_w_class_patterns(claim, a1, dataset, device, seeds):
    """Without regularization W shows no repetitive per-class pattern; with it, it does.

    "A per-class pattern" is measured as the Pearson correlation of each row
    of W (the class template) with that class's mean training image (the
    standardized inputs the classifier sees), averaged over the 10 classes.
    At η = 0.001: decided by the correlation at λ = 0.1 and at λ = 1 each
    above the one at λ = 0, paired over seeds. Every λ must have learned
    (val acc ≥ chance + 0.1).
    """
    settings, runs = _lambda_runs(a1, dataset, seeds, device)
    data = a1.dataset(dataset)
    means = class_means(data.train)
    correlation = {
        s: [
            float(np.mean(class_template_correlation(r.templates(data.image_shape), means)))
            for r in rs
        ]
        for s, rs in runs.items()
    }
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(
        statement="no repetitive pattern per class without regularization; "
        "patterns with it (Fig. 2)"
    )
    claim.measure(template_class_mean_correlation={_label(s): v for s, v in correlation.items()})
    claim.figure(
        _templates_figure(runs, data.image_shape, f"{dataset}: W per λ (η = 0.001)"),
        "templates-lambda",
    )
    _require_learned(claim, a1, dataset, runs, settings)
    unregularized = correlation[settings[0]]
    for setting in settings[1:]:
        claim.expect(
            stats.compare_paired(correlation[setting], unregularized, alternative="greater"),
            f"templates correlate more with the class means at λ = {setting[0]:g} than at λ = 0",
        )


@pytest.mark.parametrize(
    "dataset",
    _cases(
        "a1.high-lr-good-first-epoch",
        "a1 §1.2 Training and evaluation, Fig. 1a",
    ),
)
def test_high_lr_good_first_epoch(claim, a1, dataset, device, seeds):
    """With η = 0.1 the first epoch already reaches a not-so-bad point, though it ends worse.

    λ = 0, η = 0.1 vs η = 0.001 (the runs of a1.high-lr-overshoots). "A
    not-so-bad point after the first epoch" is read against the small rate:
    the validation accuracy after epoch 1 is higher at η = 0.1 than at
    η = 0.001; "ends worse" is the final validation accuracy lower at η = 0.1.
    Both paired over seeds. Only η = 0.001 must have learned (val acc ≥
    chance + 0.1): how η = 0.1 fares is the claim itself.
    """
    settings = ((0.0, LARGE_ETA), (0.0, SMALL_ETA))
    runs = _runs(a1, dataset, settings, seeds, device)
    first = {s: [r.history.val_acc[0] for r in rs] for s, rs in runs.items()}
    final = {s: [r.history.val_acc[-1] for r in rs] for s, rs in runs.items()}
    _record_protocol(claim, a1, dataset, device, seeds, settings)
    claim.report(
        statement="η = 0.1 reaches a not-so-bad point after the first epoch, then "
        "overshoots; test accuracy 0.27 vs 0.32 at η = 0.001"
    )
    claim.measure(
        val_acc_epoch_1={_label(s): v for s, v in first.items()},
        final_val_acc={_label(s): v for s, v in final.items()},
        val_acc_curve={_label(s): [r.history.val_acc for r in rs] for s, rs in runs.items()},
    )
    claim.figure(_curves_figure(runs, f"{dataset}: λ = 0, η = 0.1 vs 0.001"), "curves-eta")
    _require_learned(claim, a1, dataset, runs, settings[1:])
    large, small = settings
    claim.expect(
        stats.compare_paired(first[large], first[small], alternative="greater"),
        "validation accuracy after epoch 1 higher at η = 0.1 than at η = 0.001",
    )
    claim.expect(
        stats.compare_paired(final[large], final[small], alternative="less"),
        "final validation accuracy lower at η = 0.1 than at η = 0.001",
    )
