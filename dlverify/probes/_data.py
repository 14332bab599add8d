"""Turn the ``data`` argument of a probe into a checked tuple of batches.

``data`` is either one pair ``(inputs, targets)`` of tensors (a tuple, a list, or
any object with tensor attributes ``inputs`` and ``targets``, such as
:class:`dlverify.data.TensorData`) or an iterable of such pairs (a list of
batches, a ``DataLoader``, a generator). The iterable is
read once and kept, because iterative probes (Lanczos, sharpness ascent) pass
over the data many times and a generator can only be read once; a shuffling
``DataLoader`` would also give different batches on each pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..errors import ProbeError
from ._checks import count_non_finite


@dataclass(frozen=True)
class Batches:
    """The batches of a data set on one device, with their sizes.

    Full-data quantities are ``sum_b n_b * q_b / n`` where ``q_b`` is the
    batch's mean quantity, ``n_b`` its size and ``n = sum_b n_b``; ``weights``
    holds ``n_b / n``.
    """

    pairs: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    weights: tuple[float, ...]
    count: int


def _as_pair(obj: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``obj`` as ``(inputs, targets)`` when it is one pair of tensors, else ``None``."""
    if isinstance(obj, (tuple, list)):
        if len(obj) == 2 and all(isinstance(t, torch.Tensor) for t in obj):
            return obj[0], obj[1]
        return None
    inputs, targets = getattr(obj, "inputs", None), getattr(obj, "targets", None)
    if isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor):
        return inputs, targets
    return None


def as_batches(data: object, device: torch.device) -> Batches:
    """Check ``data`` and return its non-empty batches moved to ``device``.

    Raises :class:`ProbeError` when the data are empty, a batch is not a pair of
    tensors, or a batch's inputs and targets disagree on the number of rows.
    Batches with zero rows are dropped (they carry no weight).
    """
    if _as_pair(data) is not None:
        raw: Iterable = [data]
    elif isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise ProbeError(
            "data must be a pair (inputs, targets) of tensors or an iterable of such pairs, "
            f"got {type(data).__name__}"
        )
    else:
        raw = data
    pairs = []
    for i, batch in enumerate(raw):
        pair = _as_pair(batch)
        if pair is None:
            raise ProbeError(
                f"batch {i} of data is not a pair (inputs, targets) of tensors "
                f"but {type(batch).__name__}"
            )
        inputs, targets = pair
        if inputs.dim() == 0 or targets.dim() == 0:
            raise ProbeError(
                f"batch {i}: inputs and targets need a leading batch dimension, "
                f"got shapes {tuple(inputs.shape)} and {tuple(targets.shape)}"
            )
        if inputs.shape[0] != targets.shape[0]:
            raise ProbeError(
                f"batch {i}: inputs have {inputs.shape[0]} rows but targets have "
                f"{targets.shape[0]} (shapes {tuple(inputs.shape)} and "
                f"{tuple(targets.shape)})"
            )
        _check_finite(inputs, f"batch {i}: inputs")
        _check_finite(targets, f"batch {i}: targets")
        if inputs.shape[0] > 0:
            pairs.append((inputs.to(device), targets.to(device)))
    count = sum(x.shape[0] for x, _ in pairs)
    if count == 0:
        raise ProbeError("data are empty: no batch has any rows to measure on")
    return Batches(tuple(pairs), tuple(x.shape[0] / count for x, _ in pairs), count)


def as_inputs(inputs: object, device: torch.device) -> torch.Tensor:
    """Check a tensor of inputs (leading batch dimension, at least one row)."""
    if not isinstance(inputs, torch.Tensor):
        raise ProbeError(
            f"inputs must be a tensor with a leading batch dimension, got {type(inputs).__name__}"
        )
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ProbeError(f"inputs are empty (shape {tuple(inputs.shape)}): nothing to measure on")
    _check_finite(inputs, "inputs")
    return inputs.to(device)


def _check_finite(values: torch.Tensor, what: str) -> None:
    """Refuse NaN or infinite data: every activation they reach would be NaN too."""
    bad = count_non_finite(values)
    if bad:
        raise ProbeError(
            f"{what} hold {bad} NaN or infinite value(s) (shape "
            f"{tuple(values.shape)}); remove or impute those rows before probing"
        )
