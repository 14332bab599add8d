"""dlverify.stats for a sequential design: at_confidence() decides a result again at another level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlverify.stats import (Best, Comparison, Ordering, ProportionComparison, Trend, ValueComparison, Verdict, argbest,
                            compare_paired, compare_proportion, compare_to_value, ordering, rank_trend, within)

HOLDS, REFUTED, INCONCLUSIVE = Verdict.HOLDS, Verdict.REFUTED, Verdict.INCONCLUSIVE
BASE = np.array([0.70, 0.72, 0.69, 0.71])


def assert_json(result) -> dict:
    data = result.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    return data


A = np.array([1.10, 1.30, 0.90, 1.25, 1.05, 1.20, 1.00, 1.15, 1.35, 0.95])
B = A - np.array([0.5, -0.2, 0.9, 0.3, 0.6, 0.4, 0.7, 0.2, 0.5, 0.6])


# -- at_confidence -------------------------------------------------------------------------------------

RESULTS = {
    "paired": lambda: compare_paired(A, B, margin=0.1),
    "paired-percentile": lambda: compare_paired(A, B, interval="percentile", n_resamples=500, seed=4),
    "value": lambda: compare_to_value(A, 1.0, alternative="greater"),
    "within": lambda: within(A, 0.9, 1.3),
    "ordering": lambda: ordering({"x": A + 0.3, "y": A, "z": B}, ["x", "y", "z"]),
    "best": lambda: argbest({"x": A + 0.3, "y": A, "z": B}, claimed="y"),
    "best-unclaimed": lambda: argbest({"x": A + 0.3, "y": A, "z": B}, higher_is_better=False),
    "trend": lambda: rank_trend(np.arange(6), np.arange(6.0)[:, None] + A[None, :4], n_resamples=500, seed=3),
    "trend-bootstrap": lambda: rank_trend(np.arange(6), np.arange(6.0)[:, None] + A[None, :4], method="bootstrap",
                                          n_resamples=500),
    "proportion": lambda: compare_proportion(30, 40, 0.5),
}
TYPES = {"paired": Comparison, "value": ValueComparison, "within": ValueComparison, "ordering": Ordering,
         "best": Best, "trend": Trend, "proportion": ProportionComparison}


@pytest.mark.parametrize("name", RESULTS)
def test_at_confidence_recomputes_with_only_the_confidence_changed(name):
    result = RESULTS[name]()
    assert isinstance(result, TYPES[name.split("-")[0]])
    assert result.at_confidence(0.95) == result  # same inputs, same result, bit for bit
    stricter = result.at_confidence(0.999)
    assert type(stricter) is type(result) and stricter.confidence == 0.999
    assert stricter == result.at_confidence(0.999)
    assert stricter.at_confidence(0.95) == result
    ignore = {"verdict", "ci", "confidence", "comparisons", "refute_comparisons", "steps", "holds_confidence",
              "refute_confidence", "rule", "note", "level"}
    before, after = assert_json(result), assert_json(stricter)
    assert {k: v for k, v in before.items() if k not in ignore} == {k: v for k, v in after.items() if k not in ignore}


def test_at_confidence_moves_a_verdict():
    result = compare_paired(A, B)
    assert result.verdict is HOLDS
    assert result.at_confidence(0.9999).verdict is INCONCLUSIVE
    value = compare_to_value([0.5, 0.6, 0.55], 0.4)
    assert value.verdict is HOLDS and value.at_confidence(0.999).verdict is INCONCLUSIVE
    proportion = compare_proportion(60, 100, 0.5)
    assert proportion.verdict is INCONCLUSIVE and proportion.at_confidence(0.8).verdict is HOLDS
    assert proportion.at_confidence(0.8).method == "exact"
