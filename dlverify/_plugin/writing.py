"""The claims report, written when the session ends: this run's rows merged into the folder's.

The catalogue of source reports comes from the project's hook
(:mod:`.catalogue`); titles of reports that only earlier runs named are kept.
Writing is atomic (:mod:`dlverify.report.writer`): a reader sees the previous
report or the new one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ..errors import ReportError
from ..report.catalogue import Catalogue
from ..report.rows import ClaimRow
from .catalogue import catalogue_of
from .environment import environment

#: The group of rows whose xdist worker died before saying which claim it decides.
WORKER_CRASH = "worker-crash"
WORKER_CRASH_TITLE = "Tests whose xdist worker crashed"


def write_claims_report(
    config: pytest.Config, folder: Path, rows: list[ClaimRow], *, started: str, interrupted: bool
) -> tuple[list[Path], str, str]:
    """Merge ``rows`` into the report in ``folder``; return ``(paths, note, error)``.

    ``paths`` are the files written (``index.html`` first; none when nothing
    was written), ``note`` what the terminal summary should say about rows kept
    or an interrupted run, ``error`` why the report was not written ("" if it
    was). An interrupted run with no finished claim test leaves the report as
    it was.
    """
    from ..report import merge, read_report, write_report
    from ..report.runs import JSON_NAME

    if not rows:
        return [], f"interrupted before any claim test finished: {folder} was left as it was", ""
    env = {**environment(config), "started": started, "finished": now()}
    run = {
        "started": started,
        "finished": env["finished"],
        "command": env["command"],
        "interrupted": interrupted,
        "environment": env,
    }
    try:
        previous = read_report(folder) if (folder / JSON_NAME).exists() else None
        merged, runs = merge(previous, rows, run)
        crashes = Catalogue(extra_titles={WORKER_CRASH: WORKER_CRASH_TITLE})
        catalogue = catalogue_of(config).merged_with(
            Catalogue.from_report(previous or {}).merged_with(crashes)
        )
        paths = write_report(merged, folder, env, catalogue=catalogue, runs=runs)
    except (OSError, ReportError) as error:
        return [], "", f"claims report NOT written to {folder}: {error}"
    kept = len(merged) - len(rows)
    notes = [f"{kept} rows kept from earlier runs"] if kept else []
    if interrupted:
        notes.append(
            f"interrupted: {len(rows)} finished claim tests merged, marked as from an "
            f"interrupted run"
        )
    return paths, "; ".join(notes), ""


def now() -> str:
    """The time, UTC, as the report shows it: ``2026-11-24 01:39:51 UTC``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
