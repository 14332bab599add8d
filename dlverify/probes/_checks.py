"""Checks of a probe's scalar arguments, each failure a :class:`ProbeError` saying what to pass.

Called at the top of every public probe, before any model evaluation or copy,
so that a count given as ``2.5``, a tolerance given as ``"1e-3"`` or a NaN
radius is refused with its name instead of surfacing later as a raw
``TypeError`` from ``range`` or ``torch``, or as a silently wrong number.
``bool`` is not accepted where a number is asked for (``True`` is an ``int``
in Python, but never a meaningful count).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ..errors import ProbeError


def describe(value: object) -> str:
    """``value``'s repr (shortened) and type, for error messages."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def integer(value: object, name: str, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or numpy integer, not ``bool``), at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        bound = "" if minimum is None else f" >= {minimum}"
        example = max(minimum or 0, 1)
        if isinstance(value, numbers.Real) and math.isfinite(value):
            example = max(example, round(value))
        raise ProbeError(
            f"{name} must be an integer{bound}, got {describe(value)}; pass e.g. {name}={example}"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ProbeError(f"{name} must be >= {minimum}, got {value}")
    return value


def real(
    value: object,
    name: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    finite: bool = True,
) -> float:
    """``value`` as a ``float`` (a Python/numpy real, not ``bool``), in the stated range.

    ``above``/``below`` are strict bounds, ``at_least`` an inclusive one; NaN is
    always refused, infinities unless ``finite=False``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ProbeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ProbeError(f"{name} must be a finite number, got {value}")
    wrong = (
        (above is not None and not value > above)
        or (at_least is not None and not value >= at_least)
        or (below is not None and not value < below)
    )
    if wrong:
        bounds = [
            f"> {above}" if above is not None else None,
            f">= {at_least}" if at_least is not None else None,
            f"< {below}" if below is not None else None,
        ]
        raise ProbeError(f"{name} must be {' and '.join(b for b in bounds if b)}, got {value}")
    return value


def flag(value: object, name: str) -> bool:
    """``value`` as a ``bool`` (``True``/``False`` only: a string or a number is a mistake)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ProbeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def function(value: object, name: str) -> None:
    """Refuse a ``value`` that cannot be called (a loss given as a tensor, a string, ...)."""
    if not callable(value):
        raise ProbeError(
            f"{name} must be a function, got {describe(value)}; "
            + (
                "pass e.g. torch.nn.functional.cross_entropy"
                if name == "loss_fn"
                else f"pass a callable {name}"
            )
        )


def tensor(value: object, name: str) -> torch.Tensor:
    """Refuse a ``value`` that is not a real (not complex) tensor."""
    if not isinstance(value, torch.Tensor):
        raise ProbeError(f"{name} must be a torch.Tensor, got {describe(value)}")
    if value.is_complex():
        raise ProbeError(f"{name} must be real, got a {value.dtype} tensor")
    return value


def count_non_finite(value: torch.Tensor) -> int:
    """How many entries of a floating-point tensor are NaN or infinite (0 for other dtypes)."""
    if not (value.is_floating_point() or value.is_complex()):
        return 0
    return int((~torch.isfinite(value)).sum())
