"""The claims report: files written by ``--claims-report``, their content, xdist completeness.

Small fake claim tests are written into project's folder: one that holds (with a
figure and a statistics result), one measured not to hold (strict xfail), one
skipped, one that crashes although marked as not holding (an error, never a
refutation), one refuted without its xfail mark, one that holds although marked
as not holding, and one claim with two parametrized instances.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot  # noqa: F401  imported once here: project's in-process runs must not re-import it
import pytest
import torch  # noqa: F401  (likewise; the plugin's environment() imports it)

from dlverify.errors import ReportError
from dlverify.report import Catalogue, SourceReport, html, markdown
from dlverify.report import format as fmt
from dlverify.report.rows import group_by_report, protocol_counts

pytest_plugins = ["pytester"]


FAKE_CLAIMS = '''
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from dlverify.evidence import Finding


class FakeComparison:
    """Stands in for a dlverify.stats result (a paired comparison: its ``kind`` says so)."""
    verdict = "holds"

    def as_dict(self):
        return {"kind": "paired", "verdict": "holds", "effect": 0.0123456, "ci": [0.00512, 0.0191],
                "confidence": 0.95, "effect_size": 1.234, "n": 5, "claim": "a−b > 0"}


@pytest.mark.claim("lab1.fake-holds", source="lab1 §1 <b>fake</b> & co")
def test_holds(claim):
    """A fake claim that holds: 1 < 2 & ``x`` > 0.

    Second paragraph, not part of the statement.
    """
    claim.setup(epochs=3, seeds=[0, 1, 2])
    claim.scaled("20 -> 3 epochs under the default profile")
    claim.report(loss=0.5)
    claim.measure(loss=0.123456789, per_seed=[0.1, 0.2, 0.3], curve=list(range(50)))
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([1, 2, 3])
    claim.figure(fig, "curve")
    claim.expect(True, "loss below the report's <0.5>")
    claim.expect(FakeComparison(), "A better than B over seeds")


@pytest.mark.claim("lab2.fake-refuted", source="lab2 §2", xfail=Finding("the value is 3, not 1", fails=["value is 1"]))
def test_refuted(claim):
    """A fake claim that does not hold."""
    claim.report(value=1)
    claim.measure(value=3)
    claim.expect(False, "value is 1")


@pytest.mark.claim("hw1.fake-skipped", source="hw1 §3")
def test_skipped(claim):
    """A fake claim that cannot be decided here."""
    pytest.skip("needs a data set that is not here")


@pytest.mark.claim(
    "hw2.fake-crash",
    source="hw2 §4",
    xfail=Finding("marked as not holding, but it crashes", fails=["recorded before the crash"]),
)
def test_crash(claim):
    """A fake claim whose test crashes after recording a failed expectation."""
    claim.report(value=1)
    claim.expect(False, "recorded before the crash")
    raise ValueError("boom: not a verdict")


@pytest.mark.claim("hw2.fake-unmarked", source="hw2 §5")
def test_unmarked(claim):
    """A fake claim measured not to hold, without its xfail mark."""
    claim.measure(value=2)
    claim.expect(False, "value is 1")


@pytest.mark.claim("hw2.fake-xpass", source="hw2 §6", xfail=Finding("once measured not to hold", fails=["value is 1"]))
def test_xpass(claim):
    """A fake claim marked as not holding that holds now."""
    claim.measure(value=1)
    claim.expect(True, "value is 1")


@pytest.mark.claim("a1.fake-instances", source="a1 §2")
@pytest.mark.parametrize("data", ["cifar", "standin"])
def test_instances(claim, data):
    """A fake claim with two test instances."""
    claim.setup(data=data)
    claim.measure(accuracy=0.391 if data == "cifar" else 0.9)
    claim.expect(True, "accuracy above chance")
'''

EXPECTED = {
    "test_fake.py::test_holds": ("lab1.fake-holds", "holds"),
    "test_fake.py::test_refuted": ("lab2.fake-refuted", "refuted"),
    "test_fake.py::test_skipped": ("hw1.fake-skipped", "skipped"),
    "test_fake.py::test_crash": ("hw2.fake-crash", "error"),
    "test_fake.py::test_unmarked": ("hw2.fake-unmarked", "error"),
    "test_fake.py::test_xpass": ("hw2.fake-xpass", "error"),
    "test_fake.py::test_instances[cifar]": ("a1.fake-instances", "holds"),
    "test_fake.py::test_instances[standin]": ("a1.fake-instances", "holds"),
}
RUN_FIELDS = {"duration_s", "run"}  # timing, and the run's number in the folder: differ per run


def _run(project: pytest.Pytester, *args: str):
    project.makepyfile(test_fake=FAKE_CLAIMS)
    report = project.path / "report"
    result = project.runpytest(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "--claims-report", str(report), *args
    )
    data = json.loads((report / "claims.json").read_text())
    return result, report, data


def test_report_of_a_run(project):
    """One run of the fake claims: files, rows, verdicts, the crash, the summary, escaping, formatting."""
    result, report, data = _run(project)

    # the three files (and the figures beside claims.md), with every executed claim instance
    assert {p.name for p in report.iterdir()} >= {
        "index.html",
        "claims.md",
        "claims.json",
        "figures",
    }
    rows = {row["nodeid"]: row for row in data["claims"]}
    assert {nodeid: (row["claim_id"], row["verdict"]) for nodeid, row in rows.items()} == EXPECTED
    assert data["environment"]["torch"] and data["environment"]["seeds"] == [0, 1, 2]
    page = (report / "index.html").read_text()
    text = (report / "claims.md").read_text()
    for claim_id, _ in EXPECTED.values():
        assert claim_id in page and claim_id in text
    assert page.count('class="badge holds"') >= 3 and 'class="badge error"' in page
    assert (
        "needs a data set that is not here" in page and "needs a data set that is not here" in text
    )
    assert rows["test_fake.py::test_holds"]["evidence"]["figures"][0]["name"] == "curve"
    assert "data:image/png;base64,iVBOR" in page
    figures = list((report / "figures").glob("*.png"))
    assert len(figures) == 1 and f"figures/{figures[0].name}" in text

    # a crash is an error, not a refutation, and fails the run
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, xfailed=1, skipped=1, failed=3)
    crash = rows["test_fake.py::test_crash"]
    assert crash["not_held"] is False and "boom: not a verdict" in crash["error"]
    assert "crashed" in page
    assert rows["test_fake.py::test_unmarked"]["not_held"] is True
    assert "a new finding" in page
    assert (
        rows["test_fake.py::test_xpass"]["outcome"] == "xpassed-strict"
        and "holds as measured now" in page
    )

    # the terminal summary: counts and where the report is
    result.stdout.fnmatch_lines(
        [
            "*dlverify claims*",
            "3 holds, 1 refuted, 0 inconclusive, 1 skipped, 3 error  (7 claims, 8 claim tests)",
            f"claims report written: {report / 'index.html'} (with claims.md, claims.json)",
        ]
    )

    # text from the claims is escaped; the page needs nothing from the network
    assert "&lt;b&gt;fake&lt;/b&gt; &amp; co" in page and "<b>fake</b>" not in page
    assert (
        "1 &lt; 2 &amp; <code>x</code> &gt; 0" in page
    )  # RST literal shown as code, the rest escaped
    assert "Second paragraph" not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "&lt;b&gt;fake&lt;/b&gt; &amp; co" in text

    # statistics and numbers, compactly
    assert "a−b = 0.01235 [0.00512, 0.0191] 95%; claimed a−b &gt; 0 · d_z 1.234 · n 5" in page
    assert ">0.1235</td>" in page
    assert "[0, 1, 2, …, 49] (n=50)" in page
    assert "scaled: 20 -&gt; 3 epochs" in page


@pytest.mark.slow
def test_same_rows_with_and_without_xdist(project):
    """Every worker's evidence reaches the report: the rows match those of a run without xdist."""
    pytest.importorskip("xdist")
    _, _, alone = _run(project)
    _, _, parallel = _run(project, "-n", "2")
    assert parallel["environment"]["xdist_workers"] == 2

    def comparable(data):
        return sorted(
            ({k: v for k, v in row.items() if k not in RUN_FIELDS} for row in data["claims"]),
            key=lambda row: row["nodeid"],
        )

    assert [row["nodeid"] for row in comparable(parallel)] == sorted(EXPECTED)
    assert comparable(parallel) == comparable(alone)


# -- the pieces, without pytest runs ---------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (567.612743741862, "567.6"),
        (0.02253150950570901, "0.02253"),
        (2.3012058942159017, "2.301"),
        (0.098, "0.098"),
        (6223, "6223"),
        (60000.0, "60000"),
        (3.2e-07, "3.2e-07"),
        (1.23456e8, "1.235e+08"),
        (0.0, "0"),
        (-0.5, "-0.5"),
        (True, "yes"),
        (12345.678, "12346"),
    ],
)
def test_number_precision(value, text):
    assert fmt.number(value) == text


def test_stats_detail_variants():
    """Results are written by their ``kind``; one without a known kind shows its ci and short fields."""
    assert fmt.stats_detail(None) == ""
    assert (
        fmt.stats_detail(
            {"verdict": "refuted", "ci": {"low": -1.5, "high": 0.25}, "estimate": -0.6}
        )
        == "ci [-1.5, 0.25] · estimate -0.6"
    )
    assert (
        fmt.stats_detail({"proportion": 0.4, "interval": "wilson", "n": 10, "method": "wilson"})
        == "proportion 0.4 · n 10"
    )
    proportion = {
        "kind": "proportion",
        "proportion": 0.4,
        "ci": [0.2, 0.6],
        "successes": 4,
        "trials": 10,
        "confidence": 0.95,
        "claim": "p > 0.3",
        "method": "clopper-pearson",
    }
    assert (
        fmt.stats_detail(proportion)
        == "p = 0.4 (4/10) [0.2, 0.6] 95%; claimed p > 0.3 · clopper-pearson"
    )
    assert fmt.stats_detail({"kind": "ordering", "order": 3}) == "order 3", (
        "a shape its kind does not fit"
    )


def test_a_sequential_result_shows_its_looks_and_its_last_result():
    stats = pytest.importorskip("dlverify.stats")
    a, b = [0.30, 0.32, 0.31, 0.33, 0.30], [0.20, 0.21, 0.22, 0.2, 0.23]
    plan = stats.SeedPlan((3, 5), 0.05)
    result = stats.sequential(
        lambda n, c: stats.compare_paired(a[:n], b[:n], alternative="greater", confidence=c), plan
    )
    line = fmt.stats_detail(result.as_dict())
    assert line.startswith("holds after 3 seeds (looks 3; decided): a−b = 0.1 [")


def test_the_stylesheet_is_a_package_resource():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "report/report.css" in pyproject["tool"]["setuptools"]["package-data"]["dlverify"]
    css = html.stylesheet()
    assert ".badge.holds" in css and f"<style>{css}</style>" in html.render([], {})


def test_a_catalogue_orders_and_titles_the_groups():
    rows = [
        {"nodeid": f"t.py::{claim_id}", "claim_id": claim_id, "verdict": "holds"}
        for claim_id in ("zz.one", "b.two", "a.three")
    ]
    catalogue = Catalogue((SourceReport("b", "Report B"), SourceReport("a", "Report A")))
    groups = group_by_report(rows, catalogue.titles, catalogue.order)
    assert [(g.name, g.title) for g in groups] == [
        ("b", "Report B"),
        ("a", "Report A"),
        ("zz", "zz"),
    ]
    assert [g.name for g in group_by_report(rows, {})] == ["a", "b", "zz"]


def test_a_catalogue_survives_claims_json_and_older_files_keep_their_order():
    catalogue = Catalogue(
        (SourceReport("lab2", "Lab 2"), SourceReport("hw1", "HW1")),
        description="Each claim of two reports.",
    )
    again = Catalogue.from_report(catalogue.as_dict())
    assert (again.order, again.titles, again.description) == (
        ("lab2", "hw1"),
        {"lab2": "Lab 2", "hw1": "HW1"},
        "Each claim of two reports.",
    )
    older = Catalogue.from_report(
        {
            "titles": {
                "lab1": "Lab 1",
                "hw1": "HW1",
                "worker-crash": "Tests whose xdist worker crashed",
            }
        }
    )
    assert older.order == ("lab1", "hw1") and older.titles["worker-crash"].startswith("Tests")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SourceReport("Lab 2", "Lab 2"), "must be a claim id's prefix"),
        (lambda: SourceReport("lab2", " "), "needs a title"),
        (
            lambda: Catalogue((SourceReport("a", "A"), SourceReport("a", "B"))),
            "names a source report twice",
        ),
        (lambda: Catalogue(("lab2",)), "takes SourceReport entries"),
    ],
)
def test_a_malformed_catalogue_says_what_is_wrong(make, message):
    with pytest.raises(ReportError, match=message):
        make()


def test_markdown_cells_cannot_break_the_table():
    assert markdown.escape("a | b\nc <d> & e") == "a \\| b c &lt;d&gt; &amp; e"


def test_render_without_evidence_or_title():
    rows = [
        {
            "nodeid": "t.py::test_x",
            "claim_id": "zz.unknown-report",
            "verdict": "error",
            "outcome": "error",
            "error": "Traceback <boom>",
        }
    ]
    groups = group_by_report(rows, {})
    page = html.render(groups, {})
    assert "zz.unknown-report" in page and "Traceback &lt;boom&gt;" in page
    assert "zz.unknown-report" in markdown.render(groups, {}, {})


def test_the_header_counts_claims_run_on_the_documented_protocol():
    """A claim is scaled if any of its instances is; skipped claims did not run and do not count."""

    def row(claim_id, verdict="holds", scaling=()):
        return {
            "nodeid": f"t.py::{claim_id}",
            "claim_id": claim_id,
            "verdict": verdict,
            "outcome": "passed",
            "evidence": {"scaling": list(scaling)},
        }

    rows = [
        row("a.one"),
        row("a.two", scaling=["20 → 8 epochs"]),
        row("a.two"),
        row("a.three", verdict="refuted"),
        row("a.four", verdict="skipped"),
    ]
    assert protocol_counts(rows) == (2, 3)
    groups = group_by_report(rows, {})
    assert "2 of 3 run on the documented protocol" in markdown.render(groups, {}, {})
    assert "of 3 run on the documented protocol" in html.render(groups, {})


def test_stats_results_from_dlverify_stats():
    stats = pytest.importorskip("dlverify.stats")
    paired = stats.compare_paired([0.30, 0.32, 0.31], [0.20, 0.21, 0.22], alternative="greater")
    line = fmt.stats_detail(paired.as_dict())
    assert line.startswith("a−b = 0.1 [") and "95%; claimed a−b > 0" in line and "n 3" in line
    trend = stats.rank_trend(
        [1, 2, 3], [[1.0, 1.1], [2.0, 2.1], [3.0, 3.2]], alternative="increasing"
    )
    assert fmt.stats_detail(trend.as_dict()).startswith("ρ = 1")


@pytest.mark.slow
def test_a_dead_worker_still_shows_in_the_report(project):
    """A test that kills its xdist worker gets an error row instead of vanishing from the report."""
    pytest.importorskip("xdist")
    project.makepyfile(
        test_dies="""
        import os
        import pytest

        @pytest.mark.claim("lab1.fake-dies", source="lab1")
        def test_dies(claim):
            os._exit(3)

        @pytest.mark.claim("lab1.fake-fine", source="lab1")
        def test_fine(claim):
            claim.expect(True, "fine")
    """
    )
    report = project.path / "report"
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:benchmark",
        "-n",
        "2",
        "--max-worker-restart",
        "0",
        "--claims-report",
        str(report),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = {
        row["nodeid"]: row for row in json.loads((report / "claims.json").read_text())["claims"]
    }
    assert rows["test_dies.py::test_dies"]["verdict"] == "error"
    assert rows["test_dies.py::test_dies"]["worker_crashed"] is True
    assert rows["test_dies.py::test_fine"]["verdict"] == "holds"
    assert "worker process running this test died" in (report / "index.html").read_text()
