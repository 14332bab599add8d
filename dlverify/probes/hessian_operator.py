"""The full-data Hessian as a linear operator, for scipy solvers and torch code alike."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn
from torch.func import vmap

from ..errors import ProbeError
from ._model import Parameters
from ._objective import LossFn, Objective, check_finite


class HessianOperator(LinearOperator):
    """``H = ∇²L(θ)`` at fixed θ as a symmetric P×P :class:`~scipy.sparse.linalg.LinearOperator`.

    ``op @ v`` and ``op.matvec(v)`` take numpy vectors (or P×m matrices, one
    column per vector) and return numpy arrays in the model's dtype; ``op @ t``
    on a torch tensor, or :meth:`apply`, stays in torch on the model's device.
    Each Hessian-vector product is exact (Pearlmutter, 1994; see
    :func:`~dlverify.probes.hvp`); ``hvps`` counts them. ``loss`` is the
    full-data loss at θ, ``names`` the differentiated parameters, in the
    order of the flat vectors.
    """

    def __init__(self, apply: Callable[[torch.Tensor], torch.Tensor], loss: float,
                 params: Parameters):
        n = params.count
        dtype = torch.empty(0, dtype=params.dtype).numpy().dtype
        super().__init__(dtype=dtype, shape=(n, n))
        self._apply = apply
        self._params = params
        self.loss = loss
        self.names = params.names
        self.hvps = 0

    @property
    def device(self) -> torch.device:
        return self._params.device

    def apply(self, vectors: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat tensor ``v`` of length P, or ``H V`` for a P×m tensor ``V``.

        The input is moved to the model's device and dtype; the result stays
        there. The m columns of a matrix are computed together with ``vmap``.
        """
        n = self.shape[0]
        if not isinstance(vectors, torch.Tensor) or vectors.dim() not in (1, 2) \
                or vectors.shape[0] != n:
            shape = tuple(vectors.shape) if isinstance(vectors, torch.Tensor) else \
                type(vectors).__name__
            raise ProbeError(f"the Hessian operator takes a tensor of shape (P,) or (P, m) with "
                             f"P = {n}, got {shape}")
        vectors = vectors.detach().to(self._params.device, self._params.dtype)
        if vectors.dim() == 1:
            result = self._apply(vectors)
            self.hvps += 1
        else:
            result = vmap(self._apply)(vectors.T.contiguous()).T
            self.hvps += vectors.shape[1]
        check_finite(result, "Hessian-vector product")
        return result

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        vector = torch.from_numpy(np.ascontiguousarray(x, dtype=self.dtype).reshape(-1))
        return self.apply(vector).cpu().numpy()

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        return self.apply(torch.from_numpy(np.ascontiguousarray(x, dtype=self.dtype))).cpu().numpy()

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)  # symmetric

    def _adjoint(self) -> HessianOperator:
        return self

    def __matmul__(self, other):
        if isinstance(other, torch.Tensor):
            return self.apply(other)
        return super().__matmul__(other)

    def __repr__(self) -> str:
        return (f"<{self.shape[0]}x{self.shape[1]} HessianOperator of {len(self.names)} "
                f"parameter tensors, dtype={self.dtype}>")


def hessian_operator(model: nn.Module, loss_fn: LossFn, data, *, params=None) -> HessianOperator:
    """The full-data Hessian at the model's current parameters, as a linear operator.

    ``H = ∇²L(θ)``, ``L(θ) = Σ_b (n_b/n) · loss_fn(f(θ, x_b), y_b)``, over the
    trainable parameters in ``model.parameters()`` order, or over ``params``
    (names from ``model.named_parameters()``) with the others held fixed.
    θ is copied when the operator is built: later changes to the model do not
    change the operator. With a single batch the gradient's graph is built once
    and each product is one backward pass through it (memory: one HVP's graph
    for the operator's lifetime); with several batches each product recomputes
    batch by batch (memory: one batch). Use it with ``scipy.sparse.linalg``
    (``eigsh``, ``cg``, ``LinearOperator`` algebra) or in torch via ``op @ t``.
    """
    objective = Objective.build(model, loss_fn, data, params)
    frozen = objective.params
    copied = Parameters(frozen.names, tuple(t.clone() for t in frozen.tensors))
    objective = Objective(objective.model, objective.loss_fn, objective.batches, copied,
                          {n: t.clone() for n, t in objective.fixed.items()})
    apply, loss = objective.hvp_operator()
    check_finite(loss, "loss")
    return HessianOperator(apply, float(loss), copied)
