"""Hessian-vector products of an MLP by the R-operator, written out as matrix products.

Pearlmutter's R-operator ``R{f} = d/dr f(θ + r v)|₀`` applied to the forward
and backward passes gives ``Hv = R{∇L}`` exactly (B. A. Pearlmutter, "Fast
Exact Multiplication by the Hessian", Neural Computation 6, 1994). For a
Linear layer ``z = a Wᵀ + b`` (rows are samples, ``V``/``v_b`` the direction's
part for ``W``/``b``) and an elementwise ``a = φ(z)``:

    forward    R z = R a Wᵀ + a Vᵀ + v_b,               R a = φ'(z) ⊙ R z
    output     R g_o = ∇²_o L · R o                      (one product through the loss)
    backward   R g_a = R g_z W + g_z V,                  R g_z = φ' ⊙ R g_a + φ'' ⊙ g_a ⊙ R z
    gradient   R ∇_W L = R g_zᵀ a + g_zᵀ R a,            R ∇_b L = Σ_rows R g_z

with ``g`` the gradient of the mean loss L. The forward pass, ``g`` and the
products ``φ'' ⊙ g_a`` are computed once; a product is then 6 matrix
products per Linear layer (2 for the first, whose input does not move) and a
few elementwise ones, which is what autograd's double backward costs in
arithmetic, without its graph walk and bookkeeping (2.8 ms a product against
3.9 ms on ``benchmarks/bench_probes.py``'s MLP, one thread). The loss enters
only through its Hessian with respect to the outputs: in closed form for the
softmax cross-entropy, otherwise by a product through the loss alone, so any
``loss_fn`` that torch differentiates twice is exact here, coupled or not.

It applies to ``nn.Sequential`` stacks (possibly nested) of ``Linear``,
``ReLU``, ``Tanh``, ``Sigmoid``, ``Identity``, ``Flatten`` and eval-mode
``Dropout``, with one batch of (batch, features) inputs to every Linear
layer; :meth:`MLPProducts.build` returns ``None`` for anything else, and
the caller takes autograd's product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ProbeError
from ._hessian_backprop import (
    _ACTIVATIONS,
    _derivatives,
    layer_inputs,
    layers_of,
    linear_owners,
    parameter_values,
)
from ._objective import Objective, check_finite

#: Below this many output features, ``x @ wᵀ`` is computed as ``(w @ xᵀ)ᵀ``: MKL's kernels for
#: a narrow result are ~2.5× slower (N×64 by 64×10 on one thread: 118 µs against 48 µs).
_NARROW = 32


def _times_transpose(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x @ wᵀ`` (either may carry leading batch dims), in the faster layout for narrow w."""
    return (w @ x.mT).mT if w.shape[-2] < _NARROW else x @ w.mT


def _add_product(total: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``total + a @ b``, in place (one fused ``addmm_``) where all three are matrices."""
    if total.dim() == a.dim() == b.dim() == 2:
        return total.addmm_(a, b)
    return total.add_(a @ b)


@dataclass
class _Layer:
    """One leaf module and what the products need of it, fixed at θ.

    Linear: its input ``a`` and the gradient ``g_z`` at its output, its
    weight and bias. Activation: ``φ'(z)`` and ``φ''(z) ⊙ g_a`` (None where
    φ'' is 0). Identity, Dropout, Flatten: the shapes around them.
    """

    name: str
    kind: str  # "linear" | "activation" | "reshape"
    tensors: dict = field(default_factory=dict)


def _fixed(layers, values, saved: list[torch.Tensor], outputs: torch.Tensor) -> list[_Layer]:
    """What the products need of each layer, from its input in the forward pass at θ."""
    found = []
    for i, (name, module) in enumerate(layers):
        if isinstance(module, nn.Linear):
            found.append(
                _Layer(name, "linear", {"input": saved[i], "weight": values[f"{name}.weight"]})
            )
        elif isinstance(module, tuple(_ACTIVATIONS)):
            d1, d2 = _derivatives(module, saved[i])
            found.append(_Layer(name, "activation", {"d1": d1, "d2": d2}))
        else:  # Identity, eval-mode Dropout, Flatten: the identity up to a reshape
            after = saved[i + 1] if i + 1 < len(layers) else outputs
            found.append(_Layer(name, "reshape", {"in": saved[i].shape, "out": after.shape}))
    return found


def _backward(layers: list[_Layer], grad: torch.Tensor) -> None:
    """Store g_z at each Linear's output and φ''(z) ⊙ g_a at each curved activation."""
    g = grad
    for layer in reversed(layers):
        t = layer.tensors
        if layer.kind == "linear":
            t["grad"] = g
            g = g @ t["weight"]
        elif layer.kind == "activation":
            if t["d2"] is not None:
                t["curvature"] = t["d2"] * g
            g = t["d1"] * g
        else:
            g = g.reshape(t["in"])


def _cross_entropy_hessian(loss_fn, outputs: torch.Tensor, targets: torch.Tensor):
    """``r ↦ ∇²_o L · r`` for the mean cross-entropy of class indices, in closed form; else None.

    ``L = (1/N) Σ_n (logsumexp(o_n) − o_{n,y_n})``, so ``∇²_{o_n} L = (diag p_n − p_n p_nᵀ)/N``
    with ``p_n = softmax(o_n)``: ``(p ⊙ r − p (pᵀr))/N`` row by row, a few elementwise
    products instead of a double backward through the loss (≈0.35 ms of a 3 ms product on
    ``benchmarks/bench_probes.py``'s MLP). Only ``F.cross_entropy`` and a default
    ``nn.CrossEntropyLoss`` (no class weights, no label smoothing, mean reduction), with 1-D
    integer targets none of which is the ignored index.
    """
    if loss_fn is F.cross_entropy:
        ignored = -100
    elif (
        type(loss_fn) is nn.CrossEntropyLoss
        and loss_fn.weight is None
        and loss_fn.reduction == "mean"
        and loss_fn.label_smoothing == 0
    ):
        ignored = loss_fn.ignore_index
    else:
        return None
    if targets.dim() != 1 or targets.dtype != torch.int64 or bool((targets == ignored).any()):
        return None
    p = torch.softmax(outputs, dim=1)
    n = outputs.shape[0]

    def product(r: torch.Tensor | None, lead: tuple[int, ...]) -> torch.Tensor:
        if r is None:
            return p.new_zeros(*lead, *p.shape)
        pr = p * r
        return (pr - p * pr.sum(-1, keepdim=True)) / n

    return product


def _through_the_loss(outputs: torch.Tensor, grad: torch.Tensor):
    """``r ↦ ∇²_o L · r`` by differentiating the loss's gradient ``grad`` at ``outputs`` again."""

    def product(r: torch.Tensor | None, lead: tuple[int, ...]) -> torch.Tensor:
        if r is None or not grad.requires_grad:  # θ does not move the outputs, or L is
            return grad.new_zeros(*lead, *grad.shape)  # linear in them
        (found,) = torch.autograd.grad(
            grad, outputs, grad_outputs=r, retain_graph=True, is_grads_batched=bool(lead)
        )
        return found

    return product


class MLPProducts:
    """``v ↦ H v`` for one batch through an MLP (flat vectors in the objective's ``params`` order).

    ``v`` is a vector of length P or an m×P matrix of m vectors (one pass
    for all: every matrix product gains a batch dimension).

    Build it with :meth:`build`; everything that does not depend on v (the
    forward pass, the gradient, φ', φ''·g_a and the loss's graph for its
    output products) is computed there, once.
    """

    def __init__(self, layers, output_hessian, names, shapes, loss, lowest):
        self.layers = layers
        self.loss = loss  # L(θ), a 0-dim tensor
        self.output_hessian = output_hessian  # R o ↦ R g_o = ∇²_o L · R o
        self.names, self.shapes = names, shapes
        self.sizes = [shape.numel() for shape in shapes]
        self.lowest = lowest  # the lowest layer with a selected parameter: R-backward stops there

    @classmethod
    def build(cls, objective: Objective) -> MLPProducts | None:
        """The products for ``objective``, or None where they do not apply."""
        if len(objective.batches.pairs) != 1:
            return None
        values = parameter_values(objective)
        inputs, targets = objective.batches.pairs[0]
        try:
            layers = layers_of(objective.model)
            owners = linear_owners(layers)
            if not set(objective.params.names) <= owners.keys():
                return None
            saved, h = layer_inputs(layers, values, inputs)
        except ProbeError:  # not an MLP of these layers, or inputs it does not take:
            return None  # autograd's path computes the product, or raises the clear error
        fixed = _fixed(layers, values, saved, h)
        lowest = min(owners[n] for n in objective.params.names)
        outputs = h.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = objective.output_loss(outputs, targets, differentiated=True)
            check_finite(loss.detach(), "loss")
            (grad,) = torch.autograd.grad(loss, outputs, create_graph=True)
        with torch.no_grad():
            _backward(fixed, grad.detach())
            output_hessian = _cross_entropy_hessian(objective.loss_fn, h, targets)
        if output_hessian is None:
            output_hessian = _through_the_loss(outputs, grad)
        shapes = [t.shape for t in objective.params.tensors]
        return cls(fixed, output_hessian, objective.params.names, shapes, loss.detach(), lowest)

    @torch.no_grad()
    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        lead = tuple(vector.shape[:-1])
        pieces = torch.split(vector, self.sizes, dim=-1)
        direction = {
            n: piece.reshape(*lead, *shape)
            for n, piece, shape in zip(self.names, pieces, self.shapes)
        }
        moved, r = self._r_forward(direction, lead)
        found = self._r_backward(direction, moved, self.output_hessian(r, lead), lead)
        return torch.cat([found[n].reshape(*lead, -1) for n in self.names], dim=-1)

    def _r_forward(self, direction, lead) -> tuple[list, torch.Tensor | None]:
        """R of each layer's input (None while it is 0), and R of the outputs."""
        r, moved = None, []
        for layer in self.layers:
            t = layer.tensors
            moved.append(r)
            if layer.kind == "linear":
                v_w = direction.get(f"{layer.name}.weight")
                v_b = direction.get(f"{layer.name}.bias")
                out = None if r is None else _times_transpose(r, t["weight"])
                if v_w is not None:
                    a = _times_transpose(t["input"], v_w)
                    out = a if out is None else out + a
                if v_b is not None:
                    v_b = v_b.unsqueeze(-2)
                    out = v_b.expand(*lead, t["input"].shape[0], -1) if out is None else out + v_b
                r = out
            elif r is not None:
                r = t["d1"] * r if layer.kind == "activation" else r.reshape(*lead, *t["out"])
        return moved, r

    def _r_backward(self, direction, moved, rg, lead) -> dict[str, torch.Tensor]:
        """R of each selected parameter's gradient, from R g_o down to the lowest such layer."""
        found = {}
        for i in range(len(self.layers) - 1, self.lowest - 1, -1):
            layer, t, below = self.layers[i], self.layers[i].tensors, moved[i]
            if layer.kind == "linear":
                if f"{layer.name}.weight" in direction:
                    w = rg.mT @ t["input"]
                    found[f"{layer.name}.weight"] = (
                        w if below is None else _add_product(w, t["grad"].T, below)
                    )
                if f"{layer.name}.bias" in direction:
                    found[f"{layer.name}.bias"] = rg.sum(-2)
                if i > self.lowest:
                    rg = rg @ t["weight"]
                    v_w = direction.get(f"{layer.name}.weight")
                    if v_w is not None:
                        rg = _add_product(rg, t["grad"], v_w)
            elif layer.kind == "activation":
                rg = t["d1"] * rg
                if below is not None and "curvature" in t:
                    rg = rg.addcmul_(t["curvature"], below)
            else:
                rg = rg.reshape(*lead, *t["in"])
        return found
