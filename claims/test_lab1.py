"""Claims of the lab1 report: linear regression, then Fashion-MNIST softmax regression."""

from __future__ import annotations

import time

import pytest
import torch

from claims.lab1_linear import LR, STEPS, linear_run
from dlverify.report.figures import curves

ALL_NOISE = {"data_noise": True, "weight_noise": True, "lr_noise": True}


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
    same_curve = first.history.step_loss == again.history.step_loss
    differs = not torch.equal(first.weight, other.weight) and first.history.step_loss != other.history.step_loss
    claim.setup(device=str(device), steps=STEPS, lr=LR, noise="data, weights and learning rate")
    claim.report(statement="same seed gives identical results; without a fixed seed runs differ")
    claim.measure(same_seed_bitwise_params=same_params, same_seed_bitwise_loss_curve=same_curve,
                  seed0_final=first.final(), seed0_again_final=again.final(), seed1_final=other.final(),
                  seed0_vs_seed1_max_abs_loss_diff=max(abs(a - b) for a, b in zip(first.history.step_loss,
                                                                                   other.history.step_loss)))
    claim.figure(curves({"seed 0": first.history.step_loss, "seed 0 again": again.history.step_loss,
                         "seed 1": other.history.step_loss}, xlabel="step", ylabel="MSE", logy=True,
                        styles={"seed 0 again": ":"}, title="Noisy linear regression, three runs"),
                 "seed-runs")
    claim.expect(same_params and same_curve, "same seed: parameters and every step's loss identical bitwise")
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
    bitwise = all(torch.equal(a, b) for a, b in pairs.values())
    close = all(torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5) for a, b in pairs.values())
    claim.setup(gpu=torch.cuda.get_device_name(cuda_device), steps=STEPS, noise="data, weights and learning rate")
    claim.report(cpu_final_loss=0.9739, gpu_final_loss=0.9739, W=2.9249, b=1.7063)
    claim.measure(cpu_final=cpu.final(), gpu_final=gpu.final(), cpu_final_loss=cpu.history.step_loss[-1],
                  gpu_final_loss=gpu.history.step_loss[-1], max_abs_diff=diffs, bitwise_equal=bitwise)
    claim.expect(close, "CPU and GPU agree within float32 tolerance (W, b, final loss)")
