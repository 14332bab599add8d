"""The claims report as one self-contained HTML page.

Inline CSS (the package resource ``report.css``, read with
:mod:`importlib.resources`), figures as ``data:image/png;base64`` URIs, no
script: the file opens from disk in any browser, without a server or network. Every piece of text from
the evidence is escaped with :func:`html.escape`.

Layout: a header (verdict tally, environment), a summary table with one row per
claim test instance grouped by source report, then one section per source report
with a card per instance (reported vs measured, expectations with their
statistics, protocol and scaling, skip reason or error, figures).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources

from ..verdicts import DECIDED, NoVerdict, Verdict
from . import format as fmt
from .catalogue import DESCRIPTION
from .rows import (
    RUN_HEADERS,
    VERDICT_ORDER,
    ReportGroup,
    anchor_of,
    counts,
    device_of,
    error_excerpt,
    error_summary,
    instance_of,
    paired_numbers,
    profile_of,
    protocol_counts,
    run_label,
    run_table,
    runs_note,
    seeds_line,
    skip_reason,
)

SUMMARY_NUMBERS = 6  # reported/measured lines per summary row; the card has them all
SUMMARY_CLIP = 60  # characters of one value in the summary
TOOLTIP_CLIP = (
    1500  # characters of a value's tooltip (a per-step curve can have thousands of numbers)
)
SUMMARY_EXPECTATIONS = 6  # expectations per summary row (those not holding always shown)

CSS_RESOURCE = "report.css"  # beside this module, inlined into the page


@functools.cache
def stylesheet() -> str:
    """The page's CSS, read from the package resource ``dlverify/report/report.css``."""
    return resources.files(__package__).joinpath(CSS_RESOURCE).read_text(encoding="utf-8")


_BACKTICKS = re.compile(r"`([^`]+)`")


def _text(text: object) -> str:
    return escape(str(text), quote=True)


def _prose(text: str, limit: int = 400) -> str:
    """One line of prose, escaped, with `literals` as <code>."""
    return _BACKTICKS.sub(r"<code>\1</code>", _text(fmt.one_line(text, limit)))


def badge(verdict: str | None) -> str:
    """A coloured verdict badge."""
    verdict = verdict if verdict in VERDICT_ORDER else NoVerdict.ERROR.value
    return f'<span class="badge {verdict}">{verdict}</span>'


def _tally(rows: Sequence[Mapping]) -> str:
    tally = counts(rows)
    cells = "".join(
        f'<div class="cell {v}"><span class="n">{tally.get(v, 0)}</span>{v}</div>'
        for v in VERDICT_ORDER
    )
    distinct = len({row.get("claim_id") for row in rows})
    documented, ran = protocol_counts(rows)
    return (
        f'<div class="tally">{cells}<div class="cell"><span class="n">{distinct}</span>'
        f"claims in {len(rows)} test instances</div>"
        f'<div class="cell"><span class="n">{documented}</span>of {ran} run on the documented '
        f"protocol (not scaled)</div></div>"
    )


def _environment(environment: Mapping) -> str:
    devices = environment.get("cuda_devices") or []
    hardware = ", ".join(devices) if devices else "no CUDA device"
    entries = [
        ("torch", environment.get("torch")),
        ("python", environment.get("python")),
        ("device option", environment.get("device_option")),
        ("GPU", hardware),
        ("CPU", f"{environment.get('cpu') or 'unknown'} ({environment.get('cpu_count')} cores)"),
        ("torch threads / process", environment.get("torch_threads")),
        ("profile", environment.get("profile")),
        ("seeds", fmt.value(environment.get("seeds"))),
        ("deterministic algorithms", fmt.value(environment.get("deterministic_algorithms"))),
        ("cuDNN", _cudnn(environment)),
        ("float32 matmul precision", environment.get("float32_matmul_precision")),
        ("xdist workers", environment.get("xdist_workers") or "none (one process)"),
        ("platform", environment.get("platform")),
        ("dlverify", environment.get("dlverify")),
        ("started", environment.get("started")),
        ("finished", environment.get("finished")),
        ("command", environment.get("command")),
    ]
    items = "".join(
        f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in entries if v not in (None, "")
    )
    return f'<dl class="env">{items}</dl>'


def _cudnn(environment: Mapping) -> str:
    if "cudnn_deterministic" not in environment:
        return ""
    return (
        f"deterministic {fmt.value(environment.get('cudnn_deterministic'))}, "
        f"benchmark {fmt.value(environment.get('cudnn_benchmark'))}"
    )


def _quantity(key: str) -> str:
    """A quantity's name, allowed to wrap after underscores and slashes only."""
    return re.sub(r"([_/›])", r"\1<wbr>", _text(key))


def _numbers(evidence: Mapping, limit: int | None = None, clip: int | None = None) -> str:
    """Reported and measured values side by side, the report's quantities first.

    ``limit`` rows at most (the summary), each value cut to ``clip`` characters
    (the full value is in the cell's tooltip and in the claim's card).
    """
    pairs = paired_numbers(evidence)
    if not pairs:
        return '<span class="more">no numbers recorded</span>'
    shown = pairs if limit is None else pairs[:limit]

    def cell(item, css: str) -> str:
        text = fmt.value(item)
        text = fmt.clipped(text, clip) if clip else text
        tooltip = fmt.clipped(fmt.full_value(item), TOOLTIP_CLIP)
        return f'<td class="{css}" title="{_text(tooltip)}">{_text(text)}</td>'

    body = []
    for key, reported, measured, has_reported, has_measured in shown:
        quantity = f'<td class="q">{_quantity(key)}</td>'
        if isinstance(reported, str) and not has_measured:  # a quoted sentence, not a number
            body.append(
                f'<tr>{quantity}<td colspan="2" class="quote">“{_text(reported)}”</td></tr>'
            )
            continue
        if isinstance(measured, str) and len(measured) > 24 and not has_reported:
            body.append(f'<tr>{quantity}<td colspan="2" class="quote">{_text(measured)}</td></tr>')
            continue
        rep = cell(reported, "rep") if has_reported else '<td class="none">—</td>'
        mea = cell(measured, "mea") if has_measured else '<td class="none">—</td>'
        body.append(f"<tr>{quantity}{rep}{mea}</tr>")
    more = ""
    if limit is not None and len(pairs) > limit:
        more = f'<div class="more">+ {len(pairs) - limit} more in the claim\'s section</div>'
    return (
        '<table class="nums"><colgroup><col class="n-q"><col class="n-r"><col class="n-m"></colgroup>'
        "<thead><tr><th></th><th>reported</th><th>measured</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )


def _expectations(evidence: Mapping, limit: int | None = None) -> str:
    """Each expectation with its verdict mark and its statistics in one line.

    With ``limit`` (the summary), expectations that do not hold come first and
    holding ones fill up to ``limit``; the rest is counted.
    """
    expectations = list(evidence.get("expectations") or [])
    hidden = 0
    if limit is not None and len(expectations) > limit:
        failing = [e for e in expectations if e.get("verdict") != Verdict.HOLDS]
        holding = [e for e in expectations if e.get("verdict") == Verdict.HOLDS]
        kept = failing + holding[: max(0, limit - len(failing))]
        hidden = len(expectations) - len(kept)
        expectations = [e for e in expectations if any(e is k for k in kept)]
    items = []
    for expectation in expectations:
        verdict = expectation.get("verdict")
        verdict = verdict if verdict in DECIDED else Verdict.INCONCLUSIVE.value
        stat = fmt.stats_detail(expectation.get("detail"))
        stat_html = f'<span class="stat">{_text(stat)}</span>' if stat else ""
        items.append(
            f'<li class="{verdict}" title="{verdict}">{_prose(expectation.get("description", ""))}'
            f"{stat_html}</li>"
        )
    more = f'<div class="more">+ {hidden} more holding</div>' if hidden else ""
    return f'<ul class="expect">{"".join(items)}</ul>{more}' if items else ""


def _run_cell(row: Mapping, environment: Mapping, runs: Sequence[Mapping] | None = None) -> str:
    device = device_of(row) or "—"
    label = run_label(row, runs)
    parts = [
        f'<span class="mono">{_text(device)}</span> · {_text(profile_of(row, environment))}'
        + (f' · <span class="mini">{_text(label)}</span>' if label else "")
    ]
    if row.get("duration_s") is not None:
        parts.append(f'<span class="mini">{_text(fmt.duration(row["duration_s"]))}</span>')
    seeds = seeds_line(row)
    if seeds:
        parts.append(
            f'<span class="mini" title="{_text(seeds)}"> · {_text(fmt.one_line(seeds, 60))}</span>'
        )
    for how in (row.get("evidence") or {}).get("scaling") or []:
        parts.append(
            f'<span class="scaled" title="{_text(how)}">scaled: {_text(fmt.one_line(how, 80))}</span>'
        )
    return "<br>".join(parts[:2]) + "".join(parts[2:])


def _why(row: Mapping) -> str:
    """Skip reason or error summary, for rows without a measured verdict."""
    verdict = row.get("verdict")
    if verdict == NoVerdict.SKIPPED:
        return f'<div class="why">Skipped: {_text(fmt.one_line(skip_reason(row), 300))}</div>'
    if verdict == NoVerdict.ERROR:
        return f'<div class="why error">{_text(error_summary(row))}</div>'
    return ""


def _claim_cell(row: Mapping) -> str:
    instance = instance_of(row)
    inst = f'<span class="inst">{_text(instance)}</span>' if instance else ""
    return (
        f'<a href="#{_text(anchor_of(row))}"><code>{_text(row.get("claim_id", ""))}</code></a>{inst}'
        f'<div class="src">{_text(row.get("source", ""))}</div>'
        f'<div class="stmt">{_prose(row.get("statement", ""), 240)}</div>'
    )


def _summary_row(row: Mapping, environment: Mapping, runs: Sequence[Mapping] | None = None) -> str:
    evidence = row.get("evidence") or {}
    why = _why(row)
    if evidence.get("reported") or evidence.get("measured"):
        middle = (
            f"<td>{why}{_numbers(evidence, SUMMARY_NUMBERS, SUMMARY_CLIP)}</td>"
            f"<td>{_expectations(evidence, SUMMARY_EXPECTATIONS)}</td>"
        )
    else:
        middle = f'<td colspan="2">{why or _expectations(evidence)}</td>'
    return (
        f"<tr><td>{badge(row.get('verdict'))}</td><td>{_claim_cell(row)}</td>{middle}"
        f"<td>{_run_cell(row, environment, runs)}</td></tr>"
    )


def _group_counts(group: ReportGroup) -> str:
    tally = group.counts
    return " · ".join(f"{tally[v]} {v}" for v in VERDICT_ORDER if tally.get(v))


def summary_table(
    groups: Sequence[ReportGroup], environment: Mapping, runs: Sequence[Mapping] | None = None
) -> str:
    """One row per claim test instance, under a header row per source report."""
    body = []
    for group in groups:
        body.append(
            f'<tr class="group"><th colspan="5"><a href="#report-{_text(group.name)}">'
            f"{_text(group.name)} — {_text(group.title)}</a>"
            f'<span class="mini">{_text(_group_counts(group))}</span></th></tr>'
        )
        body.extend(_summary_row(row, environment, runs) for row in group.rows)
    return (
        '<table class="summary"><colgroup><col class="c-verdict"><col class="c-claim"><col class="c-numbers">'
        '<col class="c-expect"><col class="c-run"></colgroup><thead><tr><th>verdict</th><th>claim</th>'
        "<th>reported vs measured</th><th>expectations (statistics)</th><th>device · profile</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _kv_table(mapping: Mapping) -> str:
    rows = "".join(
        f"<tr><th>{_text(k)}</th><td>{_text(fmt.value(v))}</td></tr>" for k, v in mapping.items()
    )
    return f'<table class="kv">{rows}</table>'


def _figures(evidence: Mapping) -> str:
    figures = []
    for figure in evidence.get("figures") or []:
        data = re.sub(r"[^A-Za-z0-9+/=]", "", str(figure.get("png_base64", "")))
        name = _text(figure.get("name", "figure"))
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{name}">'
            f"<figcaption>{name}</figcaption></figure>"
        )
    return f'<div class="figs">{"".join(figures)}</div>' if figures else ""


def _status_boxes(row: Mapping, verdict: str) -> list[str]:
    """The boxes above a claim's numbers: recorded as not holding, skipped, error."""
    boxes = []
    if row.get("expected_not_to_hold"):
        boxes.append(
            f'<div class="known"><b>Recorded as not holding:</b> '
            f"{_text(row['expected_not_to_hold'])}</div>"
        )
    if row.get("recorded_undecided"):
        boxes.append(
            f'<div class="known"><b>Recorded as undecided:</b> '
            f"{_text(row['recorded_undecided'])}</div>"
        )
    if verdict == NoVerdict.SKIPPED:
        boxes.append(f'<div class="skipbox"><b>Skipped:</b> {_text(skip_reason(row))}</div>')
    if verdict == NoVerdict.ERROR:
        boxes.append(
            f'<div class="errorbox"><b>Error:</b> {_text(error_summary(row))}'
            f"<pre>{_text(error_excerpt(row))}</pre></div>"
        )
    return boxes


def _run_facts(row: Mapping, runs: Sequence[Mapping] | None) -> dict[str, str]:
    """Test id, device, outcome, seeds, time and source run of one claim test instance."""
    facts = {
        "test": row.get("nodeid", ""),
        "device": device_of(row) or "—",
        "outcome": row.get("outcome", ""),
    }
    if seeds_line(row):
        facts["seeds"] = seeds_line(row)
    if row.get("duration_s") is not None:
        facts["time"] = fmt.duration(row["duration_s"])
    if run_label(row, runs):
        facts["from"] = run_label(row, runs)
    return facts


def claim_card(row: Mapping, environment: Mapping, runs: Sequence[Mapping] | None = None) -> str:
    """Everything recorded for one claim test instance."""
    evidence = row.get("evidence") or {}
    verdict = row.get("verdict") if row.get("verdict") in VERDICT_ORDER else NoVerdict.ERROR.value
    instance = instance_of(row)
    inst = f'<span class="inst">{_text(instance)}</span>' if instance else ""
    parts = [
        f'<article class="claim {verdict}" id="{_text(anchor_of(row))}"><header>{badge(verdict)}'
        f"<h3><code>{_text(row.get('claim_id', ''))}</code></h3>{inst}"
        f'<span class="src">{_text(row.get("source", ""))}</span></header>'
        f'<p class="statement">{_prose(row.get("statement", ""), 600)}</p>'
    ]
    parts += _status_boxes(row, verdict)
    left, right = [], []
    if evidence.get("reported") or evidence.get("measured"):
        left.append(f"<h4>Reported vs measured</h4>{_numbers(evidence)}")
    if evidence.get("expectations"):
        heading = (
            "Expectations recorded before the error"
            if verdict == NoVerdict.ERROR
            else "Expectations"
        )
        left.append(f"<h4>{heading}</h4>{_expectations(evidence)}")
    if evidence.get("protocol"):
        right.append(f"<h4>Protocol as run</h4>{_kv_table(evidence['protocol'])}")
    if evidence.get("scaling"):
        items = "".join(f"<li>{_text(s)}</li>" for s in evidence["scaling"])
        right.append(
            f"<h4>Scaled under the {_text(profile_of(row, environment))} profile</h4>"
            f'<ul class="plain">{items}</ul>'
        )
    if evidence.get("notes"):
        items = "".join(f"<li>{_prose(n, 1000)}</li>" for n in evidence["notes"])
        right.append(f'<h4>Notes</h4><ul class="plain">{items}</ul>')
    right.append(f"<h4>Run</h4>{_kv_table(_run_facts(row, runs))}")
    if left:
        parts.append(
            f'<div class="cols"><div>{"".join(left)}</div><div>{"".join(right)}</div></div>'
        )
    else:
        parts.append(f'<div class="cols"><div>{"".join(right)}</div><div></div></div>')
    parts.append(_figures(evidence))
    parts.append("</article>")
    return "".join(parts)


def _runs(runs: Sequence[Mapping] | None) -> str:
    """Where the rows come from, when the report merges runs or a run was interrupted."""
    note = runs_note(runs)
    if not note:
        return ""
    head = "".join(f"<th>{_text(name)}</th>" for name in RUN_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in line) + "</tr>"
        for line in run_table(runs)
    )
    return (
        f'<div class="errorbox"><b>Runs.</b> {_text(note)}<table class="kv runs"><thead>'
        f"<tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def render(
    groups: Sequence[ReportGroup],
    environment: Mapping,
    *,
    runs: Sequence[Mapping] | None = None,
    description: str = DESCRIPTION,
) -> str:
    """The whole page; ``runs`` lists the runs the rows come from (:mod:`dlverify.report.runs`).

    ``description`` is the line under the title (a project's catalogue gives it,
    :class:`~dlverify.report.catalogue.Catalogue`).
    """
    rows = [row for group in groups for row in group.rows]
    nav = "".join(
        f'<a href="#report-{_text(g.name)}">{_text(g.name)} <span class="mini">'
        f"{len(g.rows)}</span></a>"
        for g in groups
    )
    sections = []
    for group in groups:
        cards = "".join(claim_card(row, environment, runs) for row in group.rows)
        sections.append(
            f'<section id="report-{_text(group.name)}"><h2><span class="short">{_text(group.name)}</span>'
            f'{_text(group.title)} <span class="mini">{_text(_group_counts(group))}</span></h2>'
            f"{cards}</section>"
        )
    generated = environment.get("finished") or ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>dlverify claims report</title><style>{stylesheet()}</style></head><body><main>"
        "<h1>Claims report</h1>"
        f'<p class="sub">{_text(description)} dlverify '
        f"{_text(environment.get('dlverify', ''))}, profile <b>{_text(environment.get('profile', ''))}</b>"
        f"{', ' + _text(generated) if generated else ''}.</p>"
        f"{_tally(rows)}{_runs(runs)}{_environment(environment)}"
        f'<nav class="reports">{nav}</nav>'
        f"<h2>Summary</h2>{summary_table(groups, environment, runs)}{''.join(sections)}"
        "<footer>Verdicts: <b>holds</b> — every expectation met; <b>refuted</b> — measured not to hold; "
        "<b>inconclusive</b> — the measurement cannot separate the claim from noise; <b>skipped</b> — "
        "cannot be decided on this machine; <b>error</b> — the test crashed or its recorded status is out of "
        "date (never a verdict on the claim).</footer></main></body></html>\n"
    )
