"""Block Hessian products and the lockstep Lanczos runs of the spectral density.

A block product ``H V`` must equal the m single products against a dense
float64 Hessian (``torch.func.hessian``), whichever way it is computed; the
density's runs, advanced in lockstep with one block product per step, must
be the runs each start vector gives alone.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlverify.errors import ProbeError
from dlverify.probes import hessian_operator, spectral_density
from dlverify.probes._lanczos import Lanczos, rademacher
from tests.conftest import F64, QuadraticLoss, classification, mlp, reference_hessian

# torch.func.hessian (jacfwd) uses torch.jit.script internally, deprecated in torch 2.13.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

CPU = torch.device("cpu")
# The module, which the package's function of the same name hides.
hessian_operator_module = sys.modules["dlverify.probes.hessian_operator"]


@functools.cache
def problem(seed: int = 0, sizes=(3, 5, 3), n: int = 30):
    model = mlp(seed, sizes)
    x, y = classification(seed, n=n, classes=sizes[-1])
    return model, (x, y), reference_hessian(model, x, y)


@settings(max_examples=8, deadline=None)
@given(m=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_block_products_are_the_single_products_and_the_dense_hessian_products(m, seed):
    model, data, h = problem(3)
    op = hessian_operator(model, F.cross_entropy, data)
    v = torch.randn(h.shape[0], m, generator=torch.Generator().manual_seed(seed), dtype=F64)
    single = torch.stack([op.apply(v[:, i]) for i in range(m)], dim=1)
    block = op.apply(v)  # one vmap-ed backward pass for the m columns
    chosen = op.products(v)  # the faster way for the device (a CPU: column by column)
    expected = h @ v
    for got in (single, block, chosen):
        assert got.shape == (h.shape[0], m) and got.dtype == F64
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(block, single, rtol=0, atol=1e-13)
    assert op.hvps == 3 * m


@pytest.mark.parametrize("blocks", [False, True], ids=["columns", "blocks"])
@pytest.mark.parametrize("m", [1, 5, 16, 17, 33])
def test_products_by_columns_and_by_blocks_are_the_dense_hessian_products(m, blocks, monkeypatch):
    # Columns on a CPU, blocks of CHUNK columns on a GPU: both ways forced here on the CPU
    # (m = 17 and 33 leave a lone column or a short block after the full ones).
    monkeypatch.setattr(hessian_operator_module, "_blocks_on", lambda device: blocks)
    model, data, h = problem(3)
    op = hessian_operator(model, F.cross_entropy, data)
    v = torch.randn(h.shape[0], m, generator=torch.Generator().manual_seed(m), dtype=F64)
    torch.testing.assert_close(op.products(v), h @ v, rtol=0, atol=1e-12)
    assert op.hvps == m


def test_lockstep_density_runs_are_the_runs_each_start_vector_gives_alone():
    model, data, h = problem(7, sizes=(3, 6, 3), n=40)
    n_runs, n_iter = 4, 9
    result = spectral_density(
        model,
        F.cross_entropy,
        data,
        n_runs=n_runs,
        n_iter=n_iter,
        deflate=False,
        generator=torch.Generator().manual_seed(11),
    )
    # Alone: the same start vectors (drawn first, in run order), one Lanczos run after another
    # on the dense Hessian.
    g = torch.Generator().manual_seed(11)
    starts = [rademacher(h.shape[0], g, device=CPU, dtype=F64) for _ in range(n_runs)]
    for run, start in enumerate(starts):
        process = Lanczos(lambda q: h @ q, start, g)
        for _ in range(n_iter):
            process.step()
        nodes, vectors = process.ritz()
        np.testing.assert_allclose(result.nodes[run], nodes, rtol=0, atol=1e-10)
        np.testing.assert_allclose(result.weights[run], vectors[0] ** 2, rtol=0, atol=1e-10)
    assert result.hvps == n_runs * n_iter


def test_lockstep_density_moments_are_the_dense_spectrum_moments_for_each_start_vector():
    # Gauss quadrature: run r's Σ τ θ^p = v_rᵀ H^p v_r / P exactly for p < 2·n_iter.
    model, data, h = problem(8)
    n_runs, n_iter = 3, 4
    result = spectral_density(
        model,
        F.cross_entropy,
        data,
        n_runs=n_runs,
        n_iter=n_iter,
        deflate=False,
        generator=torch.Generator().manual_seed(2),
    )
    g = torch.Generator().manual_seed(2)
    starts = torch.stack(
        [rademacher(h.shape[0], g, device=CPU, dtype=F64) for _ in range(n_runs)]
    ).numpy()
    dense = h.numpy()
    power = np.eye(dense.shape[0])
    for p in range(2 * n_iter):
        expected = np.einsum("ri,ij,rj->r", starts, power, starts) / dense.shape[0]
        got = np.sum(result.weights * result.nodes**p, axis=1)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-13, err_msg=f"p={p}")
        power = power @ dense


def test_lockstep_runs_that_break_down_still_find_the_whole_spectrum():
    # A diagonal Hessian with a repeated eigenvalue: the Krylov space of a Rademacher vector
    # has dimension 2 < P = 4, so each run breaks down and draws fresh normal vectors.
    loss = QuadraticLoss(torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=F64)))
    model, data = loss.problem()
    result = spectral_density(
        model, loss, data, n_runs=2, n_iter=4, generator=torch.Generator().manual_seed(0)
    )
    for run in range(2):  # with the fresh vectors, all of the spectrum is found
        np.testing.assert_allclose(result.nodes[run], [1.0, 1.0, 2.0, 2.0], atol=1e-10)
        np.testing.assert_allclose(result.weights[run].sum(), 1.0, atol=1e-12)


def test_products_refuses_a_single_vector_and_says_to_use_apply():
    model, data, h = problem(3)
    op = hessian_operator(model, F.cross_entropy, data)
    with pytest.raises(ProbeError, match=r"shape \(P, m\).*use apply\(\)"):
        op.products(torch.ones(h.shape[0], dtype=F64))
