"""Hooks the dlverify pytest plugin defines for the project that enables it.

A project implements them in a ``conftest.py`` (as pytest-benchmark's hooks
are implemented); the plugin adds these specifications with
``pytest_addhooks``, so a misspelt hook is an error at startup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .report.catalogue import Catalogue


@pytest.hookspec(firstresult=True)
def pytest_dlverify_source_reports(config: pytest.Config) -> Catalogue | None:
    """The project's catalogue of source reports, a :class:`~dlverify.report.Catalogue`.

    It names, for each source report, its id (the prefix of its claim ids,
    ``lab2`` in ``lab2.zero-init-stalls``), its title, and whether the id is a
    marker (``-m lab2``); the order is the claims report's order of groups;
    ``description`` is the line under the report's title. Called at startup
    (markers), at collection and when the report is written; the first
    implementation that returns a catalogue is used. Without one, the plugin
    uses :data:`~dlverify.report.NO_CATALOGUE`: groups sorted by id, titled by
    their id, no report markers.

    Example, in the ``conftest.py`` of the folder holding the claim tests::

        from dlverify.report import Catalogue, SourceReport

        def pytest_dlverify_source_reports(config):
            return Catalogue((SourceReport("lab1", "Lab 1: linear regression"),
                              SourceReport("lab2", "Lab 2: regularization")),
                             description="Each claim of the lab reports, decided by measurement.")
    """
