"""Each of K models' mean mini-batch loss and its gradient with respect to the model's outputs.

:func:`stacked_loss` returns the per-model losses ``(K,)`` and
``∂loss_k/∂outputs_k`` for outputs ``(K, B, ...)``. For the two losses of the
reports it computes the gradient with the ATen kernels autograd would call for
``loss_fn(outputs_k, targets_k)``, without building a graph:

- ``F.cross_entropy`` with class indices: ``nll_loss``'s backward puts
  ``−1/B`` (computed in the tensor's dtype) at each target, then
  ``_log_softmax_backward_data`` (``g − softmax · Σg``);
- ``F.cross_entropy`` with probability targets (PyTorch ≥ 1.10, ATen
  ``cross_entropy_loss_prob_target``: ``−Σ(log_softmax · t) / B``): the
  gradient of ``log_softmax`` is ``t · (−1/B)``, then the same backward;
- ``F.mse_loss`` with outputs and targets of one shape:
  ``mse_loss_backward`` is ``(2 / numel) · (outputs − targets)``.

Any other ``loss_fn`` is called once per model and differentiated by autograd
with respect to the outputs only. The loss values of the fast paths are
reduced over each model's batch in one batched reduction, which may differ
from ``loss_fn``'s own reduction in the last bit; the gradients do not depend
on them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@functools.lru_cache(maxsize=64)
def _negative_inverse_of(batch: int, dtype: torch.dtype) -> float:
    return -(torch.ones((), dtype=dtype) / batch).item()


def _negative_inverse(batch: int, like: torch.Tensor) -> float:
    """``−1/B`` rounded as ATen rounds it in the tensor's dtype (``grad_output / total_weight``)."""
    return _negative_inverse_of(batch, like.dtype)


def _cross_entropy_indices(
    outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    logp = torch.log_softmax(outputs, dim=-1)
    index = targets.unsqueeze(-1)
    losses = logp.gather(-1, index).squeeze(-1).mean(1).neg()
    upstream = torch.zeros_like(logp).scatter_(
        -1, index, _negative_inverse(outputs.shape[1], outputs)
    )
    return losses, torch._log_softmax_backward_data(upstream, logp, -1, logp.dtype)


def _cross_entropy_probabilities(
    outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    logp = torch.log_softmax(outputs, dim=-1)
    losses = (logp * targets).sum(dim=(1, 2)).neg() / outputs.shape[1]
    upstream = targets * _negative_inverse(outputs.shape[1], outputs)
    return losses, torch._log_softmax_backward_data(upstream, logp, -1, logp.dtype)


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    difference = outputs - targets
    per_model = outputs[0].numel()
    losses = difference.pow(2).flatten(1).mean(1)
    return losses, difference.mul_(2.0 / per_model)


def _generic(
    loss_fn: LossFn,
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    def loss_and_grad(
        outputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            leaf = outputs.detach().requires_grad_()
            losses = torch.stack([loss_fn(leaf[k], targets[k]) for k in range(leaf.shape[0])])
            (grad,) = torch.autograd.grad(losses.sum(), leaf)
        return losses.detach(), grad

    return loss_and_grad


def stacked_loss(loss_fn: LossFn, targets: torch.Tensor):
    """``loss_and_grad(outputs (K, B, ...), targets (K, B, ...)) -> (losses (K,), ∂losses/∂outputs)``.

    The path is chosen from ``loss_fn`` and, at each call, from the targets'
    dtype and shape (a transform may change them). ``targets`` are the training
    targets (one model's shape, ``(N, ...)``): class indices must be
    non-negative, because ``F.cross_entropy`` ignores the index −100 by default
    and only the generic path honours that.
    """
    generic = _generic(loss_fn)
    if loss_fn is F.cross_entropy:
        if not targets.is_floating_point() and not bool((targets >= 0).all()):
            return generic

        def cross_entropy(outputs: torch.Tensor, batch_targets: torch.Tensor):
            if batch_targets.is_floating_point():
                if batch_targets.shape == outputs.shape:
                    return _cross_entropy_probabilities(outputs, batch_targets)
            elif batch_targets.ndim == 2:
                return _cross_entropy_indices(outputs, batch_targets)
            return generic(outputs, batch_targets)

        return cross_entropy
    if loss_fn is F.mse_loss:
        return _mse_or_generic(loss_fn)
    return generic


def _mse_or_generic(loss_fn: LossFn):
    generic = _generic(loss_fn)

    def loss_and_grad(outputs: torch.Tensor, targets: torch.Tensor):
        if outputs.shape == targets.shape and targets.is_floating_point():
            return _mse(outputs, targets)
        return generic(
            outputs, targets
        )  # broadcasting (and its warning) exactly as loss_fn does it

    return loss_and_grad
