"""The report's view of the collected rows: grouping, instances, devices, errors.

A *row* (:class:`ClaimRow`) is one executed claim test instance as the pytest
plugin hands it to the report, and as ``claims.json`` keeps it. Functions here
read rows; none changes them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from ..evidence import EvidenceDict
from ..verdicts import SHOWN, NoVerdict, Verdict

#: The verdicts a row can show, in the report's order (defined in :mod:`dlverify.verdicts`).
VERDICT_ORDER = SHOWN


class ClaimRow(TypedDict, total=False):
    """One claim test instance, as the plugin collects it and the report reads it.

    ``nodeid`` is always there; a row read from an older ``claims.json`` may
    lack any other key, so the report reads them with ``row.get``.

    * from collection: ``claim_id``, ``report`` (the id's prefix), ``source``,
      ``statement`` (the docstring's first paragraph), ``expected_not_to_hold``
      (the Finding's why, or None), ``recorded_undecided`` (the why of a
      Finding that lets the claim hold: undecided on some CPUs), ``test``,
      ``instance`` (the parametrization id), ``device``;
    * from the run: ``outcome`` (passed, failed, xfailed, xpassed-strict,
      skipped, error), ``duration_s``, ``evidence`` (the claim's
      :class:`~dlverify.evidence.EvidenceDict`), ``skip_reason``, ``error`` (the
      failure text), ``not_held`` (the failure was a ``ClaimNotHeld``),
      ``worker_crashed``;
    * when the report is written: ``profile``, ``verdict`` (one of
      :data:`VERDICT_ORDER`), ``run`` (the number of the run it comes from).
    """

    nodeid: str
    claim_id: str
    report: str
    source: str
    statement: str
    expected_not_to_hold: str | None
    recorded_undecided: str | None
    test: str
    instance: str
    device: str
    outcome: str | None
    duration_s: float
    evidence: EvidenceDict
    skip_reason: str
    error: str
    not_held: bool
    worker_crashed: bool
    profile: str
    verdict: str
    run: int


_INSTANCE = re.compile(r"\[(?P<id>.*)\]$")
_DEVICE_WORDS = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


@dataclass
class ReportGroup:
    """The rows of one source report (lab1, hw1, ...), in claim id order."""

    name: str
    title: str
    rows: list[ClaimRow] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        """How many rows of the group have each verdict."""
        return Counter(row.get("verdict") for row in self.rows)


def sort_key(row: Mapping) -> tuple:
    """Claims by id; the instances of one claim by node id."""
    return row.get("claim_id", ""), row.get("nodeid", "")


def group_by_report(
    rows: Iterable[Mapping], titles: Mapping[str, str] | None = None, order: Sequence[str] = ()
) -> list[ReportGroup]:
    """Rows grouped by source report, each group titled from ``titles``.

    The reports in ``order`` come first (a project's catalogue,
    :mod:`.catalogue`), any other report after, sorted.
    """
    titles = titles or {}
    groups: dict[str, ReportGroup] = {}
    for row in sorted(rows, key=sort_key):
        name = report_of(row)
        if name not in groups:
            groups[name] = ReportGroup(name, titles.get(name, name))
        groups[name].rows.append(dict(row))
    known = [groups[name] for name in dict.fromkeys(order) if name in groups]
    others = [groups[name] for name in sorted(groups) if name not in order]
    return known + others


def report_of(row: Mapping) -> str:
    """The source report's short name, from the row or from the claim id's prefix."""
    return row.get("report") or (row.get("claim_id", "").split(".", 1)[0]) or "other"


def instance_of(row: Mapping) -> str:
    """The parametrization id of the test instance (``cpu``, ``cuda``, ``standin-cpu``), or ``""``."""
    if row.get("instance"):
        return str(row["instance"])
    match = _INSTANCE.search(row.get("nodeid", ""))
    return match.group("id") if match else ""


def device_of(row: Mapping) -> str:
    """The device the instance ran on: recorded by the plugin, else the protocol's, else the test id's."""
    if row.get("device"):
        return str(row["device"])
    protocol = (row.get("evidence") or {}).get("protocol") or {}
    if isinstance(protocol.get("device"), str):
        return protocol["device"]
    for part in instance_of(row).split("-"):
        if _DEVICE_WORDS.match(part):
            return part
    return ""


def anchor_of(row: Mapping) -> str:
    """An HTML id for the row's section: the claim id plus the instance, safe characters only."""
    text = row.get("claim_id", "claim") + ("--" + instance_of(row) if instance_of(row) else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def skip_reason(row: Mapping) -> str:
    """The skip reason without pytest's ``Skipped:`` prefix."""
    reason = str(row.get("skip_reason") or "")
    return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason


def error_summary(row: Mapping) -> str:
    """Why a row is an error, in one sentence (the traceback is in ``row['error']``)."""
    outcome = row.get("outcome")
    measured = (row.get("evidence") or {}).get("verdict")
    if outcome == "xpassed-strict":
        return (
            "Marked as not holding (strict xfail), but the claim holds as measured now: "
            "update the test's xfail and the catalogue."
        )
    not_holding = measured in (Verdict.REFUTED, Verdict.INCONCLUSIVE)
    if outcome == "failed" and row.get("not_held") and not_holding:
        return (
            f"Measured {measured}, but the test is not marked as not holding: a new finding; "
            f"record it with xfail on the claim marker."
        )
    if row.get("worker_crashed"):
        return (
            "The worker process running this test died (killed, out of memory, or a crash in native code); "
            "no verdict."
        )
    if outcome == "error":
        return "The test could not be set up or torn down; no verdict."
    if outcome is None:
        return "The test did not finish; no verdict."
    return "The test crashed before deciding the claim; no verdict."


def error_excerpt(row: Mapping, lines: int = 25, width: int = 300) -> str:
    """The part of the failure text worth reading, lines cut to ``width`` characters.

    For a claim measured not to hold (``ClaimNotHeld`` without its xfail mark)
    that is the exception's message (pytest's ``E`` lines); for a crash, the last
    ``lines`` lines: the failing source line, the exception and where it was raised.
    """
    text = str(row.get("error") or "").rstrip().splitlines()
    if row.get("not_held"):
        message = [line for line in text if line.startswith("E ")]
        text = message or text
    return "\n".join(
        line if len(line) <= width else line[: width - 1] + "…" for line in text[-lines:]
    )


def seeds_line(row: Mapping) -> str:
    """How many seeds decided the claim and why it stopped: "5 seeds (looks 3, 5, 10): decided"."""
    seeds = (row.get("evidence") or {}).get("seeds") or {}
    if not seeds.get("used"):
        return ""
    looks = ", ".join(str(n) for n in seeds.get("looks") or [])
    return f"{seeds['used']} seeds (looks {looks}): {seeds.get('stopped', '')}"


def paired_numbers(evidence: Mapping) -> list[tuple[str, object, object, bool, bool]]:
    """(quantity, reported, measured, has_reported, has_measured): the report's quantities first.

    Quantities the report gives are listed in its order next to the measured value
    of the same name; quantities only measured follow. A quantity whose value is a
    dict (``{"sin": {"r2": ...}}``) is opened one level: ``sin › r2``.
    """
    reported = _flatten(evidence.get("reported") or {})
    measured = _flatten(evidence.get("measured") or {})
    pairs = [(key, reported[key], measured.get(key), True, key in measured) for key in reported]
    pairs += [(key, None, measured[key], False, True) for key in measured if key not in reported]
    return pairs


def _flatten(numbers: Mapping) -> dict:
    flat: dict = {}
    for key, value in numbers.items():
        if isinstance(value, Mapping) and value:
            flat.update({f"{key} › {inner}": item for inner, item in value.items()})
        else:
            flat[key] = value
    return flat


def counts(rows: Iterable[Mapping]) -> Counter:
    """How many rows have each verdict."""
    return Counter(row.get("verdict") for row in rows)


def protocol_counts(rows: Iterable[Mapping]) -> tuple[int, int]:
    """``(documented, run)``: of the claim ids that ran (not skipped), how many ran the documented protocol.

    A claim ran its documented protocol when none of its instances recorded a
    ``claim.scaled(...)`` (the evidence's ``scaling``); one scaled instance
    makes the claim scaled.
    """
    ran: dict[str, bool] = {}
    for row in rows:
        if row.get("verdict") == NoVerdict.SKIPPED or not row.get("claim_id"):
            continue
        scaled = bool((row.get("evidence") or {}).get("scaling"))
        ran[row["claim_id"]] = ran.get(row["claim_id"], False) or scaled
    return sum(not scaled for scaled in ran.values()), len(ran)


def profile_of(row: Mapping, environment: Mapping) -> str:
    """The profile the row was run under: its own (a report merged from runs), else the report's."""
    return str(row.get("profile") or environment.get("profile") or "")


def run_label(row: Mapping, runs: Sequence[Mapping] | None) -> str:
    """``run 2`` when the report merges several runs (the row's run), else ``""``."""
    if not runs or len(runs) < 2 or row.get("run") is None:
        return ""
    return f"run {row['run']}"


def runs_note(runs: Sequence[Mapping] | None) -> str:
    """One sentence on where the rows come from, when that is not simply one complete run."""
    runs = list(runs or [])
    interrupted = [str(run.get("id")) for run in runs if run.get("interrupted")]
    parts = []
    if len(runs) > 1:
        parts.append(
            f"This report merges {len(runs)} runs: a run of some claims replaced their "
            f"rows and kept the others; each row names the run it comes from."
        )
    if interrupted:
        parts.append(
            f"Run {', '.join(interrupted)} was interrupted: only its claim tests that "
            f"finished are in the report."
        )
    return " ".join(parts)


def run_table(runs: Sequence[Mapping] | None) -> list[tuple[str, ...]]:
    """One text tuple per run: number, start, end, command, claim tests, device, status."""
    table = []
    for run in runs or []:
        environment = run.get("environment") or {}
        status = "interrupted" if run.get("interrupted") else "complete"
        where = f"{environment.get('device_option', '')} · {environment.get('profile', '')}"
        table.append(
            (
                str(run.get("id", "")),
                str(run.get("started", "")),
                str(run.get("finished", "")),
                str(run.get("command", "")),
                str(run.get("claim_tests", "")),
                where,
                status,
            )
        )
    return table


RUN_HEADERS = ("run", "started", "finished", "command", "claim tests", "device · profile", "status")
