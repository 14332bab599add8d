"""Confidence intervals for a proportion (k successes of n trials), and claims about one.

For a test accuracy of k correct out of n test examples, say against chance.

The default is the Clopper–Pearson ("exact") interval: each of its ends is an
exact one-sided bound, so a claim decided by it is falsely "holds" or falsely
"refuted" at most ``(1−c)/2`` of the time, for every n and every true
proportion. Wilson's score interval is shorter but does not keep that per
side: computed exactly (binomial sums over all k, true proportion on a 0.01
grid) at 95 % its worst one-sided false rate is 20 % for n < 10, 15.7 % for
n = 10–29 (n = 17 against 0.01), 10.5 % for n = 30–100 and 8.3 % for
n = 101–300, the worst cases sitting near 0 or 1; for true proportions in
[0.1, 0.9] it is still 7.0 % (n = 10–29) and 5.6 % (n = 30–100). See
``tests/test_stats_error_rates.py``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

from scipy import stats as scipy_stats

from ._common import StatsError, check_choice, fmt, json_number
from .verdict import ALTERNATIVES, Verdict, check_value, claim_text, decide, value_region

METHODS = ("exact", "wilson")


def _counts(successes: Any, trials: Any) -> tuple[int, int]:
    try:
        k, n = operator.index(successes), operator.index(trials)
    except TypeError:
        raise StatsError(
            f"successes and trials must be integers, got {successes!r} and {trials!r} "
            f"(pass counts, e.g. round(accuracy * n) only if accuracy came from n examples)"
        ) from None
    if n < 1 or not 0 <= k <= n:
        raise StatsError(f"need 0 <= successes <= trials and trials >= 1, got {k} of {n}")
    return k, n


def proportion_interval(
    successes: int, trials: int, *, confidence: float = 0.95, method: str = "exact"
) -> tuple[float, float]:
    """Two-sided confidence interval for a binomial proportion ``p`` from ``k`` of ``n``.

    ``method="exact"`` (the default) — the Clopper–Pearson interval (Clopper &
    Pearson, Biometrika 26, 1934), from quantiles of the beta distribution::

        low  = B⁻¹((1−c)/2; k, n−k+1)    (0 when k = 0)
        high = B⁻¹((1+c)/2; k+1, n−k)    (1 when k = n)

    ``method="wilson"`` — the Wilson score interval (E. B. Wilson, "Probable
    inference, the law of succession, and statistical inference", JASA 22,
    1927), with ``p̂ = k/n`` and ``z = Φ⁻¹((1+c)/2)``::

        (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)

    Each end of Clopper–Pearson is an exact one-sided bound, so neither side
    ever leaves out more than ``(1−c)/2``; Wilson's coverage is close to
    nominal on average, but one-sided it can leave out far more at small n or
    near 0 and 1 (see the module notes). Both give exactly 0 as the lower end
    at k = 0 and exactly 1 as the upper end at k = n, and agree with
    ``scipy.stats.binomtest(k, n).proportion_ci(c, method)``.
    """
    method = check_choice(method, "method", METHODS)
    k, n = _counts(successes, trials)
    confidence = float(confidence)
    if not 0 < confidence < 1:
        raise StatsError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1 - confidence
    if method == "exact":
        low = 0.0 if k == 0 else float(scipy_stats.beta.ppf(alpha / 2, k, n - k + 1))
        high = 1.0 if k == n else float(scipy_stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
        return low, high
    z = float(scipy_stats.norm.ppf(1 - alpha / 2))
    p = k / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


@dataclass(frozen=True)
class ProportionComparison:
    """A proportion against a value or band (see :func:`compare_proportion`).

    :meth:`at_confidence` decides the same counts at another confidence.
    """

    verdict: Verdict
    proportion: float
    ci: tuple[float, float]
    successes: int
    trials: int
    alternative: str
    value: float | tuple[float, float]
    confidence: float
    method: str

    @property
    def region(self) -> tuple[float, float]:
        """The open region the claim puts the proportion in."""
        return value_region(self.alternative, self.value)

    def at_confidence(self, confidence: float) -> ProportionComparison:
        """The same counts and claim (same interval method), decided at another ``confidence``."""
        return compare_proportion(
            self.successes,
            self.trials,
            self.value,
            alternative=self.alternative,
            confidence=confidence,
            method=self.method,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable fields of this comparison, with the claim as text."""
        return {
            "kind": "proportion",
            "verdict": self.verdict.value,
            "proportion": json_number(self.proportion),
            "ci": [json_number(v) for v in self.ci],
            "successes": self.successes,
            "trials": self.trials,
            "alternative": self.alternative,
            "value": list(self.value) if isinstance(self.value, tuple) else self.value,
            "claim": "p " + claim_text(self.alternative, self.region),
            "confidence": self.confidence,
            "method": self.method,
        }

    def __str__(self) -> str:
        return (
            f"p = {fmt(self.proportion)} ({self.successes}/{self.trials}) [{fmt(self.ci[0])}, "
            f"{fmt(self.ci[1])}], claimed {claim_text(self.alternative, self.region)} ({self.method}): "
            f"{self.verdict.value}"
        )


def compare_proportion(
    successes: int,
    trials: int,
    value: float | tuple[float, float],
    *,
    alternative: str = "greater",
    confidence: float = 0.95,
    method: str = "exact",
) -> ProportionComparison:
    """Whether a proportion (``successes`` of ``trials``) is above, below or within ``value``.

    ``alternative`` as in :func:`~dlverify.stats.compare_to_value`
    (``"within"`` takes ``value=(low, high)``); the interval is
    :func:`proportion_interval`'s (Clopper–Pearson unless
    ``method="wilson"``, whose one-sided error can exceed ``(1−c)/2``). holds
    if it lies strictly inside the claimed region, refuted if entirely
    outside, else inconclusive. Example: test
    accuracy on random labels "stays at chance" as
    ``compare_proportion(correct, 10_000, (0.09, 0.11), alternative="within")``.

    Only sampling of the test examples is accounted for, not seed-to-seed
    variation of training; for several seeds compare the per-seed accuracies
    with :func:`~dlverify.stats.compare_to_value`.
    """
    alternative = check_choice(alternative, "alternative", ALTERNATIVES)
    value = check_value(value, alternative)
    ci = proportion_interval(successes, trials, confidence=confidence, method=method)
    k, n = _counts(successes, trials)
    return ProportionComparison(
        verdict=decide(ci, value_region(alternative, value)),
        proportion=k / n,
        ci=ci,
        successes=k,
        trials=n,
        alternative=alternative,
        value=value,
        confidence=float(confidence),
        method=method,
    )
