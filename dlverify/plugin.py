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
strict xfail (``xfail="numbers"`` on the marker) = measured not to hold;
skipped = cannot be decided here. Evidence travels from pytest-xdist workers
to the controller in ``report.user_properties``, which xdist serializes; the
figures travel beside it as an attribute of the report (also serialized by
xdist), so that ``--junitxml``, which writes every user property, stays small.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from .evidence import ClaimNotHeld, ClaimRecord, Finding, FindingChanged
from .profiles import DEFAULT_MAX_SEEDS, DEFAULT_SEEDS, PROFILES, Profile, ProfileError

CLAIM_ID = re.compile(r"^(?P<report>[a-z][a-z0-9]*)\.[a-z0-9][a-z0-9-]*$")
SOURCE_REPORTS = {
    "lab1": "Lab 1: linear regression and Fashion-MNIST softmax regression (TF2)",
    "hw1": "HW1: function fitting, optimization and generalization on MNIST",
    "lab2": "Lab 2: regularization and initialization of an MNIST MLP (TF2)",
    "hw2": "HW2: initialization, saturation, batch size, learning rate, early stopping on MNIST",
    "a1": "Assignment 1: CIFAR-10 softmax classifier with L2 (DD2424)",
}
META_KEY = "dlverify.claim"
EVIDENCE_KEY = "dlverify.evidence"
# On the call phase's TestReport: the PNGs, kept out of user_properties (and so out of junit XML).
FIGURES_ATTRIBUTE = "dlverify_figures"
_FIGURES = pytest.StashKey[list]()
_CLAIM_RECORD = pytest.StashKey[ClaimRecord]()
_FINDING = pytest.StashKey[Finding]()
# PyTorch's CPU float32 kernels give thread-count-dependent results (a skinny matmul such
# as a 10-class output layer's weight gradient is split across threads, changing the
# summation order), and training amplifies the last bits into seed-sized differences.
# Claim tests therefore compute with one intra-op thread, whatever --torch-threads says.
CLAIM_THREADS = 1


# -- options and markers ------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dlverify", "dlverify claims")
    group.addoption("--device", choices=("cpu", "cuda", "all"), default="cpu",
                    help="run device-parametrized tests on cpu (default), cuda, or all available devices; "
                         "cuda without CUDA is a usage error, never a silent CPU run")
    group.addoption("--profile", choices=PROFILES, default="default",
                    help="default: documented protocols scaled to fit a 2-core CPU where needed (and reported); "
                         "full: the documented protocols as written (for GPU machines)")
    group.addoption("--seeds", type=int, default=None, metavar="N",
                    help=f"seeds of a comparative claim's first look (default: {DEFAULT_SEEDS['default']} under "
                         f"the default profile, {DEFAULT_SEEDS['full']} under full)")
    group.addoption("--max-seeds", type=int, default=None, metavar="M",
                    help=f"seed budget: an inconclusive comparative claim is run again on more seeds up to M "
                         f"(default: {DEFAULT_MAX_SEEDS['default']} under the default profile, "
                         f"{DEFAULT_MAX_SEEDS['full']} under full; the looks are Bonferroni-corrected)")
    group.addoption("--deterministic", action="store_true", default=False,
                    help="turn on torch.use_deterministic_algorithms (and CUBLAS_WORKSPACE_CONFIG on CUDA) in "
                         "every test process, for runs that must be bitwise reproducible")
    group.addoption("--torch-threads", type=int, default=None, metavar="N",
                    help="torch intra-op threads per process for everything but claim tests (default: CPU cores "
                         "divided by the number of pytest-xdist workers); claim tests always compute with "
                         f"{CLAIM_THREADS} thread so that their numbers, and so their verdicts, do not depend "
                         "on it: use -n for parallel claims")
    group.addoption("--data-dir", default=None, metavar="DIR",
                    help="a folder with mnist/ and fashion-mnist/ (IDX files); searched before "
                         "$DLVERIFY_DATA, the user cache and /usr/share/datasets")
    group.addoption("--claims-report", default=None, metavar="DIR",
                    help="write the claims report (index.html, claims.md, claims.json) to DIR, "
                         "atomically; a run of some claims (-k, -m, --lf) merges into the report "
                         "already in DIR, replacing the rows it ran; DIR must be new, empty or an "
                         "earlier report (checked at startup)")
    group.addoption("--run-cache", default=None, metavar="DIR",
                    help="keep trained runs in DIR and read them back instead of training again, across "
                         "sessions and xdist workers (default: dlverify-runs in pytest's cache folder, "
                         "emptied by --cache-clear)")
    group.addoption("--no-run-cache", action="store_true", default=False,
                    help="bypass the run cache: train every run, read and store nothing")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "claim(claim_id, *, source='', xfail=None): a test that decides one claim of the catalogue. "
        "claim_id is '<report>.<slug>' (select with -k <claim_id> or -m <report>); source names the "
        "report's section; xfail=Finding(why, fails=(expectation, ...)) (or {'default': ..., 'full': ...}) marks "
        "a claim measured NOT to hold: a strict xfail that only the recorded failing expectations satisfy.",
    )
    for report, title in SOURCE_REPORTS.items():
        config.addinivalue_line("markers", f"{report}: claims from the source report {title} (added from the claim id)")
    if not config.pluginmanager.hasplugin("xdist"):  # -p no:xdist: claim modules still use it
        config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's grouping of tests on "
                                           "one worker (no effect: pytest-xdist is not active)")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(EvidenceCollector(config), "dlverify-evidence")
    config.pluginmanager.register(SeedLooks(), "dlverify-seed-looks")

    device = config.getoption("device", "cpu")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError(
                f"--device cuda was given but CUDA is not available (torch {torch.__version__}, "
                f"torch.cuda.is_available() is False). Install a CUDA build of torch on a machine with an "
                f"NVIDIA GPU, or run with --device cpu (or --device all to use every available device)."
            )
    data_dir = config.getoption("data_dir", None)
    if data_dir:
        path = Path(data_dir).expanduser().resolve()
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            raise pytest.UsageError(f"--data-dir {data_dir}: {path} {what}; give the folder that "
                                    f"holds mnist/ and fashion-mnist/")
        current = os.environ.get("DLVERIFY_DATA", "")
        os.environ["DLVERIFY_DATA"] = os.pathsep.join(p for p in (str(path), current) if p)
    _check_data_roots()
    _check_profile(config)
    _check_run_cache(config)
    _check_claims_report(config)
    _limit_threads(config)
    if config.getoption("deterministic", False):
        _make_deterministic()
    # Claims that share trained models are grouped with xdist_group; that
    # grouping is only honoured under --dist loadgroup, which -n picks otherwise.
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"


def _check_data_roots() -> None:
    """A DLVERIFY_DATA folder that does not exist stops the session (not a skip of every data claim)."""
    from .data.location import environment_roots
    from .errors import DataLocationError

    try:
        environment_roots()
    except DataLocationError as error:
        raise pytest.UsageError(str(error)) from None


def _check_profile(config: pytest.Config) -> None:
    """Bad --seeds / --max-seeds values stop the run at startup, with the rule they broke."""
    try:
        _profile_of(config)
    except ProfileError as error:
        raise pytest.UsageError(str(error)) from None


def _profile_of(config: pytest.Config) -> Profile:
    return Profile.make(config.getoption("profile", "default"), config.getoption("seeds", None),
                        config.getoption("max_seeds", None))


def _check_claims_report(config: pytest.Config) -> None:
    """--claims-report DIR must be a place a report can be written: checked at startup, not after.

    A relative DIR is taken from the invocation folder. Only the process that
    writes the report checks it (the controller, or the only process).
    """
    value = config.getoption("claims_report", None)
    if value is None or hasattr(config, "workerinput"):
        return
    from .errors import ReportError
    from .report.writer import check_report_folder

    try:
        path = check_report_folder(config.invocation_params.dir / Path(value).expanduser())
    except ReportError as error:
        raise pytest.UsageError(f"--claims-report {value}: {error}") from None
    config.option.claims_report = str(path)


def _make_deterministic() -> None:
    """Deterministic kernels for this process (asked for with --deterministic).

    ``CUBLAS_WORKSPACE_CONFIG`` must be set before cuBLAS starts; PyTorch's
    reproducibility notes name ``:4096:8``. An existing value is kept.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.use_deterministic_algorithms(True)


def _check_run_cache(config: pytest.Config) -> None:
    """--run-cache must be a folder this process can write in (made if missing); checked at startup.

    A typo or a read-only folder would otherwise surface only after the first
    run was trained, as a warning on every run. A relative DIR is taken from
    the invocation folder; xdist workers parse the same arguments in the same
    folder, so every worker of a session shares one cache.
    """
    value = config.getoption("run_cache", None)
    if value is None:
        return
    if config.getoption("no_run_cache", False):
        raise pytest.UsageError("--run-cache and --no-run-cache were both given; give one of them")
    path = (config.invocation_params.dir / Path(value).expanduser()).resolve()
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"--run-cache {value}: {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise pytest.UsageError(f"--run-cache {value}: cannot write in {path} ({error})") from None
    config.option.run_cache = str(path)


def _limit_threads(config: pytest.Config) -> None:
    threads = config.getoption("torch_threads", None)
    workerinput = getattr(config, "workerinput", None)
    if threads is None and workerinput is not None:
        workers = int(workerinput.get("workercount", 1))
        threads = max(1, (os.cpu_count() or 1) // workers)
    if threads is None:
        return
    if threads < 1:
        raise pytest.UsageError(f"--torch-threads must be at least 1, got {threads}")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:  # read by torch when it is first imported; avoids importing torch for every pytest run
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, str(threads))


# -- collection -----------------------------------------------------------------

def _devices(config: pytest.Config) -> list[str]:
    choice = config.getoption("device", "cpu")
    if choice == "cpu":
        return ["cpu"]
    if choice == "cuda":
        return ["cuda"]
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


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
    """Whether ``device`` resolves to this plugin's fixture (a project's own ``device`` fixture wins)."""
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("device")
    return not definitions or getattr(definitions[-1].func, "__module__", __name__) == __name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize this plugin's ``device`` fixture over the ``--device`` choice.

    Left alone: tests that parametrize ``device`` themselves, and projects that
    define a ``device`` fixture of their own (installing dlverify must not
    change how another project's tests are collected).
    """
    if ("device" in metafunc.fixturenames and not _parametrizes_device_itself(metafunc)
            and _device_fixture_is_ours(metafunc)):
        metafunc.parametrize("device", _devices(metafunc.config), indirect=True)


def _claim_marker(item: pytest.Item):
    return item.get_closest_marker("claim")


def _finding(marker, profile: str) -> Finding | None:
    """The recorded finding of a claim under ``profile``, or None when the claim is expected to hold."""
    xfail = marker.kwargs.get("xfail")
    if isinstance(xfail, dict):
        unknown = set(xfail) - set(PROFILES)
        if unknown:
            raise pytest.UsageError(f"claim {marker.args[0]}: xfail keys must be profiles {PROFILES}, got {sorted(unknown)}")
        xfail = xfail.get(profile)
    if xfail is not None and not isinstance(xfail, Finding):
        raise pytest.UsageError(
            f"claim {marker.args[0]}: xfail must be a dlverify.evidence.Finding(why, fails=(...)) naming in words "
            f"why the claim does not hold and which expectations fail, got {type(xfail).__name__}; measured "
            f"numbers belong to the run, not the marker")
    return xfail


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    profile = config.getoption("profile", "default")
    owners: dict[str, str] = {}
    for item in items:
        marker = _claim_marker(item)
        if marker is None:
            continue
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim takes exactly one claim id string")
        claim_id = marker.args[0]
        match = CLAIM_ID.match(claim_id)
        if not match:
            raise pytest.UsageError(f"{item.nodeid}: claim id {claim_id!r} is not of the form '<report>.<slug>'")
        function = f"{item.path}::{getattr(item, 'originalname', item.name)}"
        if owners.setdefault(claim_id, function) != function:
            raise pytest.UsageError(f"claim {claim_id} is decided by two tests: {owners[claim_id]} and {function}")
        report = match.group("report")
        item.extra_keyword_matches.add(claim_id)
        if report in SOURCE_REPORTS:
            item.add_marker(getattr(pytest.mark, report))
        finding = _finding(marker, profile)
        reason = finding.why if finding else None
        if finding:
            item.add_marker(pytest.mark.xfail(reason=f"{claim_id} does not hold as measured: {finding.why}",
                                              strict=True, raises=ClaimNotHeld))
            item.stash[_FINDING] = finding
        doc = (getattr(item, "obj", None).__doc__ or "") if hasattr(item, "obj") else ""
        statement = " ".join(doc.strip().split("\n\n")[0].split()) if doc.strip() else ""
        meta = {"claim_id": claim_id, "source": marker.kwargs.get("source", ""), "report": report,
                "statement": statement, "expected_not_to_hold": reason, "test": function, **_instance_meta(item)}
        item.user_properties.append((META_KEY, json.dumps(meta)))


def _instance_meta(item: pytest.Item) -> dict:
    """The test instance's parametrization id and the device it runs on, for the claims report."""
    callspec = getattr(item, "callspec", None)
    device = callspec.params.get("device") if callspec is not None else None
    if device is None and "cuda_device" in getattr(item, "fixturenames", ()):
        device = "cuda"
    return {"instance": callspec.id if callspec is not None else "", "device": str(device) if device else ""}


# -- fixtures ---------------------------------------------------------------------

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
    return _profile_of(pytestconfig)


@pytest.fixture(scope="session")
def seeds(profile: Profile) -> tuple[int, ...]:
    """Seeds of a comparative claim: the first look of the profile's seed plan.

    In a claim test, the plugin runs the body again on the next look's seeds
    while its verdict is inconclusive (see :func:`pytest_pyfunc_call`).
    """
    return profile.seeds


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimRecord:
    """The evidence record of this claim test; its expectations decide the verdict."""
    marker = request.node.get_closest_marker("claim")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the claim fixture without @pytest.mark.claim(...)")
    meta = dict(_meta(request.node))
    record = ClaimRecord(claim_id=marker.args[0], source=marker.kwargs.get("source", ""),
                         statement=meta.get("statement", ""))
    request.node.stash[_CLAIM_RECORD] = record
    return record


def _meta(item: pytest.Item) -> dict:
    for key, value in item.user_properties:
        if key == META_KEY:
            return json.loads(value)
    return {}


# -- the run cache ------------------------------------------------------------------

RUN_COUNTS_KEY = "dlverify.run_cache"
_RUN_COUNTS = pytest.StashKey[Counter]()


def _run_cache_root(config: pytest.Config) -> tuple[Path | None, str]:
    """Where this session keeps trained runs (None: nowhere), and how to say so.

    --run-cache DIR, else ``dlverify-runs`` in pytest's cache folder, so that
    ``--cache-clear`` empties it with the rest; without the cacheprovider
    plugin and without a DIR, nowhere (the runs are trained, not stored).
    """
    if config.getoption("no_run_cache", False):
        return None, "disabled (--no-run-cache)"
    chosen = config.getoption("run_cache", None)
    if chosen:
        return Path(chosen), chosen
    cache = getattr(config, "cache", None)
    if cache is None:
        return None, "disabled (pytest's cacheprovider plugin is off and no --run-cache DIR was given)"
    try:
        path = cache.mkdir("dlverify-runs")
    except OSError as error:
        return None, f"disabled (cannot make dlverify-runs in pytest's cache folder: {error})"
    return path, f"{path}, in pytest's cache (--cache-clear empties it)"


@pytest.fixture(scope="session")
def run_cache(pytestconfig: pytest.Config):
    """The session's :class:`~dlverify.runcache.RunCache`: a trained run is read back, never trained twice.

    Stored in --run-cache DIR, else in pytest's cache folder (``--cache-clear``
    empties it); --no-run-cache trains everything and stores nothing. Each
    pytest-xdist worker opens its own on the same folder; a lock per run makes
    the other workers wait for it, then read it.
    """
    from .runcache import RunCache

    cache = RunCache(_run_cache_root(pytestconfig)[0])
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


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the session runs with: profile, seeds, devices, where the data are, the run cache."""
    profile = _profile_of(config)
    looks = profile.plan.looks
    seeds = f"seeds 0..{looks[0] - 1}"
    if len(looks) > 1:
        seeds += f" (up to {looks[-1]} while inconclusive)"
    return [f"dlverify: profile {profile.name}, {seeds}, devices {', '.join(_devices(config))}"
            + (", deterministic algorithms" if config.getoption("deterministic", False) else ""),
            f"dlverify data: {_data_found()}",
            f"dlverify run cache: {_run_cache_root(config)[1]}"]


def _data_found() -> str:
    """Where each data set's first file is (its folder and how it was found), or that it is not."""
    from .data.location import downloads_allowed, find_file
    from .data.registry import DATASETS

    missing = ("downloaded on first use" if downloads_allowed()
               else "offline: the claims that need it skip")
    places = []
    for name, spec in sorted(DATASETS.items()):
        located = find_file(spec, next(iter(spec.files)))
        how = {"environment": "DLVERIFY_DATA or --data-dir", "cache": "user cache"}.get(
            located.source, located.source) if located is not None else ""
        places.append(f"{name} in {located.path.parent} ({how})" if located is not None
                      else f"{name} not found ({missing})")
    return "; ".join(places)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    counts = config.stash.get(_RUN_COUNTS, None)
    if counts is not None:  # some test used the run_cache fixture
        root = _run_cache_root(config)[0]
        terminalreporter.write_line(f"dlverify run cache: {counts['trained']} trained, {counts['read']} read "
                                    f"({root or 'disabled'})")


# -- deciding ---------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Claim tests (setup, call, teardown) run with ``CLAIM_THREADS`` intra-op threads, restored after."""
    if _claim_marker(item) is None:
        return (yield)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(CLAIM_THREADS)
    try:
        return (yield)
    finally:
        torch.set_num_threads(before)


class SeedLooks:
    """Runs claim tests that take ``seeds`` look by look (registered by :func:`pytest_configure`)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function):
        """Run a claim test that takes ``seeds`` look by look until its verdict is decided.

        Each look of the profile's :class:`~dlverify.stats.SeedPlan` calls the
        test body with that many seeds on a cleared record whose statistical
        expectations are decided at the plan's per-look (Bonferroni) confidence.
        It stops at the first look with a definite verdict (holds or refuted), when
        the test calls ``claim.undecidable(reason)``, or at the budget. The seeds
        used and why it stopped go into the evidence. Other tests run as usual.
        """
        record = pyfuncitem.stash.get(_CLAIM_RECORD, None)
        argnames = pyfuncitem._fixtureinfo.argnames
        if record is None or "seeds" not in argnames or not callable(pyfuncitem.obj):
            return None
        plan = _profile_of(pyfuncitem.config).plan
        first = tuple(pyfuncitem.funcargs["seeds"])
        looks = [look for look in plan.looks if look >= len(first)] if first == tuple(range(len(first))) else []
        if not looks:  # a test that chose its own seeds: one look at the usual confidence
            looks, confidence = [len(first)], None
        else:
            confidence = plan.confidence if len(looks) > 1 else None
        stopped = "budget reached"
        for index, look in enumerate(looks):
            seeds = first if not index and len(first) == look else tuple(range(look))
            record.start_look(confidence)
            pyfuncitem.obj(**{name: (seeds if name == "seeds" else pyfuncitem.funcargs[name]) for name in argnames})
            if record.verdict in ("holds", "refuted", None):  # None: nothing expected; conclude() says so
                stopped = "decided"
                break
            if record.undecidable_reason:
                stopped = "more seeds cannot decide: " + record.undecidable_reason
                break
        record.seeds = {"looks": list(looks), "used": look, "stopped": stopped,
                        "confidence_per_look": confidence if confidence is not None else "as given (one look)"}
        return True


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    try:
        result = yield
    except BaseException:
        _attach(pyfuncitem)
        raise
    record = pyfuncitem.stash.get(_CLAIM_RECORD, None)
    if record is not None:
        try:
            try:
                record.conclude()
            except ClaimNotHeld as not_held:
                _check_finding(pyfuncitem, record, not_held)
                raise
        finally:
            _attach(pyfuncitem)
    return result


def _check_finding(item: pytest.Item, record: ClaimRecord, not_held: ClaimNotHeld) -> None:
    """A claim recorded as not holding must fail exactly the recorded expectations."""
    finding = item.stash.get(_FINDING, None)
    if finding is None:
        return
    mismatch = finding.mismatch([e.description for e in record.failing()])
    if mismatch:
        raise FindingChanged(
            f"{record.claim_id} no longer fails for the recorded reason ({mismatch}); measure it again and "
            f"update its Finding (why, fails) on the claim marker.\n{not_held}") from not_held


def _attach(item: pytest.Item) -> None:
    """The evidence into ``user_properties``; its figures into the stash, for the call report."""
    record = item.stash.get(_CLAIM_RECORD, None)
    if record is not None:
        evidence = record.as_dict()
        item.stash[_FIGURES] = evidence.pop("figures", None) or []
        item.user_properties.append((EVIDENCE_KEY, json.dumps(evidence)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Hand a claim's figures to the controller on the call report, not in ``user_properties``.

    pytest's junitxml writes every user property into the XML; figures are
    hundreds of kilobytes of base64 each. An attribute of the report travels
    through pytest-xdist's serialization all the same.
    """
    report = yield
    figures = item.stash.get(_FIGURES, None)
    if figures and report.when == "call":
        setattr(report, FIGURES_ATTRIBUTE, figures)
    return report


# -- collecting (controller side) ---------------------------------------------------

def _outcome(report: pytest.TestReport) -> str | None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed-strict"
        if report.failed and _failure_text(report).startswith("[XPASS(strict)]"):
            return "xpassed-strict"  # pytest drops wasxfail on a strict xpass and reports a plain failure
        return report.outcome
    if report.skipped:
        return "skipped"
    if report.failed:
        return "error"
    return None


def _failure_text(report: pytest.TestReport) -> str:
    """The failure's text, without the worker line xdist puts first ("[gw0] linux -- Python ...")."""
    return re.sub(r"^\[gw\d+\] [^\n]*\n+", "", report.longreprtext)


class EvidenceCollector:
    """Gathers claim metadata, evidence and outcomes from every test report.

    Registered on the controller (or the only process without xdist). Reports
    from xdist workers arrive here with their ``user_properties`` intact.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, dict] = {}
        self.report_paths: list[Path] = []
        self.report_error = ""
        self.report_note = ""
        self.started = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = {k: v for k, v in report.user_properties if k in (META_KEY, EVIDENCE_KEY)}
        if META_KEY not in props:
            self._worker_crash(report)
            return
        row = self.rows.setdefault(report.nodeid, {"nodeid": report.nodeid, **json.loads(props[META_KEY])})
        row["duration_s"] = row.get("duration_s", 0.0) + (report.duration or 0.0)
        figures = getattr(report, FIGURES_ATTRIBUTE, None) or row.get("evidence", {}).get("figures")
        if EVIDENCE_KEY in props:  # on the call and the teardown report; figures on the call's only
            row["evidence"] = json.loads(props[EVIDENCE_KEY])
        if figures and "evidence" in row:
            row["evidence"]["figures"] = figures
        outcome = _outcome(report)
        if outcome is None or row.get("outcome") not in (None, "passed"):
            return
        row["outcome"] = outcome
        if report.skipped and not hasattr(report, "wasxfail"):
            row["skip_reason"] = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if report.failed:
            row["error"] = _failure_text(report)[-4000:]
            # A failed expectation (ClaimNotHeld) is a finding; any other exception is a crash.
            crash = getattr(report.longrepr, "reprcrash", None)
            row["not_held"] = ClaimNotHeld.__name__ in (getattr(crash, "message", "") or "").split(":", 1)[0]

    def _worker_crash(self, report: pytest.TestReport) -> None:
        """A test whose xdist worker died: xdist reports it without our metadata; keep it as an error row.

        The row usually exists already (from the setup report); if the worker died
        before that, the claim is unknown on the controller and the row is named by
        the test, grouped apart. Without this the report would silently miss a claim.
        """
        text = _failure_text(report) if report.failed else ""
        if not re.match(r"worker '?\w+'? crashed while running", text):
            return
        row = self.rows.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "claim_id": report.nodeid, "report": "worker-crash", "source": "",
            "statement": "A test whose pytest-xdist worker died before it reported which claim it decides."})
        row.update(outcome="error", error=text, not_held=False, worker_crashed=True)

    def finished_rows(self, *, finished_only: bool = False) -> list[dict]:
        """The rows with their verdict; ``finished_only``: only tests that reported an outcome."""
        profile = self.config.getoption("profile", "default")
        rows = [{**row, "profile": profile} for row in self.rows.values()
                if not finished_only or row.get("outcome") is not None]
        for row in rows:
            row["verdict"] = verdict_of(row)
        return rows

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = _now()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        """Merge this run's rows into the report folder (:mod:`dlverify.report.runs`), atomically.

        An interrupted run (Ctrl-C) merges only the claim tests that finished and
        is recorded as interrupted; if none finished, the report is left as it was.
        A report that cannot be written fails the session (it was checked at startup).
        """
        target = self.config.getoption("claims_report", None)
        if not target or not self.rows:
            return
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        rows = self.finished_rows(finished_only=interrupted)
        if not rows:
            self.report_note = (f"interrupted before any claim test finished: {target} was left "
                                f"as it was")
            return
        from .errors import ReportError
        from .report import merge, read_report, write_report
        from .report.runs import JSON_NAME

        env = {**environment(self.config), "started": self.started, "finished": _now()}
        run = {"started": self.started, "finished": env["finished"], "command": env["command"],
               "interrupted": interrupted, "environment": env}
        try:
            folder = Path(target)
            previous = read_report(folder) if (folder / JSON_NAME).exists() else None
            merged, runs = merge(previous, rows, run)
            titles = {**((previous or {}).get("titles") or {}), **SOURCE_REPORTS,
                      "worker-crash": "Tests whose xdist worker crashed"}
            self.report_paths = write_report(merged, folder, env, titles=titles, runs=runs)
        except (OSError, ReportError) as error:
            self.report_error = f"claims report NOT written to {target}: {error}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        kept = len(merged) - len(rows)
        notes = [f"{kept} rows kept from earlier runs"] if kept else []
        if interrupted:
            notes.append(f"interrupted: {len(rows)} finished claim tests merged, marked as from an "
                         f"interrupted run")
        self.report_note = "; ".join(notes)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.rows:
            if self.config.getoption("claims_report", None):
                terminalreporter.write_line("dlverify: no claim test ran, so no claims report was written")
            return
        counts = Counter(row["verdict"] for row in self.finished_rows())
        order = ("holds", "refuted", "inconclusive", "skipped", "error")
        claims = len({row.get("claim_id") for row in self.rows.values()})
        terminalreporter.section("dlverify claims")
        terminalreporter.write_line(", ".join(f"{counts.get(v, 0)} {v}" for v in order)
                                    + f"  ({claims} claims, {len(self.rows)} claim tests)")
        if self.report_paths:
            others = ", ".join(path.name for path in self.report_paths[1:])
            terminalreporter.write_line(f"claims report written: {self.report_paths[0]}"
                                        + (f" (with {others})" if others else ""))
        if self.report_note:
            terminalreporter.write_line(f"claims report: {self.report_note}")
        if self.report_error:
            terminalreporter.write_line(self.report_error, red=True)


def verdict_of(row: dict) -> str:
    """The verdict shown for one test: holds, refuted, inconclusive, skipped or error."""
    outcome = row.get("outcome")
    evidence = row.get("evidence") or {}
    if outcome == "passed":
        return "holds"
    if outcome == "xfailed":
        return evidence.get("verdict") or "refuted"
    if outcome == "skipped":
        return "skipped"
    if outcome == "xpassed-strict":
        return "error"  # holds now although marked as not holding: the catalogue must be updated
    if outcome == "failed" and evidence.get("verdict") in ("refuted", "inconclusive"):
        return "error"  # not holding but not marked so: a new finding to record
    return "error"


def environment(config: pytest.Config) -> dict:
    """What the run depended on: versions, devices, profile, seeds, determinism."""
    import platform

    import torch

    from . import __version__

    profile = Profile.make(config.getoption("profile"), config.getoption("seeds"))
    cuda = torch.cuda.is_available()
    return {
        "dlverify": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device_option": config.getoption("device"),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "profile": profile.name,
        "seeds": list(profile.seeds),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "xdist_workers": getattr(config.option, "numprocesses", None),
        "cpu": _cpu_name(),
        "torch_threads": _threads_per_process(config),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "command": " ".join(["pytest", *config.invocation_params.args]),
    }


def _threads_per_process(config: pytest.Config) -> int:
    """Torch intra-op threads of each test process (what _limit_threads sets on the workers)."""
    threads = config.getoption("torch_threads", None)
    workers = getattr(config.option, "numprocesses", None)
    if threads is None and isinstance(workers, int) and workers > 0:
        threads = max(1, (os.cpu_count() or 1) // workers)
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return threads


def _cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux, else platform.processor())."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
