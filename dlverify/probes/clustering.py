"""Clusters and a 2-D map of the rows of a weight matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ProbeError
from . import _checks
from ._arrays import as_float64, readonly

#: KMeans restarts (scikit-learn's ``n_init``), explicit so results don't depend on its default.
N_INIT = 10

#: Up to this many rows t-SNE uses the exact gradient (O(n²), a few MB at 1000 rows) rather than
#: the Barnes-Hut approximation: exact is the reference algorithm, and for weight matrices' tens
#: to hundreds of rows it is also faster (Barnes-Hut's thread pool dominates on small inputs).
EXACT_TSNE_ROWS = 1000


@dataclass(frozen=True)
class ClusterResult:
    """k-means clusters of the rows of a weight matrix, with an optional t-SNE picture.

    ``labels`` of each row, the ``centers``, the ``inertia``, and the 2-D
    t-SNE ``embedding`` of the rows (``None`` unless asked for), with the
    ``perplexity`` used; read-only numpy arrays (labels int64, the rest float64).
    """

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    embedding: np.ndarray | None
    perplexity: float | None


def default_perplexity(n_rows: int) -> float:
    """``min(30, max(1, (n_rows − 1) / 3))``: about a third of the other rows as neighbours.

    t-SNE needs ``perplexity < n_rows``; the usual 5–50 (van der Maaten &
    Hinton, 2008) assumes thousands of points. For the 10 class-template rows
    of a softmax regression this gives 3.
    """
    return float(min(30.0, max(1.0, (n_rows - 1) / 3)))


def cluster_weights(
    weight_matrix, k: int, *, seed: int, tsne: bool = False, perplexity: float | None = None
) -> ClusterResult:
    """k-means on the rows of ``weight_matrix`` and, optionally, their t-SNE map.

    k-means: ``sklearn.cluster.KMeans(n_clusters=k, n_init=10,
    random_state=seed)`` (Lloyd's algorithm, k-means++ starts; Arthur &
    Vassilvitskii, 2007). t-SNE (van der Maaten & Hinton, 2008):
    ``sklearn.manifold.TSNE(n_components=2, perplexity=..., init="pca",
    method="exact", random_state=seed)`` (Barnes-Hut above ``EXACT_TSNE_ROWS``
    rows), perplexity by :func:`default_perplexity` unless given. Rows are
    typically one unit's incoming weights (a row of ``nn.Linear.weight``;
    the 10 class templates of a softmax regression). Computed in float64 on
    the CPU.
    """
    k = _checks.integer(k, "k", minimum=1)
    seed = _checks.integer(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ProbeError(f"seed must be < 2**32 (scikit-learn's random_state), got {seed}")
    tsne = _checks.flag(tsne, "tsne")
    if perplexity is not None:
        perplexity = _checks.real(perplexity, "perplexity", above=0)
    x = as_float64(weight_matrix, "weight_matrix")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ProbeError(
            f"weight_matrix must be a non-empty 2-D matrix (rows are clustered), "
            f"got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ProbeError("weight_matrix contains NaN or infinite entries")
    n_rows = x.shape[0]
    if not 1 <= k <= n_rows:
        raise ProbeError(f"k must be in [1, {n_rows}] (the number of rows), got {k}")
    from sklearn.cluster import KMeans  # here, not at import: importing dlverify.probes stays light

    kmeans = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
    embedding = None
    if tsne:
        if n_rows < 2:
            raise ProbeError("t-SNE needs at least 2 rows")
        perplexity = default_perplexity(n_rows) if perplexity is None else perplexity
        if not 0 < perplexity < n_rows:
            raise ProbeError(
                f"perplexity must be in (0, {n_rows}) for {n_rows} rows, got {perplexity}"
            )
        init = "pca" if x.shape[1] >= 2 else "random"  # PCA init needs 2 columns
        method = "exact" if n_rows <= EXACT_TSNE_ROWS else "barnes_hut"
        from sklearn.manifold import TSNE

        embedding = TSNE(
            n_components=2, perplexity=perplexity, init=init, method=method, random_state=seed
        ).fit_transform(x)
    return ClusterResult(
        labels=readonly(kmeans.labels_, np.int64),
        centers=readonly(kmeans.cluster_centers_),
        inertia=float(kmeans.inertia_),
        embedding=None if embedding is None else readonly(embedding),
        perplexity=perplexity if tsne else None,
    )
