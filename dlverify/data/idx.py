"""Parse the IDX format of MNIST and Fashion-MNIST (LeCun et al., 1998).

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension; the data follow.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptDataError


def parse_idx(content: bytes, *, name: str = "IDX file", ndim: int | None = None) -> np.ndarray:
    """Return the array stored in an unsigned-byte IDX file."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise CorruptDataError(f"{name}: not an IDX file (bad magic number)")
    if content[2] != 0x08:
        raise CorruptDataError(f"{name}: IDX type code {content[2]:#x} is not unsigned byte (0x08)")
    dims = content[3]
    if ndim is not None and dims != ndim:
        raise CorruptDataError(f"{name}: expected {ndim} dimensions, the header says {dims}")
    header = 4 + 4 * dims
    if len(content) < header:
        raise CorruptDataError(f"{name}: truncated header")
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(content) != expected:
        raise CorruptDataError(
            f"{name}: the header promises {expected} bytes for shape {shape}, the file has {len(content)}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)
