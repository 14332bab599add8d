"""The verdict names, defined once: what a measurement decides, and what a claim test shows.

A measurement (an expectation, a :mod:`dlverify.stats` result, a claim's
evidence) decides a :class:`Verdict`: ``holds``, ``refuted`` or
``inconclusive``. A claim test in the report shows one of those, or a
:class:`NoVerdict` when nothing was decided: ``skipped`` (cannot be decided on
this machine) or ``error`` (the test crashed, or its recorded status is out of
date). :data:`SHOWN` lists all five in the report's order.

Both are ``str`` enums: a member equals, hashes and formats as its value, so
rows and JSON keep plain strings (``Verdict.HOLDS.value``).
"""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """Outcome of confronting a claim with measurements.

    ``holds``: the measurements support the claim at the stated confidence;
    ``refuted``: they support the opposite (the estimate is confidently on the
    other side of the claim's threshold); ``inconclusive``: neither.
    """

    HOLDS = "holds"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


class NoVerdict(str, Enum):
    """Why a claim test shows no verdict on its claim.

    ``skipped``: it cannot be decided here (no CUDA, a data set missing);
    ``error``: the test crashed, or its recorded finding is out of date.
    """

    SKIPPED = "skipped"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: Every verdict a claim test can show, as plain strings, in the report's order.
SHOWN: tuple[str, ...] = tuple(v.value for v in (*Verdict, *NoVerdict))
#: The verdicts a measurement can decide, as plain strings.
DECIDED: tuple[str, ...] = tuple(v.value for v in Verdict)
