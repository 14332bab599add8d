"""The contract every probe follows (docs/architecture.md, dlverify.probes).

Probes leave the caller's model alone (parameters, buffers, requires_grad,
.grad, train/eval mode), refuse a train-mode model whose output depends on the
mode, raise clear errors on bad input, and run on the model's device.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlverify.data import TensorData
from dlverify.errors import ConvergenceWarning, ModelModeError, NonFiniteLossError, ProbeError
from dlverify.probes import (
    grad_norm,
    hessian,
    hvp,
    interpolate,
    minimal_ratio,
    near_zero_weight_ratio,
    per_layer_grad_norms,
    saturation,
    sensitivity,
    sharpness,
    top_eigenvalue,
)
from tests.conftest import DEVICES, batch, classifier


def count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_every_probe(model, data, other=None):
    """Call each probe that takes a model once (cheap settings); return their results."""
    x, _ = data if isinstance(data, tuple) else data[0]
    g = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    v = torch.ones(count(model), device=device)
    other = model if other is None else other
    return {
        "grad_norm": grad_norm(model, F.cross_entropy, data),
        "per_layer_grad_norms": per_layer_grad_norms(model, F.cross_entropy, data),
        "hvp": hvp(model, F.cross_entropy, data, v),
        "hessian": hessian(model, F.cross_entropy, data),
        "top_eigenvalue": few_lanczos_steps(model, data, g),
        "minimal_ratio": minimal_ratio(model, F.cross_entropy, data),
        "sharpness": sharpness(model, F.cross_entropy, data, steps=2, restarts=1, generator=g),
        "interpolate": interpolate(model, other, F.cross_entropy, data, [0.0, 0.5, 1.0]),
        "sensitivity": sensitivity(model, x),
        "saturation": saturation(model, x, "2"),
        "near_zero_weight_ratio": near_zero_weight_ratio(model, 0.1),
    }


def few_lanczos_steps(model, data, generator):
    """5 Lanczos steps: cheap, and not converged (the warning is expected, not the point here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return top_eigenvalue(model, F.cross_entropy, data, max_iter=5, generator=generator)


def snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {
            n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
        },
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "hooks": {
            n: (len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in model.named_modules()
        },
    }


def assert_same(before, after):
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), k
    for n, g in before["grads"].items():
        now = after["grads"][n]
        assert (g is None) == (now is None), n
        assert g is None or torch.equal(g, now), n
    assert before["requires_grad"] == after["requires_grad"]
    assert before["training"] == after["training"]
    assert before["hooks"] == after["hooks"]


# --- the caller's model is left alone -------------------------------------------------------


def test_probes_leave_an_eval_mode_model_untouched():
    model = classifier().eval()
    with torch.no_grad():  # non-trivial running statistics, so changes would show
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    model[4].bias.requires_grad_(False)
    model(batch()[0]).sum().backward()  # populated .grad fields
    before = snapshot(model)
    run_every_probe(model, batch())
    assert_same(before, snapshot(model))


def test_probes_leave_a_pure_model_in_training_mode_untouched():
    model = classifier(dropout=False, batchnorm=False)
    assert model.training
    before = snapshot(model)
    results = run_every_probe(model, batch())
    assert_same(before, snapshot(model))
    assert results["grad_norm"] > 0


def test_probe_results_do_not_depend_on_a_pure_model_mode():
    model = classifier(dropout=False, batchnorm=False)
    data = batch()
    train = grad_norm(model, F.cross_entropy, data)
    assert grad_norm(copy.deepcopy(model).eval(), F.cross_entropy, data) == train


# --- train mode with mode-dependent modules is refused --------------------------------------


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
def test_every_model_probe_refuses_training_mode_with_mode_dependent_modules(kind):
    model = classifier(dropout=kind == "dropout", batchnorm=kind == "batchnorm")
    module = "3" if kind == "dropout" else "1"
    x, y = batch()
    calls = {
        "grad_norm": lambda: grad_norm(model, F.cross_entropy, (x, y)),
        "per_layer_grad_norms": lambda: per_layer_grad_norms(model, F.cross_entropy, (x, y)),
        "hvp": lambda: hvp(model, F.cross_entropy, (x, y), torch.ones(count(model))),
        "hessian": lambda: hessian(model, F.cross_entropy, (x, y)),
        "top_eigenvalue": lambda: top_eigenvalue(model, F.cross_entropy, (x, y)),
        "minimal_ratio": lambda: minimal_ratio(model, F.cross_entropy, (x, y)),
        "sharpness": lambda: sharpness(model, F.cross_entropy, (x, y)),
        "interpolate": lambda: interpolate(model, model, F.cross_entropy, (x, y), [0.5]),
        "sensitivity": lambda: sensitivity(model, x),
        "saturation": lambda: saturation(model, x, "2"),
    }
    for call in calls.values():
        with pytest.raises(
            ModelModeError, match=rf"training mode .*'{module}'.*call model(_a)?\.eval\(\)"
        ):
            call()
    assert model.training and all(m.training for m in model.modules())


def test_interpolate_names_the_model_in_training_mode():
    x, y = batch()
    with pytest.raises(ModelModeError, match=r"model_b is in training mode.*model_b\.eval\(\)"):
        interpolate(classifier().eval(), classifier(), F.cross_entropy, (x, y), [0.5])


def test_batchnorm_without_running_statistics_is_mode_independent():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False))
    assert grad_norm(model, F.cross_entropy, batch()) > 0


# --- errors ---------------------------------------------------------------------------------


def test_empty_data_is_refused():
    model = classifier().eval()
    with pytest.raises(ProbeError, match="data are empty"):
        grad_norm(model, F.cross_entropy, [])
    with pytest.raises(ProbeError, match="data are empty"):
        grad_norm(model, F.cross_entropy, (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ProbeError, match=r"inputs are empty \(shape \(0, 4\)\)"):
        sensitivity(model, torch.zeros(0, 4))


def test_mismatched_batch_sizes_are_refused():
    model = classifier().eval()
    x, y = batch()
    with pytest.raises(ProbeError, match=r"batch 1: inputs have 5 rows but targets have 4"):
        grad_norm(model, F.cross_entropy, [(x, y), (x[:5], y[:4])])


def test_malformed_data_is_refused():
    model = classifier().eval()
    x, y = batch()
    with pytest.raises(ProbeError, match="pair .*inputs, targets"):
        grad_norm(model, F.cross_entropy, x)
    with pytest.raises(ProbeError, match="batch 0 of data is not a pair"):
        grad_norm(model, F.cross_entropy, [(x, y, y)])


def test_a_tensor_data_set_counts_as_one_pair_and_so_does_a_list_of_them():
    model = classifier().eval()
    x, y = batch()
    expected = grad_norm(model, F.cross_entropy, (x, y))
    assert grad_norm(model, F.cross_entropy, TensorData(x, y)) == pytest.approx(expected, rel=1e-6)
    halves = [TensorData(x[:5], y[:5]), TensorData(x[5:], y[5:])]
    assert grad_norm(model, F.cross_entropy, halves) == pytest.approx(expected, rel=1e-6)


def test_a_loss_that_is_not_a_mean_is_refused():
    model = classifier().eval()
    with pytest.raises(ProbeError, match=r"scalar tensor, got \(12,\); use reduction='mean'"):
        grad_norm(model, lambda o, t: F.cross_entropy(o, t, reduction="none"), batch())


def test_a_model_without_trainable_parameters_is_refused():
    model = classifier().eval().requires_grad_(False)
    with pytest.raises(ProbeError, match="no trainable parameters"):
        grad_norm(model, F.cross_entropy, batch())


@pytest.mark.parametrize(
    "probe",
    [
        "grad_norm",
        "hvp",
        "hessian",
        "top_eigenvalue",
        "minimal_ratio",
        "sharpness",
        "interpolate",
        "per_layer_grad_norms",
    ],
)
def test_a_nan_loss_raises_non_finite_loss_error(probe):
    """Finite weights and data, a loss that is NaN: the loss check, not the input checks."""
    model = classifier().eval()
    x, y = batch()

    def nan_loss(outputs, targets):
        return F.cross_entropy(outputs, targets) * float("nan")

    calls = {
        "grad_norm": lambda: grad_norm(model, nan_loss, (x, y)),
        "per_layer_grad_norms": lambda: per_layer_grad_norms(model, nan_loss, (x, y)),
        "hvp": lambda: hvp(model, nan_loss, (x, y), torch.ones(count(model))),
        "hessian": lambda: hessian(model, nan_loss, (x, y)),
        "top_eigenvalue": lambda: top_eigenvalue(model, nan_loss, (x, y)),
        "minimal_ratio": lambda: minimal_ratio(model, nan_loss, (x, y)),
        "sharpness": lambda: sharpness(model, nan_loss, (x, y), steps=2, restarts=1),
        "interpolate": lambda: interpolate(model, model, nan_loss, (x, y), [0.0]),
    }
    with pytest.raises(NonFiniteLossError, match="not finite"):
        calls[probe]()


def test_sensitivity_raises_non_finite_loss_error_when_the_jacobian_overflows():
    model = nn.Sequential(nn.Linear(4, 3)).double().eval()
    with torch.no_grad():
        model[0].weight.fill_(1e300)  # finite weights, an infinite Jacobian norm
    with pytest.raises(NonFiniteLossError):
        sensitivity(model, batch()[0].double(), softmax=False)


# --- devices --------------------------------------------------------------------------------


# Named ``probe_device``, not ``device``: the dlverify plugin parametrizes every test that
# asks for a ``device`` fixture from --device; this test runs on CUDA whenever there is one.
@pytest.mark.parametrize("probe_device", DEVICES)
def test_every_probe_runs_on_the_device_and_agrees_with_cpu(probe_device):
    device = probe_device
    model = classifier(3).eval()
    data = batch(3)
    expected = run_every_probe(model, data)
    on_device = copy.deepcopy(model).to(device)
    got = run_every_probe(on_device, tuple(t.to(device) for t in data))
    assert got["hvp"].device.type == device and got["hessian"].device.type == device
    assert got["top_eigenvalue"].eigenvector.device.type == device
    # Float32 on different kernels: agree to a few float32 ulps of the values' scale.
    for name in [
        "grad_norm",
        "minimal_ratio",
        "sensitivity",
        "saturation",
        "near_zero_weight_ratio",
    ]:
        assert got[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    torch.testing.assert_close(got["hvp"].cpu(), expected["hvp"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got["hessian"].cpu(), expected["hessian"], rtol=1e-4, atol=1e-5)
    assert got["top_eigenvalue"].value == pytest.approx(expected["top_eigenvalue"].value, rel=1e-3)
    assert got["sharpness"].value == pytest.approx(expected["sharpness"].value, rel=1e-3, abs=1e-4)
    assert got["interpolate"].loss == pytest.approx(expected["interpolate"].loss, rel=1e-5)


def test_data_on_another_device_than_the_model_is_moved_to_the_model():
    model = classifier().eval().double()
    x, y = batch()
    assert grad_norm(model, F.cross_entropy, (x.double(), y)) > 0  # CPU → CPU is the no-op case
