"""Write the claims report: ``index.html``, ``claims.md``, ``claims.json`` and ``figures/*.png``.

``claims.json`` keeps every row as collected (figures included, base64), the
runs the rows come from (:mod:`.runs`) and the project's catalogue of source
reports (``titles``, ``report_order``, ``description``: :mod:`.catalogue`), so
the other files can be rebuilt from it with :func:`write_report_from_json`.

Writing is atomic: every file is written into a temporary folder beside the
report folder, which then takes the report folder's place by a rename. A reader
(or a run interrupted while writing) sees the previous complete report or the
new one, never a mixture. The report folder therefore holds only the report;
:func:`check_report_folder` refuses one with other files in it, since they
would be replaced with the report.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import ReportError
from . import html, markdown
from .catalogue import NO_CATALOGUE, Catalogue
from .rows import ClaimRow, anchor_of, group_by_report, sort_key
from .runs import FORMAT_VERSION, JSON_NAME, read_report, runs_of

FIGURES_DIR = "figures"
#: What a report folder holds; anything else in it means it is not (only) a report.
REPORT_ENTRIES = frozenset({"index.html", "claims.md", JSON_NAME, FIGURES_DIR})


def check_report_folder(directory: Path) -> Path:
    """The report folder, resolved, once it is known that a report can be written there.

    It may be missing (it is made, with its parents), or a folder that holds a
    claims report (and nothing else). Raises :class:`~dlverify.errors.ReportError`
    for a file, a folder with other files, an unreadable ``claims.json``, or a
    parent folder this process cannot write in (the report is built beside it).
    """
    directory = Path(directory).expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise ReportError(f"{directory} is a file, not a folder; give a folder for the report")
    if directory.is_dir():
        others = sorted(
            entry.name for entry in directory.iterdir() if entry.name not in REPORT_ENTRIES
        )
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise ReportError(
                f"{directory} holds files that are not part of a claims report "
                f"({shown}); the report replaces its folder as a whole, so give a "
                f"new or empty folder, or one an earlier --claims-report wrote"
            )
        if (directory / JSON_NAME).exists():
            read_report(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory.parent):
            pass
    except OSError as error:
        raise ReportError(
            f"cannot write beside {directory} ({error}); give a folder in a place "
            f"this user can write"
        ) from None
    return directory


def write_report(
    rows: list[ClaimRow],
    directory: Path,
    environment: dict,
    *,
    catalogue: Catalogue = NO_CATALOGUE,
    titles: Mapping[str, str] | None = None,
    runs: list[dict] | None = None,
) -> list[Path]:
    """Write the report into ``directory`` atomically; return its paths (``index.html`` first).

    ``rows`` are the plugin's finished rows (one per claim test instance, with a
    ``verdict``, and the ``run`` they come from); ``environment`` describes the
    latest run; ``runs`` lists every run a row comes from (default: one run,
    described by ``environment``); ``catalogue`` names the source reports, their
    order and the page's description (:mod:`.catalogue`); ``titles`` adds titles
    of reports it does not name.
    """
    directory = Path(directory).resolve()
    runs = runs if runs is not None else runs_of({"environment": environment})
    if titles:
        catalogue = catalogue.merged_with(Catalogue(extra_titles=dict(titles)))
    rows = sorted(rows, key=sort_key)
    groups = group_by_report(rows, catalogue.titles, catalogue.order)
    ordered = [row for group in groups for row in group.rows]
    directory.parent.mkdir(parents=True, exist_ok=True)
    build = _sibling(directory, "new")
    build.mkdir()
    try:
        figure_paths = _write_figures(ordered, build / FIGURES_DIR)
        document = {
            "format": FORMAT_VERSION,
            "environment": environment,
            **catalogue.as_dict(),
            "runs": runs,
            "claims": rows,
        }
        pages = {
            JSON_NAME: json.dumps(document, indent=1, default=str),
            "claims.md": markdown.render(groups, environment, figure_paths, runs=runs),
            "index.html": html.render(
                groups, environment, runs=runs, description=catalogue.description
            ),
        }
        for name, text in pages.items():
            (build / name).write_text(text, encoding="utf-8")
        _swap_in(build, directory)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return [directory / "index.html", directory / "claims.md", directory / JSON_NAME]


def write_report_from_json(source: Path, directory: Path | None = None) -> list[Path]:
    """Rebuild the report from a ``claims.json`` or its folder (into it, or into ``directory``)."""
    source = Path(source)
    data = read_report(source)
    folder = source if source.is_dir() else source.parent
    return write_report(
        data["claims"],
        directory or folder,
        data.get("environment", {}),
        catalogue=Catalogue.from_report(data),
        runs=runs_of(data),
    )


def _swap_in(build: Path, directory: Path) -> None:
    """Put the finished folder ``build`` in the place of ``directory`` (renames only)."""
    if not directory.exists():
        os.rename(build, directory)
        return
    old = _sibling(directory, "old")
    os.rename(directory, old)
    try:
        os.rename(build, directory)
    except BaseException:
        os.rename(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _sibling(directory: Path, role: str) -> Path:
    """A fresh hidden name beside ``directory`` (same file system, so renames are atomic)."""
    return directory.parent / f".{directory.name}.{role}-{os.getpid()}-{secrets.token_hex(4)}"


def _write_figures(rows: list[ClaimRow], folder: Path) -> dict[tuple[int, int], str]:
    """PNG files for the Markdown report, in a new ``folder``."""
    paths: dict[tuple[int, int], str] = {}
    used: set[str] = set()
    for index, row in enumerate(rows):
        for number, figure in enumerate((row.get("evidence") or {}).get("figures") or []):
            try:
                data = base64.b64decode(figure.get("png_base64", ""), validate=True)
            except (binascii.Error, ValueError):
                continue
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(figure.get("name", "figure")))
            stem = f"{anchor_of(row)}--{safe}"
            name, suffix = f"{stem}.png", 2
            while name in used:
                name, suffix = f"{stem}-{suffix}.png", suffix + 1
            used.add(name)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            paths[(index, number)] = f"{FIGURES_DIR}/{name}"
    return paths
