"""What a claim test records, and how its verdict is reached.

A claim test receives a :class:`ClaimRecord` (the ``claim`` fixture), writes
down what the report said and what was measured, and states its expectations.
When the test body returns, the plugin calls :meth:`ClaimRecord.conclude`:

* every expectation holds → the claim holds (the test passes);
* any expectation does not hold → :class:`ClaimNotHeld` is raised with the
  numbers. Tests whose claim was measured not to hold carry a strict ``xfail``
  that only this exception satisfies, so a crash is never taken for a verdict.

Expectations are either booleans (a direct measurement against the claim's
own threshold) or results from :mod:`dlverify.stats` with a three-way verdict
(``holds``/``refuted``/``inconclusive``); the record keeps the worst of them.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("holds", "refuted", "inconclusive")


class ClaimNotHeld(AssertionError):
    """The claim was measured and does not hold (refuted or inconclusive)."""


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numbers, tensors, arrays, dataclasses with ``as_dict``."""
    if hasattr(value, "as_dict"):
        return to_jsonable(value.as_dict())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "value") and isinstance(getattr(value, "value"), str):  # enums
        return value.value
    return str(value)


@dataclass
class Expectation:
    description: str
    verdict: str
    detail: Any = None


@dataclass
class ClaimRecord:
    """Evidence for one claim: reported vs measured numbers, expectations, figures."""

    claim_id: str
    source: str = ""
    statement: str = ""
    reported: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    scaling: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)

    # -- recording -------------------------------------------------------
    def report(self, **numbers: Any) -> None:
        """What the source report says (its numbers, quoted)."""
        self.reported.update({k: to_jsonable(v) for k, v in numbers.items()})

    def measure(self, **numbers: Any) -> None:
        """What this run measured."""
        self.measured.update({k: to_jsonable(v) for k, v in numbers.items()})

    def setup(self, **settings: Any) -> None:
        """Protocol settings used (optimizer, epochs, seeds, data subset, ...)."""
        self.protocol.update({k: to_jsonable(v) for k, v in settings.items()})

    def scaled(self, how: str) -> None:
        """Say how the documented protocol was scaled down under this profile."""
        self.scaling.append(how)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def figure(self, fig: Any, name: str = "figure", *, dpi: int = 90) -> None:
        """Keep a matplotlib figure (as PNG) for the claims report, then close it."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass
        self.figures.append({"name": name, "png_base64": base64.b64encode(buffer.getvalue()).decode("ascii")})

    # -- deciding --------------------------------------------------------
    def expect(self, outcome: Any, description: str) -> bool:
        """Record one expectation of the claim; return whether it holds.

        ``outcome`` is a bool (the measurement meets the claim) or a
        :mod:`dlverify.stats` result whose ``verdict`` is holds/refuted/inconclusive.
        """
        if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
            verdict, detail = ("holds" if bool(outcome) else "refuted"), None
        elif hasattr(outcome, "verdict"):
            verdict = to_jsonable(outcome.verdict)
            detail = to_jsonable(outcome)
            if verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {verdict!r} from {outcome!r}")
        else:
            raise TypeError(f"expect() takes a bool or a stats result with .verdict, got {type(outcome).__name__}")
        self.expectations.append(Expectation(description, verdict, detail))
        return verdict == "holds"

    @property
    def verdict(self) -> str | None:
        """holds if every expectation holds, refuted if any is refuted, else inconclusive."""
        if not self.expectations:
            return None
        verdicts = {e.verdict for e in self.expectations}
        if verdicts == {"holds"}:
            return "holds"
        return "refuted" if "refuted" in verdicts else "inconclusive"

    def conclude(self) -> None:
        """Raise :class:`ClaimNotHeld` unless every expectation holds."""
        if not self.expectations:
            raise RuntimeError(
                f"claim test for {self.claim_id} recorded no expectation; call claim.expect(...) "
                f"so the test decides the claim"
            )
        failing = [e for e in self.expectations if e.verdict != "holds"]
        if failing:
            lines = [f"{self.claim_id}: {self.verdict}"]
            lines += [f"  - {e.description}: {e.verdict}" + (f" ({_short(e.detail)})" if e.detail else "") for e in failing]
            lines.append(f"  measured: {_short(self.measured)}")
            raise ClaimNotHeld("\n".join(lines))

    def as_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "source": self.source,
            "statement": self.statement,
            "reported": self.reported,
            "measured": self.measured,
            "protocol": self.protocol,
            "scaling": self.scaling,
            "notes": self.notes,
            "expectations": [{"description": e.description, "verdict": e.verdict, "detail": e.detail} for e in self.expectations],
            "verdict": self.verdict,
            "figures": self.figures,
        }


def _short(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
