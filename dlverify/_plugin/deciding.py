"""Running a claim test: one intra-op thread, seed looks, the verdict, the recorded Finding checked.

When the test body returns, :meth:`~dlverify.evidence.ClaimRecord.conclude`
raises :class:`~dlverify.evidence.ClaimNotHeld` unless every expectation
holds; a claim marked with a Finding must fail exactly the recorded
expectations (else :class:`~dlverify.evidence.FindingChanged`). The evidence
goes into ``user_properties``, the figures onto the call report.
"""

from __future__ import annotations

import json

import pytest

from ..evidence import ClaimNotHeld, ClaimRecord, FindingChanged
from ..verdicts import Verdict
from .collection import claim_marker
from .keys import CLAIM_RECORD, CLAIM_THREADS, EVIDENCE_KEY, FIGURES, FIGURES_ATTRIBUTE, FINDING
from .options import profile_of


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Claim tests (setup, call, teardown) run with ``CLAIM_THREADS`` intra-op threads."""
    if claim_marker(item) is None:
        return (yield)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(CLAIM_THREADS)
    try:
        return (yield)
    finally:
        torch.set_num_threads(before)


class SeedLooks:
    """Runs claim tests that take ``seeds`` look by look (registered by :mod:`dlverify.plugin`).

    A class, so that its ``tryfirst`` call hook is registered apart from the wrapper below.
    """

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function):
        """Run a claim test that takes ``seeds`` look by look until its verdict is decided.

        Each look of the profile's :class:`~dlverify.stats.SeedPlan` calls the
        test body with that many seeds on a cleared record whose statistical
        expectations are decided at that look's confidence (the plan's alpha spending).
        It stops at the first look with a definite verdict (holds or refuted), when
        the test calls ``claim.undecidable(reason)``, or at the budget. The seeds
        used and why it stopped go into the evidence. Other tests run as usual.
        """
        record = pyfuncitem.stash.get(CLAIM_RECORD, None)
        argnames = pyfuncitem._fixtureinfo.argnames
        if record is None or "seeds" not in argnames or not callable(pyfuncitem.obj):
            return None
        plan = profile_of(pyfuncitem.config).plan
        first = tuple(pyfuncitem.funcargs["seeds"])
        own = first != tuple(range(len(first)))
        looks = [] if own else [look for look in plan.looks if look >= len(first)]
        if len(looks) > 1:
            confidences = [plan.confidence_at(look) for look in looks]
        else:  # a test that chose its own seeds, or a single look: the usual confidence
            looks, confidences = looks or [len(first)], [None]
        stopped = "budget reached"
        for index, (look, confidence) in enumerate(zip(looks, confidences)):
            seeds = first if not index and len(first) == look else tuple(range(look))
            record.start_look(confidence)
            pyfuncitem.obj(
                **{
                    name: (seeds if name == "seeds" else pyfuncitem.funcargs[name])
                    for name in argnames
                }
            )
            # None: nothing was expected; conclude() says so after the last look.
            if record.verdict in (Verdict.HOLDS, Verdict.REFUTED, None):
                stopped = "decided"
                break
            if record.undecidable_reason:
                stopped = "more seeds cannot decide: " + record.undecidable_reason
                break
        per_look = confidences if confidences != [None] else "as given (one look)"
        record.seeds = {
            "looks": list(looks),
            "used": look,
            "stopped": stopped,
            "confidence_per_look": per_look,
        }
        return True


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """After a claim test's body: conclude its record, check its Finding, attach its evidence."""
    try:
        result = yield
    except BaseException:
        _attach(pyfuncitem)
        raise
    record = pyfuncitem.stash.get(CLAIM_RECORD, None)
    if record is not None:
        try:
            try:
                record.conclude()
            except ClaimNotHeld as not_held:
                _check_finding(pyfuncitem, record, not_held)
                raise
        finally:
            _attach(pyfuncitem)
    return result


def _check_finding(item: pytest.Item, record: ClaimRecord, not_held: ClaimNotHeld) -> None:
    """A claim recorded as not holding must fail exactly the recorded expectations.

    Expectations recorded as undecided may also stay inconclusive; when they are
    all that fails and the Finding lets the claim hold (no ``fails``), no strict
    xfail marker was set at collection, so the test is marked xfail here.
    """
    finding = item.stash.get(FINDING, None)
    if finding is None:
        return
    failing = record.failing()
    mismatch = finding.mismatch(
        [e.description for e in failing],
        [e.description for e in failing if e.verdict == Verdict.REFUTED],
    )
    if mismatch:
        raise FindingChanged(
            f"{record.claim_id} no longer fails for the recorded reason ({mismatch}); measure it "
            f"again and update its Finding (why, fails, undecided) on the claim marker.\n{not_held}"
        ) from not_held
    if finding.may_hold:
        pytest.xfail(f"{record.claim_id} is undecided as measured: {finding.why}")


def _attach(item: pytest.Item) -> None:
    """The evidence into ``user_properties``; its figures into the stash, for the call report."""
    record = item.stash.get(CLAIM_RECORD, None)
    if record is not None:
        evidence = record.as_dict()
        item.stash[FIGURES] = evidence.pop("figures", None) or []
        item.user_properties.append((EVIDENCE_KEY, json.dumps(evidence)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Hand a claim's figures to the controller on the call report, not in ``user_properties``.

    pytest's junitxml writes every user property into the XML; figures are
    hundreds of kilobytes of base64 each. An attribute of the report travels
    through pytest-xdist's serialization all the same.
    """
    report = yield
    figures = item.stash.get(FIGURES, None)
    if figures and report.when == "call":
        setattr(report, FIGURES_ATTRIBUTE, figures)
    return report
