"""Principal components of a weight trajectory (Li et al., 2018)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ProbeError
from . import _checks
from ._arrays import as_float64, readonly


@dataclass(frozen=True)
class WeightPCAResult:
    """PCA of flattened weight snapshots.

    ``projections`` (n_snapshots × n_components) are the centered snapshots'
    coordinates on the principal directions ``components`` (n_components ×
    D); ``explained_variance_ratio`` the share of the total variance along
    each; ``mean`` the mean snapshot. Each component's sign is fixed so that
    its largest-magnitude loading is positive.
    """

    projections: np.ndarray
    explained_variance_ratio: np.ndarray
    components: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)


def _selected(name: str, layer: str | None) -> bool:
    return layer is None or name == layer or name.startswith(layer + ".")


def _flatten_snapshot(snapshot, layer: str | None, index: int) -> np.ndarray:
    if isinstance(snapshot, nn.Module):
        items = [(n, p) for n, p in snapshot.named_parameters()]
    elif isinstance(snapshot, Mapping):
        items = [
            (n, t)
            for n, t in snapshot.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point()
        ]
    else:
        if layer is not None:
            raise ProbeError(
                "layer= selects entries of state_dicts or models; snapshot "
                f"{index} is a flat {type(snapshot).__name__}"
            )
        return as_float64(snapshot, f"snapshot {index}").reshape(-1)
    items = [(n, t) for n, t in items if _selected(n, layer)]
    if not items:
        raise ProbeError(
            f"snapshot {index} has no floating-point entries"
            + ("" if layer is None else f" under layer {layer!r}")
        )
    return np.concatenate([t.detach().cpu().double().numpy().reshape(-1) for _, t in items])


def _memory(snapshot) -> tuple | None:
    """Where a snapshot's numbers live: ``(address, shape, stride, dtype)`` of each tensor/array.

    Two snapshots with the same memory are the same weights read twice (the
    same model or ``state_dict()`` appended every epoch without a copy), not
    two points of a trajectory. ``None`` when a snapshot is not (only) tensors and arrays.
    """
    if isinstance(snapshot, nn.Module):
        tensors = [p for _, p in snapshot.named_parameters()]
    elif isinstance(snapshot, Mapping):
        tensors = [t for t in snapshot.values() if isinstance(t, torch.Tensor)]
    else:
        tensors = [snapshot]
    places = []
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.numel():
            places.append((t.device, t.data_ptr(), tuple(t.shape), t.stride(), t.dtype))
        elif isinstance(t, np.ndarray) and t.size:
            places.append((t.__array_interface__["data"][0], t.shape, t.strides, t.dtype.str))
        else:
            return None
    return tuple(places) or None


def _check_distinct(snapshots: list) -> None:
    seen: dict[tuple, int] = {}
    for index, snapshot in enumerate(snapshots):
        place = _memory(snapshot) or ("object", id(snapshot))
        if place in seen:
            raise ProbeError(
                f"snapshots {seen[place]} and {index} are the same weights in memory (the same "
                f"{type(snapshot).__name__} appended twice, e.g. the model itself or its "
                "state_dict() every epoch), so the trajectory would have no variance; append a "
                "copy each time: {k: v.detach().clone() for k, v in model.state_dict().items()}"
                " or copy.deepcopy(model)"
            )
        seen[place] = index


def weight_pca(
    snapshots: Sequence, n_components: int = 2, *, layer: str | None = None
) -> WeightPCAResult:
    r"""Project a sequence of weight snapshots on their top principal components.

    The snapshots ``θ_1 … θ_T`` (flat tensors/arrays, ``state_dict``\ s or
    models) are flattened, centered on their mean and decomposed by SVD
    (float64): ``Θ − θ̄ = U S Vᵀ``; projections ``U S``, components ``Vᵀ``,
    explained variance ratio ``S² / Σ S²``. This is the trajectory view of
    H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss
    Landscape of Neural Nets", NeurIPS 2018, §7.

    ``layer`` keeps only the entries named ``layer`` or ``layer.*`` (e.g.
    ``"1"`` for the parameters of ``model[1]``, the first layer after a
    Flatten). For models, every parameter is used; for state_dicts, every
    floating-point entry (buffers such as BatchNorm statistics included).
    Two snapshots that are the same weights in memory (the model, or its
    uncopied ``state_dict()``, appended every epoch) are refused.
    """
    if (
        isinstance(snapshots, (str, bytes, Mapping, nn.Module))
        or not isinstance(snapshots, Iterable)
        or (isinstance(snapshots, (torch.Tensor, np.ndarray)) and snapshots.ndim == 0)
    ):
        raise ProbeError(
            "snapshots must be a list of snapshots (flat tensors or arrays, "
            f"state_dicts or models), got {_checks.describe(snapshots)}"
        )
    n_components = _checks.integer(n_components, "n_components", minimum=1)
    if layer is not None and not isinstance(layer, str):
        raise ProbeError(
            f"layer must be a parameter-name prefix such as '1' or None, got "
            f"{_checks.describe(layer)}"
        )
    snapshots = list(snapshots)
    _check_distinct(snapshots)
    if len(snapshots) < 2:
        raise ProbeError(f"weight_pca needs at least 2 snapshots, got {len(snapshots)}")
    rows = [_flatten_snapshot(s, layer, i) for i, s in enumerate(snapshots)]
    sizes = {r.size for r in rows}
    if len(sizes) != 1:
        raise ProbeError(
            f"snapshots flatten to different lengths {sorted(sizes)}; they must "
            "come from the same architecture"
        )
    matrix = np.stack(rows)
    max_components = min(matrix.shape)
    if not 1 <= n_components <= max_components:
        raise ProbeError(
            f"n_components must be in [1, {max_components}] for {matrix.shape[0]} "
            f"snapshots of {matrix.shape[1]} weights, got {n_components}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ProbeError("snapshots contain NaN or infinite weights")
    mean = matrix.mean(axis=0)
    u, s, vt = np.linalg.svd(matrix - mean, full_matrices=False)
    u, s, vt = u[:, :n_components], s, vt[:n_components]
    signs = np.sign(vt[np.arange(n_components), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    total = float(np.sum(s**2))
    ratio = s[:n_components] ** 2 / total if total > 0 else np.zeros(n_components)
    return WeightPCAResult(
        projections=readonly(u * s[:n_components] * signs),
        explained_variance_ratio=readonly(ratio),
        components=readonly(vt * signs[:, None]),
        mean=readonly(mean),
    )
