"""dlverify.stats for a sequential design: SeedPlan, sequential(), at_confidence(), and the multi-claim rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlverify.stats import (
    Best,
    Comparison,
    Ordering,
    ProportionComparison,
    SeedPlan,
    SequentialResult,
    StatsError,
    Trend,
    ValueComparison,
    Verdict,
    argbest,
    compare_paired,
    compare_proportion,
    compare_to_value,
    ordering,
    rank_trend,
    sequential,
    within,
)

HOLDS, REFUTED, INCONCLUSIVE = Verdict.HOLDS, Verdict.REFUTED, Verdict.INCONCLUSIVE
BASE = np.array([0.70, 0.72, 0.69, 0.71])


def assert_json(result) -> dict:
    data = result.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    return data


# -- SeedPlan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, budget, looks",
    [
        (3, 10, (3, 5, 10)),
        (5, 20, (5, 10, 20)),
        (3, 3, (3,)),
        (3, 4, (3, 4)),
        (3, 5, (3, 4, 5)),
        (2, 4, (2, 3, 4)),
        (1, 100, (1, 10, 100)),
        (100, 1000, (100, 316, 1000)),
    ],
)
def test_seed_plan_make(first, budget, looks):
    plan = SeedPlan.make(first, budget)
    assert plan.looks == looks and plan.budget == budget
    spent = [0.05 * (n / budget) ** 2 for n in looks]
    assert plan.spent == pytest.approx(spent) and plan.spent[-1] == 0.05
    assert plan.confidences == pytest.approx([1 - (b - a) for a, b in zip([0.0, *spent], spent)])
    assert sum(1 - c for c in plan.confidences) == pytest.approx(0.05)  # Bonferroni: alpha in all


def test_seed_plan_spends_little_early_and_most_at_the_budget():
    """make(3, 10) with rho = 2: 0.45 % at 3 seeds, 0.8 % at 5, 3.75 % at 10 (two-sided)."""
    plan = SeedPlan.make(3, 10)
    assert [1 - c for c in plan.confidences] == pytest.approx([0.0045, 0.008, 0.0375])
    assert plan.confidence_at(5) == pytest.approx(0.992)
    flat = SeedPlan((3, 5, 10), rho=1.0)  # spent in proportion to seeds
    assert [1 - c for c in flat.confidences] == pytest.approx([0.015, 0.01, 0.025])
    with pytest.raises(StatsError, match="not a look"):
        plan.confidence_at(4)


def test_seed_plan_fields():
    plan = SeedPlan([3, 5, 10], alpha=0.1)
    assert plan.looks == (3, 5, 10) and isinstance(plan.looks, tuple) and plan.alpha == 0.1
    assert plan.rho == 2.0 and plan.confidences == pytest.approx((0.991, 0.984, 0.925))
    assert plan == SeedPlan((3, 5, 10), 0.1) and hash(plan) == hash(SeedPlan((3, 5, 10), 0.1))
    assert SeedPlan((4,)).confidences == (0.95,)
    assert SeedPlan.make(3, 10, alpha=0.01).alpha == 0.01
    assert str(plan) == "looks 3 at 0.991, 5 at 0.984, 10 at 0.925 (alpha 0.1 spent as (n/10)^2)"
    assert plan.as_dict() == {
        "looks": [3, 5, 10],
        "alpha": 0.1,
        "rho": 2.0,
        "budget": 10,
        "confidences": list(plan.confidences),
    }
    with pytest.raises(AttributeError):
        plan.looks = (1,)


@pytest.mark.parametrize(
    "args, match",
    [
        (((),), "at least one look"),
        (((3, 3),), "strictly increasing"),
        (((5, 3),), "strictly increasing"),
        (((0, 3),), "positive"),
        (((3, 4.5),), "integers"),
        ((3,), "integers"),
        (((3, 5), 0.0), "alpha"),
        (((3, 5), 1.5), "alpha"),
        (((3, 5), 0.05, 0.0), "rho"),
        (((3, 5), 0.05, float("inf")), "rho"),
    ],
)
def test_seed_plan_errors(args, match):
    with pytest.raises(StatsError, match=match):
        SeedPlan(*args)


def test_seed_plan_make_errors():
    with pytest.raises(StatsError, match="first <= budget"):
        SeedPlan.make(5, 3)
    with pytest.raises(StatsError, match="first <= budget"):
        SeedPlan.make(0, 3)
    with pytest.raises(StatsError, match="integers"):
        SeedPlan.make(3.0, 10)


# -- sequential() -------------------------------------------------------------------------------------

A = np.array([1.10, 1.30, 0.90, 1.25, 1.05, 1.20, 1.00, 1.15, 1.35, 0.95])
B = A - np.array([0.5, -0.2, 0.9, 0.3, 0.6, 0.4, 0.7, 0.2, 0.5, 0.6])


def test_sequential_stops_at_the_first_definite_verdict():
    plan = SeedPlan.make(3, 10)
    calls = []

    def decide(n, confidence):
        calls.append((n, confidence))
        return compare_paired(A[:n], B[:n], confidence=confidence)

    outcome = sequential(decide, plan)
    assert isinstance(outcome, SequentialResult)
    assert calls == list(zip(outcome.looks_done, plan.confidences))
    assert (
        outcome.verdict is HOLDS
        and outcome.stopped == "decided"
        and outcome.n == outcome.looks_done[-1]
    )
    assert outcome.verdicts[-1] is HOLDS and set(outcome.verdicts[:-1]) <= {INCONCLUSIVE}
    assert outcome.result == compare_paired(
        A[: outcome.n], B[: outcome.n], confidence=plan.confidence_at(outcome.n)
    )
    assert outcome.result.confidence == plan.confidences[-1] and outcome.plan is plan
    assert outcome.looks_done == (
        3,
        5,
        10,
    )  # one seed reversed: inconclusive at 3 and 5 seeds, holds at 10
    data = assert_json(outcome)
    assert data["kind"] == "sequential" and data["result"]["kind"] == "paired" and data["n"] == 10
    assert data["verdicts"] == ["inconclusive", "inconclusive", "holds"] and data["plan"][
        "looks"
    ] == [3, 5, 10]
    assert str(outcome).startswith(
        "holds after 10 of 10 seeds (decided; looks 3: inconclusive, 5: inconclusive, "
        "10: holds; the last at 0.9625): a−b = "
    )
    early = sequential(lambda n, c: compare_paired(A[:n] + 9, B[:n], confidence=c), plan)
    assert early.verdict is HOLDS and early.n == 3 and early.looks_done == (3,)


def test_sequential_budget_reached_and_refuted():
    plan = SeedPlan((2, 4, 6))
    noise = sequential(
        lambda n, c: compare_paired(A[:n], A[:n] + np.array([1, -1] * 5)[:n] * 0.1, confidence=c),
        plan,
    )
    assert noise.verdict is INCONCLUSIVE and noise.stopped == "budget reached"
    assert noise.n == 6 and noise.looks_done == (2, 4, 6) and noise.verdicts == (INCONCLUSIVE,) * 3
    reversed_ = sequential(lambda n, c: compare_paired(B[:n] - 1, A[:n], confidence=c), plan)
    assert reversed_.verdict is REFUTED and reversed_.stopped == "decided" and reversed_.n == 4


def test_sequential_with_at_confidence_and_other_results():
    plan = SeedPlan.make(3, 6)
    first = compare_paired(A, B)  # computed at 0.95 over all seeds, decided again per look
    outcome = sequential(lambda n, c: compare_paired(A[:n], B[:n]).at_confidence(c), plan)
    assert outcome.result.confidence == plan.confidence_at(outcome.n) and first.confidence == 0.95
    trend = sequential(
        lambda n, c: rank_trend(
            np.arange(6), np.arange(6.0)[:, None] + 0.01 * A[None, :n], confidence=c
        ),
        plan,
    )
    assert (
        trend.verdict is HOLDS and trend.n == 3 and assert_json(trend)["result"]["kind"] == "trend"
    )
    bare = sequential(lambda n, c: "holds" if n >= 4 else Verdict.INCONCLUSIVE, plan)
    assert plan.looks == (3, 4, 6)
    assert (
        bare.verdict is HOLDS
        and bare.n == 4
        and assert_json(bare)["result"] == {"verdict": "holds"}
    )


def test_sequential_errors():
    with pytest.raises(StatsError, match="SeedPlan"):
        sequential(lambda n, c: HOLDS, (3, 5, 10))
    with pytest.raises(StatsError, match="function"):
        sequential(HOLDS, SeedPlan.make(3, 10))
    with pytest.raises(StatsError, match="not a verdict"):
        sequential(lambda n, c: None, SeedPlan.make(3, 10))


# -- at_confidence -------------------------------------------------------------------------------------

RESULTS = {
    "paired": lambda: compare_paired(A, B, margin=0.1),
    "paired-percentile": lambda: compare_paired(
        A, B, interval="percentile", n_resamples=500, seed=4
    ),
    "value": lambda: compare_to_value(A, 1.0, alternative="greater"),
    "within": lambda: within(A, 0.9, 1.3),
    "ordering": lambda: ordering({"x": A + 0.3, "y": A, "z": B}, ["x", "y", "z"]),
    "best": lambda: argbest({"x": A + 0.3, "y": A, "z": B}, claimed="y"),
    "best-unclaimed": lambda: argbest({"x": A + 0.3, "y": A, "z": B}, higher_is_better=False),
    "trend": lambda: rank_trend(
        np.arange(6), np.arange(6.0)[:, None] + A[None, :4], n_resamples=500, seed=3
    ),
    "trend-bootstrap": lambda: rank_trend(
        np.arange(6), np.arange(6.0)[:, None] + A[None, :4], method="bootstrap", n_resamples=500
    ),
    "proportion": lambda: compare_proportion(30, 40, 0.5),
}
TYPES = {
    "paired": Comparison,
    "value": ValueComparison,
    "within": ValueComparison,
    "ordering": Ordering,
    "best": Best,
    "trend": Trend,
    "proportion": ProportionComparison,
}


@pytest.mark.parametrize("name", RESULTS)
def test_at_confidence_recomputes_with_only_the_confidence_changed(name):
    result = RESULTS[name]()
    assert isinstance(result, TYPES[name.split("-")[0]])
    assert result.at_confidence(0.95) == result  # same inputs, same result, bit for bit
    stricter = result.at_confidence(0.999)
    assert type(stricter) is type(result) and stricter.confidence == 0.999
    assert stricter == result.at_confidence(0.999)
    assert stricter.at_confidence(0.95) == result
    ignore = {
        "verdict",
        "ci",
        "confidence",
        "comparisons",
        "refute_comparisons",
        "steps",
        "holds_confidence",
        "refute_confidence",
        "rule",
        "note",
        "level",
    }
    before, after = assert_json(result), assert_json(stricter)
    assert {k: v for k, v in before.items() if k not in ignore} == {
        k: v for k, v in after.items() if k not in ignore
    }


def test_at_confidence_moves_a_verdict():
    result = compare_paired(A, B)
    assert result.verdict is HOLDS
    assert result.at_confidence(0.9999).verdict is INCONCLUSIVE
    value = compare_to_value([0.5, 0.6, 0.55, 0.52, 0.58], 0.4)
    assert value.verdict is HOLDS and value.at_confidence(0.999).verdict is INCONCLUSIVE
    proportion = compare_proportion(60, 100, 0.5)
    assert proportion.verdict is INCONCLUSIVE and proportion.at_confidence(0.8).verdict is HOLDS
    assert proportion.at_confidence(0.8).method == "exact"
