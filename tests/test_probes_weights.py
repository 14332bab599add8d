"""PCA of weight trajectories (Li et al., 2018) and k-means / t-SNE of weight rows.

References: scikit-learn's PCA and KMeans on the same data; blobs with known
membership. Tolerances are stated per assertion.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from torch import nn

from dlverify.errors import ProbeError
from dlverify.probes import cluster_weights, weight_pca
from dlverify.probes.clustering import default_perplexity


def trajectory(seed: int, steps: int = 8, size: int = 12) -> np.ndarray:
    """A random walk with drift: rows are snapshots of ``size`` weights."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(steps, size)) + np.linspace(0, 1, size), axis=0)


def aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` with each column's sign flipped to match ``a`` (principal directions have no sign)."""
    return b * np.sign(np.sum(a * b, axis=0))


# --- weight PCA -----------------------------------------------------------------------------


def test_weight_pca_matches_scikit_learn():
    snapshots = trajectory(0)
    result = weight_pca([torch.from_numpy(s) for s in snapshots], n_components=3)
    reference = PCA(n_components=3, svd_solver="full").fit(snapshots)
    np.testing.assert_allclose(
        result.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-10
    )
    expected = reference.transform(snapshots)
    np.testing.assert_allclose(
        result.projections, aligned(result.projections, expected), atol=1e-10
    )
    assert result.projections.shape == (8, 3) and result.components.shape == (3, 12)
    np.testing.assert_allclose(result.mean, snapshots.mean(axis=0), atol=1e-12)


def test_weight_pca_of_a_straight_line_has_one_component():
    start, direction = np.ones(5), np.array([1.0, -2.0, 0.0, 0.5, 3.0])
    snapshots = [start + t * direction for t in np.linspace(0, 1, 6)]
    result = weight_pca(snapshots)
    assert result.explained_variance_ratio[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.projections[:, 1], 0, atol=1e-12)
    # sign convention: the largest-magnitude loading is positive
    assert result.components[0, np.argmax(np.abs(result.components[0]))] > 0


def test_weight_pca_reads_models_and_state_dicts_and_selects_a_layer():
    models = []
    for seed in range(5):
        torch.manual_seed(seed)
        models.append(nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    from_models = weight_pca(models)
    from_state = weight_pca([m.state_dict() for m in models])
    flat = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models]
    from_flat = weight_pca(flat)
    np.testing.assert_allclose(from_models.projections, from_flat.projections, atol=1e-6)
    np.testing.assert_allclose(from_state.projections, from_flat.projections, atol=1e-6)
    first = weight_pca(models, layer="1")
    first_flat = weight_pca(
        [torch.cat([m[1].weight.detach().reshape(-1), m[1].bias.detach()]) for m in models]
    )
    np.testing.assert_allclose(first.projections, first_flat.projections, atol=1e-6)
    assert first.components.shape == (2, 16)


def test_weight_pca_rejects_bad_input():
    with pytest.raises(ProbeError, match="at least 2 snapshots"):
        weight_pca([np.zeros(3)])
    with pytest.raises(ProbeError, match="different lengths"):
        weight_pca([np.zeros(3), np.zeros(4)])
    with pytest.raises(ProbeError, match=r"n_components must be in \[1, 2\]"):
        weight_pca([np.zeros(3), np.ones(3)], n_components=3)
    with pytest.raises(ProbeError, match="under layer 'nope'"):
        weight_pca([nn.Linear(2, 2), nn.Linear(2, 2)], layer="nope")


# --- clustering -----------------------------------------------------------------------------


def test_cluster_weights_recovers_well_separated_blobs_like_scikit_learn():
    rows, truth = make_blobs(
        n_samples=30, centers=3, n_features=20, cluster_std=0.5, random_state=0
    )
    result = cluster_weights(torch.from_numpy(rows), 3, seed=0)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    reference = KMeans(n_clusters=3, n_init=10, random_state=0).fit(rows)
    np.testing.assert_array_equal(result.labels, reference.labels_)
    assert result.inertia == pytest.approx(reference.inertia_, rel=1e-12)
    assert result.embedding is None and result.perplexity is None


def test_cluster_weights_embeds_ten_rows_with_t_sne():
    rows, truth = make_blobs(
        n_samples=10, centers=2, n_features=50, cluster_std=0.3, random_state=1
    )
    runs = [cluster_weights(rows, 2, seed=3, tsne=True) for _ in range(2)]
    assert runs[0].perplexity == default_perplexity(10) == 3.0
    assert runs[0].embedding.shape == (10, 2) and np.all(np.isfinite(runs[0].embedding))
    np.testing.assert_array_equal(runs[0].embedding, runs[1].embedding)  # seeded
    assert adjusted_rand_score(truth, runs[0].labels) == 1.0
    # the two blobs stay apart in the map: every point is nearer its own blob's mean
    centers = np.stack([runs[0].embedding[truth == k].mean(axis=0) for k in (0, 1)])
    nearest = np.argmin(((runs[0].embedding[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, truth)


def test_default_perplexity_stays_below_the_number_of_rows():
    for n in range(2, 200):
        assert 0 < default_perplexity(n) < n
    assert default_perplexity(1000) == 30


def test_cluster_weights_rejects_bad_input():
    with pytest.raises(ProbeError, match=r"k must be in \[1, 4\]"):
        cluster_weights(np.zeros((4, 2)), 5, seed=0)
    with pytest.raises(ProbeError, match="2-D matrix"):
        cluster_weights(np.zeros(4), 2, seed=0)
    with pytest.raises(ProbeError, match=r"perplexity must be in \(0, 4\)"):
        cluster_weights(
            np.random.default_rng(0).normal(size=(4, 3)), 2, seed=0, tsne=True, perplexity=4
        )
