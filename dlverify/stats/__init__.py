"""Multi-seed comparisons with a three-way verdict: holds, refuted, inconclusive.

A claim names a quantity and a region for it ("a − b > 0", "accuracy in
(0.09, 0.11)", "rho > 0"). The measurements give a confidence interval for the
quantity (a seeded percentile bootstrap over seeds, or a Wilson/Clopper–Pearson
interval for a proportion), and one rule decides everywhere
(:func:`~dlverify.stats.verdict.decide`):

* **holds** — the interval lies strictly inside the claimed region;
* **refuted** — it lies entirely outside it (confidently on the other side of
  the claim's threshold);
* **inconclusive** — it touches or straddles the threshold.

The interval is two-sided at ``confidence`` (0.95), so each verdict is a
one-sided decision at ``(1 − confidence) / 2``. All randomness comes from
``numpy.random.default_rng(seed)`` with an explicit integer ``seed``: the same
inputs and seed give the same result, bit for bit. Every result has
``verdict``, ``as_dict()`` (plain JSON types; non-finite numbers as the strings
``"inf"``, ``"-inf"``, ``"nan"``) and a one-line ``str()``.

=====================  ======================================================
:func:`compare_paired`  two conditions over the same seeds (a > b, a < b, ≈)
:func:`compare_to_value` the mean over seeds against a value or band
:func:`within`          shorthand for the band case
:func:`proportion_interval`, :func:`compare_proportion`  k of n (accuracy)
:func:`rank_trend`      monotone trend of condition means against x
:func:`ordering`        "A > B > C" over paired seeds
:func:`argbest`         the best condition, and whether it beats every other
:func:`combine`         conjunction of verdicts
=====================  ======================================================
"""

from ._common import StatsError
from .compare import Comparison, ValueComparison, compare_paired, compare_to_value, within
from .ordering import Best, Ordering, argbest, ordering
from .proportion import ProportionComparison, compare_proportion, proportion_interval
from .trend import Trend, rank_trend
from .verdict import Verdict, combine, decide

__all__ = [
    "Best", "Comparison", "Ordering", "ProportionComparison", "StatsError", "Trend", "ValueComparison", "Verdict",
    "argbest", "combine", "compare_paired", "compare_proportion", "compare_to_value", "decide", "ordering",
    "proportion_interval", "rank_trend", "within",
]
