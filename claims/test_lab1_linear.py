"""Claims of the lab1 report, §1: linear regression ``y = 3x + 2 + ε`` by gradient descent.

The protocol and the choices the report leaves open are documented in
:mod:`claims.lab1_linear`; the runs are trained once per session and shared by
the claims below.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from claims.lab1_linear import (ALL_NOISE, INITS, LOSS_MIX, LR, NOISE_SETTINGS, STEPS, TOLERANCE, Column,
                                LinearRuns, linear_run)
from dlverify import stats
from dlverify.evidence import Finding
from dlverify.report.figures import curves

# The lab1 claims share trained models: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("lab1")

EARLY = 500  # "early in training": the first fifth of the 2 500 steps
CENSORED = STEPS + 1  # steps-to-tolerance of a run that never got there: a lower bound


@pytest.fixture(scope="session")
def lab1_linear() -> LinearRuns:
    return LinearRuns()


# -- linear regression -----------------------------------------------------------------

def _linear_setup(claim, device, seeds, **extra):
    claim.setup(problem="y = 3x + 2 + N(0,1), x ~ N(0,1), 10 000 points", optimizer="full-batch gradient descent",
                lr=LR, steps=STEPS, device=str(device), seeds=list(seeds),
                common_metric="distance of (W, b) to (3, 2) = sqrt(held-out excess MSE)",
                tolerance=TOLERANCE, **extra)


def _steps(bank, column) -> int:
    reached = bank.steps_to_tolerance(column)
    return CENSORED if reached is None else reached


@pytest.mark.claim("lab1.hybrid-faster-than-mse", source="lab1 §1.1 Loss Function, Fig. 1",
                   xfail=Finding("on a metric common to the three losses (the distance of (W, b) to (3, 2)) MSE converges faster than the hybrid loss, not slower", fails=('at step 500 the hybrid run is closer to (3, 2) than the MSE run', 'the hybrid reaches the tolerance in fewer steps than MSE')))
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
    early = {loss: [float(bank.distance(Column(s, loss))[EARLY]) for s in seeds] for loss in LOSS_MIX}
    to_tolerance = {loss: [bank.steps_to_tolerance(Column(s, loss)) for s in seeds] for loss in LOSS_MIX}
    steps = {loss: [_steps(bank, Column(s, loss)) for s in seeds] for loss in LOSS_MIX}
    _linear_setup(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(statement="hybrid decreases more rapidly early and converges faster than MSE and MAE")
    claim.measure(distance_at_step_500=early, steps_to_tolerance=to_tolerance,
                  final_W_b={loss: [bank.final(Column(s, loss)) for s in seeds] for loss in LOSS_MIX})
    first = seeds[0]
    every = list(range(0, STEPS + 1, 25))
    claim.figure(curves({loss: bank.column_loss(Column(first, loss), every) for loss in LOSS_MIX}, x=every,
                        xlabel="step", ylabel="own training loss (different units!)", logy=True,
                        title=f"Each run's own loss, seed {first} (the report's Fig. 1)"), "loss-curves-own-units")
    claim.figure(curves({loss: bank.distance(Column(first, loss))[every].tolist() for loss in LOSS_MIX}, x=every,
                        xlabel="step", ylabel="‖(W, b) − (3, 2)‖", logy=True,
                        title=f"Common metric: distance to the truth, seed {first}"), "loss-curves-common-metric")
    claim.expect(stats.compare_paired(early["mse"], early["hybrid"], alternative="greater"),
                 "at step 500 the hybrid run is closer to (3, 2) than the MSE run")
    claim.expect(stats.compare_paired(early["mae"], early["hybrid"], alternative="greater"),
                 "at step 500 the hybrid run is closer to (3, 2) than the MAE run")
    claim.expect(stats.compare_paired(steps["mse"], steps["hybrid"], alternative="greater"),
                 "the hybrid reaches the tolerance in fewer steps than MSE")


@pytest.mark.claim("lab1.hybrid-beats-mae-final", source="lab1 §1.1 Loss Function, Fig. 1")
def test_hybrid_beats_mae_final(claim, lab1_linear, device, seeds):
    """The hybrid loss ends lower than MAE, and MAE decreases slowest.

    On the common metric (distance of (W, b) to (3, 2)), paired over seeds:
    after the 2 500 steps the hybrid run is closer than the MAE run; and
    "MAE decreases slowest" = at step 500 and at the end MAE's run is the
    farthest of the three (farther than MSE's and than the hybrid's).
    """
    bank = lab1_linear.bank(seeds, device)
    at = {step: {loss: [float(bank.distance(Column(s, loss))[step]) for s in seeds] for loss in LOSS_MIX}
          for step in (EARLY, STEPS)}
    _linear_setup(claim, device, seeds, losses="MSE, MAE, hybrid (α = 0.5)", init=(0.0, 0.0))
    claim.report(statement="hybrid reaches a lower final value than MAE, which decreases more slowly")
    claim.measure(distance_at_step_500=at[EARLY], final_distance=at[STEPS])
    claim.expect(stats.compare_paired(at[STEPS]["mae"], at[STEPS]["hybrid"], alternative="greater"),
                 "final distance to (3, 2): hybrid below MAE")
    for step in (EARLY, STEPS):
        for other in ("mse", "hybrid"):
            claim.expect(stats.compare_paired(at[step]["mae"], at[step][other], alternative="greater"),
                         f"at step {step} MAE is farther from (3, 2) than {other}")


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
    steps = {name: [_steps(bank, c) for c in (_init_columns(s)[name] for s in seeds)] for name in INITS}
    start_mse = {name: [bank.clean_mse(_init_columns(s)[name], [0])[0] for s in seeds] for name in INITS}
    floors = [bank.noise_floor(_init_columns(s)["near truth (3, 2)"]) for s in seeds]
    worst_near = [float(bank.distance(_init_columns(s)["near truth (3, 2)"]).max()) for s in seeds]
    _linear_setup(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(statement="(3, 2): loss starts very low, converges almost immediately; others take longer")
    claim.measure(steps_to_tolerance=steps, starting_mse=start_mse, noise_floor=floors,
                  max_distance_from_truth_starting_at_truth=worst_near)
    every = list(range(0, STEPS + 1, 25))
    first = _init_columns(seeds[0])
    claim.figure(curves({name: bank.clean_mse(column, every) for name, column in first.items()}, x=every,
                        xlabel="step", ylabel="training MSE", logy=True,
                        title=f"Three initializations, seed {seeds[0]} (the report's Fig. 2)"), "init-curves")
    near = "near truth (3, 2)"
    others = [name for name in INITS if name != near]
    claim.expect(all(v == 0 for v in steps[near]) and all(d <= TOLERANCE for d in worst_near),
                 "from (3, 2): within tolerance at step 0 and throughout")
    claim.expect(all(steps[name][i] > 0 for name in others for i in range(len(seeds))),
                 "the other starts need steps to get there")
    claim.expect(all(m <= 1.01 * f for m, f in zip(start_mse[near], floors)),
                 "starting MSE from (3, 2) within 1 % of the noise floor")
    claim.expect(all(start_mse[near][i] < start_mse[name][i] for name in others for i in range(len(seeds))),
                 "starting MSE from (3, 2) below the other starts'")


@pytest.mark.claim("lab1.init-zero-slowest", source="lab1 §1.2 Init Variable, Fig. 2",
                   xfail=Finding("(1.5, −2.5) is slower than (0, 0): it starts farther from (3, 2), and the MSE's Hessian is close to 2·I here, so distance alone sets the time", fails=('(0, 0) needs more steps than far (1.5, -2.5)',)))
def test_init_zero_slowest(claim, lab1_linear, device, seeds):
    """Of the starts (3, 2), (1.5, −2.5) and (0, 0), the (0, 0) start takes the longest to converge.

    MSE, gradient descent; steps until (W, b) is within 0.1 of (3, 2). Decided
    paired over seeds: (0, 0) needs more steps than (1.5, −2.5) and than (3, 2).
    """
    bank = lab1_linear.bank(seeds, device)
    steps = {name: [_steps(bank, _init_columns(s)[name]) for s in seeds] for name in INITS}
    distance = {name: float(torch.tensor(init).sub(torch.tensor([3.0, 2.0])).norm()) for name, init in INITS.items()}
    _linear_setup(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(statement="(0, 0) takes the longest; (1.5, -2.5) longer than (3, 2)")
    claim.measure(steps_to_tolerance=steps, starting_distance_to_truth=distance)
    zero = "zero (0, 0)"
    for name in INITS:
        if name != zero:
            claim.expect(stats.compare_paired(steps[zero], steps[name], alternative="greater"),
                         f"(0, 0) needs more steps than {name}")


@pytest.mark.claim("lab1.init-all-converge", source="lab1 §1.2 Init Variable")
def test_init_all_converge(claim, lab1_linear, device, seeds):
    """Every initialization ends at W ≈ 3, b ≈ 2 given enough steps (a convex problem).

    MSE, 2 500 steps of gradient descent. "≈" is the tolerance of all lab1
    linear claims, fixed beforehand: (W, b) within 0.1 of (3, 2) (held-out
    excess MSE ≤ 0.01, 1 % of the noise variance), for every start and seed.
    """
    bank = lab1_linear.bank(seeds, device)
    final = {name: [bank.final(_init_columns(s)[name]) for s in seeds] for name in INITS}
    distance = {name: [float(bank.distance(_init_columns(s)[name])[-1]) for s in seeds] for name in INITS}
    _linear_setup(claim, device, seeds, loss="MSE", inits=INITS)
    claim.report(statement="all initializations converge to W ≈ 3, b ≈ 2")
    claim.measure(final_W_b=final, final_distance_to_truth=distance)
    claim.expect(all(d <= TOLERANCE for values in distance.values() for d in values),
                 "every start ends within 0.1 of (3, 2)")


def _noise_columns(seed):
    return {name: Column(seed, "mse", noise=noise) for name, noise in NOISE_SETTINGS.items()}


@pytest.mark.claim("lab1.noise-still-converges", source="lab1 §1.3 Noise, Fig. 3-4")
def test_noise_still_converges(claim, lab1_linear, device, seeds):
    """With noise on the data, on the weights and on the learning rate, training still converges.

    Final loss ≈ 1.0 (the report: 1.0098, and 0.9739 with all three) and W, b
    close to 3, 2 (the report: W = 2.92, b = 1.71). Each noise source alone
    and all three together (magnitudes in :mod:`claims.lab1_linear`), MSE,
    2 500 steps. Decided for every setting and seed: (W, b) within the
    tolerance 0.1 of (3, 2), and the final MSE on the clean training data at
    most 0.01 (1 % of the noise variance) above the noise floor (the
    least-squares minimum of that data). The report's patience-based lr decay
    is not part of the protocol.
    """
    bank = lab1_linear.bank(seeds, device)
    final = {name: [bank.final(_noise_columns(s)[name]) for s in seeds] for name in NOISE_SETTINGS}
    distance = {name: [float(bank.distance(_noise_columns(s)[name])[-1]) for s in seeds] for name in NOISE_SETTINGS}
    mse = {name: [bank.clean_mse(_noise_columns(s)[name], [STEPS])[0] for s in seeds] for name in NOISE_SETTINGS}
    floors = [bank.noise_floor(Column(s)) for s in seeds]
    excess = {name: [m - f for m, f in zip(values, floors)] for name, values in mse.items()}
    _linear_setup(claim, device, seeds, loss="MSE", noise_settings={k: sorted(v) for k, v in NOISE_SETTINGS.items()})
    claim.report(final_loss_data_noise=1.0098, final_loss_all_noise=0.9739, W=2.9249, b=1.7063)
    claim.measure(final_W_b=final, final_distance_to_truth=distance, final_clean_mse=mse, noise_floor=floors,
                  excess_mse=excess)
    every = list(range(0, STEPS + 1, 25))
    series = {"no noise": bank.clean_mse(Column(seeds[0]), every)}
    series.update({name: bank.clean_mse(column, every) for name, column in _noise_columns(seeds[0]).items()})
    claim.figure(curves(series, x=every, xlabel="step", ylabel="MSE on the clean data", logy=True,
                        title=f"Noise on data, weights, learning rate; seed {seeds[0]} (Fig. 3)"), "noise-curves")
    claim.expect(all(d <= TOLERANCE for values in distance.values() for d in values),
                 "every noisy run ends within 0.1 of (3, 2)")
    claim.expect(all(e <= TOLERANCE**2 for values in excess.values() for e in values),
                 "final clean MSE within 0.01 of the noise floor")


@pytest.mark.claim("lab1.noise-delays", source="lab1 §1.3 Noise",
                   xfail=Finding("not every noise source delays convergence confidently: data noise does, weight and learning-rate noise are within seed noise at the seed budget", fails=('noise on weights: more steps to tolerance than without', 'noise on learning rate: more steps to tolerance than without', 'noise on all three: mean delay under 10 %')))
def test_noise_delays(claim, lab1_linear, device, seeds):
    """Noise does not speed convergence up; it slightly delays it.

    For each noise source alone and all three together: steps until (W, b) is
    within 0.1 of (3, 2), paired by seed with the noiseless run (same data).
    Decided: the noisy run needs more steps (paired over seeds), and
    "slightly" = the mean delay is under 10 % of the noiseless steps.
    """
    bank = lab1_linear.bank(seeds, device)
    clean = [_steps(bank, Column(s)) for s in seeds]
    noisy = {name: [_steps(bank, _noise_columns(s)[name]) for s in seeds] for name in NOISE_SETTINGS}
    relative = {name: [n / c - 1 for n, c in zip(values, clean)] for name, values in noisy.items()}
    _linear_setup(claim, device, seeds, loss="MSE", noise_settings={k: sorted(v) for k, v in NOISE_SETTINGS.items()})
    claim.report(statement="noise does not accelerate convergence; it slightly delays reaching lower loss")
    claim.measure(steps_to_tolerance_without_noise=clean, steps_to_tolerance_with_noise=noisy,
                  relative_delay=relative)
    for name, values in noisy.items():
        claim.expect(stats.compare_paired(values, clean, alternative="greater"),
                     f"noise on {name}: more steps to tolerance than without")
        claim.expect(stats.compare_to_value(relative[name], 0.10, alternative="less"),
                     f"noise on {name}: mean delay under 10 %")


@pytest.mark.claim("lab1.seed-reproducible", source="lab1 §1.3 Noise")
def test_seed_reproducible(claim, device):
    """With a fixed seed two runs give the same results bit for bit; different seeds give different runs.

    Protocol: the noisy linear-regression run (data, weight and learning-rate
    noise all on, so every random source is exercised), twice with seed 0 and
    once with seed 1, on the same device. "Without a fixed seed" is taken as
    "with another seed": an unseeded run is a run with an unknown seed.
    """
    first = linear_run(device=device, seed=0, **ALL_NOISE)
    again = linear_run(device=device, seed=0, **ALL_NOISE)
    other = linear_run(device=device, seed=1, **ALL_NOISE)
    same_params = torch.equal(first.weight, again.weight) and torch.equal(first.bias, again.bias)
    same_path = torch.equal(first.bank.trajectory, again.bank.trajectory)
    same_curve = first.history.step_loss == again.history.step_loss
    differs = not torch.equal(first.weight, other.weight) and first.history.step_loss != other.history.step_loss
    claim.setup(device=str(device), steps=STEPS, lr=LR, noise="data, weights and learning rate")
    claim.report(statement="same seed gives identical results; without a fixed seed runs differ")
    claim.measure(same_seed_bitwise_params=same_params, same_seed_bitwise_trajectory=same_path,
                  same_seed_bitwise_loss_curve=same_curve,
                  seed0_final=first.final(), seed0_again_final=again.final(), seed1_final=other.final(),
                  seed0_vs_seed1_max_abs_loss_diff=max(abs(a - b) for a, b in zip(first.history.step_loss,
                                                                                   other.history.step_loss)))
    claim.figure(curves({"seed 0": first.history.step_loss, "seed 0 again": again.history.step_loss,
                         "seed 1": other.history.step_loss}, xlabel="step", ylabel="MSE", logy=True,
                        styles={"seed 0 again": ":"}, title="Noisy linear regression, three runs"),
                 "seed-runs")
    claim.expect(same_params and same_path and same_curve,
                 "same seed: parameters after every step and every step's loss identical bitwise")
    claim.expect(differs, "another seed: a different run")


@pytest.mark.claim("lab1.cpu-equals-gpu", source="lab1 §1.3, Fig. 4")
def test_cpu_equals_gpu(claim, cuda_device):
    """Under a fixed seed CPU and GPU give identical parameters and final loss (0.9739 on both).

    Protocol: the noisy run (all three noise sources) with seed 0; data, initial
    state and noise are drawn once on the CPU and moved to each device. The
    claim is decided on agreement within float32 tolerance (|Δ| ≤ 1e-5 + 1e-5·|x|
    for W, b and the final loss), which is what the report's four printed
    decimals can show; bitwise equality is measured and reported separately,
    since GPU reductions may sum in another order.
    """
    cpu = linear_run(device="cpu", seed=0, **ALL_NOISE)
    gpu = linear_run(device=cuda_device, seed=0, **ALL_NOISE)
    pairs = {"W": (cpu.weight, gpu.weight.cpu()), "b": (cpu.bias, gpu.bias.cpu()),
             "final_loss": (torch.tensor(cpu.history.step_loss[-1]), torch.tensor(gpu.history.step_loss[-1]))}
    diffs = {name: float((a.double() - b.double()).abs()) for name, (a, b) in pairs.items()}
    bitwise = {name: torch.equal(a, b) for name, (a, b) in pairs.items()}
    path_diff = float((cpu.bank.trajectory.double() - gpu.bank.trajectory.double()).abs().max())
    close = all(torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5) for a, b in pairs.values())
    claim.setup(gpu=torch.cuda.get_device_name(cuda_device), steps=STEPS, noise="data, weights and learning rate")
    claim.report(cpu_final_loss=0.9739, gpu_final_loss=0.9739, W=2.9249, b=1.7063)
    claim.measure(cpu_final=cpu.final(), gpu_final=gpu.final(), cpu_final_loss=cpu.history.step_loss[-1],
                  gpu_final_loss=gpu.history.step_loss[-1], max_abs_diff=diffs, bitwise_equal=bitwise,
                  bitwise_equal_trajectory=torch.equal(cpu.bank.trajectory, gpu.bank.trajectory),
                  max_abs_diff_along_trajectory=path_diff)
    claim.expect(close, "CPU and GPU agree within float32 tolerance (W, b, final loss)")


def _timed_run(device) -> float:
    """Wall seconds of one full noisy linear run on ``device``, synchronized."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    linear_run(device=device, seed=0, **ALL_NOISE)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


@pytest.mark.claim("lab1.gpu-not-faster-small", source="lab1 §1.3, Fig. 4")
def test_gpu_not_faster_small(claim, cuda_device):
    """For this tiny problem the GPU is not faster than the CPU (10.65 s on CPU vs 14.79 s on GPU).

    The same run (noisy linear regression, seed 0, 2 500 steps) timed on both
    devices in this test: one short warm-up run per device (kernels, caches),
    then three timed runs per device, alternating, each synchronized. Decided
    on the ratio of the medians: GPU time / CPU time ≥ 1 (the GPU is not
    faster). A timing claim: it depends on the machine, recorded with the GPU's name.
    """
    cpu_device = torch.device("cpu")
    for device in (cpu_device, cuda_device):
        linear_run(device=device, seed=0, steps=50, **ALL_NOISE)
    times = {"cpu": [], "gpu": []}
    for _ in range(3):
        times["cpu"].append(_timed_run(cpu_device))
        times["gpu"].append(_timed_run(cuda_device))
    ratio = statistics.median(times["gpu"]) / statistics.median(times["cpu"])
    claim.setup(gpu=torch.cuda.get_device_name(cuda_device), cpu_threads=torch.get_num_threads(), steps=STEPS,
                repeats=3, warm_up="one 50-step run per device")
    claim.report(cpu_seconds=10.65, gpu_seconds=14.79, gpu_over_cpu=14.79 / 10.65)
    claim.measure(cpu_seconds=times["cpu"], gpu_seconds=times["gpu"], gpu_over_cpu_median=ratio)
    claim.expect(ratio >= 1.0, "GPU wall time at least the CPU's (median of 3)")
