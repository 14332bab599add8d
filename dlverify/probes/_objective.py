"""The full-data loss as a function of the trainable parameters.

``L(θ) = Σ_b (n_b / n) · loss_fn(f(θ, x_b), y_b)``: the batch means of
``loss_fn`` weighted by batch size, so that how the data are split into batches
does not change any full-data quantity. Gradients and Hessian-vector products
are accumulated batch by batch, so memory is bounded by one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value, vjp

from ..errors import NonFiniteLossError, ProbeError
from ._data import Batches, as_batches
from ._model import Parameters, check_mode, trainable_parameters

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Params = dict[str, torch.Tensor]


def check_finite(value: torch.Tensor, what: str) -> None:
    """Raise :class:`NonFiniteLossError` if ``value`` holds a NaN or an infinity."""
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteLossError(
            f"the {what} is not finite ({value.flatten()[:4].tolist()}...); check the data, "
            "the loss function and the parameters for NaN/inf or overflow")


@dataclass(frozen=True)
class Objective:
    """``model`` + ``loss_fn`` + data, evaluated at any trainable-parameter values."""

    model: nn.Module
    loss_fn: LossFn
    batches: Batches
    params: Parameters

    @classmethod
    def build(cls, model: nn.Module, loss_fn: LossFn, data: object) -> Objective:
        check_mode(model)
        params = trainable_parameters(model)
        return cls(model, loss_fn, as_batches(data, params.device), params)

    def batch_loss(self, params: Params, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss of one batch at ``params`` (other parameters and buffers: the model's own)."""
        loss = self.loss_fn(functional_call(self.model, params, (inputs,)), targets)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ProbeError(f"loss_fn must return the mean loss as a scalar tensor, got {shape}; "
                             "use reduction='mean'")
        return loss.reshape(())

    def loss(self, params: Params | None = None) -> torch.Tensor:
        """Full-data loss (0-dim tensor, not checked for finiteness)."""
        params = self.params.as_dict() if params is None else params
        with torch.no_grad():
            return sum(w * self.batch_loss(params, x, y)
                       for w, (x, y) in zip(self.batches.weights, self.batches.pairs))

    def value_and_grad(self, params: Params | None = None) -> tuple[torch.Tensor, Params]:
        """Full-data loss and its gradient with respect to the trainable parameters."""
        params = self.params.as_dict() if params is None else params
        value = None
        total: Params = {}
        for w, (x, y) in zip(self.batches.weights, self.batches.pairs):
            g, v = grad_and_value(self.batch_loss)(params, x, y)
            value = w * v if value is None else value + w * v
            for k, gk in g.items():
                total[k] = w * gk if k not in total else total[k] + w * gk
        return value, total

    def hvp(self, params: Params, vector: Params) -> Params:
        """Full-data Hessian-vector product, reverse-over-reverse (``vjp`` of ``grad``).

        ``vᵀH = (Hv)ᵀ`` since the Hessian is symmetric. Forward-over-reverse
        (``jvp`` of ``grad``) would be the textbook choice, but in torch 2.x
        the forward-mode formula of ``F.mse_loss(reduction="mean")``'s
        backward fails with "ZeroTensors are immutable" (pytorch/pytorch#123996),
        and MSE is the loss of half the reports; double backward is supported
        by every differentiable op, and measured no slower on CPU here.
        Composable with ``vmap`` (no data-dependent Python control flow).
        """
        total: Params = {}
        for w, (x, y) in zip(self.batches.weights, self.batches.pairs):
            _, pullback = vjp(lambda p: grad(self.batch_loss)(p, x, y), params)
            (hv,) = pullback(vector)
            for k, hk in hv.items():
                total[k] = w * hk if k not in total else total[k] + w * hk
        return total

    def hvp_flat(self, vector: torch.Tensor, params: Params | None = None) -> torch.Tensor:
        """:meth:`hvp` on flat vectors of length P (``model.parameters()`` order)."""
        params = self.params.as_dict() if params is None else params
        hv = self.hvp(params, self.params.unflatten(vector))
        return torch.cat([hv[n].reshape(-1) for n in self.params.names])
