"""Reports that survive: atomic writing, subset runs merged, interrupted runs marked, the folder
checked at startup, figures kept out of junit XML, and the ``report`` and ``compare`` commands."""

from __future__ import annotations

import json
import os

# imported once here: pytester's in-process runs must not import them again
import matplotlib.pyplot  # noqa: F401
import pytest
import torch  # noqa: F401  (likewise; the plugin's environment() imports it)

from dlverify.__main__ import main
from dlverify.report import html, read_report
from dlverify.report.compare import compare

pytest_plugins = ["pytester"]

CLAIMS = """
import os
import pytest
from dlverify.report.figures import curves

VALUE = float(os.environ.get("FAKE_VALUE", "1.0"))


@pytest.mark.claim("lab1.first", source="lab1 §1")
def test_first(claim):
    claim.measure(value=VALUE)
    claim.figure(curves({"loss": [3.0, 2.0, 1.0]}), "loss")
    claim.expect(VALUE < 2, "value below 2")


@pytest.mark.claim("lab1.second", source="lab1 §2")
def test_second(claim):
    if os.environ.get("FAKE_INTERRUPT"):
        raise KeyboardInterrupt
    claim.measure(value=2.0)
    claim.expect(True, "always")


@pytest.mark.claim("hw1.third", source="hw1 §3")
def test_third(claim):
    claim.measure(value=3.0)
    claim.expect(True, "always")
"""
ALL = {"test_claims.py::test_first", "test_claims.py::test_second", "test_claims.py::test_third"}


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    """The opted-in project (tests/conftest.py) with three claims."""
    project.makepyfile(test_claims=CLAIMS)
    return project


def _run(pytester: pytest.Pytester, *args: str):
    """An in-process run; a KeyboardInterrupt in a test ends that run only (as Ctrl-C would)."""
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--claims-report", "out", *args, no_reraise_ctrlc=True
    )


def _files(folder) -> dict:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def _rows(pytester: pytest.Pytester) -> dict:
    return {row["nodeid"]: row for row in read_report(pytester.path / "out")["claims"]}


def test_a_subset_run_replaces_its_rows_and_keeps_the_others(project, monkeypatch):
    _run(project).assert_outcomes(passed=3)
    monkeypatch.setenv("FAKE_VALUE", "5.0")
    result = _run(project, "-k", "first")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["claims report: 2 rows kept from earlier runs"])
    report = read_report(project.path / "out")
    rows = {row["nodeid"]: row for row in report["claims"]}
    assert set(rows) == ALL
    assert {nodeid: (row["run"], row["verdict"]) for nodeid, row in rows.items()} == {
        "test_claims.py::test_first": (2, "error"),
        "test_claims.py::test_second": (1, "holds"),
        "test_claims.py::test_third": (1, "holds"),
    }
    assert [(run["id"], run["claim_tests"], run["interrupted"]) for run in report["runs"]] == [
        (1, 2, False),
        (2, 1, False),
    ]
    assert "-k first" in report["runs"][1]["command"]
    page = (project.path / "out" / "index.html").read_text()
    assert "merges 2 runs" in page and "run 2" in page
    assert "merges 2 runs" in (project.path / "out" / "claims.md").read_text()
    # a full run again owns every row; the old run is no longer listed
    monkeypatch.delenv("FAKE_VALUE")
    _run(project).assert_outcomes(passed=3)
    report = read_report(project.path / "out")
    assert [run["id"] for run in report["runs"]] == [3]
    assert "merges" not in (project.path / "out" / "index.html").read_text()


def test_an_interrupted_run_keeps_the_previous_rows_and_says_so(project, monkeypatch):
    _run(project).assert_outcomes(passed=3)
    before = _rows(project)
    monkeypatch.setenv("FAKE_INTERRUPT", "1")
    monkeypatch.setenv("FAKE_VALUE", "0.5")
    result = _run(project)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    rows = _rows(project)
    assert set(rows) == ALL
    assert rows["test_claims.py::test_first"]["run"] == 2  # finished before the interrupt
    assert rows["test_claims.py::test_first"]["evidence"]["measured"] == {"value": 0.5}
    # test_second did not finish, test_third never ran: both keep their rows
    assert rows["test_claims.py::test_second"] == before["test_claims.py::test_second"]
    assert rows["test_claims.py::test_third"] == before["test_claims.py::test_third"]
    assert read_report(project.path / "out")["runs"][-1]["interrupted"] is True
    assert "was interrupted" in (project.path / "out" / "index.html").read_text()
    assert len(list((project.path / "out" / "figures").glob("*.png"))) == 1


def test_a_run_interrupted_before_any_claim_finished_leaves_the_report(project, monkeypatch):
    _run(project).assert_outcomes(passed=3)
    before = (project.path / "out" / "claims.json").read_bytes()
    monkeypatch.setenv("FAKE_INTERRUPT", "1")
    result = _run(project, "-k", "second")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["claims report: interrupted before any claim test finished*"])
    assert (project.path / "out" / "claims.json").read_bytes() == before


def test_a_failed_write_leaves_the_previous_report_whole(project, monkeypatch):
    _run(project).assert_outcomes(passed=3)
    before = _files(project.path / "out")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(html, "render", broken)
    result = _run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # tests passed; the report was not written
    result.stdout.fnmatch_lines(["*claims report NOT written to*disk full*"])
    assert _files(project.path / "out") == before
    assert [path.name for path in project.path.iterdir() if path.name.startswith(".out")] == []


@pytest.mark.parametrize(
    "setup, message",
    [
        (
            lambda root: (root / "out").write_text("a file"),
            "*--claims-report out: *out is a file, not a folder*",
        ),
        (
            lambda root: ((root / "out").mkdir(), (root / "out" / "notes.txt").write_text("mine")),
            "*--claims-report out: *holds files that are not part of a claims report (notes.txt)*",
        ),
        (
            lambda root: (
                (root / "out").mkdir(),
                (root / "out" / "claims.json").write_text("{not json"),
            ),
            "*--claims-report out: *claims.json cannot be read as a claims report*",
        ),
    ],
)
def test_a_report_folder_that_cannot_be_used_is_a_usage_error(project, setup, message):
    setup(project.path)
    result = _run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*passed*")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write in a read-only folder"
)
def test_a_report_folder_in_a_read_only_place_is_a_usage_error(project):
    folder = project.mkdir("read-only")
    folder.chmod(0o500)
    try:
        result = project.runpytest("--claims-report", "read-only/out")
    finally:
        folder.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-report read-only/out: cannot write beside*"])


def test_figures_stay_out_of_junit_xml(project):
    _run(project, "--junitxml", "junit.xml").assert_outcomes(passed=3)
    junit = (project.path / "junit.xml").read_text()
    assert "dlverify.evidence" in junit and "png_base64" not in junit
    figures = _rows(project)["test_claims.py::test_first"]["evidence"]["figures"]
    assert [figure["name"] for figure in figures] == ["loss"]
    assert figures[0]["png_base64"].startswith("iVBOR")


def test_report_command_writes_the_pages_again(project, capsys):
    _run(project).assert_outcomes(passed=3)
    for name in ("index.html", "claims.md"):
        (project.path / "out" / name).unlink()
    assert main(["report", str(project.path / "out")]) == 0
    assert "lab1.first" in (project.path / "out" / "index.html").read_text()
    assert "lab1.first" in (project.path / "out" / "claims.md").read_text()
    assert "claims report written" in capsys.readouterr().out
    assert main(["report", str(project.path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- compare, on reports written by hand ----------------------------------------------


def _report(*rows: tuple[str, str, str, dict]) -> dict:
    """A report whose rows are (nodeid, claim id, verdict, measured)."""
    return {
        "claims": [
            {
                "nodeid": nodeid,
                "claim_id": claim_id,
                "verdict": verdict,
                "device": "cuda" if "cuda" in nodeid else "cpu" if "cpu" in nodeid else "",
                "evidence": {"measured": measured},
            }
            for nodeid, claim_id, verdict, measured in rows
        ]
    }


def test_compare_pairs_devices_and_exits_1_only_for_a_verdict():
    cpu = _report(
        ("t.py::test_a[cpu]", "lab1.a", "holds", {"loss": 0.5, "curve": [1.0, 2.0]}),
        ("t.py::test_b[cpu]", "lab1.b", "holds", {"gap": {"train": 0.1, "val": 0.2}}),
        ("t.py::test_c", "lab1.c", "holds", {"x": 1}),
    )
    cuda = _report(
        ("t.py::test_a[cuda]", "lab1.a", "holds", {"loss": 0.5, "curve": [1.0, 2.0]}),
        ("t.py::test_b[cuda]", "lab1.b", "refuted", {"gap": {"train": 0.1, "val": 0.3}}),
        ("t.py::test_d", "lab1.d", "holds", {}),
    )
    comparison = compare(cpu, cuda)
    assert [(d.label, d.verdicts, d.numbers) for d in comparison.differences] == [
        ("lab1.b [cpu | cuda]", ("holds", "refuted"), [("gap › val", 0.2, 0.3)])
    ]
    assert comparison.verdict_differs
    assert comparison.only_a == ["lab1.c"] and comparison.only_b == ["lab1.d"]
    before = _report(("t.py::test_a", "lab1.a", "holds", {"loss": 0.5}))
    after = _report(("t.py::test_a", "lab1.a", "holds", {"loss": 0.5001}))
    numbers_only = compare(before, after)
    assert not numbers_only.verdict_differs
    assert numbers_only.differences[0].numbers == [("loss", 0.5, 0.5001)]
    assert not compare(before, after, rtol=1e-3).differences


def test_compare_command(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report(("t.py::test_a", "lab1.a", "holds", {"loss": 0.5}))))
    b.write_text(json.dumps(_report(("t.py::test_a", "lab1.a", "refuted", {"loss": 0.9}))))
    assert main(["compare", str(a), str(a)]) == 0
    assert "no differences" in capsys.readouterr().out
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "verdict differs (1):" in out and "lab1.a: holds (A) -> refuted (B)" in out
    assert "loss: 0.5 (A) -> 0.9" in out
    (tmp_path / "c.json").write_text('{"claims": 3}')
    assert main(["compare", str(a), str(tmp_path / "c.json")]) == 2
    assert "is not a claims report" in capsys.readouterr().err
