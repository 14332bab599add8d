"""The Hessian operator's R-operator products for MLPs, against dense float64 Hessians.

``hessian_operator`` takes :class:`~dlverify.probes._mlp_products.MLPProducts`
for single-batch ``nn.Sequential`` MLPs and autograd's double backward for
everything else; both must be the dense Hessian's products.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlverify.probes import hessian_operator
from dlverify.probes._mlp_products import MLPProducts
from dlverify.probes._objective import Objective
from tests.conftest import F64, classification, mlp, reference_hessian

# torch.func.hessian (jacfwd) uses torch.jit.script internally, deprecated in torch 2.13.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}


def network(widths, activation="tanh", seed=0) -> nn.Sequential:
    return mlp(seed, widths, ACTIVATIONS[activation])


def assert_dense_products(model, loss_fn, x, y, names=None):
    op = hessian_operator(model, loss_fn, (x, y), params=names)
    objective = Objective.build(model, loss_fn, (x, y), names)
    assert MLPProducts.build(objective) is not None  # the R-operator path is the one tested
    h = reference_hessian(model, x, y, loss_fn, names)
    v = torch.randn(h.shape[0], 3, generator=torch.Generator().manual_seed(7), dtype=F64)
    tol = {"rtol": 0, "atol": 1e-12 * float(h.abs().max())}
    torch.testing.assert_close(op.products(v), h @ v, **tol)  # column by column (CPU)
    torch.testing.assert_close(op.apply(v), h @ v, **tol)  # the block in one batched pass
    torch.testing.assert_close(op.apply(v[:, 0]), h @ v[:, 0], **tol)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("widths", [(4, 3), (4, 6, 3), (4, 6, 5, 3), (3, 5, 6, 4, 2)])
def test_products_are_the_dense_hessian_products(widths, activation):
    x, y = classification(1, 17, widths[0], widths[-1])
    assert_dense_products(network(widths, activation), F.cross_entropy, x, y)


@pytest.mark.parametrize(
    "names",
    [
        ["0.weight"],
        ["2.bias"],
        ["2.weight", "2.bias"],
        ["0.bias", "4.weight"],
        ["4.weight", "0.weight"],  # not in model order: the operator keeps the given selection
    ],
)
def test_products_with_params_are_the_dense_sub_block_products(names):
    x, y = classification(2, 13, 4, 3)
    assert_dense_products(network((4, 6, 5, 3), "sigmoid"), F.cross_entropy, x, y, names)


def test_layers_without_bias_flatten_dropout_and_nesting():
    torch.manual_seed(3)
    model = (
        nn.Sequential(
            nn.Flatten(),
            nn.Sequential(nn.Linear(6, 5, bias=False), nn.Tanh(), nn.Dropout(0.3)),
            nn.Identity(),
            nn.Linear(5, 3),
        )
        .double()
        .eval()
    )
    g = torch.Generator().manual_seed(3)
    x = torch.randn(11, 2, 3, generator=g, dtype=F64)
    y = torch.randint(0, 3, (11,), generator=g)
    assert_dense_products(model, F.cross_entropy, x, y)


@pytest.mark.parametrize(
    "loss_fn",
    [
        F.mse_loss,
        lambda o, t: torch.logsumexp(o.flatten(), 0),  # couples the samples: still exact
        lambda o, t: o.mean(),  # linear in the outputs
    ],
    ids=["mse", "coupled", "linear"],
)
def test_any_twice_differentiable_loss_is_exact(loss_fn):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(9, 4, generator=g, dtype=F64)
    y = torch.randn(9, 2, generator=g, dtype=F64)
    assert_dense_products(network((4, 5, 2), "tanh", seed=4), loss_fn, x, y)


@settings(max_examples=20, deadline=None)
@given(
    widths=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    rows=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_products_match_the_dense_hessian_for_any_small_mlp(widths, activation, rows, seed):
    widths = [*widths, 3]
    x, y = classification(seed, rows, widths[0], 3)
    assert_dense_products(network(widths, activation, seed), F.cross_entropy, x, y)


def test_other_models_and_several_batches_take_autograds_products():
    x, y = classification(5, 8, 4, 3)
    model = network((4, 5, 3))
    several = Objective.build(model, F.cross_entropy, [(x[:4], y[:4]), (x[4:], y[4:])])
    assert MLPProducts.build(several) is None
    conv = nn.Sequential(nn.Conv1d(1, 2, 2), nn.Flatten(), nn.Linear(6, 3)).double().eval()
    xc = torch.randn(8, 1, 4, dtype=F64)
    assert MLPProducts.build(Objective.build(conv, F.cross_entropy, (xc, y))) is None
    h = reference_hessian(conv, xc, y)
    v = torch.randn(h.shape[0], dtype=F64)
    torch.testing.assert_close(hessian_operator(conv, F.cross_entropy, (xc, y)) @ v, h @ v)
