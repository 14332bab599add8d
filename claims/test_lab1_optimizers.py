"""Claims of the lab1 report, §2: SGD, Adam and RMSprop, the validation split, the 100-epoch run.

Softmax regression on Fashion-MNIST; the protocol and the choices the report
leaves open are in :mod:`claims.lab1_softmax_protocol`. Each configuration is
trained once (the run cache) and shared by the claims of every lab1 study.
"""

from __future__ import annotations

import numpy as np
import pytest

from claims._checks import chance_accuracy, require_learned
from claims.lab1_softmax_protocol import LR as SOFTMAX_LR
from claims.lab1_softmax_protocol import (
    OPTIMIZERS,
    REFERENCE,
    Config,
    final_values,
    record_protocol,
)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.report.figures import curves, train_val_curves


def _require_learned(claim, lab1_softmax, runs: dict, splits=(REFERENCE.val_split,)) -> None:
    """:func:`claims._checks.require_learned` on each configuration's final val accuracy.

    ``runs`` maps a name to its runs; with two validation splits, chance is
    the larger of their two validation sets' chance levels.
    """
    chance = max(chance_accuracy(lab1_softmax.split(split)[1].targets) for split in splits)
    require_learned(
        claim, {name: final_values(rs, "val_acc") for name, rs in runs.items()}, chance=chance
    )


def _plateau_epoch(values, within: float = 0.01) -> int:
    """First epoch from which the accuracy stays within ``within`` of its maximum over the run."""
    best = max(values)
    for epoch in range(len(values)):
        if all(v >= best - within for v in values[epoch:]):
            return epoch + 1
    return len(values)


@pytest.mark.claim(
    "lab1.adam-fastest",
    source="lab1 §2 Optimizer, Fig. 5",
    xfail=Finding(
        "RMSprop, not Adam, is ahead after the first epoch at the common learning rate 1e-3, and "
        "Adam does not stabilize first",
        fails=(
            "train accuracy after epoch 1: Adam > RMSprop > SGD",
            "accuracy stabilizes no later for Adam than RMSprop, and for RMSprop than SGD (mean epoch)",
        ),
    ),
)
def test_adam_fastest(claim, lab1_softmax, device, seeds):
    """Over 10 epochs Adam converges fastest (train acc 45 % after epoch 1), RMSprop next (36 %), SGD slowest (13.6 %).

    Same lr (1e-3) for the three optimizers (the catalogue's protocol), Keras
    defaults otherwise, 10 epochs. Decided, paired over seeds: the training
    accuracy after epoch 1 (Keras' running accuracy) orders Adam > RMSprop >
    SGD. Also measured and expected: the epoch from which the train accuracy
    stays within 1 point of its 10-epoch best ("stabilizes") is, on average,
    no later for Adam than for RMSprop and no later for RMSprop than for SGD.
    Adam and RMSprop must have learned (val acc ≥ chance + 0.1); SGD need
    not: at lr 1e-3 the report has it at 22 % after 10 epochs, the claim's
    slowest.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    first_epoch = {opt: [r.history.train_acc[0] for r in runs[opt]] for opt in OPTIMIZERS}
    plateau = {opt: [_plateau_epoch(r.history.train_acc) for r in runs[opt]] for opt in OPTIMIZERS}
    record_protocol(claim, device, seeds, optimizers=list(OPTIMIZERS))
    claim.report(
        train_acc_epoch1={"adam": 0.4502, "rmsprop": 0.3630, "sgd": 0.1358},
        sgd_train_acc_epoch10=0.3069,
    )
    claim.measure(
        train_acc_epoch1=first_epoch,
        epoch_train_acc_stabilizes=plateau,
        train_acc_epoch10={opt: final_values(runs[opt], "train_acc") for opt in OPTIMIZERS},
        val_acc_epoch10={opt: final_values(runs[opt], "val_acc") for opt in OPTIMIZERS},
    )
    claim.figure(
        train_val_curves(
            {opt: runs[opt][0].history for opt in OPTIMIZERS},
            metric="acc",
            title=f"Optimizers, lr {SOFTMAX_LR}, seed {seeds[0]} (Fig. 5)",
        ),
        "optimizer-accuracy",
    )
    claim.figure(
        train_val_curves(
            {opt: runs[opt][0].history for opt in OPTIMIZERS},
            metric="loss",
            title=f"Optimizers, lr {SOFTMAX_LR}, seed {seeds[0]}",
        ),
        "optimizer-loss",
    )
    _require_learned(claim, lab1_softmax, {opt: runs[opt] for opt in ("adam", "rmsprop")})
    claim.expect(
        stats.ordering(first_epoch, ["adam", "rmsprop", "sgd"]),
        "train accuracy after epoch 1: Adam > RMSprop > SGD",
    )
    means = {opt: float(np.mean(plateau[opt])) for opt in OPTIMIZERS}
    claim.expect(
        means["adam"] <= means["rmsprop"] <= means["sgd"],
        "accuracy stabilizes no later for Adam than RMSprop, and for RMSprop than SGD (mean epoch)",
    )


@pytest.mark.claim("lab1.rmsprop-beats-sgd", source="lab1 §2 Optimizer")
def test_rmsprop_beats_sgd(claim, lab1_softmax, device, seeds):
    """After 10 epochs RMSprop's validation accuracy (65.13 %) is above SGD's (22.05 %).

    Same runs as lab1.adam-fastest (lr 1e-3 for both). Decided on the final
    validation accuracy, paired over seeds. RMSprop must have learned (val
    acc ≥ chance + 0.1); SGD need not: the report's 22 % is the claim.
    """
    rmsprop_runs = lab1_softmax.runs(Config("rmsprop"), seeds, device)
    rmsprop = final_values(rmsprop_runs, "val_acc")
    sgd = final_values(lab1_softmax.runs(Config("sgd"), seeds, device), "val_acc")
    record_protocol(claim, device, seeds, optimizers=["rmsprop", "sgd"])
    claim.report(rmsprop_val_acc=0.6513, sgd_val_acc=0.2205)
    claim.measure(rmsprop_val_acc=rmsprop, sgd_val_acc=sgd)
    _require_learned(claim, lab1_softmax, {"rmsprop": rmsprop_runs})
    claim.expect(
        stats.compare_paired(rmsprop, sgd, alternative="greater"),
        "final val acc: RMSprop above SGD",
    )


@pytest.mark.claim(
    "lab1.rmsprop-beats-adam",
    source="lab1 §2 Optimizer",
    xfail=Finding(
        "RMSprop does not end confidently above Adam: the difference in final val accuracy is "
        "within seed noise at the seed budget",
        fails=("final val acc: RMSprop above Adam",),
    ),
)
def test_rmsprop_beats_adam(claim, lab1_softmax, device, seeds):
    """After 10 epochs RMSprop's validation accuracy (65.13 %) is above Adam's (60.73 %).

    Same runs as lab1.adam-fastest (lr 1e-3 for both). Decided on the final
    validation accuracy, paired over seeds. Both must have learned (val acc ≥
    chance + 0.1).
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in ("rmsprop", "adam")}
    rmsprop, adam = (final_values(runs[opt], "val_acc") for opt in ("rmsprop", "adam"))
    record_protocol(claim, device, seeds, optimizers=["rmsprop", "adam"])
    claim.report(rmsprop_val_acc=0.6513, adam_val_acc=0.6073)
    claim.measure(rmsprop_val_acc=rmsprop, adam_val_acc=adam)
    _require_learned(claim, lab1_softmax, runs)
    claim.expect(
        stats.compare_paired(rmsprop, adam, alternative="greater"),
        "final val acc: RMSprop above Adam",
    )


@pytest.mark.claim(
    "lab1.split-010-beats-015",
    source="lab1 §2 Train/Val split",
    xfail=Finding(
        "the two validation splits' final accuracies do not differ beyond seed noise at the seed budget",
        fails=(
            "final train accuracy higher with the 0.1 split",
            "final validation accuracy higher with the 0.1 split",
        ),
    ),
)
def test_split_010_beats_015(claim, lab1_softmax, device, seeds):
    """A 0.1 validation split gives higher train (61.09 vs 58.54 %) and val (65.13 vs 61.66 %) accuracy than 0.15.

    RMSprop, 10 epochs, the split taken from the end of the training set as
    Keras' ``validation_split`` does (so the 0.1 validation set is the last
    6 000 images, the 0.15 one the last 9 000). Decided on the final train
    and validation accuracies, paired over seeds: both higher with 0.1. Both
    splits' runs must have learned (val acc ≥ chance + 0.1, chance the larger
    of the two validation sets').
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    record_protocol(claim, device, seeds, optimizer="rmsprop", validation_splits=[0.1, 0.15])
    claim.report(
        train_acc={"0.1": 0.6109, "0.15": 0.5854},
        val_acc={"0.1": 0.6513, "0.15": 0.6166},
        best_val_acc={"0.1": 0.6553, "0.15": 0.6323},
    )
    claim.measure(
        train_acc={
            "0.1": final_values(ten, "train_acc"),
            "0.15": final_values(fifteen, "train_acc"),
        },
        val_acc={"0.1": final_values(ten, "val_acc"), "0.15": final_values(fifteen, "val_acc")},
        best_val_acc={
            "0.1": [max(r.history.val_acc) for r in ten],
            "0.15": [max(r.history.val_acc) for r in fifteen],
        },
    )
    claim.figure(
        train_val_curves(
            {"split 0.1": ten[0].history, "split 0.15": fifteen[0].history},
            metric="acc",
            title=f"Validation split, RMSprop, seed {seeds[0]}",
        ),
        "split-accuracy",
    )
    _require_learned(claim, lab1_softmax, {"0.1": ten, "0.15": fifteen}, splits=(0.1, 0.15))
    claim.expect(
        stats.compare_paired(
            final_values(ten, "train_acc"),
            final_values(fifteen, "train_acc"),
            alternative="greater",
        ),
        "final train accuracy higher with the 0.1 split",
    )
    claim.expect(
        stats.compare_paired(
            final_values(ten, "val_acc"), final_values(fifteen, "val_acc"), alternative="greater"
        ),
        "final validation accuracy higher with the 0.1 split",
    )


def _level_off_epoch(losses, relative: float = 0.01) -> int | None:
    """First epoch after which every epoch-to-epoch change of the loss is below ``relative`` of its value."""
    changes = [abs(b - a) / abs(a) for a, b in zip(losses, losses[1:])]
    for epoch in range(len(changes)):
        if all(c < relative for c in changes[epoch:]):
            return epoch + 1
    return None


@pytest.mark.claim(
    "lab1.rmsprop-100-epochs",
    source="lab1 §2, Fig. 6",
    xfail={
        # Both profiles train the documented 100 epochs; they differ in their seeds (3 to 10
        # under the default profile, 5 to 20 under full), hence in what the first look shows.
        "default": Finding(
            "the training loss levels off much earlier than the reported ≈ 20 epochs, which "
            "decides the claim at the 3-seed look; there the accuracy and the gap sit inside the "
            "report's bands but the look's strict interval does not show it",
            fails=(
                "max val accuracy ≈ 85 % (within 2 points)",
                "train-val gap ≈ 2 % (positive, under 4 points)",
                "train loss levels off (< 1 %/epoch) from an epoch between 10 and 30",
            ),
        ),
        "full": Finding(
            "the accuracies match the report, but the training loss levels off much earlier than "
            "the reported ≈ 20 epochs",
            fails=("train loss levels off (< 1 %/epoch) from an epoch between 10 and 30",),
        ),
    },
)
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
    record_protocol(claim, device, seeds, optimizer="rmsprop", epochs=epochs)
    claim.report(max_train_acc=0.87, max_val_acc=0.85, gap=0.02, losses_level_off_after_epoch=20)
    claim.measure(
        max_train_acc=max_train,
        max_val_acc=max_val,
        gap=gap,
        final_train_acc=final_values(runs, "train_acc"),
        final_val_acc=final_values(runs, "val_acc"),
        train_loss_levels_off_at_epoch=level_train,
        val_loss_levels_off_at_epoch=level_val,
    )
    claim.figure(
        train_val_curves(
            {"RMSprop": runs[0].history},
            metric="acc",
            title=f"RMSprop, {epochs} epochs, seed {seeds[0]} (Fig. 6, accuracy)",
        ),
        "rmsprop-long-accuracy",
    )
    claim.figure(
        train_val_curves(
            {"RMSprop": runs[0].history},
            metric="loss",
            title=f"RMSprop, {epochs} epochs, seed {seeds[0]} (Fig. 6, loss)",
        ),
        "rmsprop-long-loss",
    )
    claim.expect(stats.within(max_train, 0.85, 0.89), "max train accuracy ≈ 87 % (within 2 points)")
    claim.expect(stats.within(max_val, 0.83, 0.87), "max val accuracy ≈ 85 % (within 2 points)")
    claim.expect(stats.within(gap, 0.0, 0.04), "train-val gap ≈ 2 % (positive, under 4 points)")
    claim.expect(
        all(e is not None and 10 <= e <= 30 for e in level_train),
        "train loss levels off (< 1 %/epoch) from an epoch between 10 and 30",
    )


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
    "lab1.final-train-acc-order",
    source="lab1 §2 Optimizer, Fig. 5",
    xfail=Finding(
        "at the common learning rate Adam ends the 10 epochs with a slightly higher "
        "train accuracy than RMSprop, so the ordering RMSprop > Adam > SGD is reversed "
        "in its first step (both far above SGD)",
        fails=("train accuracy after epoch 10: RMSprop > Adam > SGD",),
    ),
)
def test_final_train_acc_order(claim, lab1_softmax, device, seeds):
    """After 10 epochs the train accuracy orders RMSprop (61.09 %) > Adam (59.14 %) > SGD (30.69 %).

    The runs of lab1.adam-fastest (lr 1e-3 for the three optimizers, 10
    epochs). Train accuracy as Keras reports it: the running mean over the
    10th epoch's mini-batches. Decided as a whole with ``stats.ordering``
    over paired seeds: RMSprop > Adam and Adam > SGD. RMSprop and Adam must
    have learned (val acc ≥ chance + 0.1); SGD need not: its 30.69 % at lr
    1e-3 is the claim's last place.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    train = {opt: final_values(runs[opt], "train_acc") for opt in OPTIMIZERS}
    record_protocol(
        claim, device, seeds, optimizers=list(OPTIMIZERS), train_accuracy=KERAS_TRAIN_ACC
    )
    claim.report(train_acc_epoch10={"rmsprop": 0.6109, "adam": 0.5914, "sgd": 0.3069})
    claim.measure(train_acc_epoch10=train)
    claim.figure(
        curves(
            {opt: runs[opt][0].history.train_acc for opt in OPTIMIZERS},
            ylabel="train accuracy (running mean)",
            title=f"Train accuracy, lr {SOFTMAX_LR}, seed {seeds[0]} (Fig. 5)",
        ),
        "optimizer-train-accuracy",
    )
    _require_learned(claim, lab1_softmax, {opt: runs[opt] for opt in ("rmsprop", "adam")})
    claim.expect(
        stats.ordering(train, ["rmsprop", "adam", "sgd"]),
        "train accuracy after epoch 10: RMSprop > Adam > SGD",
    )


@pytest.mark.claim(
    "lab1.val-above-train",
    source="lab1 §2 Optimizer",
    xfail=Finding(
        "Adam's validation accuracy ends below its (running-mean) train accuracy, not "
        "above; RMSprop's is not above its train accuracy, nor SGD's below, beyond seed "
        "noise",
        fails=(
            "Adam: final val accuracy above train accuracy",
            "RMSprop: final val accuracy above train accuracy",
            "SGD: final val accuracy below train accuracy",
        ),
    ),
)
def test_val_above_train(claim, lab1_softmax, device, seeds):
    """For Adam and RMSprop the validation accuracy ends above the training accuracy
    (60.73 vs 59.14 %; 65.13 vs 61.09 %); for SGD below (22.05 vs 30.69 %).

    The runs of lab1.adam-fastest after epoch 10. Train accuracy as Keras
    reports it (the running mean over the epoch's mini-batches, which lags
    the end-of-epoch weights that the validation accuracy sees). Decided per
    optimizer, paired over seeds: val − train > 0 for Adam and RMSprop, < 0
    for SGD. Adam and RMSprop must have learned (val acc ≥ chance + 0.1);
    SGD need not: the report has it at 22 %, barely learning at lr 1e-3.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in OPTIMIZERS}
    train = {opt: final_values(runs[opt], "train_acc") for opt in OPTIMIZERS}
    val = {opt: final_values(runs[opt], "val_acc") for opt in OPTIMIZERS}
    record_protocol(
        claim, device, seeds, optimizers=list(OPTIMIZERS), train_accuracy=KERAS_TRAIN_ACC
    )
    claim.report(
        train_acc={"adam": 0.5914, "rmsprop": 0.6109, "sgd": 0.3069},
        val_acc={"adam": 0.6073, "rmsprop": 0.6513, "sgd": 0.2205},
    )
    claim.measure(
        train_acc=train,
        val_acc=val,
        val_minus_train={opt: np.subtract(val[opt], train[opt]) for opt in OPTIMIZERS},
    )
    claim.figure(
        train_val_curves(
            {opt: runs[opt][0].history for opt in OPTIMIZERS},
            metric="acc",
            title=f"Train (running mean) and val accuracy, seed {seeds[0]}",
        ),
        "optimizer-train-val-accuracy",
    )
    _require_learned(claim, lab1_softmax, {opt: runs[opt] for opt in ("adam", "rmsprop")})
    claim.expect(
        stats.compare_paired(val["adam"], train["adam"], alternative="greater"),
        "Adam: final val accuracy above train accuracy",
    )
    claim.expect(
        stats.compare_paired(val["rmsprop"], train["rmsprop"], alternative="greater"),
        "RMSprop: final val accuracy above train accuracy",
    )
    claim.expect(
        stats.compare_paired(val["sgd"], train["sgd"], alternative="less"),
        "SGD: final val accuracy below train accuracy",
    )


@pytest.mark.claim(
    "lab1.sgd-val-fluctuates",
    source="lab1 §2 Optimizer, Fig. 5",
    xfail=Finding(
        "at lr 1e-3 SGD's validation accuracy rises in every epoch and peaks in the last "
        "one: it neither fluctuates nor ends below an earlier peak",
        fails=(
            "SGD's val accuracy drops in some epoch (smallest change < 0)",
            "SGD's final val accuracy below its earlier peak",
        ),
    ),
)
def test_sgd_val_fluctuates(claim, lab1_softmax, device, seeds):
    """SGD's validation accuracy fluctuates, peaking at 27.80 % in epoch 9 and ending lower.

    The SGD runs of lab1.adam-fastest (lr 1e-3, 10 epochs). Two continuous
    readings, so that a curve rising every epoch refutes rather than ties at
    zero: "fluctuates" = the smallest epoch-to-epoch change of the val
    accuracy is negative (some epoch drops); "ending lower" = the final val
    accuracy minus the best earlier one is negative. Both decided on the
    mean over seeds; the number of drops and the peak epoch are recorded.
    SGD is not required to have learned: the claim is about its slow run.
    """
    runs = lab1_softmax.runs(Config("sgd"), seeds, device)
    val = [run.history.val_acc for run in runs]
    smallest_change = [float(np.min(np.diff(v))) for v in val]
    final_minus_peak = [v[-1] - max(v[:-1]) for v in val]
    record_protocol(claim, device, seeds, optimizer="sgd")
    claim.report(sgd_peak_val_acc=0.2780, sgd_peak_epoch=9, sgd_final_val_acc=0.2205)
    claim.measure(
        smallest_epoch_to_epoch_change=smallest_change,
        final_minus_earlier_peak=final_minus_peak,
        drops=[int((np.diff(v) < 0).sum()) for v in val],
        peak_epoch=[int(np.argmax(v)) + 1 for v in val],
        peak_val_acc=[max(v) for v in val],
        final_val_acc=[v[-1] for v in val],
    )
    claim.figure(
        curves(
            {f"seed {run.seed}": run.history.val_acc for run in runs},
            ylabel="val accuracy",
            title=f"SGD validation accuracy, lr {SOFTMAX_LR} (Fig. 5)",
        ),
        "sgd-val-accuracy",
    )
    claim.expect(
        stats.compare_to_value(smallest_change, 0.0, alternative="less"),
        "SGD's val accuracy drops in some epoch (smallest change < 0)",
    )
    claim.expect(
        stats.compare_to_value(final_minus_peak, 0.0, alternative="less"),
        "SGD's final val accuracy below its earlier peak",
    )


@pytest.mark.claim("lab1.optimizer-plateau-epoch", source="lab1 §2 Optimizer")
def test_optimizer_plateau_epoch(claim, lab1_softmax, device, seeds):
    """Adam's training accuracy stabilizes by epoch 2 (≈ 59 %), RMSprop's by epoch 3 (≈ 61 %).

    The runs of lab1.adam-fastest. "Stable from epoch e" (the catalogue's
    reading): every later epoch-to-epoch change of the train accuracy
    (Keras' running mean) is below 1 point. That epoch is an integer per
    seed; "≤ 2" and "≤ 3" are decided as its mean over seeds below 2.5 and
    3.5, so that a seed-to-seed spread is weighed rather than ignored. Both
    must have learned (val acc ≥ chance + 0.1): a curve at chance is stable
    without meaning it.
    """
    runs = {opt: lab1_softmax.runs(Config(opt), seeds, device) for opt in ("adam", "rmsprop")}
    stable = {opt: [_stable_from_epoch(r.history.train_acc) for r in runs[opt]] for opt in runs}
    record_protocol(
        claim,
        device,
        seeds,
        optimizers=["adam", "rmsprop"],
        train_accuracy=KERAS_TRAIN_ACC,
        stable="every later epoch-to-epoch change of the train accuracy below 1 point",
    )
    claim.report(adam_stable_by_epoch=2, rmsprop_stable_by_epoch=3)
    claim.measure(
        stable_from_epoch=stable,
        train_acc={opt: [r.history.train_acc for r in runs[opt]] for opt in runs},
    )
    _require_learned(claim, lab1_softmax, runs)
    claim.expect(
        stats.compare_to_value(stable["adam"], 2.5, alternative="less"), "Adam stable by epoch 2"
    )
    claim.expect(
        stats.compare_to_value(stable["rmsprop"], 3.5, alternative="less"),
        "RMSprop stable by epoch 3",
    )


@pytest.mark.claim(
    "lab1.split-peak-val",
    source="lab1 §2 Train/Val split",
    xfail=Finding(
        "the 0.1 split does not stay ahead: its smallest per-epoch lead over the 0.15 "
        "split is confidently negative (0.15 is ahead in some epochs), and the two peaks "
        "do not differ beyond seed noise",
        fails=(
            "peak val accuracy higher with the 0.1 split",
            "the 0.1 split's val accuracy ahead in every epoch (smallest lead > 0)",
        ),
    ),
)
def test_split_peak_val(claim, lab1_softmax, device, seeds):
    """The 0.1 split reaches a higher peak validation accuracy (65.53 vs 63.23 %) and stays
    ahead throughout.

    The runs of lab1.split-010-beats-015 (RMSprop, 10 epochs; each split's
    validation set is the end of the training set, so the two curves are
    measured on different images, as in the report). Decided paired over
    seeds: the peak val accuracy is higher with 0.1, and "ahead throughout"
    = the smallest per-epoch lead of 0.1 over 0.15 is positive (its mean over
    seeds). The share of epochs in which 0.1 leads is recorded. Both splits'
    runs must have learned (val acc ≥ chance + 0.1, chance the larger of the
    two validation sets').
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    peak10 = [max(r.history.val_acc) for r in ten]
    peak15 = [max(r.history.val_acc) for r in fifteen]
    leads = [np.subtract(a.history.val_acc, b.history.val_acc) for a, b in zip(ten, fifteen)]
    smallest_lead = [float(lead.min()) for lead in leads]
    record_protocol(claim, device, seeds, optimizer="rmsprop", validation_splits=[0.1, 0.15])
    claim.report(
        peak_val_acc={"0.1": 0.6553, "0.15": 0.6323},
        statement="the 0.1 split consistently achieves higher validation accuracies "
        "throughout the training process",
    )
    claim.measure(
        peak_val_acc={"0.1": peak10, "0.15": peak15},
        smallest_lead=smallest_lead,
        share_of_epochs_ahead=[float((lead > 0).mean()) for lead in leads],
    )
    claim.figure(
        curves(
            {"split 0.1": ten[0].history.val_acc, "split 0.15": fifteen[0].history.val_acc},
            ylabel="val accuracy",
            title=f"Validation accuracy per split, seed {seeds[0]}",
        ),
        "split-val-accuracy",
    )
    _require_learned(claim, lab1_softmax, {"0.1": ten, "0.15": fifteen}, splits=(0.1, 0.15))
    claim.expect(
        stats.compare_paired(peak10, peak15, alternative="greater"),
        "peak val accuracy higher with the 0.1 split",
    )
    claim.expect(
        stats.compare_to_value(smallest_lead, 0.0, alternative="greater"),
        "the 0.1 split's val accuracy ahead in every epoch (smallest lead > 0)",
    )


@pytest.mark.claim(
    "lab1.split-015-val-stabler",
    source="lab1 §2 Train/Val split",
    xfail=Finding(
        "the epoch-to-epoch fluctuation of the validation accuracy does not differ "
        "between the two splits beyond seed noise at the seed budget",
        fails=("val accuracy changes spread more with the 0.1 split",),
    ),
)
def test_split_015_val_stabler(claim, lab1_softmax, device, seeds):
    """The 0.1 split's validation accuracy fluctuates more across epochs; 0.15's is more stable.

    The runs of lab1.split-010-beats-015. Fluctuation = the standard
    deviation of the epoch-to-epoch changes of the val accuracy over the 10
    epochs (the catalogue's measure). Decided paired over seeds: larger with
    the 0.1 split. Both splits' runs must have learned (val acc ≥ chance +
    0.1, chance the larger of the two validation sets').
    """
    ten = lab1_softmax.runs(Config(val_split=0.1), seeds, device)
    fifteen = lab1_softmax.runs(Config(val_split=0.15), seeds, device)
    spread10 = [_change_std(r.history.val_acc) for r in ten]
    spread15 = [_change_std(r.history.val_acc) for r in fifteen]
    record_protocol(
        claim,
        device,
        seeds,
        optimizer="rmsprop",
        validation_splits=[0.1, 0.15],
        fluctuation="std of the epoch-to-epoch changes of the val accuracy",
    )
    claim.report(statement="the 0.1 split fluctuates more; the 0.15 split is more stable")
    claim.measure(val_acc_change_std={"0.1": spread10, "0.15": spread15})
    _require_learned(claim, lab1_softmax, {"0.1": ten, "0.15": fifteen}, splits=(0.1, 0.15))
    claim.expect(
        stats.compare_paired(spread10, spread15, alternative="greater"),
        "val accuracy changes spread more with the 0.1 split",
    )


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
        claim.scaled(
            f"100 -> {epochs} epochs under the default profile: "
            f"the changes over epochs {LEVELLED}-{epochs}"
        )
    record_protocol(
        claim,
        device,
        seeds,
        optimizer="rmsprop",
        epochs=epochs,
        fluctuation=f"std of the epoch-to-epoch loss changes from epoch {LEVELLED} on",
    )
    claim.report(statement="validation loss fluctuates more than training loss")
    claim.measure(val_loss_change_std=val, train_loss_change_std=train)
    history = runs[0].history
    claim.figure(
        curves(
            {"train loss": history.train_loss[late], "val loss": history.val_loss[late]},
            x=history.epoch[late],
            title=f"RMSprop losses from epoch {LEVELLED}, seed {runs[0].seed}",
        ),
        "long-run-late-losses",
    )
    claim.expect(
        stats.compare_paired(val, train, alternative="greater"),
        "val loss changes spread more than train loss changes",
    )
