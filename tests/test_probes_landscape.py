"""ε-sharpness (Keskar et al., 2017) and linear interpolation (Goodfellow et al., 2015).

Sharpness is checked against the exact maximum over the box, found by
enumerating its vertices for convex losses (a convex function attains its
maximum over a box at a vertex); interpolation against direct evaluation of
the interpolated parameters.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlverify.errors import ProbeError
from dlverify.probes import SharpnessResult, interpolate, sharpness

F64 = torch.float64
seeds = st.integers(0, 2**31 - 1)


def mse(outputs, targets):
    return F.mse_loss(outputs.squeeze(-1), targets)


def regression(seed: int, n: int = 20, d: int = 2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = x @ torch.randn(d, generator=g, dtype=F64) + 0.1 * torch.randn(n, generator=g, dtype=F64)
    torch.manual_seed(seed)
    return nn.Linear(d, 1).double(), x, y


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def exact_sharpness(model, x, y, epsilon):
    """Keskar's φ for least squares by enumerating the 2^P vertices of the box (P = d + 1)."""
    theta = flat(model)
    radius = epsilon * (theta.abs() + 1)
    d = x.shape[1]

    def loss(t):
        return float(F.mse_loss(x @ t[:d] + t[d], y))

    worst = max(
        loss(theta + torch.tensor(s, dtype=F64) * radius)
        for s in itertools.product([-1.0, 1.0], repeat=theta.numel())
    )
    base = loss(theta)
    return 100 * (worst - base) / (1 + base)


# --- sharpness ------------------------------------------------------------------------------


def test_sharpness_finds_the_exact_maximum_over_the_box_for_least_squares():
    model, x, y = regression(0)
    result = sharpness(model, mse, (x, y), epsilon=0.05, generator=torch.Generator().manual_seed(0))
    assert isinstance(result, SharpnessResult) and isinstance(result, float)
    assert result.value == pytest.approx(exact_sharpness(model, x, y, 0.05), rel=1e-12)
    assert float(result) == result.value == result and type(result.value) is float
    assert str(result) == repr(result.value) and f"{result}" == str(result.value)
    assert result.loss == pytest.approx(float(mse(model(x), y).detach()), rel=1e-12)
    assert result.max_loss >= result.loss
    assert result.evaluations == 1 + 3 * (20 + 1)


def test_sharpness_result_is_an_immutable_float_that_pickles_with_its_fields():
    result = SharpnessResult(1.5, loss=0.25, max_loss=0.3, epsilon=1e-3, evaluations=7)
    assert result * 2 == 3.0 and f"{result:.2f}" == "1.50"
    clone = pickle.loads(pickle.dumps(result))
    assert (
        repr(clone)
        == repr(result)
        == ("SharpnessResult(value=1.5, loss=0.25, max_loss=0.3, epsilon=0.001, evaluations=7)")
    )
    with pytest.raises(AttributeError, match="immutable"):
        result.loss = 0.0


@settings(max_examples=10, deadline=None)
@given(seed=seeds, epsilon=st.sampled_from([1e-3, 1e-2, 1e-1]))
def test_sharpness_is_a_lower_bound_of_the_exact_value_and_non_negative(seed, epsilon):
    model, x, y = regression(seed, n=12)
    value = sharpness(
        model,
        mse,
        (x, y),
        epsilon=epsilon,
        steps=5,
        restarts=1,
        generator=torch.Generator().manual_seed(seed),
    ).value
    exact = exact_sharpness(model, x, y, epsilon)
    assert 0 <= value <= exact * (1 + 1e-12) + 1e-12


def test_sharpness_at_the_minimum_of_a_quadratic_is_second_order_in_epsilon():
    # At the least-squares optimum the gradient vanishes: φ(ε) ∝ ε² for small ε.
    model, x, y = regression(1)
    design = torch.cat([x, torch.ones(x.shape[0], 1, dtype=F64)], dim=1)
    solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    with torch.no_grad():
        model.weight.copy_(solution[:2].unsqueeze(0))
        model.bias.copy_(solution[2:])
    small = sharpness(model, mse, (x, y), epsilon=1e-3).value
    large = sharpness(model, mse, (x, y), epsilon=1e-2).value
    assert large / small == pytest.approx(100, rel=1e-6)
    assert small == pytest.approx(exact_sharpness(model, x, y, 1e-3), rel=1e-9)


def test_sharpness_is_deterministic_given_the_generator_and_batching_invariant():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(30, 3, generator=g, dtype=F64), torch.randint(0, 2, (30,), generator=g)
    runs = [
        sharpness(
            model,
            F.cross_entropy,
            data,
            epsilon=1e-2,
            steps=5,
            restarts=2,
            generator=torch.Generator().manual_seed(5),
        )
        for data in [(x, y), (x, y), list(zip(torch.split(x, 7), torch.split(y, 7)))]
    ]
    assert runs[0] == runs[1]
    assert runs[2].value == pytest.approx(runs[0].value, rel=1e-9)


def test_sharpness_rejects_bad_settings():
    model, x, y = regression(3)
    with pytest.raises(ProbeError, match="epsilon must be > 0"):
        sharpness(model, mse, (x, y), epsilon=0.0)
    with pytest.raises(ProbeError, match="steps must be >= 1"):
        sharpness(model, mse, (x, y), steps=0)
    with pytest.raises(ProbeError, match="restarts must be >= 1"):
        sharpness(model, mse, (x, y), restarts=0)
    with pytest.raises(ProbeError, match=r"1 \+ L\(θ\)"):
        sharpness(model, lambda o, t: mse(o, t) - 1e6, (x, y))


# --- interpolation --------------------------------------------------------------------------


def classifier(seed: int):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()


def classification(seed: int, n: int = 25):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_interpolation_at_zero_and_one_reproduces_each_models_loss(seed):
    a, b = classifier(seed), classifier(seed + 1)
    x, y = classification(seed)
    result = interpolate(a, b, F.cross_entropy, (x, y), [0.0, 1.0])
    assert result.loss[0] == float(F.cross_entropy(a(x), y).detach())
    assert result.loss[1] == float(F.cross_entropy(b(x), y).detach())
    for i, model in enumerate([a, b]):
        assert result.accuracy[i] == float((model(x).argmax(1) == y).double().mean())


@settings(max_examples=10, deadline=None)
@given(seed=seeds, alphas=st.lists(st.floats(-2, 3), min_size=1, max_size=5))
def test_interpolation_evaluates_the_straight_line_including_extrapolation(seed, alphas):
    a, b = classifier(seed), classifier(seed + 1)
    x, y = classification(seed)
    result = interpolate(
        a, b, F.cross_entropy, list(zip(torch.split(x, 10), torch.split(y, 10))), alphas
    )
    np.testing.assert_array_equal(result.alphas, np.asarray(alphas))
    mid = classifier(seed)
    for alpha, loss in zip(alphas, result.loss):
        with torch.no_grad():
            for pm, pa, pb in zip(mid.parameters(), a.parameters(), b.parameters()):
                pm.copy_((1 - alpha) * pa + alpha * pb)
        assert loss == pytest.approx(
            float(F.cross_entropy(mid(x), y).detach()), rel=1e-12, abs=1e-12
        )


def test_interpolation_of_least_squares_is_the_closed_form_quadratic_in_alpha():
    (a, x, y), (b, _, _) = regression(4), regression(5)
    alphas = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0])
    result = interpolate(a, b, mse, (x, y), alphas)
    design = torch.cat([x, torch.ones(x.shape[0], 1, dtype=F64)], dim=1)
    expected = [
        float(((design @ ((1 - t) * flat(a) + t * flat(b)) - y) ** 2).mean()) for t in alphas
    ]
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12)
    assert result.accuracy is None  # float targets: no accuracy
    with pytest.raises(ValueError):
        result.loss[0] = 0.0  # read-only


def test_interpolation_interpolates_batchnorm_statistics():
    torch.manual_seed(6)
    a = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).double().eval()
    b = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).double().eval()
    with torch.no_grad():
        b[1].running_mean.fill_(2.0)
        b[1].running_var.fill_(4.0)
    x, y = classification(6)
    mid = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).double().eval()
    mid.load_state_dict(
        {
            k: (0.5 * va + 0.5 * b.state_dict()[k]) if va.is_floating_point() else va
            for k, va in a.state_dict().items()
        }
    )
    result = interpolate(a, b, F.cross_entropy, (x, y), [0.5])
    assert result.loss[0] == pytest.approx(float(F.cross_entropy(mid(x), y).detach()), rel=1e-12)


def test_interpolation_needs_the_same_architecture_and_some_alphas():
    x, y = classification(7)
    a = classifier(7)
    with pytest.raises(ProbeError, match="same architecture"):
        interpolate(
            a,
            nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double(),
            F.cross_entropy,
            (x, y),
            [0.5],
        )
    with pytest.raises(ProbeError, match="same architecture; their modules differ"):
        interpolate(
            a,
            nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double(),
            F.cross_entropy,
            (x, y),
            [0.5],
        )
    with pytest.raises(ProbeError, match="alphas is empty"):
        interpolate(a, classifier(8), F.cross_entropy, (x, y), [])
    with pytest.raises(ProbeError, match="alphas must be finite"):
        interpolate(a, classifier(8), F.cross_entropy, (x, y), [0.0, float("nan")])
