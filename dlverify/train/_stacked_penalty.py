"""Keras L1/L2 kernel penalties of K models, evaluated and differentiated on the stacked kernels.

``fit`` adds ``penalty(model)`` to each mini-batch loss and lets autograd
differentiate it; for :class:`~.regularizers.L1Penalty` and
:class:`~.regularizers.L2Penalty` that gradient is ``factor · sign(W)``
(the backward of ``abs``) or ``factor · 2W`` (the backward of ``pow(2)``) on
each penalized kernel. :class:`StackedPenalty` computes the same values and
the same gradients for all K models at once, each model with its own penalty
(or none), from the ``(K, out, in)`` kernels of a :class:`._stacked.StackedMLP`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._stacked import StackedMLP
from .regularizers import L1Penalty, L2Penalty

KernelPenalty = L1Penalty | L2Penalty


class StackedPenalty:
    """L1/L2 kernel penalties of each model applied to the stacked kernels, as autograd would differentiate them.

    Value: ``factor_k · (0 + Σ_{l ∈ layers_k} s_l)`` with ``s_l = Σ|W_l|`` or ``Σ W_l²``,
    summed in the penalty's layer order as :class:`L1Penalty`/:class:`L2Penalty`
    do. Gradient added to ``∂W_l``: ``factor_k · sign(W_l)`` (``abs``'s backward)
    or ``factor_k · (2 W_l)`` (``pow``'s backward), zero for unpenalized models.
    """

    def __init__(self, penalties: Sequence[KernelPenalty | None], net: StackedMLP) -> None:
        self.net = net
        k, layers = net.k, net.num_linear
        self.groups: dict[KernelPenalty, list[int]] = {}
        for index, penalty in enumerate(penalties):
            if penalty is not None:
                self.groups.setdefault(penalty, []).append(index)
        coefficient = {kind: [[0.0] * k for _ in range(layers)] for kind in ("l1", "l2")}
        self.layer_indices = {}
        for penalty, models in self.groups.items():
            kind = "l1" if isinstance(penalty, L1Penalty) else "l2"
            self.layer_indices[penalty] = penalty.linear_indices(layers)
            for layer in set(self.layer_indices[penalty]):
                for model in models:
                    coefficient[kind][layer][model] = penalty.factor
        # Per layer and kind: None (no model penalized), a float (all alike) or a (K, 1, 1) tensor.
        self.gradient_factors = []
        for layer in range(layers):
            entry = {}
            for kind in ("l1", "l2"):
                values = coefficient[kind][layer]
                if not any(values):
                    continue
                if len(set(values)) == 1:
                    entry[kind] = values[0]
                else:
                    entry[kind] = torch.tensor(values, dtype=net.dtype, device=net.device).view(
                        k, 1, 1
                    )
            self.gradient_factors.append(entry)
        self.active = bool(self.groups)

    def _kernel_sum(self, kind: str, layer: int) -> torch.Tensor:
        """``Σ|W|`` or ``Σ W²`` of each model's kernel of one layer, ``(K,)``."""
        weight = self.net.weights[layer]
        scratch = self.net.buffer(("penalty", layer), tuple(weight.shape))
        elementwise = (
            torch.abs(weight, out=scratch) if kind == "l1" else torch.pow(weight, 2, out=scratch)
        )
        return elementwise.sum(dim=(1, 2))

    def value(self) -> torch.Tensor:
        """Each model's penalty ``(K,)`` (zero where none), as ``penalty(model)`` computes it."""
        net = self.net
        sums: dict[tuple[str, int], torch.Tensor] = {}
        total = torch.zeros(net.k, dtype=net.dtype, device=net.device)
        for penalty, models in self.groups.items():
            kind = "l1" if isinstance(penalty, L1Penalty) else "l2"
            value = None
            for layer in self.layer_indices[penalty]:
                if (kind, layer) not in sums:
                    sums[kind, layer] = self._kernel_sum(kind, layer)
                value = sums[kind, layer] if value is None else value + sums[kind, layer]
            if len(models) == net.k:
                return penalty.factor * value
            index = torch.tensor(models, device=net.device)
            total.index_copy_(0, index, (penalty.factor * value).index_select(0, index))
        return total

    @torch.no_grad()
    def add_gradient(self) -> None:
        """Add each model's penalty gradient to the kernels' gradients (``∂W += factor·sign(W)`` or ``factor·2W``)."""
        for layer, entry in enumerate(self.gradient_factors):
            weight, grad = self.net.weights[layer], self.net.weight_grads[layer]
            scratch = self.net.buffer(("penalty", layer), tuple(weight.shape))
            if "l1" in entry:
                grad.add_(torch.sign(weight, out=scratch).mul_(entry["l1"]))
            if "l2" in entry:
                grad.add_(torch.mul(weight, 2.0, out=scratch).mul_(entry["l2"]))
