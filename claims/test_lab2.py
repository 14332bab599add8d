"""Claims of the lab2 report: regularization and initialization of an MNIST MLP.

Every configuration (8 regularization techniques, 5 initializers) is trained
once per seed by the session-scoped ``lab2`` fixture (claims/lab2_protocol.py
describes each technique, the Keras defaults chosen where the report is
silent, and the default profile's scaling) and shared by every claim that
compares against it. Comparative claims use the ``seeds`` fixture and the
three-way verdicts of :mod:`dlverify.stats`; "losses" are compared only when
they are the same function (the clean validation cross-entropy ``val_ce``),
while the Keras-style curves the report plots (objective incl. penalty /
noise / dropout for train, val CE + penalty for val) decide claims about the
gap between the two curves.

Thresholds below were fixed from the claims' words before measuring:
"far above" / "large deviation" = the final val loss at least twice the final
train loss; "a real improvement / reduction" = at least a fifth (20 %) of the
no-regularization baseline's mean value.
"""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from matplotlib.figure import Figure

from claims._checks import chance_accuracy, require_learned
from claims.lab2_protocol import (
    AUGMENTATION,
    CONFIGURATIONS,
    DEFAULT_SUBSET,
    DROPOUT,
    FULL_TRAIN_SIZE,
    HIDDEN_LAYERS,
    INITIALIZERS,
    INPUT_NOISE_VARIANCES,
    LABEL_NOISE_VARIANCE,
    LABELS,
    PENALTY_FACTORS,
    PROBE_SIZE,
    REPORTED_LOSSES,
    SIZES,
    TECHNIQUES,
    Lab2Runs,
    kernel_names,
    loss_table,
    panel_figure,
    parse_configuration,
    sized,
    table_figure,
)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.report.figures import curves, train_val_curves

# lab2's claims share trained networks: keep the claims that share runs on one xdist worker.
# The long runs, the other network sizes and the two sets of 60 000-image runs (initializers;
# none, L1, L2 and input noise) are read by no other claim, so their claims have groups of their
# own, and the workers can balance the family (about 900 s in a cold run).
pytestmark = pytest.mark.xdist_group("lab2")

LN10 = math.log(10)
FAR_ABOVE = 2.0  # "far above" / "large deviation": final val loss ≥ 2 × final train loss
REAL_CHANGE = 0.2  # "a real improvement": at least 20 % of the baseline's mean
SEEDED = TECHNIQUES + (
    "random",
    "glorot",
    "he",
)  # trained on every seed; zeros/ones are not comparative
# The claims decided on all 60 000 images under every profile (the lab2_documented fixture): groups
# of their own, so that other workers can train their runs beside the rest of lab2. The initializer
# claims and the technique claims read disjoint configurations, so they are two groups.
ON_ALL_IMAGES = pytest.mark.xdist_group("lab2-all-images")
TECHNIQUES_ON_ALL_IMAGES = pytest.mark.xdist_group("lab2-all-images-techniques")
LONG_EPOCHS = {"default": 60, "full": 100}  # the catalogue's "60–100 epochs" for augmentation
NEAR_ZERO = 1e-3  # lab2.l1-sparsifies: a weight "driven to zero" has |w| below this
ORDER_OF_MAGNITUDE = 1.0  # "very large": at least 10× (one unit of log10) above random normal's
# lab2.dropout-helps-larger-nets: hidden widths (at depth 3) and depths (at width 100) per profile
DROPOUT_WIDTHS = {"default": (25, 50, 100), "full": (100, 200, 400)}
DROPOUT_DEPTHS = {"default": (1, 2, 3), "full": (3, 5, 7)}


@pytest.fixture(scope="session")
def lab2(mnist_train, mnist_test, profile, run_cache) -> Lab2Runs:
    return Lab2Runs(
        mnist_train,
        mnist_test,
        subset=profile.pick(default=DEFAULT_SUBSET, full=None),
        long_epochs=profile.pick(**LONG_EPOCHS),
        run_cache=run_cache,
    )


@pytest.fixture(scope="session")
def lab2_documented(lab2, mnist_train, mnist_test, run_cache) -> Lab2Runs:
    """lab2 on all 60 000 training images at batch 512, the documented protocol, under every profile.

    For the claims whose runs draw no augmentation, dropout or label noise:
    the initializers (:data:`INITIALIZERS`) and ``none``, ``l1``, ``l2`` and
    the two input-noise configurations (their noise is drawn once per seed,
    not per step). Their documented cost fits the default profile. A 20-epoch
    run on the 60 000 images is 1.2·10⁶ sample-passes × 99 710 parameters,
    about 6–7 s of one core (2 s on the 10 000-image subset, where the smaller
    batch makes a step cheaper but not its overhead). Measured on a 2-core
    Intel Xeon, cold: the 41 initializer runs took 264 s of test time (56 s
    for the 36 they replaced on the subset); the 40 technique runs (none, L1
    and L2 on 10 seeds, the noise levels on 5) 269 s.

    The rest of lab2 stays on the subset under the default profile: the
    augmentation and dropout runs cost 3–4× more on the 60 000 images, and
    lab2.l1-smallest-gap, lab2.augmentation-ineffective, lab2.dropout-no-help
    and lab2.label-noise-best compare them with the other configurations, so
    these four read every configuration they compare on the subset, like
    with like. Under ``--profile full`` this is the ``lab2`` fixture itself;
    the data tensors are shared, not loaded again.
    """
    if lab2.subset is None:
        return lab2
    return Lab2Runs(mnist_train, mnist_test, run_cache=run_cache)


def _record_protocol(claim, lab2: Lab2Runs, device, seeds, **extra) -> None:
    claim.setup(**lab2.protocol(), device=str(device), seeds=list(seeds), **extra)
    scaling = lab2.scaling()
    if scaling:
        claim.scaled(scaling)


def finals(runs, metric: str) -> list[float]:
    """The last value of ``metric`` (a Lab2Run curve attribute) for each run."""
    return [getattr(run, metric)[-1] for run in runs]


def gaps(runs) -> list[float]:
    return [run.gap for run in runs]


def val_over_train(runs) -> list[float]:
    return [run.val_loss[-1] / run.train_loss[-1] for run in runs]


def not_better_than(candidate: list[float], baseline: list[float], *, lower_is_better: bool = True):
    """Non-inferiority of the baseline: ``candidate`` does not improve on it by 20 % of its mean or more."""
    margin = REAL_CHANGE * statistics.fmean(baseline)
    if lower_is_better:
        return stats.compare_paired(candidate, baseline, alternative="greater", margin=-margin)
    return stats.compare_paired(candidate, baseline, alternative="less", margin=-margin)


def curves_of(runs_by_name: dict, *, title: str, logy: bool = False):
    return train_val_curves(
        {LABELS[name]: run.curves() for name, run in runs_by_name.items()}, title=title, logy=logy
    )


def require_trained(claim, lab2: Lab2Runs, runs_by_name: dict) -> None:
    """:func:`claims._checks.require_learned` on each run's final val accuracy (MNIST test set)."""
    require_learned(
        claim,
        {name: finals(runs, "val_acc") for name, runs in runs_by_name.items()},
        chance=chance_accuracy(lab2.val.targets),
    )


def epochs_to_reach(accuracy: list[float], level: float) -> float:
    """First (fractional) epoch at which the per-epoch curve ``accuracy`` reaches ``level``.

    Epoch ``i`` is ``accuracy[i − 1]``; between two evaluations the crossing is
    placed by linear interpolation, so two runs that cross within the same
    epoch are still told apart. ``inf`` if the curve never reaches ``level``.
    """
    if accuracy[0] >= level:
        return 1.0
    for epoch in range(1, len(accuracy)):
        before, after = accuracy[epoch - 1], accuracy[epoch]
        if after >= level:
            return epoch + (level - before) / (after - before)
    return math.inf


def hidden_kernel_near_zero(run, threshold: float = NEAR_ZERO) -> float:
    """Share of the weights of the three hidden (penalized) kernels with ``|w| < threshold``."""
    state = run.model.state_dict()
    names = [kernel_names(run.model)[i] for i in HIDDEN_LAYERS]
    flat = torch.cat([state[name].flatten() for name in names])
    return float((flat.abs() < threshold).sum()) / flat.numel()


def layer_rms_spread(run) -> float:
    """Spread of the per-layer gradients: std over the 4 kernels of log10 RMS gradient per weight.

    ``RMS_l = ‖∂L/∂W_l‖₂ / √(#W_l)`` on the fixed probe batch; the spread is
    the population std over layers of ``log10 RMS_l``, at each evaluation
    (before step 1 and after every epoch), averaged over the evaluations.
    Equal per-weight gradient scales in every layer is Glorot & Bengio's
    (2010, §4.2) condition for gradients that neither vanish nor explode.
    """
    counts = [math.prod(run.model.state_dict()[name].shape) for name in kernel_names(run.model)]
    spreads = []
    for norms in run.grad_norms:
        logs = [math.log10(n / math.sqrt(c)) for n, c in zip(norms, counts)]
        mean = statistics.fmean(logs)
        spreads.append(math.sqrt(statistics.fmean([(v - mean) ** 2 for v in logs])))
    return statistics.fmean(spreads)


def roughness(run, skip_steps: int) -> float:
    """RMS of the step-to-step change of the log mini-batch loss, after ``skip_steps`` steps.

    ``sqrt(mean_t (log L_t − log L_{t−1})²)``: how much the training curve
    jitters from one step to the next, on a log scale so that curves at
    different loss levels compare; the first epoch's descent is left out (it
    is convergence speed, not roughness).
    """
    logs = [math.log(v) for v in run.history.step_loss[skip_steps:]]
    return math.sqrt(statistics.fmean([(b - a) ** 2 for a, b in zip(logs, logs[1:])]))


def parameter_count(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def label_entropy(labels: torch.Tensor) -> float:
    """Entropy (nats) of the empirical label distribution: the best loss without looking at the input."""
    p = torch.bincount(labels).double() / labels.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


# -- 3. Regularization techniques ---------------------------------------------------------------


@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.no-reg-overfits",
    source="lab2 §3.1 No regularization",
    # The documented protocol under both profiles (on the 10 000-image subset it held).
    xfail=Finding(
        "on all 60 000 images the network does overfit (val loss several times the train "
        "loss), but its val loss reaches its minimum much later than the report's ≈ 4 epochs",
        fails=("median epoch of minimum val loss ≤ 8 (≈ 4, within a factor 2)",),
    ),
)
def test_no_reg_overfits(claim, lab2_documented, device, seeds):
    """Without regularization the val loss departs from the train loss after ≈ 4 epochs and ends far above it.

    Decided per seed: the epoch of the minimum val loss (where it turns up) is
    at most 8 — twice the report's "≈ 4" — with the median over seeds taken as
    the estimate; and the final val loss is at least twice the final train
    loss (the report: 0.0922 vs 0.0099, 9.3×).
    """
    runs = lab2_documented.runs("none", seeds, device)
    turn = [1 + min(range(len(r.val_loss)), key=r.val_loss.__getitem__) for r in runs]
    ratio = val_over_train(runs)
    _record_protocol(claim, lab2_documented, device, seeds)
    claim.report(
        train_loss=0.0099, val_loss=0.0922, departs_after_epochs=4, val_over_train=0.0922 / 0.0099
    )
    claim.measure(
        train_loss=finals(runs, "train_loss"),
        val_loss=finals(runs, "val_loss"),
        epoch_of_min_val_loss=turn,
        val_over_train=ratio,
        val_acc=finals(runs, "val_acc"),
    )
    claim.figure(
        curves_of({"none": runs[0]}, title=f"No regularization (seed {runs[0].seed})"), "no-reg"
    )
    claim.expect(
        statistics.median(turn) <= 8,
        "median epoch of minimum val loss ≤ 8 (≈ 4, within a factor 2)",
    )
    claim.expect(
        all(r >= FAR_ABOVE for r in ratio), "final val loss ≥ 2× final train loss on every seed"
    )


@pytest.mark.claim(
    "lab2.l1-smallest-gap",
    source="lab2 §3.2 L1 regularization",
    xfail={
        "default": Finding(
            "with the L1 factor that reproduces the report's L1 run, L1 learns and is not the "
            "technique with the smallest gap (augmentation's is smaller), and its val "
            "cross-entropy ends below no regularization's, not above",
            fails=(
                "L1's gap below every other technique's",
                "L1's val cross-entropy above no regularization's (higher loss)",
            ),
        ),
        "full": Finding(
            "on all 60 000 images L1 learns and has the smallest mean gap, but it is not shown "
            "below every other technique's at the look where its val cross-entropy, below no "
            "regularization's rather than above, decides the claim",
            fails=(
                "L1's gap below every other technique's",
                "L1's val cross-entropy above no regularization's (higher loss)",
            ),
        ),
    },
)
def test_l1_smallest_gap(claim, lab2, device, seeds):
    """L1 gives the smallest train/val gap of all regularization techniques, at the cost of a higher loss.

    Gap = |final val loss − final train loss| of the report's curves (Keras
    style; the L1 penalty appears in both and cancels). "All techniques" are
    the report's regularization methods (§3: none, L2, augmentation, input
    noise 0.2 and 0.05, label noise, dropout) — the report calls L1 "the best
    regularization method overall"; initializers are a separate study. L1 must
    beat each of them over paired seeds (:func:`dlverify.stats.argbest`). The
    higher loss is decided on the same function for both: L1's clean val
    cross-entropy above that of no regularization. L1 here is Keras ``l1(1e-4)``
    on the three hidden kernels.
    """
    runs = {name: lab2.runs(name, seeds, device) for name in TECHNIQUES}
    gap = {name: gaps(r) for name, r in runs.items()}
    _record_protocol(
        claim,
        lab2,
        device,
        seeds,
        l1_factor=PENALTY_FACTORS["l1"],
        penalized="hidden kernels (3 Dense layers)",
    )
    claim.report(
        gap={name: abs(REPORTED_LOSSES[name][1] - REPORTED_LOSSES[name][0]) for name in TECHNIQUES},
        l1_train_loss=0.1973,
        l1_val_loss=0.2265,
    )
    claim.measure(
        gap=gap,
        val_ce={name: finals(r, "val_ce") for name, r in runs.items()},
        table=loss_table(
            {
                name: {
                    "train": statistics.fmean(finals(r, "train_loss")),
                    "val": statistics.fmean(finals(r, "val_loss")),
                }
                for name, r in runs.items()
            }
        ),
    )
    claim.figure(
        panel_figure(
            {name: r[0] for name, r in runs.items()}, title="Regularization techniques", logy=True
        ),
        "techniques",
    )
    claim.measure(l1_val_acc=finals(runs["l1"], "val_acc"))
    require_trained(claim, lab2, runs)
    claim.expect(
        stats.argbest(gap, higher_is_better=False, claimed="l1"),
        "L1's gap below every other technique's",
    )
    claim.expect(
        stats.compare_paired(finals(runs["l1"], "val_ce"), finals(runs["none"], "val_ce")),
        "L1's val cross-entropy above no regularization's (higher loss)",
    )


@pytest.mark.slow  # none, L1 and L2 on all 60 000 images to 10 seeds: about 3 min of one core
@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.l2-reduces-gap",
    source="lab2 §3.3 L2 regularization",
    # Measured under both profiles (10 000 and all 60 000 training images).
    xfail=Finding(
        "L2 does narrow the gap, but with the factors that reproduce the report's runs L1's "
        "val cross-entropy is below L2's, not above",
        fails=("L1's val cross-entropy above L2's",),
    ),
)
def test_l2_reduces_gap(claim, lab2_documented, device, seeds):
    """L2 narrows the train/val gap compared with no regularization, with a lower loss than L1.

    Paired over seeds: the gap (as in lab2.l1-smallest-gap) of no
    regularization above L2's, and L1's clean val cross-entropy above L2's
    (the same loss function for both; their training objectives differ by the
    penalties and are not compared). Keras ``l2(1e-4)`` on the hidden kernels (the factor that
    reproduces the report's L2 run; see lab2_protocol).
    """
    none, l1, l2 = (lab2_documented.runs(name, seeds, device) for name in ("none", "l1", "l2"))
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        l2_factor=PENALTY_FACTORS["l2"],
        penalized="hidden kernels (3 Dense layers)",
    )
    claim.report(
        l2_train_loss=0.0547,
        l2_val_loss=0.1126,
        l2_gap=0.1126 - 0.0547,
        none_gap=0.0922 - 0.0099,
        l1_val_loss=0.2265,
    )
    claim.measure(
        l2_gap=gaps(l2),
        none_gap=gaps(none),
        l2_val_ce=finals(l2, "val_ce"),
        l1_val_ce=finals(l1, "val_ce"),
        l2_train_loss=finals(l2, "train_loss"),
        l2_val_loss=finals(l2, "val_loss"),
    )
    claim.figure(
        curves_of(
            {"none": none[0], "l1": l1[0], "l2": l2[0]}, title="L2 vs none and L1", logy=True
        ),
        "l2",
    )
    require_trained(claim, lab2_documented, {"none": none, "l1": l1, "l2": l2})
    claim.expect(stats.compare_paired(gaps(none), gaps(l2)), "no regularization's gap above L2's")
    claim.expect(
        stats.compare_paired(finals(l1, "val_ce"), finals(l2, "val_ce")),
        "L1's val cross-entropy above L2's",
    )


@pytest.mark.claim(
    "lab2.augmentation-ineffective",
    source="lab2 §3.4 Data Augmentation",
    xfail=Finding(
        "augmentation does reduce overfitting: both the train/val gap and the val cross-entropy "
        "fall by more than a fifth of no regularization's",
        fails=(
            "gap not reduced by ≥ 20% of no regularization's",
            "val cross-entropy not reduced by ≥ 20% of no regularization's",
        ),
    ),
)
def test_augmentation_ineffective(claim, lab2, device, seeds):
    """Random translation 10 %, zoom 10 % and rotation 10° do not reduce overfitting in 20 epochs.

    "Not effective" is decided as non-inferiority of no regularization, over
    paired seeds: augmentation does not cut the gap, nor the clean val
    cross-entropy, by 20 % of the baseline's mean or more (the catalogue's
    "val loss and gap vs none"). Augmentation: translation ±10 % of each side,
    zoom ±10 %, rotation ±10°, fresh per image and step, Keras' reflect fill.
    """
    none, aug = lab2.runs("none", seeds, device), lab2.runs("augmentation", seeds, device)
    _record_protocol(claim, lab2, device, seeds, augmentation=AUGMENTATION)
    claim.report(
        train_loss=0.023,
        val_loss=0.1141,
        gap=0.1141 - 0.023,
        none_gap=0.0922 - 0.0099,
        none_val_loss=0.0922,
    )
    claim.measure(
        gap=gaps(aug),
        none_gap=gaps(none),
        val_ce=finals(aug, "val_ce"),
        none_val_ce=finals(none, "val_ce"),
        train_loss=finals(aug, "train_loss"),
        val_over_train=val_over_train(aug),
    )
    claim.figure(
        curves_of({"none": none[0], "augmentation": aug[0]}, title="Data augmentation vs none"),
        "augmentation",
    )
    claim.expect(
        not_better_than(gaps(aug), gaps(none)), "gap not reduced by ≥ 20% of no regularization's"
    )
    claim.expect(
        not_better_than(finals(aug, "val_ce"), finals(none, "val_ce")),
        "val cross-entropy not reduced by ≥ 20% of no regularization's",
    )


@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim("lab2.input-noise-overfits", source="lab2 §3.5 Input noise")
def test_input_noise_overfits(claim, lab2_documented, device, seeds):
    """Gaussian input noise (variance 0.2) on the training images only: train loss near zero, val loss well above.

    Noise of variance 0.2 (std √0.2) drawn once per seed on the training
    images (see lab2_protocol). Decided: final train loss below 0.01 on every
    seed ("extremely low": the report's 0.0006 is below even no
    regularization's 0.0099); final val loss at least twice the train loss on
    every seed; and, paired over seeds, a val cross-entropy above no
    regularization's (the report's 0.1326 vs 0.0922, "does not perform well").
    """
    none, noise = (
        lab2_documented.runs("none", seeds, device),
        lab2_documented.runs("input_noise_0.2", seeds, device),
    )
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        input_noise_variance=0.2,
        input_noise_std=math.sqrt(0.2),
        noise_drawn="once per seed (a fixed noisy copy of the training images)",
    )
    claim.report(train_loss=0.0006, val_loss=0.1326, none_val_loss=0.0922)
    claim.measure(
        train_loss=finals(noise, "train_loss"),
        val_loss=finals(noise, "val_loss"),
        none_val_loss=finals(none, "val_loss"),
        val_over_train=val_over_train(noise),
    )
    claim.figure(
        curves_of(
            {"none": none[0], "input_noise_0.2": noise[0]},
            title="Input noise (variance 0.2)",
            logy=True,
        ),
        "input-noise-0.2",
    )
    claim.expect(
        all(v < 0.01 for v in finals(noise, "train_loss")), "final train loss < 0.01 on every seed"
    )
    claim.expect(
        all(r >= FAR_ABOVE for r in val_over_train(noise)),
        "final val loss ≥ 2× train loss on every seed",
    )
    claim.expect(
        stats.compare_paired(finals(noise, "val_ce"), finals(none, "val_ce")),
        "val cross-entropy above no regularization's",
    )


@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim("lab2.input-noise-smaller-better", source="lab2 §3.5 Input noise")
def test_input_noise_smaller_better(claim, lab2_documented, device, seeds):
    """With input-noise variance 0.05 the val loss comes down, below that at variance 0.2.

    The report's two tables (5 and 6) are identical, so its numbers cannot
    support the sentence; the text is tested: val cross-entropy at variance
    0.2 above that at 0.05, paired over seeds (same draws of z, scaled).
    """
    high, low = (lab2_documented.runs(name, seeds, device) for name in INPUT_NOISE_VARIANCES)
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        input_noise_variances=list(INPUT_NOISE_VARIANCES.values()),
    )
    claim.report(
        val_loss_var_0_2=0.1326,
        val_loss_var_0_05=0.1326,
        text="val loss came down at variance 0.05",
    )
    claim.measure(
        val_ce_var_0_2=finals(high, "val_ce"),
        val_ce_var_0_05=finals(low, "val_ce"),
        train_loss_var_0_2=finals(high, "train_loss"),
        train_loss_var_0_05=finals(low, "train_loss"),
    )
    claim.figure(
        curves_of(
            {"input_noise_0.2": high[0], "input_noise_0.05": low[0]},
            title="Input noise variance",
            logy=True,
        ),
        "input-noise-variances",
    )
    claim.expect(
        stats.compare_paired(finals(high, "val_ce"), finals(low, "val_ce")),
        "val cross-entropy at variance 0.2 above variance 0.05",
    )


@pytest.mark.claim(
    "lab2.label-noise-best",
    source="lab2 §3.6 Output noise",
    xfail={
        "default": Finding(
            "training diverges: the noisy targets leave [0, 1], so the cross-entropy on them is "
            "unbounded below; the network memorizes each image's noise and the val loss climbs",
            fails=(
                "final train loss above val loss, every seed",
                "final val loss within 5% of its minimum (no turn-up), every seed",
                "val acc above every other configuration's",
            ),
        ),
        "full": Finding(
            "training diverges: the noisy targets leave [0, 1], so the cross-entropy on them is "
            "unbounded below; the network memorizes each image's noise, the val loss climbs, and "
            "on all 60 000 images the val accuracy ends short of the report's",
            fails=(
                "final train loss above val loss, every seed",
                "final val loss within 5% of its minimum (no turn-up), every seed",
                "mean val acc rounds to 0.98",
                "val acc above every other configuration's",
            ),
        ),
    },
)
def test_label_noise_best(claim, lab2, device, seeds, profile):
    """Label noise: train loss above val loss, val loss falls without turning up, val acc 0.98, the best of all.

    Targets: one-hot with ε ~ N(0, variance 0.1), i.e. std √0.1 ≈ 0.32 (the
    catalogue-v2 correction; this protocol already drew ε that way), per image
    taken from the true class and ε/9 added to the others, drawn once; categorical cross-entropy on
    the logits (as Keras does for a softmax output). Half the images get ε < 0,
    i.e. a target above 1 and negative targets elsewhere, for which the
    cross-entropy has no lower bound.
    Decided: final train loss above final val loss on every seed; no turn-up —
    the final val loss within 5 % of its minimum on every seed; val acc 0.98
    (in [0.975, 0.985), the report's two decimals) as a mean over seeds —
    checked under the documented protocol (``--profile full``) only, since the
    default profile's 10 000-image subset caps every technique's accuracy; and
    the best val acc of all other configurations trained on every seed (the
    7 other regularization techniques and the random, Glorot and He
    initializers), paired over seeds (:func:`dlverify.stats.argbest`), plus
    above zero and ones initialization (one seed each, near chance). Every
    run compared here is trained on the same images: under the default
    profile the 10 000-image subset, initializers included (the claims that
    read only the initializer, none, L1, L2 or input-noise runs take them on
    all 60 000 images, see ``lab2_documented``).
    """
    runs = {name: lab2.runs(name, seeds, device) for name in SEEDED}
    fixed = {name: lab2.run(name, seeds[0], device) for name in ("zeros", "ones")}
    label = runs["label_noise"]
    accuracy = {name: finals(r, "val_acc") for name, r in runs.items()}
    rise = [r.val_loss[-1] / min(r.val_loss) - 1 for r in label]
    mean_acc = statistics.fmean(accuracy["label_noise"])
    _record_protocol(
        claim,
        lab2,
        device,
        seeds,
        label_noise_variance=LABEL_NOISE_VARIANCE,
        label_noise_std=math.sqrt(LABEL_NOISE_VARIANCE),
        noise_drawn="once per seed",
    )
    claim.report(train_loss=0.4744, val_loss=0.1448, val_acc=0.98)
    table = {
        name: {
            "train": statistics.fmean(finals(r, "train_loss")),
            "val": statistics.fmean(finals(r, "val_loss")),
        }
        for name, r in runs.items()
    }
    table.update(
        {name: {"train": r.train_loss[-1], "val": r.val_loss[-1]} for name, r in fixed.items()}
    )
    claim.measure(
        train_loss=finals(label, "train_loss"),
        val_loss=finals(label, "val_loss"),
        final_val_over_min_minus_1=rise,
        val_acc=accuracy,
        single_seed_val_acc={name: r.val_acc[-1] for name, r in fixed.items()},
        table=loss_table({name: table[name] for name in CONFIGURATIONS}),
    )
    claim.figure(curves_of({"label_noise": label[0]}, title="Label (output) noise"), "label-noise")
    claim.figure(
        table_figure(
            loss_table({name: table[name] for name in CONFIGURATIONS}),
            title=f"Final losses, mean over seeds {list(seeds)} (zeros/ones: seed {seeds[0]})",
        ),
        "loss-table",
    )
    claim.expect(
        all(r.train_loss[-1] > r.val_loss[-1] for r in label),
        "final train loss above val loss, every seed",
    )
    claim.expect(
        all(x < 0.05 for x in rise),
        "final val loss within 5% of its minimum (no turn-up), every seed",
    )
    if profile.full:
        claim.expect(0.975 <= mean_acc < 0.985, "mean val acc rounds to 0.98")
    else:
        claim.note(
            f"val acc 0.98 is decided under --profile full only; measured mean {mean_acc:.4f} on the subset"
        )
    claim.expect(
        stats.argbest(accuracy, claimed="label_noise"), "val acc above every other configuration's"
    )
    claim.expect(
        all(statistics.fmean(accuracy["label_noise"]) > r.val_acc[-1] for r in fixed.values()),
        "val acc above zero and ones initialization",
    )


@pytest.mark.claim(
    "lab2.dropout-no-help",
    source="lab2 §3.7 Dropout",
    xfail=Finding(
        "dropout removes the large gap: the final val loss ends below the dropout-active train loss, not far above it",
        fails=(
            "final val loss ≥ 2× train loss on every seed",
            "gap not reduced by ≥ 20% of no regularization's",
        ),
        # Measured 2026-11-25 on an Intel Xeon: with its AVX-512 kernels it holds at the first
        # look under both profiles (3 seeds on the 10 000-image subset, 5 on all 60 000 images),
        # and with AVX2 kernels (MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2) under
        # the full profile; the default profile's 3 seeds under AVX2 leave it inconclusive
        # (dropout − none 0.021, interval [−0.049, 0.091] against the margin −0.019). On its
        # threshold: it may go either way between CPUs, never against the claim.
        undecided=("val cross-entropy not reduced by ≥ 20% of no regularization's",),
    ),
)
def test_dropout_no_help(claim, lab2, device, seeds):
    """Dropout 0.5 leaves a large train/val gap; no real improvement for this small network.

    Decided: the final val loss at least twice the final train loss on every
    seed (large deviation), and non-inferiority of no regularization over
    paired seeds: dropout cuts neither the gap nor the clean val
    cross-entropy by 20 % of the baseline's mean or more. Dropout(0.5) after
    each hidden ReLU; the train loss is measured with dropout active (Keras).
    """
    none, drop = lab2.runs("none", seeds, device), lab2.runs("dropout", seeds, device)
    _record_protocol(claim, lab2, device, seeds, dropout=DROPOUT)
    claim.report(train_loss=0.0118, val_loss=0.095, none_val_loss=0.0922, gap=0.095 - 0.0118)
    claim.measure(
        train_loss=finals(drop, "train_loss"),
        val_loss=finals(drop, "val_loss"),
        val_over_train=val_over_train(drop),
        gap=gaps(drop),
        none_gap=gaps(none),
        none_val_loss=finals(none, "val_loss"),
    )
    claim.figure(
        curves_of({"none": none[0], "dropout": drop[0]}, title="Dropout 0.5 vs none"), "dropout"
    )
    claim.expect(
        all(r >= FAR_ABOVE for r in val_over_train(drop)),
        "final val loss ≥ 2× train loss on every seed",
    )
    claim.expect(
        not_better_than(gaps(drop), gaps(none)), "gap not reduced by ≥ 20% of no regularization's"
    )
    claim.expect(
        not_better_than(finals(drop, "val_ce"), finals(none, "val_ce")),
        "val cross-entropy not reduced by ≥ 20% of no regularization's",
    )


# -- 4. Initialization techniques ---------------------------------------------------------------


@ON_ALL_IMAGES
@pytest.mark.claim("lab2.zero-init-stalls", source="lab2 §4.1 Zero initialization")
def test_zero_init_stalls(claim, lab2_documented, device, seeds):
    """Zero initialization stalls training: train and val loss stay at 2.301 (≈ ln 10).

    With every weight zero, each ReLU unit outputs 0, so no kernel receives a
    gradient; only the output bias learns, and it learns the label prior. The
    loss should therefore sit at the entropy of the training labels (2.3012
    nats on all of MNIST). Tolerance: 0.01 nats, the report quoting 2.301 to
    three decimals (the entropy and ln 10 differ by only 0.0014). Not
    comparative: one seed.
    """
    run = lab2_documented.run("zeros", seeds[0], device)
    entropy = label_entropy(lab2_documented.train_data(device).targets.cpu())
    kernels = [m.weight for m in run.model.modules() if isinstance(m, torch.nn.Linear)]
    max_abs_kernel = max(float(w.detach().abs().max()) for w in kernels)
    final_train, final_val = run.train_loss[-1], run.val_loss[-1]
    _record_protocol(claim, lab2_documented, device, [seeds[0]])
    claim.report(train_loss=2.301, val_loss=2.301)
    claim.measure(
        train_loss=final_train,
        val_loss=final_val,
        label_entropy=entropy,
        ln10=LN10,
        max_abs_kernel_weight=max_abs_kernel,
        val_acc=run.val_acc[-1],
    )
    claim.figure(
        panel_figure(
            {name: lab2_documented.run(name, seeds[0], device) for name in INITIALIZERS},
            title="Initializers",
            logy=True,
        ),
        "initializers",
    )
    claim.expect(
        abs(final_train - entropy) < 0.01, "final train loss within 0.01 of the label entropy"
    )
    claim.expect(abs(final_val - entropy) < 0.01, "final val loss within 0.01 of the label entropy")
    claim.expect(max_abs_kernel == 0.0, "every kernel weight is still exactly zero")


@ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.ones-init-explodes",
    source="lab2 §4.2 Ones initialization",
    xfail={
        "default": Finding(
            "on all 60 000 images the loss is huge, hundreds of times the chance level, but not in "
            "the thousands the report gives",
            fails=("final train loss in the thousands", "final val loss in the thousands"),
            # Measured 2026-11-24 on an Intel Xeon, documented protocol, 10 seeds (the default
            # plan's last look): mean log10 final val loss 2.67, interval [2.54, 2.79] against
            # log10(100 ln 10) = 2.36, so it holds here; the full profile's run on an AMD EPYC
            # (the same protocol and seeds, up to 20) left it inconclusive. It may go either
            # way between the two, never against the claim.
            undecided=("final val loss at least 100x the chance level",),
        ),
        "full": Finding(
            "on all 60 000 images the train loss is hundreds of times the chance level, the val "
            "loss varies too much from seed to seed to show the same, and neither is in the "
            "thousands the report gives",
            fails=(
                "final val loss at least 100x the chance level",
                "final train loss in the thousands",
                "final val loss in the thousands",
            ),
        ),
    },
)
def test_ones_init_explodes(claim, lab2_documented, device, seeds):
    """Initializing every weight to one gives a huge loss, in the thousands (6223 train, 6089 val).

    Decided on the claim's own scale, fixed before measuring, over seeds (the
    seed moves only the data order: every weight starts at one): the mean
    log10 of each final loss above 3 (in the thousands, by the t interval of
    the log-losses: losses this large are compared on a log scale, where the
    seed-to-seed spread is symmetric), and, the weaker reading, above
    log10(100 · ln 10) (at least 100× the chance level).
    """
    runs = lab2_documented.runs("ones", seeds, device)
    train, val = finals(runs, "train_loss"), finals(runs, "val_loss")
    log_train, log_val = [math.log10(v) for v in train], [math.log10(v) for v in val]
    _record_protocol(claim, lab2_documented, device, seeds)
    claim.report(train_loss=6223, val_loss=6089)
    claim.measure(train_loss=train, val_loss=val, chance_loss=LN10, val_acc=finals(runs, "val_acc"))
    claim.figure(
        curves_of({"ones": runs[0]}, title=f"Ones initialization (seed {runs[0].seed})", logy=True),
        "ones-init",
    )
    hundredfold = math.log10(100 * LN10)
    claim.expect(
        stats.compare_to_value(log_train, hundredfold),
        "final train loss at least 100x the chance level",
    )
    claim.expect(
        stats.compare_to_value(log_val, hundredfold),
        "final val loss at least 100x the chance level",
    )
    claim.expect(stats.compare_to_value(log_train, 3.0), "final train loss in the thousands")
    claim.expect(stats.compare_to_value(log_val, 3.0), "final val loss in the thousands")


@ON_ALL_IMAGES
@pytest.mark.claim("lab2.random-init-learns", source="lab2 §4.3 Random initialization")
def test_random_init_learns(claim, lab2_documented, device, seeds):
    """Random normal initialization (Keras ``RandomNormal``, std 0.05) learns normally: 0.0143 train, 0.0959 val.

    "Near the reported values' scale" is taken as the same order of magnitude:
    the mean over seeds of log10(measured / reported) within ±0.5 (a factor
    √10 ≈ 3.16) for each loss. "Far below chance" is a mean final loss below
    a tenth of ln 10. Both by t intervals over seeds, so a loss within noise
    of a bound comes out inconclusive (one run near 0.230 decided it by the
    thread count before).
    """
    runs = lab2_documented.runs("random", seeds, device)
    reported = {"train": 0.0143, "val": 0.0959}
    measured = {"train": finals(runs, "train_loss"), "val": finals(runs, "val_loss")}
    _record_protocol(claim, lab2_documented, device, seeds)
    claim.report(train_loss=reported["train"], val_loss=reported["val"])
    claim.measure(
        train_loss=measured["train"], val_loss=measured["val"], val_acc=finals(runs, "val_acc")
    )
    claim.figure(
        curves_of({"random": runs[0]}, title=f"Random normal initialization (seed {runs[0].seed})"),
        "random-init",
    )
    for name, values in measured.items():
        ratios = [math.log10(v / reported[name]) for v in values]
        claim.expect(
            stats.within(ratios, -0.5, 0.5),
            f"final {name} loss within a factor √10 of the report's",
        )
        claim.expect(
            stats.compare_to_value(values, LN10 / 10, alternative="less"),
            f"final {name} loss far below chance (< ln10/10)",
        )


@ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.glorot-better-than-random",
    source="lab2 §4.4 Glorot Normal initialization",
    xfail=Finding(
        "on all 60 000 images Glorot normal ends with a lower train loss than random normal, "
        "but the two val losses are not told apart at the seed budget",
        fails=("random normal's final val loss above Glorot normal's",),
    ),
)
def test_glorot_better_than_random(claim, lab2_documented, device, seeds):
    """Glorot normal initialization gives a lower train and val loss than random normal initialization.

    Paired over seeds: random normal's (std 0.05) final train loss above
    Glorot normal's, and its final val loss too. Both runs minimize the same
    cross-entropy without penalty, so the losses compare directly. (The
    report's own numbers show a higher val loss for Glorot: 0.0988 vs 0.0959.)
    """
    rnd, glorot = (
        lab2_documented.runs("random", seeds, device),
        lab2_documented.runs("glorot", seeds, device),
    )
    _record_protocol(claim, lab2_documented, device, seeds)
    claim.report(
        glorot_train_loss=0.0085,
        glorot_val_loss=0.0988,
        random_train_loss=0.0143,
        random_val_loss=0.0959,
    )
    claim.measure(
        glorot_train_loss=finals(glorot, "train_loss"),
        glorot_val_loss=finals(glorot, "val_loss"),
        random_train_loss=finals(rnd, "train_loss"),
        random_val_loss=finals(rnd, "val_loss"),
    )
    claim.figure(
        curves_of(
            {"random": rnd[0], "glorot": glorot[0]},
            title="Glorot normal vs random normal",
            logy=True,
        ),
        "glorot-vs-random",
    )
    claim.expect(
        stats.compare_paired(finals(rnd, "train_loss"), finals(glorot, "train_loss")),
        "random normal's final train loss above Glorot normal's",
    )
    claim.expect(
        stats.compare_paired(finals(rnd, "val_loss"), finals(glorot, "val_loss")),
        "random normal's final val loss above Glorot normal's",
    )


@ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.he-better-than-random",
    source="lab2 §4.5 He Normal initialization",
    xfail=Finding(
        "on all 60 000 images the val losses of He normal and random normal are not told "
        "apart at the seed budget",
        fails=("random normal's final val loss above He normal's",),
    ),
)
def test_he_better_than_random(claim, lab2_documented, device, seeds):
    """He normal initialization beats random normal initialization for ReLU (val loss 0.0927 vs 0.0959).

    Paired over seeds: random normal's final val loss above He normal's.
    """
    rnd, he = (
        lab2_documented.runs("random", seeds, device),
        lab2_documented.runs("he", seeds, device),
    )
    _record_protocol(claim, lab2_documented, device, seeds)
    claim.report(
        he_val_loss=0.0927, random_val_loss=0.0959, he_train_loss=0.0126, random_train_loss=0.0143
    )
    claim.measure(
        he_val_loss=finals(he, "val_loss"),
        random_val_loss=finals(rnd, "val_loss"),
        he_train_loss=finals(he, "train_loss"),
        random_train_loss=finals(rnd, "train_loss"),
    )
    claim.figure(
        curves_of({"random": rnd[0], "he": he[0]}, title="He normal vs random normal", logy=True),
        "he-vs-random",
    )
    claim.expect(
        stats.compare_paired(finals(rnd, "val_loss"), finals(he, "val_loss")),
        "random normal's final val loss above He normal's",
    )


# -- Catalogue v2: further claims of §3 and §4 ---------------------------------------------------


@pytest.mark.slow  # the same 30 runs as lab2.l2-reduces-gap: about 3 min of one core
@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.l1-slower-to-accuracy",
    source="lab2 §3.2 L1 regularization",
    xfail={
        # Measured on all 60 000 images on a 2-core Intel Xeon: L1 later than none by 2.68
        # epochs, interval [-0.20, 5.56], at 10 seeds. The full profile's plan, the same runs to
        # 20 seeds, decides it (holds) on an AMD EPYC and on the Intel Xeon (1.99 epochs, [0.24,
        # 3.75]). On the 10 000-image subset neither comparison was decided.
        "default": Finding(
            "on all 60 000 images L1 reaches the level that none, L1 and L2 all reach later than "
            "L2 does, but not confidently later than no regularization within 10 seeds",
            fails=("L1 needs more epochs than no regularization to reach the common level",),
        )
    },
)
def test_l1_slower_to_accuracy(claim, lab2_documented, device, seeds):
    """L1 requires more epochs to reach the same level of accuracy as some of the other methods.

    "The same level": per seed, the highest val accuracy that none, L1 and L2
    all reach (the smallest of their three peaks), so every run reaches it.
    Epochs to reach it are read from the per-epoch val accuracy, placed
    within an epoch by linear interpolation (:func:`epochs_to_reach`).
    Decided paired over seeds: L1 takes more epochs than no regularization,
    and more than L2 (the catalogue's "L1 vs none and L2").
    """
    runs = {name: lab2_documented.runs(name, seeds, device) for name in ("none", "l1", "l2")}
    levels = [min(max(runs[name][i].val_acc) for name in runs) for i in range(len(seeds))]
    epochs = {
        name: [epochs_to_reach(run.val_acc, level) for run, level in zip(r, levels)]
        for name, r in runs.items()
    }
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        l1_factor=PENALTY_FACTORS["l1"],
        l2_factor=PENALTY_FACTORS["l2"],
    )
    claim.report(text="L1 requires more epochs to reach the same level of accuracy")
    claim.measure(
        common_val_acc_level=levels,
        epochs_to_level=epochs,
        final_val_acc={name: finals(r, "val_acc") for name, r in runs.items()},
    )
    title = f"Val accuracy (seed {seeds[0]}); common level {levels[0]:.4f}"
    claim.figure(
        curves(
            {LABELS[name]: r[0].val_acc for name, r in runs.items()},
            ylabel="val accuracy",
            title=title,
        ),
        "val-acc",
    )
    require_trained(claim, lab2_documented, runs)
    claim.expect(
        stats.compare_paired(epochs["l1"], epochs["none"]),
        "L1 needs more epochs than no regularization to reach the common level",
    )
    claim.expect(
        stats.compare_paired(epochs["l1"], epochs["l2"]),
        "L1 needs more epochs than L2 to reach the common level",
    )


@TECHNIQUES_ON_ALL_IMAGES
@pytest.mark.claim("lab2.l1-sparsifies", source="lab2 §3.2 L1 regularization")
def test_l1_sparsifies(claim, lab2_documented, device, seeds):
    """L1 drives some of the weights to zero.

    "Zero" for a float32 weight trained by Adam, whose steps are about the
    learning rate (1e-3) in size, is ``|w| < 1e-3``: a weight held at zero by
    the L1 subgradient oscillates within one step of it. Measured on the
    three hidden kernels that L1 penalizes, after epoch 20; decided paired
    over seeds: the share of such weights under L1 above that without
    regularization (which starts Glorot-uniform, with about 1 % below 1e-3).
    """
    none, l1 = (
        lab2_documented.runs("none", seeds, device),
        lab2_documented.runs("l1", seeds, device),
    )
    share = {
        "none": [hidden_kernel_near_zero(r) for r in none],
        "l1": [hidden_kernel_near_zero(r) for r in l1],
    }
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        l1_factor=PENALTY_FACTORS["l1"],
        near_zero=NEAR_ZERO,
        weights="the three hidden kernels",
    )
    claim.report(text="L1 drives some of the weights to zero")
    claim.measure(near_zero_share=share)
    fig = Figure(figsize=(5.5, 3.6))  # no pyplot: nothing global to register or close
    ax = fig.subplots()
    for name, run in (("none", none[0]), ("l1", l1[0])):
        state = run.model.state_dict()
        weights = torch.cat([state[kernel_names(run.model)[i]].flatten() for i in HIDDEN_LAYERS])
        ax.hist(
            torch.log10(weights.abs().clamp_min(1e-8)).numpy(),
            bins=80,
            histtype="step",
            label=LABELS[name],
        )
    ax.axvline(math.log10(NEAR_ZERO), color="k", linewidth=0.8, linestyle=":")
    ax.set_xlabel("log10 |w| (hidden kernels)")
    ax.set_ylabel("weights")
    ax.set_title(f"Hidden-kernel weights after 20 epochs (seed {seeds[0]})", fontsize=10)
    ax.legend(fontsize=8)
    claim.figure(fig, "weights")
    claim.expect(
        stats.compare_paired(share["l1"], share["none"]),
        "share of hidden-kernel weights with |w| < 1e-3 above no regularization's",
    )


@pytest.mark.slow
@pytest.mark.xdist_group("lab2-long-runs")
@pytest.mark.claim("lab2.augmentation-needs-more-epochs", source="lab2 §3.4 Data Augmentation")
def test_augmentation_needs_more_epochs(claim, lab2, device, seeds, profile):
    """Augmentation needs more than 20 epochs; with more (60–100) it would help.

    No regularization and augmentation trained for the catalogue's 60–100
    epochs (60 under the default profile, 100 under ``full``; the first 20
    epochs of these runs equal the 20-epoch runs of the other claims). Decided
    paired over seeds on the clean val cross-entropy (the same function for
    both): (1) augmentation's final val loss below no regularization's after
    the long run ("it would help"); (2) that advantage larger after the long
    run than after epoch 20 ("20 are not sufficient" to see it).
    """
    long_epochs = profile.pick(**LONG_EPOCHS)
    none, aug = lab2.long_runs("none", seeds, device), lab2.long_runs("augmentation", seeds, device)
    gain_long = [n.val_ce[-1] - a.val_ce[-1] for n, a in zip(none, aug)]
    gain_20 = [n.val_ce[lab2.epochs - 1] - a.val_ce[lab2.epochs - 1] for n, a in zip(none, aug)]
    _record_protocol(claim, lab2, device, seeds, augmentation=AUGMENTATION, long_epochs=long_epochs)
    claim.report(
        train_loss_20_epochs=0.023,
        val_loss_20_epochs=0.1141,
        none_val_loss_20_epochs=0.0922,
        text="20 epochs are not sufficient; more epochs might be necessary",
    )
    claim.measure(
        val_ce_long={"none": finals(none, "val_ce"), "augmentation": finals(aug, "val_ce")},
        val_ce_epoch_20={
            "none": [r.val_ce[lab2.epochs - 1] for r in none],
            "augmentation": [r.val_ce[lab2.epochs - 1] for r in aug],
        },
        gain_long=gain_long,
        gain_epoch_20=gain_20,
    )
    title = f"Augmentation vs none over {long_epochs} epochs (seed {seeds[0]})"
    claim.figure(
        curves_of({"none": none[0], "augmentation": aug[0]}, title=title, logy=True),
        "augmentation-long",
    )
    claim.expect(
        stats.compare_paired(finals(none, "val_ce"), finals(aug, "val_ce")),
        f"augmentation's val loss below no regularization's after {long_epochs} epochs",
    )
    claim.expect(
        stats.compare_paired(gain_long, gain_20),
        f"augmentation's advantage larger after {long_epochs} epochs than after 20",
    )


@pytest.mark.slow
@pytest.mark.xdist_group("lab2-network-sizes")
@pytest.mark.claim(
    "lab2.dropout-helps-larger-nets",
    source="lab2 §3.7 Dropout",
    # Measured under both profiles (10 000 and all 60 000 training images).
    xfail=Finding(
        "dropout's gain does rise with the width, but at width 100 it falls with the depth: the "
        "deepest network gains least",
        fails=("dropout's gain rises with the depth",),
    ),
)
def test_dropout_helps_larger_nets(claim, lab2, device, seeds, profile):
    """Dropout tends to have more effect in deeper networks with more neurons.

    Dropout's gain = no regularization's final clean val cross-entropy minus
    that of the same network with Dropout(0.5) after each hidden ReLU (same
    seed, same initial weights), on the lab2 protocol. Decided by two
    monotone trends over paired seeds (Page's L, :func:`dlverify.stats.rank_trend`):
    the gain rises with the hidden width at depth 3, and with the depth at
    width 100. The report names no sizes; the documented experiment is taken
    as networks larger than its own: widths 100, 200, 400 and depths 3, 5, 7
    (``--profile full``). Under the default profile these cost more than the
    whole lab2 family, so the trend is measured up to the report's network
    instead (widths 25, 50, 100; depths 1, 2, 3): the same question — does
    dropout's gain grow with size — on smaller networks.
    """
    widths, depths = profile.pick(**DROPOUT_WIDTHS), profile.pick(**DROPOUT_DEPTHS)
    shapes = {"width": [(w, 3) for w in widths], "depth": [(100, d) for d in depths]}

    def gains(width: int, depth: int) -> list[float]:
        none = lab2.runs(sized("none", width, depth), seeds, device)
        drop = lab2.runs(sized("dropout", width, depth), seeds, device)
        return [n.val_ce[-1] - d.val_ce[-1] for n, d in zip(none, drop)]

    table = {axis: [gains(*shape) for shape in axis_shapes] for axis, axis_shapes in shapes.items()}
    _record_protocol(
        claim,
        lab2,
        device,
        seeds,
        dropout=DROPOUT,
        widths_at_depth_3=list(widths),
        depths_at_width_100=list(depths),
    )
    if not profile.full:
        documented = {(w, 3) for w in DROPOUT_WIDTHS["full"]} | {
            (100, d) for d in DROPOUT_DEPTHS["full"]
        }
        run = {(w, 3) for w in widths} | {(100, d) for d in depths}

        def cost(shapes_run) -> float:  # epochs × parameters of none and dropout, one seed
            sizes = [parse_configuration(sized("none", *shape))[1] for shape in shapes_run]
            return sum(2 * parameter_count(s) for s in sizes if s != SIZES) * lab2.epochs

        documented_cost = cost(documented) * FULL_TRAIN_SIZE
        run_cost = cost(run) * lab2.train_size
        claim.scaled(
            f"networks: documented widths {list(DROPOUT_WIDTHS['full'])} (depth 3) and "
            f"depths {list(DROPOUT_DEPTHS['full'])} (width 100) on 60 000 images, "
            f"{documented_cost:.2g} sample-passes × parameters per seed beyond the 3×100 "
            f"runs; run: widths {list(widths)} and depths {list(depths)} on "
            f"{lab2.train_size} images, {run_cost:.2g}; the documented sizes cost more "
            f"than the rest of lab2 together on 2 CPU cores"
        )
    claim.report(text="dropout tends to have more effect in deeper networks with more neurons")
    claim.measure(
        gain_vs_width={str(w): g for w, g in zip(widths, table["width"])},
        gain_vs_depth={str(d): g for d, g in zip(depths, table["depth"])},
    )
    fig = Figure(figsize=(5.5, 3.6))  # no pyplot: nothing global to register or close
    ax = fig.subplots()
    for axis, xs in (("width", widths), ("depth", depths)):
        ax.plot(
            range(len(xs)),
            [statistics.fmean(g) for g in table[axis]],
            "o-",
            label=f"vs {axis}: " + ", ".join(map(str, xs)),
        )
    ax.axhline(0, color="k", linewidth=0.6)
    ax.set_xticks(range(len(widths)), ["smallest", "middle", "largest"][: len(widths)])
    ax.set_ylabel("val CE (none) − val CE (dropout)")
    ax.set_title("Dropout's gain vs network size (mean over seeds)", fontsize=10)
    ax.legend(fontsize=8)
    claim.figure(fig, "dropout-gain")
    claim.expect(
        stats.rank_trend(widths, table["width"]), "dropout's gain rises with the hidden width"
    )
    claim.expect(stats.rank_trend(depths, table["depth"]), "dropout's gain rises with the depth")


@ON_ALL_IMAGES
@pytest.mark.claim("lab2.ones-init-large-activations", source="lab2 §4.2 Ones initialization")
def test_ones_init_large_activations(claim, lab2_documented, device, seeds):
    """With all-ones initialization the activations become very large, and so do the gradients.

    Measured before the first step on a fixed batch of 512 training images
    (the same for every seed and initializer): the mean |activation| of the
    last hidden layer, and the norm of the cross-entropy's gradient over all
    kernels. "Very large" is taken as at least an order of magnitude above
    random normal initialization's (std 0.05): decided paired over seeds on
    log10 (the seed moves only random normal's weights; every ones weight is 1).
    """
    ones, rnd = (
        lab2_documented.runs("ones", seeds, device),
        lab2_documented.runs("random", seeds, device),
    )
    pairs = (("ones", ones), ("random", rnd))
    act = {name: [math.log10(r.activations[-2]) for r in runs] for name, runs in pairs}
    grad = {name: [math.log10(r.kernel_grad_norm[0]) for r in runs] for name, runs in pairs}
    _record_protocol(
        claim,
        lab2_documented,
        device,
        seeds,
        probe_images=PROBE_SIZE,
        measured="before the first step",
    )
    claim.report(
        text="activations become very large, leading to excessively large gradients",
        train_loss=6223,
        val_loss=6089,
    )
    claim.measure(
        log10_last_hidden_activation=act,
        log10_kernel_grad_norm=grad,
        activations_per_layer={"ones": ones[0].activations, "random": rnd[0].activations},
        grad_norm_per_kernel={"ones": ones[0].grad_norms[0], "random": rnd[0].grad_norms[0]},
    )
    fig = Figure(figsize=(5.5, 3.6))  # no pyplot: nothing global to register or close
    ax = fig.subplots()
    for name, run in (("ones", ones[0]), ("random", rnd[0])):
        layers = range(1, len(run.activations) + 1)
        ax.semilogy(layers, run.activations, "o-", label=f"{LABELS[name]}: |a|")
        ax.semilogy(layers, run.grad_norms[0], "s--", label=f"{LABELS[name]}: ‖∂L/∂W‖")
    ax.set_xlabel("layer")
    ax.set_title(f"Before the first step (seed {seeds[0]})", fontsize=10)
    ax.legend(fontsize=7)
    claim.figure(fig, "step0")
    claim.expect(
        stats.compare_paired(act["ones"], act["random"], margin=ORDER_OF_MAGNITUDE),
        "last hidden layer's mean |activation| ≥ 10× random normal's",
    )
    claim.expect(
        stats.compare_paired(grad["ones"], grad["random"], margin=ORDER_OF_MAGNITUDE),
        "kernel gradient norm ≥ 10× random normal's",
    )


@ON_ALL_IMAGES
@pytest.mark.claim(
    "lab2.scaled-init-smoother",
    source="lab2 §4.4–4.5 Glorot and He Normal initialization",
    xfail=Finding(
        "on all 60 000 images random normal's per-layer gradient spread is larger than "
        "Glorot normal's, but its loss curve is smoother than He normal's, not rougher",
        fails=("loss-curve roughness of random normal above He normal's",),
    ),
)
def test_scaled_init_smoother(claim, lab2_documented, device, seeds):
    """Glorot normal keeps gradients stable, He normal gives smoother convergence, vs random normal.

    "Stable gradients" (Glorot): the spread across the four kernels of the
    per-weight RMS gradient (:func:`layer_rms_spread`, on the fixed probe
    batch, before step 1 and after every epoch, averaged) below random
    normal's (std 0.05). "Smoother convergence" (He): the step-to-step
    jitter of the log mini-batch loss after the first epoch
    (:func:`roughness`) below random normal's. Both paired over seeds.
    """
    runs = {name: lab2_documented.runs(name, seeds, device) for name in ("random", "glorot", "he")}
    spread = {name: [layer_rms_spread(r) for r in rs] for name, rs in runs.items()}
    rough = {
        name: [roughness(r, lab2_documented.steps_per_epoch) for r in rs]
        for name, rs in runs.items()
    }
    _record_protocol(claim, lab2_documented, device, seeds, probe_images=PROBE_SIZE)
    claim.report(
        text="Glorot normal ensures gradients remain stable; "
        "He normal ensures smoother convergence",
        train_loss={name: REPORTED_LOSSES[name][0] for name in runs},
        val_loss={name: REPORTED_LOSSES[name][1] for name in runs},
    )
    claim.measure(gradient_spread=spread, roughness=rough)
    claim.figure(
        curves(
            {LABELS[name]: rs[0].history.step_loss for name, rs in runs.items()},
            xlabel="step",
            title=f"Mini-batch loss (seed {seeds[0]})",
            logy=True,
        ),
        "step-loss",
    )
    claim.expect(
        stats.compare_paired(spread["random"], spread["glorot"]),
        "per-layer gradient spread of random normal above Glorot normal's",
    )
    claim.expect(
        stats.compare_paired(rough["random"], rough["he"]),
        "loss-curve roughness of random normal above He normal's",
    )
