"""claims/conftest.py runs the claim files longest first: every claim file has a rank."""

from __future__ import annotations

from pathlib import Path

import claims
from claims.conftest import _COLD_COST_ORDER


def test_every_claim_file_is_ranked_once():
    files = sorted(path.name for path in Path(claims.__file__).parent.glob("test_*.py"))
    assert sorted(_COLD_COST_ORDER) == files
