"""The loss plane (Li et al., 2018) against direct evaluation, and trajectory projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from dlverify.errors import ProbeError
from dlverify.probes import filter_normalize, loss_plane, project_trajectory
from tests.conftest import F64, classification, mlp

seeds = st.integers(0, 2**31 - 1)


def problem(seed: int = 0):
    model = mlp(seed)
    return model, classification(seed)


def random_directions(model, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(p.shape, generator=g, dtype=F64) for p in model.parameters()] for _ in range(2)
    ]


def direct_loss(model, data, point):
    x, y = data
    names = [n for n, _ in model.named_parameters()]
    return float(F.cross_entropy(functional_call(model, dict(zip(names, point)), (x,)), y))


def test_loss_plane_is_the_loss_at_every_grid_point():
    model, data = problem(1)
    d1, d2 = random_directions(model, 1)
    result = loss_plane(
        model, F.cross_entropy, data, directions=(d1, d2), span=0.5, steps=5, normalization=None
    )
    np.testing.assert_allclose(result.alphas, [-0.5, -0.25, 0.0, 0.25, 0.5], atol=1e-15)
    assert result.loss.shape == result.accuracy.shape == (5, 5)
    x, y = data
    for i, alpha in enumerate(result.alphas):
        for j, beta in enumerate(result.betas):
            point = [
                p.detach() + alpha * a + beta * b for p, a, b in zip(model.parameters(), d1, d2)
            ]
            assert result.loss[i, j] == pytest.approx(direct_loss(model, data, point), rel=1e-12)
            names = [n for n, _ in model.named_parameters()]
            outputs = functional_call(model, dict(zip(names, point)), (x,))
            assert result.accuracy[i, j] == float((outputs.argmax(1) == y).double().mean())


def test_batches_do_not_change_the_plane():
    model, (x, y) = problem(2)
    whole = loss_plane(model, F.cross_entropy, (x, y), steps=3)
    split = loss_plane(model, F.cross_entropy, list(zip(x.split(7), y.split(7))), steps=3)
    np.testing.assert_allclose(split.loss, whole.loss, rtol=1e-12)


def test_filter_normalization_gives_each_filter_the_norm_of_the_weights_filter():
    model, _ = problem(3)
    weights = [p.detach() for p in model.parameters()]
    direction = filter_normalize(random_directions(model, 3)[0], weights)
    for d, w in zip(direction, weights):
        if w.dim() == 1:
            assert torch.equal(d, torch.zeros_like(w))  # biases: ignore="biasbn"
        else:
            torch.testing.assert_close(d.norm(dim=1), w.norm(dim=1), rtol=1e-9, atol=0)


def test_random_directions_are_filter_normalized_and_deterministic():
    model, data = problem(4)
    a, b = (
        loss_plane(
            model, F.cross_entropy, data, steps=3, generator=torch.Generator().manual_seed(9)
        )
        for _ in range(2)
    )
    np.testing.assert_array_equal(a.loss, b.loss)
    weights = [p.detach() for p in model.parameters()]
    for direction in a.directions:
        for d, w in zip(direction, weights):
            if w.dim() > 1:
                torch.testing.assert_close(d.norm(dim=1), w.norm(dim=1), rtol=1e-9, atol=0)
    assert a.names == tuple(n for n, _ in model.named_parameters())


@settings(max_examples=10, deadline=None)
@given(seed=seeds, half=st.integers(1, 3), span=st.floats(0.01, 3.0))
def test_the_centre_of_the_plane_is_the_model_itself(seed, half, span):
    model, data = problem(seed % 1000)
    result = loss_plane(
        model,
        F.cross_entropy,
        data,
        steps=2 * half + 1,
        span=span,
        generator=torch.Generator().manual_seed(seed),
    )
    assert result.alphas[half] == 0.0 and result.betas[half] == 0.0
    x, y = data
    assert result.loss[half, half] == float(F.cross_entropy(model(x), y).detach())


def test_a_trajectory_in_the_plane_projects_onto_its_coordinates():
    model, data = problem(5)
    plane = loss_plane(model, F.cross_entropy, data, steps=3)
    d1, d2 = plane.directions
    coordinates = [(0.3, -0.2), (1.0, 0.5), (0.0, 0.0)]
    snapshots = [
        {n: p.detach() + a * u + b * v for (n, p), u, v in zip(model.named_parameters(), d1, d2)}
        for a, b in coordinates
    ]
    snapshots[1] = _as_model(model, snapshots[1])  # models and state dicts alike
    result = project_trajectory(plane, model, snapshots)
    np.testing.assert_allclose(result.coordinates, coordinates, atol=1e-12)
    np.testing.assert_allclose(result.distance, 0, atol=1e-12)
    assert np.isnan(result.relative_distance[2])


def _as_model(model, state):
    other = mlp(0)
    other.load_state_dict(state)
    return other


def test_the_part_of_a_step_off_the_plane_is_reported():
    model, data = problem(6)
    d1, d2 = random_directions(model, 6)
    plane = loss_plane(
        model, F.cross_entropy, data, directions=(d1, d2), steps=3, normalization=None
    )
    flat1, flat2 = (torch.cat([t.reshape(-1) for t in d]) for d in (d1, d2))
    basis, _ = torch.linalg.qr(torch.stack([flat1, flat2], dim=1))
    off = torch.randn(flat1.numel(), generator=torch.Generator().manual_seed(1), dtype=F64)
    off = off - basis @ (basis.T @ off)  # orthogonal to the plane
    step = 0.7 * flat1 + off
    pieces = torch.split(step, [p.numel() for p in model.parameters()])
    snapshot = {
        n: p.detach() + s.view(p.shape) for (n, p), s in zip(model.named_parameters(), pieces)
    }
    result = project_trajectory(plane, model, [snapshot])
    np.testing.assert_allclose(result.coordinates, [[0.7, 0.0]], atol=1e-10)
    assert result.distance[0] == pytest.approx(float(off.norm()), rel=1e-10)
    assert result.relative_distance[0] == pytest.approx(float(off.norm() / step.norm()), rel=1e-10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normalization": "layer"}, "normalization must be 'filter' or None"),
        ({"steps": 1}, "steps must be >= 2"),
        ({"span": 0.0}, "span must be > 0"),
        ({"directions": ([], [])}, "must be a list of 4 tensors shaped like"),
        ({"directions": "random"}, "directions must be a pair"),
    ],
)
def test_loss_plane_refuses_bad_arguments(kwargs, message):
    model, data = problem(7)
    with pytest.raises(ProbeError, match=message):
        loss_plane(model, F.cross_entropy, data, **kwargs)


def test_a_direction_of_the_wrong_shape_is_named():
    model, data = problem(8)
    d1, d2 = random_directions(model, 8)
    d2[1] = torch.zeros(7, dtype=F64)
    with pytest.raises(
        ProbeError,
        match=r"directions\[1\]: the entry for '0.bias' must have "
        r"shape \(5,\), got \(7,\)",
    ):
        loss_plane(model, F.cross_entropy, data, directions=(d1, d2))


def test_projection_refuses_snapshots_of_another_architecture():
    model, data = problem(9)
    plane = loss_plane(model, F.cross_entropy, data, steps=3)
    with pytest.raises(ProbeError, match="snapshot 0 has no parameter '0.weight'"):
        project_trajectory(plane, model, [{"weight": torch.zeros(3)}])
    with pytest.raises(ProbeError, match="snapshots is empty"):
        project_trajectory(plane, model, [])
