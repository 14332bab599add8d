"""Claims about several conditions at once: "A > B > C" and "X is the best".

Both are decided from m paired comparisons (:func:`~dlverify.stats.compare_paired`),
one per step of the ordering or per rival of the best, with two different
rules for the two definite verdicts:

* **holds** iff every comparison holds at ``confidence``. The claim is the
  intersection of the m one-sided claims, and rejecting the union of their
  negations when each is rejected at level α is itself a level-α test — the
  intersection–union test (R. L. Berger, "Multiparameter hypothesis testing
  and acceptance sampling", Technometrics 24, 1982). No multiplicity
  correction is needed, and none is made.
* **refuted** iff some comparison is refuted at the Bonferroni-adjusted
  ``refute_confidence = 1 − (1 − confidence)/m``. "Refuted" says that at
  least one of m comparisons is confidently reversed, a union of m events; each
  one at level ``(1 − c)/(2m)`` keeps the false-refutation rate at most
  ``(1 − c)/2`` (Bonferroni's inequality; O. J. Dunn, "Multiple comparisons
  among means", JASA 56, 1961), whatever the dependence between them. Without
  the adjustment 3 rivals of a truly best condition make it "refuted" 6.4–7 %
  of the time at 95 % instead of 2.5 %.

A step's verdict is holds (at ``confidence``), refuted (at
``refute_confidence``) or inconclusive; the claim's verdict is
:func:`~dlverify.stats.combine` of the steps'. Error rates are measured in
``tests/test_stats_error_rates.py``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import INTERVALS, StatsError, as_sample, check_choice, check_options, fmt, json_number
from .compare import Comparison, compare_paired
from .verdict import Verdict, combine


def _label(key: Hashable) -> str:
    return str(key)


def adjusted_confidence(confidence: float, m: int) -> float:
    """``1 − (1 − confidence)/m``: the per-comparison confidence of a Bonferroni split over m comparisons."""
    return 1 - (1 - confidence) / m


def _step(holds: Comparison, refutes: Comparison) -> Verdict:
    """Holds if ``holds`` holds, refuted if ``refutes`` (the same pair at a higher confidence) is refuted."""
    if holds.verdict is Verdict.HOLDS:
        return Verdict.HOLDS
    return Verdict.REFUTED if refutes.verdict is Verdict.REFUTED else Verdict.INCONCLUSIVE


def _step_dict(step: Verdict, holds: Comparison, refutes: Comparison) -> dict[str, Any]:
    """A comparison's ``as_dict`` with the step's verdict as ``verdict`` (what the claim's verdict combines)."""
    return {
        **holds.as_dict(),
        "verdict": step.value,
        "verdict_at_confidence": holds.verdict.value,
        "refute_confidence": refutes.confidence,
        "refute_ci": [json_number(v) for v in refutes.ci],
    }


def _compare_all(
    samples: Mapping[Hashable, np.ndarray],
    pairs: Sequence[tuple[Hashable, Hashable]],
    confidences: tuple[float, float],
    **options: Any,
) -> tuple[tuple[Comparison, ...], ...]:
    """Each pair compared at both confidences (computed once when they are equal)."""
    out = []
    for confidence in dict.fromkeys(confidences):
        out.append(
            tuple(
                compare_paired(samples[a], samples[b], confidence=confidence, **options)
                for a, b in pairs
            )
        )
    return out[0], out[-1]


@dataclass(frozen=True)
class Ordering:
    """An ordering claim over conditions (see :func:`ordering`).

    ``comparisons`` are the m adjacent steps at ``confidence`` (they decide
    "holds"), ``refute_comparisons`` the same steps at ``refute_confidence``
    (they decide "refuted"), ``steps`` each step's verdict. ``samples`` keeps
    the inputs, so :meth:`at_confidence` can decide them again.
    """

    verdict: Verdict
    order: tuple[Hashable, ...]
    alternative: str
    comparisons: tuple[Comparison, ...]
    refute_comparisons: tuple[Comparison, ...] = ()
    steps: tuple[Verdict, ...] = ()
    confidence: float = 0.95
    refute_confidence: float = 0.95
    margin: float = 0.0
    samples: dict[Hashable, tuple[float, ...]] | None = None
    n_resamples: int = 10_000
    seed: int = 0
    interval: str = "student-t"

    def at_confidence(self, confidence: float) -> Ordering:
        """The same ordering claim on the same samples, decided at another ``confidence``."""
        return ordering(
            self.samples,
            self.order,
            alternative=self.alternative,
            margin=self.margin,
            confidence=confidence,
            n_resamples=self.n_resamples,
            seed=self.seed,
            interval=self.interval,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable fields of this ordering, with its decision rule and steps."""
        return {
            "kind": "ordering",
            "verdict": self.verdict.value,
            "order": [_label(k) for k in self.order],
            "alternative": self.alternative,
            "margin": self.margin,
            "confidence": self.confidence,
            "refute_confidence": self.refute_confidence,
            "rule": (
                f"holds iff every step holds at {self.confidence:.4g} (intersection–union, Berger 1982); "
                f"refuted iff a step is refuted at {self.refute_confidence:.4g} "
                f"(Bonferroni over {len(self.comparisons)} steps)"
            ),
            "comparisons": [
                {"pair": [_label(a), _label(b)], **_step_dict(step, c, r)}
                for a, b, step, c, r in zip(
                    self.order,
                    self.order[1:],
                    self.steps,
                    self.comparisons,
                    self.refute_comparisons,
                )
            ],
        }

    def __str__(self) -> str:
        sign = " > " if self.alternative == "greater" else " < "
        parts = ", ".join(
            f"{_label(a)}−{_label(b)} {step.value}"
            for a, b, step in zip(self.order, self.order[1:], self.steps)
        )
        return f"{sign.join(_label(k) for k in self.order)}: {self.verdict.value} ({parts})"


def _samples(
    samples_by_condition: Mapping[Hashable, Any], keys: Sequence[Hashable]
) -> dict[Hashable, np.ndarray]:
    missing = [k for k in keys if k not in samples_by_condition]
    if missing:
        raise StatsError(
            f"no samples for {missing!r}; conditions given: {list(samples_by_condition)!r}"
        )
    return {k: as_sample(samples_by_condition[k], f"samples of {_label(k)!r}") for k in keys}


def _options(
    confidence: float, n_resamples: int, seed: int, interval: str
) -> tuple[float, int, int, str]:
    return (
        *check_options(confidence, n_resamples, seed),
        check_choice(interval, "interval", INTERVALS),
    )


def ordering(
    samples_by_condition: Mapping[Hashable, Any],
    order: Sequence[Hashable],
    *,
    alternative: str = "greater",
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    interval: str = "student-t",
) -> Ordering:
    """Decide "order[0] > order[1] > ... " (or ``<`` with ``alternative="less"``) over paired seeds.

    Each of the m = len(order) − 1 adjacent pairs is a
    :func:`~dlverify.stats.compare_paired` (same seeds, paired by index, same
    ``margin``, ``seed``, ``interval``; Student t by default). holds iff every
    step holds at ``confidence`` (intersection–union test, Berger 1982: of
    level ``(1−c)/2`` with no correction); refuted iff some step is
    confidently reversed at ``1 − (1 − c)/m`` (Bonferroni over the m steps, so
    a true ordering is falsely refuted at most ``(1−c)/2`` of the time); else
    inconclusive. See the module notes.
    """
    order = tuple(order)
    if len(order) < 2 or len(set(order)) != len(order):
        raise StatsError(f"order must name at least 2 distinct conditions, got {list(order)!r}")
    if alternative not in ("greater", "less"):
        raise StatsError(
            f"alternative must be 'greater' or 'less' for an ordering, got {alternative!r}"
        )
    confidence, n_resamples, seed, interval = _options(confidence, n_resamples, seed, interval)
    samples = _samples(samples_by_condition, order)
    pairs = list(zip(order, order[1:]))
    refute_confidence = adjusted_confidence(confidence, len(pairs))
    comparisons, refutations = _compare_all(
        samples,
        pairs,
        (confidence, refute_confidence),
        alternative=alternative,
        margin=margin,
        n_resamples=n_resamples,
        seed=seed,
        interval=interval,
    )
    steps = tuple(_step(c, r) for c, r in zip(comparisons, refutations))
    return Ordering(
        verdict=combine(*steps),
        order=order,
        alternative=alternative,
        comparisons=comparisons,
        refute_comparisons=refutations,
        steps=steps,
        confidence=confidence,
        refute_confidence=refute_confidence,
        margin=comparisons[0].margin,
        samples={k: tuple(v.tolist()) for k, v in samples.items()},
        n_resamples=n_resamples,
        seed=seed,
        interval=interval,
    )


@dataclass(frozen=True)
class Best:
    """Which condition is best, and whether it beats every other (see :func:`argbest`).

    ``best`` is the condition with the best mean; ``subject`` the one whose
    superiority the verdict is about (``claimed`` when given, else ``best``);
    ``comparisons`` maps every other condition to ``subject`` vs it at
    ``holds_confidence`` (they decide "holds"), ``refute_comparisons`` the
    same at ``refute_confidence`` (they decide "refuted"), ``steps`` their
    verdicts. ``samples`` keeps the inputs for :meth:`at_confidence`.
    """

    verdict: Verdict
    best: Hashable
    subject: Hashable
    higher_is_better: bool
    means: dict[Hashable, float]
    comparisons: dict[Hashable, Comparison]
    refute_comparisons: dict[Hashable, Comparison] | None = None
    steps: dict[Hashable, Verdict] | None = None
    claimed: Hashable | None = None
    confidence: float = 0.95
    holds_confidence: float = 0.95
    refute_confidence: float = 0.95
    margin: float = 0.0
    samples: dict[Hashable, tuple[float, ...]] | None = None
    n_resamples: int = 10_000
    seed: int = 0
    interval: str = "student-t"

    def at_confidence(self, confidence: float) -> Best:
        """The same claim (``claimed`` or the best mean) on the same samples, decided at another ``confidence``."""
        return argbest(
            self.samples,
            higher_is_better=self.higher_is_better,
            claimed=self.claimed,
            margin=self.margin,
            confidence=confidence,
            n_resamples=self.n_resamples,
            seed=self.seed,
            interval=self.interval,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable fields of this result, with its decision rule and steps."""
        chosen = (
            "claimed"
            if self.claimed is not None
            else f"the best mean, chosen from {len(self.means)} by the data"
        )
        return {
            "kind": "best",
            "verdict": self.verdict.value,
            "best": _label(self.best),
            "subject": _label(self.subject),
            "claimed": None if self.claimed is None else _label(self.claimed),
            "higher_is_better": self.higher_is_better,
            "means": {_label(k): v for k, v in self.means.items()},
            "margin": self.margin,
            "confidence": self.confidence,
            "holds_confidence": self.holds_confidence,
            "refute_confidence": self.refute_confidence,
            "rule": (
                f"subject ({chosen}) holds iff it beats every other at {self.holds_confidence:.4g}; "
                f"refuted iff some other is confidently better at {self.refute_confidence:.4g} "
                f"(Bonferroni over {len(self.comparisons)} rivals)"
            ),
            "comparisons": {
                _label(k): _step_dict(self.steps[k], c, self.refute_comparisons[k])
                for k, c in self.comparisons.items()
            },
        }

    def __str__(self) -> str:
        parts = ", ".join(f"vs {_label(k)} {step.value}" for k, step in self.steps.items())
        return (
            f"best mean: {_label(self.best)} ({fmt(self.means[self.best])}); "
            f"{_label(self.subject)} best of all: {self.verdict.value} ({parts})"
        )


def argbest(
    samples_by_condition: Mapping[Hashable, Any],
    *,
    higher_is_better: bool = True,
    claimed: Hashable | None = None,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    interval: str = "student-t",
) -> Best:
    """The condition with the best mean, and whether it is better than every other.

    ``samples_by_condition`` maps each of k conditions to its per-seed values
    (paired by index across conditions). ``best`` is the condition with the
    highest mean (lowest with ``higher_is_better=False``; the first in the
    mapping's order on a tie). The verdict is about ``claimed`` if given (the
    report's "X is the best"), else about ``best``: ``subject`` vs each of the
    m = k − 1 others with :func:`~dlverify.stats.compare_paired`
    (``"greater"``, or ``"less"`` when lower is better; Student t by default).

    * holds iff the subject beats every other: at ``confidence`` when it is
      ``claimed`` (intersection–union test, Berger 1982), at
      ``1 − (1 − c)/k`` when it is the best mean picked by the data. The
      pick is a selection among k candidates: with two conditions tied for
      best, the larger sample mean beats the other at level ``(1−c)/2``
      about twice that often (measured 5 % at 95 %); Bonferroni over the k
      candidates restores ``(1−c)/2``. Pass ``claimed`` when the report names
      the best: it is the more powerful test.
    * refuted iff some other condition is confidently better than the subject
      at ``1 − (1 − c)/m`` (Bonferroni over the m rivals, so a truly best
      condition is falsely refuted at most ``(1−c)/2`` of the time). Without
      ``claimed`` this cannot happen at margin ≥ 0 (the best mean is not
      confidently worse than another).
    * inconclusive otherwise.

    See the module notes; error rates are measured in
    ``tests/test_stats_error_rates.py``.
    """
    keys = list(samples_by_condition)
    if len(keys) < 2:
        raise StatsError(f"argbest needs at least 2 conditions, got {len(keys)}")
    confidence, n_resamples, seed, interval = _options(confidence, n_resamples, seed, interval)
    samples = _samples(samples_by_condition, keys)
    means = {k: float(v.mean()) for k, v in samples.items()}
    pick = max if higher_is_better else min
    best = pick(keys, key=lambda k: means[k])
    if claimed is not None and claimed not in samples:
        raise StatsError(f"claimed best {claimed!r} is not among the conditions {keys!r}")
    subject = best if claimed is None else claimed
    rivals = [k for k in keys if k != subject]
    holds_confidence = (
        confidence if claimed is not None else adjusted_confidence(confidence, len(keys))
    )
    refute_confidence = adjusted_confidence(confidence, len(rivals))
    comparisons, refutations = _compare_all(
        samples,
        [(subject, k) for k in rivals],
        (holds_confidence, refute_confidence),
        alternative="greater" if higher_is_better else "less",
        margin=margin,
        n_resamples=n_resamples,
        seed=seed,
        interval=interval,
    )
    steps = {k: _step(c, r) for k, c, r in zip(rivals, comparisons, refutations)}
    return Best(
        verdict=combine(*steps.values()),
        best=best,
        subject=subject,
        higher_is_better=bool(higher_is_better),
        means=means,
        comparisons=dict(zip(rivals, comparisons)),
        refute_comparisons=dict(zip(rivals, refutations)),
        steps=steps,
        claimed=claimed,
        confidence=confidence,
        holds_confidence=holds_confidence,
        refute_confidence=refute_confidence,
        margin=comparisons[0].margin,
        samples={k: tuple(v.tolist()) for k, v in samples.items()},
        n_resamples=n_resamples,
        seed=seed,
        interval=interval,
    )
