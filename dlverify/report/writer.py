"""Write the claims report files: ``index.html``, ``claims.md``, ``claims.json`` and ``figures/*.png``.

``claims.json`` keeps every row as collected (figures included, base64), so the
other files can be rebuilt from it with :func:`write_report_from_json`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from . import html, markdown
from .rows import anchor_of, group_by_report, sort_key

FIGURES_DIR = "figures"


def write_report(rows: list[dict], directory: Path, environment: dict, *,
                 titles: Mapping[str, str] | None = None) -> list[Path]:
    """Write the report into ``directory``; return the paths written (``index.html`` first).

    ``rows`` are the plugin's finished rows (one per claim test instance, with a
    ``verdict``); ``titles`` maps a source report's short name (``lab1``) to its title.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=sort_key)
    groups = group_by_report(rows, titles)
    ordered = [row for group in groups for row in group.rows]
    figure_paths = _write_figures(ordered, directory / FIGURES_DIR)

    json_path = directory / "claims.json"
    _write_text(json_path, json.dumps({"environment": environment, "titles": dict(titles or {}), "claims": rows},
                                      indent=1, default=str))
    md_path = directory / "claims.md"
    _write_text(md_path, markdown.render(groups, environment, figure_paths))
    html_path = directory / "index.html"
    _write_text(html_path, html.render(groups, environment))
    return [html_path, md_path, json_path]


def write_report_from_json(source: Path, directory: Path | None = None) -> list[Path]:
    """Rebuild the report from a ``claims.json`` (into its own folder unless ``directory`` is given)."""
    source = Path(source)
    data = json.loads(source.read_text())
    return write_report(data["claims"], directory or source.parent, data.get("environment", {}),
                        titles=data.get("titles"))


def _write_text(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _write_figures(rows: list[dict], folder: Path) -> dict[tuple[int, int], str]:
    """PNG files for the Markdown report; old PNGs in ``folder`` are removed first."""
    if folder.is_dir():
        for old in folder.glob("*.png"):
            old.unlink()
    paths: dict[tuple[int, int], str] = {}
    used: set[str] = set()
    for index, row in enumerate(rows):
        for number, figure in enumerate((row.get("evidence") or {}).get("figures") or []):
            try:
                data = base64.b64decode(figure.get("png_base64", ""), validate=True)
            except (binascii.Error, ValueError):
                continue
            stem = f"{anchor_of(row)}--{re.sub(r'[^A-Za-z0-9_.-]+', '-', str(figure.get('name', 'figure')))}"
            name, suffix = f"{stem}.png", 2
            while name in used:
                name, suffix = f"{stem}-{suffix}.png", suffix + 1
            used.add(name)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            paths[(index, number)] = f"{FIGURES_DIR}/{name}"
    return paths
