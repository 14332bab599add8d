"""The worked example of docs/probes.md runs and its assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "probes.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_probes_page_example_runs(capsys):
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "docs/probes.md should hold exactly one worked example"
    exec(compile(blocks[0], str(PAGE), "exec"), {"__name__": "docs_probes_example"})
    assert "top-3" in capsys.readouterr().out
