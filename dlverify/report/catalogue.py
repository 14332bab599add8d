"""The source reports a project's claims come from: their ids, titles, order and markers.

The library knows no source report. A project names its own through the
plugin's hook :func:`dlverify.hookspecs.pytest_dlverify_source_reports`, in a
``conftest.py`` (this repository's ``claims/conftest.py`` names lab1 … a1)::

    def pytest_dlverify_source_reports(config):
        return Catalogue((SourceReport("lab2", "Lab 2: regularization of an MNIST MLP"),),
                         description="Each claim of the lab reports, decided by measurement.")

A claim id ``<report>.<slug>`` belongs to the source report ``<report>``. With
a catalogue, the report groups claims in its order under its titles, and each
report id is a pytest marker (``-m lab2``); without one (:data:`NO_CATALOGUE`),
groups are sorted by id, titled by their id, and no marker is added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReportError

REPORT_ID = re.compile(r"^[a-z][a-z0-9]*$")
DESCRIPTION = "Each claim, decided by measurement."


@dataclass(frozen=True)
class SourceReport:
    """One source report: ``id`` (its claim ids' prefix), ``title``, whether ``id`` is a marker."""

    id: str
    title: str
    marker: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not REPORT_ID.match(self.id):
            raise ReportError(
                f"SourceReport id {self.id!r} must be a claim id's prefix: a "
                "lower-case letter, then lower-case letters and digits (as in "
                "'lab2')"
            )
        if not isinstance(self.title, str) or not self.title.strip():
            raise ReportError(
                f"SourceReport {self.id!r} needs a title (the report's name, in words)"
            )


@dataclass(frozen=True)
class Catalogue:
    """The source reports in the order the claims report shows them, and the page's description."""

    reports: tuple[SourceReport, ...] = ()
    description: str = DESCRIPTION
    extra_titles: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reports = tuple(self.reports)
        if not all(isinstance(report, SourceReport) for report in reports):
            raise ReportError(
                "Catalogue(reports=...) takes SourceReport entries, one per source report"
            )
        ids = [report.id for report in reports]
        if len(set(ids)) != len(ids):
            raise ReportError(f"Catalogue names a source report twice: {sorted(ids)}")
        object.__setattr__(self, "reports", reports)

    @property
    def order(self) -> tuple[str, ...]:
        """The report ids, in the order the claims report groups them; others follow, sorted."""
        return tuple(report.id for report in self.reports)

    @property
    def titles(self) -> dict[str, str]:
        """Report id → title, for the catalogue's reports and any ``extra_titles``."""
        titles = {report.id: report.title for report in self.reports}
        return {**titles, **{k: v for k, v in self.extra_titles.items() if k not in titles}}

    def markers(self) -> list[str]:
        """The ``markers`` ini lines: one per report that is a marker."""
        return [
            f"{report.id}: claims from the source report {report.title} (added from the claim id)"
            for report in self.reports
            if report.marker
        ]

    def is_marker(self, report_id: str) -> bool:
        """Whether ``report_id`` is one of the reports registered as a pytest marker."""
        return any(report.id == report_id and report.marker for report in self.reports)

    def as_dict(self) -> dict[str, Any]:
        """The catalogue as ``claims.json`` keeps it: titles, report_order, description."""
        return {
            "titles": self.titles,
            "report_order": list(self.order),
            "description": self.description,
        }

    @classmethod
    def from_report(cls, data: Mapping) -> Catalogue:
        """The catalogue a ``claims.json`` was written with.

        A report written before ``report_order`` was recorded is ordered as its
        ``titles`` are listed (the order the plugin wrote them in).
        """
        titles = {str(k): str(v) for k, v in (data.get("titles") or {}).items()}
        order = [str(name) for name in data.get("report_order") or titles]
        reports = tuple(
            SourceReport(name, titles.get(name) or name, marker=False)
            for name in dict.fromkeys(order)
            if REPORT_ID.match(name)
        )
        listed = {report.id for report in reports}
        extra = {name: title for name, title in titles.items() if name not in listed}
        return cls(reports, str(data.get("description") or DESCRIPTION), extra)

    def merged_with(self, earlier: Catalogue) -> Catalogue:
        """The catalogue with the titles of reports that only ``earlier`` names added."""
        kept = {**earlier.titles, **self.titles}
        return Catalogue(
            self.reports,
            self.description,
            {name: title for name, title in kept.items() if name not in self.order},
        )


#: A project that names no source report: groups sorted by id, no markers.
NO_CATALOGUE = Catalogue()
