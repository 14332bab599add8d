"""A report that accumulates runs: each run replaces the rows it ran and keeps the others.

``claims.json`` holds the rows (one per claim test instance) and the *runs*
they come from. A run of a subset (``-k``, ``-m``, ``--lf``, one file) merges
into the report already in the folder: its rows replace the rows of the same
test (pytest node id), the other rows stay, each with the number of the run
that produced it, and the runs no row comes from any more are dropped. An
interrupted run (Ctrl-C) merges only the tests that finished and is recorded
as interrupted. A report written before runs were recorded reads as one run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import ReportError

#: Version of the claims.json layout (2: rows carry ``run``, the report lists ``runs``).
FORMAT_VERSION = 2
JSON_NAME = "claims.json"


def read_report(path: Path) -> dict:
    """The report in ``path`` (a report folder or its ``claims.json``), checked for its shape.

    Raises :class:`~dlverify.errors.ReportError` when the file cannot be read or
    is not a claims report, with what to do about it.
    """
    path = Path(path)
    source = path / JSON_NAME if path.is_dir() else path
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(
            f"{source} does not exist; give a folder written by --claims-report "
            f"(or its {JSON_NAME})"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ReportError(
            f"{source} cannot be read as a claims report ({error}); write it "
            f"again with --claims-report, or remove it"
        ) from None
    rows = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get("nodeid"), str) for row in rows
    ):
        raise ReportError(
            f"{source} is not a claims report (no 'claims' list of rows with a "
            f"'nodeid'); give a folder written by --claims-report"
        )
    return data


def runs_of(report: Mapping) -> list[dict]:
    """The report's runs; a report from before runs were recorded is one run, numbered 1."""
    runs = report.get("runs")
    if isinstance(runs, list) and runs:
        return [dict(run) for run in runs]
    environment = dict(report.get("environment") or {})
    return [
        {
            "id": 1,
            "started": environment.get("started", ""),
            "finished": environment.get("finished", ""),
            "command": environment.get("command", ""),
            "interrupted": False,
            "environment": environment,
        }
    ]


def merge(previous: Mapping | None, rows: list[dict], run: dict) -> tuple[list[dict], list[dict]]:
    """``(rows, runs)`` of the report once ``run``, whose rows are ``rows``, joins ``previous``.

    ``run`` gets the next free number as its ``id`` and every one of its rows
    that number as ``run``; a previous row is kept unless this run ran the same
    test. Runs that no longer own a row are left out.
    """
    previous_runs = runs_of(previous) if previous else []
    first_id = previous_runs[0]["id"] if previous_runs else 1
    run = {**run, "id": max((r["id"] for r in previous_runs), default=0) + 1}
    fresh = [{**row, "run": run["id"]} for row in rows]
    replaced = {row["nodeid"] for row in fresh}
    kept = [
        {**row, "run": row.get("run", first_id)}
        for row in (previous or {}).get("claims", [])
        if row["nodeid"] not in replaced
    ]
    merged = kept + fresh
    owners = {row["run"] for row in merged}
    runs = [r for r in previous_runs if r["id"] in owners] + [run]
    for entry in runs:
        entry["claim_tests"] = sum(1 for row in merged if row["run"] == entry["id"])
    return merged, runs
