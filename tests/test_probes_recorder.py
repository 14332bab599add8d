"""Probes recorded during training (``ProbeRecorder``) and their place in the History."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlverify.data import TensorData
from dlverify.errors import ProbeError
from dlverify.probes import ProbeRecorder, grad_norm, hessian_trace, top_eigenvalue
from dlverify.train import History, fit


def setup(dropout: bool = False):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 4, generator=g), torch.randint(0, 3, (48,), generator=g)
    torch.manual_seed(0)
    layers = [nn.Linear(4, 8), nn.Tanh()] + ([nn.Dropout(0.3)] if dropout else [])
    return nn.Sequential(*layers, nn.Linear(8, 3)), TensorData(x, y)


class Snapshots:
    """A callback that keeps a copy of the model after every step."""

    def __init__(self):
        self.models = {}

    def after_step(self, step, model, optimizer):
        self.models[step + 1] = copy.deepcopy(model).eval()


def test_recorded_values_are_the_probes_of_the_model_at_those_steps():
    model, train = setup()
    probe_batch = (train.inputs[:16], train.targets[:16])
    recorder = ProbeRecorder(
        F.cross_entropy,
        probe_batch,
        ["grad_norm", "top_eigenvalue", "trace", "exact_trace"],
        every=3,
    )
    snapshots = Snapshots()
    initial = copy.deepcopy(model)
    history = fit(
        model, train, steps=10, batch_size=8, lr=0.01, callbacks=[snapshots, recorder], eval_every=4
    )
    assert history.probes["step"] == [0, 3, 6, 9]
    models = {0: initial, **snapshots.models}
    for i, step in enumerate(history.probes["step"]):
        m = models[step]
        g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        assert history.probes["grad_norm"][i] == grad_norm(m, F.cross_entropy, probe_batch)
        assert history.probes["top_eigenvalue"][i] == pytest.approx(
            top_eigenvalue(m, F.cross_entropy, probe_batch, generator=g()).value, rel=1e-3
        )
        assert (
            history.probes["trace"][i]
            == hessian_trace(m, F.cross_entropy, probe_batch, n_samples=30, generator=g()).value
        )
        assert (
            history.probes["exact_trace"][i]
            == hessian_trace(m, F.cross_entropy, probe_batch, method="exact").value
        )


def test_recording_does_not_change_training():
    model_a, train = setup(dropout=True)
    model_b = copy.deepcopy(model_a)
    recorder = ProbeRecorder(
        F.cross_entropy, (train.inputs, train.targets), ["loss", "grad_norm", "trace"], every=2
    )
    plain = fit(model_a, train, steps=8, batch_size=8, lr=0.01)
    probed = fit(model_b, train, steps=8, batch_size=8, lr=0.01, callbacks=[recorder])
    assert plain.train_loss == probed.train_loss
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    assert model_b.training  # measured in eval mode, mode restored
    assert len(probed.probes["loss"]) == 5


def test_custom_probes_and_history_round_trip():
    model, train = setup()
    recorder = ProbeRecorder(
        F.cross_entropy,
        (train.inputs, train.targets),
        {"first_weight": lambda m, f, d, g: float(m[0].weight[0, 0].detach())},
        every=5,
        at_start=False,
    )
    history = fit(model, train, steps=10, batch_size=8, lr=0.01, callbacks=[recorder])
    assert history.probes["step"] == [5, 10]
    assert history.probes["first_weight"][-1] == float(model[0].weight[0, 0].detach())
    stored = json.loads(json.dumps(history.as_dict()))
    assert History.from_dict(stored).probes == history.probes
    assert "probes" not in history.final
    assert "probes" not in History().as_dict()  # no recorder: the record is as before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"probes": ["sharpness"]}, "unknown probe 'sharpness'; known names are"),
        ({"probes": "loss"}, "list of names"),
        ({"probes": []}, "probes is empty"),
        ({"probes": {"step": lambda *a: 0.0}}, "'step' is where the recorder stores"),
        ({"every": 0}, "every must be a positive integer"),
    ],
)
def test_recorder_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ProbeError, match=message):
        ProbeRecorder(
            F.cross_entropy, (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)), **kwargs
        )
