"""The fixtures: ``device``, ``cuda_device``, ``profile``, ``seeds``, ``claim``, ``run_cache``.

``run_cache`` also counts the runs it trained and read; an xdist worker hands
its counts to the controller (``workeroutput``), which sums them for the
terminal summary.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ..evidence import ClaimRecord
from ..profiles import Profile
from .keys import CLAIM_RECORD, META_KEY
from .options import profile_of, run_cache_root


@pytest.fixture
def device(request: pytest.FixtureRequest):
    """The torch device this test instance runs on (chosen with --device; in the test id)."""
    import torch

    return torch.device(getattr(request, "param", "cpu"))


@pytest.fixture
def cuda_device():
    """A CUDA device, for claims about GPUs; skips with the reason when there is none."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip(f"needs CUDA; torch {torch.__version__} reports no CUDA device on this machine")
    return torch.device("cuda")


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    """The active :class:`~dlverify.profiles.Profile` (--profile, --seeds, --max-seeds)."""
    return profile_of(pytestconfig)


@pytest.fixture(scope="session")
def seeds(profile: Profile) -> tuple[int, ...]:
    """Seeds of a comparative claim: the first look of the profile's seed plan.

    In a claim test, the plugin runs the body again on the next look's seeds
    while its verdict is inconclusive (:class:`dlverify._plugin.deciding.SeedLooks`).
    """
    return profile.seeds


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimRecord:
    """The evidence record of this claim test; its expectations decide the verdict."""
    marker = request.node.get_closest_marker("claim")
    if marker is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses the claim fixture without "
            "@pytest.mark.claim(...); mark the test with the claim id it "
            "decides"
        )
    meta = claim_meta(request.node)
    record = ClaimRecord(
        claim_id=marker.args[0],
        source=marker.kwargs.get("source", ""),
        statement=meta.get("statement", ""),
    )
    request.node.stash[CLAIM_RECORD] = record
    return record


def claim_meta(item: pytest.Item) -> dict:
    """The claim metadata collection put in the item's ``user_properties`` ({} if none)."""
    for key, value in item.user_properties:
        if key == META_KEY:
            return json.loads(value)
    return {}


RUN_COUNTS_KEY = "dlverify.run_cache"
_RUN_COUNTS = pytest.StashKey[Counter]()


@pytest.fixture(scope="session")
def run_cache(pytestconfig: pytest.Config):
    """The session's :class:`~dlverify.runcache.RunCache`: a run is read back, never trained twice.

    Stored in --run-cache DIR, else in pytest's cache folder (``--cache-clear``
    empties it); --no-run-cache trains everything and stores nothing. Each
    pytest-xdist worker opens its own on the same folder; a lock per run makes
    the other workers wait for it, then read it.
    """
    from ..runcache import RunCache

    cache = RunCache(run_cache_root(pytestconfig)[0])
    yield cache
    _add_run_counts(pytestconfig, trained=cache.misses, read=cache.hits)


def _add_run_counts(config: pytest.Config, *, trained: int, read: int) -> None:
    """Count runs for the summary; an xdist worker also hands its counts to the controller."""
    counts = config.stash.setdefault(_RUN_COUNTS, Counter(trained=0, read=0))
    counts.update(trained=trained, read=read)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[RUN_COUNTS_KEY] = {"trained": counts["trained"], "read": counts["read"]}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """(xdist controller) add a finished worker's run counts, sent in its workeroutput."""
    counts = (getattr(node, "workeroutput", None) or {}).get(RUN_COUNTS_KEY)
    if counts:
        _add_run_counts(node.config, trained=counts["trained"], read=counts["read"])


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """How many runs the run cache trained and read, when some test used it."""
    counts = config.stash.get(_RUN_COUNTS, None)
    if counts is not None:  # some test used the run_cache fixture
        root = run_cache_root(config)[0]
        terminalreporter.write_line(
            f"dlverify run cache: {counts['trained']} trained, "
            f"{counts['read']} read ({root or 'disabled'})"
        )
