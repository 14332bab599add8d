"""Preconditions that every claim family checks before its comparison means something.

A comparison of trained classifiers presupposes that they trained: a network
that stayed at the label prior is not "worse" or "smoother" or "slower" than
another, it did not take part. :func:`require_learned` turns such a comparison
into an inconclusive verdict with the reason (``claim.undecidable``), never
"holds" (issue #15 item 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

LEARNED_MARGIN = 0.1  # "learned": at least 10 accuracy points above chance


def chance_accuracy(labels: torch.Tensor) -> float:
    """The accuracy of always predicting the most frequent class: ``max_c n_c / n``.

    The best a classifier that ignores its input can do on ``labels`` (e.g.
    0.1135 on MNIST's test set, 0.1 on Fashion-MNIST's).
    """
    if labels.numel() == 0:
        raise ValueError("chance_accuracy needs at least one label; pass the evaluation labels")
    return float(torch.bincount(labels.flatten().long()).max()) / labels.numel()


def require_learned(
    claim,
    accuracies: Mapping[str, Sequence[float]],
    *,
    chance: float,
    margin: float = LEARNED_MARGIN,
    metric: str = "val acc",
) -> None:
    """Record the comparison as inconclusive unless every configuration learned.

    "Learned": every seed's final accuracy ``a`` (``accuracies[name]``, one
    value per seed, measured as ``metric`` says) satisfies
    ``a ≥ chance + margin``, with ``chance`` from :func:`chance_accuracy` on the
    same evaluation labels. Otherwise ``claim.undecidable`` names the
    configurations that did not learn with their lowest accuracy over seeds
    (e.g. a penalty so strong that the network stays at the label prior).
    The chance level is recorded as ``chance_<metric>`` in any case.

    Pass only the configurations whose learning the comparison presupposes:
    one the claim itself expects to fail (zero init, a learning rate said to
    overshoot) is the claim's content, not a precondition.
    """
    if not accuracies:
        raise ValueError("require_learned needs at least one configuration's accuracies")
    lowest = {name: min(values) for name, values in accuracies.items()}
    untrained = {name: round(low, 4) for name, low in lowest.items() if low < chance + margin}
    claim.measure(**{"chance_" + metric.replace(" ", "_"): chance})
    if untrained:
        claim.undecidable(
            f"every compared network learned ({metric} ≥ chance + {margin:g})",
            f"did not learn (lowest {metric} over seeds): {untrained}; chance is {chance:.4f}",
        )
