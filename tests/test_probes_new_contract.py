"""The probe contract for the operator, eigenvalue, trace, density and loss-plane probes.

Same checks as ``test_probes_contract.py``: the caller's model is left alone,
a train-mode model with mode-dependent modules is refused, a NaN loss raises
``NonFiniteLossError``, and results on another device agree with the CPU's.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlverify.errors import ConvergenceWarning, ModelModeError, NonFiniteLossError
from dlverify.probes import (
    eigenvalues,
    hessian_operator,
    hessian_trace,
    loss_plane,
    spectral_density,
)
from tests.conftest import DEVICES, batch, classifier


@pytest.fixture(autouse=True)
def _few_lanczos_steps():
    """The probes run with cheap settings here: unconverged Lanczos warnings are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def run_new_probes(model, data):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    op = hessian_operator(model, F.cross_entropy, data)
    device = next(model.parameters()).device
    return {
        "operator": op @ torch.ones(op.shape[0], device=device),
        "eigenvalues": eigenvalues(model, F.cross_entropy, data, k=2, max_iter=10, generator=g()),
        "smallest": eigenvalues(
            model, F.cross_entropy, data, which="smallest", max_iter=10, generator=g()
        ),
        "trace": hessian_trace(model, F.cross_entropy, data, n_samples=9, generator=g()),
        "density": spectral_density(model, F.cross_entropy, data, n_iter=5, generator=g()),
        "plane": loss_plane(model, F.cross_entropy, data, steps=3, generator=g()),
    }


def snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {
            n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
        },
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
    }


def assert_unchanged(before, after):
    """Parameters, buffers, ``.grad``, ``requires_grad`` and modes as they were."""
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), k
    for n, g in before["grads"].items():
        assert torch.equal(g, after["grads"][n]), n
    assert before["requires_grad"] == after["requires_grad"]
    assert before["training"] == after["training"]


def test_new_probes_leave_the_model_untouched():
    model = classifier().eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
    model(batch()[0]).sum().backward()
    before = snapshot(model)
    run_new_probes(model, batch())
    assert_unchanged(before, snapshot(model))


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
def test_new_probes_refuse_training_mode_with_mode_dependent_modules(kind):
    model = classifier(dropout=kind == "dropout", batchnorm=kind == "batchnorm")
    data = batch()
    calls = [
        lambda: hessian_operator(model, F.cross_entropy, data),
        lambda: eigenvalues(model, F.cross_entropy, data),
        lambda: hessian_trace(model, F.cross_entropy, data),
        lambda: hessian_trace(model, F.cross_entropy, data, method="exact"),
        lambda: spectral_density(model, F.cross_entropy, data),
        lambda: loss_plane(model, F.cross_entropy, data, steps=3),
    ]
    for call in calls:
        with pytest.raises(ModelModeError, match=r"training mode .*call model\.eval\(\)"):
            call()
    assert all(m.training for m in model.modules())


def test_a_nan_loss_raises_non_finite_loss_error_in_every_new_probe():
    model = classifier().eval()
    data = batch()

    def nan_loss(outputs, targets):  # NaN from finite weights and data
        return F.cross_entropy(outputs, targets) * float("nan")

    calls = [
        lambda: hessian_operator(model, nan_loss, data),
        lambda: eigenvalues(model, nan_loss, data),
        lambda: hessian_trace(model, nan_loss, data),
        lambda: spectral_density(model, nan_loss, data),
        lambda: loss_plane(model, nan_loss, data, steps=3),
    ]
    for call in calls:
        with pytest.raises(NonFiniteLossError, match="not finite"):
            call()


def test_exact_trace_leaves_the_model_untouched_and_refuses_a_nan_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, 3)).eval()
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    F.cross_entropy(model(x), y).backward()
    before = snapshot(model)
    hessian_trace(model, F.cross_entropy, (x, y), method="exact")
    assert_unchanged(before, snapshot(model))

    def nan_loss(outputs, targets):
        return F.cross_entropy(outputs, targets) * float("nan")

    with pytest.raises(NonFiniteLossError, match="not finite"):
        hessian_trace(model, nan_loss, (x, y), method="exact")


@pytest.mark.parametrize("probe_device", DEVICES)
def test_new_probes_run_on_the_device_and_agree_with_cpu(probe_device):
    model = classifier(3).eval()
    data = batch(3)
    expected = run_new_probes(model, data)
    got = run_new_probes(
        copy.deepcopy(model).to(probe_device), tuple(t.to(probe_device) for t in data)
    )
    assert got["operator"].device.type == probe_device
    assert got["eigenvalues"].vectors.device.type == probe_device
    torch.testing.assert_close(got["operator"].cpu(), expected["operator"], rtol=1e-4, atol=1e-5)
    for name in ["eigenvalues", "smallest"]:
        assert got[name].values == pytest.approx(expected[name].values, rel=1e-3, abs=1e-5)
    assert got["trace"].value == pytest.approx(expected["trace"].value, rel=1e-3, abs=1e-5)
    assert got["density"].moment(1) == pytest.approx(
        expected["density"].moment(1), rel=1e-3, abs=1e-5
    )
    assert got["plane"].loss == pytest.approx(expected["plane"].loss, rel=1e-5)
