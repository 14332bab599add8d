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

A claim measured not to hold is recorded on its marker as a :class:`Finding`:
why, in words, and which expectations fail. The numbers are never written
there (they come from the run and the report shows them), so the record cannot
go stale; if a run fails a different set of expectations, the plugin reports a
changed finding instead of the recorded xfail.

Seeds: a comparative claim test runs first on the profile's first look of
seeds; while its verdict is inconclusive the plugin runs it again on the next
look (:class:`dlverify.stats.SeedPlan`), after :meth:`ClaimRecord.start_look`
has cleared the record and set the per-look confidence at which every
statistical expectation is decided.
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, TypedDict

from .errors import ClaimError, ClaimIncompleteError, ClaimTypeError, DlverifyError
from .verdicts import DECIDED, Verdict


class ClaimNotHeld(AssertionError):
    """The claim was measured and does not hold (refuted or inconclusive)."""


class FindingChanged(DlverifyError):
    """A claim recorded as not holding fails for other reasons than the recorded ones.

    Deliberately not a :class:`ClaimNotHeld`: the strict xfail, which only
    accepts that exception, does not swallow it, and the suite turns red until
    the :class:`Finding` is brought up to date.
    """


@dataclass(frozen=True)
class Finding:
    """A claim measured not to hold, as recorded on its ``claim`` marker (``xfail=Finding(...)``).

    ``why`` says in words why the claim does not hold (no measured numbers:
    those come from the run); ``fails`` names the claim's expectations that
    do not hold, by their descriptions as passed to :meth:`ClaimRecord.expect`.
    A run whose failing expectations differ from ``fails`` raises
    :class:`FindingChanged`.

    ``undecided`` names expectations measured on their threshold: the same
    protocol and seeds decided them ``holds`` on one CPU and ``inconclusive``
    on another (the CPUs' matrix kernels round differently, and training
    carries the last-bit difference into another trajectory). In a run they
    may hold or stay inconclusive, never be refuted. A Finding with
    ``undecided`` and no ``fails`` records a claim that holds on some CPUs
    and is undecided on others: its test passes when the claim holds and is
    an xfail when only those expectations stay inconclusive.
    """

    why: str
    fails: tuple[str, ...] = ()
    undecided: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.why, str) or not self.why.strip():
            raise ClaimError("Finding(why=...) must say in words why the claim does not hold")
        fails, undecided = (
            (names,) if isinstance(names, str) else tuple(names)
            for names in (self.fails, self.undecided)
        )
        if not all(isinstance(f, str) and f for f in (*fails, *undecided)):
            raise ClaimError("Finding(fails=..., undecided=...) names expectations by description")
        if not fails and not undecided:
            raise ClaimError(
                "Finding(fails=...) must name at least one expectation (its description)"
            )
        both = sorted(set(fails) & set(undecided))
        if both:
            raise ClaimError(f"an expectation cannot both fail and be undecided: {both}")
        object.__setattr__(self, "fails", fails)
        object.__setattr__(self, "undecided", undecided)

    @property
    def may_hold(self) -> bool:
        """Whether the claim may hold outright (every recorded expectation is undecided)."""
        return not self.fails

    def mismatch(self, failing: list[str], refuted: list[str] = ()) -> str | None:
        """Why ``failing`` (descriptions of the expectations that did not hold) is not this finding, or None.

        ``refuted`` names those of them decided ``refuted``: an undecided
        expectation may stay inconclusive, not turn against the claim.
        """
        recorded, now, undecided = set(self.fails), set(failing), set(self.undecided)
        changes = {
            "now also failing": now - recorded - undecided,
            "no longer failing": recorded - now,
            "refuted, recorded as undecided": undecided & set(refuted),
        }
        parts = [f"{what}: " + "; ".join(sorted(names)) for what, names in changes.items() if names]
        return ", ".join(parts) or None


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
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return str(value)


@dataclass
class Expectation:
    """One expectation of a claim: description, verdict (a :class:`Verdict` value), statistics."""

    description: str
    verdict: str
    detail: Any = None


class ExpectationDict(TypedDict):
    """An :class:`Expectation` as JSON; ``detail`` is a stats result's ``as_dict()``."""

    description: str
    verdict: str
    detail: Any


class FigureDict(TypedDict):
    """A figure as JSON: its name and the PNG, base64-encoded."""

    name: str
    png_base64: str


class EvidenceDict(TypedDict):
    """What :meth:`ClaimRecord.as_dict` returns: a claims report row's ``evidence``."""

    claim_id: str
    source: str
    statement: str
    reported: dict[str, Any]
    measured: dict[str, Any]
    protocol: dict[str, Any]
    scaling: list[str]
    notes: list[str]
    expectations: list[ExpectationDict]
    verdict: str | None
    seeds: dict[str, Any]
    figures: list[FigureDict]


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
    figures: list[FigureDict] = field(default_factory=list)
    confidence: float | None = None
    seeds: dict[str, Any] = field(default_factory=dict)
    undecidable_reason: str = ""

    def start_look(self, confidence: float | None) -> None:
        """Clear what an earlier look recorded; decide statistical expectations at ``confidence``."""
        for name in ("reported", "measured", "protocol"):
            getattr(self, name).clear()
        for name in ("scaling", "notes", "expectations", "figures"):
            getattr(self, name).clear()
        self.undecidable_reason = ""
        self.confidence = confidence

    def undecidable(self, description: str, reason: str) -> None:
        """Record a precondition of the comparison that failed, so that more seeds cannot decide the claim.

        ``description`` names the precondition in words, like an expectation's
        ("every network trained: val acc above chance"); ``reason`` says what
        was measured. The claim is at best inconclusive (never "holds"), and a
        claim decided over a seed plan stops adding seeds.
        """
        self.undecidable_reason = reason
        self.notes.append(reason)
        self.expectations.append(
            Expectation(description, Verdict.INCONCLUSIVE.value, {"reason": reason})
        )

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
        """Add a free-text note to the claims report's entry for this claim."""
        self.notes.append(text)

    def figure(self, fig: Any, name: str = "figure", *, dpi: int = 90) -> None:
        """Keep a matplotlib figure (as PNG) for the claims report.

        A figure made with pyplot is closed (pyplot keeps it otherwise); one made
        as a plain ``matplotlib.figure.Figure`` (:mod:`dlverify.report.figures`)
        needs no closing, and pyplot is not imported for it.
        """
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        pyplot = sys.modules.get("matplotlib.pyplot")
        manager = getattr(getattr(fig, "canvas", None), "manager", None)
        if pyplot is not None and manager is not None:
            pyplot.close(fig)
        self.figures.append(
            {"name": name, "png_base64": base64.b64encode(buffer.getvalue()).decode("ascii")}
        )

    # -- deciding --------------------------------------------------------
    def expect(self, outcome: Any, description: str) -> bool:
        """Record one expectation of the claim; return whether it holds.

        ``outcome`` is a bool (the measurement meets the claim) or a
        :mod:`dlverify.stats` result whose ``verdict`` is holds/refuted/inconclusive.
        In a claim decided over a seed plan, a statistical result is decided
        again at the plan's per-look confidence (``outcome.at_confidence``),
        so looking after each batch of seeds does not inflate the error rate.
        """
        if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
            verdict = (Verdict.HOLDS if bool(outcome) else Verdict.REFUTED).value
            detail = None
        elif hasattr(outcome, "verdict"):
            if self.confidence is not None and hasattr(outcome, "at_confidence"):
                outcome = outcome.at_confidence(self.confidence)
            verdict = to_jsonable(outcome.verdict)
            detail = to_jsonable(outcome)
            if verdict not in DECIDED:
                raise ClaimError(f"unknown verdict {verdict!r} from {outcome!r}")
        else:
            raise ClaimTypeError(
                f"expect() takes a bool or a stats result with .verdict, got {type(outcome).__name__}"
            )
        self.expectations.append(Expectation(description, verdict, detail))
        return verdict == Verdict.HOLDS

    @property
    def verdict(self) -> str | None:
        """Holds if every expectation holds, refuted if any is refuted, else inconclusive."""
        if not self.expectations:
            return None
        verdicts = {e.verdict for e in self.expectations}
        if verdicts == {Verdict.HOLDS.value}:
            return Verdict.HOLDS.value
        return (Verdict.REFUTED if Verdict.REFUTED in verdicts else Verdict.INCONCLUSIVE).value

    def failing(self) -> list[Expectation]:
        """The expectations that do not hold."""
        return [e for e in self.expectations if e.verdict != Verdict.HOLDS]

    def conclude(self) -> None:
        """Raise :class:`ClaimNotHeld` unless every expectation holds."""
        if not self.expectations:
            raise ClaimIncompleteError(
                f"claim test for {self.claim_id} recorded no expectation; call claim.expect(...) "
                f"so the test decides the claim"
            )
        failing = self.failing()
        if failing:
            lines = [f"{self.claim_id}: {self.verdict}"]
            lines += [
                f"  - {e.description}: {e.verdict}" + (f" ({_short(e.detail)})" if e.detail else "")
                for e in failing
            ]
            lines.append(f"  measured: {_short(self.measured)}")
            raise ClaimNotHeld("\n".join(lines))

    def as_dict(self) -> EvidenceDict:
        """Plain JSON-serializable fields of this evidence, as written to ``claims.json``."""
        return {
            "claim_id": self.claim_id,
            "source": self.source,
            "statement": self.statement,
            "reported": self.reported,
            "measured": self.measured,
            "protocol": self.protocol,
            "scaling": self.scaling,
            "notes": self.notes,
            "expectations": [
                {"description": e.description, "verdict": e.verdict, "detail": e.detail}
                for e in self.expectations
            ],
            "verdict": self.verdict,
            "seeds": self.seeds,
            "figures": self.figures,
        }


def _short(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
