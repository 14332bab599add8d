"""A labelled data set held as two tensors on one device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorData:
    """Inputs and targets, aligned on the first dimension, on one device.

    It unpacks like a pair (``x, y = data``), so it can be passed wherever the
    probes expect ``(inputs, targets)``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if self.inputs.shape[0] != self.targets.shape[0]:
            raise ValueError(
                f"inputs and targets differ in length: {self.inputs.shape[0]} vs {self.targets.shape[0]}"
            )

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __iter__(self):
        yield self.inputs
        yield self.targets

    @property
    def device(self) -> torch.device:
        """The device of the inputs and targets."""
        return self.inputs.device

    def to(self, device: torch.device | str) -> TensorData:
        """The same data on ``device`` (a no-op when already there)."""
        return TensorData(self.inputs.to(device), self.targets.to(device))

    def take(self, index: torch.Tensor | slice) -> TensorData:
        """A subset by index tensor or slice."""
        return TensorData(self.inputs[index], self.targets[index])

    def split(
        self, fraction: float, *, generator: torch.Generator | None = None
    ) -> tuple[TensorData, TensorData]:
        """Split off the *last* ``fraction`` as a second set, like Keras' ``validation_split``.

        Keras takes the validation split from the end of the arrays before any
        shuffling; pass a ``generator`` to shuffle first instead.
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        n = len(self)
        n_second = int(round(n * fraction))
        order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
        order = order.to(self.device)
        return self.take(order[: n - n_second]), self.take(order[n - n_second :])
