"""Packaging as people expect: one version source, type information, a licence, classifiers."""

from __future__ import annotations

from pathlib import Path

import pytest

import dlverify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source(pyproject):
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "dlverify.__version__"}
    assert dlverify.__version__.count(".") == 2


def test_typed_licensed_and_classified(pyproject):
    assert (ROOT / "dlverify" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["dlverify"]
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and pyproject["project"]["license"] == {"text": "MIT"}
    assert {
        "Framework :: Pytest",
        "License :: OSI Approved :: MIT License",
        "Typing :: Typed",
    } <= set(pyproject["project"]["classifiers"])
