"""Input sensitivity (Novak et al., 2018), activation saturation and gradient checking.

References: per-example Jacobians from ``torch.func.jacrev`` called directly,
closed forms for linear models, ``torch.autograd.gradcheck``, and functions
with known gradients. Tolerances are stated per assertion.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlverify.errors import NonFiniteLossError, ProbeError
from dlverify.probes import gradcheck, saturation, sensitivity

F64 = torch.float64
seeds = st.integers(0, 2**31 - 1)


def network(seed: int, activation=nn.Tanh):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 5), activation(), nn.Linear(5, 3)).double()


def inputs(seed: int, n: int = 9, shape=(2, 3)):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def bias_free_linear(weight: torch.Tensor) -> nn.Linear:
    model = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(weight)
    return model


# --- sensitivity ----------------------------------------------------------------------------


def test_sensitivity_matches_jacrev_computed_directly():
    model = network(0)
    x = inputs(0)
    expected = (
        torch.stack(
            [
                torch.func.jacrev(lambda z: torch.softmax(model(z.unsqueeze(0)).squeeze(0), -1))(
                    row
                ).norm()
                for row in x
            ]
        )
        .mean()
        .detach()
    )
    assert sensitivity(model, x) == pytest.approx(float(expected), rel=1e-12)
    assert sensitivity(model, x, chunk_size=2) == pytest.approx(float(expected), rel=1e-12)


def test_sensitivity_of_a_linear_model_without_softmax_is_the_weight_norm():
    weight = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    model = bias_free_linear(weight)
    assert sensitivity(model, inputs(1, shape=(4,)), softmax=False) == pytest.approx(
        float(weight.norm()), rel=1e-12
    )


def test_sensitivity_of_a_softmax_regression_matches_its_closed_form():
    # ∂softmax(Wx)/∂x = (diag p − p pᵀ) W.
    weight = torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    x = inputs(2, shape=(4,))
    p = torch.softmax(x @ weight.T, dim=1)
    jacobians = (torch.diag_embed(p) - p[:, :, None] * p[:, None, :]) @ weight
    expected = jacobians.flatten(1).norm(dim=1).mean()
    assert sensitivity(bias_free_linear(weight), x) == pytest.approx(float(expected), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, c=st.floats(0.1, 10))
def test_scaling_the_weights_by_c_is_c_times_scaling_the_inputs_by_c(seed, c):
    # softmax((cW) x) = softmax(W (c x)), and the chain rule gives
    # ∂/∂x softmax(cW x) = c · [∂/∂z softmax(W z)] at z = c x, so
    # sensitivity(cW, X) = c · sensitivity(W, cX) for a bias-free linear model.
    weight = torch.randn(3, 4, generator=torch.Generator().manual_seed(seed), dtype=F64)
    x = inputs(seed, shape=(4,))
    scaled_weights = sensitivity(bias_free_linear(c * weight), x)
    scaled_inputs = sensitivity(bias_free_linear(weight), c * x)
    assert scaled_weights == pytest.approx(c * scaled_inputs, rel=1e-10)
    # Without the softmax the Jacobian is W itself: linear in the weight scale.
    assert sensitivity(bias_free_linear(c * weight), x, softmax=False) == pytest.approx(
        c * sensitivity(bias_free_linear(weight), x, softmax=False), rel=1e-12
    )


def test_sensitivity_rejects_bad_inputs():
    model = network(3)
    with pytest.raises(ProbeError, match="inputs must be a tensor"):
        sensitivity(model, [[0.0] * 6])
    with pytest.raises(ProbeError, match="floating point"):
        sensitivity(model, torch.ones(2, 6, dtype=torch.long))
    with pytest.raises(ProbeError, match=r"shape \(batch, classes\)"):
        sensitivity(nn.Identity(), inputs(3))


# --- saturation -----------------------------------------------------------------------------


def test_saturation_counts_sigmoid_outputs_within_the_margin_of_zero_and_one():
    model = nn.Sequential(nn.Identity(), nn.Sigmoid())
    logits = torch.tensor(
        [[-10.0, -2.0, 0.0], [2.0, 3.0, 10.0]]
    )  # σ: 4.5e-5, .12, .5, .88, .953, .99995
    assert saturation(model, logits, model[1], margin=0.05) == pytest.approx(3 / 6)
    assert saturation(model, logits, "1", margin=0.2) == pytest.approx(5 / 6)


def test_saturation_counts_tanh_outputs_within_the_margin_of_minus_one_and_one():
    model = network(4)
    with torch.no_grad():
        model[1].weight.mul_(50)  # drive most units into saturation
    x = inputs(4)
    hidden = torch.tanh(model[1](model[0](x)))
    expected = float((hidden.abs() >= 0.95).double().mean())
    assert saturation(model, x, "2") == pytest.approx(expected)
    assert expected > 0.5


def test_saturation_removes_its_hook_and_refuses_other_layers():
    model = network(5)
    x = inputs(5)
    saturation(model, x, model[2])
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(
        ProbeError, match="'1' is Linear; saturation is defined for nn.Sigmoid and nn.Tanh"
    ):
        saturation(model, x, "1")
    with pytest.raises(ProbeError, match="no module named 'hidden'"):
        saturation(model, x, "hidden")
    with pytest.raises(ProbeError, match="not a submodule"):
        saturation(model, x, nn.Tanh())
    with pytest.raises(ProbeError, match="margin must be in"):
        saturation(model, x, "2", margin=1.0)
    assert all(not m._forward_hooks for m in model.modules())


def test_saturation_counts_every_call_of_a_shared_layer():
    act = nn.Sigmoid()
    model = nn.Sequential(
        act, nn.Identity(), act
    )  # σ(σ(x)) ∈ (0.5, 0.74): second call never saturates
    x = torch.tensor([[-20.0, 20.0]])
    assert saturation(model, x, act) == pytest.approx(2 / 4)


# --- gradcheck ------------------------------------------------------------------------------


def test_gradcheck_agrees_with_a_known_gradient():
    a = torch.randn(3, 4, generator=torch.Generator().manual_seed(6))
    b = torch.randn(3, 4, generator=torch.Generator().manual_seed(7))
    result = gradcheck(lambda u, v: (torch.sin(u) * v**2).sum(), [a, b])
    torch.testing.assert_close(result.analytic[0], torch.cos(a.double()) * b.double() ** 2)
    torch.testing.assert_close(result.analytic[1], 2 * torch.sin(a.double()) * b.double())
    assert result.max_abs_diff < 1e-8 and result.max_rel_diff < 1e-7  # O(eps²) + rounding/eps
    assert result.mean_abs_diff <= result.max_abs_diff
    assert result.shapes == ((3, 4), (3, 4))
    assert all(g.dtype == F64 for g in result.analytic + result.numerical)


class WrongSquare(torch.autograd.Function):
    """x² with a wrong backward (x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


def test_gradcheck_agrees_with_torch_autograd_gradcheck():
    x = torch.randn(5, generator=torch.Generator().manual_seed(8), dtype=F64, requires_grad=True)
    right = lambda t: (torch.tanh(t) ** 3).sum()  # noqa: E731
    wrong = lambda t: WrongSquare.apply(t).sum()  # noqa: E731
    assert torch.autograd.gradcheck(right, (x,))
    assert gradcheck(right, x).max_rel_diff < 1e-6
    assert not torch.autograd.gradcheck(wrong, (x,), raise_exception=False)
    result = gradcheck(wrong, x)
    # analytic x vs numerical 2x: relative difference |x| / (3|x|) = 1/3 for every entry
    assert result.max_rel_diff == pytest.approx(1 / 3, rel=1e-6)


def test_gradcheck_leaves_the_callers_tensors_alone():
    w = torch.randn(2, 3, generator=torch.Generator().manual_seed(9)).T  # float32, non-contiguous
    w.requires_grad_(True)
    before = w.detach().clone()
    seen = []
    gradcheck(lambda t: (seen.append(t.dtype) or t.exp()).sum(), [w])
    assert set(seen) == {F64}
    assert w.dtype == torch.float32 and w.requires_grad and w.grad is None
    assert torch.equal(w.detach(), before)


def test_gradcheck_reports_unused_parameters_as_zero_gradient():
    x, unused = torch.ones(2, dtype=F64), torch.ones(3, dtype=F64)
    result = gradcheck(lambda a, b: a.sum(), [x, unused])
    assert torch.equal(result.analytic[1], torch.zeros(3, dtype=F64))
    assert result.max_abs_diff < 1e-9


def test_gradcheck_rejects_bad_input():
    x = torch.ones(3)
    with pytest.raises(ProbeError, match="one element"):
        gradcheck(lambda t: t * 2, x)
    with pytest.raises(ProbeError, match="floating point"):
        gradcheck(lambda t: t.sum(), torch.ones(3, dtype=torch.long))
    with pytest.raises(ProbeError, match="non-empty sequence"):
        gradcheck(lambda: torch.zeros(()), [])
    with pytest.raises(NonFiniteLossError):
        gradcheck(lambda t: t.log().sum(), -x)
