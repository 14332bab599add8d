"""The loss on a 2-D plane through the model, and a training trajectory projected onto it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..errors import NonFiniteLossError, ProbeError
from . import _checks, _random
from ._arrays import readonly
from ._data import as_batches
from ._model import check_finite_weights, check_mode, trainable_parameters, user_call
from ._objective import LossFn

Direction = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class LossPlaneResult:
    """Full-data loss (and accuracy) at ``θ + α d₁ + β d₂`` on a steps × steps grid.

    ``loss[i, j]`` is at ``(alphas[i], betas[j])`` (float64, read-only);
    ``accuracy`` likewise for classifiers (integer targets, 2-D outputs), else
    ``None``. ``directions`` the two directions used, after normalization,
    each a tuple of tensors shaped like the trainable parameters (``names``).
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None
    names: tuple[str, ...]
    directions: tuple[Direction, Direction] = field(repr=False)


def filter_normalize(
    direction: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]
) -> Direction:
    """Filter normalization of Li et al. (2018): each filter of d gets the norm of θ's filter.

    For a parameter of ≥ 2 dimensions, every slice ``d[i]`` along the first
    (output) dimension (a neuron's incoming weights, a convolution's output
    channel) is rescaled to ``d[i] · ‖θ[i]‖ / (‖d[i]‖ + 10⁻¹⁰)`` (the
    authors' guard against a zero filter); 1-D parameters
    (biases, BatchNorm scales) get a zero direction, the ``ignore='biasbn'``
    default of the authors' ``net_plotter.py``. This removes the scale
    invariance that makes plots of differently scaled networks incomparable.
    H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss
    Landscape of Neural Nets", NeurIPS 2018, §4.
    """
    if not (isinstance(direction, Sequence) and isinstance(weights, Sequence)) or len(
        direction
    ) != len(weights):
        raise ProbeError(
            "direction and weights must be lists of tensors of the same length, got "
            f"{_checks.describe(direction)} and {_checks.describe(weights)}"
        )
    for i, (d, w) in enumerate(zip(direction, weights)):
        _checks.tensor(d, f"direction[{i}]")
        _checks.tensor(w, f"weights[{i}]")
        if d.shape != w.shape:
            raise ProbeError(
                f"direction[{i}] has shape {tuple(d.shape)} but weights[{i}] "
                f"{tuple(w.shape)}; they must match"
            )
    normalized = []
    for d, w in zip(direction, weights):
        if d.dim() <= 1:
            normalized.append(torch.zeros_like(d))
            continue
        d_norm = torch.linalg.vector_norm(d.reshape(d.shape[0], -1), dim=1)
        w_norm = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1)
        scale = (w_norm / (d_norm + 1e-10)).reshape(-1, *([1] * (d.dim() - 1)))
        normalized.append(d * scale)
    return tuple(normalized)


def _check_direction(direction, weights, names, which: str) -> Direction:
    if (
        isinstance(direction, torch.Tensor)
        or not isinstance(direction, Sequence)
        or len(direction) != len(weights)
    ):
        raise ProbeError(
            f"{which} must be a list of {len(weights)} tensors shaped like the "
            f"trainable parameters {list(names)}"
        )
    out = []
    for d, w, name in zip(direction, weights, names):
        if isinstance(d, torch.Tensor) and d.is_complex():
            raise ProbeError(f"{which}: the entry for {name!r} must be real, got {d.dtype}")
        if not isinstance(d, torch.Tensor) or d.shape != w.shape:
            shape = tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__
            raise ProbeError(
                f"{which}: the entry for {name!r} must have shape {tuple(w.shape)}, got {shape}"
            )
        if not bool(torch.isfinite(d).all()):
            raise ProbeError(f"{which}: the entry for {name!r} holds NaN or infinite values")
        out.append(d.detach().to(w.device, w.dtype))
    return tuple(out)


def _grid(span: float, steps: int) -> np.ndarray:
    half = (steps - 1) / 2
    return span * (np.arange(steps) - half) / half


def loss_plane(
    model: nn.Module,
    loss_fn: LossFn,
    data,
    *,
    directions=None,
    span: float = 1.0,
    steps: int = 21,
    normalization: str | None = "filter",
    generator: torch.Generator | None = None,
) -> LossPlaneResult:
    """The full-data loss on the plane ``θ + α d₁ + β d₂``, α, β ∈ [−span, span].

    θ are the trainable parameters (buffers stay the model's). ``directions``
    is a pair of lists of tensors shaped like them (``model.parameters()``
    order), or ``None`` for two standard normal directions drawn from
    ``generator`` (a CPU generator seeded with 0 when ``None``). With
    ``normalization="filter"`` (default) both are filter-normalized
    (:func:`filter_normalize`, Li et al., 2018), so that α = 1 is a step as
    large as the weights themselves, filter by filter; ``None`` uses them as
    given. The grid has ``steps`` points per axis, symmetric about 0; with an
    odd number α = β = 0 is on it and its loss is the model's own.
    ``steps²`` full-data evaluations; batches are weighted by size.
    """
    if normalization is not None and (
        not isinstance(normalization, str) or normalization != "filter"
    ):
        raise ProbeError(
            f"normalization must be 'filter' or None, got {_checks.describe(normalization)}"
        )
    steps = _checks.integer(steps, "steps", minimum=2)
    span = _checks.real(span, "span", above=0)
    generator = _random.resolve(generator)
    check_mode(model)
    _checks.function(loss_fn, "loss_fn")
    check_finite_weights(model)
    params = trainable_parameters(model)
    weights = params.tensors
    if directions is None:
        directions = [
            [
                _random.normal(w.numel(), generator, device=w.device, dtype=w.dtype).view(w.shape)
                for w in weights
            ]
            for _ in range(2)
        ]
    elif (
        isinstance(directions, torch.Tensor)
        or not isinstance(directions, Sequence)
        or len(directions) != 2
    ):
        raise ProbeError(
            "directions must be a pair (d1, d2) of lists of tensors shaped like "
            "the trainable parameters, or None for random directions"
        )
    first, second = (
        _check_direction(d, weights, params.names, f"directions[{i}]")
        for i, d in enumerate(directions)
    )
    if normalization == "filter":
        first, second = filter_normalize(first, weights), filter_normalize(second, weights)
    batches = as_batches(data, params.device)
    alphas = betas = _grid(float(span), steps)
    loss = np.empty((steps, steps))
    accuracy = np.empty((steps, steps))
    classify = None
    with torch.no_grad():
        for i, alpha in enumerate(alphas.tolist()):
            for j, beta in enumerate(betas.tolist()):
                point = {
                    n: w + alpha * a + beta * b
                    for n, w, a, b in zip(params.names, weights, first, second)
                }
                total, correct = 0.0, 0
                for weight, (x, y) in zip(batches.weights, batches.pairs):
                    with user_call(
                        f"the model, on inputs of shape {tuple(x.shape)} ({x.dtype}),",
                        "pass data whose inputs the model accepts",
                    ):
                        outputs = functional_call(model, point, (x,))
                    with user_call(
                        f"loss_fn(outputs, targets), with targets of shape "
                        f"{tuple(y.shape)} ({y.dtype}),",
                        "pass a loss_fn(outputs, targets) and targets that fit the model's outputs",
                    ):
                        value = loss_fn(outputs, y)
                    if not isinstance(value, torch.Tensor) or value.numel() != 1:
                        raise ProbeError(
                            "loss_fn must return the mean loss as a scalar tensor; "
                            "use reduction='mean'"
                        )
                    total += weight * float(value.detach())
                    if classify is None:
                        classify = (
                            outputs.dim() == 2
                            and y.dim() == 1
                            and not y.is_floating_point()
                            and y.dtype != torch.bool
                        )
                    if classify:
                        correct += int((outputs.argmax(dim=1) == y).sum())
                if not np.isfinite(total):
                    raise NonFiniteLossError(
                        f"the loss is not finite ({total}) at alpha = "
                        f"{alpha}, beta = {beta}; reduce span"
                    )
                loss[i, j] = total
                accuracy[i, j] = correct / batches.count
    return LossPlaneResult(
        alphas=readonly(alphas),
        betas=readonly(betas),
        loss=readonly(loss),
        accuracy=readonly(accuracy) if classify else None,
        names=params.names,
        directions=(first, second),
    )


@dataclass(frozen=True)
class TrajectoryProjection:
    """Snapshots' coordinates (α, β) on a plane, and how far each lies off it.

    ``coordinates`` (T × 2) minimize ``‖θ_t − θ − α d₁ − β d₂‖₂``;
    ``distance`` is that minimum, ``relative_distance`` it divided by
    ``‖θ_t − θ‖`` (0 on the plane, 1 orthogonal to it; NaN at θ_t = θ).
    """

    coordinates: np.ndarray
    distance: np.ndarray
    relative_distance: np.ndarray


def _flat_snapshot(snapshot, names: tuple[str, ...], shapes, index: int) -> np.ndarray:
    what = "the model" if index < 0 else f"snapshot {index}"
    if isinstance(snapshot, nn.Module):
        values = dict(snapshot.named_parameters())
    elif isinstance(snapshot, Mapping):
        values = snapshot
    else:
        raise ProbeError(
            f"{what} must be a model or a state dict, got {_checks.describe(snapshot)}"
        )
    missing = [n for n in names if n not in values]
    if missing:
        raise ProbeError(
            f"{what} has no parameter {missing[0]!r}; snapshots must come "
            "from the same architecture as the plane's model"
        )
    for name, shape in zip(names, shapes):
        value = values[name]
        if not isinstance(value, torch.Tensor) or value.is_complex() or tuple(value.shape) != shape:
            raise ProbeError(
                f"{what}: {name!r} must be a real tensor of shape {shape} like the "
                f"plane's directions, got {_checks.describe(value)}"
            )
        if _checks.count_non_finite(value):
            raise ProbeError(f"{what}: {name!r} holds NaN or infinite values")
    return np.concatenate([values[n].detach().double().cpu().numpy().reshape(-1) for n in names])


def project_trajectory(
    plane: LossPlaneResult, model: nn.Module, snapshots: Sequence
) -> TrajectoryProjection:
    """Project training snapshots (models or state dicts) onto ``plane``, centred at ``model``.

    Least squares in float64 over the trainable parameters the plane was
    drawn for (``plane.names``): ``[d₁ d₂] c ≈ θ_t − θ``. The directions need
    not be orthogonal; with the PCA directions of the trajectory
    (:func:`~dlverify.probes.weight_pca`, Li et al. 2018, §7) it is the usual
    picture of the path drawn over the loss contours. Check
    ``relative_distance``: random directions in high dimension are nearly
    orthogonal to any trajectory, and its projection then means little.
    """
    if not isinstance(plane, LossPlaneResult):
        raise ProbeError(
            f"plane must be the LossPlaneResult of loss_plane(...), got {_checks.describe(plane)}"
        )
    if isinstance(snapshots, (str, bytes, Mapping, nn.Module, torch.Tensor)) or not isinstance(
        snapshots, Iterable
    ):
        raise ProbeError(
            f"snapshots must be a list of models or state dicts, got {_checks.describe(snapshots)}"
        )
    snapshots = list(snapshots)
    if not snapshots:
        raise ProbeError("snapshots is empty: give at least one model or state dict")
    shapes = [tuple(t.shape) for t in plane.directions[0]]
    if not isinstance(model, nn.Module):
        raise ProbeError(
            f"model must be the nn.Module the plane was drawn for, got {_checks.describe(model)}"
        )
    centre = _flat_snapshot(model, plane.names, shapes, -1)
    basis = np.stack(
        [
            np.concatenate([t.detach().double().cpu().numpy().reshape(-1) for t in d])
            for d in plane.directions
        ],
        axis=1,
    )
    if centre.size != basis.shape[0]:
        raise ProbeError(
            f"model has {centre.size} values in the plane's parameters, the "
            f"directions {basis.shape[0]}; use the model the plane was drawn for"
        )
    if np.linalg.matrix_rank(basis) < 2:
        raise ProbeError(
            "the plane's two directions are linearly dependent; there is no plane to project on"
        )
    offsets = (
        np.stack([_flat_snapshot(s, plane.names, shapes, i) for i, s in enumerate(snapshots)])
        - centre
    )
    coordinates, *_ = np.linalg.lstsq(basis, offsets.T, rcond=None)
    distance = np.linalg.norm(offsets.T - basis @ coordinates, axis=0)
    norms = np.linalg.norm(offsets, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(norms > 0, distance / norms, np.nan)
    return TrajectoryProjection(
        coordinates=readonly(coordinates.T),
        distance=readonly(distance),
        relative_distance=readonly(relative),
    )
