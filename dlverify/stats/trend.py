"""Monotone trends across conditions: whether the outcome rises (or falls) with x.

``ys`` is conditions × seeds: row i holds the runs at ``x[i]``, column j is
seed j, one run per condition. With no trend the conditions are
exchangeable, so within each seed any assignment of its runs to the
conditions is as likely as the observed one (R. A. Fisher, *The Design of
Experiments*, 1935, § 21; E. J. G. Pitman, "Significance tests which may be
applied to samples from any populations", JRSS Suppl. 4, 1937). Both tests
below use that within-seed permutation distribution, which is exact whatever
the shape of the run-to-run noise; they differ in the statistic. holds if the
one-sided p-value in the claimed direction is ≤ ``(1−c)/2``, refuted if the
p-value of the opposite direction is, inconclusive otherwise: the same
per-side level as every interval of this package.

**Page's L** (the default with 2 or more seeds; E. B. Page, "Ordered
hypotheses for multiple treatments: a significance test for linear ranks",
JASA 58, 1963, 216–230): rank the k conditions within each seed (average
ranks for ties) and sum ``L = Σ_seeds Σ_i rank(x_i) · R_ij``. Without ties
L is an increasing function of the mean over seeds of each seed's Spearman
rho with x (reported as ``mean_seed_rho``). The p-value is the share of the
``(k!)^s`` within-seed arrangements with L at least the observed one. The
seeds are permuted independently, so the law of L is the convolution of the
seeds' laws, and it is computed exactly for any number of seeds when k! ≤
50 000 (k ≤ 8); beyond, from ``n_resamples`` random arrangements with
``p = (1 + count)/(1 + B)``, a valid p-value as it stands (Phipson & Smyth,
"Permutation p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 9,
2010). Why Page: each seed is a separate piece of evidence, so the p-value
falls as seeds are added. Every seed in x's order has probability
``(1/k!)^s`` under no trend: with 3 conditions, 1/36 = 0.028 at 2 seeds
(not yet below 0.025), 1/216 = 0.0046 at 3, below the per-side level 0.00833
of each look of a 3-look :class:`~dlverify.stats.SeedPlan`; with 4 conditions,
1/576 at 2 seeds.

**rho of the means** (``method="permutation"``; with one seed, where it is
the same test as Page's, the default): Spearman's rho (C. Spearman, "The proof
and measurement of association between two things", Am. J. Psychol. 15, 1904)
of x with the per-condition means, its p-value over the same within-seed
arrangements — all of them when there are at most 50 000, else
``n_resamples`` random ones with the Phipson–Smyth p-value. rho depends on
the means only through their order, and with no trend every order of k
distinct means is equally likely, so the p-value of a given rho is the same
with 1 seed or 20 (seeds make a true order of the means more likely to be
observed, not a given order rarer). The smallest p-value is 1/k!: with 3 or
4 conditions (1/6, 1/24 > 0.025) a trend is never decided at 95 %; with 5
(1/120) only all means in order decides, and at a 3-look plan's per-look
level (1/120 is just 0.05/6) 5 conditions are at the edge. ``Trend.rho`` is
this rho of the means for every method, as the effect to report.

``method="bootstrap"`` resamples the seeds within each condition and takes the
percentile interval of rho (Efron & Tibshirani 1993). It is kept for
comparison and is anti-conservative: a resampled mean stays inside the range
of its condition's runs, so the interval of rho is too narrow, and with no
trend (5 conditions, normal noise, 400 simulated tables, SE ≈ 1 %) it "holds"
11.8 % and is "refuted" 11.8 % of the time at 2 seeds, 5.8 % / 5.3 % at 3 and
4.0 % / 3.3 % at 5, against 2.5 % per side.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ._common import StatsError, as_array, batches, check_choice, check_options, fmt, json_number
from .verdict import Verdict, decide

TREND_ALTERNATIVES = ("increasing", "decreasing")
TREND_METHODS = ("auto", "page", "permutation", "bootstrap")
# Up to this many within-seed arrangements the rho-of-means permutation test enumerates them all
# (8! = 40 320 with one seed, 120² = 14 400 for 5 conditions × 2 seeds). Page's test enumerates the
# k! arrangements of one seed when k! is at most this (k ≤ 8) and combines the seeds exactly.
EXACT_ARRANGEMENTS_MAX = 50_000
# Below this many conditions ranks come from pairwise comparisons (faster than sorting for short rows).
_PAIRWISE_RANKS_MAX = 16
# Arrangements evaluated at once are capped so that the gathered values and rank
# comparisons of one chunk hold at most this many elements (32 MiB of float64).
_MAX_GATHERED = 1 << 22
_TOLERANCE = 1e-12


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..k along the last axis, ties sharing their average rank (``scipy.stats.rankdata``)."""
    if values.shape[-1] > _PAIRWISE_RANKS_MAX:
        return rankdata(values, axis=-1)
    below = (values[..., None, :] < values[..., :, None]).sum(axis=-1)
    equal = (values[..., None, :] == values[..., :, None]).sum(axis=-1)
    return below + (equal + 1) / 2


def rank_correlation(x_ranks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``values`` (..., k) with fixed ranks ``x_ranks`` (k,).

    Pearson correlation of the ranks (average ranks for ties), so it equals
    ``scipy.stats.spearmanr``. A row whose values are all equal has no order:
    its rho is defined as 0 (spearmanr gives NaN).
    """
    ranks = _average_ranks(values)
    ranks = ranks - ranks.mean(axis=-1, keepdims=True)
    x_centered = x_ranks - x_ranks.mean()
    numerator = ranks @ x_centered
    denominator = np.sqrt((ranks * ranks).sum(axis=-1) * (x_centered @ x_centered))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.clip(np.where(denominator > 0, numerator / safe, 0.0), -1.0, 1.0)


def count_arrangements(k: int, s: int) -> int:
    """``(k!)^s``: the within-seed arrangements of a k × s table (each seed's runs permuted independently)."""
    return math.factorial(k) ** s


def random_arrangements(k: int, s: int, n_resamples: int, seed: int) -> np.ndarray:
    """``n_resamples`` uniform within-seed arrangements from ``numpy.random.default_rng(seed)``.

    ``index[a, i, j]`` is the row whose seed-j run condition i gets in
    arrangement a; shape ``(n_resamples, k, s)``.
    """
    start = np.broadcast_to(np.arange(k, dtype=np.intp)[:, None], (n_resamples, k, s))
    return np.random.default_rng(seed).permuted(start, axis=1)


def _chunks(values: np.ndarray, index: np.ndarray):
    """Consecutive slices of ``index`` small enough to gather and rank for every table in ``values``."""
    k, s = values.shape[-2:]
    lead = int(np.prod(values.shape[:-2], dtype=np.int64))
    rows = max(
        1, _MAX_GATHERED // (lead * k * (s + k))
    )  # gathered values plus pairwise rank comparisons
    for start in range(0, index.shape[0], rows):
        yield index[start : start + rows]


def arranged_means(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Condition means of each arrangement ``index`` (N, k, s) of each table in ``values`` (..., k, s).

    Returns shape ``(..., N, k)``.
    """
    columns = np.arange(values.shape[-1])
    return np.concatenate(
        [values[..., chunk, columns].mean(axis=-1) for chunk in _chunks(values, index)], axis=-2
    )


def arranged_rhos(x_ranks: np.ndarray, values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rho of ``x`` with the condition means of each arrangement ``index`` (N, k, s) → shape (..., N)."""
    columns = np.arange(values.shape[-1])
    return np.concatenate(
        [
            rank_correlation(x_ranks, values[..., chunk, columns].mean(axis=-1))
            for chunk in _chunks(values, index)
        ],
        axis=-1,
    )


def _exact_counts(
    x_ranks: np.ndarray, values: np.ndarray, rho: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """How many of all ``(k!)^s`` arrangements have rho ≥ / ≤ the observed one, for each table.

    Counted one orbit at a time. Relabelling the conditions alike in every
    seed (π ∈ S_k) maps an arrangement to one whose mean vector is the same
    vector permuted by π; so the arrangements fall into ``(k!)^(s−1)`` orbits
    of ``k!``, one per choice of seeds 2..s with seed 1 left in place. In an
    orbit whose means are distinct, the ranks of the means run through every
    permutation of 1..k, and its rhos are those of every ordering of k
    distinct values: counted once from that table. Orbits with tied means are
    counted arrangement by arrangement. The counts equal those of plain
    enumeration, k! times faster.
    """
    k, s = values.shape[-2:]
    orders = np.array(list(itertools.permutations(range(k))), dtype=np.intp)  # (k!, k)
    universal = np.sort(rank_correlation(x_ranks, orders.astype(np.float64)))
    others = np.array(list(itertools.product(range(len(orders)), repeat=s - 1)), dtype=np.intp)
    others = others.reshape(len(others), s - 1)  # (k!^(s−1), s−1); one empty row when s = 1
    representatives = np.concatenate(
        [
            np.broadcast_to(orders[:1, :, None], (len(others), k, 1)),
            orders[others].transpose(0, 2, 1),
        ],
        axis=-1,
    )  # (k!^(s−1), k, s)
    means = arranged_means(values, representatives)  # (..., R, k)
    distinct = (np.diff(np.sort(means, axis=-1), axis=-1) > 0).all(axis=-1)  # (..., R)
    observed = rho[..., None]
    above = np.where(
        distinct, len(universal) - np.searchsorted(universal, observed - _TOLERANCE, side="left"), 0
    )
    below = np.where(distinct, np.searchsorted(universal, observed + _TOLERANCE, side="right"), 0)
    tied = np.nonzero(~distinct)
    if tied[0].size:
        tied_observed = np.broadcast_to(observed, distinct.shape)[tied]
        tied_means = means[tied]  # (T, k)
        step = max(1, _MAX_GATHERED // (len(orders) * k * 2 * k))
        for start in range(0, tied_means.shape[0], step):
            part = slice(start, start + step)
            rhos = rank_correlation(x_ranks, tied_means[part][:, orders])  # (t, k!)
            where = tuple(axis[part] for axis in tied)
            above[where] = np.count_nonzero(rhos >= tied_observed[part, None] - _TOLERANCE, axis=-1)
            below[where] = np.count_nonzero(rhos <= tied_observed[part, None] + _TOLERANCE, axis=-1)
    return above.sum(axis=-1), below.sum(axis=-1), len(others) * len(orders)


def permutation_p_values(
    x_ranks: np.ndarray, values: np.ndarray, n_resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Rho and its one-sided permutation p-values for each k × s table in ``values`` (..., k, s).

    Returns ``(rho, p_increasing, p_decreasing, n_arrangements, exact)``.
    When ``(k!)^s`` ≤ :data:`EXACT_ARRANGEMENTS_MAX` (``exact``),
    ``p_increasing`` is the share of all arrangements with rho ≥ the observed
    one; otherwise it is ``(1 + count)/(1 + n_resamples)`` over
    :func:`random_arrangements` (Phipson & Smyth 2010). ``p_decreasing`` is
    the same for rho ≤ observed. Vectorized over leading axes of ``values``
    (a simulation decides many tables at once with the same arrangements a
    single call would use). Comparisons allow 1e-12 for rounding.
    """
    k, s = values.shape[-2:]
    identity = np.broadcast_to(np.arange(k, dtype=np.intp)[None, :, None], (1, k, s))
    rho = arranged_rhos(x_ranks, values, identity)[..., 0]
    if count_arrangements(k, s) <= EXACT_ARRANGEMENTS_MAX:
        above, below, n = _exact_counts(x_ranks, values, rho)
        return rho, above / n, below / n, n, True
    null = arranged_rhos(x_ranks, values, random_arrangements(k, s, n_resamples, seed))
    above = np.count_nonzero(null >= rho[..., None] - _TOLERANCE, axis=-1)
    below = np.count_nonzero(null <= rho[..., None] + _TOLERANCE, axis=-1)
    return rho, (1 + above) / (1 + n_resamples), (1 + below) / (1 + n_resamples), n_resamples, False


# -- Page's L ----------------------------------------------------------------------------------------------


def _integer_ranks(x_ranks: np.ndarray) -> np.ndarray:
    """The ranks of distinct x as integers 1..k (Page's statistic is then an integer multiple of 1/2)."""
    ranks = np.rint(np.asarray(x_ranks, dtype=np.float64)).astype(np.int64)
    if not np.array_equal(ranks, x_ranks) or not np.array_equal(
        np.sort(ranks), np.arange(1, ranks.size + 1)
    ):
        raise StatsError(
            f"Page's L needs the ranks 1..k of distinct x values, got {np.asarray(x_ranks).tolist()}"
        )
    return ranks


def doubled_seed_ranks(values: np.ndarray) -> np.ndarray:
    """Twice the within-seed ranks of each table in ``values`` (..., k, s), as integers, shape (..., s, k).

    Row j is seed j's runs ranked across the k conditions (ties get their
    average rank, so twice the rank is an integer).
    """
    return np.rint(2 * _average_ranks(np.swapaxes(values, -1, -2))).astype(np.int64)


@functools.lru_cache(maxsize=1024)
def _seed_distribution(
    x_ranks: tuple[int, ...], pattern: tuple[int, ...]
) -> tuple[int, np.ndarray]:
    """``(low, probabilities)``: the law of ``Σ_i x_i · 2R_π(i)`` over the k! reassignments π of one seed's runs.

    ``pattern`` is the seed's doubled ranks in any order (sorted, as the
    cache key); ``probabilities[t]`` is the share of the k! with value ``low + t``.
    """
    orders = _orders(len(x_ranks))
    scores = np.asarray(pattern, dtype=np.int64)[orders] @ np.asarray(x_ranks, dtype=np.int64)
    low = int(scores.min())
    probabilities = np.bincount(scores - low) / len(orders)
    probabilities.flags.writeable = False
    return low, probabilities


@functools.lru_cache(maxsize=1024)
def _page_distribution(
    x_ranks: tuple[int, ...], patterns: tuple[tuple[int, ...], ...]
) -> tuple[int, np.ndarray, np.ndarray]:
    """``(low, at_least, at_most)`` for 2L over all ``(k!)^s`` within-seed arrangements of seeds with ``patterns``.

    The seeds are permuted independently, so the law of their sum is the
    convolution of the seeds' laws: the same counts as enumerating every
    arrangement, for any number of seeds. ``at_least[t]`` is
    ``P(2L ≥ low + t)`` and ``at_most[t]`` is ``P(2L ≤ low + t)``, each
    summed from its own tail so that small p-values keep their precision.
    """
    low, probabilities = 0, np.ones(1)
    for pattern in patterns:
        seed_low, seed_probabilities = _seed_distribution(x_ranks, pattern)
        low += seed_low
        probabilities = np.convolve(probabilities, seed_probabilities)
    at_least = np.minimum(np.cumsum(probabilities[::-1])[::-1], 1.0)
    at_most = np.minimum(np.cumsum(probabilities), 1.0)
    at_least.flags.writeable = at_most.flags.writeable = False
    return low, at_least, at_most


@functools.lru_cache(maxsize=16)
def _orders(k: int) -> np.ndarray:
    """All k! permutations of range(k), shape (k!, k)."""
    orders = np.array(list(itertools.permutations(range(k))), dtype=np.intp).reshape(-1, k)
    orders.flags.writeable = False
    return orders


def page_p_values(
    x_ranks: np.ndarray, values: np.ndarray, n_resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Page's L and its one-sided p-values for each k × s table in ``values`` (..., k, s).

    ``L = Σ_seeds Σ_i x_i · R_ij`` with ``x_ranks`` the ranks 1..k of x and
    ``R_ij`` the rank of condition i within seed j (average ranks for ties).
    Returns ``(L, p_increasing, p_decreasing, n_arrangements, exact)``:
    ``p_increasing`` is the share of the ``(k!)^s`` within-seed arrangements
    with L ≥ the observed one, ``p_decreasing`` with L ≤ it. When k! ≤
    :data:`EXACT_ARRANGEMENTS_MAX` (k ≤ 8; ``exact``) the shares are exact,
    for any number of seeds, from the convolution of the seeds' laws
    (:func:`_page_distribution`); otherwise they are ``(1 + count)/(1 +
    n_resamples)`` over :func:`random_arrangements` (Phipson & Smyth 2010).
    2L is an integer, so "at least" needs no rounding allowance. Vectorized
    over leading axes of ``values``: tables whose seeds have the same tie
    patterns (all of them, for continuous values) share one null law.
    """
    k, s = values.shape[-2:]
    lead = values.shape[:-2]
    x_integer = _integer_ranks(x_ranks)
    doubled = doubled_seed_ranks(values)  # (..., s, k)
    observed = (doubled @ x_integer).sum(axis=-1)  # 2L, (...)
    if math.factorial(k) > EXACT_ARRANGEMENTS_MAX:
        index = random_arrangements(k, s, n_resamples, seed)
        by_condition = np.swapaxes(doubled, -1, -2)  # (..., k, s)
        columns = np.arange(s)
        null = np.concatenate(
            [
                np.einsum("...bks,k->...b", by_condition[..., chunk, columns], x_integer)
                for chunk in _chunks(values, index)
            ],
            axis=-1,
        )
        above = np.count_nonzero(null >= observed[..., None], axis=-1)
        below = np.count_nonzero(null <= observed[..., None], axis=-1)
        return (
            observed / 2,
            (1 + above) / (1 + n_resamples),
            (1 + below) / (1 + n_resamples),
            n_resamples,
            False,
        )
    flat_observed = observed.reshape(-1)
    tables = flat_observed.size
    patterns = np.sort(doubled.reshape(tables, s, k), axis=-1)  # each seed's doubled ranks, sorted
    x_key = tuple(x_integer.tolist())
    up, down = np.empty(tables), np.empty(tables)

    def fill(members: np.ndarray, signature: tuple[tuple[int, ...], ...]) -> None:
        low, at_least, at_most = _page_distribution(x_key, signature)
        up[members] = at_least[flat_observed[members] - low]
        down[members] = at_most[flat_observed[members] - low]

    untied = (patterns == 2 * np.arange(1, k + 1)).all(
        axis=(-2, -1)
    )  # no seed has tied runs: one law for all
    if untied.any():
        fill(np.flatnonzero(untied), (tuple(range(2, 2 * k + 1, 2)),) * s)
    tied = np.flatnonzero(~untied)
    if tied.size:
        unique_patterns, pattern_id = np.unique(
            patterns[tied].reshape(-1, k), axis=0, return_inverse=True
        )
        signatures, group = np.unique(
            np.sort(pattern_id.reshape(tied.size, s), axis=-1), axis=0, return_inverse=True
        )
        group = group.reshape(-1)
        order = np.argsort(group, kind="stable")
        starts = np.searchsorted(group[order], np.arange(len(signatures) + 1))
        for g, signature in enumerate(signatures):
            fill(
                tied[order[starts[g] : starts[g + 1]]],
                tuple(tuple(unique_patterns[i].tolist()) for i in signature),
            )
    return observed / 2, up.reshape(lead), down.reshape(lead), count_arrangements(k, s), True


def _page_smallest_p(x_ranks: np.ndarray, values: np.ndarray) -> float:
    """The smallest p-value Page's test can give for a table with these seeds' tie patterns (k ≤ 8)."""
    doubled = np.sort(doubled_seed_ranks(values), axis=-1)
    _, at_least, _ = _page_distribution(
        tuple(_integer_ranks(x_ranks).tolist()),
        tuple(sorted(tuple(row) for row in doubled.tolist())),
    )
    return float(at_least[-1])


@dataclass(frozen=True)
class Trend:
    """A rank trend of the conditions against ``x`` (see :func:`rank_trend`).

    ``rho`` is Spearman's rho of x with the per-condition means (every
    method), ``mean_seed_rho`` the mean over seeds of each seed's Spearman rho
    of x with its runs. ``p_value`` is the one-sided p-value in the claimed
    direction and ``p_opposite`` the one in the other direction (methods
    ``"page"`` and ``"permutation"``); ``page_l`` is Page's L (``"page"``);
    ``ci`` the percentile interval of rho (``"bootstrap"``); the others are
    None. ``arrangements`` counts the within-seed arrangements the p-values
    are over (all of them when ``exact``; the random ones otherwise). ``ys``
    keeps the table so :meth:`at_confidence` can decide it again.
    """

    verdict: Verdict
    rho: float
    ci: tuple[float, float] | None
    p_value: float | None
    method: str
    alternative: str
    x: tuple[float, ...]
    means: tuple[float, ...]
    n_conditions: int
    n_seeds: int
    confidence: float
    n_resamples: int
    seed: int
    note: str = ""
    p_opposite: float | None = None
    arrangements: int | None = None
    exact: bool | None = None
    ys: tuple[tuple[float, ...], ...] = ()
    page_l: float | None = None
    mean_seed_rho: float | None = None

    @property
    def level(self) -> float:
        """The one-sided level a p-value must reach for a definite verdict, ``(1 − confidence)/2``."""
        return (1 - self.confidence) / 2

    def at_confidence(self, confidence: float) -> Trend:
        """The same trend claim on the same table (same method and seed), decided at another ``confidence``."""
        return rank_trend(
            self.x,
            self.ys,
            alternative=self.alternative,
            confidence=confidence,
            n_resamples=self.n_resamples,
            seed=self.seed,
            method=self.method,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable fields of this trend result, with its table."""
        return {
            "kind": "trend",
            "verdict": self.verdict.value,
            "rho": json_number(self.rho),
            "mean_seed_rho": json_number(self.mean_seed_rho),
            "page_l": json_number(self.page_l),
            "ci": None if self.ci is None else [json_number(v) for v in self.ci],
            "p_value": json_number(self.p_value),
            "p_opposite": json_number(self.p_opposite),
            "level": self.level,
            "method": self.method,
            "arrangements": self.arrangements,
            "exact": self.exact,
            "alternative": self.alternative,
            "x": list(self.x),
            "means": list(self.means),
            "ys": [list(row) for row in self.ys],
            "n_conditions": self.n_conditions,
            "n_seeds": self.n_seeds,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "note": self.note,
        }

    def __str__(self) -> str:
        head = f"rho = {fmt(self.rho)}"
        if self.ci is not None:
            evidence = (
                f"[{fmt(self.ci[0])}, {fmt(self.ci[1])}] (bootstrap of seeds, anti-conservative)"
            )
        else:
            kind = "exact" if self.exact else "Monte-Carlo"
            test = "permutation test"
            if self.method == "page":
                head = (
                    f"Page's L = {fmt(self.page_l)} (mean within-seed rho {fmt(self.mean_seed_rho)}, "
                    f"rho of means {fmt(self.rho)})"
                )
                test = "Page's L test"
            evidence = (
                f"p = {self.p_value:.2g} (opposite {self.p_opposite:.2g}; decisive ≤ {self.level:.2g}; "
                f"{kind} {test}, {_count(self.arrangements)} arrangements)"
            )
        seeds = "seed" if self.n_seeds == 1 else "seeds"
        return (
            f"{head}, {evidence}, claimed {self.alternative} "
            f"({self.n_conditions} conditions × {self.n_seeds} {seeds}): {self.verdict.value}"
        )


def _count(n: int | None) -> str:
    """An arrangement count for str(): in full up to 10^9, else 3 significant digits."""
    return str(n) if n is None or n <= 10**9 else f"{float(n):.3g}"


def _bootstrap_rhos(
    x_ranks: np.ndarray, values: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Rho of the condition means for resamples of the seeds within each condition."""
    k, s = values.shape
    rows = np.arange(k)[None, :, None]
    out = []
    for size in batches(n_resamples, k * s):
        index = rng.integers(0, s, size=(size, k, s))
        out.append(rank_correlation(x_ranks, values[rows, index].mean(axis=2)))
    return np.concatenate(out)


def _seeds_needed(k: int, level: float) -> int:
    """The fewest seeds at which Page's test can reach ``level``: ``(1/k!)^s ≤ level``."""
    needed = 1
    while (1 / math.factorial(k)) ** needed > level * (1 + 1e-9):
        needed += 1
    return needed


def _permutation_note(k: int, s: int, level: float, arrangements_count: int, exact: bool) -> str:
    if 1 / math.factorial(k) > level * (1 + 1e-9):
        needed = _seeds_needed(k, level)
        if s == 1:
            return (
                f"with {k} conditions and one seed the smallest p-value is 1/{k}! = {1 / math.factorial(k):.3g} "
                f"> {level:.3g}, so only 'inconclusive' is possible; add seeds (with 2 or more the default "
                f"is Page's L test, which can decide from {needed}) or conditions"
            )
        page = f"Page's L test (method='page', the default) can decide from {needed} seeds"
        return (
            f"with {k} conditions the smallest p-value is 1/{k}! = {1 / math.factorial(k):.3g} > {level:.3g} "
            f"whatever the number of seeds (with no trend every order of the means is equally likely), "
            f"so only 'inconclusive' is possible; {page}, or add conditions"
        )
    if not exact and 1 / (1 + arrangements_count) > level:
        return (
            f"n_resamples={arrangements_count} cannot give a p-value below 1/{arrangements_count + 1} > "
            f"{level:.3g}; raise n_resamples"
        )
    return ""


def _page_note(
    k: int, s: int, level: float, smallest: float, arrangements_count: int, exact: bool
) -> str:
    if smallest > level * (1 + 1e-9):
        seeds = "seed" if s == 1 else "seeds"
        ties = (
            ""
            if smallest <= (1 / math.factorial(k)) ** s * (1 + 1e-9)
            else " with this table's tied runs"
        )
        return (
            f"with {k} conditions × {s} {seeds} the smallest possible p-value{ties} is {smallest:.3g} > "
            f"{level:.3g} (every seed in x's order), so only 'inconclusive' is possible; "
            f"{_seeds_needed(k, level)} seeds without ties can reach it"
        )
    if not exact and 1 / (1 + arrangements_count) > level:
        return (
            f"n_resamples={arrangements_count} cannot give a p-value below 1/{arrangements_count + 1} > "
            f"{level:.3g}; raise n_resamples"
        )
    return ""


def _decide_p(p_value: float, p_opposite: float, level: float) -> Verdict:
    """Holds if p ≤ level, refuted if the opposite p ≤ level, else inconclusive.

    With room for the rounding of ``level`` itself: 1/120 is exactly 0.05/6, a
    3-look plan's level, and ``(1/6)^3`` must compare as the product it is.
    """
    decisive = level * (1 + 1e-9)
    return (
        Verdict.HOLDS
        if p_value <= decisive
        else Verdict.REFUTED
        if p_opposite <= decisive
        else Verdict.INCONCLUSIVE
    )


def _trend_table(x: Any, ys: Any) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as a 1-D array of distinct values and ``ys`` as conditions × seeds, checked.

    A 1-D ``ys`` becomes one column (one run per condition). Raises ``StatsError``
    for a shape mismatch, fewer than 3 conditions, or ties in ``x``.
    """
    x_values = as_array(x, "x")
    values = as_array(ys, "ys")
    if x_values.ndim != 1:
        raise StatsError(f"x must be 1-D (one value per condition), got shape {x_values.shape}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise StatsError(f"ys must be 2-D, conditions × seeds, got shape {values.shape}")
    k = values.shape[0]
    if k != x_values.size:
        raise StatsError(
            f"x has {x_values.size} conditions but ys has {k} rows (ys is conditions × seeds)"
        )
    if k < 3:
        raise StatsError(
            f"a trend needs at least 3 conditions, got {k}; compare two with compare_paired"
        )
    unique, counts = np.unique(x_values, return_counts=True)
    if (counts > 1).any():
        raise StatsError(
            f"x has ties ({unique[counts > 1].tolist()} repeated): each condition needs its own "
            f"x; average the runs of one x into one row of ys"
        )
    return x_values, values


def rank_trend(
    x: Any,
    ys: Any,
    *,
    alternative: str = "increasing",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    method: str = "auto",
) -> Trend:
    """Whether the outcome rises (``"increasing"``) or falls (``"decreasing"``) with ``x``.

    ``x`` holds one distinct value per condition; ``ys`` is conditions × seeds
    (row i: the runs at ``x[i]``; column j: seed j across conditions; a 1-D
    ``ys`` is one run per condition). ``method="auto"`` (the default) is
    ``"page"`` with 2 or more seeds and ``"permutation"`` with one (the two
    are the same test then). Every method reports ``rho``, Spearman's rho of
    x with the per-condition means, and ``mean_seed_rho``.

    ``method="page"``: Page's L test (module notes; Page 1963). Each seed's
    runs are ranked across the conditions, ``L = Σ_seeds Σ_i rank(x_i)·R_ij``,
    and its p-value is over all ``(k!)^s`` reassignments of each seed's runs
    to the conditions: exact for any number of seeds up to 8 conditions, else
    ``n_resamples`` random ones from ``numpy.random.default_rng(seed)`` with
    ``(1 + count)/(1 + B)`` (Phipson & Smyth 2010). The p-value falls with
    more seeds: all of 3 seeds in order over 3 conditions gives 1/216 (decisive
    at 95 %, though not at the 99.55 % of the 3-seed look of
    ``SeedPlan.make(3, 10)``, which leaves 3-condition trends to 5 seeds; 4
    conditions give 1/13 824). ``note`` says when the table is too small to decide.

    ``method="permutation"``: the same within-seed permutation test of rho of
    the means (all ``(k!)^s`` arrangements when at most 50 000, else
    ``n_resamples`` random ones). Its p-value never goes below 1/k!, whatever
    the number of seeds: with 3 or 4 conditions it cannot decide at 95 %
    (``note`` says so).

    For both, holds if the one-sided p-value in the claimed direction is
    ≤ ``(1−c)/2``, refuted if the one in the other direction is, else
    inconclusive. Exact under no trend (exchangeable conditions) for any
    noise distribution.

    ``method="bootstrap"``: resample the seeds with replacement within each
    condition, recompute the means and rho, and take the equal-tailed
    percentile interval at ``confidence`` (Efron & Tibshirani 1993); holds if
    it lies strictly on the claimed side of 0, refuted if strictly on the
    other side. Anti-conservative at a few seeds; kept for comparison.

    A table whose means are all equal has rho 0; a seed whose runs are all
    equal has within-seed rho 0 and the same L in every arrangement. ``x``
    with ties, fewer than 3 conditions, NaN or a shape mismatch raise
    ``StatsError`` (a ValueError).
    """
    alternative = check_choice(alternative, "alternative", TREND_ALTERNATIVES)
    method = check_choice(method, "method", TREND_METHODS)
    confidence, n_resamples, seed = check_options(confidence, n_resamples, seed)
    x_values, values = _trend_table(x, ys)
    k, s = values.shape
    if method == "auto":
        method = "page" if s >= 2 else "permutation"
    if method == "bootstrap" and s < 2:
        raise StatsError(
            "the bootstrap resamples seeds within each condition and needs >= 2 seeds; "
            "use method='permutation' with one seed per condition"
        )
    x_ranks = rankdata(x_values)
    means = values.mean(axis=1)
    mean_seed_rho = float(rank_correlation(x_ranks, values.T).mean())
    level = (1 - confidence) / 2
    ci = p_value = p_opposite = count = exact = page_l = None
    note = ""
    if method == "bootstrap":
        rho = float(rank_correlation(x_ranks, means))
        rhos = _bootstrap_rhos(x_ranks, values, n_resamples, np.random.default_rng(seed))
        low, high = np.quantile(rhos, [(1 - confidence) / 2, (1 + confidence) / 2])
        ci = (float(low), float(high))
        verdict = decide(ci, (0.0, math.inf) if alternative == "increasing" else (-math.inf, 0.0))
    elif method == "page":
        rho = float(rank_correlation(x_ranks, means))
        statistic, up, down, count, exact = page_p_values(x_ranks, values, n_resamples, seed)
        page_l = float(statistic)
        p_value, p_opposite = (
            (float(up), float(down)) if alternative == "increasing" else (float(down), float(up))
        )
        verdict = _decide_p(p_value, p_opposite, level)
        if verdict is Verdict.INCONCLUSIVE:
            smallest = _page_smallest_p(x_ranks, values) if exact else (1 / math.factorial(k)) ** s
            note = _page_note(k, s, level, smallest, count, exact)
    else:
        rho, up, down, count, exact = permutation_p_values(x_ranks, values, n_resamples, seed)
        rho = float(rho)
        p_value, p_opposite = (
            (float(up), float(down)) if alternative == "increasing" else (float(down), float(up))
        )
        verdict = _decide_p(p_value, p_opposite, level)
        if verdict is Verdict.INCONCLUSIVE:
            note = _permutation_note(k, s, level, count, exact)
    return Trend(
        verdict=verdict,
        rho=rho,
        ci=ci,
        p_value=p_value,
        method=method,
        alternative=alternative,
        x=tuple(x_values.tolist()),
        means=tuple(means.tolist()),
        n_conditions=k,
        n_seeds=s,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        note=note,
        p_opposite=p_opposite,
        arrangements=count,
        exact=exact,
        ys=tuple(tuple(row) for row in values.tolist()),
        page_l=page_l,
        mean_seed_rho=mean_seed_rho,
    )
