"""Claims decided over a seed plan, and findings that cannot go stale (black-box, through project)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


# Per-seed measurements that are pure functions of the seed: a clear effect, a
# moderate one, and none at all (paired differences drawn from N(effect, 1)).
CLAIMS = """
import numpy as np
import pytest
from dlverify import stats
from dlverify.evidence import Finding

def differences(seeds, effect):
    return [effect + np.random.default_rng(1000 + s).standard_normal() for s in seeds]

@pytest.mark.claim("demo.clear")
def test_clear(claim, seeds):
    claim.expect(stats.compare_to_value(differences(seeds, 20.0), 0.0), "a above b")

@pytest.mark.claim("demo.moderate")
def test_moderate(claim, seeds):
    claim.expect(stats.compare_to_value(differences(seeds, 1.5), 0.0), "a above b")

@pytest.mark.claim("demo.none", xfail=Finding("no effect: seeds cannot decide it", fails=["a above b"]))
def test_none(claim, seeds):
    claim.expect(stats.compare_to_value([0.001 * ((s * 7) % 5 - 2) for s in seeds], 0.0), "a above b")

@pytest.mark.claim("demo.untrained", xfail=Finding("the networks did not train", fails=["the networks trained"]))
def test_untrained(claim, seeds):
    claim.measure(seeds_seen=len(seeds))
    claim.undecidable("the networks trained", "val acc 0.11, chance is 0.10")

@pytest.mark.claim("demo.one-seed")
def test_one_seed(claim):
    claim.expect(True, "no seeds asked for")
"""


def _rows(project) -> dict:
    report = json.loads((project.path / "out" / "claims.json").read_text())
    return {row["claim_id"]: row for row in report["claims"]}


def test_seeds_are_added_while_the_verdict_is_inconclusive(project):
    project.makepyfile(CLAIMS)
    result = project.runpytest("--claims-report", "out")
    result.assert_outcomes(passed=3, xfailed=2)
    rows = _rows(project)
    seeds = {claim_id: row["evidence"].get("seeds") for claim_id, row in rows.items()}
    assert seeds["demo.clear"] == {
        "looks": [3, 5, 10],
        "used": 3,
        "stopped": "decided",
        "confidence_per_look": pytest.approx([0.9955, 0.992, 0.9625]),  # make(3, 10)
    }
    assert seeds["demo.moderate"]["used"] > 3 and seeds["demo.moderate"]["stopped"] == "decided"
    assert seeds["demo.none"]["used"] == 10 and seeds["demo.none"]["stopped"] == "budget reached"
    assert rows["demo.none"]["verdict"] == "inconclusive"
    assert seeds["demo.untrained"]["used"] == 3
    assert seeds["demo.untrained"]["stopped"].startswith("more seeds cannot decide")
    assert rows["demo.untrained"]["evidence"]["measured"] == {"seeds_seen": 3}
    assert seeds["demo.one-seed"] == {}


def test_each_look_starts_from_a_clean_record(project):
    """The evidence is the last look's: no expectation, figure or number is kept twice."""
    project.makepyfile(CLAIMS)
    project.runpytest("--claims-report", "out", "-k", "moderate")
    evidence = _rows(project)["demo.moderate"]["evidence"]
    assert len(evidence["expectations"]) == 1
    assert evidence["expectations"][0]["detail"]["n"] == evidence["seeds"]["used"]


def test_seed_budget_options(project):
    project.makepyfile(CLAIMS)
    project.runpytest("--claims-report", "out", "--seeds", "4", "--max-seeds", "6", "-k", "none")
    assert _rows(project)["demo.none"]["evidence"]["seeds"]["looks"] == [4, 5, 6]
    project.runpytest("--claims-report", "out", "--seeds", "5", "-k", "clear")
    assert _rows(project)["demo.clear"]["evidence"]["seeds"]["looks"][0] == 5


@pytest.mark.parametrize(
    "options, message",
    [
        (("--seeds", "0"), "*--seeds must be at least 1, got 0*"),
        (("--seeds", "5", "--max-seeds", "4"), "*--max-seeds (4) must be at least --seeds (5)*"),
    ],
)
def test_bad_seed_counts_are_usage_errors(project, options, message):
    project.makepyfile("def test_a(): pass")
    result = project.runpytest(*options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_finding_that_changed_turns_the_suite_red(project):
    project.makepyfile("""
import pytest
from dlverify.evidence import Finding
@pytest.mark.claim("demo.changed", xfail=Finding("the gap is too large", fails=["gap below 0.1"]))
def test_changed(claim):
    claim.expect(True, "gap below 0.1")
    claim.expect(False, "loss below 1")
""")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FindingChanged: demo.changed no longer fails for the recorded reason*"
            "now also failing: loss below 1*no longer failing: gap below 0.1*"
        ]
    )


def test_an_xfail_without_a_finding_is_a_usage_error(project):
    project.makepyfile("""
import pytest
@pytest.mark.claim("demo.words", xfail="measured 0.236 once")
def test_w(claim):
    claim.expect(False, "x")
""")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*xfail must be a dlverify.evidence.Finding(why, fails=(...))*"])


def test_deterministic_option(project):
    project.makepyfile("""
import os, torch
def test_d(request):
    assert torch.are_deterministic_algorithms_enabled() is request.config.getoption("deterministic")
    if request.config.getoption("deterministic"):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
""")
    project.runpytest_subprocess("--deterministic").assert_outcomes(passed=1)
    project.runpytest_subprocess().assert_outcomes(passed=1)
