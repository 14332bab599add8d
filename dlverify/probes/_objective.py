"""The full-data loss as a function of the trainable parameters.

``L(θ) = Σ_b (n_b / n) · loss_fn(f(θ, x_b), y_b)``: the batch means of
``loss_fn`` weighted by batch size, so that how the data are split into batches
does not change any full-data quantity. Gradients and Hessian-vector products
are accumulated batch by batch, so memory is bounded by one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vjp

from ..errors import NonFiniteLossError, ProbeError
from . import _checks
from ._data import Batches, as_batches
from ._model import Parameters, check_finite_weights, check_mode, trainable_parameters, user_call
from ._selection import select_parameters

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Params = dict[str, torch.Tensor]

NO_GRADIENT_PATH = (
    "the loss has no gradient path to the model's trainable parameters: loss_fn(outputs, "
    "targets) or the model's forward detached it (.item(), .detach(), .numpy(), "
    "torch.tensor(...), float(...)), so its gradient and curvature would read as 0. Compute "
    "the loss from the outputs with torch operations only, e.g. loss_fn="
    "torch.nn.functional.cross_entropy"
)


def check_finite(value: torch.Tensor, what: str) -> None:
    """Raise :class:`NonFiniteLossError` if ``value`` holds a NaN or an infinity."""
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteLossError(
            f"the {what} is not finite ({value.flatten()[:4].tolist()}...); check the data, "
            "the loss function and the parameters for NaN/inf or overflow"
        )


@dataclass(frozen=True)
class Objective:
    """``model`` + ``loss_fn`` + data, evaluated at any values of the selected parameters.

    ``params`` are the parameters differentiated (all trainable ones unless
    ``build`` is given ``params=`` names); ``fixed`` the other trainable ones,
    detached and held at their values.
    """

    model: nn.Module
    loss_fn: LossFn
    batches: Batches
    params: Parameters
    fixed: Params = field(default_factory=dict)

    @classmethod
    def build(cls, model: nn.Module, loss_fn: LossFn, data: object, params=None) -> Objective:
        check_mode(model)
        _checks.function(loss_fn, "loss_fn")
        check_finite_weights(model)
        chosen, fixed = select_parameters(trainable_parameters(model), params)
        return cls(model, loss_fn, as_batches(data, chosen.device), chosen, fixed)

    def batch_loss(
        self, params: Params, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of one batch at ``params`` (other parameters and buffers: the model's own).

        Where gradients are taken (inside ``torch.func.grad``/``vjp``, where the
        parameters require grad), a loss that does not require grad has no
        gradient path to them: it is refused, since its gradient would read as 0.
        """
        with user_call(
            f"the model, on inputs of shape {tuple(inputs.shape)} ({inputs.dtype}),",
            "pass data whose inputs the model accepts",
        ):
            values = {**self.fixed, **params} if self.fixed else params
            outputs = functional_call(self.model, values, (inputs,))
        differentiated = any(p.requires_grad for p in params.values())
        return self.output_loss(outputs, targets, differentiated=differentiated)

    def output_loss(
        self, outputs: torch.Tensor, targets: torch.Tensor, *, differentiated: bool
    ) -> torch.Tensor:
        """``loss_fn(outputs, targets)`` as a 0-dim tensor, refused unless it is a scalar.

        ``differentiated``: gradients will be taken, so a loss that does not
        require grad (while grad mode is on) has no gradient path and is refused.
        """
        with user_call(
            f"loss_fn(outputs, targets), with targets of shape "
            f"{tuple(targets.shape)} ({targets.dtype}),",
            "pass a loss_fn(outputs, targets) and targets that fit the model's outputs",
        ):
            loss = self.loss_fn(outputs, targets)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ProbeError(
                f"loss_fn must return the mean loss as a scalar tensor, got {shape}; "
                "use reduction='mean'"
            )
        if torch.is_grad_enabled() and not loss.requires_grad and differentiated:
            raise ProbeError(NO_GRADIENT_PATH)
        return loss.reshape(())

    def loss(self, params: Params | None = None) -> torch.Tensor:
        """Full-data loss (0-dim tensor, not checked for finiteness)."""
        params = self.params.as_dict() if params is None else params
        with torch.no_grad():
            return sum(
                w * self.batch_loss(params, x, y)
                for w, (x, y) in zip(self.batches.weights, self.batches.pairs)
            )

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

    def _pullback(self, params: Params, inputs: torch.Tensor, targets: torch.Tensor):
        """The linearization ``v ↦ vᵀ ∇²L_b`` of one batch's gradient, and that batch's loss.

        Reverse-over-reverse (``vjp`` of ``grad``); ``vᵀH = (Hv)ᵀ`` since the
        Hessian is symmetric. Forward-over-reverse (``jvp`` of ``grad``) would
        be the textbook choice, but in torch 2.x the forward-mode formula of
        ``F.mse_loss(reduction="mean")``'s backward fails with "ZeroTensors are
        immutable" (pytorch/pytorch#123996), and MSE is the loss of half the
        reports; double backward is supported by every differentiable op, and
        measured no slower on CPU here. The loss comes along as ``vjp``'s aux
        output, so checking it for NaN costs no extra forward pass.
        """
        _, pullback, loss = vjp(
            lambda p: grad_and_value(self.batch_loss)(p, inputs, targets), params, has_aux=True
        )
        return pullback, loss

    def hvp(self, params: Params, vector: Params) -> tuple[Params, torch.Tensor]:
        """Full-data Hessian-vector product ``H v`` and the full-data loss.

        Composable with ``vmap`` (no data-dependent Python control flow).
        """
        total: Params = {}
        loss = None
        for w, (x, y) in zip(self.batches.weights, self.batches.pairs):
            pullback, batch_loss = self._pullback(params, x, y)
            (hv,) = pullback(vector)
            loss = w * batch_loss if loss is None else loss + w * batch_loss
            for k, hk in hv.items():
                total[k] = w * hk if k not in total else total[k] + w * hk
        return total, loss

    def hvp_operator(
        self, params: Params | None = None
    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
        """``v ↦ H v`` on flat vectors at fixed ``params``, and the loss there.

        For probes that apply H many times. With a single batch, the graph of
        ``grad`` is built once and each product is one backward pass through
        it (``vjp`` pullbacks can be called repeatedly), as PyHessian does for
        one batch: about twice as fast, at the memory of one HVP held for the
        operator's lifetime. With several batches the caller split the data to
        bound memory, so each product recomputes batch by batch instead of
        holding every graph.
        """
        params = self.params.as_dict() if params is None else params
        if len(self.batches.pairs) > 1:
            return (lambda vector: self.hvp_flat(vector, params)), self.loss(params)
        pullback, loss = self._pullback(params, *self.batches.pairs[0])

        def apply(vector: torch.Tensor) -> torch.Tensor:
            (hv,) = pullback(self.params.unflatten(vector))
            return torch.cat([hv[n].reshape(-1) for n in self.params.names])

        return apply, loss.detach()

    def hvp_flat(self, vector: torch.Tensor, params: Params | None = None) -> torch.Tensor:
        """:meth:`hvp` on flat vectors of length P (``model.parameters()`` order)."""
        params = self.params.as_dict() if params is None else params
        hv, _ = self.hvp(params, self.params.unflatten(vector))
        return torch.cat([hv[n].reshape(-1) for n in self.params.names])
