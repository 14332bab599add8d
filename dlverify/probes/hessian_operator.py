"""The full-data Hessian as a linear operator, for scipy solvers and torch code alike."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn
from torch.func import vmap

from ..errors import ProbeError
from . import _checks
from ._mlp_products import MLPProducts
from ._model import Parameters
from ._objective import LossFn, Objective, check_finite

#: Columns per block product (``vmap`` over the backward pass) on a GPU; it bounds the
#: memory of one block. On a CPU the columns go one at a time (see :meth:`products`).
CHUNK = 16


def _blocks_on(device: torch.device) -> bool:
    """Whether :meth:`HessianOperator.products` multiplies in blocks on ``device``."""
    return device.type == "cuda"


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

    def __init__(
        self,
        apply: Callable[[torch.Tensor], torch.Tensor],
        loss: float,
        params: Parameters,
        apply_many: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        n = params.count
        dtype = torch.empty(0, dtype=params.dtype).numpy().dtype
        super().__init__(dtype=dtype, shape=(n, n))
        self._apply = apply
        self._apply_many = apply_many or vmap(apply)
        self._params = params
        self.loss = loss
        self.names = params.names
        self.hvps = 0

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters, where tensor products are computed."""
        return self._params.device

    def apply(self, vectors: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat tensor ``v`` of length P, or ``H V`` for a P×m tensor ``V``.

        The input is moved to the model's device and dtype; the result stays
        there. The m columns of a matrix are computed together with ``vmap``.
        """
        vectors = self._checked(vectors)
        if vectors.dim() == 1:
            result = self._apply(vectors)
            self.hvps += 1
        else:
            result = self._apply_many(vectors.T.contiguous()).T
            self.hvps += vectors.shape[1]
        check_finite(result, "Hessian-vector product")
        return result

    def _checked(self, vectors) -> torch.Tensor:
        """``vectors`` (P,) or (P, m), finite, on the model's device and in its dtype."""
        n = self.shape[0]
        if (
            not isinstance(vectors, torch.Tensor)
            or vectors.dim() not in (1, 2)
            or vectors.shape[0] != n
        ):
            shape = (
                tuple(vectors.shape)
                if isinstance(vectors, torch.Tensor)
                else type(vectors).__name__
            )
            raise ProbeError(
                f"the Hessian operator takes a tensor of shape (P,) or (P, m) with "
                f"P = {n}, got {shape}"
            )
        _checks.tensor(vectors, "the vector")
        if _checks.count_non_finite(vectors):
            raise ProbeError("the vector holds NaN or infinite entries; pass a finite direction")
        return vectors.detach().to(self._params.device, self._params.dtype)

    def products(self, vectors: torch.Tensor) -> torch.Tensor:
        """``H V`` for a P×m tensor ``V``, in the cheaper of two ways for the device.

        On a GPU, ``CHUNK`` columns per block product (one ``vmap``-ed
        backward pass: far fewer kernel launches). On a CPU, one product per
        column: measured per column (``benchmarks/bench_probes.py
        --block-products``, one thread), the block form is 1.1-1.3× slower
        on the benchmark's MLP (P × rows = 23 M), about even on mid-sized
        MLPs and, within noise, on a small CNN, and 2-3× faster only on
        tiny products (P × rows ≈ 0.2 M, under a millisecond each), where
        the time saved is small. A size rule by P × rows misjudges
        convolutions, and a rule by timing would make results differ in
        the last bits between runs. ``torch.func`` forward-over-reverse
        under ``vmap`` was never the fastest. The result is the same either
        way up to rounding.
        """
        if not isinstance(vectors, torch.Tensor) or vectors.dim() != 2:
            shape = (
                tuple(vectors.shape)
                if isinstance(vectors, torch.Tensor)
                else type(vectors).__name__
            )
            raise ProbeError(
                f"products takes a tensor of shape (P, m), one vector per column, "
                f"got {shape}; use apply() for a single vector"
            )
        if not _blocks_on(self.device):  # the block is checked once, not column by column
            block = self._checked(vectors)
            result = torch.stack(
                [self._apply(block[:, i].contiguous()) for i in range(block.shape[1])], dim=1
            )
            self.hvps += block.shape[1]
            check_finite(result, "Hessian-vector product")
            return result
        blocks = [vectors[:, i : i + CHUNK] for i in range(0, vectors.shape[1], CHUNK)]
        return torch.cat(
            [self.apply(b) if b.shape[1] > 1 else self.apply(b[:, 0])[:, None] for b in blocks],
            dim=1,
        )  # a lone column: no vmap

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
        return (
            f"<{self.shape[0]}x{self.shape[1]} HessianOperator of {len(self.names)} "
            f"parameter tensors, dtype={self.dtype}>"
        )


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
    objective = Objective(
        objective.model,
        objective.loss_fn,
        objective.batches,
        copied,
        {n: t.clone() for n, t in objective.fixed.items()},
    )
    if len(objective.batches.pairs) == 1:
        return _single_batch_operator(objective)
    apply, loss = objective.hvp_operator()
    check_finite(loss, "loss")
    return HessianOperator(apply, float(loss), copied)


def _single_batch_operator(objective: Objective) -> HessianOperator:
    """One batch: the gradient's graph is built once, each product is one backward through it.

    ``Hv = ∇(∇L · v)`` by ``torch.autograd.grad`` on the retained graph of
    ``∇L`` with respect to leaf copies of θ (PyHessian's product, without
    touching the model's ``.grad``); measured ~25% faster per product on CPU
    than calling a ``torch.func.vjp`` pullback. Several vectors at once go
    through ``is_grads_batched`` (``vmap`` over the backward pass). For an
    MLP (:class:`~dlverify.probes._mlp_products.MLPProducts`) the products
    are the R-operator's matrix products instead (a block in one batched
    pass): the same values up to rounding, measured about 1.2× faster per
    product on a CPU (2.8 ms against 3.4 ms on the benchmark's MLP).
    """
    params = objective.params
    fast = MLPProducts.build(objective)
    if fast is not None:  # the same products, by the R-operator in matrix products
        return HessianOperator(
            fast,
            float(fast.loss),
            Parameters(params.names, tuple(t.detach() for t in params.tensors)),
            apply_many=fast,  # m×P rows: one batched pass
        )
    leaves = tuple(t.detach().clone().requires_grad_(True) for t in params.tensors)
    inputs, targets = objective.batches.pairs[0]
    with torch.enable_grad():
        loss = objective.batch_loss(dict(zip(params.names, leaves)), inputs, targets)
        check_finite(loss.detach(), "loss")
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
    sizes = [t.numel() for t in leaves]
    # Gradients that are constant in θ (a parameter the loss reaches linearly, or not at all)
    # have no graph: their rows of H are zero.
    curved = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]

    def backward(vectors: torch.Tensor, batched: bool) -> torch.Tensor:
        lead = vectors.shape[:1] if batched else ()
        pieces = [
            p.reshape(*lead, *t.shape) for p, t in zip(torch.split(vectors, sizes, dim=-1), leaves)
        ]
        hv = [None] * len(leaves)
        if curved:
            with torch.enable_grad():
                hv = torch.autograd.grad(
                    [grads[i] for i in curved],
                    leaves,
                    grad_outputs=[pieces[i] for i in curved],
                    retain_graph=True,
                    allow_unused=True,
                    is_grads_batched=batched,
                )
        return torch.cat(
            [
                torch.zeros(*lead, t.numel(), dtype=t.dtype, device=t.device)
                if h is None
                else h.reshape(*lead, -1)
                for h, t in zip(hv, leaves)
            ],
            dim=-1,
        )

    frozen = Parameters(params.names, tuple(t.detach() for t in leaves))
    return HessianOperator(
        lambda v: backward(v, False),
        float(loss.detach()),
        frozen,
        apply_many=lambda rows: backward(rows, True),
    )
