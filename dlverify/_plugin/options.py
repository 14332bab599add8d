"""The plugin's command-line options, their checks at startup, and the session header.

Every option is checked when the session starts (pytest_configure), so that a
typo stops the run with what to do instead of surfacing after hours of
training: --device cuda without CUDA, a missing --data-dir, bad --seeds, a
--claims-report or --run-cache folder that cannot be written.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from ..profiles import DEFAULT_MAX_SEEDS, DEFAULT_SEEDS, PROFILES, Profile, ProfileError
from .keys import CLAIM_THREADS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dlverify", "dlverify claims")
    group.addoption(
        "--device",
        choices=("cpu", "cuda", "all"),
        default="cpu",
        help="run device-parametrized tests on cpu (default), cuda, or all available "
        "devices; cuda without CUDA is a usage error, never a silent CPU run; with "
        "several GPUs, xdist worker gwN runs on GPU N mod their number",
    )
    group.addoption(
        "--profile",
        choices=PROFILES,
        default="default",
        help="default: documented protocols scaled to fit a 2-core CPU where needed "
        "(and reported); full: the documented protocols as written (for GPU "
        "machines)",
    )
    group.addoption(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds of a comparative claim's first look (default: "
        f"{DEFAULT_SEEDS['default']} under the default profile, "
        f"{DEFAULT_SEEDS['full']} under full)",
    )
    group.addoption(
        "--max-seeds",
        type=int,
        default=None,
        metavar="M",
        help="seed budget: an inconclusive comparative claim is run again on more "
        f"seeds up to M (default: {DEFAULT_MAX_SEEDS['default']} under the "
        f"default profile, {DEFAULT_MAX_SEEDS['full']} under full; each look is decided "
        "at its share of the error, so looking again does not inflate it)",
    )
    group.addoption(
        "--deterministic",
        action="store_true",
        default=False,
        help="turn on torch.use_deterministic_algorithms (and CUBLAS_WORKSPACE_CONFIG "
        "on CUDA) in every test process, for runs that must be bitwise "
        "reproducible",
    )
    group.addoption(
        "--torch-threads",
        type=int,
        default=None,
        metavar="N",
        help="torch intra-op threads per process for everything but claim tests "
        "(default: CPU cores divided by the number of pytest-xdist workers); "
        f"claim tests always compute with {CLAIM_THREADS} thread so that their "
        "numbers, and so their verdicts, do not depend on it: use -n for parallel "
        "claims",
    )
    group.addoption(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="a folder with mnist/ and fashion-mnist/ (IDX files); searched before "
        "$DLVERIFY_DATA, the user cache and /usr/share/datasets",
    )
    group.addoption(
        "--claims-report",
        default=None,
        metavar="DIR",
        help="write the claims report (index.html, claims.md, claims.json) to DIR, "
        "atomically; a run of some claims (-k, -m, --lf) merges into the report "
        "already in DIR, replacing the rows it ran; DIR must be new, empty or an "
        "earlier report (checked at startup)",
    )
    group.addoption(
        "--run-cache",
        default=None,
        metavar="DIR",
        help="keep trained runs in DIR and read them back instead of training again, "
        "across sessions and xdist workers (default: dlverify-runs in pytest's "
        "cache folder, emptied by --cache-clear)",
    )
    group.addoption(
        "--no-run-cache",
        action="store_true",
        default=False,
        help="bypass the run cache: train every run, read and store nothing",
    )


# The workerinput key by which the controller tells a worker it switched -n to loadgroup.
_LOADGROUP_SET = "dlverify_loadgroup"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Check every option, then apply it: data folder, threads, determinism, xdist's --dist."""
    device = config.getoption("device", "cpu")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError(
                f"--device cuda was given but CUDA is not available (torch {torch.__version__}, "
                "torch.cuda.is_available() is False). Install a CUDA build of torch on a machine "
                "with an NVIDIA GPU, or run with --device cpu (or --device all to use every "
                "available device)."
            )
    _pin_worker_gpu(config)
    data_dir = config.getoption("data_dir", None)
    if data_dir:
        path = Path(data_dir).expanduser().resolve()
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            raise pytest.UsageError(
                f"--data-dir {data_dir}: {path} {what}; give the folder that "
                f"holds mnist/ and fashion-mnist/"
            )
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
    # xdist sends the groups with the most tests first; keeping the collection
    # order lets a project's collection hook decide (claims/conftest.py: the
    # longest training first).
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"
        config.option.loadscopereorder = False
    # A worker parses the command line again, so it learns of the switch from
    # its workerinput (pytest_configure_node below), and only then tags each
    # test with its group.
    if getattr(config, "workerinput", {}).get(_LOADGROUP_SET):
        config.option.loadgroup = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell an xdist worker that dlverify switched ``-n``'s distribution to loadgroup."""
    node.workerinput[_LOADGROUP_SET] = node.config.option.dist == "loadgroup"


def _pin_worker_gpu(config: pytest.Config) -> None:
    """On a host with several GPUs, xdist worker ``gwN`` computes on GPU ``N mod count``.

    ``torch.cuda.set_device`` makes that GPU the one ``"cuda"`` means in the
    worker, so ``pytest -n N --device cuda`` spreads the claims over the GPUs
    with no change to a claim: torch.distributed's one process per GPU, with
    its ``torch.cuda.set_device(local_rank)``, and the worker index as the
    rank. Nothing happens in a single process, with one GPU, or under
    ``--device cpu``; ``CUDA_VISIBLE_DEVICES`` still chooses which GPUs are
    counted.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or config.getoption("device", "cpu") == "cpu":
        return
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return
    worker = int(workerinput["workerid"].removeprefix("gw"))
    torch.cuda.set_device(worker % torch.cuda.device_count())


def _check_data_roots() -> None:
    """A DLVERIFY_DATA folder that does not exist stops the session (not a skip of every claim)."""
    from ..data.location import environment_roots
    from ..errors import DataLocationError

    try:
        environment_roots()
    except DataLocationError as error:
        raise pytest.UsageError(str(error)) from None


def _check_profile(config: pytest.Config) -> None:
    """Bad --seeds / --max-seeds values stop the run at startup, with the rule they broke."""
    try:
        profile_of(config)
    except ProfileError as error:
        raise pytest.UsageError(str(error)) from None


def profile_of(config: pytest.Config) -> Profile:
    """The session's :class:`~dlverify.profiles.Profile` (--profile, --seeds, --max-seeds)."""
    return Profile.make(
        config.getoption("profile", "default"),
        config.getoption("seeds", None),
        config.getoption("max_seeds", None),
    )


def _check_claims_report(config: pytest.Config) -> None:
    """--claims-report DIR must be a place a report can be written: checked at startup, not after.

    A relative DIR is taken from the invocation folder. Only the process that
    writes the report checks it (the controller, or the only process).
    """
    value = config.getoption("claims_report", None)
    if value is None or hasattr(config, "workerinput"):
        return
    from ..errors import ReportError
    from ..report.writer import check_report_folder

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


def devices(config: pytest.Config) -> list[str]:
    """The devices --device names: cpu, cuda, or every available one."""
    choice = config.getoption("device", "cpu")
    if choice == "cpu":
        return ["cpu"]
    if choice == "cuda":
        return ["cuda"]
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run_cache_root(config: pytest.Config) -> tuple[Path | None, str]:
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
        return None, (
            "disabled (pytest's cacheprovider plugin is off and no --run-cache DIR was given)"
        )
    try:
        path = cache.mkdir("dlverify-runs")
    except OSError as error:
        return None, f"disabled (cannot make dlverify-runs in pytest's cache folder: {error})"
    return path, f"{path}, in pytest's cache (--cache-clear empties it)"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the session runs with: profile, seeds, devices, where the data are, the run cache."""
    profile = profile_of(config)
    looks = profile.plan.looks
    seeds = f"seeds 0..{looks[0] - 1}"
    if len(looks) > 1:
        seeds += f" (up to {looks[-1]} while inconclusive)"
    return [
        f"dlverify: profile {profile.name}, {seeds}, devices {', '.join(devices(config))}"
        + (", deterministic algorithms" if config.getoption("deterministic", False) else ""),
        f"dlverify data: {_data_found()}",
        f"dlverify run cache: {run_cache_root(config)[1]}",
    ]


def _data_found() -> str:
    """Where each data set's first file is (its folder and how it was found), or that it is not."""
    from ..data.location import downloads_allowed, find_file
    from ..data.registry import DATASETS

    missing = (
        "downloaded on first use"
        if downloads_allowed()
        else "offline: the claims that need it skip"
    )
    places = []
    for name, spec in sorted(DATASETS.items()):
        located = find_file(spec, next(iter(spec.files)))
        how = (
            {"environment": "DLVERIFY_DATA or --data-dir", "cache": "user cache"}.get(
                located.source, located.source
            )
            if located is not None
            else ""
        )
        places.append(
            f"{name} in {located.path.parent} ({how})"
            if located is not None
            else f"{name} not found ({missing})"
        )
    return "; ".join(places)
