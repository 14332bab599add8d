"""The claims report: what each report said, what was measured, the verdict.

``pytest claims --claims-report DIR`` writes, through :func:`write_report`:

* ``DIR/index.html`` — one self-contained page (the CSS of ``report.css``
  inlined, figures as data URIs, no script): verdict tally, environment, a
  summary table grouped by source report, then a section per claim test
  instance with its figures;
* ``DIR/claims.md`` — the same in Markdown, figures linked from ``DIR/figures/``;
* ``DIR/claims.json`` — every collected row and the runs the rows come from,
  from which the other two can be rebuilt with :func:`write_report_from_json`
  (``python -m dlverify report DIR``).

The folder is written atomically (a temporary folder, then a rename); a run of
some claims merges into the report already there (:mod:`.runs`);
``python -m dlverify compare A B`` lists what differs between two reports
(:mod:`.compare`).

Modules: :mod:`.catalogue` (the project's source reports: titles, order,
markers), :mod:`.rows` (the typed row and reading rows), :mod:`.format` (numbers and
statistics as text), :mod:`.html`, :mod:`.markdown`, :mod:`.writer`, :mod:`.runs`,
:mod:`.compare`, and :mod:`.figures` (plot helpers for claim tests).
"""

from .catalogue import NO_CATALOGUE, Catalogue, SourceReport
from .rows import ClaimRow
from .runs import merge, read_report
from .writer import check_report_folder, write_report, write_report_from_json

__all__ = [
    "NO_CATALOGUE",
    "Catalogue",
    "ClaimRow",
    "SourceReport",
    "check_report_folder",
    "merge",
    "read_report",
    "write_report",
    "write_report_from_json",
]
