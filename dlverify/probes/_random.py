"""Random draws from an explicit generator (no global RNG state)."""

from __future__ import annotations

import torch

from ..errors import ProbeError

#: Seed of the generator a probe creates when the caller passes ``generator=None``,
#: so that a probe's result is reproducible by default.
DEFAULT_SEED = 0


def resolve(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(DEFAULT_SEED)
    if not isinstance(generator, torch.Generator):
        raise ProbeError(
            f"generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}; pass e.g. torch.Generator().manual_seed(0)"
        )
    return generator


def normal(
    n: int, generator: torch.Generator, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` standard normal draws made on the generator's device, moved to ``device``.

    Drawing on the generator's device keeps a CPU generator's draws identical
    whatever device the model is on.
    """
    return torch.randn(n, generator=generator, device=generator.device, dtype=dtype).to(device)


def uniform(
    n: int, generator: torch.Generator, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` draws from U[-1, 1), made on the generator's device, moved to ``device``."""
    u = torch.rand(n, generator=generator, device=generator.device, dtype=dtype)
    return (2 * u - 1).to(device)
