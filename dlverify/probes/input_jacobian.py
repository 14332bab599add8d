"""Input-output Jacobian sensitivity (Novak et al., 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ..errors import ProbeError
from . import _checks
from ._data import as_inputs
from ._model import check_finite_weights, check_mode, model_device, user_call
from ._objective import check_finite


def sensitivity(
    model: nn.Module, inputs: torch.Tensor, *, softmax: bool = True, chunk_size: int = 256
) -> float:
    """Mean Frobenius norm of the input-output Jacobian of the class probabilities.

    ``(1/n) Σ_i ‖∂ softmax(f(x_i)) / ∂x_i‖_F`` over the rows ``x_i`` of
    ``inputs``: R. Novak, Y. Bahri, D. A. Abolafia, J. Pennington,
    J. Sohl-Dickstein, "Sensitivity and Generalization in Neural Networks: an
    Empirical Study", ICLR 2018, §4.1. ``f`` must return logits of shape
    ``(batch, classes)``; with ``softmax=False`` the Jacobian of ``f``'s
    output itself is used (for a model that already returns probabilities).

    Per-example Jacobians come from ``vmap(jacrev(...))``, ``chunk_size``
    examples at a time (memory: ``chunk_size × classes × input size``). Each
    example goes through the model as a batch of one, so the model must treat
    rows independently (true in eval mode).
    """
    softmax = _checks.flag(softmax, "softmax")
    chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
    check_mode(model)
    check_finite_weights(model)
    inputs = as_inputs(inputs, model_device(model)).detach()
    if not inputs.is_floating_point():
        raise ProbeError(
            f"inputs must be floating point to differentiate through, got {inputs.dtype}"
        )
    state = {n: p.detach() for n, p in model.named_parameters()}

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, state, (x.unsqueeze(0),))
        if out.dim() != 2 or out.shape[0] != 1:
            raise ProbeError(
                f"the model must return outputs of shape (batch, classes); for one "
                f"example it returned {tuple(out.shape)}"
            )
        out = out.squeeze(0)
        return torch.softmax(out, dim=-1) if softmax else out

    per_example = vmap(jacrev(probabilities))
    total = torch.zeros((), dtype=inputs.dtype, device=inputs.device)
    for chunk in torch.split(inputs, chunk_size):
        with user_call(
            f"the model, on inputs of shape {tuple(chunk.shape[1:])} one example at "
            "a time (vmap of jacrev),",
            "pass inputs the model accepts, and a model "
            "without data-dependent Python control flow or .item() in its forward",
        ):
            jacobians = per_example(chunk)
        total = total + torch.linalg.vector_norm(jacobians.flatten(start_dim=1), dim=1).sum()
    mean = total / inputs.shape[0]
    check_finite(mean, "sensitivity")
    return float(mean)
