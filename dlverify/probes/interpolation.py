"""Loss along the straight line between two models (Goodfellow et al., 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..errors import NonFiniteLossError, ProbeError
from . import _checks
from ._arrays import as_float64, readonly
from ._data import as_batches
from ._model import check_finite_weights, check_mode, model_device, user_call
from ._objective import LossFn


@dataclass(frozen=True)
class InterpolationResult:
    """Full-data loss (and accuracy, for classifiers) at each α, as read-only float64 arrays.

    ``accuracy`` is ``None`` unless the targets are integer class labels (1-D)
    and the outputs 2-D logits; then it is the share of rows whose arg-max
    output equals the target.
    """

    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer, detached (``remove_duplicate=False`` keeps tied names)."""
    state = {n: p.detach() for n, p in model.named_parameters(remove_duplicate=False)}
    state.update({n: b.detach() for n, b in model.named_buffers(remove_duplicate=False)})
    return state


def _check_same_architecture(model_a: nn.Module, model_b: nn.Module) -> None:
    types_a = [(n, type(m)) for n, m in model_a.named_modules()]
    types_b = [(n, type(m)) for n, m in model_b.named_modules()]
    if types_a != types_b:
        diff = next((a, b) for a, b in zip(types_a + [None], types_b + [None]) if a != b)
        raise ProbeError(
            f"model_a and model_b must have the same architecture; their modules "
            f"differ at {diff[0]} vs {diff[1]}"
        )
    state_a, state_b = _state(model_a), _state(model_b)
    if state_a.keys() != state_b.keys():
        raise ProbeError(
            "model_a and model_b must have the same architecture; their parameter "
            f"and buffer names differ: {sorted(state_a.keys() ^ state_b.keys())}"
        )
    for name, a in state_a.items():
        b = state_b[name]
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            raise ProbeError(
                f"model_a and model_b must have the same architecture; {name!r} is "
                f"{tuple(a.shape)} {a.dtype} on {a.device} in model_a but "
                f"{tuple(b.shape)} {b.dtype} on {b.device} in model_b"
            )


def interpolate(
    model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, data, alphas
) -> InterpolationResult:
    """Full-data loss at ``θ(α) = (1 − α) θ_a + α θ_b`` for each given α.

    I. J. Goodfellow, O. Vinyals, A. M. Saxe, "Qualitatively characterizing
    neural network optimization problems", ICLR 2015. θ covers every
    floating-point parameter and buffer (so BatchNorm running statistics are
    interpolated too); integer buffers (``num_batches_tracked``) are taken
    from ``model_a``. α may lie outside [0, 1] (extrapolation); α = 0 and
    α = 1 give θ_a and θ_b exactly. The network evaluated is ``model_a``'s,
    so both models must have the same modules, names, shapes, dtypes and
    device. Loss (and accuracy) are averaged over batches weighted by size.
    """
    alphas = as_float64(alphas, "alphas").reshape(-1)
    if alphas.size == 0:
        raise ProbeError("alphas is empty: give at least one interpolation coefficient")
    if not np.all(np.isfinite(alphas)):
        raise ProbeError(f"alphas must be finite, got {alphas.tolist()}")
    check_mode(model_a, "model_a")
    check_mode(model_b, "model_b")
    _checks.function(loss_fn, "loss_fn")
    _check_same_architecture(model_a, model_b)
    check_finite_weights(model_a, "model_a")
    check_finite_weights(model_b, "model_b")
    state_a, state_b = _state(model_a), _state(model_b)
    batches = as_batches(data, model_device(model_a))
    losses, accuracies = [], []
    classify = None
    with torch.no_grad():
        for alpha in alphas.tolist():
            state = {
                n: (1 - alpha) * a + alpha * state_b[n] if a.is_floating_point() else a
                for n, a in state_a.items()
            }
            loss, correct = 0.0, 0
            for w, (x, y) in zip(batches.weights, batches.pairs):
                with user_call(
                    f"the model, on inputs of shape {tuple(x.shape)} ({x.dtype}),",
                    "pass data whose inputs the model accepts",
                ):
                    outputs = functional_call(model_a, state, (x,), tie_weights=False)
                with user_call(
                    f"loss_fn(outputs, targets), with targets of shape "
                    f"{tuple(y.shape)} ({y.dtype}),",
                    "pass a loss_fn(outputs, targets) and targets that fit the model's outputs",
                ):
                    value = loss_fn(outputs, y)
                if not isinstance(value, torch.Tensor) or value.numel() != 1:
                    raise ProbeError(
                        "loss_fn must return the mean loss as a scalar tensor; use reduction='mean'"
                    )
                loss = loss + w * value.reshape(())
                if classify is None:
                    classify = (
                        outputs.dim() == 2
                        and y.dim() == 1
                        and not y.is_floating_point()
                        and not y.is_complex()
                        and y.dtype != torch.bool
                    )
                if classify:
                    correct += int((outputs.argmax(dim=1) == y).sum())
            loss = float(loss)
            if not np.isfinite(loss):
                raise NonFiniteLossError(f"the loss is not finite ({loss}) at alpha = {alpha}")
            losses.append(loss)
            accuracies.append(correct / batches.count)
    return InterpolationResult(
        alphas=readonly(alphas),
        loss=readonly(losses),
        accuracy=readonly(accuracies) if classify else None,
    )
