"""The pytest plugin: options, markers, verdict semantics, evidence across xdist workers."""

from __future__ import annotations

import json
import os

import pytest
import torch

from dlverify.evidence import Finding
from tests.conftest import OPT_IN

pytest_plugins = ["pytester"]
# A project's catalogue of source reports (this repository's is in claims/conftest.py).
CATALOGUE = """
from dlverify.report import Catalogue, SourceReport

def pytest_dlverify_source_reports(config):
    return Catalogue((SourceReport("lab2", "Lab 2 of the course"),
                      SourceReport("hw1", "Homework 1")),
                     description="Each claim of two reports.")
"""


CLAIMS = '''
import pytest
from dlverify.evidence import Finding

@pytest.mark.claim("demo.holds", source="demo §1")
def test_holds(claim):
    """Two plus two is four."""
    claim.report(value=4)
    claim.measure(value=2 + 2)
    claim.expect(2 + 2 == 4, "sum is four")

@pytest.mark.claim("demo.refuted", xfail=Finding("two plus three is five", fails=["sum is four"]))
def test_refuted(claim):
    """Two plus three is four."""
    claim.measure(value=5)
    claim.expect(2 + 3 == 4, "sum is four")

@pytest.mark.claim("demo.crash", xfail=Finding("should never be reached", fails=["never"]))
def test_crash(claim):
    """A crash is not a verdict."""
    claim.measure(value=1)
    raise RuntimeError("boom")

@pytest.mark.claim("demo.skipped")
def test_skipped(claim):
    pytest.skip("needs a data set that is not here")
'''


def test_help_documents_every_option(project):
    result = project.runpytest("--help")
    for option in (
        "--device",
        "--profile",
        "--seeds",
        "--torch-threads",
        "--data-dir",
        "--claims-report",
    ):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_markers_are_documented(project):
    project.makeconftest(OPT_IN + CATALOGUE)
    result = project.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.claim(claim_id*",
            "@pytest.mark.lab2: claims from the source report Lab 2 of the course*",
        ]
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(project):
    project.makepyfile("def test_nothing(): pass")
    result = project.runpytest("--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--device cuda was given but CUDA is not available*--device cpu*"]
    )
    result.stdout.no_fnmatch_line("*1 passed*")


# A host with three GPUs, as far as torch.cuda tells: a project's conftest.py stands in for them.
THREE_GPUS = """
import torch

torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: 3
torch.cuda.pinned = []
torch.cuda.set_device = torch.cuda.pinned.append
"""

WHERE = """
import os, pytest, torch

@pytest.mark.parametrize("i", range(8))
def test_where(device, i):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"{worker}.txt", "w") as f:
        f.write(repr(torch.cuda.pinned))
"""


def _pinned(project) -> dict[str, str]:
    return {path.stem: path.read_text() for path in project.path.glob("*.txt")}


@pytest.mark.slow
def test_each_xdist_worker_computes_on_its_own_gpu(project):
    project.makeconftest(OPT_IN + THREE_GPUS)
    project.makepyfile(test_where=WHERE)
    result = project.runpytest_subprocess("-n", "4", "--device", "cuda")
    result.assert_outcomes(passed=8)
    pinned = _pinned(project)
    assert pinned, "no worker ran a test"
    for worker, devices in pinned.items():
        assert devices == repr([int(worker.removeprefix("gw")) % 3]), pinned


@pytest.mark.parametrize("args", [["--device", "cuda"], ["-n", "2"]], ids=["one-process", "cpu"])
def test_no_gpu_is_pinned_in_one_process_or_on_the_cpu(project, args):
    project.makeconftest(OPT_IN + THREE_GPUS)
    project.makepyfile(test_where=WHERE)
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=8)
    assert set(_pinned(project).values()) == {"[]"}


def test_device_fixture_is_parametrized_and_in_the_test_id(project):
    project.makepyfile("def test_on(device):\n    assert device.type in ('cpu', 'cuda')\n")
    result = project.runpytest("-v", "--device", "all")
    result.stdout.fnmatch_lines(["*test_on?cpu? PASSED*"])
    assert result.ret == 0


def test_a_project_that_owns_device_keeps_it(project):
    """Installing dlverify must not re-collect another project's tests that use the name."""
    project.makeconftest(
        OPT_IN + "import pytest\n@pytest.fixture\ndef device():\n    return 'mine'\n"
    )
    project.makepyfile(
        "import pytest\n"
        "def test_own_fixture(device):\n    assert device == 'mine'\n"
        "@pytest.mark.parametrize('device', ['a', 'b'])\n"
        "def test_own_parameters(device):\n    assert device in 'ab'\n"
    )
    result = project.runpytest("-v", "--device", "all")
    result.stdout.fnmatch_lines(
        [
            "*test_own_fixture PASSED*",
            "*test_own_parameters?a? PASSED*",
            "*test_own_parameters?b? PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)


def test_verdicts_pass_xfail_skip_and_a_crash_is_never_a_refutation(project):
    project.makepyfile(CLAIMS)
    result = project.runpytest("-rA")
    result.assert_outcomes(passed=1, xfailed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*RuntimeError: boom*",
            "*dlverify claims*",
            "1 holds, 1 refuted, 0 inconclusive, 1 skipped, 1 error*",
            "FAILED*test_crash*",
        ]
    )


def test_unmarked_failure_is_a_failure_with_the_numbers(project):
    project.makepyfile("""
import pytest
@pytest.mark.claim("demo.new-finding")
def test_new(claim):
    claim.measure(gap=0.3)
    claim.expect(False, "gap below 0.1")
""")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ClaimNotHeld: demo.new-finding: refuted*", "*gap below 0.1: refuted*", '*"gap": 0.3*']
    )


@pytest.mark.parametrize(
    "finding, expect, message",
    [
        # A claim that starts to hold.
        (
            'Finding("not held last time", fails=["it holds now"])',
            "True, 'it holds now'",
            "*XPASS(strict)*",
        ),
        # An undecided expectation does not excuse a change in another one.
        (
            'Finding("edge undecided", undecided=["edge"])',
            "False, 'core'",
            "*now also failing: core*",
        ),
    ],
)
def test_a_finding_that_no_longer_matches_turns_the_suite_red(project, finding, expect, message):
    project.makepyfile(f"""
import pytest
from dlverify.evidence import Finding
@pytest.mark.claim("demo.changed", xfail={finding})
def test_c(claim):
    claim.expect({expect})
""")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_profile_specific_xfail(project):
    project.makepyfile("""
import pytest
from dlverify.evidence import Finding
@pytest.mark.claim(
    "demo.profile",
    xfail={
        "default": Finding("fails when scaled down", fails=["only holds under the full protocol"])
    },
)
def test_p(claim, profile):
    claim.expect(profile.full, "only holds under the full protocol")
""")
    project.runpytest().assert_outcomes(xfailed=1)
    project.runpytest("--profile", "full").assert_outcomes(passed=1)


# An expectation on its threshold: held on one CPU, inconclusive on another (Finding.undecided).
UNDECIDED = """
import os
import pytest
from dlverify.evidence import Finding
from dlverify.stats import compare_to_value

def outcome(name):
    # Stands in for a machine's rounding: DEMO_CPU picks which way the borderline one goes.
    return {"holds": [2.0, 2.1, 1.9], "undecided": [0.1, -0.2, 0.3], "refuted": [-2.0, -2.1, -1.9]}[
        os.environ.get(name, "holds")]

@pytest.mark.claim("demo.borderline", xfail=Finding(
    "the edge is on its threshold", fails=["core fails"], undecided=["edge is positive"]))
def test_borderline(claim):
    claim.expect(False, "core fails")
    claim.expect(compare_to_value(outcome("DEMO_EDGE"), 0.0, alternative="greater"), "edge is positive")

@pytest.mark.claim("demo.may-hold", xfail=Finding(
    "holds on one CPU, undecided on another", undecided=["edge is positive"]))
def test_may_hold(claim):
    claim.expect(True, "core holds")
    claim.expect(compare_to_value(outcome("DEMO_EDGE"), 0.0, alternative="greater"), "edge is positive")
"""


@pytest.mark.parametrize(
    "edge, outcomes",
    [
        ("holds", {"xfailed": 1, "passed": 1}),
        ("undecided", {"xfailed": 2}),
        ("refuted", {"failed": 2}),
    ],
)
def test_undecided_expectations_may_hold_or_stay_inconclusive_but_not_turn(
    project, monkeypatch, edge, outcomes
):
    """A Finding's undecided expectations: holds or inconclusive pass as recorded; refuted is a change."""
    project.makepyfile(UNDECIDED)
    monkeypatch.setenv("DEMO_EDGE", edge)
    result = project.runpytest()
    result.assert_outcomes(**outcomes)
    if edge == "refuted":
        result.stdout.fnmatch_lines(["*refuted, recorded as undecided: edge is positive*"])


def test_findings_name_their_expectations_once():
    with pytest.raises(ValueError, match="both fail and be undecided"):
        Finding("x", fails=["a"], undecided=["a"])
    with pytest.raises(ValueError, match="at least one expectation"):
        Finding("x")


def test_a_claim_test_must_decide_something(project):
    project.makepyfile("""
import pytest
@pytest.mark.claim("demo.undecided")
def test_u(claim):
    claim.measure(x=1)
""")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*recorded no expectation*"])


@pytest.mark.parametrize(
    "source, message",
    [
        ('@pytest.mark.claim("Bad Id")\ndef test_a(claim): pass', "*is not of the form*"),
        (
            '@pytest.mark.claim("demo.x")\ndef test_a(claim): pass\n'
            '@pytest.mark.claim("demo.x")\ndef test_b(claim): pass',
            "*claim demo.x is decided by two tests*",
        ),
    ],
)
def test_malformed_claims_are_usage_errors(project, source, message):
    project.makepyfile("import pytest\n" + source)
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_claim_fixture_needs_the_marker(project):
    project.makepyfile("def test_a(claim): pass")
    result = project.runpytest()
    result.assert_outcomes(errors=1)


def test_select_by_claim_id_and_by_report(project):
    project.makeconftest(OPT_IN + CATALOGUE)
    project.makepyfile("""
import pytest
@pytest.mark.claim("lab2.zero-init-stalls")
def test_a(claim): claim.expect(True, "ok")
@pytest.mark.claim("hw1.minimal-ratio")
def test_b(claim): claim.expect(True, "ok")
""")
    project.runpytest("-k", "lab2.zero-init-stalls").assert_outcomes(passed=1, deselected=1)
    project.runpytest("-m", "hw1").assert_outcomes(passed=1, deselected=1)


TWO_REPORTS = """
import pytest
@pytest.mark.claim("lab2.b-claim")
def test_a(claim): claim.expect(True, "ok")
@pytest.mark.claim("hw1.a-claim")
def test_b(claim): claim.expect(True, "ok")
"""


def _groups(project) -> tuple[list[str], dict]:
    """The report groups' order in claims.md, and claims.json, of a run with --claims-report out."""
    result = project.runpytest("--claims-report", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    markdown = (project.path / "out" / "claims.md").read_text()
    headings = [
        line[3:] for line in markdown.splitlines() if line.startswith("## ") and " — " in line
    ]
    return headings, json.loads((project.path / "out" / "claims.json").read_text())


def test_without_a_catalogue_reports_are_sorted_by_id_and_are_no_markers(project):
    project.makepyfile(TWO_REPORTS)
    assert "@pytest.mark.lab2" not in project.runpytest("--markers").stdout.str()
    project.runpytest("-m", "hw1").assert_outcomes(deselected=2)
    headings, data = _groups(project)
    assert headings == ["hw1 — hw1", "lab2 — lab2"]
    neutral = "Each claim, decided by measurement."
    assert data["report_order"] == [] and data["description"] == neutral
    assert neutral in (project.path / "out" / "index.html").read_text()


def test_a_catalogue_gives_the_order_titles_markers_and_description(project):
    project.makeconftest(OPT_IN + CATALOGUE)
    project.makepyfile(TWO_REPORTS)
    project.runpytest("-m", "hw1", "--strict-markers").assert_outcomes(passed=1, deselected=1)
    headings, data = _groups(project)
    assert headings == ["lab2 — Lab 2 of the course", "hw1 — Homework 1"]
    assert data["report_order"] == ["lab2", "hw1"] and data["titles"]["hw1"] == "Homework 1"
    assert "Each claim of two reports." in (project.path / "out" / "index.html").read_text()


def test_a_catalogue_that_is_not_one_is_a_usage_error(project):
    project.makeconftest(
        OPT_IN + "def pytest_dlverify_source_reports(config):\n    return {'lab2': 'Lab 2'}\n"
    )
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*pytest_dlverify_source_reports returned dict; return a dlverify.report.Catalogue*"]
    )


def test_seeds_and_profile_fixtures(project):
    project.makepyfile("""
def test_s(seeds, profile):
    assert seeds == profile.seeds == (0, 1, 2, 3, 4)
    assert profile.name == "full" and profile.pick(default=1, full=2) == 2
""")
    project.runpytest("--profile", "full").assert_outcomes(passed=1)
    project.makepyfile(test_two="def test_t(seeds):\n    assert seeds == (0, 1)\n")
    project.runpytest("test_two.py", "--seeds", "2").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--data-dir", "no/such/folder"],
            "*--data-dir no/such/folder: *folder does not exist; give the folder*",
        ),
        (["--data-dir", "a-file"], "*--data-dir a-file: *a-file is a file, not a folder*"),
        (["--torch-threads", "0"], "*--torch-threads must be at least 1, got 0*"),
        (["--max-seeds", "0"], "*--max-seeds (0) must be at least --seeds (3)*"),
        (["--seeds", "two"], "*--seeds: invalid int value: 'two'*"),
        (["--device", "gpu"], "*--device: invalid choice: 'gpu'*"),
        (
            ["--claims-report", "a-file"],
            "*--claims-report a-file: *a-file is a file, not a folder*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors_at_startup(project, arguments, message):
    project.makepyfile("def test_a(): pass")
    project.path.joinpath("a-file").write_text("not a folder")
    result = project.runpytest(*arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*passed*")


def test_data_environment_folder_must_exist(project, monkeypatch):
    project.makepyfile("def test_a(): pass")
    monkeypatch.setenv("DLVERIFY_DATA", str(project.path / "no-such-folder"))
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*DLVERIFY_DATA names *no-such-folder, which is not a folder*"])


@pytest.mark.slow
def test_evidence_and_thread_limits_survive_xdist(project):
    project.makepyfile(CLAIMS)
    project.makepyfile(
        test_threads="""
import os, torch
def test_threads():
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    assert torch.get_num_threads() == max(1, (os.cpu_count() or 1) // workers)
"""
    )
    result = project.runpytest_subprocess("-n", "2", "--claims-report", "out")
    result.assert_outcomes(passed=2, xfailed=1, failed=1, skipped=1)
    rows = {
        row["claim_id"]: row
        for row in json.loads((project.path / "out" / "claims.json").read_text())["claims"]
    }
    assert {k: v["verdict"] for k, v in rows.items()} == {
        "demo.holds": "holds",
        "demo.refuted": "refuted",
        "demo.crash": "error",
        "demo.skipped": "skipped",
    }
    assert rows["demo.holds"]["evidence"]["measured"] == {"value": 4}
    assert rows["demo.holds"]["statement"] == "Two plus two is four."
    assert "needs a data set" in rows["demo.skipped"]["skip_reason"]


# -- the run cache ----------------------------------------------------------------

RUNS = """
from pathlib import Path
import torch

def train():
    with open(Path(__file__).parent / "trained.txt", "a") as calls:
        calls.write("x")
    return {"w": torch.arange(3.0)}

def test_run(run_cache):
    payload = run_cache.get_or_create({"protocol": "demo/1", "seed": 0, "device": "cpu"}, train)
    assert payload["w"].tolist() == [0.0, 1.0, 2.0]
"""


def trained(project) -> int:
    """How many times the runs of RUNS were trained so far."""
    calls = project.path / "trained.txt"
    return len(calls.read_text()) if calls.exists() else 0


def stored(folder) -> list:
    return sorted(path.suffix for path in folder.rglob("*") if path.suffix in (".pt", ".json"))


def test_help_documents_the_run_cache_options(project):
    result = project.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*--run-cache=DIR*keep trained runs in DIR*", "*--no-run-cache*train every run*"]
    )


def test_run_cache_dir_receives_runs_and_the_next_session_reads_them(project):
    project.makepyfile(RUNS)
    first = project.runpytest("--run-cache", "runs")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        [f"dlverify run cache: {project.path / 'runs'}", "dlverify run cache: 1 trained, 0 read*"]
    )
    assert trained(project) == 1 and stored(project.path / "runs") == [".json", ".pt"]
    second = project.runpytest("--run-cache", "runs")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["dlverify run cache: 0 trained, 1 read*"])
    assert trained(project) == 1


def test_no_run_cache_trains_every_time_and_stores_nothing(project):
    project.makepyfile(RUNS)
    for _ in range(2):
        result = project.runpytest("--no-run-cache")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            [
                "dlverify run cache: disabled (--no-run-cache)",
                "dlverify run cache: 1 trained, 0 read*",
            ]
        )
    assert trained(project) == 2 and stored(project.path) == []


def test_default_run_cache_is_in_pytests_cache_and_cache_clear_empties_it(project):
    project.makepyfile(RUNS)
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    runs = project.path / ".pytest_cache" / "d" / "dlverify-runs"
    result.stdout.fnmatch_lines(
        [f"dlverify run cache: {runs}, in pytest's cache (--cache-clear empties it)"]
    )
    assert stored(runs) == [".json", ".pt"]
    project.runpytest().assert_outcomes(passed=1)
    assert trained(project) == 1
    project.runpytest("--cache-clear").assert_outcomes(passed=1)
    assert trained(project) == 2  # cleared, so trained again (and stored again)
    assert stored(runs) == [".json", ".pt"]


def test_without_pytests_cache_and_without_a_dir_the_run_cache_is_off(project):
    project.makepyfile(RUNS)
    for _ in range(2):
        result = project.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            ["dlverify run cache: disabled (pytest's cacheprovider plugin is off*"]
        )
    assert trained(project) == 2 and stored(project.path) == []
    project.runpytest("-p", "no:cacheprovider", "--run-cache", "runs").assert_outcomes(passed=1)
    assert stored(project.path / "runs") == [".json", ".pt"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--run-cache", "a-file"], "*--run-cache a-file: *a-file is a file, not a folder*"),
        (["--run-cache", "a-file/runs"], "*--run-cache a-file/runs: cannot write in *a-file/runs*"),
        (
            ["--run-cache", "runs", "--no-run-cache"],
            "*--run-cache and --no-run-cache were both given*",
        ),
    ],
)
def test_a_run_cache_that_cannot_be_used_is_a_usage_error(project, arguments, message):
    project.makepyfile("def test_a(): pass")
    project.path.joinpath("a-file").write_text("not a folder")
    result = project.runpytest(*arguments)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write in a read-only folder"
)
def test_a_read_only_run_cache_is_a_usage_error(project):
    project.makepyfile("def test_a(): pass")
    folder = project.mkdir("read-only")
    folder.chmod(0o500)
    try:
        result = project.runpytest("--run-cache", "read-only")
    finally:
        folder.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--run-cache read-only: cannot write in*"])


@pytest.mark.slow
def test_xdist_workers_share_the_run_cache_and_train_a_run_once(project):
    project.makepyfile(
        RUNS
        + """
import time, pytest

@pytest.mark.parametrize("i", range(3))
def test_same_run(run_cache, i):
    time.sleep(0.5)  # let both workers get tests
    test_run(run_cache)
"""
    )
    result = project.runpytest_subprocess("-n", "2", "--run-cache", "runs")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["dlverify run cache: 1 trained, 3 read*"])
    assert trained(project) == 1


GROUPS = """
import os, pytest

def log(name):
    with open("order.txt", "a") as f:
        f.write(name + " " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.xdist_group("one")
def test_one():
    log("one")

@pytest.mark.xdist_group("many")
@pytest.mark.parametrize("i", range(6))
def test_many(i):
    log("many")

@pytest.mark.xdist_group("many")
@pytest.mark.claim("demo.grouped", source="demo §2")
def test_grouped(claim):
    log("many")
    claim.expect(True, "always")
"""


def _logged(project) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in (project.path / "order.txt").read_text().splitlines()]


@pytest.mark.slow
def test_xdist_keeps_a_group_on_one_worker(project):
    # -n alone means --dist load, which ignores xdist_group; the plugin switches to loadgroup,
    # and its workers, which parse the command line again, must honour it too.
    project.makepyfile(test_groups=GROUPS)
    result = project.runpytest_subprocess("-n", "2", "--claims-report", "out")
    result.assert_outcomes(passed=8)
    assert len({worker for name, worker in _logged(project) if name == "many"}) == 1
    # The report names the test as a run without -n does (xdist appends "@many" to its id).
    (row,) = json.loads((project.path / "out" / "claims.json").read_text())["claims"]
    assert row["nodeid"] == "test_groups.py::test_grouped"


@pytest.mark.slow
def test_xdist_sends_groups_in_the_collection_order(project):
    # loadgroup would send the group with the most tests first; the plugin keeps the
    # collection order, so that a project's collection hook (claims/conftest.py: longest
    # training first) decides what starts first.
    project.makepyfile(test_groups=GROUPS)
    result = project.runpytest_subprocess("-n", "1")
    result.assert_outcomes(passed=8)
    assert [name for name, _ in _logged(project)] == ["one"] + ["many"] * 7


def test_an_explicit_dist_mode_is_left_as_given(project):
    project.makepyfile(
        test_dist="""
def test_dist(pytestconfig):
    assert pytestconfig.option.dist == "loadscope"
    assert pytestconfig.option.loadscopereorder
"""
    )
    result = project.runpytest("--dist", "loadscope")
    result.assert_outcomes(passed=1)
