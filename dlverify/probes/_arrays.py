"""Read-only numpy arrays for the fields of frozen result objects."""

from __future__ import annotations

import numpy as np


def readonly(values, dtype=np.float64) -> np.ndarray:
    """A copy of ``values`` as a numpy array that cannot be written to."""
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array
