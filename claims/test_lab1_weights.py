"""Claims of the lab1 report, §2: what the softmax regression's weights look like.

The class weight images of the 100-epoch RMSprop run
(:mod:`claims.lab1_softmax_protocol`): patterns, clusters, sharpening.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from claims.lab1_softmax_protocol import EPOCHS, REFERENCE, flat, record_protocol
from dlverify import stats
from dlverify.data import FASHION_MNIST_CLASSES
from dlverify.evidence import Finding
from dlverify.probes import cluster_weights
from dlverify.report.figures import subplots

TOPS, FOOTWEAR = (0, 2, 4, 6), (5, 7, 9)


def _class_means(train) -> torch.Tensor:
    """``(10, 784)``: the mean training image of each class."""
    x, y = flat(train)
    return torch.stack([x[y == c].mean(0) for c in range(10)])


def _correlations(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pearson correlation over pixels of every row of ``a`` with every row of ``b``."""
    return np.corrcoef(a.double().numpy(), b.double().numpy())[: len(a), len(a) :]


def _weight_images(weight: torch.Tensor, title: str):
    limit = float(weight.abs().max())
    fig, axes = subplots(2, 5, figsize=(8, 3.6))
    for c, ax in enumerate(axes.flat):
        ax.imshow(weight[c].reshape(28, 28).numpy(), cmap="seismic", vmin=-limit, vmax=limit)
        ax.set_title(FASHION_MNIST_CLASSES[c], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _flag_short_run(claim, epochs: int) -> None:
    """The report draws its weights from the 100-epoch RMSprop run; say so when this one is shorter."""
    if epochs < 100:
        claim.scaled(
            f"the weights after {epochs} epochs, not the report's 100 (--profile full runs 100)"
        )


@pytest.mark.claim(
    "lab1.weights-class-patterns",
    source="lab1 §2, Fig. 8",
    xfail=Finding(
        "most class weight images do not best match their own class's mean image: the templates "
        "are contrastive (what separates a class from the others), not pictures of the class",
        fails=("every class's weight image best matches its own class mean",),
    ),
)
def test_weights_class_patterns(claim, lab1_softmax, device, seeds):
    """The per-class weight images show distinct, class-specific patterns.

    The reference RMSprop model after its last epoch (the report's 100-epoch
    run), every seed. "Class specific" = each class's weight image (its row
    of W as 28×28) correlates more with its own class's mean training image
    than with any other class's mean image (Pearson over pixels), for all 10
    classes and every seed. The same with the class means centred on the
    overall mean is recorded too.
    """
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    train, _ = lab1_softmax.split(0.1)
    means = _class_means(train)
    centred = means - means.mean(0)
    matches, matches_centred, diagonal = [], [], []
    for run in runs:
        weight = run.weights[-1]
        corr = _correlations(weight, means)
        matches.append([int(np.argmax(corr[c])) == c for c in range(10)])
        matches_centred.append(
            [int(np.argmax(_correlations(weight, centred)[c])) == c for c in range(10)]
        )
        diagonal.append(np.diag(corr).tolist())
    _flag_short_run(claim, lab1_softmax.long_epochs)
    record_protocol(claim, device, seeds, optimizer="rmsprop", epochs=lab1_softmax.long_epochs)
    claim.report(statement="the weights for each class display distinct patterns (Fig. 8)")
    claim.measure(
        own_class_mean_is_best_match=matches,
        own_centred_mean_is_best_match=matches_centred,
        correlation_with_own_class_mean=diagonal,
        classes_matched_per_seed=[sum(m) for m in matches],
    )
    claim.figure(
        _weight_images(runs[0].weights[-1], f"Class weight images, seed {runs[0].seed} (Fig. 8)"),
        "weight-images",
    )
    claim.expect(
        all(all(m) for m in matches), "every class's weight image best matches its own class mean"
    )


GARMENT_GROUPS = {
    0: "top",
    2: "top",
    4: "top",
    6: "top",
    5: "footwear",
    7: "footwear",
    9: "footwear",
    1: "trouser",
    3: "dress",
    8: "bag",
}


def _cluster_picture(result, title: str):
    fig, ax = subplots(figsize=(5.5, 4.2))
    points = ax.scatter(
        result.embedding[:, 0], result.embedding[:, 1], c=result.labels, cmap="viridis", s=60
    )
    for c, (x, y) in enumerate(result.embedding):
        ax.annotate(
            FASHION_MNIST_CLASSES[c], (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points"
        )
    fig.colorbar(points, ax=ax, label="k-means cluster")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    fig.tight_layout()
    return fig


@pytest.mark.claim(
    "lab1.weight-clusters-semantic",
    source="lab1 §2 Cluster the weights, Fig. 9",
    xfail=Finding(
        "the clusters are stable and never mix footwear with tops, but the footwear classes do not share one cluster",
        fails=("sandal, sneaker and ankle boot share a cluster (every seed)",),
    ),
)
def test_weight_clusters_semantic(claim, lab1_softmax, device, seeds):
    """k-means (k = 5) on the 10 class weight vectors gives distinct clusters grouping similar classes.

    The reference RMSprop model after its last epoch (the report's 100-epoch
    run); ``cluster_weights`` (k-means, k = 5, seeded by the run's seed) on
    the rows of W, with the t-SNE picture. Decided for every seed (stability
    over seeds): the footwear classes (sandal, sneaker, ankle boot) fall in
    one cluster, and no cluster mixes a footwear class with a top (T-shirt,
    pullover, coat, shirt). The adjusted Rand index with the garment
    grouping (tops, footwear, trouser, dress, bag) and between seeds is
    recorded.
    """
    from sklearn.metrics import adjusted_rand_score

    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=lab1_softmax.long_epochs)
    results = [cluster_weights(run.weights[-1], 5, seed=run.seed, tsne=True) for run in runs]
    labels = [r.labels.tolist() for r in results]
    footwear_together = [len({lab[c] for c in FOOTWEAR}) == 1 for lab in labels]
    unmixed = [not ({lab[c] for c in FOOTWEAR} & {lab[c] for c in TOPS}) for lab in labels]
    garment = [GARMENT_GROUPS[c] for c in range(10)]
    ari_garment = [adjusted_rand_score(garment, lab) for lab in labels]
    ari_seeds = [
        adjusted_rand_score(labels[i], labels[j])
        for i in range(len(labels))
        for j in range(i + 1, len(labels))
    ]
    _flag_short_run(claim, lab1_softmax.long_epochs)
    record_protocol(
        claim,
        device,
        seeds,
        optimizer="rmsprop",
        epochs=lab1_softmax.long_epochs,
        clustering="k-means k=5 (n_init=10) on the 10 rows of W; t-SNE for the picture",
    )
    claim.report(
        statement="k-means with 5 clusters gives distinct clusters grouping classes with similar weights"
    )
    claim.measure(
        cluster_of_each_class={
            str(run.seed): dict(zip(FASHION_MNIST_CLASSES, lab)) for run, lab in zip(runs, labels)
        },
        footwear_in_one_cluster=footwear_together,
        footwear_never_with_tops=unmixed,
        adjusted_rand_vs_garment_groups=ari_garment,
        adjusted_rand_between_seeds=ari_seeds,
    )
    claim.figure(
        _cluster_picture(
            results[0], f"t-SNE of the class weight vectors, k-means k=5, seed {runs[0].seed}"
        ),
        "weight-clusters-tsne",
    )
    claim.expect(
        all(footwear_together), "sandal, sneaker and ankle boot share a cluster (every seed)"
    )
    claim.expect(all(unmixed), "no cluster mixes footwear with tops (every seed)")


def _weight_image_rows(snapshots, title: str):
    """One row of the 10 class weight images per ``(label, weight)``, each row on its own scale."""
    rows = len(snapshots)
    fig, axes = subplots(rows, 10, figsize=(11, 1.3 * rows + 0.4), squeeze=False)
    for row, (label, weight) in enumerate(snapshots):
        limit = float(weight.abs().max())
        for c in range(10):
            ax = axes[row, c]
            ax.imshow(weight[c].reshape(28, 28).numpy(), cmap="seismic", vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(FASHION_MNIST_CLASSES[c], fontsize=7)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _own_class_correlation(weight: torch.Tensor, images: torch.Tensor) -> float:
    """Mean over the classes of the correlation of class c's weight image with ``images[c]``."""
    return float(np.mean(np.diag(_correlations(weight, images))))


@pytest.mark.claim("lab1.weights-sharpen", source="lab1 §2, Figs. 7-8")
def test_weights_sharpen(claim, lab1_softmax, device, seeds):
    """The class weight images become more defined as training goes on (some noisy regions remain).

    The reference run of lab1.rmsprop-100-epochs, its weights after epochs
    1, 10 and 100. "More defined" (the catalogue's measure): the Pearson
    correlation over pixels of each class's weight image with its class's
    mean training image, averaged over the 10 classes, rises from snapshot
    to snapshot. Decided as a rank trend over the three epochs, seeds as
    replicates (Page's L). The same correlation with the class means
    centred on the overall mean image is recorded beside it.
    """
    epochs = lab1_softmax.long_epochs
    runs = lab1_softmax.runs(REFERENCE, seeds, device, epochs=epochs)
    snapshots = (1, EPOCHS, epochs)
    train, _ = lab1_softmax.split(REFERENCE.val_split)
    means = _class_means(train)
    centred = means - means.mean(0)
    corr = [[_own_class_correlation(run.weights[e - 1], means) for run in runs] for e in snapshots]
    corr_centred = [
        [_own_class_correlation(run.weights[e - 1], centred) for run in runs] for e in snapshots
    ]
    if epochs < 100:
        claim.scaled(f"100 -> {epochs} epochs under the default profile: snapshots at {snapshots}")
    record_protocol(
        claim,
        device,
        seeds,
        optimizer="rmsprop",
        epochs=epochs,
        snapshot_epochs=list(snapshots),
        definiteness="mean over classes of corr(weight image, own class-mean image)",
    )
    claim.report(statement="as training progresses the weight patterns become more defined")
    claim.measure(
        correlation_with_class_mean=dict(zip(snapshots, corr)),
        correlation_with_centred_class_mean=dict(zip(snapshots, corr_centred)),
    )
    claim.figure(
        _weight_image_rows(
            [(f"epoch {e}", runs[0].weights[e - 1]) for e in snapshots],
            f"Class weight images, seed {runs[0].seed} (Fig. 8)",
        ),
        "weight-images-by-epoch",
    )
    centred_trend = stats.rank_trend(list(snapshots), corr_centred, alternative="increasing")
    if centred_trend.verdict == "refuted":
        claim.note(
            "with the class means centred on the overall mean image the correlation falls "
            "over the same epochs: the rise comes from the part all classes share, not from "
            "the class-specific part (see lab1.weights-class-patterns)"
        )
    claim.expect(
        stats.rank_trend(list(snapshots), corr, alternative="increasing"),
        "correlation with the class-mean image rises over epochs 1, 10 and the last",
    )
