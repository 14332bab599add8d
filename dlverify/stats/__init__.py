"""Multi-seed comparisons with a three-way verdict: holds, refuted, inconclusive.

A claim names a quantity and a region for it ("a − b > 0", "accuracy in
(0.09, 0.11)", "rho > 0"). The measurements give a confidence interval for the
quantity (a Student t interval over seeds, or a Clopper–Pearson interval for a
proportion), and one rule decides everywhere
(:func:`~dlverify.stats.verdict.decide`):

* **holds** — the interval lies strictly inside the claimed region;
* **refuted** — it lies entirely outside it (confidently on the other side of
  the claim's threshold);
* **inconclusive** — it touches or straddles the threshold.

The interval is two-sided at ``confidence`` (0.95), so each verdict is a
one-sided decision at ``(1 − confidence) / 2``: a claim that is false is
"holds" at most 2.5 % of the time, one that is true "refuted" at most 2.5 %,
at every number of seeds ≥ 2, under the assumptions below (measured in
``tests/test_stats_error_rates.py``;
the defaults are chosen for that — the percentile bootstrap is an option,
unreliable below about 10 seeds). For a mean over seeds the t interval
assumes roughly symmetric seed-to-seed variation, which paired differences of
exchangeable conditions have; one sample against a fixed value need not
(exponential-like values make the t interval wrong 11.5 % of the time on one
side), so :func:`compare_to_value` and :func:`within` use a guarded interval
(Hall's skew-corrected t at confidence ``1 − (1 − c)/4``): each false verdict
≤ 5 % at every n = 2..20 for the skewed laws measured, up to the exponential
(worst 4.2 %; 4.0 % through a seed plan), conservative (≤ 1.1 %) for
symmetric ones, and 10 seeds for 80 % power at a standardized effect of 1.5
(:mod:`~dlverify.stats.compare` gives the numbers). Trends are decided by
Page's L test (ranks within each seed, so its p-value falls as seeds are
added) with 2 or more seeds, by an exact permutation test with one; claims
over several conditions refute with a Bonferroni-adjusted level. Every
result's ``at_confidence(c)`` decides the same inputs at another level, and
:func:`sequential` adds seeds while a verdict is inconclusive, at the level a
:class:`SeedPlan` sets per look (an error-spending split of alpha). All randomness comes from
``numpy.random.default_rng(seed)`` with an explicit integer ``seed``: the same
inputs and seed give the same result, bit for bit. Every result has
``verdict``, ``as_dict()`` (plain JSON types; non-finite numbers as the strings
``"inf"``, ``"-inf"``, ``"nan"``) and a one-line ``str()``.

=====================  ======================================================
:func:`compare_paired`  two conditions over the same seeds (a > b, a < b, ≈)
:func:`compare_to_value` the mean over seeds against a value or band
:func:`within`          shorthand for the band case
:func:`proportion_interval`, :func:`compare_proportion`  k of n (accuracy)
:func:`rank_trend`      monotone trend of the conditions against x (Page's L)
:func:`ordering`        "A > B > C" over paired seeds
:func:`argbest`         the best condition, and whether it beats every other
:func:`combine`         conjunction of verdicts
:class:`SeedPlan`       looks (seed counts) and the per-look confidence
:func:`sequential`      decide at each look until holds/refuted or budget
=====================  ======================================================
"""

from ._common import StatsError
from .compare import Comparison, ValueComparison, compare_paired, compare_to_value, within
from .ordering import Best, Ordering, argbest, ordering
from .proportion import ProportionComparison, compare_proportion, proportion_interval
from .sequential import SeedPlan, SequentialResult, sequential
from .trend import Trend, rank_trend
from .verdict import Verdict, combine, decide

__all__ = [
    "Best",
    "Comparison",
    "Ordering",
    "ProportionComparison",
    "SeedPlan",
    "SequentialResult",
    "StatsError",
    "Trend",
    "ValueComparison",
    "Verdict",
    "argbest",
    "combine",
    "compare_paired",
    "compare_proportion",
    "compare_to_value",
    "decide",
    "ordering",
    "proportion_interval",
    "rank_trend",
    "sequential",
    "within",
]
