"""Write the claims report files."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(rows: list[dict], directory: Path, environment: dict) -> list[Path]:
    """Write ``claims.json`` into ``directory`` and return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda row: (row.get("claim_id", ""), row.get("nodeid", "")))
    path = directory / "claims.json"
    path.write_text(json.dumps({"environment": environment, "claims": rows}, indent=1))
    return [path]
