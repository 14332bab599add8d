"""What differs between two claims reports: verdicts and measured numbers, claim test by claim test.

Typical pairs: a CPU run and a CUDA run of the same suite, or the report before
and after a change. Rows are matched by pytest node id; rows left over are
matched by claim id and parametrization with the device left out (so
``test_x[cpu]`` meets ``test_x[cuda]``) where that pairing is unique on both
sides. Measured numbers are compared quantity by quantity (nested dicts opened,
lists element by element): two numbers differ when
``|a − b| > atol + rtol · |b|`` (NaN equals NaN); other values when unequal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import format as fmt
from .rows import device_of, instance_of


@dataclass
class RowDifference:
    """One claim test instance present in both reports whose verdict or measured numbers differ."""

    label: str
    verdicts: tuple[str | None, str | None]
    numbers: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def verdict_differs(self) -> bool:
        """Whether the two reports give this claim different verdicts."""
        return self.verdicts[0] != self.verdicts[1]


@dataclass
class Comparison:
    """The rows that differ, and the rows only one report has (their labels)."""

    differences: list[RowDifference]
    only_a: list[str]
    only_b: list[str]

    @property
    def verdict_differs(self) -> bool:
        """Whether some claim test present in both reports has another verdict."""
        return any(difference.verdict_differs for difference in self.differences)


def compare(a: Mapping, b: Mapping, *, rtol: float = 0.0, atol: float = 0.0) -> Comparison:
    """Compare two reports (as read by :func:`dlverify.report.read_report`)."""
    pairs, only_a, only_b = _pair(a.get("claims") or [], b.get("claims") or [])
    differences = []
    for row_a, row_b in pairs:
        numbers = _numbers_that_differ(_measured(row_a), _measured(row_b), rtol, atol)
        verdicts = (row_a.get("verdict"), row_b.get("verdict"))
        difference = RowDifference(_label(row_a, row_b), verdicts, numbers)
        if difference.verdict_differs or numbers:
            differences.append(difference)
    return Comparison(differences, [_label(row) for row in only_a], [_label(row) for row in only_b])


def describe(comparison: Comparison, name_a: str = "A", name_b: str = "B") -> str:
    """The comparison as text, one line per claim test and per differing quantity."""
    verdicts = [d for d in comparison.differences if d.verdict_differs]
    numbers = [d for d in comparison.differences if not d.verdict_differs]
    lines = [f"A = {name_a}", f"B = {name_b}"]
    if verdicts:
        lines.append(f"verdict differs ({len(verdicts)}):")
        for difference in verdicts:
            before, after = difference.verdicts
            lines.append(f"  {difference.label}: {before} (A) -> {after} (B)")
            lines += _number_lines(difference)
    if numbers:
        lines.append(f"same verdict, measured numbers differ ({len(numbers)}):")
        for difference in numbers:
            lines.append(f"  {difference.label}: {difference.verdicts[0]}")
            lines += _number_lines(difference)
    for side, labels in (("A", comparison.only_a), ("B", comparison.only_b)):
        if labels:
            lines.append(f"only in {side} ({len(labels)}): " + ", ".join(labels))
    if not comparison.differences and not comparison.only_a and not comparison.only_b:
        lines.append("no differences: the same claim tests, verdicts and measured numbers")
    return "\n".join(lines) + "\n"


def _number_lines(difference: RowDifference, limit: int = 12) -> list[str]:
    lines = []
    for key, value_a, value_b in difference.numbers[:limit]:
        lines.append(
            f"      {key}: {fmt.clipped(fmt.value(value_a), 70)} (A) -> "
            f"{fmt.clipped(fmt.value(value_b), 70)} (B){_relative(value_a, value_b)}"
        )
    if len(difference.numbers) > limit:
        lines.append(f"      ... and {len(difference.numbers) - limit} more quantities")
    return lines


def _relative(a: Any, b: Any) -> str:
    if _is_number(a) and _is_number(b) and b != 0 and math.isfinite(a) and math.isfinite(b):
        return f"  (relative {fmt.number(abs(a - b) / abs(b), 2)})"
    return ""


def _label(row: Mapping, other: Mapping | None = None) -> str:
    instance = instance_of(row)
    if other is not None and instance_of(other) != instance:
        instance = f"{instance} | {instance_of(other)}"
    return str(row.get("claim_id") or row.get("nodeid")) + (f" [{instance}]" if instance else "")


def _deviceless(row: Mapping) -> tuple[str, str]:
    device = device_of(row)
    parts = [part for part in instance_of(row).split("-") if part and part != device]
    return str(row.get("claim_id") or row.get("nodeid")), "-".join(parts)


def _pair(rows_a: Sequence[Mapping], rows_b: Sequence[Mapping]):
    by_node_b = {row.get("nodeid"): row for row in rows_b}
    pairs, rest_a = [], []
    for row in rows_a:
        match = by_node_b.pop(row.get("nodeid"), None)
        if match is None:
            rest_a.append(row)
        else:
            pairs.append((row, match))
    rest_b = list(by_node_b.values())
    keyed_a, keyed_b = _unique_by_key(rest_a), _unique_by_key(rest_b)
    matched = set(keyed_a) & set(keyed_b)
    pairs += [(keyed_a[key], keyed_b[key]) for key in sorted(matched)]
    paired = {id(row) for pair in pairs for row in pair}
    return (
        pairs,
        [row for row in rest_a if id(row) not in paired],
        [row for row in rest_b if id(row) not in paired],
    )


def _unique_by_key(rows: Iterable[Mapping]) -> dict[tuple[str, str], Mapping]:
    found: dict[tuple[str, str], list[Mapping]] = {}
    for row in rows:
        found.setdefault(_deviceless(row), []).append(row)
    return {key: group[0] for key, group in found.items() if len(group) == 1}


def _measured(row: Mapping) -> dict:
    return _flatten((row.get("evidence") or {}).get("measured") or {})


def _flatten(values: Mapping, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name} › "))
        else:
            flat[name] = value
    return flat


def _numbers_that_differ(
    a: Mapping, b: Mapping, rtol: float, atol: float
) -> list[tuple[str, Any, Any]]:
    keys = list(a) + [key for key in b if key not in a]
    return [
        (key, a.get(key), b.get(key))
        for key in keys
        if key not in a or key not in b or not _same(a[key], b[key], rtol, atol)
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if _is_number(a) and _is_number(b):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= atol + rtol * abs(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rtol, atol) for k in a)
    return a == b
