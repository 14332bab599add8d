"""Claims about several conditions at once: "A > B > C" and "X is the best"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from ._common import StatsError, as_sample, fmt
from .compare import Comparison, compare_paired
from .verdict import Verdict, combine


def _label(key: Hashable) -> str:
    return str(key)


@dataclass(frozen=True)
class Ordering:
    """An ordering claim over conditions (see :func:`ordering`)."""

    verdict: Verdict
    order: tuple[Hashable, ...]
    alternative: str
    comparisons: tuple[Comparison, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "ordering",
            "verdict": self.verdict.value,
            "order": [_label(k) for k in self.order],
            "alternative": self.alternative,
            "comparisons": [{"pair": [_label(a), _label(b)], **c.as_dict()}
                            for a, b, c in zip(self.order, self.order[1:], self.comparisons)],
        }

    def __str__(self) -> str:
        sign = " > " if self.alternative == "greater" else " < "
        parts = ", ".join(f"{_label(a)}−{_label(b)} {c.verdict.value}"
                          for a, b, c in zip(self.order, self.order[1:], self.comparisons))
        return f"{sign.join(_label(k) for k in self.order)}: {self.verdict.value} ({parts})"


def _samples(samples_by_condition: Mapping[Hashable, Any], keys: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
    missing = [k for k in keys if k not in samples_by_condition]
    if missing:
        raise StatsError(f"no samples for {missing!r}; conditions given: {list(samples_by_condition)!r}")
    return {k: as_sample(samples_by_condition[k], f"samples of {_label(k)!r}") for k in keys}


def ordering(samples_by_condition: Mapping[Hashable, Any], order: Sequence[Hashable], *,
             alternative: str = "greater", margin: float = 0.0, confidence: float = 0.95,
             n_resamples: int = 10_000, seed: int = 0, interval: str = "student-t") -> Ordering:
    """Decide "order[0] > order[1] > ... " (or ``<`` with ``alternative="less"``) over paired seeds.

    Each adjacent pair is a :func:`~dlverify.stats.compare_paired` (same seeds,
    paired by index, same ``margin``, ``confidence``, ``seed``, ``interval``); the verdict is
    :func:`~dlverify.stats.combine` of theirs: holds iff every step holds,
    refuted if any step is refuted, else inconclusive. Requiring every step to
    hold at level α is an intersection–union test, itself of level α (Berger,
    Technometrics 24, 1982), so no multiplicity correction is needed for
    "holds"; "refuted" means at least one step is confidently reversed.
    """
    order = tuple(order)
    if len(order) < 2 or len(set(order)) != len(order):
        raise StatsError(f"order must name at least 2 distinct conditions, got {list(order)!r}")
    if alternative not in ("greater", "less"):
        raise StatsError(f"alternative must be 'greater' or 'less' for an ordering, got {alternative!r}")
    samples = _samples(samples_by_condition, order)
    comparisons = tuple(compare_paired(samples[a], samples[b], alternative=alternative, margin=margin,
                                       confidence=confidence, n_resamples=n_resamples, seed=seed, interval=interval)
                        for a, b in zip(order, order[1:]))
    return Ordering(verdict=combine(*comparisons), order=order, alternative=alternative, comparisons=comparisons)


@dataclass(frozen=True)
class Best:
    """Which condition is best, and whether it beats every other (see :func:`argbest`).

    ``best`` is the condition with the best mean; ``subject`` the one whose
    superiority the verdict is about (``claimed`` when given, else ``best``);
    ``comparisons`` maps every other condition to ``subject`` vs it.
    """

    verdict: Verdict
    best: Hashable
    subject: Hashable
    higher_is_better: bool
    means: dict[Hashable, float]
    comparisons: dict[Hashable, Comparison]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "best",
            "verdict": self.verdict.value,
            "best": _label(self.best),
            "subject": _label(self.subject),
            "higher_is_better": self.higher_is_better,
            "means": {_label(k): v for k, v in self.means.items()},
            "comparisons": {_label(k): c.as_dict() for k, c in self.comparisons.items()},
        }

    def __str__(self) -> str:
        parts = ", ".join(f"vs {_label(k)} {c.verdict.value}" for k, c in self.comparisons.items())
        return (f"best mean: {_label(self.best)} ({fmt(self.means[self.best])}); "
                f"{_label(self.subject)} best of all: {self.verdict.value} ({parts})")


def argbest(samples_by_condition: Mapping[Hashable, Any], *, higher_is_better: bool = True,
            claimed: Hashable | None = None, margin: float = 0.0, confidence: float = 0.95,
            n_resamples: int = 10_000, seed: int = 0, interval: str = "student-t") -> Best:
    """The condition with the best mean, and whether it is better than every other.

    ``samples_by_condition`` maps each condition to its per-seed values
    (paired by index across conditions). ``best`` is the condition with the
    highest mean (lowest with ``higher_is_better=False``; the first in the
    mapping's order on a tie). The verdict is about ``claimed`` if given (the
    report's "X is the best"), else about ``best``: ``subject`` vs each other
    condition with :func:`~dlverify.stats.compare_paired`
    (``"greater"``, or ``"less"`` when lower is better) and
    :func:`~dlverify.stats.combine` of those: holds iff it beats every other,
    refuted if some other condition is confidently better than it, else
    inconclusive. Without ``claimed`` the verdict is holds or inconclusive at
    margin 0 (the best mean cannot be confidently worse than another).
    """
    keys = list(samples_by_condition)
    if len(keys) < 2:
        raise StatsError(f"argbest needs at least 2 conditions, got {len(keys)}")
    samples = _samples(samples_by_condition, keys)
    means = {k: float(v.mean()) for k, v in samples.items()}
    pick = max if higher_is_better else min
    best = pick(keys, key=lambda k: means[k])
    if claimed is not None and claimed not in samples:
        raise StatsError(f"claimed best {claimed!r} is not among the conditions {keys!r}")
    subject = best if claimed is None else claimed
    alternative = "greater" if higher_is_better else "less"
    comparisons = {k: compare_paired(samples[subject], samples[k], alternative=alternative, margin=margin,
                                     confidence=confidence, n_resamples=n_resamples, seed=seed, interval=interval)
                   for k in keys if k != subject}
    return Best(verdict=combine(*comparisons.values()), best=best, subject=subject,
                higher_is_better=bool(higher_is_better), means=means, comparisons=comparisons)
