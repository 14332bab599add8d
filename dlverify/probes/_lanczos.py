"""Lanczos tridiagonalization with full reorthogonalization, shared by the spectral probes.

After m steps from a unit vector q₁, ``Q_mᵀ H Q_m = T_m`` (tridiagonal,
diagonal α, off-diagonal β) and ``H Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ``
(Golub & Van Loan, *Matrix Computations*, §10.1). Full reorthogonalization
(a second pass where the DGKS test asks for it) keeps Q orthonormal in
floating point. When the Krylov space
is exhausted (β ≈ 0) before P steps, the next vector is a fresh random one
orthogonal to Q, as in PyHessian's SLQ: T gets a zero off-diagonal entry and
the new block finds eigenvalues (or copies of repeated ones) the start vector
had no component along.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from . import _random

#: Reorthogonalize a second time when one pass leaves less than this fraction of ‖w‖.
_DGKS = 2**-0.5


def rademacher(
    n: int, generator: torch.Generator, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` independent ±1 draws, made on the generator's device, moved to ``device``."""
    bits = torch.randint(0, 2, (n,), generator=generator, device=generator.device)
    return (2 * bits - 1).to(device=device, dtype=dtype)


class Lanczos:
    """The Lanczos process on ``matvec`` from ``start``; call :meth:`step` up to P times."""

    def __init__(
        self,
        matvec: Callable[[torch.Tensor], torch.Tensor],
        start: torch.Tensor,
        generator: torch.Generator,
    ):
        self.matvec = matvec
        self.generator = generator
        self.size = start.numel()
        self.basis = start.new_empty(min(self.size, 16), self.size)  # grown by doubling
        self.basis[0] = start / torch.linalg.vector_norm(start)
        self.alphas: list[float] = []
        self.betas: list[float] = []  # β_1 … β_m; β_m couples q_m to the next vector
        self._w: torch.Tensor | None = None
        self._prepared = 1  # basis vectors q_1 … q_prepared are in place
        self.breakdowns = 0
        self._breakdown = 100 * float(torch.finfo(start.dtype).eps)

    @property
    def steps(self) -> int:
        return len(self.alphas)

    def step(self) -> None:
        """One Lanczos step: one product with H, then full reorthogonalization."""
        self.absorb(self.matvec(self.next_vector()))

    def next_vector(self) -> torch.Tensor:
        """q_{k+1}, the vector whose product with H the next step needs.

        :meth:`step` is ``absorb(matvec(next_vector()))``; the two halves let
        several processes share one block product per step (see
        :func:`lockstep`). After a breakdown this draws a fresh vector.
        """
        k = self.steps
        if self._prepared == k:
            self._advance(k)
            self._prepared = k + 1
        return self.basis[k]

    def absorb(self, w: torch.Tensor) -> None:
        """Finish the step with ``w = H q_{k+1}``: α, then full reorthogonalization, β."""
        k = self.steps
        if self._prepared == k:
            raise RuntimeError("call next_vector() before absorb()")
        q = self.basis[k]
        alpha = torch.dot(q, w)
        w = w - alpha * q
        if k > 0 and self.betas[-1] > 0:
            w = w - self.betas[-1] * self.basis[k - 1]
        done = self.basis[: k + 1]
        # Classical Gram-Schmidt against the whole basis, repeated only when it cancelled most
        # of w (DGKS: Daniel, Gragg, Kaufman & Stewart, Math. Comp. 1976, with η = 1/√2, as
        # ARPACK): one pass leaves rounding-level components unless ‖w‖ fell by more than η.
        before = torch.linalg.vector_norm(w)
        w = w - done.T @ (done @ w)
        if torch.linalg.vector_norm(w) < _DGKS * before:
            w = w - done.T @ (done @ w)
        self.alphas.append(float(alpha))
        self.betas.append(float(torch.linalg.vector_norm(w)))
        self._w = w

    def _advance(self, k: int) -> None:
        """Put q_{k+1} in the basis: w/β, or a fresh orthogonal vector after a breakdown."""
        if k == self.basis.shape[0]:
            extra = min(self.basis.shape[0], self.size - k)
            self.basis = torch.cat([self.basis, self.basis.new_empty(extra, self.size)])
        beta = self.betas[-1]
        if beta > self._breakdown * self.scale:
            self.basis[k] = self._w / beta
            return
        self.betas[-1] = 0.0
        self.breakdowns += 1
        done = self.basis[:k]
        fresh = _random.normal(self.size, self.generator, device=done.device, dtype=done.dtype)
        for _ in range(2):
            fresh = fresh - done.T @ (done @ fresh)
        self.basis[k] = fresh / torch.linalg.vector_norm(fresh)

    @property
    def scale(self) -> float:
        """An estimate of ‖H‖₂ from T's entries (≥ max|α| and β)."""
        return max(max(abs(a) for a in self.alphas), max(self.betas, default=0.0), 1e-300)

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of T_m."""
        return eigh_tridiagonal(np.array(self.alphas), np.array(self.betas[:-1]))

    def residual_estimates(self, vectors: np.ndarray) -> np.ndarray:
        """``β_m |s_{m,i}|`` = ‖H y_i − θ_i y_i‖ for the Ritz pairs (θ_i, y_i = Q s_i)."""
        return self.betas[-1] * np.abs(vectors[-1])

    def exhausted(self) -> bool:
        return self.steps >= self.size


def lockstep(
    processes: list[Lanczos], steps: int, products: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """Advance independent Lanczos processes ``steps`` times together.

    Each step stacks the processes' next vectors as the columns of a P×r
    block, takes ``products(block)`` = H·block (one block product for all r
    runs where the device favours it), and hands column i back to process i.
    Each process does exactly the arithmetic of its own :meth:`Lanczos.step`;
    only the order of random draws after a breakdown differs from running the
    processes one after the other (they are drawn step by step, in process
    order, from the shared generator).
    """
    for _ in range(steps):
        block = torch.stack([process.next_vector() for process in processes], dim=1)
        for process, w in zip(processes, products(block).unbind(dim=1)):
            process.absorb(w)
