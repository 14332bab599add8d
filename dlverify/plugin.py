"""The dlverify pytest plugin: devices, profiles, the ``claim`` marker, evidence, the report.

It acts only in a project that enables it, with one line in the project's
top-level ``conftest.py`` (as this repository does)::

    pytest_plugins = ["dlverify.plugin"]

(or ``pytest -p dlverify.plugin`` for one run). Installing dlverify changes
nothing in any other pytest project: no options, fixtures, markers, imports,
environment, thread or xdist settings. Then claim tests are written as::

    @pytest.mark.claim("lab2.zero-init-stalls", source="lab2 §4.1")
    def test_zero_init_stalls(claim, device):
        ...
        claim.report(train_loss=2.301)
        claim.measure(train_loss=measured)
        claim.expect(abs(measured - entropy) < 0.01, "train loss at the label entropy")

The verdict is the outcome (see :mod:`dlverify.evidence`): passed = holds;
strict xfail (``xfail=Finding(...)`` on the marker) = measured not to hold;
skipped = cannot be decided here.

This module is the entry point: it registers the plugin's parts, one job each
(:mod:`dlverify._plugin`: options, collection, fixtures, deciding, the evidence
collector, environment capture, report writing), declares the ``claim`` marker
and adds the hooks a project may implement (:mod:`dlverify.hookspecs`: its
catalogue of source reports, which also names the report markers).
"""

from __future__ import annotations

import pytest

# Registered in this order, each after the parts it imports, so that pytest marks every part
# for assertion rewriting before it is first imported (no PytestAssertRewriteWarning).
pytest_plugins = [
    "dlverify._plugin.options",
    "dlverify._plugin.catalogue",
    "dlverify._plugin.fixtures",
    "dlverify._plugin.collection",
    "dlverify._plugin.deciding",
]

CLAIM_MARKER = (
    "claim(claim_id, *, source='', xfail=None): a test that decides one claim of the catalogue. "
    "claim_id is '<report>.<slug>' (select with -k <claim_id>, or -m <report> when the project's "
    "catalogue names the report); source names the report's section; "
    "xfail=Finding(why, fails=(expectation, ...)) (or {'default': ..., 'full': ...}) marks a claim "
    "measured NOT to hold: a strict xfail that only the recorded failing expectations satisfy."
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The hooks a project implements in its conftest.py (:mod:`dlverify.hookspecs`)."""
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``claim`` marker; register the evidence collector (controller) and seed looks."""
    from ._plugin.collector import EvidenceCollector
    from ._plugin.deciding import SeedLooks

    config.addinivalue_line("markers", CLAIM_MARKER)
    if not config.pluginmanager.hasplugin("xdist"):  # -p no:xdist: claim modules still use it
        config.addinivalue_line(
            "markers",
            "xdist_group(name): pytest-xdist's grouping of tests on "
            "one worker (no effect: pytest-xdist is not active)",
        )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(EvidenceCollector(config), "dlverify-evidence")
    config.pluginmanager.register(SeedLooks(), "dlverify-seed-looks")
