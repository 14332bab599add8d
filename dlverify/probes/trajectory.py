"""Principal components of a weight trajectory (Li et al., 2018)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ProbeError
from ._arrays import readonly


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
        items = [(n, t) for n, t in snapshot.items()
                 if isinstance(t, torch.Tensor) and t.is_floating_point()]
    else:
        if layer is not None:
            raise ProbeError("layer= selects entries of state_dicts or models; snapshot "
                             f"{index} is a flat {type(snapshot).__name__}")
        array = snapshot.detach().cpu().numpy() if isinstance(snapshot, torch.Tensor) else snapshot
        return np.asarray(array, dtype=np.float64).reshape(-1)
    items = [(n, t) for n, t in items if _selected(n, layer)]
    if not items:
        raise ProbeError(f"snapshot {index} has no floating-point entries"
                         + ("" if layer is None else f" under layer {layer!r}"))
    return np.concatenate([t.detach().cpu().double().numpy().reshape(-1) for _, t in items])


def weight_pca(snapshots: Sequence, n_components: int = 2, *, layer: str | None = None) -> WeightPCAResult:
    """Project a sequence of weight snapshots on their top principal components.

    The snapshots ``θ_1 … θ_T`` (flat tensors/arrays, ``state_dict``\\ s or
    models) are flattened, centered on their mean and decomposed by SVD
    (float64): ``Θ − θ̄ = U S Vᵀ``; projections ``U S``, components ``Vᵀ``,
    explained variance ratio ``S² / Σ S²``. This is the trajectory view of
    H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss
    Landscape of Neural Nets", NeurIPS 2018, §7.

    ``layer`` keeps only the entries named ``layer`` or ``layer.*`` (e.g.
    ``"1"`` for the parameters of ``model[1]``, the first layer after a
    Flatten). For models, every parameter is used; for state_dicts, every
    floating-point entry (buffers such as BatchNorm statistics included).
    """
    snapshots = list(snapshots)
    if len(snapshots) < 2:
        raise ProbeError(f"weight_pca needs at least 2 snapshots, got {len(snapshots)}")
    rows = [_flatten_snapshot(s, layer, i) for i, s in enumerate(snapshots)]
    sizes = {r.size for r in rows}
    if len(sizes) != 1:
        raise ProbeError(f"snapshots flatten to different lengths {sorted(sizes)}; they must "
                         "come from the same architecture")
    matrix = np.stack(rows)
    max_components = min(matrix.shape)
    if not 1 <= n_components <= max_components:
        raise ProbeError(f"n_components must be in [1, {max_components}] for {matrix.shape[0]} "
                         f"snapshots of {matrix.shape[1]} weights, got {n_components}")
    if not np.all(np.isfinite(matrix)):
        raise ProbeError("snapshots contain NaN or infinite weights")
    mean = matrix.mean(axis=0)
    u, s, vt = np.linalg.svd(matrix - mean, full_matrices=False)
    u, s, vt = u[:, :n_components], s, vt[:n_components]
    signs = np.sign(vt[np.arange(n_components), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    total = float(np.sum(s ** 2))
    ratio = s[:n_components] ** 2 / total if total > 0 else np.zeros(n_components)
    return WeightPCAResult(projections=readonly(u * s[:n_components] * signs),
                           explained_variance_ratio=readonly(ratio),
                           components=readonly(vt * signs[:, None]), mean=readonly(mean))
