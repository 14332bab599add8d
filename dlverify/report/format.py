"""Plain-text formatting of evidence values for the claims report.

Numbers are shown to four significant digits (the precision the source reports
quote), very small or very large ones in scientific notation; lists are shortened
so a per-step history does not flood a table cell; statistics results (the
``detail`` of an expectation) are condensed by their ``kind`` to "estimate [CI
low, CI high]", effect size and n. Everything here returns plain text: the HTML
and Markdown writers escape it themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

SIGNIFICANT = 4
LIST_SHOWN = 5

# Fields of a result without a known kind that are not worth a table cell.
SKIPPED_DETAIL_KEYS = {
    "verdict",
    "reason",
    "alternative",
    "method",
    "description",
    "kind",
    "seed",
    "n_resamples",
    "interval",
    "note",
}


def number(value: float | int, significant: int = SIGNIFICANT) -> str:
    """A number to ``significant`` digits: ``567.6``, ``0.02253``, ``3.2e-07``, ``60000``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e6:
        return str(int(value))
    if 1e-4 <= magnitude < 1e6:
        decimals = max(0, significant - 1 - math.floor(math.log10(magnitude)))
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exponent = f"{value:.{significant - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exponent):+03d}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value(item: Any, *, depth: int = 0) -> str:
    """Any JSON value of the evidence, compactly: numbers, lists (shortened), dicts as ``k v; ...``."""
    if item is None:
        return "—"
    if isinstance(item, bool) or _is_number(item):
        return number(item)
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        if depth >= 2:
            return "{…}"
        return "; ".join(f"{key} {value(inner, depth=depth + 1)}" for key, inner in item.items())
    if isinstance(item, Sequence):
        parts = [value(inner, depth=depth + 1) for inner in item]
        if len(parts) > LIST_SHOWN:
            parts = parts[:3] + ["…", parts[-1]]
            return f"[{', '.join(parts)}] (n={len(item)})"
        return f"[{', '.join(parts)}]"
    return str(item)


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def full_value(item: Any) -> str:
    """The whole value, unshortened (for tooltips and the JSON-minded reader)."""
    if isinstance(item, bool) or _is_number(item):
        return number(item, significant=8)
    if isinstance(item, Mapping):
        return "; ".join(f"{key} {full_value(inner)}" for key, inner in item.items())
    if isinstance(item, Sequence) and not isinstance(item, str):
        return "[" + ", ".join(full_value(inner) for inner in item) + "]"
    return "—" if item is None else str(item)


def _interval(raw: Any) -> tuple[Any, Any] | None:
    """``(low, high)`` from a result's ``ci``: a pair (as stats results write it) or a mapping."""
    if isinstance(raw, Mapping) and ("low" in raw or "high" in raw):
        return raw.get("low"), raw.get("high")
    if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) == 2:
        return raw[0], raw[1]
    return None


def _ci(detail: Mapping) -> str:
    interval = _interval(detail.get("ci"))
    if interval is None:
        return ""
    confidence = detail.get("confidence")
    level = (
        f" {number(confidence * 100 if confidence <= 1 else confidence, 3)}%"
        if _is_number(confidence)
        else ""
    )
    return f" [{value(interval[0])}, {value(interval[1])}]{level}"


def _claimed(detail: Mapping) -> str:
    return f"; claimed {detail['claim']}" if detail.get("claim") else ""


def _extras(detail: Mapping, *pairs: tuple[str, str]) -> str:
    parts = [
        f"{label} {value(detail[key])}".strip()
        for key, label in pairs
        if detail.get(key) is not None
    ]
    if detail.get("note"):
        parts.append(str(detail["note"]))
    return "".join(f" · {part}" for part in parts)


def _paired(detail: Mapping) -> str:
    return f"a−b = {value(detail.get('effect'))}{_ci(detail)}{_claimed(detail)}" + _extras(
        detail, ("effect_size", "d_z"), ("n", "n")
    )


def _value(detail: Mapping) -> str:
    return f"mean = {value(detail.get('mean'))}{_ci(detail)}{_claimed(detail)}" + _extras(
        detail, ("effect_size", "d"), ("n", "n")
    )


def _proportion(detail: Mapping) -> str:
    counted = (
        f" ({detail['successes']}/{detail['trials']})"
        if "successes" in detail and "trials" in detail
        else ""
    )
    return (
        f"p = {value(detail.get('proportion'))}{counted}{_ci(detail)}{_claimed(detail)}"
        + _extras(detail, ("method", ""))
    )


def _trend(detail: Mapping) -> str:
    if detail.get("method") == "page":
        spread = (
            f" (Page's L = {value(detail.get('page_l'))}, mean within-seed ρ "
            f"{value(detail.get('mean_seed_rho'))}, p = {value(detail.get('p_value'))})"
        )
    else:
        spread = _ci(detail) if detail.get("ci") else f" (p = {value(detail.get('p_value'))})"
    shape = ""
    if detail.get("n_conditions") is not None:
        shape = f" · {detail['n_conditions']} conditions × {detail.get('n_seeds', '?')} seeds"
    return (
        f"ρ = {value(detail.get('rho'))}{spread}; claimed {detail.get('alternative', '?')}{shape}"
        + _extras(detail)
    )


def _ordering(detail: Mapping) -> str:
    sign = " > " if detail.get("alternative", "greater") == "greater" else " < "
    steps = [
        f"{'−'.join(map(str, c.get('pair', ['?', '?'])))} {c.get('verdict', '?')}: {_paired(c).split(';')[0]}"
        for c in detail.get("comparisons") or []
    ]
    return sign.join(map(str, detail.get("order") or [])) + (
        " — " + "; ".join(steps) if steps else ""
    )


def _best(detail: Mapping) -> str:
    means = detail.get("means") or {}
    best = detail.get("best")
    head = f"best: {best}" + (f" ({value(means[best])})" if best in means else "")
    if detail.get("subject") is not None and detail.get("subject") != best:
        head += f"; claimed {detail['subject']}"
    versus = [
        f"vs {key} {c.get('verdict', '?')}" for key, c in (detail.get("comparisons") or {}).items()
    ]
    return head + (" · " + ", ".join(versus) if versus else "")


def _sequential(detail: Mapping) -> str:
    looks = ", ".join(str(n) for n in detail.get("looks_done") or [])
    inner = stats_detail(detail.get("result"))
    return (
        f"{detail.get('verdict', '?')} after {value(detail.get('n'))} seeds (looks {looks}; "
        f"{detail.get('stopped', '?')})" + (f": {inner}" if inner else "")
    )


#: One formatter per ``kind`` of :mod:`dlverify.stats` result (its ``as_dict()["kind"]``).
KINDS = {
    "paired": _paired,
    "value": _value,
    "proportion": _proportion,
    "trend": _trend,
    "ordering": _ordering,
    "best": _best,
    "sequential": _sequential,
}


def stats_detail(detail: Any) -> str:
    """A statistics result in one line: ``a−b = 0.0123 [0.0051, 0.019] 95%; claimed a−b > 0 · d_z 1.2 · n 5``.

    ``detail`` is the JSON form of a :mod:`dlverify.stats` result (its
    ``as_dict()``), written by the formatter of its ``kind`` (:data:`KINDS`) as
    its ``str()`` would be. A result without a known kind, or whose fields do not
    fit its kind, shows its ``ci`` and its short scalar fields as ``name value``
    (:func:`fields`). Returns ``""`` when there is nothing to show.
    """
    if detail is None:
        return ""
    if not isinstance(detail, Mapping):
        return value(detail)
    formatter = KINDS.get(detail.get("kind"))
    if formatter is not None:
        try:
            return formatter(detail)
        except (TypeError, KeyError, AttributeError, ValueError):
            pass  # a result of an older or newer shape: its fields as they are
    return fields(detail)


def fields(detail: Mapping) -> str:
    """A result's interval (``ci``) and short scalar fields: ``ci [-1.5, 0.25] · estimate -0.6``."""
    parts = []
    interval = _interval(detail.get("ci"))
    if interval is not None:
        parts.append(f"ci [{value(interval[0])}, {value(interval[1])}]")
    for key, inner in detail.items():
        if key in SKIPPED_DETAIL_KEYS or key == "ci":
            continue
        if isinstance(inner, (int, float, bool)) or (
            isinstance(inner, str) and 0 < len(inner) <= 40
        ):
            parts.append(f"{key} {value(inner)}")
    return " · ".join(parts)


_RST_LITERAL = re.compile(r"``(.+?)``")


def one_line(text: str, limit: int = 240) -> str:
    """Whitespace collapsed, RST ``literals`` unwrapped to `literals`, cut at ``limit`` characters."""
    text = _RST_LITERAL.sub(r"`\1`", " ".join((text or "").split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def duration(seconds: float | None) -> str:
    """Seconds as ``0.4 s``, ``12 s`` or ``3 min 05 s``."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"
