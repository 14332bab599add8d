"""Claims of the lab1 report, §2: Fashion-MNIST softmax regression.

§1 (linear regression) is in test_lab1_linear.py. The protocols and the
choices the report leaves open are documented in :mod:`claims.lab1_softmax`;
each configuration is trained once (the run cache) and shared by the claims below.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from claims.lab1_softmax import (BATCH_SIZE, EPOCHS, INIT, OPTIMIZERS, REFERENCE, VAL_SPLIT, Config,
                                 Lab1Softmax, epoch_seconds, flat, linear_svm, random_forest)
from claims.lab1_softmax import LR as SOFTMAX_LR
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.data import FASHION_MNIST_CLASSES
from dlverify.probes import cluster_weights, hessian_trace, sharpness, top_eigenvalue
from dlverify.report.figures import curves, subplots, train_val_curves

# -- softmax regression on Fashion-MNIST ---------------------------------------------------

BATCH_SIZES = (32, 128, 512, 2048)
TIMING_REPEATS = 5  # timed epochs per batch size (lab1.small-batch-generalizes)
TOPS, FOOTWEAR = (0, 2, 4, 6), (5, 7, 9)
SHARPNESS_SUBSET = 5_000  # training examples the curvature probes average over (the first of the training split)
TRACE_SAMPLES = 20  # Hutchinson probes per model: the trace's standard error is recorded beside it


@pytest.fixture(scope="session")
def lab1_softmax(fashion_train, fashion_test, profile, run_cache) -> Lab1Softmax:
    return Lab1Softmax(fashion_train, fashion_test, long_epochs=profile.pick(default=30, full=100),
                       run_cache=run_cache)


def _softmax_setup(claim, device, seeds, **extra):
    settings = {"model": "softmax regression 784 -> 10", "init": INIT, "batch_size": BATCH_SIZE, "lr": SOFTMAX_LR,
                "epochs": EPOCHS, "validation": "last 10 % of the training set (Keras validation_split)",
                "device": str(device), "seeds": list(seeds)}
    settings.update(extra)
    claim.setup(**settings)


def _last(runs, metric: str) -> list[float]:
    return [getattr(run.history, metric)[-1] for run in runs]


def _plateau_epoch(values, within: float = 0.01) -> int:
    """First epoch from which the accuracy stays within ``within`` of its maximum over the run."""
    best = max(values)
    for epoch in range(len(values)):
        if all(v >= best - within for v in values[epoch:]):
            return epoch + 1
    return len(values)


@pytest.mark.claim("lab1.adam-fastest", source="lab1 §2 Optimizer, Fig. 5",
                   xfail=Finding("RMSprop, not Adam, is ahead after the first epoch at the common learning rate 1e-3, and Adam does not stabilize first", fails=('train accuracy after epoch 1: Adam > RMSprop > SGD', 'accuracy stabilizes no later for Adam than RMSprop, and for RMSprop than SGD (mean epoch)')))
def test_adam_fastest(claim, lab1_softmax, device, seeds):
    """Over 10 epochs Adam converges fastest (train acc 45 % after epoch 1), RMSprop next (36 %), SGD slowest (13.6 %).

    Same lr (1e-3) for the three optimizers (the catalogue's protocol), Keras
    defaults otherwise, 10 epochs. Decided, paired over seeds: the training
    accuracy after epoch 1 (Keras' running accuracy) orders Adam > RMSprop >
    SGD. Also measured and expected: the epoch from which the train accuracy
    stays within 1 point of its 10-epoch best ("stabilizes") is, on average,
    no later for Adam than for RMSprop and no later for RMSprop than for SGD.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    first_epoch = {opt: [r.history.train_acc[0] for r in runs[opt]] for opt in OPTIMIZERS}
    plateau = {opt: [_plateau_epoch(r.history.train_acc) for r in runs[opt]] for opt in OPTIMIZERS}
    _softmax_setup(claim, device, seeds, optimizers=list(OPTIMIZERS))
    claim.report(train_acc_epoch1={"adam": 0.4502, "rmsprop": 0.3630, "sgd": 0.1358}, sgd_train_acc_epoch10=0.3069)
    claim.measure(train_acc_epoch1=first_epoch, epoch_train_acc_stabilizes=plateau,
                  train_acc_epoch10={opt: _last(runs[opt], "train_acc") for opt in OPTIMIZERS},
                  val_acc_epoch10={opt: _last(runs[opt], "val_acc") for opt in OPTIMIZERS})
    claim.figure(train_val_curves({opt: runs[opt][0].history for opt in OPTIMIZERS}, metric="acc",
                                  title=f"Optimizers, lr {SOFTMAX_LR}, seed {seeds[0]} (Fig. 5)"), "optimizer-accuracy")
    claim.figure(train_val_curves({opt: runs[opt][0].history for opt in OPTIMIZERS}, metric="loss",
                                  title=f"Optimizers, lr {SOFTMAX_LR}, seed {seeds[0]}"), "optimizer-loss")
    claim.expect(stats.ordering(first_epoch, ["adam", "rmsprop", "sgd"]),
                 "train accuracy after epoch 1: Adam > RMSprop > SGD")
    means = {opt: float(np.mean(plateau[opt])) for opt in OPTIMIZERS}
    claim.expect(means["adam"] <= means["rmsprop"] <= means["sgd"],
                 "accuracy stabilizes no later for Adam than RMSprop, and for RMSprop than SGD (mean epoch)")


@pytest.mark.claim("lab1.rmsprop-beats-sgd", source="lab1 §2 Optimizer")
def test_rmsprop_beats_sgd(claim, lab1_softmax, device, seeds):
    """After 10 epochs RMSprop's validation accuracy (65.13 %) is above SGD's (22.05 %).

    Same runs as lab1.adam-fastest (lr 1e-3 for both). Decided on the final
    validation accuracy, paired over seeds.
    """
    rmsprop = _last(lab1_softmax.runs(Config("rmsprop"), seeds, device), "val_acc")
    sgd = _last(lab1_softmax.runs(Config("sgd"), seeds, device), "val_acc")
    _softmax_setup(claim, device, seeds, optimizers=["rmsprop", "sgd"])
    claim.report(rmsprop_val_acc=0.6513, sgd_val_acc=0.2205)
    claim.measure(rmsprop_val_acc=rmsprop, sgd_val_acc=sgd)
    claim.expect(stats.compare_paired(rmsprop, sgd, alternative="greater"), "final val acc: RMSprop above SGD")


@pytest.mark.claim("lab1.rmsprop-beats-adam", source="lab1 §2 Optimizer",
                   xfail=Finding("RMSprop does not end confidently above Adam: the difference in final val accuracy is within seed noise at the seed budget", fails=('final val acc: RMSprop above Adam',)))
def test_rmsprop_beats_adam(claim, lab1_softmax, device, seeds):
    """After 10 epochs RMSprop's validation accuracy (65.13 %) is above Adam's (60.73 %).

    Same runs as lab1.adam-fastest (lr 1e-3 for both). Decided on the final
    validation accuracy, paired over seeds.
    """
    rmsprop = _last(lab1_softmax.runs(Config("rmsprop"), seeds, device), "val_acc")
    adam = _last(lab1_softmax.runs(Config("adam"), seeds, device), "val_acc")
    _softmax_setup(claim, device, seeds, optimizers=["rmsprop", "adam"])
    claim.report(rmsprop_val_acc=0.6513, adam_val_acc=0.6073)
    claim.measure(rmsprop_val_acc=rmsprop, adam_val_acc=adam)
    claim.expect(stats.compare_paired(rmsprop, adam, alternative="greater"), "final val acc: RMSprop above Adam")


@pytest.mark.claim("lab1.split-010-beats-015", source="lab1 §2 Train/Val split",
                   xfail=Finding("the two validation splits' final accuracies do not differ beyond seed noise at the seed budget", fails=('final train accuracy higher with the 0.1 split', 'final validation accuracy higher with the 0.1 split')))
def test_split_010_beats_015(claim, lab1_softmax, device, seeds):
    """A 0.1 validation split gives higher train (61.09 vs 58.54 %) and val (65.13 vs 61.66 %) accuracy than 0.15.

    RMSprop, 10 epochs, the split taken from the end of the training set as
    Keras' ``validation_split`` does (so the 0.1 validation set is the last
    6 000 images, the 0.15 one the last 9 000). Decided on the final train
    and validation accuracies, paired over seeds: both higher with 0.1.
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", validation_splits=[0.1, 0.15])
    claim.report(train_acc={"0.1": 0.6109, "0.15": 0.5854}, val_acc={"0.1": 0.6513, "0.15": 0.6166},
                 best_val_acc={"0.1": 0.6553, "0.15": 0.6323})
    claim.measure(train_acc={"0.1": _last(ten, "train_acc"), "0.15": _last(fifteen, "train_acc")},
                  val_acc={"0.1": _last(ten, "val_acc"), "0.15": _last(fifteen, "val_acc")},
                  best_val_acc={"0.1": [max(r.history.val_acc) for r in ten],
                                "0.15": [max(r.history.val_acc) for r in fifteen]})
    claim.figure(train_val_curves({"split 0.1": ten[0].history, "split 0.15": fifteen[0].history}, metric="acc",
                                  title=f"Validation split, RMSprop, seed {seeds[0]}"), "split-accuracy")
    claim.expect(stats.compare_paired(_last(ten, "train_acc"), _last(fifteen, "train_acc"), alternative="greater"),
                 "final train accuracy higher with the 0.1 split")
    claim.expect(stats.compare_paired(_last(ten, "val_acc"), _last(fifteen, "val_acc"), alternative="greater"),
                 "final validation accuracy higher with the 0.1 split")


def _level_off_epoch(losses, relative: float = 0.01) -> int | None:
    """First epoch after which every epoch-to-epoch change of the loss is below ``relative`` of its value."""
    changes = [abs(b - a) / abs(a) for a, b in zip(losses, losses[1:])]
    for epoch in range(len(changes)):
        if all(c < relative for c in changes[epoch:]):
            return epoch + 1
    return None


@pytest.mark.claim("lab1.rmsprop-100-epochs", source="lab1 §2, Fig. 6",
                   xfail={"default": Finding("the accuracies match the report, but the training loss levels off much earlier than the reported ≈ 20 epochs", fails=('train loss levels off (< 1 %/epoch) from an epoch between 10 and 30',))})
def test_rmsprop_100_epochs(claim, lab1_softmax, profile, device, seeds):
    """RMSprop for 100 epochs: train acc ≈ 87 %, val acc ≈ 85 %, gap ≈ 2 % (mild overfitting);
    losses level off after ≈ 20 epochs.

    The reference run (RMSprop lr 1e-3, batch 32, split 0.1). Criteria fixed
    from the report's words: "≈" = within 2 points, so the mean over seeds of
    the maximum train accuracy lies in (0.85, 0.89), of the maximum val
    accuracy in (0.83, 0.87), and their gap in (0, 0.04) (positive: mild
    overfitting); "levels off after ≈ 20 epochs" = the train loss changes by
    less than 1 % per epoch from an epoch in [10, 30] on, for every seed (the
    val loss's epoch is recorded too).
    """
    epochs = lab1_softmax.long_epochs
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=epochs)
    max_train = [max(r.history.train_acc) for r in runs]
    max_val = [max(r.history.val_acc) for r in runs]
    gap = [t - v for t, v in zip(max_train, max_val)]
    level_train = [_level_off_epoch(r.history.train_loss) for r in runs]
    level_val = [_level_off_epoch(r.history.val_loss) for r in runs]
    if epochs < 100:
        claim.scaled(f"100 -> {epochs} epochs under the default profile (--profile full runs 100)")
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", epochs=epochs)
    claim.report(max_train_acc=0.87, max_val_acc=0.85, gap=0.02, losses_level_off_after_epoch=20)
    claim.measure(max_train_acc=max_train, max_val_acc=max_val, gap=gap, final_train_acc=_last(runs, "train_acc"),
                  final_val_acc=_last(runs, "val_acc"), train_loss_levels_off_at_epoch=level_train,
                  val_loss_levels_off_at_epoch=level_val)
    claim.figure(train_val_curves({"RMSprop": runs[0].history}, metric="acc",
                                  title=f"RMSprop, {epochs} epochs, seed {seeds[0]} (Fig. 6, accuracy)"),
                 "rmsprop-long-accuracy")
    claim.figure(train_val_curves({"RMSprop": runs[0].history}, metric="loss",
                                  title=f"RMSprop, {epochs} epochs, seed {seeds[0]} (Fig. 6, loss)"),
                 "rmsprop-long-loss")
    claim.expect(stats.within(max_train, 0.85, 0.89), "max train accuracy ≈ 87 % (within 2 points)")
    claim.expect(stats.within(max_val, 0.83, 0.87), "max val accuracy ≈ 85 % (within 2 points)")
    claim.expect(stats.within(gap, 0.0, 0.04), "train-val gap ≈ 2 % (positive, under 4 points)")
    claim.expect(all(e is not None and 10 <= e <= 30 for e in level_train),
                 "train loss levels off (< 1 %/epoch) from an epoch between 10 and 30")


def _batch_runs(lab1_softmax, seeds, device):
    return {bs: lab1_softmax.runs(Config(batch_size=bs), seeds, device) for bs in BATCH_SIZES}


@pytest.mark.claim("lab1.small-batch-generalizes", source="lab1 §2 batch size")
def test_small_batch_generalizes(claim, lab1_softmax, device, seeds):
    """Smaller batches generalize better; larger batches train faster per epoch.

    RMSprop lr 1e-3 for 10 epochs at batch sizes 32, 128, 512 and 2048 (equal
    epochs, the report gives no sizes). Decided with rank trends over the
    sizes: the final validation accuracy falls with the batch size (seeds as
    replicates), and the seconds per training epoch fall with it
    (:func:`claims.lab1_softmax.epoch_seconds`: one model trained one epoch
    by ``fit``, :data:`TIMING_REPEATS` interleaved repetitions as replicates,
    timed in this run — the stored runs' times come from whichever process
    trained them, with however many seeds at once).
    """
    runs = _batch_runs(lab1_softmax, seeds, device)
    val = [_last(runs[bs], "val_acc") for bs in BATCH_SIZES]
    timing = epoch_seconds(lab1_softmax.split(VAL_SPLIT)[0], BATCH_SIZES, repeats=TIMING_REPEATS, device=device)
    seconds = [timing[bs] for bs in BATCH_SIZES]
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", batch_sizes=list(BATCH_SIZES),
                   torch_threads=torch.get_num_threads(), timing="one model, one epoch of fit, "
                   f"{TIMING_REPEATS} interleaved repetitions per batch size")
    claim.report(statement="smaller batches generalize better; larger batches train faster per epoch")
    claim.measure(val_acc={bs: v for bs, v in zip(BATCH_SIZES, val)},
                  train_acc={bs: _last(runs[bs], "train_acc") for bs in BATCH_SIZES},
                  median_seconds_per_epoch={bs: statistics.median(s) for bs, s in zip(BATCH_SIZES, seconds)})
    claim.figure(curves({f"batch {bs}": runs[bs][0].history.val_acc for bs in BATCH_SIZES}, ylabel="val accuracy",
                        title=f"Batch size, RMSprop, seed {seeds[0]}"), "batch-size-val-accuracy")
    claim.expect(stats.rank_trend(BATCH_SIZES, val, alternative="decreasing"),
                 "final val accuracy decreases with the batch size")
    claim.expect(stats.rank_trend(BATCH_SIZES, seconds, alternative="decreasing"),
                 "seconds per epoch decrease with the batch size")


@pytest.mark.claim("lab1.large-batch-sharper", source="lab1 §2 batch size",
                   xfail=Finding("the top Hessian eigenvalue does rise with the batch size, but ε-sharpness does not, and the generalization gap shrinks with the batch instead of growing", fails=('ε-sharpness increases with the batch size', 'generalization gap (val − train loss) increases with the batch size')))
def test_large_batch_sharper(claim, lab1_softmax, device, seeds):
    """Larger batches can lead to overfitting through sharper minima.

    The models of lab1.small-batch-generalizes (RMSprop, 10 epochs, batch
    32 … 2048). Sharpness of the training loss at the trained weights, on a
    fixed subset of 5 000 training images: the largest Hessian eigenvalue
    (Lanczos, ``top_eigenvalue``), Keskar et al.'s ε-sharpness (ε = 1e-3) and
    the Hessian trace (Hutchinson with Rademacher probes, ``TRACE_SAMPLES`` of
    them: the whole curvature, not only its top direction; Hutchinson rather
    than Hutch++ because little of this Hessian's trace sits in its top
    eigenvalues, see benchmarks/README.md).
    Overfitting: the gap val loss − train loss (same subset). Decided with rank
    trends over the batch sizes (seeds as replicates): both sharpness measures
    and the gap increase with the batch size.
    """
    runs = _batch_runs(lab1_softmax, seeds, device)
    train, _ = lab1_softmax.split(0.1)
    subset = (flat(train)[0][:SHARPNESS_SUBSET], train.targets[:SHARPNESS_SUBSET])
    eigen, eps, gap, trace, trace_se, converged = [], [], [], [], [], []
    for bs in BATCH_SIZES:
        row_eigen, row_eps, row_gap, row_trace, row_se = [], [], [], [], []
        for run in runs[bs]:
            model = run.model()
            top = top_eigenvalue(model, F.cross_entropy, subset, max_iter=30, tol=1e-3,
                                 generator=torch.Generator().manual_seed(run.seed))
            row_eigen.append(top.value)
            converged.append(bool(top.converged))
            tr = hessian_trace(model, F.cross_entropy, subset, n_samples=TRACE_SAMPLES, method="hutchinson",
                               generator=torch.Generator().manual_seed(run.seed))
            row_trace.append(tr.value)
            row_se.append(tr.std_error)
            row_eps.append(sharpness(model, F.cross_entropy, subset, epsilon=1e-3, steps=10, restarts=1,
                                     generator=torch.Generator().manual_seed(run.seed)).value)
            with torch.no_grad():
                train_loss = float(F.cross_entropy(model(subset[0]), subset[1]))
            row_gap.append(run.history.val_loss[-1] - train_loss)
        eigen.append(row_eigen)
        eps.append(row_eps)
        gap.append(row_gap)
        trace.append(row_trace)
        trace_se.append(row_se)
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", batch_sizes=list(BATCH_SIZES),
                   sharpness_data=f"first {SHARPNESS_SUBSET} images of the training split",
                   epsilon_sharpness={"epsilon": 1e-3, "steps": 10, "restarts": 1},
                   lanczos={"max_iter": 30, "tol": 1e-3},
                   hessian_trace={"method": "hutchinson", "n_samples": TRACE_SAMPLES})
    claim.report(statement="larger batches can overfit due to sharper minima")
    claim.measure(top_hessian_eigenvalue={bs: v for bs, v in zip(BATCH_SIZES, eigen)},
                  epsilon_sharpness_percent={bs: v for bs, v in zip(BATCH_SIZES, eps)},
                  val_minus_train_loss={bs: v for bs, v in zip(BATCH_SIZES, gap)},
                  hessian_trace={bs: v for bs, v in zip(BATCH_SIZES, trace)},
                  hessian_trace_std_error={bs: v for bs, v in zip(BATCH_SIZES, trace_se)},
                  lanczos_converged=f"{sum(converged)} of {len(converged)}")
    claim.expect(stats.rank_trend(BATCH_SIZES, eigen, alternative="increasing"),
                 "top Hessian eigenvalue increases with the batch size")
    claim.expect(stats.rank_trend(BATCH_SIZES, eps, alternative="increasing"),
                 "ε-sharpness increases with the batch size")
    claim.expect(stats.rank_trend(BATCH_SIZES, trace, alternative="increasing"),
                 "Hessian trace increases with the batch size")
    claim.expect(stats.rank_trend(BATCH_SIZES, gap, alternative="increasing"),
                 "generalization gap (val − train loss) increases with the batch size")


def _discordant(better: torch.Tensor, worse: torch.Tensor, truth: torch.Tensor):
    """McNemar's exact test as a proportion: of the test images exactly one model gets right, the share that
    ``better`` gets right, against 1/2 (Clopper–Pearson interval); holds if it is above 1/2."""
    only_better = int(((better == truth) & (worse != truth)).sum())
    only_worse = int(((worse == truth) & (better != truth)).sum())
    return stats.compare_proportion(only_better, only_better + only_worse, 0.5, alternative="greater",
                                    method="exact")


@pytest.mark.slow  # a random forest and a linear SVM per seed, up to 10 seeds: its own ~120 s
@pytest.mark.claim("lab1.rf-svm-logreg-order", source="lab1 §2 Compare performance with random forest and svm",
                   xfail={"default": Finding("random forest beats the linear SVM, but the linear SVM is not confidently above logistic regression", fails=('linear SVM above logistic regression',))})
def test_rf_svm_logreg_order(claim, lab1_softmax, fashion_train, fashion_test, profile, device, seeds):
    """Test accuracy: random forest 87.64 % > linear SVM 84.64 % > logistic regression 83.88 %.

    All three on the full 60 000 / 10 000 split: a ``RandomForestClassifier``
    (100 trees, scikit-learn's default; 20 under the default profile), a
    linear SVM (hinge loss, C = 1, averaged SGD: see
    :func:`claims.lab1_softmax.linear_svm`; 5 epochs, 20 under full) and the
    report's logistic regression, i.e. the reference RMSprop run (trained on
    the first 90 %, as in the report), after its last epoch. One fit each
    (seed 0 for the forest and the SVM, the first seed's softmax model):
    each ordering step is decided on the same 10 000 test images with
    McNemar's exact test (the share of the discordant images the better
    model gets right, Clopper–Pearson 95 %, above 1/2). Wilson intervals of
    each accuracy and the other seeds' softmax accuracies are recorded.
    """
    n_trees = profile.pick(default=20, full=100)
    svm_epochs = profile.pick(default=5, full=20)
    forest = random_forest(fashion_train, fashion_test, n_estimators=n_trees, seed=0)
    svm = linear_svm(fashion_train, fashion_test, epochs=svm_epochs, seed=0)
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    with torch.no_grad():
        softmax_predictions = [run.model()(fashion_test.inputs).argmax(1) for run in runs]
    truth = fashion_test.targets
    accuracy = {"random forest": float((forest.predictions == truth).double().mean()),
                "linear SVM": float((svm.predictions == truth).double().mean()),
                "logistic regression": float((softmax_predictions[0] == truth).double().mean())}
    wilson = {name: stats.proportion_interval(round(acc * len(truth)), len(truth)) for name, acc in accuracy.items()}
    if n_trees < 100:
        claim.scaled(f"random forest: 100 -> {n_trees} trees under the default profile (fewer trees can only "
                     f"lower its accuracy, i.e. work against the claim)")
    if svm_epochs < 20:
        claim.scaled(f"linear SVM: {svm_epochs} epochs of averaged SGD under the default profile (20 under full)")
    claim.setup(random_forest=forest.name, linear_svm=svm.name,
                logistic_regression=f"softmax regression, RMSprop lr {SOFTMAX_LR}, batch {BATCH_SIZE}, "
                                    f"{lab1_softmax.long_epochs} epochs on the first 90 % of the training set",
                test_set="Fashion-MNIST test, 10 000 images", softmax_seeds=list(seeds))
    claim.report(random_forest=0.8764, svm=0.8464, logistic_regression=0.8388)
    claim.measure(test_accuracy=accuracy, wilson_95=wilson,
                  logistic_regression_all_seeds=[float((p == truth).double().mean()) for p in softmax_predictions],
                  fit_seconds={"random forest": forest.fit_seconds, "linear SVM": svm.fit_seconds})
    claim.expect(_discordant(forest.predictions, svm.predictions, truth), "random forest above the linear SVM")
    claim.expect(_discordant(svm.predictions, softmax_predictions[0], truth),
                 "linear SVM above logistic regression")


def _class_means(train) -> torch.Tensor:
    """``(10, 784)``: the mean training image of each class."""
    x, y = flat(train)
    return torch.stack([x[y == c].mean(0) for c in range(10)])


def _correlations(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pearson correlation over pixels of every row of ``a`` with every row of ``b``."""
    return np.corrcoef(a.double().numpy(), b.double().numpy())[: len(a), len(a):]


def _weight_images(weight: torch.Tensor, title: str):
    limit = float(weight.abs().max())
    fig, axes = subplots(2, 5, figsize=(8, 3.6))
    for c, ax in enumerate(axes.flat):
        ax.imshow(weight[c].reshape(28, 28).numpy(), cmap="seismic", vmin=-limit, vmax=limit)
        ax.set_title(FASHION_MNIST_CLASSES[c], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@pytest.mark.claim("lab1.weights-class-patterns", source="lab1 §2, Fig. 8",
                   xfail=Finding("most class weight images do not best match their own class's mean image: the templates are contrastive (what separates a class from the others), not pictures of the class", fails=("every class's weight image best matches its own class mean",)))
def test_weights_class_patterns(claim, lab1_softmax, device, seeds):
    """The per-class weight images show distinct, class-specific patterns.

    The reference RMSprop model after its last epoch, every seed. "Class
    specific" = each class's weight image (its row of W as 28×28) correlates
    more with its own class's mean training image than with any other class's
    mean image (Pearson over pixels), for all 10 classes and every seed. The
    same with the class means centred on the overall mean is recorded too.
    """
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    train, _ = lab1_softmax.split(0.1)
    means = _class_means(train)
    centred = means - means.mean(0)
    matches, matches_centred, diagonal = [], [], []
    for run in runs:
        weight = run.weights[-1]
        corr = _correlations(weight, means)
        matches.append([int(np.argmax(corr[c])) == c for c in range(10)])
        matches_centred.append([int(np.argmax(_correlations(weight, centred)[c])) == c for c in range(10)])
        diagonal.append(np.diag(corr).tolist())
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", epochs=lab1_softmax.long_epochs)
    claim.report(statement="the weights for each class display distinct patterns (Fig. 8)")
    claim.measure(own_class_mean_is_best_match=matches, own_centred_mean_is_best_match=matches_centred,
                  correlation_with_own_class_mean=diagonal,
                  classes_matched_per_seed=[sum(m) for m in matches])
    claim.figure(_weight_images(runs[0].weights[-1], f"Class weight images, seed {runs[0].seed} (Fig. 8)"),
                 "weight-images")
    claim.expect(all(all(m) for m in matches), "every class's weight image best matches its own class mean")


GARMENT_GROUPS = {0: "top", 2: "top", 4: "top", 6: "top", 5: "footwear", 7: "footwear", 9: "footwear",
                  1: "trouser", 3: "dress", 8: "bag"}


def _cluster_picture(result, title: str):
    fig, ax = subplots(figsize=(5.5, 4.2))
    points = ax.scatter(result.embedding[:, 0], result.embedding[:, 1], c=result.labels, cmap="viridis", s=60)
    for c, (x, y) in enumerate(result.embedding):
        ax.annotate(FASHION_MNIST_CLASSES[c], (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    fig.colorbar(points, ax=ax, label="k-means cluster")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    fig.tight_layout()
    return fig


@pytest.mark.claim("lab1.weight-clusters-semantic", source="lab1 §2 Cluster the weights, Fig. 9",
                   xfail=Finding("the clusters are stable and never mix footwear with tops, but the footwear classes do not share one cluster", fails=('sandal, sneaker and ankle boot share a cluster (every seed)',)))
def test_weight_clusters_semantic(claim, lab1_softmax, device, seeds):
    """k-means (k = 5) on the 10 class weight vectors gives distinct clusters grouping similar classes.

    The reference RMSprop model after its last epoch; ``cluster_weights``
    (k-means, k = 5, seeded by the run's seed) on the rows of W, with the
    t-SNE picture. Decided for every seed (stability over seeds): the
    footwear classes (sandal, sneaker, ankle boot) fall in one cluster, and no
    cluster mixes a footwear class with a top (T-shirt, pullover, coat,
    shirt). The adjusted Rand index with the garment grouping (tops,
    footwear, trouser, dress, bag) and between seeds is recorded.
    """
    from sklearn.metrics import adjusted_rand_score

    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    results = [cluster_weights(run.weights[-1], 5, seed=run.seed, tsne=True) for run in runs]
    labels = [r.labels.tolist() for r in results]
    footwear_together = [len({lab[c] for c in FOOTWEAR}) == 1 for lab in labels]
    unmixed = [not ({lab[c] for c in FOOTWEAR} & {lab[c] for c in TOPS}) for lab in labels]
    garment = [GARMENT_GROUPS[c] for c in range(10)]
    ari_garment = [adjusted_rand_score(garment, lab) for lab in labels]
    ari_seeds = [adjusted_rand_score(labels[i], labels[j])
                 for i in range(len(labels)) for j in range(i + 1, len(labels))]
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", epochs=lab1_softmax.long_epochs,
                   clustering="k-means k=5 (n_init=10) on the 10 rows of W; t-SNE for the picture")
    claim.report(statement="k-means with 5 clusters gives distinct clusters grouping classes with similar weights")
    claim.measure(cluster_of_each_class={str(run.seed): dict(zip(FASHION_MNIST_CLASSES, lab))
                                         for run, lab in zip(runs, labels)},
                  footwear_in_one_cluster=footwear_together, footwear_never_with_tops=unmixed,
                  adjusted_rand_vs_garment_groups=ari_garment, adjusted_rand_between_seeds=ari_seeds)
    claim.figure(_cluster_picture(results[0], f"t-SNE of the class weight vectors, k-means k=5, seed {runs[0].seed}"),
                 "weight-clusters-tsne")
    claim.expect(all(footwear_together), "sandal, sneaker and ankle boot share a cluster (every seed)")
    claim.expect(all(unmixed), "no cluster mixes footwear with tops (every seed)")


# -- catalogue v2: more claims on the same softmax runs ---------------------------------------

LEVELLED = 20  # the epoch after which the report says the long run's losses have levelled off
KERAS_TRAIN_ACC = "running mean over the epoch's mini-batches (Keras)"


def _stable_from_epoch(values, within: float = 0.01) -> int:
    """First epoch ``e`` (1-based) after which every epoch-to-epoch change is below ``within``:
    ``|v[k] − v[k−1]| < within`` for every epoch ``k > e`` (the last epoch if none before)."""
    changes = [abs(b - a) for a, b in zip(values, values[1:])]
    return next(e + 1 for e in range(len(changes) + 1) if all(c < within for c in changes[e:]))


def _change_std(values) -> float:
    """Standard deviation (n − 1) of the epoch-to-epoch changes ``v[k] − v[k−1]``."""
    return float(np.std(np.diff(np.asarray(values, dtype=float)), ddof=1))


@pytest.mark.claim(
    "lab1.final-train-acc-order", source="lab1 §2 Optimizer, Fig. 5",
    xfail=Finding("at the common learning rate Adam ends the 10 epochs with a slightly higher "
                  "train accuracy than RMSprop, so the ordering RMSprop > Adam > SGD is reversed "
                  "in its first step (both far above SGD)",
                  fails=("train accuracy after epoch 10: RMSprop > Adam > SGD",)))
def test_final_train_acc_order(claim, lab1_softmax, device, seeds):
    """After 10 epochs the train accuracy orders RMSprop (61.09 %) > Adam (59.14 %) > SGD (30.69 %).

    The runs of lab1.adam-fastest (lr 1e-3 for the three optimizers, 10
    epochs). Train accuracy as Keras reports it: the running mean over the
    10th epoch's mini-batches. Decided as a whole with ``stats.ordering``
    over paired seeds: RMSprop > Adam and Adam > SGD.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    train = {opt: _last(runs[opt], "train_acc") for opt in OPTIMIZERS}
    _softmax_setup(claim, device, seeds, optimizers=list(OPTIMIZERS),
                   train_accuracy=KERAS_TRAIN_ACC)
    claim.report(train_acc_epoch10={"rmsprop": 0.6109, "adam": 0.5914, "sgd": 0.3069})
    claim.measure(train_acc_epoch10=train)
    claim.figure(curves({opt: runs[opt][0].history.train_acc for opt in OPTIMIZERS},
                        ylabel="train accuracy (running mean)",
                        title=f"Train accuracy, lr {SOFTMAX_LR}, seed {seeds[0]} (Fig. 5)"),
                 "optimizer-train-accuracy")
    claim.expect(stats.ordering(train, ["rmsprop", "adam", "sgd"]),
                 "train accuracy after epoch 10: RMSprop > Adam > SGD")


@pytest.mark.claim(
    "lab1.val-above-train", source="lab1 §2 Optimizer",
    xfail=Finding("Adam's validation accuracy ends below its (running-mean) train accuracy, not "
                  "above; RMSprop's is not above its train accuracy, nor SGD's below, beyond seed "
                  "noise",
                  fails=("Adam: final val accuracy above train accuracy",
                         "RMSprop: final val accuracy above train accuracy",
                         "SGD: final val accuracy below train accuracy")))
def test_val_above_train(claim, lab1_softmax, device, seeds):
    """For Adam and RMSprop the validation accuracy ends above the training accuracy
    (60.73 vs 59.14 %; 65.13 vs 61.09 %); for SGD below (22.05 vs 30.69 %).

    The runs of lab1.adam-fastest after epoch 10. Train accuracy as Keras
    reports it (the running mean over the epoch's mini-batches, which lags
    the end-of-epoch weights that the validation accuracy sees). Decided per
    optimizer, paired over seeds: val − train > 0 for Adam and RMSprop, < 0
    for SGD.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    train = {opt: _last(runs[opt], "train_acc") for opt in OPTIMIZERS}
    val = {opt: _last(runs[opt], "val_acc") for opt in OPTIMIZERS}
    _softmax_setup(claim, device, seeds, optimizers=list(OPTIMIZERS),
                   train_accuracy=KERAS_TRAIN_ACC)
    claim.report(train_acc={"adam": 0.5914, "rmsprop": 0.6109, "sgd": 0.3069},
                 val_acc={"adam": 0.6073, "rmsprop": 0.6513, "sgd": 0.2205})
    claim.measure(train_acc=train, val_acc=val,
                  val_minus_train={opt: np.subtract(val[opt], train[opt]) for opt in OPTIMIZERS})
    claim.figure(train_val_curves({opt: runs[opt][0].history for opt in OPTIMIZERS}, metric="acc",
                                  title=f"Train (running mean) and val accuracy, seed {seeds[0]}"),
                 "optimizer-train-val-accuracy")
    claim.expect(stats.compare_paired(val["adam"], train["adam"], alternative="greater"),
                 "Adam: final val accuracy above train accuracy")
    claim.expect(stats.compare_paired(val["rmsprop"], train["rmsprop"], alternative="greater"),
                 "RMSprop: final val accuracy above train accuracy")
    claim.expect(stats.compare_paired(val["sgd"], train["sgd"], alternative="less"),
                 "SGD: final val accuracy below train accuracy")


@pytest.mark.claim(
    "lab1.sgd-val-fluctuates", source="lab1 §2 Optimizer, Fig. 5",
    xfail=Finding("at lr 1e-3 SGD's validation accuracy rises in every epoch and peaks in the last "
                  "one: it neither fluctuates nor ends below an earlier peak",
                  fails=("SGD's val accuracy drops in some epoch (smallest change < 0)",
                         "SGD's final val accuracy below its earlier peak")))
def test_sgd_val_fluctuates(claim, lab1_softmax, device, seeds):
    """SGD's validation accuracy fluctuates, peaking at 27.80 % in epoch 9 and ending lower.

    The SGD runs of lab1.adam-fastest (lr 1e-3, 10 epochs). Two continuous
    readings, so that a curve rising every epoch refutes rather than ties at
    zero: "fluctuates" = the smallest epoch-to-epoch change of the val
    accuracy is negative (some epoch drops); "ending lower" = the final val
    accuracy minus the best earlier one is negative. Both decided on the
    mean over seeds; the number of drops and the peak epoch are recorded.
    """
    runs = lab1_softmax.runs(Config("sgd"), seeds, device)
    val = [run.history.val_acc for run in runs]
    smallest_change = [float(np.min(np.diff(v))) for v in val]
    final_minus_peak = [v[-1] - max(v[:-1]) for v in val]
    _softmax_setup(claim, device, seeds, optimizer="sgd")
    claim.report(sgd_peak_val_acc=0.2780, sgd_peak_epoch=9, sgd_final_val_acc=0.2205)
    claim.measure(smallest_epoch_to_epoch_change=smallest_change,
                  final_minus_earlier_peak=final_minus_peak,
                  drops=[int((np.diff(v) < 0).sum()) for v in val],
                  peak_epoch=[int(np.argmax(v)) + 1 for v in val],
                  peak_val_acc=[max(v) for v in val], final_val_acc=[v[-1] for v in val])
    claim.figure(curves({f"seed {run.seed}": run.history.val_acc for run in runs},
                        ylabel="val accuracy",
                        title=f"SGD validation accuracy, lr {SOFTMAX_LR} (Fig. 5)"),
                 "sgd-val-accuracy")
    claim.expect(stats.compare_to_value(smallest_change, 0.0, alternative="less"),
                 "SGD's val accuracy drops in some epoch (smallest change < 0)")
    claim.expect(stats.compare_to_value(final_minus_peak, 0.0, alternative="less"),
                 "SGD's final val accuracy below its earlier peak")


@pytest.mark.claim("lab1.optimizer-plateau-epoch", source="lab1 §2 Optimizer")
def test_optimizer_plateau_epoch(claim, lab1_softmax, device, seeds):
    """Adam's training accuracy stabilizes by epoch 2 (≈ 59 %), RMSprop's by epoch 3 (≈ 61 %).

    The runs of lab1.adam-fastest. "Stable from epoch e" (the catalogue's
    reading): every later epoch-to-epoch change of the train accuracy
    (Keras' running mean) is below 1 point. That epoch is an integer per
    seed; "≤ 2" and "≤ 3" are decided as its mean over seeds below 2.5 and
    3.5, so that a seed-to-seed spread is weighed rather than ignored.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in ("adam", "rmsprop")}
    stable = {opt: [_stable_from_epoch(r.history.train_acc) for r in runs[opt]] for opt in runs}
    _softmax_setup(claim, device, seeds, optimizers=["adam", "rmsprop"],
                   train_accuracy=KERAS_TRAIN_ACC,
                   stable="every later epoch-to-epoch change of the train accuracy below 1 point")
    claim.report(adam_stable_by_epoch=2, rmsprop_stable_by_epoch=3)
    claim.measure(stable_from_epoch=stable,
                  train_acc={opt: [r.history.train_acc for r in runs[opt]] for opt in runs})
    claim.expect(stats.compare_to_value(stable["adam"], 2.5, alternative="less"),
                 "Adam stable by epoch 2")
    claim.expect(stats.compare_to_value(stable["rmsprop"], 3.5, alternative="less"),
                 "RMSprop stable by epoch 3")


@pytest.mark.claim(
    "lab1.split-peak-val", source="lab1 §2 Train/Val split",
    xfail=Finding("the 0.1 split does not stay ahead: its smallest per-epoch lead over the 0.15 "
                  "split is confidently negative (0.15 is ahead in some epochs), and the two peaks "
                  "do not differ beyond seed noise",
                  fails=("peak val accuracy higher with the 0.1 split",
                         "the 0.1 split's val accuracy ahead in every epoch (smallest lead > 0)")))
def test_split_peak_val(claim, lab1_softmax, device, seeds):
    """The 0.1 split reaches a higher peak validation accuracy (65.53 vs 63.23 %) and stays
    ahead throughout.

    The runs of lab1.split-010-beats-015 (RMSprop, 10 epochs; each split's
    validation set is the end of the training set, so the two curves are
    measured on different images, as in the report). Decided paired over
    seeds: the peak val accuracy is higher with 0.1, and "ahead throughout"
    = the smallest per-epoch lead of 0.1 over 0.15 is positive (its mean over
    seeds). The share of epochs in which 0.1 leads is recorded.
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    peak10 = [max(r.history.val_acc) for r in ten]
    peak15 = [max(r.history.val_acc) for r in fifteen]
    leads = [np.subtract(a.history.val_acc, b.history.val_acc) for a, b in zip(ten, fifteen)]
    smallest_lead = [float(lead.min()) for lead in leads]
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", validation_splits=[0.1, 0.15])
    claim.report(peak_val_acc={"0.1": 0.6553, "0.15": 0.6323},
                 statement="the 0.1 split consistently achieves higher validation accuracies "
                           "throughout the training process")
    claim.measure(peak_val_acc={"0.1": peak10, "0.15": peak15}, smallest_lead=smallest_lead,
                  share_of_epochs_ahead=[float((lead > 0).mean()) for lead in leads])
    claim.figure(curves({"split 0.1": ten[0].history.val_acc,
                         "split 0.15": fifteen[0].history.val_acc}, ylabel="val accuracy",
                        title=f"Validation accuracy per split, seed {seeds[0]}"),
                 "split-val-accuracy")
    claim.expect(stats.compare_paired(peak10, peak15, alternative="greater"),
                 "peak val accuracy higher with the 0.1 split")
    claim.expect(stats.compare_to_value(smallest_lead, 0.0, alternative="greater"),
                 "the 0.1 split's val accuracy ahead in every epoch (smallest lead > 0)")


@pytest.mark.claim(
    "lab1.split-015-val-stabler", source="lab1 §2 Train/Val split",
    xfail=Finding("the epoch-to-epoch fluctuation of the validation accuracy does not differ "
                  "between the two splits beyond seed noise at the seed budget",
                  fails=("val accuracy changes spread more with the 0.1 split",)))
def test_split_015_val_stabler(claim, lab1_softmax, device, seeds):
    """The 0.1 split's validation accuracy fluctuates more across epochs; 0.15's is more stable.

    The runs of lab1.split-010-beats-015. Fluctuation = the standard
    deviation of the epoch-to-epoch changes of the val accuracy over the 10
    epochs (the catalogue's measure). Decided paired over seeds: larger with
    the 0.1 split.
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    spread10 = [_change_std(r.history.val_acc) for r in ten]
    spread15 = [_change_std(r.history.val_acc) for r in fifteen]
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", validation_splits=[0.1, 0.15],
                   fluctuation="std of the epoch-to-epoch changes of the val accuracy")
    claim.report(statement="the 0.1 split fluctuates more; the 0.15 split is more stable")
    claim.measure(val_acc_change_std={"0.1": spread10, "0.15": spread15})
    claim.expect(stats.compare_paired(spread10, spread15, alternative="greater"),
                 "val accuracy changes spread more with the 0.1 split")


@pytest.mark.claim("lab1.val-loss-noisier", source="lab1 §2, Fig. 6")
def test_val_loss_noisier(claim, lab1_softmax, device, seeds):
    """Over 100 epochs the validation loss fluctuates more than the training loss.

    The reference run of lab1.rmsprop-100-epochs (RMSprop, batch 32, split
    0.1). Fluctuation = the standard deviation of the epoch-to-epoch changes
    from epoch 20 on, where the report says both losses have levelled off
    (the train loss is Keras' running mean over the epoch, the val loss the
    validation set after it). Decided paired over seeds: larger for the val
    loss.
    """
    epochs = lab1_softmax.long_epochs
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=epochs)
    late = slice(LEVELLED - 1, None)
    val = [_change_std(r.history.val_loss[late]) for r in runs]
    train = [_change_std(r.history.train_loss[late]) for r in runs]
    if epochs < 100:
        claim.scaled(f"100 -> {epochs} epochs under the default profile: "
                     f"the changes over epochs {LEVELLED}-{epochs}")
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", epochs=epochs,
                   fluctuation=f"std of the epoch-to-epoch loss changes from epoch {LEVELLED} on")
    claim.report(statement="validation loss fluctuates more than training loss")
    claim.measure(val_loss_change_std=val, train_loss_change_std=train)
    history = runs[0].history
    claim.figure(curves({"train loss": history.train_loss[late],
                         "val loss": history.val_loss[late]}, x=history.epoch[late],
                        title=f"RMSprop losses from epoch {LEVELLED}, seed {runs[0].seed}"),
                 "long-run-late-losses")
    claim.expect(stats.compare_paired(val, train, alternative="greater"),
                 "val loss changes spread more than train loss changes")


def _weight_image_rows(snapshots, title: str):
    """One row of the 10 class weight images per ``(label, weight)``, each row on its own scale."""
    rows = len(snapshots)
    fig, axes = subplots(rows, 10, figsize=(11, 1.3 * rows + 0.4), squeeze=False)
    for row, (label, weight) in enumerate(snapshots):
        limit = float(weight.abs().max())
        for c in range(10):
            ax = axes[row, c]
            ax.imshow(weight[c].reshape(28, 28).numpy(), cmap="seismic", vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(FASHION_MNIST_CLASSES[c], fontsize=7)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _own_class_correlation(weight: torch.Tensor, images: torch.Tensor) -> float:
    """Mean over the classes of the correlation of class c's weight image with ``images[c]``."""
    return float(np.mean(np.diag(_correlations(weight, images))))


@pytest.mark.claim("lab1.weights-sharpen", source="lab1 §2, Figs. 7-8")
def test_weights_sharpen(claim, lab1_softmax, device, seeds):
    """The class weight images become more defined as training goes on (some noisy regions remain).

    The reference run of lab1.rmsprop-100-epochs, its weights after epochs
    1, 10 and the last (100; the scaled run's last under the default
    profile). "More defined" (the catalogue's measure): the Pearson
    correlation over pixels of each class's weight image with its class's
    mean training image, averaged over the 10 classes, rises from snapshot
    to snapshot. Decided as a rank trend over the three epochs, seeds as
    replicates (Page's L). The same correlation with the class means
    centred on the overall mean image is recorded beside it.
    """
    epochs = lab1_softmax.long_epochs
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=epochs)
    snapshots = (1, EPOCHS, epochs)
    train, _ = lab1_softmax.split(REFERENCE.val_split)
    means = _class_means(train)
    centred = means - means.mean(0)
    corr = [[_own_class_correlation(run.weights[e - 1], means) for run in runs] for e in snapshots]
    corr_centred = [[_own_class_correlation(run.weights[e - 1], centred) for run in runs]
                    for e in snapshots]
    if epochs < 100:
        claim.scaled(f"100 -> {epochs} epochs under the default profile: snapshots at {snapshots}")
    _softmax_setup(claim, device, seeds, optimizer="rmsprop", epochs=epochs,
                   snapshot_epochs=list(snapshots),
                   definiteness="mean over classes of corr(weight image, own class-mean image)")
    claim.report(statement="as training progresses the weight patterns become more defined")
    claim.measure(correlation_with_class_mean=dict(zip(snapshots, corr)),
                  correlation_with_centred_class_mean=dict(zip(snapshots, corr_centred)))
    claim.figure(_weight_image_rows([(f"epoch {e}", runs[0].weights[e - 1]) for e in snapshots],
                                    f"Class weight images, seed {runs[0].seed} (Fig. 8)"),
                 "weight-images-by-epoch")
    centred_trend = stats.rank_trend(list(snapshots), corr_centred, alternative="increasing")
    if centred_trend.verdict == "refuted":
        claim.note("with the class means centred on the overall mean image the correlation falls "
                   "over the same epochs: the rise comes from the part all classes share, not from "
                   "the class-specific part (see lab1.weights-class-patterns)")
    claim.expect(stats.rank_trend(list(snapshots), corr, alternative="increasing"),
                 "correlation with the class-mean image rises over epochs 1, 10 and the last")
