"""Monotone trends across conditions: does the outcome rise (or fall) with x?"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ._common import StatsError, as_array, batches, check_choice, check_options, fmt, json_number
from .verdict import Verdict, decide

TREND_ALTERNATIVES = ("increasing", "decreasing")
TREND_METHODS = ("auto", "bootstrap", "permutation")
# Up to this many conditions the permutation test enumerates every ordering (8! = 40 320).
EXACT_PERMUTATION_MAX = 8


def rank_correlation(x_ranks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``values`` (..., k) with fixed ranks ``x_ranks`` (k,).

    Pearson correlation of the ranks (average ranks for ties), so it equals
    ``scipy.stats.spearmanr``. A row whose values are all equal has no order:
    its rho is defined as 0 (spearmanr gives NaN).
    """
    ranks = rankdata(values, axis=-1)
    ranks = ranks - ranks.mean(axis=-1, keepdims=True)
    x_centered = x_ranks - x_ranks.mean()
    numerator = ranks @ x_centered
    denominator = np.sqrt((ranks * ranks).sum(axis=-1) * (x_centered @ x_centered))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.clip(np.where(denominator > 0, numerator / safe, 0.0), -1.0, 1.0)


@dataclass(frozen=True)
class Trend:
    """A rank trend of per-condition means against ``x`` (see :func:`rank_trend`).

    ``ci`` is set by the bootstrap method, ``p_value`` (one-sided, in the
    claimed direction) by the permutation method; the other is None.
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "trend",
            "verdict": self.verdict.value,
            "rho": json_number(self.rho),
            "ci": None if self.ci is None else [json_number(v) for v in self.ci],
            "p_value": json_number(self.p_value),
            "method": self.method,
            "alternative": self.alternative,
            "x": list(self.x),
            "means": list(self.means),
            "n_conditions": self.n_conditions,
            "n_seeds": self.n_seeds,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "note": self.note,
        }

    def __str__(self) -> str:
        if self.ci is not None:
            spread = f"[{fmt(self.ci[0])}, {fmt(self.ci[1])}]"
        else:
            spread = f"p = {self.p_value:.2g} (permutation)"
        seeds = "seed" if self.n_seeds == 1 else "seeds"
        return (f"rho = {fmt(self.rho)}, {spread}, claimed {self.alternative} "
                f"({self.n_conditions} conditions × {self.n_seeds} {seeds}): {self.verdict.value}")


def _bootstrap_rhos(x_ranks: np.ndarray, values: np.ndarray, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """rho of the condition means for resamples of the seeds within each condition."""
    k, s = values.shape
    rows = np.arange(k)[None, :, None]
    out = []
    for size in batches(n_resamples, k * s):
        index = rng.integers(0, s, size=(size, k, s))
        out.append(rank_correlation(x_ranks, values[rows, index].mean(axis=2)))
    return np.concatenate(out)


def _permutation_p_values(x_ranks: np.ndarray, means: np.ndarray, rho: float, n_resamples: int,
                          rng: np.random.Generator) -> tuple[float, float]:
    """One-sided p-values (rho ≥ observed, rho ≤ observed) under random pairing of x with the means."""
    k = means.size
    if k <= EXACT_PERMUTATION_MAX:
        orders = np.array(list(itertools.permutations(range(k))))
        null = rank_correlation(x_ranks, means[orders])
        tolerance = 1e-12
        return float(np.mean(null >= rho - tolerance)), float(np.mean(null <= rho + tolerance))
    shuffled = rng.permuted(np.tile(means, (n_resamples, 1)), axis=1)
    null = rank_correlation(x_ranks, shuffled)
    # (1 + count) / (1 + B): a valid p-value from random permutations (Phipson & Smyth 2010).
    upper = (1 + np.count_nonzero(null >= rho - 1e-12)) / (1 + n_resamples)
    lower = (1 + np.count_nonzero(null <= rho + 1e-12)) / (1 + n_resamples)
    return float(upper), float(lower)


def rank_trend(x: Any, ys: Any, *, alternative: str = "increasing", confidence: float = 0.95,
               n_resamples: int = 10_000, seed: int = 0, method: str = "auto") -> Trend:
    """Does the outcome rise (``"increasing"``) or fall (``"decreasing"``) with ``x``?

    ``x`` holds one distinct value per condition; ``ys`` is conditions × seeds
    (row i: the runs at ``x[i]``; a 1-D ``ys`` is one run per condition). The
    statistic is Spearman's rank correlation (C. Spearman, "The proof and
    measurement of association between two things", Am. J. Psychol. 15, 1904)
    of the per-condition means with ``x``: ``rho = corr(rank(x), rank(ȳ))``.

    ``method="bootstrap"`` (the default when there are ≥ 2 seeds): resample the
    seeds with replacement within each condition, recompute the means and rho,
    and take the equal-tailed percentile interval at ``confidence`` (Efron &
    Tibshirani 1993). holds if the interval lies strictly on the claimed side
    of 0, refuted if strictly on the other side, else inconclusive.

    ``method="permutation"`` (the default with one seed per condition, where
    there are no seeds to resample): the permutation test of rho — every
    ordering of the means is equally likely when there is no trend; exact
    (all k! orderings) up to 8 conditions, else ``n_resamples`` random ones.
    holds if the one-sided p-value in the claimed direction is ≤ ``(1−c)/2``,
    refuted if the one in the other direction is, else inconclusive: the same
    per-side level as the intervals of this package. Note the smallest exact
    p-value is 1/k!, so with one seed at c = 0.95 at least 4 conditions are
    needed for a verdict other than inconclusive (1/24 > 0.025; 5 suffice).

    A resample whose means are all equal has rho 0. ``x`` with ties, fewer than
    3 conditions, NaN or a shape mismatch raise ``StatsError`` (a ValueError).
    """
    alternative = check_choice(alternative, "alternative", TREND_ALTERNATIVES)
    method = check_choice(method, "method", TREND_METHODS)
    confidence, n_resamples, seed = check_options(confidence, n_resamples, seed)
    x_values = as_array(x, "x")
    values = as_array(ys, "ys")
    if x_values.ndim != 1:
        raise StatsError(f"x must be 1-D (one value per condition), got shape {x_values.shape}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise StatsError(f"ys must be 2-D, conditions × seeds, got shape {values.shape}")
    k, s = values.shape
    if k != x_values.size:
        raise StatsError(f"x has {x_values.size} conditions but ys has {k} rows (ys is conditions × seeds)")
    if k < 3:
        raise StatsError(f"a trend needs at least 3 conditions, got {k}; compare two with compare_paired")
    unique, counts = np.unique(x_values, return_counts=True)
    if (counts > 1).any():
        raise StatsError(f"x has ties ({unique[counts > 1].tolist()} repeated): each condition needs its own "
                         f"x; average the runs of one x into one row of ys")
    if method == "auto":
        method = "bootstrap" if s >= 2 else "permutation"
    if method == "bootstrap" and s < 2:
        raise StatsError("the bootstrap resamples seeds within each condition and needs >= 2 seeds; "
                         "use method='permutation' with one seed per condition")
    x_ranks = rankdata(x_values)
    means = values.mean(axis=1)
    rho = float(rank_correlation(x_ranks, means))
    rng = np.random.default_rng(seed)
    sign = 1.0 if alternative == "increasing" else -1.0
    ci = p_value = None
    note = ""
    if method == "bootstrap":
        rhos = _bootstrap_rhos(x_ranks, values, n_resamples, rng)
        low, high = np.quantile(rhos, [(1 - confidence) / 2, (1 + confidence) / 2])
        ci = (float(low), float(high))
        verdict = decide(ci, (0.0, math.inf) if sign > 0 else (-math.inf, 0.0))
    else:
        upper, lower = _permutation_p_values(x_ranks, means, rho, n_resamples, rng)
        p_value, p_other = (upper, lower) if sign > 0 else (lower, upper)
        level = (1 - confidence) / 2
        verdict = (Verdict.HOLDS if p_value <= level else
                   Verdict.REFUTED if p_other <= level else Verdict.INCONCLUSIVE)
        if k <= EXACT_PERMUTATION_MAX and 1 / math.factorial(k) > level:
            note = (f"with {k} conditions the smallest exact p-value is 1/{k}! = {1 / math.factorial(k):.3g} "
                    f"> {level:.3g}, so only 'inconclusive' is possible; add conditions or seeds")
    return Trend(verdict=verdict, rho=rho, ci=ci, p_value=p_value, method=method, alternative=alternative,
                 x=tuple(x_values.tolist()), means=tuple(means.tolist()), n_conditions=k, n_seeds=s,
                 confidence=confidence, n_resamples=n_resamples, seed=seed, note=note)
