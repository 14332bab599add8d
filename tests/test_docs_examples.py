"""The examples of the documentation run: docs/probes.md's worked example and the README's library example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlverify.data import load_mnist
from dlverify.errors import DataNotFoundError

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


def run_block(block: str, page: Path) -> None:
    exec(compile(block, str(page), "exec"), {"__name__": f"example_of_{page.stem}"})


def test_the_probes_page_example_runs(capsys):
    page = ROOT / "docs" / "probes.md"
    blocks = python_blocks(page)
    assert len(blocks) == 1, "docs/probes.md should hold exactly one worked example"
    run_block(blocks[0], page)
    assert "top-3" in capsys.readouterr().out


def test_the_readme_library_example_runs(capsys):
    """The README's example trains on MNIST for two epochs and prints four finite numbers."""
    page = ROOT / "README.md"
    examples = [block for block in python_blocks(page) if "from dlverify" in block]
    assert len(examples) == 1, "README.md should hold exactly one library example"
    try:
        load_mnist("test")
    except DataNotFoundError as error:
        pytest.skip(f"the README example needs MNIST: {error}")
    run_block(examples[0], page)
    numbers = [float(word) for word in capsys.readouterr().out.split()]
    assert len(numbers) == 4 and all(abs(x) < float("inf") for x in numbers)
    assert (
        0.9 < numbers[0] <= 1.0
    )  # two epochs of a 784-100-10 MLP on MNIST reach over 90 % validation accuracy
