"""Numpy arrays: read-only fields of frozen result objects, float64 copies of the caller's input."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ProbeError


def readonly(values, dtype=np.float64) -> np.ndarray:
    """A copy of ``values`` as a numpy array that cannot be written to."""
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


def as_float64(values, name: str) -> np.ndarray:
    """``values`` (a tensor, an array or nested sequences of reals) as a float64 numpy array.

    Anything else (strings, objects, complex numbers, ``None``) is a
    :class:`ProbeError` naming ``name``, not numpy's ``ValueError``/``TypeError``.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.is_complex():
            raise ProbeError(f"{name} must be real, got a {values.dtype} tensor")
        return values.to(torch.float64).numpy()
    try:
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"numpy reads it as dtype {array.dtype}")
        return array.astype(np.float64)
    except (TypeError, ValueError) as error:
        shown = repr(values)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise ProbeError(
            f"{name} must be real numbers (a tensor, an array or a nested "
            f"sequence of floats), got {shown} ({type(values).__name__}): "
            f"{error}"
        ) from error
