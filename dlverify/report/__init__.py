"""The claims report: what each report said, what was measured, the verdict.

``pytest claims --claims-report DIR`` writes, through :func:`write_report`:

* ``DIR/index.html`` — one self-contained page (inline CSS, figures as data
  URIs, no script): verdict tally, environment, a summary table grouped by
  source report, then a section per claim test instance with its figures;
* ``DIR/claims.md`` — the same in Markdown, figures linked from ``DIR/figures/``;
* ``DIR/claims.json`` — every collected row, from which the other two can be
  rebuilt with :func:`write_report_from_json`.

Modules: :mod:`.rows` (grouping and reading rows), :mod:`.format` (numbers and
statistics as text), :mod:`.html`, :mod:`.markdown`, :mod:`.writer`, and
:mod:`.figures` (plot helpers for claim tests).
"""

from .writer import write_report, write_report_from_json

__all__ = ["write_report", "write_report_from_json"]
