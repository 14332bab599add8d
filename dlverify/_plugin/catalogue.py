"""The project's source reports, from its ``pytest_dlverify_source_reports`` hook; their markers.

The library names no source report (:mod:`dlverify.report.catalogue`). The
catalogue is asked for whenever it is needed (at startup for ``pytest
--markers``, at collection, when the report is written), so a conftest loaded
during collection still counts; each report that is a marker is registered
once, before any test is marked with it (``--strict-markers`` holds).
"""

from __future__ import annotations

import pytest

from ..report.catalogue import NO_CATALOGUE, Catalogue

_REGISTERED = pytest.StashKey[set]()


def catalogue_of(config: pytest.Config) -> Catalogue:
    """The catalogue the project's hook returns, or :data:`~dlverify.report.NO_CATALOGUE`."""
    catalogue = config.hook.pytest_dlverify_source_reports(config=config)
    if catalogue is None:
        return NO_CATALOGUE
    if not isinstance(catalogue, Catalogue):
        raise pytest.UsageError(
            f"pytest_dlverify_source_reports returned {type(catalogue).__name__}; return a "
            f"dlverify.report.Catalogue((SourceReport(id, title), ...)), or None for no catalogue"
        )
    return catalogue


def register_markers(config: pytest.Config, catalogue: Catalogue) -> None:
    """Add the catalogue's report markers to the ``markers`` ini lines (each once)."""
    registered = config.stash.setdefault(_REGISTERED, set())
    for report, line in zip([r.id for r in catalogue.reports if r.marker], catalogue.markers()):
        if report not in registered:
            config.addinivalue_line("markers", line)
            registered.add(report)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """The report markers of the catalogue known at startup (``pytest --markers`` lists them)."""
    register_markers(config, catalogue_of(config))
