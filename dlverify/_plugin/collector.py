"""The controller's side: one row per claim test instance, gathered from every test report.

Registered on the controller (or the only process without xdist): reports from
pytest-xdist workers arrive here with their ``user_properties`` (the claim's
metadata and evidence) and figures intact; a worker that died still leaves an
error row. Each row (:class:`~dlverify.report.rows.ClaimRow`) gets its verdict
from the test's outcome (:func:`verdict_of`) when the session ends.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ..evidence import ClaimNotHeld
from ..report.rows import VERDICT_ORDER, ClaimRow
from ..verdicts import NoVerdict, Verdict
from .keys import EVIDENCE_KEY, FIGURES_ATTRIBUTE, META_KEY
from .writing import WORKER_CRASH, now, write_claims_report


def _outcome(report: pytest.TestReport) -> str | None:
    """passed, failed, xfailed, xpassed-strict, skipped or error; None: no outcome yet."""
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed-strict"
        if report.failed and _failure_text(report).startswith("[XPASS(strict)]"):
            # pytest drops wasxfail on a strict xpass and reports a plain failure
            return "xpassed-strict"
        return report.outcome
    if report.skipped:
        return "skipped"
    if report.failed:
        return "error"
    return None


def _failure_text(report: pytest.TestReport) -> str:
    """The failure's text without the line xdist puts first ("[gw0] linux -- Python ...")."""
    return re.sub(r"^\[gw\d+\] [^\n]*\n+", "", report.longreprtext)


def _without_xdist_group(nodeid: str) -> str:
    """``nodeid`` without the ``@group`` that pytest-xdist appends under ``--dist loadgroup``.

    So that a test's row is named alike with and without ``-n`` (and reports of
    both kinds of run merge). xdist's own rule: the last ``@`` after the last
    ``]`` (a parametrization id may hold an ``@``); also after the last ``::``,
    so that an ``@`` in a folder name is kept.
    """
    at = nodeid.rfind("@")
    return nodeid[:at] if at > max(nodeid.rfind("]"), nodeid.rfind("::")) else nodeid


class EvidenceCollector:
    """Gathers claim metadata, evidence and outcomes from every test report.

    Registered on the controller (or the only process without xdist). Reports
    from xdist workers arrive here with their ``user_properties`` intact.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, ClaimRow] = {}
        self.report_paths: list[Path] = []
        self.report_error = ""
        self.report_note = ""
        self.started = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into its row: metadata, evidence, figures, duration, outcome."""
        props = {k: v for k, v in report.user_properties if k in (META_KEY, EVIDENCE_KEY)}
        if META_KEY not in props:
            self._worker_crash(report)
            return
        nodeid = _without_xdist_group(report.nodeid)
        row = self.rows.setdefault(nodeid, {"nodeid": nodeid, **json.loads(props[META_KEY])})
        row["duration_s"] = row.get("duration_s", 0.0) + (report.duration or 0.0)
        figures = getattr(report, FIGURES_ATTRIBUTE, None) or row.get("evidence", {}).get("figures")
        if EVIDENCE_KEY in props:  # on the call and the teardown report; figures on the call's only
            row["evidence"] = json.loads(props[EVIDENCE_KEY])
        if figures and "evidence" in row:
            row["evidence"]["figures"] = figures
        outcome = _outcome(report)
        if outcome is None or row.get("outcome") not in (None, "passed"):
            return
        row["outcome"] = outcome
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            row["skip_reason"] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if report.failed:
            row["error"] = _failure_text(report)[-4000:]
            # A failed expectation (ClaimNotHeld) is a finding; any other exception is a crash.
            crash = getattr(report.longrepr, "reprcrash", None)
            raised = (getattr(crash, "message", "") or "").split(":", 1)[0]
            row["not_held"] = ClaimNotHeld.__name__ in raised

    def _worker_crash(self, report: pytest.TestReport) -> None:
        """A test whose xdist worker died, reported without our metadata: kept as an error row.

        The row usually exists already (from the setup report); if the worker died
        before that, the claim is unknown on the controller and the row is named by
        the test, grouped apart. Without this the report would silently miss a claim.
        """
        text = _failure_text(report) if report.failed else ""
        if not re.match(r"worker '?\w+'? crashed while running", text):
            return
        nodeid = _without_xdist_group(report.nodeid)
        row = self.rows.setdefault(
            nodeid,
            {
                "nodeid": nodeid,
                "claim_id": nodeid,
                "report": WORKER_CRASH,
                "source": "",
                "statement": "A test whose pytest-xdist worker died before it reported which claim it "
                "decides.",
            },
        )
        row.update(outcome="error", error=text, not_held=False, worker_crashed=True)

    def finished_rows(self, *, finished_only: bool = False) -> list[ClaimRow]:
        """The rows with their verdict; ``finished_only``: only tests that reported an outcome."""
        profile = self.config.getoption("profile", "default")
        rows: list[ClaimRow] = [
            {**row, "profile": profile}
            for row in self.rows.values()
            if not finished_only or row.get("outcome") is not None
        ]
        for row in rows:
            row["verdict"] = verdict_of(row)
        return rows

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = now()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        """Merge this run's rows into the report folder (:mod:`.writing`); failing to fails the run.

        An interrupted run (Ctrl-C) merges only the claim tests that finished.
        """
        target = self.config.getoption("claims_report", None)
        if not target or not self.rows:
            return
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        written = write_claims_report(
            self.config,
            Path(target),
            self.finished_rows(finished_only=interrupted),
            started=self.started,
            interrupted=interrupted,
        )
        self.report_paths, self.report_note, self.report_error = written
        if self.report_error and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """The verdict tally, and where the report was written (or why not)."""
        if not self.rows:
            if self.config.getoption("claims_report", None):
                terminalreporter.write_line(
                    "dlverify: no claim test ran, so no claims report was written"
                )
            return
        counts = Counter(row["verdict"] for row in self.finished_rows())
        claims = len({row.get("claim_id") for row in self.rows.values()})
        terminalreporter.section("dlverify claims")
        terminalreporter.write_line(
            ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICT_ORDER)
            + f"  ({claims} claims, {len(self.rows)} claim tests)"
        )
        if self.report_paths:
            others = ", ".join(path.name for path in self.report_paths[1:])
            terminalreporter.write_line(
                f"claims report written: {self.report_paths[0]}"
                + (f" (with {others})" if others else "")
            )
        if self.report_note:
            terminalreporter.write_line(f"claims report: {self.report_note}")
        if self.report_error:
            terminalreporter.write_line(self.report_error, red=True)


def verdict_of(row: ClaimRow) -> str:
    """The verdict shown for one test, from its outcome: one of :data:`~dlverify.verdicts.SHOWN`.

    passed → holds; strict xfail → the evidence's verdict (refuted or
    inconclusive); skipped → skipped; anything else → error: a crash, a strict
    xpass (holds now although recorded as not holding: the Finding must go), or
    a claim that does not hold without a recorded Finding (a new finding to record).
    """
    outcome = row.get("outcome")
    if outcome == "passed":
        return Verdict.HOLDS.value
    if outcome == "xfailed":
        return (row.get("evidence") or {}).get("verdict") or Verdict.REFUTED.value
    if outcome == "skipped":
        return NoVerdict.SKIPPED.value
    return NoVerdict.ERROR.value
