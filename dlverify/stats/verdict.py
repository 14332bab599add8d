"""The one rule every interval-based result uses to reach its three-way verdict.

:class:`Verdict` itself is defined in :mod:`dlverify.verdicts` (with the names a
claim test shows when nothing was decided) and imported from here as before.
"""

from __future__ import annotations

import math
from typing import Any

from ..verdicts import Verdict
from ._common import StatsError, fmt

ALTERNATIVES = ("greater", "less", "within")


def decide(ci: tuple[float, float], region: tuple[float, float]) -> Verdict:
    """Verdict of a claim "the true value lies in the open interval ``region``".

    * holds if the confidence interval lies strictly inside ``region``
      (``region_low < ci_low`` and ``ci_high < region_high``);
    * refuted if it lies entirely outside the closed region
      (``ci_high < region_low`` or ``ci_low > region_high``);
    * inconclusive otherwise (it touches or straddles a boundary).

    Claims "greater than m" use ``region = (m, inf)``, "less than m"
    ``(−inf, m)``, "within a band" ``(low, high)``.
    """
    ci_low, ci_high = ci
    region_low, region_high = region
    if region_low < ci_low and ci_high < region_high:
        return Verdict.HOLDS
    if ci_high < region_low or ci_low > region_high:
        return Verdict.REFUTED
    return Verdict.INCONCLUSIVE


def claim_text(alternative: str, region: tuple[float, float]) -> str:
    """The claim in a few characters: "> 0", "< 0.1", "in (0.3, 0.55)"."""
    if alternative == "greater":
        return f"> {fmt(region[0])}"
    if alternative == "less":
        return f"< {fmt(region[1])}"
    return f"in ({fmt(region[0])}, {fmt(region[1])})"


def value_region(alternative: str, value: float | tuple[float, float]) -> tuple[float, float]:
    """The open region a claim about one quantity puts it in: above, below or inside ``value``."""
    if alternative == "greater":
        return (value, math.inf)
    if alternative == "less":
        return (-math.inf, value)
    return value


def check_value(value: Any, alternative: str) -> float | tuple[float, float]:
    """A finite threshold, or a finite ``(low, high)`` with ``low < high`` for ``"within"``."""
    if alternative == "within":
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise StatsError(
                f"alternative='within' needs value=(low, high), got {value!r}"
            ) from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise StatsError(f"a band needs finite low < high, got ({low}, {high})")
        return (low, high)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StatsError(
            f"alternative={alternative!r} needs one number as value, got {value!r} "
            f"(for a band use alternative='within' or within())"
        ) from None
    if not math.isfinite(value):
        raise StatsError(f"value must be finite, got {value}")
    return value


def as_verdict(outcome: Any) -> Verdict:
    """A :class:`Verdict` from a Verdict, its string, a bool, or a result with ``.verdict``."""
    if hasattr(outcome, "verdict"):
        outcome = outcome.verdict
    if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
        return Verdict.HOLDS if outcome else Verdict.REFUTED
    try:
        return Verdict(outcome)
    except ValueError:
        raise StatsError(
            f"not a verdict: {outcome!r} (expected one of "
            f"{', '.join(v.value for v in Verdict)}, a bool, or a result with .verdict)"
        ) from None


def combine(*verdicts: Any) -> Verdict:
    """Conjunction of claims: holds iff every part holds; refuted if any part is refuted; else inconclusive.

    Each argument is a :class:`Verdict`, its string value, a bool (True →
    holds, False → refuted, as :meth:`dlverify.evidence.ClaimRecord.expect`
    reads them) or a result object with a ``verdict`` attribute.
    """
    if not verdicts:
        raise StatsError("combine() needs at least one verdict")
    parts = {as_verdict(v) for v in verdicts}
    if parts == {Verdict.HOLDS}:
        return Verdict.HOLDS
    return Verdict.REFUTED if Verdict.REFUTED in parts else Verdict.INCONCLUSIVE
