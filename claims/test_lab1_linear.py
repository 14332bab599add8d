"""Claims of the lab1 report, §1: linear regression ``y = 3x + 2 + ε`` by gradient descent.

The protocol and the choices the report leaves open are documented in
:mod:`claims.lab1_linear_protocol`; the runs are trained once per session and shared by
the claims below.
"""

from __future__ import annotations

import math
import statistics
import time

import pytest
import torch

from claims.lab1_linear_protocol import (
    BATCH_EPOCHS,
    BATCH_LRS,
    BATCH_SIZES,
    INITS,
    LOGGED_LR_DROPS,
    LOGGED_START,
    LOSS_MIX,
    LR,
    NOISE_SETTINGS,
    STEPS,
    TOLERANCE,
    TRUE_B,
    Column,
    LinearRuns,
    logged_column,
    logged_run,
)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.report.figures import curves, subplots

# The lab1 linear claims share trained runs: keep them on one xdist worker (the softmax claims,
# which share none of them, have their own group).
pytestmark = pytest.mark.xdist_group("lab1-linear")

EARLY = 500  # "early in training": the first fifth of the 2 500 steps
CENSORED = STEPS + 1  # steps-to-tolerance of a run that never got there: a lower bound


@pytest.fixture(scope="session")
def lab1_linear(run_cache) -> LinearRuns:
    return LinearRuns(run_cache)


# -- linear regression -----------------------------------------------------------------


def _record_protocol(claim, device, seeds, **extra):
    claim.setup(
        problem="y = 3x + 2 + N(0,1), x ~ N(0,1), 10 000 points",
        optimizer="full-batch gradient descent",
        lr=LR,
        steps=STEPS,
        device=str(device),
        seeds=list(seeds),
        common_metric="distance of (W, b) to (3, 2) = sqrt(held-out excess MSE)",
        tolerance=TOLERANCE,
        **extra,
    )


def _steps(bank, column) -> int:
    reached = bank.steps_to_tolerance(column)
    return CENSORED if reached is None else reached


@pytest.mark.claim(
    "lab1.hybrid-faster-than-mse",
    source="lab1 §1.1 Loss Function, Fig. 1",
    xfail=Finding(
        "on a metric common to the three losses (the distance of (W, b) to (3, 2)) MSE converges "
        "faster than the hybrid loss, not slower",
        fails=(
            "at step 500 the hybrid run is closer to (3, 2) than the MSE run",
            "the hybrid reaches the tolerance in fewer steps than MSE",
        ),
    ),
)
def test_hybrid_faster_than_mse(claim, lab1_linear, device, seeds):
    """The hybrid loss (0.5·|r| + 0.5·r²) converges faster than MSE and MAE early in training.

    Raw values of different losses are not comparable, so convergence is
    measured on one metric for all three: the distance of (W, b) to the truth
    (3, 2) (= the square root of the held-out excess MSE). Decided, paired
    over seeds: at step 500 (the first fifth of training) the hybrid is closer
    to (3, 2) than MSE and than MAE, and it reaches the tolerance 0.1 in fewer
    steps than MSE (a run that never reaches it counts as 2 501, a lower bound).
    """
    bank = lab1_linear.bank(seeds, device)
    early = {
        loss: [float(bank.distance(Column(s, loss))[EARLY]) for s in seeds] for loss in LOSS_MIX
    }
    to_tolerance = {
        loss: [bank.steps_to_tolerance(Column(s, loss)) for s in seeds] for loss in LOSS_MIX
    }
    steps = {loss: [_steps(bank, Column(s, loss)) for s in seeds] for loss in LOSS_MIX}
    _record_protocol(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(
        statement="hybrid decreases more rapidly early and converges faster than MSE and MAE"
    )
    claim.measure(
        distance_at_step_500=early,
        steps_to_tolerance=to_tolerance,
        final_W_b={loss: [bank.final(Column(s, loss)) for s in seeds] for loss in LOSS_MIX},
    )
    first = seeds[0]
    every = list(range(0, STEPS + 1, 25))
    claim.figure(
        curves(
            {loss: bank.column_loss(Column(first, loss), every) for loss in LOSS_MIX},
            x=every,
            xlabel="step",
            ylabel="own training loss (different units!)",
            logy=True,
            title=f"Each run's own loss, seed {first} (the report's Fig. 1)",
        ),
        "loss-curves-own-units",
    )
    claim.figure(
        curves(
            {loss: bank.distance(Column(first, loss))[every].tolist() for loss in LOSS_MIX},
            x=every,
            xlabel="step",
            ylabel="‖(W, b) − (3, 2)‖",
            logy=True,
            title=f"Common metric: distance to the truth, seed {first}",
        ),
        "loss-curves-common-metric",
    )
    claim.expect(
        stats.compare_paired(early["mse"], early["hybrid"], alternative="greater"),
        "at step 500 the hybrid run is closer to (3, 2) than the MSE run",
    )
    claim.expect(
        stats.compare_paired(early["mae"], early["hybrid"], alternative="greater"),
        "at step 500 the hybrid run is closer to (3, 2) than the MAE run",
    )
    claim.expect(
        stats.compare_paired(steps["mse"], steps["hybrid"], alternative="greater"),
        "the hybrid reaches the tolerance in fewer steps than MSE",
    )


@pytest.mark.claim("lab1.hybrid-beats-mae-final", source="lab1 §1.1 Loss Function, Fig. 1")
def test_hybrid_beats_mae_final(claim, lab1_linear, device, seeds):
    """The hybrid loss ends lower than MAE, and MAE decreases slowest.

    On the common metric (distance of (W, b) to (3, 2)), paired over seeds:
    after the 2 500 steps the hybrid run is closer than the MAE run; and
    "MAE decreases slowest" = at step 500 and at the end MAE's run is the
    farthest of the three (farther than MSE's and than the hybrid's).
    """
    bank = lab1_linear.bank(seeds, device)
    at = {
        step: {
            loss: [float(bank.distance(Column(s, loss))[step]) for s in seeds] for loss in LOSS_MIX
        }
        for step in (EARLY, STEPS)
    }
    _record_protocol(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(
        statement="hybrid reaches a lower final value than MAE, which decreases more slowly"
    )
    claim.measure(distance_at_step_500=at[EARLY], final_distance=at[STEPS])
    claim.expect(
        stats.compare_paired(at[STEPS]["mae"], at[STEPS]["hybrid"], alternative="greater"),
        "final distance to (3, 2): hybrid below MAE",
    )
    for step in (EARLY, STEPS):
        for other in ("mse", "hybrid"):
            claim.expect(
                stats.compare_paired(at[step]["mae"], at[step][other], alternative="greater"),
                f"at step {step} MAE is farther from (3, 2) than {other}",
            )


SHARP_SHARE = 0.5  # "a sharp initial decline": over half of the decrease in the first 20 % of steps


def _rises(values) -> int:
    """Steps at which a curve goes up."""
    return int((torch.as_tensor(values).diff() > 0).sum())


_FEWER_RISES = "on every seed the hybrid's distance rises at fewer steps than {}'s"


def _excess_variation(curve: torch.Tensor) -> float:
    """``Σ|d_{t+1} − d_t| − |d_T − d_0|``: the path beyond the net change (0 if monotone)."""
    return float(curve.diff().abs().sum() - (curve[-1] - curve[0]).abs())


@pytest.mark.claim(
    "lab1.hybrid-smoother",
    source="lab1 §1.1 Loss Function, Fig. 1",
    xfail=Finding(
        "under full-batch gradient descent the distance to (3, 2) falls "
        "at every step for all three losses, so the hybrid's convergence is "
        "not smoother than MSE's or MAE's",
        fails=tuple(_FEWER_RISES.format(o) for o in ("mse", "mae")),
    ),
)
def test_hybrid_smoother(claim, lab1_linear, device, seeds):
    """The hybrid loss converges more smoothly and stably than MSE and MAE.

    Smoothness on the common metric, the distance ``d_t`` of (W, b) to (3, 2)
    after each of the 2 500 steps (raw values of different losses are not
    comparable): the number of steps at which ``d`` rises, and the excess
    total variation ``Σ|d_{t+1} − d_t| − |d_T − d_0|`` (the path length spent
    going back and forth; 0 for a monotone curve). Decided on the rises: on
    every seed the hybrid's curve rises at fewer steps than MSE's and than
    MAE's. The runs are deterministic full-batch gradient descent (MSE, MAE,
    hybrid from (0, 0), lr 1e-3), so the counts have no seed-to-seed noise to
    average: a per-seed comparison, not an interval over seeds, which would
    be [0, 0] and never decide when the counts tie. The rises of each run's
    own loss (the report's Fig. 1) are measured too.
    """
    bank = lab1_linear.bank(seeds, device)
    every = list(range(STEPS + 1))
    distance = {loss: [bank.distance(Column(s, loss)) for s in seeds] for loss in LOSS_MIX}
    rises = {loss: [_rises(d) for d in curves_] for loss, curves_ in distance.items()}
    wiggle = {loss: [_excess_variation(d) for d in curves_] for loss, curves_ in distance.items()}
    own = {
        loss: [_rises(bank.column_loss(Column(s, loss), every)) for s in seeds] for loss in LOSS_MIX
    }
    _record_protocol(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(statement="the hybrid loss converges more smoothly and stably than MSE and MAE")
    claim.measure(
        steps_distance_rises=rises,
        excess_total_variation_of_distance=wiggle,
        steps_own_loss_rises=own,
    )
    first = seeds[0]
    change = {
        loss: (-curves_[0].diff()).clamp_min(1e-12).tolist() for loss, curves_ in distance.items()
    }
    claim.figure(
        curves(
            change,
            x=list(range(1, STEPS + 1)),
            xlabel="step",
            ylabel="decrease of ‖(W, b) − (3, 2)‖ per step",
            logy=True,
            title=f"Step-to-step progress on the common metric, seed {first}",
        ),
        "distance-steps",
    )
    for other in ("mse", "mae"):
        claim.expect(
            all(h < o for h, o in zip(rises["hybrid"], rises[other])), _FEWER_RISES.format(other)
        )


@pytest.mark.claim("lab1.mse-converges-low", source="lab1 §1.1 Loss Function, Fig. 1")
def test_mse_converges_low(claim, lab1_linear, device, seeds):
    """MSE also converges to a low value, with a sharp initial decline.

    On the common metric, the distance ``d`` of (W, b) to (3, 2), for the MSE,
    MAE and hybrid runs from (0, 0) (lr 1e-3, 2 500 steps), over seeds: "a low
    value" = MSE's final distance below the tolerance 0.1 of all lab1 linear
    claims, and within 0.1 of the best of the three losses' final distances
    (0 when MSE is the best); "a sharp initial decline" = more than half of
    its whole decrease ``(d_0 − d_500)/(d_0 − d_2500)`` falls in the first
    fifth of the steps (a decline at constant speed would put a fifth there).
    """
    bank = lab1_linear.bank(seeds, device)
    final = {loss: [float(bank.distance(Column(s, loss))[-1]) for s in seeds] for loss in LOSS_MIX}
    behind_best = [
        final["mse"][i] - min(final[loss][i] for loss in LOSS_MIX) for i in range(len(seeds))
    ]

    def share(column):
        d = bank.distance(column)
        return float((d[0] - d[EARLY]) / (d[0] - d[-1]))

    shares = {loss: [share(Column(s, loss)) for s in seeds] for loss in LOSS_MIX}
    _record_protocol(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(statement="MSE also converges to a low value; its initial decline is sharp")
    claim.measure(
        final_distance=final,
        mse_behind_best_final_distance=behind_best,
        share_of_decrease_in_first_500_steps=shares,
    )
    every = list(range(0, STEPS + 1, 25))
    fig = curves(
        {loss: bank.distance(Column(seeds[0], loss))[every].tolist() for loss in LOSS_MIX},
        x=every,
        xlabel="step",
        ylabel="‖(W, b) − (3, 2)‖",
        logy=True,
        title=f"Common metric, seed {seeds[0]}; first fifth of the steps left of the line",
    )
    fig.axes[0].axvline(EARLY, color="grey", linestyle=":")
    claim.figure(fig, "mse-decline")
    claim.expect(
        stats.compare_to_value(final["mse"], TOLERANCE, alternative="less"),
        "MSE ends within 0.1 of (3, 2)",
    )
    claim.expect(
        stats.compare_to_value(behind_best, TOLERANCE, alternative="less"),
        "MSE's final distance within 0.1 of the best loss's",
    )
    claim.expect(
        stats.compare_to_value(shares["mse"], SHARP_SHARE, alternative="greater"),
        "more than half of MSE's decrease in the first fifth of the steps",
    )


def _init_columns(seed):
    return {name: Column(seed, "mse", init) for name, init in INITS.items()}


@pytest.mark.claim("lab1.init-near-truth-immediate", source="lab1 §1.2 Init Variable, Fig. 2")
def test_init_near_truth_immediate(claim, lab1_linear, device, seeds):
    """Starting at W = 3, b = 2 the loss starts very low and convergence is almost immediate.

    MSE, gradient descent from each of the report's three starting points.
    Decided for every seed: from (3, 2) the run is within the tolerance 0.1 of
    (3, 2) from step 0 and stays there for all 2 500 steps, while the other
    two starts need more than 0 steps; its starting MSE is within 1 % of the
    noise floor (the least-squares minimum, ≈ 1) and below the starting MSE of
    the other two starts.
    """
    bank = lab1_linear.bank(seeds, device)
    steps = {
        name: [_steps(bank, c) for c in (_init_columns(s)[name] for s in seeds)] for name in INITS
    }
    start_mse = {
        name: [bank.clean_mse(_init_columns(s)[name], [0])[0] for s in seeds] for name in INITS
    }
    floors = [bank.noise_floor(_init_columns(s)["near truth (3, 2)"]) for s in seeds]
    worst_near = [float(bank.distance(_init_columns(s)["near truth (3, 2)"]).max()) for s in seeds]
    _record_protocol(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(
        statement="(3, 2): loss starts very low, converges almost immediately; others take longer"
    )
    claim.measure(
        steps_to_tolerance=steps,
        starting_mse=start_mse,
        noise_floor=floors,
        max_distance_from_truth_starting_at_truth=worst_near,
    )
    every = list(range(0, STEPS + 1, 25))
    first = _init_columns(seeds[0])
    claim.figure(
        curves(
            {name: bank.clean_mse(column, every) for name, column in first.items()},
            x=every,
            xlabel="step",
            ylabel="training MSE",
            logy=True,
            title=f"Three initializations, seed {seeds[0]} (the report's Fig. 2)",
        ),
        "init-curves",
    )
    near = "near truth (3, 2)"
    others = [name for name in INITS if name != near]
    claim.expect(
        all(v == 0 for v in steps[near]) and all(d <= TOLERANCE for d in worst_near),
        "from (3, 2): within tolerance at step 0 and throughout",
    )
    claim.expect(
        all(steps[name][i] > 0 for name in others for i in range(len(seeds))),
        "the other starts need steps to get there",
    )
    claim.expect(
        all(m <= 1.01 * f for m, f in zip(start_mse[near], floors)),
        "starting MSE from (3, 2) within 1 % of the noise floor",
    )
    claim.expect(
        all(start_mse[near][i] < start_mse[name][i] for name in others for i in range(len(seeds))),
        "starting MSE from (3, 2) below the other starts'",
    )


@pytest.mark.claim(
    "lab1.init-zero-slowest",
    source="lab1 §1.2 Init Variable, Fig. 2",
    xfail=Finding(
        "(1.5, −2.5) is slower than (0, 0): it starts farther from (3, 2), and the MSE's Hessian "
        "is close to 2·I here, so distance alone sets the time",
        fails=("(0, 0) needs more steps than far (1.5, -2.5)",),
    ),
)
def test_init_zero_slowest(claim, lab1_linear, device, seeds):
    """Of the starts (3, 2), (1.5, −2.5) and (0, 0), the (0, 0) start takes the longest to converge.

    MSE, gradient descent; steps until (W, b) is within 0.1 of (3, 2). Decided
    paired over seeds: (0, 0) needs more steps than (1.5, −2.5) and than (3, 2).
    """
    bank = lab1_linear.bank(seeds, device)
    steps = {name: [_steps(bank, _init_columns(s)[name]) for s in seeds] for name in INITS}
    distance = {
        name: float(torch.tensor(init).sub(torch.tensor([3.0, 2.0])).norm())
        for name, init in INITS.items()
    }
    _record_protocol(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(statement="(0, 0) takes the longest; (1.5, -2.5) longer than (3, 2)")
    claim.measure(steps_to_tolerance=steps, starting_distance_to_truth=distance)
    zero = "zero (0, 0)"
    for name in INITS:
        if name != zero:
            claim.expect(
                stats.compare_paired(steps[zero], steps[name], alternative="greater"),
                f"(0, 0) needs more steps than {name}",
            )


@pytest.mark.claim("lab1.init-all-converge", source="lab1 §1.2 Init Variable")
def test_init_all_converge(claim, lab1_linear, device, seeds):
    """Every initialization ends at W ≈ 3, b ≈ 2 given enough steps (a convex problem).

    MSE, 2 500 steps of gradient descent. "≈" is the tolerance of all lab1
    linear claims, fixed beforehand: (W, b) within 0.1 of (3, 2) (held-out
    excess MSE ≤ 0.01, 1 % of the noise variance), for every start and seed.
    """
    bank = lab1_linear.bank(seeds, device)
    final = {name: [bank.final(_init_columns(s)[name]) for s in seeds] for name in INITS}
    distance = {
        name: [float(bank.distance(_init_columns(s)[name])[-1]) for s in seeds] for name in INITS
    }
    _record_protocol(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(statement="all initializations converge to W ≈ 3, b ≈ 2")
    claim.measure(final_W_b=final, final_distance_to_truth=distance)
    claim.expect(
        all(d <= TOLERANCE for values in distance.values() for d in values),
        "every start ends within 0.1 of (3, 2)",
    )


LOGGED = "logged run (Fig. 4)"
_NOISE_SETUP = {name: sorted(noise) for name, noise in NOISE_SETTINGS.items()}
_LOGGED_SETUP = {
    "start": LOGGED_START,
    "lr_drops_after_step": LOGGED_LR_DROPS,
    "noise": "data, weights and learning rate",
}


def _noise_columns(seed):
    return {name: Column(seed, "mse", noise=noise) for name, noise in NOISE_SETTINGS.items()}


@pytest.mark.claim("lab1.noise-still-converges", source="lab1 §1.3 Noise, Fig. 3-4")
def test_noise_still_converges(claim, lab1_linear, device, seeds):
    """With noise on the data, on the weights and on the learning rate, training still converges.

    Final loss ≈ 1.0 (the report: 1.0098, and 0.9739 with all three) and W, b
    close to 3, 2 (the report: W = 2.92, b = 1.71). Each noise source alone
    and all three together (magnitudes in :mod:`claims.lab1_linear_protocol`), MSE,
    2 500 steps of gradient descent at lr 1e-3 from (0, 0) (Fig. 3). The
    reported W, b and 0.9739 come from the logged run of Fig. 4, which is run
    as logged (catalogue v2: from (2.9749, 1.8888), the learning rate dropped
    six times, all three noise sources; :func:`claims.lab1_linear_protocol.logged_run`)
    and decided like the other settings. Decided for every setting and seed:
    (W, b) within the tolerance 0.1 of (3, 2), and the final MSE on the clean
    training data at most 0.01 (1 % of the noise variance) above the noise
    floor (the least-squares minimum of that data).
    """
    bank = lab1_linear.bank(seeds, device)
    logged = lab1_linear.logged(seeds, device)
    runs = {name: [(bank, _noise_columns(s)[name]) for s in seeds] for name in NOISE_SETTINGS}
    runs[LOGGED] = [(logged, logged_column(s)) for s in seeds]
    final = {name: [run.final(c) for run, c in pairs] for name, pairs in runs.items()}
    distance = {
        name: [float(run.distance(c)[-1]) for run, c in pairs] for name, pairs in runs.items()
    }
    mse = {name: [run.clean_mse(c, [STEPS])[0] for run, c in pairs] for name, pairs in runs.items()}
    floors = [bank.noise_floor(Column(s)) for s in seeds]
    excess = {name: [m - f for m, f in zip(values, floors)] for name, values in mse.items()}
    _record_protocol(
        claim, device, seeds, loss="MSE", noise_settings=_NOISE_SETUP, logged_run=_LOGGED_SETUP
    )
    claim.report(final_loss_data_noise=1.0098, final_loss_all_noise=0.9739, W=2.9249, b=1.7063)
    claim.measure(
        final_W_b=final,
        final_distance_to_truth=distance,
        final_clean_mse=mse,
        noise_floor=floors,
        excess_mse=excess,
        logged_run_final_training_loss=[logged.step_loss(logged_column(s))[-1] for s in seeds],
    )
    every = list(range(0, STEPS + 1, 25))
    series = {"no noise": bank.clean_mse(Column(seeds[0]), every)}
    series.update(
        {name: bank.clean_mse(column, every) for name, column in _noise_columns(seeds[0]).items()}
    )
    series[LOGGED] = logged.clean_mse(logged_column(seeds[0]), every)
    claim.figure(
        curves(
            series,
            x=every,
            xlabel="step",
            ylabel="MSE on the clean data",
            logy=True,
            title=f"Noise on data, weights, learning rate; seed {seeds[0]} (Fig. 3)",
        ),
        "noise-curves",
    )
    claim.expect(
        all(d <= TOLERANCE for values in distance.values() for d in values),
        "every noisy run ends within 0.1 of (3, 2)",
    )
    claim.expect(
        all(e <= TOLERANCE**2 for values in excess.values() for e in values),
        "final clean MSE within 0.01 of the noise floor",
    )


@pytest.mark.claim(
    "lab1.noise-delays",
    source="lab1 §1.3 Noise",
    xfail=Finding(
        "not every noise source delays convergence confidently: data noise does, weight and "
        "learning-rate noise are within seed noise at the seed budget",
        fails=(
            "noise on weights: more steps to tolerance than without",
            "noise on learning rate: more steps to tolerance than without",
            "noise on all three: mean delay under 10 %",
        ),
    ),
)
def test_noise_delays(claim, lab1_linear, device, seeds):
    """Noise does not speed convergence up; it slightly delays it.

    For each noise source alone and all three together: steps until (W, b) is
    within 0.1 of (3, 2), paired by seed with the noiseless run (same data).
    Decided: the noisy run needs more steps (paired over seeds), and
    "slightly" = the mean delay is under 10 % of the noiseless steps.
    """
    bank = lab1_linear.bank(seeds, device)
    clean = [_steps(bank, Column(s)) for s in seeds]
    noisy = {
        name: [_steps(bank, _noise_columns(s)[name]) for s in seeds] for name in NOISE_SETTINGS
    }
    relative = {name: [n / c - 1 for n, c in zip(values, clean)] for name, values in noisy.items()}
    _record_protocol(
        claim,
        device,
        seeds,
        loss="MSE",
        noise_settings={k: sorted(v) for k, v in NOISE_SETTINGS.items()},
    )
    claim.report(
        statement="noise does not accelerate convergence; it slightly delays reaching lower loss"
    )
    claim.measure(
        steps_to_tolerance_without_noise=clean,
        steps_to_tolerance_with_noise=noisy,
        relative_delay=relative,
    )
    for name, values in noisy.items():
        claim.expect(
            stats.compare_paired(values, clean, alternative="greater"),
            f"noise on {name}: more steps to tolerance than without",
        )
        claim.expect(
            stats.compare_to_value(relative[name], 0.10, alternative="less"),
            f"noise on {name}: mean delay under 10 %",
        )


_NOISE_HURTS = (
    "data noise leaves the trained line farther from (3, 2), i.e. with a higher "
    "held-out MSE, and neither weight noise nor all three together lower it"
)
_GENERALIZES = "noise on {}: lower held-out MSE than without"


@pytest.mark.claim(
    "lab1.noise-improves-generalization",
    source="lab1 §1.3 Noise",
    xfail={
        "default": Finding(
            _NOISE_HURTS + " (only the mean-preserving learning-rate noise lowers it, by a hair)",
            fails=tuple(_GENERALIZES.format(name) for name in ("data", "weights", "all three")),
        ),
        "full": Finding(
            _NOISE_HURTS + " (only the mean-preserving learning-rate noise lowers it, by a hair)",
            fails=tuple(_GENERALIZES.format(name) for name in ("data", "weights", "all three")),
        ),
    },
)
def test_noise_improves_generalization(claim, lab1_linear, device, seeds):
    """Noise enhances robustness and generalization.

    Generalization = the held-out MSE of the trained line. Because x ~ N(0, 1)
    is independent of the noise ε ~ N(0, 1), a line's expected MSE on fresh
    data is exactly ``1 + (W − 3)² + (b − 2)²``, so it is computed, not
    sampled. Each noise source alone and all three together (MSE, 2 500 steps
    of gradient descent at lr 1e-3 from (0, 0), the runs of
    ``lab1.noise-still-converges``), paired by seed with the noiseless run on
    the same data. Decided for each setting: the noisy run's held-out MSE is
    below the noiseless run's, paired over seeds.
    """
    bank = lab1_linear.bank(seeds, device)

    def heldout(column):
        return 1.0 + float(bank.distance(column)[-1]) ** 2

    clean = [heldout(Column(s)) for s in seeds]
    noisy = {name: [heldout(_noise_columns(s)[name]) for s in seeds] for name in NOISE_SETTINGS}
    _record_protocol(
        claim,
        device,
        seeds,
        loss="MSE",
        noise_settings=_NOISE_SETUP,
        heldout_mse="1 + (W - 3)^2 + (b - 2)^2, exact for x ~ N(0, 1), noise N(0, 1)",
    )
    claim.report(statement="noise enhances robustness and generalization (acts as a regularizer)")
    claim.measure(
        heldout_mse_without_noise=clean,
        heldout_mse_with_noise=noisy,
        heldout_excess_over_noiseless={
            name: [n - c for n, c in zip(values, clean)] for name, values in noisy.items()
        },
    )
    every = list(range(0, STEPS + 1, 25))
    first = seeds[0]
    series = {"no noise": bank.distance(Column(first))[every].pow(2).tolist()}
    series.update(
        {
            name: bank.distance(column)[every].pow(2).tolist()
            for name, column in _noise_columns(first).items()
        }
    )
    claim.figure(
        curves(
            series,
            x=every,
            xlabel="step",
            ylabel="held-out MSE − 1",
            logy=True,
            title=f"Held-out excess MSE with and without noise, seed {first}",
        ),
        "noise-heldout",
    )
    for name, values in noisy.items():
        claim.expect(
            stats.compare_paired(clean, values, alternative="greater"), _GENERALIZES.format(name)
        )


LOG_STEPS = (0, 500, 1000, 1500, 2000)  # the steps the report's log prints, then its final loss


@pytest.mark.claim(
    "lab1.noise-run-trajectory",
    source="lab1 §1.3, Fig. 4",
    xfail=Finding(
        "rerun as logged, the noisy run's loss does go up and down "
        "between the logged steps, but b moves towards 2 rather than away "
        "from it: the noise magnitudes of this protocol do not reproduce "
        "the report's drift of b",
        fails=("b ends farther from 2 than it started (1.8888)",),
    ),
)
def test_noise_run_trajectory(claim, lab1_linear, device, seeds):
    """In the logged noisy run the loss does not fall steadily; b drifts from 2, W stays ≈ 2.92.

    The report's log: loss 0.9888, 0.9764, 0.9606, 0.9899, 1.0002 at steps 0,
    500, …, 2000 and 0.9739 at the end; b from 1.8888 to 1.7063; W 2.9249.
    Rerun as logged (catalogue v2): from W = 2.9749, b = 1.8888, lr 1e-3
    dropped after steps 799, 1099, …, 2299 to the printed values, with data,
    weight and learning-rate noise (:func:`claims.lab1_linear_protocol.logged_run`).
    The logged loss is taken as the training objective of the printed step
    (on that step's noisy data), the final one as the last step's. Decided
    over seeds: the six logged losses rise at least once (the mean number of
    rises between consecutive logged values is above 0), and b ends farther
    from 2 than it started (``|b_T − 2| − |1.8888 − 2|`` above 0 on average).
    W is measured, not decided (the catalogue decides on the loss and b).
    """
    logged = lab1_linear.logged(seeds, device)
    losses = {s: logged.step_loss(logged_column(s)) for s in seeds}
    at_log = [[losses[s][step] for step in LOG_STEPS] + [losses[s][-1]] for s in seeds]
    rises = [_rises(values) for values in at_log]
    path = {s: logged.trajectory[:, logged.index(logged_column(s))] for s in seeds}
    drift = [abs(float(path[s][-1, 1]) - TRUE_B) - abs(LOGGED_START[1] - TRUE_B) for s in seeds]
    claim.setup(
        problem="y = 3x + 2 + N(0,1), x ~ N(0,1), 10 000 points",
        loss="MSE",
        optimizer="full-batch gradient descent",
        lr=LR,
        steps=STEPS,
        device=str(device),
        seeds=list(seeds),
        **_LOGGED_SETUP,
    )
    claim.report(
        logged_loss=[0.9888, 0.9764, 0.9606, 0.9899, 1.0002, 0.9739],
        logged_W=[2.9749, 2.9434, 2.9212, 2.9131, 2.9232, 2.9249],
        logged_b=[1.8888, 1.8679, 1.8701, 1.8776, 1.7004, 1.7063],
    )
    printed = LOG_STEPS + (STEPS,)
    claim.measure(
        logged_loss=at_log,
        rises_between_logged_losses=rises,
        logged_W=[[float(path[s][step, 0]) for step in printed] for s in seeds],
        logged_b=[[float(path[s][step, 1]) for step in printed] for s in seeds],
        b_drift_away_from_2=drift,
        clean_mse_at_logged_steps=[logged.clean_mse(logged_column(s), printed) for s in seeds],
    )
    claim.figure(_logged_figure(at_log, path, seeds), "logged-run")
    claim.expect(
        stats.compare_to_value(rises, 0, alternative="greater"),
        "the logged loss rises at least once between the logged steps",
    )
    claim.expect(
        stats.compare_to_value(drift, 0, alternative="greater"),
        "b ends farther from 2 than it started (1.8888)",
    )


def _logged_figure(at_log, path, seeds):
    """Left: the logged losses, the report's and ours; right: b along the run."""
    fig, (left, right) = subplots(1, 2, figsize=(9, 3.4))
    steps = list(LOG_STEPS) + [STEPS]
    left.plot(steps, [0.9888, 0.9764, 0.9606, 0.9899, 1.0002, 0.9739], "ko-", label="report")
    right.plot(steps, [1.8888, 1.8679, 1.8701, 1.8776, 1.7004, 1.7063], "ko-", label="report")
    for index, seed in enumerate(seeds):
        left.plot(steps, at_log[index], ".-", linewidth=1, label=f"seed {seed}")
        right.plot(range(STEPS + 1), path[seed][:, 1].tolist(), linewidth=1, label=f"seed {seed}")
    for ax, ylabel in ((left, "training loss at the logged steps"), (right, "b")):
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    right.axhline(TRUE_B, color="grey", linestyle=":")
    left.legend(fontsize=7)
    fig.suptitle("The logged noisy run (the report's Fig. 4), rerun", fontsize=10)
    fig.tight_layout()
    return fig


@pytest.mark.claim("lab1.seed-reproducible", source="lab1 §1.3 Noise")
def test_seed_reproducible(claim, device):
    """With a fixed seed two runs give the same results bit for bit; different seeds give different runs.

    Protocol: the report's logged noisy run (Fig. 4), as logged (catalogue
    v2): from W = 2.9749, b = 1.8888, the learning rate dropped after steps
    799, 1099, …, 2299, and data, weight and learning-rate noise all on, so
    every random source is exercised (until catalogue v2 this test ran it
    from (0, 0) at a constant lr). Twice with seed 0 and once with seed 1, on
    the same device, each a separate training. "Without a fixed seed" is
    taken as "with another seed": an unseeded run is a run with an unknown seed.
    """
    first = logged_run(device=device, seed=0)
    again = logged_run(device=device, seed=0)
    other = logged_run(device=device, seed=1)
    same_params = torch.equal(first.weight, again.weight) and torch.equal(first.bias, again.bias)
    same_path = torch.equal(first.bank.trajectory, again.bank.trajectory)
    same_curve = first.history.step_loss == again.history.step_loss
    differs = (
        not torch.equal(first.weight, other.weight)
        and first.history.step_loss != other.history.step_loss
    )
    claim.setup(device=str(device), steps=STEPS, lr=LR, **_LOGGED_SETUP)
    claim.report(statement="same seed gives identical results; without a fixed seed runs differ")
    claim.measure(
        same_seed_bitwise_params=same_params,
        same_seed_bitwise_trajectory=same_path,
        same_seed_bitwise_loss_curve=same_curve,
        seed0_final=first.final(),
        seed0_again_final=again.final(),
        seed1_final=other.final(),
        seed0_vs_seed1_max_abs_loss_diff=max(
            abs(a - b) for a, b in zip(first.history.step_loss, other.history.step_loss)
        ),
    )
    claim.figure(
        curves(
            {
                "seed 0": first.history.step_loss,
                "seed 0 again": again.history.step_loss,
                "seed 1": other.history.step_loss,
            },
            xlabel="step",
            ylabel="MSE",
            logy=True,
            styles={"seed 0 again": ":"},
            title="Noisy linear regression, three runs",
        ),
        "seed-runs",
    )
    claim.expect(
        same_params and same_path and same_curve,
        "same seed: parameters after every step and every step's loss identical bitwise",
    )
    claim.expect(differs, "another seed: a different run")


@pytest.mark.claim("lab1.cpu-equals-gpu", source="lab1 §1.3, Fig. 4")
def test_cpu_equals_gpu(claim, cuda_device):
    """Under a fixed seed CPU and GPU give identical parameters and final loss (0.9739 on both).

    Protocol: the report's logged run, as logged (catalogue v2; until then this
    test ran it from (0, 0) at a constant lr): from W = 2.9749, b = 1.8888,
    the learning rate dropped after steps 799, 1099, …, 2299, all three noise
    sources, seed 0; data, initial state and noise are drawn once on the CPU
    and moved to each device. The
    claim is decided on agreement within float32 tolerance (|Δ| ≤ 1e-5 + 1e-5·|x|
    for W, b and the final loss), which is what the report's four printed
    decimals can show; bitwise equality is measured and reported separately,
    since GPU reductions may sum in another order.
    """
    cpu = logged_run(device="cpu", seed=0)
    gpu = logged_run(device=cuda_device, seed=0)
    pairs = {
        "W": (cpu.weight, gpu.weight.cpu()),
        "b": (cpu.bias, gpu.bias.cpu()),
        "final_loss": (
            torch.tensor(cpu.history.step_loss[-1]),
            torch.tensor(gpu.history.step_loss[-1]),
        ),
    }
    diffs = {name: float((a.double() - b.double()).abs()) for name, (a, b) in pairs.items()}
    bitwise = {name: torch.equal(a, b) for name, (a, b) in pairs.items()}
    path_diff = float((cpu.bank.trajectory.double() - gpu.bank.trajectory.double()).abs().max())
    close = all(
        torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5) for a, b in pairs.values()
    )
    claim.setup(gpu=torch.cuda.get_device_name(cuda_device), steps=STEPS, lr=LR, **_LOGGED_SETUP)
    claim.report(cpu_final_loss=0.9739, gpu_final_loss=0.9739, W=2.9249, b=1.7063)
    claim.measure(
        cpu_final=cpu.final(),
        gpu_final=gpu.final(),
        cpu_final_loss=cpu.history.step_loss[-1],
        gpu_final_loss=gpu.history.step_loss[-1],
        max_abs_diff=diffs,
        bitwise_equal=bitwise,
        bitwise_equal_trajectory=torch.equal(cpu.bank.trajectory, gpu.bank.trajectory),
        max_abs_diff_along_trajectory=path_diff,
    )
    claim.expect(close, "CPU and GPU agree within float32 tolerance (W, b, final loss)")


def _timed_run(device) -> float:
    """Wall seconds of one logged run (Fig. 4) on ``device``, synchronized."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    logged_run(device=device, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


@pytest.mark.claim("lab1.gpu-not-faster-small", source="lab1 §1.3, Fig. 4")
def test_gpu_not_faster_small(claim, cuda_device):
    """For this tiny problem the GPU is not faster than the CPU (10.65 s on CPU vs 14.79 s on GPU).

    The same run timed on both devices in this test: the report's logged run
    as logged (catalogue v2; until then a run from (0, 0) at a constant lr):
    from W = 2.9749, b = 1.8888, 2 500 steps, the learning rate dropped after
    steps 799, 1099, …, 2299, all three noise sources, seed 0. One short
    warm-up run per device (kernels, caches),
    then three timed runs per device, alternating, each synchronized. Decided
    on the ratio of the medians: GPU time / CPU time ≥ 1 (the GPU is not
    faster). A timing claim: it depends on the machine, recorded with the GPU's name.
    """
    cpu_device = torch.device("cpu")
    for device in (cpu_device, cuda_device):
        logged_run(device=device, seed=0, steps=50)
    times = {"cpu": [], "gpu": []}
    for _ in range(3):
        times["cpu"].append(_timed_run(cpu_device))
        times["gpu"].append(_timed_run(cuda_device))
    ratio = statistics.median(times["gpu"]) / statistics.median(times["cpu"])
    claim.setup(
        gpu=torch.cuda.get_device_name(cuda_device),
        cpu_threads=torch.get_num_threads(),
        steps=STEPS,
        repeats=3,
        warm_up="one 50-step run per device",
        **_LOGGED_SETUP,
    )
    claim.report(cpu_seconds=10.65, gpu_seconds=14.79, gpu_over_cpu=14.79 / 10.65)
    claim.measure(cpu_seconds=times["cpu"], gpu_seconds=times["gpu"], gpu_over_cpu_median=ratio)
    claim.expect(ratio >= 1.0, "GPU wall time at least the CPU's (median of 3)")


# -- batch size (stated in §2, decided on the linear problem) --------------------------------

UNSTABLE_LR = 0.1  # the learning rate instability is compared at (see test_small_batch_unstable)
_DOTTED = {f"batch {size}": ".-" for size in BATCH_SIZES}


def _record_batch_protocol(claim, device, seeds, **extra):
    claim.setup(
        problem="y = 3x + 2 + N(0,1), x ~ N(0,1), 10 000 points",
        loss="MSE",
        optimizer="mini-batch SGD (no momentum), reshuffled every epoch",
        init=(0.0, 0.0),
        batch_sizes=BATCH_SIZES,
        lrs=BATCH_LRS,
        epochs=BATCH_EPOCHS,
        device=str(device),
        seeds=list(seeds),
        **extra,
    )


@pytest.mark.claim("lab1.large-batch-needs-higher-lr", source="lab1 §2 batch size")
def test_large_batch_needs_higher_lr(claim, lab1_linear, device, seeds):
    """Larger batches need a higher learning rate.

    The report states this in its batch-size discussion without an experiment
    of its own; it is decided on lab1's linear problem, where a grid of
    learning rates × batch sizes × seeds costs a second: mini-batch SGD on the
    MSE from (0, 0), the batch sizes 32, 128, 512, 2048 of the report's
    batch-size study, 10 epochs for every batch size (equal epochs, as that
    study compares them), learning rates 1e-3 … 0.3 in half-decades. The best
    learning rate of a batch size is the one whose final line has the lowest
    held-out MSE ``1 + (W − 3)² + (b − 2)²`` (exact for this problem). Decided:
    the best learning rate rises with the batch size (Page's trend test over
    seeds, ranks within each seed).
    """
    grids = {size: lab1_linear.grid(seeds, size, device) for size in BATCH_SIZES}
    excess = {size: grid.excess_heldout_mse() for size, grid in grids.items()}  # (S, L)
    best = {
        size: [BATCH_LRS[i] for i in values.argmin(1).tolist()] for size, values in excess.items()
    }
    _record_batch_protocol(claim, device, seeds, best="lowest held-out MSE after the last epoch")
    claim.report(
        statement="larger batches often necessitate a higher learning rate for optimal performance"
    )
    claim.measure(
        best_lr=best, heldout_excess_mse={size: values.tolist() for size, values in excess.items()}
    )
    fig = curves(
        {f"batch {size}": values.mean(0).tolist() for size, values in excess.items()},
        x=list(BATCH_LRS),
        xlabel="learning rate",
        ylabel="held-out MSE − 1 (mean over seeds)",
        logy=True,
        styles=_DOTTED,
        title="After 10 epochs of SGD: which learning rate is best",
    )
    fig.axes[0].set_xscale("log")
    claim.figure(fig, "lr-grid")
    log_best = [[math.log10(lr) for lr in best[size]] for size in BATCH_SIZES]
    claim.expect(
        stats.rank_trend(BATCH_SIZES, log_best, alternative="increasing"),
        "the best learning rate rises with the batch size",
    )


@pytest.mark.claim("lab1.small-batch-unstable", source="lab1 §2 batch size")
def test_small_batch_unstable(claim, lab1_linear, device, seeds):
    """Small batches can make training unstable.

    The runs of ``lab1.large-batch-needs-higher-lr`` (linear problem, SGD on
    the MSE, batch sizes 32 … 2048, 10 epochs). Instability = how much the
    model's training loss jumps from step to step: the standard deviation of
    the step-to-step changes of the MSE on the whole training set (not the
    mini-batch's, whose noise is the sampling of the batch, not the model's)
    over the last epoch. Compared at one learning rate for every batch size,
    fixed beforehand: 0.1, a step size at which every batch size has left
    the initial descent by the last epoch (at 1e-3 the large batches are
    still descending, and their changes would measure progress, not
    instability). Decided: the instability falls as the batch size grows
    (Page's trend test over seeds); every learning rate of the grid is measured.
    """
    grids = {size: lab1_linear.grid(seeds, size, device) for size in BATCH_SIZES}
    column = BATCH_LRS.index(UNSTABLE_LR)

    def jumps(grid):  # (S, L): std of the step-to-step changes of the training MSE, last epoch
        return grid.train_mse()[-grid.steps_per_epoch - 1 :].diff(dim=0).std(0)

    spread = {size: jumps(grid) for size, grid in grids.items()}
    _record_batch_protocol(
        claim,
        device,
        seeds,
        compared_at_lr=UNSTABLE_LR,
        instability="std of the step-to-step changes of the whole-set MSE, last epoch",
    )
    claim.report(
        statement="smaller batches introduce variability ... they may create instability "
        "during training"
    )
    claim.measure(
        instability_at_lr_0_1={size: values[:, column].tolist() for size, values in spread.items()},
        instability_every_lr={size: values.tolist() for size, values in spread.items()},
    )
    first = 0
    series = {}
    for size, grid in grids.items():
        last = grid.train_mse()[-grid.steps_per_epoch - 1 :, first, column]
        series[f"batch {size}"] = last.tolist()
    fig, ax = subplots(figsize=(5.5, 3.6))
    for label, values in series.items():
        fraction = [i / (len(values) - 1) for i in range(len(values))]
        ax.plot(fraction, values, linewidth=1, label=label)
    ax.set_xlabel("fraction of the last epoch")
    ax.set_ylabel("MSE on the whole training set")
    ax.set_yscale("log")
    ax.set_title(f"Last epoch at lr {UNSTABLE_LR}, seed {seeds[first]}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    claim.figure(fig, "last-epoch")
    at_lr = [spread[size][:, column].tolist() for size in BATCH_SIZES]
    claim.expect(
        stats.rank_trend(BATCH_SIZES, at_lr, alternative="decreasing"),
        "the step-to-step jumps of the training loss shrink as the batch grows",
    )
