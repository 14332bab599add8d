"""The K models' training sets, and their mini-batches gathered in one operation.

fit_many takes one :class:`~dlverify.data.TensorData` shared by all models or
one per model (same length, shapes, dtypes and device, e.g. a noisy copy per
seed). Per-model sets are stacked once into ``(K, N, ...)`` tensors; a step's
K mini-batches are then one ``index_select`` of the rows ``order_k[i:i+B]``
(offset by ``k·N`` for per-model sets) into a buffer reused from step to step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..data.tensors import TensorData
from ..errors import TrainingError, TrainingTypeError


class StackedTrainingData:
    """The K models' training sets: one shared set, or K sets of one length and shape stacked ``(K, N, ...)``."""

    def __init__(self, train: TensorData | Sequence[TensorData], k: int) -> None:
        if isinstance(train, TensorData):
            sets = [train]
        else:
            sets = list(train)
            if len(sets) != k:
                raise TrainingError(
                    f"train: got {len(sets)} data sets for {k} models (give one shared set or one per model)"
                )
        first = sets[0]
        for index, data in enumerate(sets):
            if not isinstance(data, TensorData):
                raise TrainingTypeError(
                    f"train[{index}] is a {type(data).__name__}, not a TensorData"
                )
            for field in ("inputs", "targets"):
                a, b = getattr(data, field), getattr(first, field)
                if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
                    raise TrainingError(
                        f"train[{index}].{field} is {tuple(a.shape)} {a.dtype} on {a.device}, train[0]."
                        f"{field} {tuple(b.shape)} {b.dtype} on {b.device}: per-model training sets "
                        f"must agree in length, shape, dtype and device"
                    )
        self.k, self.n, self.device = k, len(first), first.device
        self.shared = len(sets) == 1
        self._buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.shared:
            self.inputs, self.targets = first.inputs, first.targets
            self._offsets = None
        else:
            self.inputs = torch.stack([d.inputs for d in sets])
            self.targets = torch.stack([d.targets for d in sets])
            self._offsets = (torch.arange(k, device=self.device) * self.n).unsqueeze(1)

    def all_targets(self) -> torch.Tensor:
        return self.targets if self.shared else self.targets.flatten(0, 1)

    def whole(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every model's whole set in order, ``(K, N, ...)`` (a broadcast view when shared)."""
        if self.shared:
            return (
                self.inputs.unsqueeze(0).expand(self.k, *self.inputs.shape),
                self.targets.unsqueeze(0).expand(self.k, *self.targets.shape),
            )
        return self.inputs, self.targets

    def rows(self, orders: torch.Tensor) -> torch.Tensor:
        """Row indices into :meth:`gather`'s source for per-model orders ``(K, N)``."""
        return orders if self._offsets is None else orders + self._offsets

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mini-batches ``(K, B, ...)`` for row indices ``(K, B)``.

        They are written into buffers kept per batch size (at most two: full
        and last), so they are only valid until the next call.
        """
        flat = rows.reshape(-1)
        inputs = self.inputs if self.shared else self.inputs.flatten(0, 1)
        targets = self.targets if self.shared else self.targets.flatten(0, 1)
        buffers = self._buffers.get(flat.numel())
        if buffers is None:
            buffers = (
                inputs.new_empty((flat.numel(), *inputs.shape[1:])),
                targets.new_empty((flat.numel(), *targets.shape[1:])),
            )
            self._buffers[flat.numel()] = buffers
        x = torch.index_select(inputs, 0, flat, out=buffers[0])
        y = torch.index_select(targets, 0, flat, out=buffers[1])
        return x.view(*rows.shape, *inputs.shape[1:]), y.view(*rows.shape, *targets.shape[1:])
