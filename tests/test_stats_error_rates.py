"""Simulated error rates of dlverify.stats verdicts under each claim's null, at fixed n and sequentially.

For every claim type, at every fixed number of seeds n = 2..10 and for the
whole sequential procedure of ``SeedPlan.make(3, 10)`` (looks 3, 5, 10) and
``SeedPlan.make(5, 20)`` (looks 5, 10, 20), the rate of "holds" when the
claim is false and the rate of "refuted" when it is true are each checked to
be ≤ 5 %. The data sit on the boundary between the two (a = b, mean = value,
no trend), where both errors are largest, plus the least favourable
configurations of the multi-condition rules. The nominal rate is
(1 − 0.95)/2 = 2.5 % per side; 5 % leaves room for Monte-Carlo error: with D
draws a rate near 2.5 % has standard error sqrt(0.025 · 0.975 / D), 0.25 % at
D = 4 000 and 0.35 % at 2 000, so a rule whose true rate were 5 % would pass
at most by a 1-in-10⁹ fluke. Every draw comes from a fixed numpy seed: the
test is deterministic.

Noise: ``normal`` (N(0, 1)), ``t3`` (Student t with 3 d.o.f., heavy tails) and
``skewed`` (Exp(1) − 1, skewness 2). Conditions are simulated as
``run[condition, seed] = seed effect + condition mean + noise``, the noise
independent across conditions, so paired differences of conditions that are
equal under the null are symmetric even with skewed noise. Values that are
skewed themselves (one sample against a fixed value, or a paired difference
whose noise is not exchangeable) break the plain t interval on one side
(:func:`test_student_t_is_anticonservative_for_a_skewed_single_sample`), which
is why :func:`~dlverify.stats.compare_to_value` uses the guarded interval
(Hall's skew-corrected t at a quarter of the error):
:func:`test_one_sample_against_a_value_false_rates` checks it at every
n = 2..20 for normal, t3, right- and left-skewed exponential, lognormal
(σ = 0.5) and Gamma(4) values, alone and through both plans, and
:func:`test_one_sample_against_a_value_power` what it costs.

Trends: ``rank_trend``'s default with 2 or more seeds, Page's L, at 3, 4 and
5 conditions (its p-values are exact, so these rates are the exact size of
the discrete test up to Monte-Carlo error:
:func:`test_page_rates_are_its_exact_size`), and the permutation test of
the rho of the means at 5 conditions (fewer cannot decide at all).

Speed: each claim is decided for all draws at once with the library's own
vectorized code (``_common.t_interval``, ``_common.skew_corrected_interval``, ``trend.page_p_values``,
``trend.permutation_p_values``) and the rule of ``decide``;
:func:`test_vectorized_deciders_match_the_public_functions` checks, on a few
hundred draws, that the public functions give the same verdicts, one look at
a time and through :func:`~dlverify.stats.sequential`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.stats import rankdata

from dlverify.stats import (
    SeedPlan,
    Verdict,
    argbest,
    compare_paired,
    compare_proportion,
    compare_to_value,
    ordering,
    proportion_interval,
    rank_trend,
    sequential,
)
from dlverify.stats._common import guarded_confidence, skew_corrected_interval, t_interval
from dlverify.stats.trend import page_p_values, permutation_p_values

CONFIDENCE = 0.95
LIMIT = 0.05  # per side; nominal 0.025
DRAWS = 4_000
TREND_DRAWS = 2_000  # the permutation test of rho of the means is the slow one
TREND_RESAMPLES = (
    199  # random arrangements in the simulation (p = (1 + count)/200 is valid for any count)
)
PAGE_CONDITIONS = (3, 4, 5)  # Page's L is exact (no random arrangements) up to 8 conditions
SEEDS = range(2, 11)
PLANS = (SeedPlan.make(3, 10), SeedPlan.make(5, 20))
NOISES = ("normal", "t3", "skewed")
X = np.array([0.1, 0.2, 0.3, 1.0, 2.0])
HOLDS, REFUTED, INCONCLUSIVE = 1, -1, 0
CODE = {Verdict.HOLDS: HOLDS, Verdict.REFUTED: REFUTED, Verdict.INCONCLUSIVE: INCONCLUSIVE}


def noise(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "t3":
        return rng.standard_t(3, shape)
    return rng.exponential(size=shape) - 1.0


def runs(
    kind: str, rng: np.random.Generator, means: tuple[float, ...], draws: int, seeds: int
) -> np.ndarray:
    """(draws, conditions, seeds): seed effect shared by the conditions of a seed, plus mean, plus noise."""
    seed_effect = 3.0 * rng.standard_normal((draws, 1, seeds))
    return (
        seed_effect
        + np.asarray(means)[None, :, None]
        + noise(kind, rng, (draws, len(means), seeds))
    )


def codes(low: np.ndarray, high: np.ndarray, region: tuple[float, float]) -> np.ndarray:
    """:func:`dlverify.stats.decide`, vectorized: +1 holds, −1 refuted, 0 inconclusive."""
    holds = (region[0] < low) & (high < region[1])
    refuted = (high < region[0]) | (low > region[1])
    return np.where(holds, HOLDS, np.where(refuted, REFUTED, INCONCLUSIVE))


def adjusted(confidence: float, m: int) -> float:
    return 1 - (1 - confidence) / m


@dataclass(frozen=True)
class Claim:
    """A claim type: its null data, a vectorized decider and the public function it must agree with."""

    name: str
    means: tuple[float, ...]  # condition means under the null (one entry: a single sample)
    fast: Callable[
        [np.ndarray, float], np.ndarray
    ]  # (draws, conditions, n), confidence -> codes (draws,)
    public: Callable[[np.ndarray, float], Verdict]  # (conditions, n), confidence -> verdict
    noises: tuple[str, ...] = NOISES
    draws: int = DRAWS


# -- vectorized deciders ----------------------------------------------------------------------------


def paired_fast(alternative: str, margin: float = 0.0):
    region = {"greater": (margin, np.inf), "less": (-np.inf, -margin), "within": (-margin, margin)}[
        alternative
    ]

    def fast(samples, confidence):
        return codes(*t_interval(samples[:, 0] - samples[:, 1], confidence), region)

    return fast


def value_fast(samples, confidence):
    """compare_to_value's default rule for "mean > 0": the guarded (skew-corrected) t interval."""
    interval = skew_corrected_interval(samples[:, 0], guarded_confidence(confidence))
    return codes(*interval, (0.0, np.inf))


def ordering_fast(samples, confidence):
    differences = samples[:, :-1] - samples[:, 1:]  # (draws, m, n): each step "greater"
    holds = (t_interval(differences, confidence)[0] > 0).all(axis=1)
    refuted = (t_interval(differences, adjusted(confidence, differences.shape[1]))[1] < 0).any(
        axis=1
    )
    return np.where(holds, HOLDS, np.where(refuted, REFUTED, INCONCLUSIVE))


def argbest_fast(claimed: int | None):
    def fast(samples, confidence):
        draws, k, _ = samples.shape
        subject = (
            samples.mean(axis=-1).argmax(axis=1) if claimed is None else np.full(draws, claimed)
        )
        rivals = np.array([[j for j in range(k) if j != s] for s in range(k)])[
            subject
        ]  # (draws, k − 1)
        rows = np.arange(draws)[:, None]
        differences = samples[rows, subject[:, None]] - samples[rows, rivals]  # (draws, k − 1, n)
        holds_confidence = confidence if claimed is not None else adjusted(confidence, k)
        holds = (t_interval(differences, holds_confidence)[0] > 0).all(axis=1)
        refuted = (t_interval(differences, adjusted(confidence, k - 1))[1] < 0).any(axis=1)
        return np.where(holds, HOLDS, np.where(refuted, REFUTED, INCONCLUSIVE))

    return fast


def p_codes(up: np.ndarray, down: np.ndarray, confidence: float) -> np.ndarray:
    """rank_trend's rule on one-sided p-values of "increasing": holds, refuted or inconclusive."""
    decisive = (1 - confidence) / 2 * (1 + 1e-9)
    return np.where(up <= decisive, HOLDS, np.where(down <= decisive, REFUTED, INCONCLUSIVE))


def trend_fast(samples, confidence):
    _, up, down, _, _ = permutation_p_values(rankdata(X), samples, TREND_RESAMPLES, 0)
    return p_codes(up, down, confidence)


def page_fast(k: int):
    x_ranks = rankdata(X[:k])

    def fast(samples, confidence):
        _, up, down, _, _ = page_p_values(x_ranks, samples, TREND_RESAMPLES, 0)
        return p_codes(up, down, confidence)

    return fast


def page_claim(k: int) -> Claim:
    return Claim(
        f"rank trend (Page's L), {k} conditions, no trend",
        (0.0,) * k,
        page_fast(k),
        lambda s, c: rank_trend(X[:k], s, confidence=c).verdict,
    )


# One sample: the seed effect of ``runs`` dilutes skewed noise; skewed values are checked below.
VALUE_CLAIM = Claim(
    "mean > 0 (normal, t3)",
    (0.0,),
    value_fast,
    lambda s, c: compare_to_value(s[0], 0.0, confidence=c).verdict,
    noises=("normal", "t3"),
)
CLAIMS = [
    Claim(
        "paired a > b",
        (0.0, 0.0),
        paired_fast("greater"),
        lambda s, c: compare_paired(s[0], s[1], confidence=c).verdict,
    ),
    Claim(
        "paired a < b",
        (0.0, 0.0),
        paired_fast("less"),
        lambda s, c: compare_paired(s[0], s[1], alternative="less", confidence=c).verdict,
    ),
    Claim(
        "paired |a − b| < 0.5, a − b = 0.5",
        (0.5, 0.0),
        paired_fast("within", 0.5),
        lambda s, c: (
            compare_paired(s[0], s[1], alternative="within", margin=0.5, confidence=c).verdict
        ),
    ),
    VALUE_CLAIM,
    Claim(
        "A > B > C, all equal",
        (0.0, 0.0, 0.0),
        ordering_fast,
        lambda s, c: ordering(dict(zip("ABC", s)), "ABC", confidence=c).verdict,
    ),
    Claim(
        "A > B > C, A = B ≫ C",
        (0.0, 0.0, -20.0),
        ordering_fast,
        lambda s, c: ordering(dict(zip("ABC", s)), "ABC", confidence=c).verdict,
    ),
    Claim(
        "argbest claimed A of 4, all equal",
        (0.0,) * 4,
        argbest_fast(0),
        lambda s, c: argbest(dict(zip("ABCD", s)), claimed="A", confidence=c).verdict,
    ),
    Claim(
        "argbest claimed A of 4, A = B ≫ C, D",
        (0.0, 0.0, -20.0, -20.0),
        argbest_fast(0),
        lambda s, c: argbest(dict(zip("ABCD", s)), claimed="A", confidence=c).verdict,
    ),
    Claim(
        "argbest unclaimed of 4, all equal",
        (0.0,) * 4,
        argbest_fast(None),
        lambda s, c: argbest(dict(zip("ABCD", s)), confidence=c).verdict,
    ),
    Claim(
        "argbest unclaimed of 4, A = B ≫ C, D",
        (0.0, 0.0, -20.0, -20.0),
        argbest_fast(None),
        lambda s, c: argbest(dict(zip("ABCD", s)), confidence=c).verdict,
    ),
    *[page_claim(k) for k in PAGE_CONDITIONS],
    Claim(
        "rank trend (rho of means), 5 conditions, no trend",
        (0.0,) * 5,
        trend_fast,
        lambda s, c: (
            rank_trend(
                X, s, method="permutation", confidence=c, n_resamples=TREND_RESAMPLES
            ).verdict
        ),
        draws=TREND_DRAWS,
    ),
]


def sequential_codes(
    claim: Claim, samples: np.ndarray, plan: SeedPlan
) -> tuple[np.ndarray, np.ndarray]:
    """The sequential verdict of each draw (first definite look, else inconclusive) and the seeds it used."""
    looks = np.stack(
        [claim.fast(samples[..., :n], c) for n, c in zip(plan.looks, plan.confidences)]
    )  # (looks, draws)
    decided = looks != INCONCLUSIVE
    first = np.where(decided.any(axis=0), decided.argmax(axis=0), len(plan.looks) - 1)
    return looks[first, np.arange(samples.shape[0])], np.asarray(plan.looks)[first]


def measure(claim: Claim, seed: int) -> dict[tuple[str, str], tuple[float, float]]:
    """{(noise, "n=3" | plan): (rate of holds, rate of refuted)} for one claim."""
    rng = np.random.default_rng(seed)
    rates = {}
    for kind in claim.noises:
        for n in SEEDS:
            verdicts = claim.fast(runs(kind, rng, claim.means, claim.draws, n), CONFIDENCE)
            rates[kind, f"n={n}"] = (np.mean(verdicts == HOLDS), np.mean(verdicts == REFUTED))
        for plan in PLANS:
            verdicts, _ = sequential_codes(
                claim, runs(kind, rng, claim.means, claim.draws, plan.budget), plan
            )
            rates[kind, f"looks {plan.looks}"] = (
                np.mean(verdicts == HOLDS),
                np.mean(verdicts == REFUTED),
            )
    return rates


def table(rates: dict) -> str:
    return "\n".join(
        f"{kind:>7} {where:>20}: holds {h:6.2%}  refuted {r:6.2%}"
        for (kind, where), (h, r) in rates.items()
    )


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.name for c in CLAIMS])
def test_false_holds_and_false_refuted_at_most_5_percent(claim):
    """Each cell: DRAWS draws (4 000; 2 000 for the trend), SE ≈ 0.25 % (0.35 %) at a 2.5 % rate.

    Under these nulls both verdicts are errors: on the boundary "holds" is
    false for a claim of strict inequality and "refuted" is false because the
    claim is not violated; the two least favourable configurations (one step
    of an ordering, or the claimed best, exactly tied while the rest are far
    apart) put the whole error of "holds" on one comparison.
    """
    rates = measure(claim, seed=sum(map(ord, claim.name)))
    worst = max(max(pair) for pair in rates.values())
    assert worst <= LIMIT, f"{claim.name}: a rate above {LIMIT:.0%}\n{table(rates)}"


def test_rank_trend_one_seed_exact_rate():
    """5 conditions × 1 seed: the exact test holds only for means in x's order, 1/120 = 0.83 % under no trend.

    4 000 draws per noise, SE 0.14 % at 0.83 %.
    """
    rng = np.random.default_rng(11)
    for kind in NOISES:
        verdicts = trend_fast(runs(kind, rng, (0.0,) * 5, DRAWS, 1), CONFIDENCE)
        for side in (HOLDS, REFUTED):
            assert np.mean(verdicts == side) <= LIMIT
            assert np.mean(verdicts == side) == pytest.approx(1 / 120, abs=0.005)


def test_power_of_the_sequential_paired_comparison():
    """SeedPlan.make(3, 10) reaches "holds" ≥ 80 % of the time at d = 1.5.

    Normal differences, 4 000 draws, SE ≈ 0.2 % at the measured 98.0 %
    (3.5 % stop at 3 seeds, 24.2 % at 5, 70.3 % at 10; 8.5 seeds on average).
    """
    rng = np.random.default_rng(15)
    plan = PLANS[0]
    claim = CLAIMS[0]
    differences = 1.5 + rng.standard_normal((DRAWS, plan.budget))
    samples = np.stack([differences, np.zeros_like(differences)], axis=1)
    verdicts, used = sequential_codes(claim, samples, plan)
    assert np.mean(verdicts == HOLDS) >= 0.80
    assert np.mean(verdicts == REFUTED) == 0.0
    assert used.mean() < 9  # a third of the runs stop before the budget


def test_power_of_the_sequential_page_trend():
    """3 conditions a standardized step of 1.5 apart (means 0, 1.5, 3; sd 1): make(3, 10) holds ≥ 80 %.

    Normal noise plus a seed effect shared by the conditions of a seed (it
    cancels in the within-seed ranks), 4 000 draws. Measured: 99.9 % (none
    at the 3-seed look, whose 0.225 % a side is below the smallest p-value
    of 3 conditions × 3 seeds, 1/216; 53.7 % at 5, 46.2 % at 10; 7.3 seeds on
    average). The rho of the means could not decide at all: its p-value is
    never below 1/3! = 0.17.
    """
    rng = np.random.default_rng(19)
    plan = PLANS[0]
    samples = runs("normal", rng, (0.0, 1.5, 3.0), DRAWS, plan.budget)
    verdicts, used = sequential_codes(page_claim(3), samples, plan)
    assert np.mean(verdicts == HOLDS) >= 0.80
    assert np.mean(verdicts == REFUTED) == 0.0


def page_exact_size(k: int, n: int, level: float) -> float:
    """P(p ≤ level) under no trend and no ties, from the law of L enumerated for one seed and convolved n times."""
    orders = np.array(list(itertools.permutations(range(1, k + 1))))
    one_seed = np.bincount(orders @ np.arange(1, k + 1))  # P(Σ i·R_i = v) · k!, v from 0
    law = np.ones(1)
    for _ in range(n):
        law = np.convolve(law, one_seed / len(orders))
    at_least = np.cumsum(law[::-1])[::-1]
    return float(law[at_least <= level * (1 + 1e-9)].sum())


def test_page_rates_are_its_exact_size():
    """With continuous noise and no trend each seed's ranks are a uniform permutation whatever the noise, so the
    rate of each verdict at fixed n is the exact size of the discrete test, ≤ 2.5 %: 0 at 3 conditions × 2 seeds
    (1/36 > 2.5 %), 0.46 % at 3 seeds, 1.3–2.2 % from 5 seeds; 1.2–2.2 % with 4 conditions, 1.7–2.5 % with 5.

    Skewed noise, 4 000 draws per cell, each rate within 4 standard errors of the exact size (so the simulation
    also catches a test that is conservative by mistake).
    """
    rng = np.random.default_rng(20)
    for k in PAGE_CONDITIONS:
        for n in SEEDS:
            size = page_exact_size(k, n, 0.025)
            assert size <= 0.025
            verdicts = page_fast(k)(runs("skewed", rng, (0.0,) * k, DRAWS, n), CONFIDENCE)
            tolerance = 4 * max(np.sqrt(size * (1 - size) / DRAWS), 1 / DRAWS)
            for side in (HOLDS, REFUTED):
                assert abs(np.mean(verdicts == side) - size) <= tolerance, (k, n, side, size)


# -- one sample against a value: skewed laws ------------------------------------------------

VALUE_DRAWS = 10_000  # per cell: SE 0.2 % at 4 %; a true rate of 5 % passes only by a 5-SE fluke
VALUE_SEEDS = range(2, 21)


def centred(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values of mean 0 (the rules are location-scale equivariant, so the scale does not matter)."""
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "t3":
        return rng.standard_t(3, shape)
    if kind == "exp":  # skewness 2
        return rng.exponential(size=shape) - 1.0
    if kind == "exp, left":  # the mirror image: skewness −2
        return 1.0 - rng.exponential(size=shape)
    if kind == "lognormal 0.5":  # skewness 1.75
        return rng.lognormal(0.0, 0.5, shape) - np.exp(0.125)
    return rng.gamma(4.0, size=shape) - 4.0  # "gamma 4": skewness 1


VALUE_LAWS = ("normal", "t3", "exp", "exp, left", "lognormal 0.5", "gamma 4")


def value_rates(seed: int) -> dict[tuple[str, str], tuple[float, float]]:
    """{(law, "n=…" | plan): (false holds, false refuted)} of "mean > 0" at mean 0 (the default)."""
    rng = np.random.default_rng(seed)
    rates = {}
    for kind in VALUE_LAWS:
        for n in VALUE_SEEDS:
            verdicts = value_fast(centred(kind, rng, (VALUE_DRAWS, 1, n)), CONFIDENCE)
            rates[kind, f"n={n}"] = (np.mean(verdicts == HOLDS), np.mean(verdicts == REFUTED))
        for plan in PLANS:
            samples = centred(kind, rng, (VALUE_DRAWS, 1, plan.budget))
            verdicts, _ = sequential_codes(VALUE_CLAIM, samples, plan)
            where = f"looks {plan.looks}"
            rates[kind, where] = (np.mean(verdicts == HOLDS), np.mean(verdicts == REFUTED))
    return rates


def test_one_sample_against_a_value_false_rates():
    """compare_to_value's default (guarded t): false holds and refuted ≤ 5 % for every law, n, plan.

    10 000 draws per cell, SE ≈ 0.2 % at the worst rates. Measured on these
    draws, worst over n = 2..20: Exp(1) − 1 4.2 % (n = 4, "refuted"; its
    mirror image 4.1 % "holds"), lognormal σ = 0.5 2.8 %, Gamma(4) 2.0 %,
    normal 0.9 %, t3 1.1 %; through make(3, 10) / make(5, 20) Exp(1) − 1
    gives 3.9 % / 3.0 % (its mirror image 4.3 % / 3.0 %), the closest to the
    limit (40 000 draws of make(3, 10): 4.0 %). The long-tail side stays
    ≤ 0.4 %. A ``within`` band decides with the same interval, each edge a
    one-sided test of this kind, so its rates are these.
    """
    rates = value_rates(seed=21)
    worst = max(max(pair) for pair in rates.values())
    assert worst <= LIMIT, f"a rate above {LIMIT:.0%}\n{table(rates)}"
    for kind in ("exp", "lognormal 0.5", "gamma 4"):  # right skew: only "refuted" is near the limit
        assert max(rates[kind, where][0] for where in [k[1] for k in rates if k[0] == kind]) < 0.01


def test_one_sample_against_a_value_power():
    """Power of "mean > 0" at a standardized effect of 1.5 (normal values): ≥ 80 % within each seed plan.

    10 000 draws per cell, SE ≈ 0.4 %. Measured on these draws: 85.5 % at a
    fixed 10 seeds (33.8 % at 5), 83.0 % through make(3, 10) (9.3 seeds on
    average; each look is at its share of the error, guarded to a quarter of
    it), 99.8 % through make(5, 20) (13.4 seeds). With the plain t interval
    guarded to a tenth (the rule before Hall's correction) and the error
    split equally over the looks, make(3, 10) reached only 63 %.
    """
    rng = np.random.default_rng(22)
    fixed = {}
    for n in (5, 10):
        samples = 1.5 + rng.standard_normal((VALUE_DRAWS, 1, n))
        fixed[n] = np.mean(value_fast(samples, CONFIDENCE) == HOLDS)
    powers = []
    for plan in PLANS:
        samples = 1.5 + rng.standard_normal((VALUE_DRAWS, 1, plan.budget))
        verdicts, used = sequential_codes(VALUE_CLAIM, samples, plan)
        powers.append((np.mean(verdicts == HOLDS), used.mean()))
        assert np.mean(verdicts == REFUTED) == 0.0
    assert fixed[10] >= 0.80 and powers[0][0] >= 0.80 and powers[1][0] >= 0.98, (fixed, powers)


def test_student_t_is_anticonservative_for_a_skewed_single_sample():
    """Why compare_to_value's default is guarded: the plain t interval, Exp(1) − 1 values at mean 0.

    "mean > 0" is falsely *refuted* (equivalently "mean < 0" falsely holds)
    9.6–11.5 % of the time at n = 3–10 instead of 2.5 % (the check allows
    6–13 % for Monte-Carlo error); the other side is conservative (< 1.5 %).
    4 000 draws per n, SE ≈ 0.5 %. The same holds for a paired difference
    that is itself skewed (non-exchangeable conditions). No interval for a
    mean is valid for every distribution at a fixed n (Bahadur & Savage 1956).
    """
    rng = np.random.default_rng(16)
    for n in range(3, 11):
        sample = rng.exponential(size=(DRAWS, n)) - 1.0
        verdicts = codes(*t_interval(sample, CONFIDENCE), (0.0, np.inf))
        assert np.mean(verdicts == HOLDS) < 0.015
        assert 0.06 <= np.mean(verdicts == REFUTED) <= 0.13
    assert compare_to_value(sample[0], 0.0, interval="student-t").ci == tuple(
        float(v) for v in t_interval(sample[0], CONFIDENCE)
    )


def test_percentile_bootstrap_fails_at_three_seeds():
    """Why it is no longer the default: at n = 3 it is [min, max], "holds" 1/8 of the time under a = b.

    400 draws, SE ≈ 1.7 % at 12.5 %; the t interval on the same draws stays near 2.5 %.
    """
    rng = np.random.default_rng(17)
    differences = rng.standard_normal((400, 3))
    bootstrap = [
        compare_paired(d, np.zeros(3), interval="percentile", n_resamples=2_000).verdict
        for d in differences
    ]
    assert (
        bootstrap.count(Verdict.HOLDS) / 400 > 0.08
        and bootstrap.count(Verdict.REFUTED) / 400 > 0.08
    )
    t = paired_fast("greater")(
        np.stack([differences, np.zeros_like(differences)], axis=1), CONFIDENCE
    )
    assert np.mean(t == HOLDS) < 0.05 and np.mean(t == REFUTED) < 0.05


# -- proportions: exact rates (binomial sums), no Monte-Carlo error ---------------------------------------------


def false_rates(method: str, n: int, truths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact P(holds) and P(refuted) of "p > p0" when the true proportion is p0, for each p0 in ``truths``."""
    intervals = np.array([proportion_interval(k, n, method=method) for k in range(n + 1)])
    pmf = scipy_stats.binom.pmf(np.arange(n + 1)[None, :], n, truths[:, None])  # (truths, k)
    holds = intervals[None, :, 0] > truths[:, None]  # (truths, k): the lower end above p0
    refuted = intervals[None, :, 1] < truths[:, None]  # the upper end below p0
    return (pmf * holds).sum(axis=1), (pmf * refuted).sum(axis=1)


TRUTHS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def test_proportion_exact_rates_at_most_nominal():
    """Clopper–Pearson (the default): false holds and refuted ≤ 2.5 % for every n ≤ 60, p0 on a 0.01 grid.

    Exact binomial sums, so the check is against the nominal level itself.
    Wilson's interval, computed the same way, leaves out up to 20 % at n = 1
    and 15.7 % at n = 17 (p0 = 0.01): the reason it is no longer the default.
    """
    for n in range(1, 61):
        holds, refuted = false_rates("exact", n, TRUTHS)
        assert holds.max() <= 0.025 + 1e-12 and refuted.max() <= 0.025 + 1e-12, n
    assert max(false_rates("wilson", 1, TRUTHS)[0]) == pytest.approx(0.2)
    assert max(false_rates("wilson", 17, TRUTHS)[0]) == pytest.approx(0.157, abs=0.001)
    for n in SEEDS:  # the small-n cells of the other claims
        holds, refuted = false_rates("exact", n, TRUTHS)
        assert max(holds.max(), refuted.max()) <= 0.025 + 1e-12


@pytest.mark.parametrize("plan", PLANS + (SeedPlan.make(100, 1000),), ids=str)
def test_proportion_sequential_exact_rates(plan):
    """The sequential procedure over trials, exactly: the probability mass of every path of successes.

    After each look the mass of the still-inconclusive counts is carried to
    the next look by a binomial convolution; ≤ 2.5 % per side for p0 on a
    0.05 grid. (The verdicts are the intervals' under :func:`codes`, spot-checked
    against :func:`compare_proportion`.)
    """
    intervals = {
        n: np.array([proportion_interval(k, n, confidence=c) for k in range(n + 1)])
        for n, c in zip(plan.looks, plan.confidences)
    }
    for p0 in np.round(np.arange(0.05, 1.0, 0.05), 2):
        mass = np.array([1.0])  # P(k successes so far and no verdict yet)
        previous = 0
        holds = refuted = 0.0
        for n in plan.looks:
            mass = np.convolve(
                mass, scipy_stats.binom.pmf(np.arange(n - previous + 1), n - previous, p0)
            )
            previous = n
            verdicts = codes(intervals[n][:, 0], intervals[n][:, 1], (p0, np.inf))
            for k in (0, round(p0 * n), n):
                assert (
                    CODE[compare_proportion(k, n, p0, confidence=plan.confidence_at(n)).verdict]
                    == verdicts[k]
                )
            holds += mass[verdicts == HOLDS].sum()
            refuted += mass[verdicts == REFUTED].sum()
            mass = np.where(verdicts == INCONCLUSIVE, mass, 0.0)
        assert holds <= 0.025 + 1e-12 and refuted <= 0.025 + 1e-12, (p0, holds, refuted)


# -- the vectorized paths are the public functions -------------------------------------------------------------


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.name for c in CLAIMS])
def test_vectorized_deciders_match_the_public_functions(claim):
    """150 draws (100 for the trend) at n = 2, 3 and 6 and through SeedPlan.make(3, 10): identical verdicts."""
    rng = np.random.default_rng(18)
    draws = 100 if "rho of means" in claim.name else 150
    for n in (2, 3, 6):
        samples = runs("t3", rng, claim.means, draws, n)
        fast = claim.fast(samples, CONFIDENCE)
        assert [CODE[claim.public(s, CONFIDENCE)] for s in samples] == fast.tolist()
    plan = PLANS[0]
    samples = runs(
        "normal",
        rng,
        tuple(0.4 * np.arange(len(claim.means))[::-1] + claim.means),
        draws,
        plan.budget,
    )
    fast, used = sequential_codes(claim, samples, plan)
    for s, verdict, n in zip(samples, fast, used):
        outcome = sequential(
            lambda seeds, confidence, s=s: claim.public(s[:, :seeds], confidence), plan
        )
        assert (CODE[outcome.verdict], outcome.n) == (verdict, n)
