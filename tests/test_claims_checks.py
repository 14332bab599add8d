"""claims._checks: a comparison of trained classifiers is inconclusive unless every one learned."""

from __future__ import annotations

import pytest
import torch

from claims._checks import chance_accuracy, require_learned
from dlverify.evidence import ClaimRecord


def test_chance_is_the_share_of_the_most_frequent_label():
    assert chance_accuracy(torch.tensor([0, 1, 1, 2, 1, 0, 3, 3, 3, 3])) == 0.4
    with pytest.raises(ValueError, match="at least one label"):
        chance_accuracy(torch.tensor([], dtype=torch.long))


def test_networks_above_chance_plus_margin_leave_the_claim_to_its_expectations():
    record = ClaimRecord("x.compare")
    require_learned(record, {"a": [0.8, 0.9], "b": [0.35, 0.5]}, chance=0.25)
    assert record.expectations == []
    assert record.undecidable_reason == ""
    assert record.measured == {"chance_val_acc": 0.25}


def test_a_network_below_chance_plus_margin_makes_the_claim_inconclusive():
    record = ClaimRecord("x.compare")
    require_learned(record, {"a": [0.8, 0.9], "b": [0.5, 0.2]}, chance=0.1135, metric="test acc")
    (expectation,) = record.expectations
    assert expectation.description == "every compared network learned (test acc ≥ chance + 0.1)"
    assert expectation.verdict == "inconclusive"
    assert "'b': 0.2" in record.undecidable_reason and "'a'" not in record.undecidable_reason
    assert "chance is 0.1135" in record.undecidable_reason
    assert record.measured == {"chance_test_acc": 0.1135}


def test_no_configurations_is_an_error():
    with pytest.raises(ValueError, match="at least one configuration"):
        require_learned(ClaimRecord("x.compare"), {}, chance=0.1)
