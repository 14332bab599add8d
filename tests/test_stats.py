"""dlverify.stats: three-way verdicts from t, seeded bootstrap, exact, Wilson and permutation statistics.

Error rates under the null are simulated in test_stats_error_rates.py; the sequential
design and ``at_confidence`` are tested in test_stats_sequential.py.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from dlverify.errors import DlverifyError
from dlverify.stats import (
    StatsError,
    Verdict,
    argbest,
    combine,
    compare_paired,
    compare_proportion,
    compare_to_value,
    decide,
    ordering,
    proportion_interval,
    rank_trend,
    within,
)
from dlverify.stats._common import skew_corrected_interval

HOLDS, REFUTED, INCONCLUSIVE = Verdict.HOLDS, Verdict.REFUTED, Verdict.INCONCLUSIVE
FAST = dict(n_resamples=2_000)  # enough for the properties checked here, and quick
BOOT = dict(interval="percentile", **FAST)  # the bootstrap, for properties that are its own

values = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)
noise = st.floats(min_value=-1, max_value=1, allow_nan=False, allow_infinity=False)
property_settings = settings(max_examples=40, deadline=None)


@st.composite
def base_and_noise(draw, min_size=3, max_size=20):
    n = draw(st.integers(min_size, max_size))
    base = draw(st.lists(values, min_size=n, max_size=n))
    jitter = draw(st.lists(noise, min_size=n, max_size=n))
    return np.array(base), np.array(jitter)


def assert_json(result) -> dict:
    """as_dict() survives strict JSON (no NaN/inf literals) unchanged."""
    data = result.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    return data


# -- the verdict rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ci, region, verdict",
    [
        ((0.1, 0.2), (0.0, math.inf), HOLDS),
        ((0.0, 0.2), (0.0, math.inf), INCONCLUSIVE),  # touching the threshold is not enough
        ((-0.1, 0.2), (0.0, math.inf), INCONCLUSIVE),
        ((-0.2, -0.1), (0.0, math.inf), REFUTED),
        ((-0.2, 0.0), (0.0, math.inf), INCONCLUSIVE),
        ((0.0, 0.0), (0.0, math.inf), INCONCLUSIVE),
        ((0.3, 0.4), (0.2, 0.5), HOLDS),
        ((0.1, 0.3), (0.2, 0.5), INCONCLUSIVE),
        ((0.6, 0.7), (0.2, 0.5), REFUTED),
        ((-math.inf, math.inf), (0.0, math.inf), INCONCLUSIVE),
    ],
)
def test_decide(ci, region, verdict):
    assert decide(ci, region) is verdict


def test_combine():
    assert combine(HOLDS, "holds", True) is HOLDS
    assert combine(HOLDS, INCONCLUSIVE) is INCONCLUSIVE
    assert combine(HOLDS, INCONCLUSIVE, "refuted") is REFUTED
    assert combine(compare_paired([2.0, 3.0, 4.0], [0.0, 0.0, 0.0]), False) is REFUTED
    assert str(HOLDS) == "holds" and HOLDS == "holds"
    with pytest.raises(StatsError, match="at least one"):
        combine()
    with pytest.raises(ValueError, match="not a verdict"):
        combine("maybe")


# -- compare_paired -------------------------------------------------------------------------


@property_settings
@given(base_and_noise())
def test_large_effect_detected_both_ways(sample):
    base, jitter = sample
    a = base + 10 + jitter
    assert compare_paired(a, base, **FAST).verdict is HOLDS
    assert compare_paired(base, a, **FAST).verdict is REFUTED
    assert compare_paired(a, base, alternative="less", **FAST).verdict is REFUTED
    assert compare_paired(base, a, alternative="less", **FAST).verdict is HOLDS
    assert compare_paired(a, base, interval="student-t").verdict is HOLDS
    assert compare_paired(base, a, interval="student-t").verdict is REFUTED


@property_settings
@given(st.lists(values, min_size=1, max_size=20), st.integers(0, 2**32 - 1))
def test_identical_samples_are_inconclusive(sample, seed):
    result = compare_paired(sample, list(sample), seed=seed, **FAST)
    assert result.verdict is INCONCLUSIVE
    assert result.effect == 0.0
    if len(sample) > 1:
        assert result.ci == (0.0, 0.0) and result.effect_size == 0.0
    assert compare_paired(sample, sample, interval="student-t").verdict is INCONCLUSIVE


@property_settings
@given(base_and_noise(min_size=2), st.integers(0, 2**32 - 1))
def test_ci_contains_effect(sample, seed):
    base, jitter = sample
    result = compare_paired(base + jitter, base, seed=seed, **BOOT)
    low, high = result.ci
    tolerance = 1e-9 * (1 + abs(result.effect))  # bootstrap means sum in another order
    assert low - tolerance <= result.effect <= high + tolerance
    assert result.effect == pytest.approx(np.mean((base + jitter) - base))
    # a resampled mean cannot leave the data's range: why the bootstrap is too narrow at small n
    assert min(jitter) - 1e-9 <= low and high <= max(jitter) + 1e-9
    t = compare_paired(base + jitter, base)
    assert t.interval == "student-t" and t.ci[0] - tolerance <= t.effect <= t.ci[1] + tolerance
    assert t.ci[1] - t.ci[0] >= high - low - tolerance or len(jitter) > 10


@property_settings
@given(base_and_noise(min_size=8), st.integers(0, 1000))
def test_reproducible_for_a_seed(sample, seed):
    base, jitter = sample
    first = compare_paired(base + 10 + jitter, base, seed=seed, **BOOT)
    again = compare_paired(base + 10 + jitter, base, seed=seed, **BOOT)
    other = compare_paired(base + 10 + jitter, base, seed=seed + 1, **BOOT)
    assert first == again and first.as_dict() == again.as_dict()
    assert other.verdict is first.verdict is HOLDS


def test_interval_depends_on_seed():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=12), rng.normal(size=12)
    intervals = {compare_paired(a, b, seed=seed, **BOOT).ci for seed in range(5)}
    assert len(intervals) > 1
    assert (
        len({compare_paired(a, b, seed=seed).ci for seed in range(5)}) == 1
    )  # the t interval draws nothing


def test_three_seeds_give_the_range_of_the_differences():
    """With n = 3 at 95 % the percentile interval is [min, max]: holds iff every seed agrees.

    Pure noise has all three differences positive 1/8 of the time, so the
    bootstrap is not the default; the t interval of the same data is wide.
    """
    result = compare_paired([1.0, 2.5, 3.1], [0.9, 2.0, 2.0], interval="percentile")
    assert result.ci == pytest.approx((0.1, 1.1))
    assert result.verdict is HOLDS
    assert (
        compare_paired([1.0, 2.5, 3.1], [1.2, 2.0, 2.0], interval="percentile").verdict
        is INCONCLUSIVE
    )
    t = compare_paired([1.0, 2.5, 3.1], [0.9, 2.0, 2.0])
    expected = scipy_stats.ttest_1samp([0.1, 0.5, 1.1], 0.0).confidence_interval(0.95)
    assert t.ci == pytest.approx((expected.low, expected.high)) and t.verdict is INCONCLUSIVE


def test_student_t_interval():
    d = np.array([0.3, 0.5, 0.1, 0.4])
    result = compare_paired(d, np.zeros(4))
    expected = scipy_stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert result.ci == pytest.approx((expected.low, expected.high))
    assert result.interval == "student-t" and result == compare_paired(
        d, np.zeros(4), interval="student-t"
    )
    value = compare_to_value(d, 0.0, interval="student-t")
    assert value.ci == result.ci and value.interval == "student-t"


def hall_interval(values, confidence):
    """Hall's (1992) skew-corrected t interval for one sample, written out in plain Python."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    gamma = sum((v - mean) ** 3 for v in values) / n / sd**3
    t = scipy_stats.t.ppf((1 + confidence) / 2, n - 1)

    def inverse(u):  # g(S) = ((1 + γS/3)³ − 1)/γ + γ/(6n) solved for S
        inner = 1 + gamma * (u - gamma / (6 * n))
        return 3 / gamma * (math.copysign(abs(inner) ** (1 / 3), inner) - 1)

    return mean - sd * inverse(t / math.sqrt(n)), mean - sd * inverse(-t / math.sqrt(n))


def test_guarded_t_interval_is_hall_skew_corrected_t_at_a_quarter_of_the_error():
    """compare_to_value's default: Hall's interval at confidence 1 − (1 − c)/4 (0.9875 at 0.95)."""
    d = np.array([0.3, 0.5, 0.1, 0.4])  # skewness −0.32
    value = compare_to_value(d, 0.0)
    assert value.interval == "guarded-t"
    assert value.ci == pytest.approx(hall_interval(d.tolist(), 0.9875), rel=1e-12)
    plain = scipy_stats.ttest_1samp(d, 0.0).confidence_interval(0.9875)
    assert value.ci[0] < plain.low and value.ci[1] < plain.high  # left skew: moved down
    assert value.confidence == 0.95 and assert_json(value)["interval"] == "guarded-t"
    assert within(d, -1.0, 1.0).ci == value.ci
    assert value.at_confidence(0.9).ci == pytest.approx(hall_interval(d.tolist(), 0.975))
    paired = compare_paired(d, np.zeros(4), interval="guarded-t")
    assert paired.ci == value.ci and compare_paired(d, np.zeros(4)).ci != value.ci
    symmetric = np.array([0.1, 0.2, 0.3, 0.4])  # no skewness: the plain t interval
    expected = scipy_stats.ttest_1samp(symmetric, 0.0).confidence_interval(0.9875)
    assert compare_to_value(symmetric, 0.0).ci == pytest.approx((expected.low, expected.high))
    right = np.array([0.0, 0.1, 0.2, 1.5])  # right skew: the upper end reaches further
    hall = compare_to_value(right, 0.0).ci
    plain = scipy_stats.ttest_1samp(right, 0.0).confidence_interval(0.9875)
    assert hall[0] > plain.low and hall[1] > plain.high
    assert compare_to_value([2.0, 2.0, 2.0], 0.0).ci == (2.0, 2.0)


@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=12),
    st.floats(0.5, 0.999),
)
def test_skew_corrected_interval_contains_the_mean_and_grows_with_confidence(values, confidence):
    """Hall's transformation is increasing, so the interval is ordered, holds x̄, and nests by level."""
    sample = np.array(values)
    if sample.std() < 1e-6 * max(1.0, np.abs(sample).max()):
        return  # (near-)constant samples: a point interval
    low, high = skew_corrected_interval(sample, confidence)
    wider = skew_corrected_interval(sample, 1 - (1 - confidence) / 2)
    assert low <= sample.mean() <= high
    assert wider[0] <= low and high <= wider[1]


def test_margin_and_mirror():
    b = np.array([0.80, 0.82, 0.78, 0.81, 0.79])
    a = b + np.array([0.030, 0.032, 0.028, 0.031, 0.029])
    assert compare_paired(a, b, margin=0.01).verdict is HOLDS
    assert compare_paired(a, b, margin=0.05).verdict is REFUTED  # confidently below the claimed gap
    assert compare_paired(a, b, margin=0.03).verdict is INCONCLUSIVE
    assert compare_paired(a, b, margin=-0.01).verdict is HOLDS  # non-inferiority
    less = compare_paired(b, a, alternative="less", margin=0.01)
    greater = compare_paired(a, b, margin=0.01)
    assert less.verdict is greater.verdict
    assert less.ci == pytest.approx((-greater.ci[1], -greater.ci[0]))


def test_within_margin_is_equivalence():
    b = np.array([0.10, 0.12, 0.11, 0.09, 0.10])
    assert compare_paired(b + 0.001, b, alternative="within", margin=0.01).verdict is HOLDS
    assert compare_paired(b + 0.05, b, alternative="within", margin=0.01).verdict is REFUTED
    assert (
        compare_paired(
            b + np.array([0.0, 0.02, 0.0, -0.01, 0.005]), b, alternative="within", margin=0.01
        ).verdict
        is INCONCLUSIVE
    )


def test_effect_size_conventions():
    assert compare_paired([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]).effect_size == math.inf
    assert compare_paired([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).effect_size == -math.inf
    assert compare_paired([1.0, 2.0, 4.0], [0.0, 0.0, 0.0]).effect_size == pytest.approx(
        7 / 3 / math.sqrt(7 / 3)
    )


def test_one_seed_is_inconclusive_with_a_note():
    result = compare_paired([0.9], [0.1])
    assert result.verdict is INCONCLUSIVE
    assert result.ci == (-math.inf, math.inf) and math.isnan(result.effect_size)
    assert "n=1" in result.note
    data = assert_json(result)
    assert data["ci"] == ["-inf", "inf"] and data["effect_size"] == "nan"


def test_as_dict_and_str():
    result = compare_paired([0.93, 0.96, 0.94], [0.90, 0.92, 0.91])
    data = assert_json(result)
    assert data["verdict"] == "holds" and data["n"] == 3 and data["a"] == [0.93, 0.96, 0.94]
    assert all(type(v) is float for v in data["ci"] + [data["effect"]])
    text = str(result)
    assert text == "a−b = 0.0333 [0.019, 0.0477], claimed > 0 (n=3, d_z=5.8): holds"
    assert data["interval"] == "student-t"


def test_accepts_tensors():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert compare_paired(a + 1, a).verdict is HOLDS


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a=[1.0, 2.0, 3.0], b=[1.0, 2.0, 3.0, 4.0]), "a has 3 values but b has 4"),
        (dict(a=[1.0, float("nan"), 3.0], b=[1.0, 2.0, 3.0]), "NaN"),
        (dict(a=[1.0, 2.0, 3.0], b=[1.0, float("inf"), 3.0]), "infinite"),
        (dict(a=[], b=[]), "empty"),
        (dict(a=[[1.0, 2.0]], b=[[1.0, 2.0]]), "1-D"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], alternative="two-sided"), "alternative must be one of"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], alternative="within"), "margin must be finite"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], confidence=95), "confidence"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], n_resamples=0), "n_resamples"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], seed=np.random.default_rng(0)), "seed must be an int"),
        (dict(a=[1.0, 2.0], b=[0.0, 0.0], interval="bca"), "interval must be one of"),
    ],
)
def test_compare_paired_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        compare_paired(**kwargs)
    assert isinstance(info.value, DlverifyError)


# -- one sample: compare_to_value, within ---------------------------------------------------


def test_compare_to_value():
    acc = [0.97, 0.98, 0.96, 0.99, 0.97]
    assert compare_to_value(acc, 0.9).verdict is HOLDS
    assert compare_to_value(acc, 1.01).verdict is REFUTED
    assert compare_to_value(acc, 0.975).verdict is INCONCLUSIVE
    assert compare_to_value(acc, 1.01, alternative="less").verdict is HOLDS
    # the guard's price: the plain t interval (0.960, 0.988) already refutes "> 0.99"
    assert compare_to_value(acc, 0.99).verdict is INCONCLUSIVE
    assert compare_to_value(acc, 0.99, interval="student-t").verdict is REFUTED
    result = compare_to_value(acc, 0.9)
    assert result.mean == pytest.approx(0.974) and result.region == (0.9, math.inf)
    assert assert_json(result)["claim"] == "mean > 0.9"
    assert str(result).endswith(": holds")
    assert compare_to_value([0.95], 0.9).verdict is INCONCLUSIVE


def test_within_band():
    losses = [0.41, 0.44, 0.39, 0.43, 0.42]
    assert within(losses, 0.3, 0.55).verdict is HOLDS
    assert within(losses, 0.5, 0.6).verdict is REFUTED
    assert within(losses, 0.42, 0.6).verdict is INCONCLUSIVE
    result = within(losses, 0.3, 0.55)
    assert result.effect_size is None and assert_json(result)["value"] == [0.3, 0.55]
    with pytest.raises(ValueError, match="low < high"):
        within(losses, 0.6, 0.5)
    with pytest.raises(ValueError, match="needs value=\\(low, high\\)"):
        compare_to_value(losses, 0.5, alternative="within")
    with pytest.raises(ValueError, match="needs one number"):
        compare_to_value(losses, (0.3, 0.5))


# -- proportions ------------------------------------------------------------------------------


def test_exact_interval_known_values():
    low, high = proportion_interval(0, 10, method="exact")
    assert low == 0.0 and high == pytest.approx(0.30850, abs=1e-5)
    low, high = proportion_interval(10, 10, method="exact")
    assert high == 1.0 and low == pytest.approx(1 - 0.30850, abs=1e-5)
    assert proportion_interval(5, 10, method="exact") == pytest.approx((0.18709, 0.81291), abs=1e-5)


def test_wilson_interval_known_values():
    low, high = proportion_interval(0, 10, method="wilson")
    z2 = scipy_stats.norm.ppf(0.975) ** 2
    assert low == 0.0 and high == pytest.approx(z2 / (10 + z2))
    low, high = proportion_interval(10, 10, method="wilson")
    assert high == 1.0 and low == pytest.approx(10 / (10 + z2))
    assert proportion_interval(3, 10) == proportion_interval(
        3, 10, method="exact"
    )  # Clopper–Pearson by default


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
    st.sampled_from(["wilson", "exact"]),
)
def test_proportion_interval_properties(counts, confidence, method):
    k, n = counts
    low, high = proportion_interval(k, n, confidence=confidence, method=method)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n)
    reference = scipy_stats.binomtest(k, n).proportion_ci(
        confidence_level=confidence, method=method
    )
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-9)


def test_compare_proportion():
    assert compare_proportion(2000, 10_000, 0.1).verdict is HOLDS
    assert compare_proportion(1000, 10_000, (0.09, 0.11), alternative="within").verdict is HOLDS
    assert compare_proportion(1000, 10_000, (0.12, 0.2), alternative="within").verdict is REFUTED
    assert compare_proportion(1000, 10_000, 0.1).verdict is INCONCLUSIVE
    result = compare_proportion(3, 10, 0.1, method="exact")
    assert assert_json(result)["successes"] == 3 and str(result).startswith("p = 0.3 (3/10)")
    assert compare_proportion(3, 10, 0.1) == result
    # Wilson's lower end for 1 of 1 is 0.79: a false "holds" 20 % of the time at p = 0.2 (Clopper–Pearson: 0.025)
    assert compare_proportion(1, 1, 0.2, method="wilson").verdict is HOLDS
    assert compare_proportion(1, 1, 0.2).verdict is INCONCLUSIVE


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((11, 10), {}, "0 <= successes <= trials"),
        ((0, 0), {}, "trials >= 1"),
        ((0.5, 10), {}, "integers"),
        ((1, 10), dict(method="agresti"), "method must be one of"),
        ((1, 10), dict(confidence=1.0), "confidence"),
    ],
)
def test_proportion_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        proportion_interval(*args, **kwargs)


# -- rank_trend ------------------------------------------------------------------------------

X = [0.1, 0.2, 0.3, 1.0, 2.0]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.floats(0.5, 5.0))
def test_rank_trend_detects_monotone_trend_and_reverse(noise_seed, seeds, slope):
    ys = slope * np.arange(5.0)[:, None] + 0.05 * np.random.default_rng(noise_seed).normal(
        size=(5, seeds)
    )
    up = rank_trend(X, ys, **FAST)
    assert up.verdict is HOLDS and up.rho == 1.0 and up.mean_seed_rho == 1.0 and up.method == "page"
    assert up.exact and up.p_value == pytest.approx(
        (1 / 120) ** seeds, rel=1e-9
    )  # every seed in order
    means = rank_trend(X, ys, method="permutation", **FAST)
    assert means.verdict is HOLDS and means.exact is (seeds <= 2)
    assert means.p_value == pytest.approx(
        1 / 120, abs=0.006
    )  # 2 000 random arrangements beyond 2 seeds
    assert rank_trend(X, ys, method="bootstrap", **FAST).verdict is HOLDS
    assert rank_trend(X, ys, alternative="decreasing", **FAST).verdict is REFUTED
    assert rank_trend(X, ys[::-1], **FAST).verdict is REFUTED
    assert rank_trend(X, ys[::-1], alternative="decreasing", **FAST).verdict is HOLDS


def test_rank_trend_flat_is_inconclusive():
    # every condition holds the same runs in another order: equal means, rho 0
    runs = np.array([0.50, 0.52, 0.47, 0.55])
    ys = np.array([np.roll(runs, i) for i in range(5)])
    result = rank_trend(X, ys, method="permutation")
    assert result.rho == 0.0 and result.p_value > 0.4 and result.p_opposite > 0.4
    assert result.verdict is INCONCLUSIVE
    page = rank_trend(X, ys)
    assert page.method == "page" and page.rho == 0.0 and page.verdict is INCONCLUSIVE
    assert page.p_value > 0.1 and page.p_opposite > 0.1
    boot = rank_trend(X, ys, method="bootstrap")
    assert boot.ci[0] < 0 < boot.ci[1] and boot.verdict is INCONCLUSIVE
    for method in ("page", "permutation"):
        flat = rank_trend(X, np.ones((5, 3)), method=method)
        assert flat.p_value == flat.p_opposite == 1.0 and flat.verdict is INCONCLUSIVE
    assert rank_trend(X, np.ones((5, 3))).mean_seed_rho == 0.0
    assert rank_trend(X, np.ones((5, 3)), method="bootstrap").ci == (0.0, 0.0)


def test_rank_trend_rarely_decides_on_noise():
    verdicts = [
        rank_trend(X, np.random.default_rng(seed).normal(size=(5, 8)), **FAST).verdict
        for seed in range(40)
    ]
    assert verdicts.count(INCONCLUSIVE) >= 34


def test_rank_trend_rho_is_spearman_of_means():
    ys = np.random.default_rng(3).normal(size=(6, 4))
    for method in ("page", "permutation"):
        result = rank_trend(np.arange(6), ys, method=method, **FAST)
        assert result.rho == pytest.approx(
            scipy_stats.spearmanr(np.arange(6), ys.mean(axis=1)).statistic
        )
        seed_rhos = [scipy_stats.spearmanr(np.arange(6), column).statistic for column in ys.T]
        assert result.mean_seed_rho == pytest.approx(np.mean(seed_rhos))
        assert result.n_conditions == 6 and result.n_seeds == 4
        assert result == rank_trend(np.arange(6), ys, method=method, **FAST)
        assert str(result).endswith("(6 conditions × 4 seeds): " + result.verdict.value)
    data = assert_json(rank_trend(np.arange(6), ys, method="permutation", **FAST))
    assert data["ci"] is None and len(data["means"]) == 6 and data["arrangements"] == 2_000
    assert data["exact"] is False and data["ys"] == ys.tolist() and data["page_l"] is None
    page = assert_json(rank_trend(np.arange(6), ys, **FAST))
    assert page["method"] == "page" and page["exact"] is True and page["arrangements"] == 720**4
    assert page["page_l"] == scipy_stats.page_trend_test(ys.T).statistic and page["kind"] == "trend"
    boot = assert_json(rank_trend(np.arange(6), ys, method="bootstrap", **FAST))
    assert boot["p_value"] is None and boot["ci"] is not None


def test_rank_trend_one_seed_uses_exact_permutation_test():
    result = rank_trend(X, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert result.method == "permutation" and result.ci is None
    assert result.p_value == pytest.approx(1 / 120) and result.verdict is HOLDS
    assert rank_trend(X, [5.0, 4.0, 3.0, 2.0, 1.0]).verdict is REFUTED
    one_swap = rank_trend(X, [1.0, 2.0, 3.0, 5.0, 4.0])  # 5 of 120 orderings have rho >= 0.9
    assert one_swap.p_value == pytest.approx(5 / 120) and one_swap.verdict is INCONCLUSIVE
    reference = scipy_stats.permutation_test(
        ([1.0, 2.0, 3.0, 5.0, 4.0],),
        lambda y: scipy_stats.spearmanr(X, y).statistic,
        permutation_type="pairings",
        alternative="greater",
    )
    assert one_swap.p_value == pytest.approx(reference.pvalue)
    few = rank_trend([1, 2, 3], [1.0, 2.0, 3.0])
    assert few.verdict is INCONCLUSIVE and "1/3!" in few.note
    assert str(result) == (
        "rho = 1, p = 0.0083 (opposite 1; decisive ≤ 0.025; exact permutation test, "
        "120 arrangements), claimed increasing (5 conditions × 1 seed): holds"
    )


def test_rank_trend_random_permutations_beyond_exact_size():
    x = np.arange(10)
    result = rank_trend(x, x + 0.0, n_resamples=999)
    assert result.p_value == pytest.approx(1 / 1000) and result.verdict is HOLDS
    page = rank_trend(np.arange(9), np.arange(9.0)[:, None] + np.zeros((9, 2)), n_resamples=999)
    assert page.method == "page" and not page.exact and page.arrangements == 999  # 9! > 50 000
    assert (
        page.p_value == pytest.approx(1 / 1000) and page.p_opposite == 1.0 and page.verdict is HOLDS
    )
    assert "Monte-Carlo Page's L test, 999 arrangements" in str(page)


@pytest.mark.parametrize(
    "x, ys, kwargs, match",
    [
        ([1, 2, 2, 3], np.zeros((4, 3)), {}, "x has ties"),
        ([1, 2, 3], np.zeros((4, 3)), {}, "x has 3 conditions but ys has 4 rows"),
        ([1, 2], np.zeros((2, 3)), {}, "at least 3 conditions"),
        ([1, 2, 3], [[1.0, float("nan")], [1.0, 2.0], [3.0, 4.0]], {}, "NaN"),
        ([1, 2, 3], np.zeros((3, 2, 2)), {}, "2-D"),
        ([1, 2, 3], [1.0, 2.0, 3.0], dict(method="bootstrap"), ">= 2 seeds"),
        ([1, 2, 3], np.zeros((3, 2)), dict(method="spearman"), "method must be one of"),
        ([1, 2, 3], np.zeros((3, 2)), dict(alternative="greater"), "alternative must be one of"),
    ],
)
def test_rank_trend_errors(x, ys, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rank_trend(x, ys, **kwargs)


# -- rank_trend: Page's L, the default with 2 or more seeds ----------------------------------


def test_page_exact_values_by_hand_three_conditions_two_seeds():
    """k = 3, s = 2, enumerated by hand.

    One seed's score Σ i·R_i over the 3! reassignments of ranks (1, 2, 3):
    123 → 14, 132 → 13, 213 → 13, 231 → 11, 312 → 11, 321 → 10. Here seed 1
    ranks the conditions (1, 3, 2) and seed 2 (2, 1, 3): L = 13 + 13 = 26.
    Of the 36 pairs of scores, L ≥ 26 for 14+14, 14+13 (×4), 13+13 (×4): 9, so
    p = 9/36 = 0.25; L ≤ 26 for all but the 5 with L ≥ 27: 31/36.
    """
    result = rank_trend([1, 2, 3], [[1.0, 2.0], [3.0, 1.0], [2.0, 3.0]])
    assert (
        result.method == "page"
        and result.page_l == 26.0
        and result.exact
        and result.arrangements == 36
    )
    assert result.p_value == pytest.approx(9 / 36) and result.p_opposite == pytest.approx(31 / 36)
    assert result.mean_seed_rho == pytest.approx(0.5)  # seed rhos 0.5 and 0.5
    assert result.verdict is INCONCLUSIVE and "smallest possible p-value is 0.0278" in result.note
    assert "3 seeds without ties can reach it" in result.note
    down = rank_trend([1, 2, 3], [[1.0, 2.0], [3.0, 1.0], [2.0, 3.0]], alternative="decreasing")
    assert (down.p_value, down.p_opposite) == (result.p_opposite, result.p_value)
    assert result.p_value == pytest.approx(
        scipy_stats.page_trend_test([[1, 3, 2], [2, 1, 3]]).pvalue
    )


def test_page_matches_enumeration_with_ties_and_scipy_without():
    """Tied runs get average ranks; the exact law then is each seed's own: checked against plain enumeration."""
    ys = np.array(
        [[0.0, 1.0, 5.0], [1.0, 1.0, 4.0], [1.0, 2.0, 4.0], [2.0, 2.0, 3.0]]
    )  # ties in every seed
    result = rank_trend(np.arange(4), ys)
    ranks = scipy_stats.rankdata(ys, axis=0)
    weights = np.arange(1, 5)
    every = np.array(
        [
            sum(weights @ ranks[list(order), j] for j, order in enumerate(orders))
            for orders in itertools.product(itertools.permutations(range(4)), repeat=3)
        ]
    )
    assert (
        result.page_l == weights @ ranks.sum(axis=1) and result.arrangements == len(every) == 24**3
    )
    assert result.p_value == pytest.approx(np.mean(every >= result.page_l))
    assert result.p_opposite == pytest.approx(np.mean(every <= result.page_l))
    no_ties = np.random.default_rng(4).normal(size=(5, 6)) + 0.3 * np.arange(5)[:, None]
    reference = scipy_stats.page_trend_test(no_ties.T, method="exact")
    page = rank_trend(np.arange(5), no_ties)
    assert page.page_l == reference.statistic and page.p_value == pytest.approx(
        reference.pvalue, rel=1e-9
    )


def test_page_decides_three_and_four_conditions_with_seeds():
    """The reason it is the default: (1/k!)^s falls with seeds where rho of the means stays at 1/k!."""
    plan_confidence = 1 - 0.05 / 3  # a stricter look: 0.00833 a side
    perfect = 10.0 * np.arange(3)[:, None] + np.random.default_rng(5).normal(size=(3, 3))
    result = rank_trend([8, 32, 128], perfect, alternative="increasing", confidence=plan_confidence)
    assert (
        result.p_value == pytest.approx(1 / 216) and result.verdict is HOLDS and result.note == ""
    )
    assert "Page's L = 42" in str(result) and "exact Page's L test, 216 arrangements" in str(result)
    assert str(result) == (
        "Page's L = 42 (mean within-seed rho 1, rho of means 1), p = 0.0046 (opposite 1; "
        "decisive ≤ 0.0083; exact Page's L test, 216 arrangements), claimed increasing "
        "(3 conditions × 3 seeds): holds"
    )
    assert result.at_confidence(0.999).verdict is INCONCLUSIVE  # 1/216 > 0.0005
    assert result.at_confidence(0.95) == rank_trend([8, 32, 128], perfect)
    reversed_ = rank_trend([8, 32, 128], perfect[::-1], confidence=plan_confidence)
    assert reversed_.verdict is REFUTED and reversed_.p_opposite == pytest.approx(1 / 216)
    assert rank_trend([8, 32, 128], perfect[::-1], alternative="decreasing").verdict is HOLDS
    flat = rank_trend([8, 32, 128], np.tile([0.5, 0.6, 0.7], (3, 1)))  # every seed ties its 3 runs
    assert (
        flat.verdict is INCONCLUSIVE
        and flat.p_value == 1.0
        and "smallest possible p-value" in flat.note
    )
    two = rank_trend(
        [8, 32, 128], perfect[:, :2]
    )  # 1/36 > 0.025: too few seeds, and the note says so
    assert two.verdict is INCONCLUSIVE and "3 seeds without ties" in two.note
    four = rank_trend(
        np.arange(4), 10.0 * np.arange(4)[:, None] + np.random.default_rng(0).normal(size=(4, 2))
    )
    assert four.verdict is HOLDS and four.p_value == pytest.approx(1 / 576)


# -- rank_trend: the within-seed permutation test of rho of the means ---------------------------


def test_rank_trend_permutation_of_means_seeds_do_not_lower_the_floor():
    """Every order of distinct means is equally likely without a trend: p ≥ 1/k! whatever the seeds."""
    x = np.arange(4)
    ys = 10.0 * x[:, None] + np.random.default_rng(0).normal(size=(4, 3))
    result = rank_trend(x, ys, method="permutation")
    assert result.method == "permutation" and result.exact and result.arrangements == 24**3
    assert (
        result.rho == 1.0
        and result.p_value == pytest.approx(1 / 24)
        and result.verdict is INCONCLUSIVE
    )
    assert "1/4!" in result.note and "whatever the number of seeds" in result.note
    assert "Page's L test (method='page', the default) can decide from 2 seeds" in result.note
    assert rank_trend(x, ys).p_value == pytest.approx(1 / 24**3)  # Page's L, the same table
    five = rank_trend(
        np.arange(5),
        10.0 * np.arange(5)[:, None] + np.random.default_rng(1).normal(size=(5, 3)),
        method="permutation",
    )
    assert not five.exact and five.p_value == pytest.approx(
        1 / 120, abs=0.003
    )  # 10 000 random arrangements


def test_rank_trend_ties_are_counted_per_arrangement():
    """Tied runs (equal accuracies) can tie the means of some arrangements; the exact count stays exact."""
    ys = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0], [2.0, 2.0]])
    result = rank_trend(np.arange(4), ys, method="permutation")
    assert result.exact and result.arrangements == 576
    assert 0 < result.p_value < 1 / 24  # ties elsewhere make the observed order rarer than 1/24
    assert result.p_opposite == pytest.approx(1.0)


def test_rank_trend_one_sided_p_values_and_str():
    ys = np.random.default_rng(2).normal(size=(5, 3))
    up = rank_trend(np.arange(5), ys, method="permutation", n_resamples=999)
    down = rank_trend(
        np.arange(5), ys, method="permutation", alternative="decreasing", n_resamples=999
    )
    assert (up.p_value, up.p_opposite) == (down.p_opposite, down.p_value)
    assert not up.exact and up.arrangements == 999 and up.level == pytest.approx(0.025)
    assert str(up) == (
        f"rho = {up.rho:.3g}, p = {up.p_value:.2g} (opposite {up.p_opposite:.2g}; decisive ≤ 0.025; "
        f"Monte-Carlo permutation test, 999 arrangements), claimed increasing "
        f"(5 conditions × 3 seeds): {up.verdict.value}"
    )
    page_up = rank_trend(np.arange(5), ys)
    page_down = rank_trend(np.arange(5), ys, alternative="decreasing")
    assert (page_up.p_value, page_up.p_opposite) == (page_down.p_opposite, page_down.p_value)
    assert page_up.p_value + page_up.p_opposite >= 1.0  # both count the observed L
    assert str(page_up) == (
        f"Page's L = {page_up.page_l:.3g} (mean within-seed rho {page_up.mean_seed_rho:.3g}, "
        f"rho of means {page_up.rho:.3g}), p = {page_up.p_value:.2g} "
        f"(opposite {page_up.p_opposite:.2g}; decisive ≤ 0.025; exact Page's L test, "
        f"1728000 arrangements), claimed increasing (5 conditions × 3 seeds): "
        f"{page_up.verdict.value}"
    )
    boot = rank_trend(np.arange(5), ys, method="bootstrap", n_resamples=500)
    assert "bootstrap of seeds, anti-conservative" in str(boot) and boot.p_value is None


def test_rank_trend_level_at_the_edge_of_a_three_look_plan():
    """1/120 equals the per-side level 0.05/6 of a 3-look plan: an exact p of 1/120 decides despite rounding."""
    ys = 10.0 * np.arange(5)[:, None] + np.random.default_rng(3).normal(size=(5, 2))
    result = rank_trend(np.arange(5), ys, method="permutation", confidence=1 - 0.05 / 3)
    assert result.exact and result.p_value == pytest.approx(1 / 120) and result.verdict is HOLDS
    assert (1 - result.confidence) / 2 != 1 / 120  # the level as computed is off by rounding
    one_seed = rank_trend(np.arange(5), ys[:, 0], confidence=1 - 0.05 / 3)
    assert one_seed.method == "permutation" and one_seed.verdict is HOLDS


# -- ordering and argbest ----------------------------------------------------------------------

BASE = np.array([0.70, 0.72, 0.69, 0.71])


def test_ordering():
    samples = {"rmsprop": BASE + 0.2, "adam": BASE + 0.1, "sgd": BASE}
    result = ordering(samples, ["rmsprop", "adam", "sgd"])
    assert result.verdict is HOLDS and len(result.comparisons) == 2
    assert ordering(samples, ["sgd", "adam", "rmsprop"]).verdict is REFUTED
    assert ordering(samples, ["sgd", "adam", "rmsprop"], alternative="less").verdict is HOLDS
    samples["adam"] = BASE + 0.2
    mixed = ordering(samples, ["rmsprop", "adam", "sgd"])
    assert [c.verdict for c in mixed.comparisons] == [
        INCONCLUSIVE,
        HOLDS,
    ] and mixed.verdict is INCONCLUSIVE
    data = assert_json(mixed)
    assert data["order"] == ["rmsprop", "adam", "sgd"] and data["comparisons"][0]["pair"] == [
        "rmsprop",
        "adam",
    ]
    assert (
        str(mixed)
        == "rmsprop > adam > sgd: inconclusive (rmsprop−adam inconclusive, adam−sgd holds)"
    )
    with pytest.raises(ValueError, match="no samples for \\['momentum'\\]"):
        ordering(samples, ["rmsprop", "momentum"])
    with pytest.raises(ValueError, match="at least 2 distinct"):
        ordering(samples, ["adam", "adam"])


def test_argbest():
    accuracy = {0.1: BASE + 0.2, 0.2: BASE + 0.1, 1.0: BASE, 2.0: BASE - 0.1}
    result = argbest(accuracy)
    assert result.best == 0.1 and result.subject == 0.1 and result.verdict is HOLDS
    assert set(result.comparisons) == {0.2, 1.0, 2.0}
    assert assert_json(result)["best"] == "0.1"
    claimed = argbest(accuracy, claimed=0.2)
    assert claimed.best == 0.1 and claimed.verdict is REFUTED
    assert claimed.comparisons[0.1].verdict is REFUTED and claimed.comparisons[2.0].verdict is HOLDS
    losses = {"l1": BASE + 1, "l2": BASE + 0.5, "none": BASE}
    assert argbest(losses, higher_is_better=False).best == "none"
    assert argbest(losses, higher_is_better=False).verdict is HOLDS
    tie = argbest({"a": BASE + 1, "b": BASE + 1, "c": BASE})
    assert tie.best == "a" and tie.verdict is INCONCLUSIVE
    assert "best mean: a" in str(tie)
    with pytest.raises(ValueError, match="not among the conditions"):
        argbest(accuracy, claimed=0.3)
    with pytest.raises(ValueError, match="at least 2 conditions"):
        argbest({"a": BASE})
    with pytest.raises(ValueError, match="has 4 values but b has 3"):
        argbest({"a": BASE, "b": BASE[:3]})


# -- ordering and argbest: holds at c, refuted at the Bonferroni level ------------------------


def test_ordering_refutes_only_at_the_adjusted_level():
    """A step reversed at 95 % but not at 97.5 % leaves a 3-condition ordering inconclusive."""
    c = np.array([0.0, 0.0, 0.0, 0.0])
    b = np.array([-0.2, -0.3, -0.1, -0.45])  # b − c: t interval at 95 % below 0, at 97.5 % not
    a = b + 1.0
    step = compare_paired(b, c)
    assert (
        step.verdict is REFUTED and compare_paired(b, c, confidence=0.975).verdict is INCONCLUSIVE
    )
    result = ordering({"a": a, "b": b, "c": c}, ["a", "b", "c"])
    assert result.verdict is INCONCLUSIVE and result.steps == (HOLDS, INCONCLUSIVE)
    assert [s.verdict for s in result.comparisons] == [HOLDS, REFUTED]
    assert result.refute_confidence == pytest.approx(0.975) and result.confidence == 0.95
    data = assert_json(result)
    assert data["comparisons"][1]["verdict"] == "inconclusive"
    assert data["comparisons"][1]["verdict_at_confidence"] == "refuted"
    assert data["comparisons"][1]["refute_confidence"] == pytest.approx(0.975)
    assert "Bonferroni over 2 steps" in data["rule"] and "Berger 1982" in data["rule"]
    assert str(result) == "a > b > c: inconclusive (a−b holds, b−c inconclusive)"
    two = ordering({"b": b, "c": c}, ["b", "c"])  # one step: no adjustment
    assert two.verdict is REFUTED and two.refute_confidence == pytest.approx(0.95)


def test_argbest_claimed_refutes_at_the_adjusted_level():
    rival = np.array([0.0, 0.0, 0.0, 0.0])
    claimed = np.array([-0.2, -0.3, -0.1, -0.45])
    samples = {"claimed": claimed, "rival": rival, "far": claimed - 5, "farther": claimed - 6}
    result = argbest(samples, claimed="claimed")
    assert result.comparisons["rival"].verdict is REFUTED  # at 95 %
    assert result.steps == {"rival": INCONCLUSIVE, "far": HOLDS, "farther": HOLDS}
    assert result.verdict is INCONCLUSIVE and result.refute_confidence == pytest.approx(
        1 - 0.05 / 3
    )
    assert result.holds_confidence == 0.95 and result.claimed == "claimed"
    data = assert_json(result)
    assert (
        data["comparisons"]["rival"]["verdict"] == "inconclusive" and data["claimed"] == "claimed"
    )
    assert "claimed" in data["rule"] and "Bonferroni over 3 rivals" in data["rule"]
    far_behind = dict(samples, claimed=claimed - 1)
    assert argbest(far_behind, claimed="claimed").verdict is REFUTED


def test_argbest_unclaimed_pays_for_choosing_the_best():
    """Without ``claimed`` the subject is picked by the data: holds needs 1 − (1 − c)/k per comparison."""
    top = np.array([0.30, 0.45, 0.10, 0.50])  # top − second: holds at 95 %, not at 1 − 0.05/3
    samples = {"second": np.zeros(4), "top": top, "low": np.zeros(4) - 5}
    assert compare_paired(top, np.zeros(4)).verdict is HOLDS
    assert compare_paired(top, np.zeros(4), confidence=1 - 0.05 / 3).verdict is INCONCLUSIVE
    unclaimed = argbest(samples)
    assert unclaimed.best == unclaimed.subject == "top" and unclaimed.claimed is None
    assert (
        unclaimed.holds_confidence == pytest.approx(1 - 0.05 / 3)
        and unclaimed.verdict is INCONCLUSIVE
    )
    assert argbest(samples, claimed="top").verdict is HOLDS
    assert "chosen from 3 by the data" in assert_json(unclaimed)["rule"]
    assert str(unclaimed) == (
        "best mean: top (0.338); top best of all: inconclusive "
        "(vs second inconclusive, vs low holds)"
    )


# -- the claims suite reads these results --------------------------------------------------------


def test_results_feed_claim_records():
    from dlverify.evidence import ClaimNotHeld, ClaimRecord

    record = ClaimRecord("stats.example")
    assert record.expect(compare_paired(BASE + 0.1, BASE), "a beats b")
    assert not record.expect(rank_trend(X, np.ones((5, 3))), "rises with x")
    assert record.verdict == "inconclusive"
    detail = record.as_dict()["expectations"][1]["detail"]
    assert detail["kind"] == "trend" and detail["verdict"] == "inconclusive"
    with pytest.raises(ClaimNotHeld, match="rises with x: inconclusive"):
        record.conclude()
