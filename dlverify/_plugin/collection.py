"""Collection: the ``claim`` marker checked and turned into metadata, ``device`` parametrized.

Each claim test gets its claim id as a keyword (``-k <claim_id>``), its source
report's marker when the project's catalogue names it (``-m lab2``), a strict
xfail when its marker records a :class:`~dlverify.evidence.Finding`, and its
metadata (claim id, source, statement, instance, device) in
``user_properties``, from where every report of it reaches the controller.
"""

from __future__ import annotations

import json
import re

import pytest

from ..evidence import ClaimNotHeld, Finding
from ..profiles import PROFILES
from . import fixtures
from .catalogue import catalogue_of, register_markers
from .keys import FINDING, META_KEY
from .options import devices

CLAIM_ID = re.compile(r"^(?P<report>[a-z][a-z0-9]*)\.[a-z0-9][a-z0-9-]*$")


def _parametrizes_device_itself(metafunc: pytest.Metafunc) -> bool:
    """Whether the test names ``device`` in its own ``@pytest.mark.parametrize``."""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "device" in names:
            return True
    return False


def _device_fixture_is_ours(metafunc: pytest.Metafunc) -> bool:
    """Whether ``device`` is this plugin's fixture (a project's own ``device`` fixture wins)."""
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("device")
    ours = fixtures.__name__
    return not definitions or getattr(definitions[-1].func, "__module__", ours) == ours


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize this plugin's ``device`` fixture over the ``--device`` choice.

    Left alone: tests that parametrize ``device`` themselves, and projects that
    define a ``device`` fixture of their own (installing dlverify must not
    change how another project's tests are collected).
    """
    if (
        "device" in metafunc.fixturenames
        and not _parametrizes_device_itself(metafunc)
        and _device_fixture_is_ours(metafunc)
    ):
        metafunc.parametrize("device", devices(metafunc.config), indirect=True)


def claim_marker(item: pytest.Item) -> pytest.Mark | None:
    """The test's ``claim`` marker, or None for a test that decides no claim."""
    return item.get_closest_marker("claim")


def _finding(marker, profile: str) -> Finding | None:
    """The recorded finding of a claim under ``profile``; None if the claim is expected to hold."""
    xfail = marker.kwargs.get("xfail")
    if isinstance(xfail, dict):
        unknown = set(xfail) - set(PROFILES)
        if unknown:
            raise pytest.UsageError(
                f"claim {marker.args[0]}: xfail keys must be profiles "
                f"{PROFILES}, got {sorted(unknown)}"
            )
        xfail = xfail.get(profile)
    if xfail is not None and not isinstance(xfail, Finding):
        raise pytest.UsageError(
            f"claim {marker.args[0]}: xfail must be a dlverify.evidence.Finding(why, fails=(...)) "
            "naming in words why the claim does not hold and which expectations fail, got "
            f"{type(xfail).__name__}; measured numbers belong to the run, not the marker"
        )
    return xfail


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Check each claim marker (one ``<report>.<slug>`` id, one test per id); mark, describe it."""
    profile = config.getoption("profile", "default")
    catalogue = catalogue_of(config)
    register_markers(config, catalogue)
    owners: dict[str, str] = {}
    for item in items:
        marker = claim_marker(item)
        if marker is None:
            continue
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.claim takes exactly one claim id string"
            )
        claim_id = marker.args[0]
        match = CLAIM_ID.match(claim_id)
        if not match:
            raise pytest.UsageError(
                f"{item.nodeid}: claim id {claim_id!r} is not of the form "
                "'<report>.<slug>' (lower case, as in 'lab2.zero-init-stalls')"
            )
        function = f"{item.path}::{getattr(item, 'originalname', item.name)}"
        if owners.setdefault(claim_id, function) != function:
            raise pytest.UsageError(
                f"claim {claim_id} is decided by two tests: {owners[claim_id]} "
                f"and {function}; give each claim id one test"
            )
        report = match.group("report")
        item.extra_keyword_matches.add(claim_id)
        if catalogue.is_marker(report):
            item.add_marker(getattr(pytest.mark, report))
        finding = _finding(marker, profile)
        reason = undecided = None
        if finding:
            item.stash[FINDING] = finding
            if finding.may_hold:  # decided after the run (deciding._check_finding)
                undecided = finding.why
            else:  # it cannot hold: a strict xfail that only ClaimNotHeld meets
                reason = finding.why
                why = f"{claim_id} does not hold as measured: {finding.why}"
                item.add_marker(pytest.mark.xfail(reason=why, strict=True, raises=ClaimNotHeld))
        doc = (getattr(item, "obj", None).__doc__ or "") if hasattr(item, "obj") else ""
        statement = " ".join(doc.strip().split("\n\n")[0].split()) if doc.strip() else ""
        meta = {
            "claim_id": claim_id,
            "source": marker.kwargs.get("source", ""),
            "report": report,
            "statement": statement,
            "expected_not_to_hold": reason,
            "recorded_undecided": undecided,
            "test": function,
            **_instance_meta(item),
        }
        item.user_properties.append((META_KEY, json.dumps(meta)))


def _instance_meta(item: pytest.Item) -> dict:
    """The test instance's parametrization id and the device it runs on, for the claims report."""
    callspec = getattr(item, "callspec", None)
    device = callspec.params.get("device") if callspec is not None else None
    if device is None and "cuda_device" in getattr(item, "fixturenames", ()):
        device = "cuda"
    return {
        "instance": callspec.id if callspec is not None else "",
        "device": str(device) if device else "",
    }
