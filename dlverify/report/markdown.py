"""The claims report as Markdown (``claims.md``), with figures linked as PNG files beside it.

Same content as the HTML page: a summary table per source report, then one
section per claim test instance. Text from the evidence is escaped for
Markdown tables (``|``, line breaks) and for inline HTML (``<``, ``&``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..verdicts import NoVerdict, Verdict
from . import format as fmt
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

MARKS = {
    Verdict.HOLDS.value: "🟢 holds",
    Verdict.REFUTED.value: "🔴 refuted",
    Verdict.INCONCLUSIVE.value: "🟠 inconclusive",
    NoVerdict.SKIPPED.value: "⚪ skipped",
    NoVerdict.ERROR.value: "⚫ error",
}
EXPECTATION_MARKS = {
    Verdict.HOLDS.value: "✓",
    Verdict.REFUTED.value: "✗",
    Verdict.INCONCLUSIVE.value: "?",
}
SUMMARY_NUMBERS = 6  # quantities per summary row; the claim's section has them all
SUMMARY_CLIP = 60  # characters of one value in the summary


def escape(text: object) -> str:
    """Text safe inside a Markdown table cell: no raw HTML, no column breaks, one line."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.replace("|", "\\|").split())


def _verdict(verdict: str | None) -> str:
    return f"**{MARKS.get(verdict or '', MARKS[NoVerdict.ERROR.value])}**"


def _numbers_inline(
    evidence: Mapping, limit: int = SUMMARY_NUMBERS, clip: int = SUMMARY_CLIP
) -> str:
    """``quantity: reported → **measured**`` for the first ``limit`` quantities, values cut to ``clip``."""
    pairs = paired_numbers(evidence)
    parts = []
    for key, reported, measured, has_reported, has_measured in pairs[:limit]:
        shown = fmt.clipped(fmt.value(measured), clip) if has_measured else "—"
        if isinstance(reported, str) and not has_measured:
            parts.append(f"{key}: “{fmt.clipped(reported, clip)}”")
        elif has_reported:
            parts.append(f"{key}: {fmt.clipped(fmt.value(reported), clip)} → **{shown}**")
        else:
            parts.append(f"{key}: **{shown}**")
    if len(pairs) > limit:
        parts.append(f"+ {len(pairs) - limit} more below")
    return escape("; ".join(parts))


def _expectations_inline(evidence: Mapping) -> str:
    parts = []
    for expectation in evidence.get("expectations") or []:
        mark = EXPECTATION_MARKS.get(expectation.get("verdict"), "?")
        stat = fmt.stats_detail(expectation.get("detail"))
        parts.append(
            f"{mark} {expectation.get('description', '')}" + (f" ({stat})" if stat else "")
        )
    return escape("; ".join(parts))


def _scaling(row: Mapping) -> str:
    return escape("; ".join((row.get("evidence") or {}).get("scaling") or []))


def _claim_link(row: Mapping) -> str:
    instance = instance_of(row)
    return f"[`{row.get('claim_id', '')}`](#{anchor_of(row).lower()})" + (
        f" `[{instance}]`" if instance else ""
    )


def summary_table(
    group: ReportGroup, environment: Mapping, runs: Sequence[Mapping] | None = None
) -> list[str]:
    """The Markdown table of one source report's claims."""
    lines = [
        "| verdict | claim | source | statement | reported → measured | expectations | device · profile "
        "| scaled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in group.rows:
        evidence = row.get("evidence") or {}
        numbers = _numbers_inline(evidence)
        if row.get("verdict") == NoVerdict.SKIPPED:
            numbers = escape(f"skipped: {skip_reason(row)}")
        elif row.get("verdict") == NoVerdict.ERROR:
            numbers = escape(error_summary(row)) + ("<br>" + numbers if numbers else "")
        lines.append(
            f"| {_verdict(row.get('verdict'))} | {_claim_link(row)} | {escape(row.get('source', ''))} | "
            f"{escape(fmt.one_line(row.get('statement', ''), 240))} | {numbers} | "
            f"{_expectations_inline(evidence)} | {escape(device_of(row) or '—')} · "
            f"{escape(profile_of(row, environment))}{_run_suffix(row, runs)} | "
            f"{_scaling(row)} |"
        )
    return lines


def _run_suffix(row: Mapping, runs: Sequence[Mapping] | None) -> str:
    label = run_label(row, runs)
    return f" · {escape(label)}" if label else ""


def _status_lines(row: Mapping) -> list[str]:
    """The quoted lines above a claim's numbers: recorded as not holding, skipped, error."""
    lines = []
    if row.get("expected_not_to_hold"):
        lines += [f"> **Recorded as not holding:** {escape(row['expected_not_to_hold'])}", ""]
    if row.get("recorded_undecided"):
        lines += [f"> **Recorded as undecided:** {escape(row['recorded_undecided'])}", ""]
    if row.get("verdict") == NoVerdict.SKIPPED:
        lines += [f"> **Skipped:** {escape(skip_reason(row))}", ""]
    if row.get("verdict") == NoVerdict.ERROR:
        lines += [
            f"> **Error:** {escape(error_summary(row))}",
            "",
            "```",
            error_excerpt(row).replace("```", "'''"),
            "```",
            "",
        ]
    return lines


def _numbers_table(evidence: Mapping) -> list[str]:
    """Reported against measured numbers, one row per quantity (nothing when there are none)."""
    pairs = paired_numbers(evidence)
    if not pairs:
        return []
    lines = ["| quantity | reported | measured |", "|---|---|---|"]
    for key, reported, measured, has_reported, has_measured in pairs:
        lines.append(
            f"| `{escape(key)}` | {escape(fmt.value(reported)) if has_reported else '—'} | "
            f"{escape(fmt.value(measured)) if has_measured else '—'} |"
        )
    return [*lines, ""]


def _section(
    row: Mapping,
    figure_paths: Mapping[tuple[int, int], str],
    index: int,
    environment: Mapping,
    runs: Sequence[Mapping] | None = None,
) -> list[str]:
    evidence = row.get("evidence") or {}
    instance = instance_of(row)
    title = f"{row.get('claim_id', '')}" + (f" [{instance}]" if instance else "")
    lines = [
        f'<a id="{anchor_of(row).lower()}"></a>',
        "",
        f"### {escape(title)} — {_verdict(row.get('verdict'))}",
        "",
        f"*{escape(row.get('source', ''))}* — {escape(fmt.one_line(row.get('statement', ''), 1000))}",
        "",
    ]
    lines += _status_lines(row)
    lines += _numbers_table(evidence)
    for expectation in evidence.get("expectations") or []:
        stat = fmt.stats_detail(expectation.get("detail"))
        lines.append(
            f"- {EXPECTATION_MARKS.get(expectation.get('verdict'), '?')} "
            f"{escape(expectation.get('description', ''))} — {escape(expectation.get('verdict', ''))}"
            + (f" ({escape(stat)})" if stat else "")
        )
    if evidence.get("expectations"):
        lines.append("")
    if evidence.get("protocol"):
        lines.append(
            "Protocol as run: "
            + escape("; ".join(f"{k} = {fmt.value(v)}" for k, v in evidence["protocol"].items()))
        )
        lines.append("")
    for how in evidence.get("scaling") or []:
        lines.append(f"- *Scaled ({escape(profile_of(row, environment))} profile):* {escape(how)}")
    for note in evidence.get("notes") or []:
        lines.append(f"- *Note:* {escape(note)}")
    if evidence.get("scaling") or evidence.get("notes"):
        lines.append("")
    run = f"Test `{row.get('nodeid', '')}`" + (
        f" on {escape(device_of(row))}" if device_of(row) else ""
    )
    if seeds_line(row):
        run += f", {escape(seeds_line(row))}"
    if row.get("duration_s") is not None:
        run += f", {fmt.duration(row['duration_s'])}"
    if run_label(row, runs):
        run += f", from {run_label(row, runs)}"
    lines += [run + ".", ""]
    for number, figure in enumerate(evidence.get("figures") or []):
        path = figure_paths.get((index, number))
        if path:
            lines += [f"![{escape(figure.get('name', 'figure'))}]({path})", ""]
    return lines


def _environment(environment: Mapping) -> list[str]:
    keys = (
        "torch",
        "python",
        "device_option",
        "cuda_devices",
        "cpu",
        "cpu_count",
        "torch_threads",
        "profile",
        "seeds",
        "deterministic_algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "float32_matmul_precision",
        "xdist_workers",
        "platform",
        "dlverify",
        "started",
        "finished",
        "command",
    )
    return [
        f"- **{key}**: {escape(fmt.value(environment[key]))}" for key in keys if key in environment
    ]


def _runs(runs: Sequence[Mapping] | None) -> list[str]:
    """Where the rows come from, when the report merges runs or a run was interrupted."""
    note = runs_note(runs)
    if not note:
        return []
    return [
        "## Runs",
        "",
        escape(note),
        "",
        "| " + " | ".join(RUN_HEADERS) + " |",
        "|" + "---|" * len(RUN_HEADERS),
        *("| " + " | ".join(map(escape, line)) + " |" for line in run_table(runs)),
        "",
    ]


def render(
    groups: Sequence[ReportGroup],
    environment: Mapping,
    figure_paths: Mapping[tuple[int, int], str],
    *,
    runs: Sequence[Mapping] | None = None,
) -> str:
    """The whole Markdown document; ``figure_paths[(row, figure)]`` is a relative PNG path.

    ``runs`` lists the runs the rows come from (:mod:`dlverify.report.runs`).
    """
    rows = [row for group in groups for row in group.rows]
    tally = counts(rows)
    lines = [
        "# Claims report",
        "",
        " · ".join(f"{MARKS[v]}: **{tally.get(v, 0)}**" for v in VERDICT_ORDER)
        + f" — {len({r.get('claim_id') for r in rows})} claims in {len(rows)} test instances; "
        + "{} of {} run on the documented protocol (not scaled)".format(*protocol_counts(rows)),
        "",
        *_runs(runs),
        "## Environment",
        "",
        *_environment(environment),
        "",
    ]
    for group in groups:
        lines += [
            f"## {escape(group.name)} — {escape(group.title)}",
            "",
            *summary_table(group, environment, runs),
            "",
        ]
    index = 0
    for group in groups:
        lines += [f"## {escape(group.name)}: claim by claim", ""]
        for row in group.rows:
            lines += _section(row, figure_paths, index, environment, runs)
            index += 1
    return "\n".join(lines) + "\n"
