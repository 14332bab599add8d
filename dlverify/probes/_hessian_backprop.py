"""Exact traces of an MLP's diagonal Hessian blocks, by backpropagating per-sample Hessians.

For ``L(θ) = Σ_n α_n ℓ_n`` (``α_n = w_b / n_b``: batch means weighted by
batch size, as :class:`~dlverify.probes._objective.Objective`) and a Linear
layer ``z = W a + b`` whose input ``a`` does not depend on ``W`` or ``b``, the
Hessian blocks of the layer's parameters are exactly

    ∇²_W L = Σ_n α_n (a_n a_nᵀ) ⊗ M_n,    ∇²_b L = Σ_n α_n M_n,   M_n = ∇²_z ℓ_n,

so ``tr ∇²_W L = Σ_n α_n ‖a_n‖² tr M_n`` and ``tr ∇²_b L = Σ_n α_n tr M_n``.
``M_n`` is carried from the output down, sample by sample (Hessian
backpropagation: Dangel, Harmeling & Hennig, "Modular Block-diagonal Curvature
Approximations for Feedforward Architectures", AISTATS 2020, Eq. 7):

    Linear ``z = W a + b``:      M_a = Wᵀ M_z W,                      g_a = Wᵀ g_z
    elementwise ``a = φ(z)``:    M_z = diag(φ') M_a diag(φ') + diag(φ'' ⊙ g_a),   g_z = φ' ⊙ g_a

with ``g = ∇ℓ_n`` the per-sample gradient. Nothing is approximated: the
trace of the full Hessian is the sum of its diagonal blocks' traces, so this
is ``tr ∇²L`` to rounding, without a single Hessian-vector product.
:class:`_SampleHessians` keeps ``M_n`` factored while that is cheaper than
d×d matrices (d the layer's width), which on shallow MLPs costs less than a
few Hessian-vector products' worth of arithmetic.

It applies to ``nn.Sequential`` stacks of ``Linear``, ``ReLU``, ``Tanh``,
``Sigmoid``, ``Identity``, ``Flatten`` and eval-mode ``Dropout``, with a loss
that is a mean of per-sample terms (``cross_entropy``, ``mse_loss``, …);
anything else raises :class:`~dlverify.errors.ProbeError`. The per-sample
output Hessians ``∇²_o ℓ_n`` come from ``C`` second derivatives of the batch
loss with respect to the outputs (C outputs per sample); a loss that couples
samples is detected by repeating them with random signs per sample, which a
per-sample loss only flips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ProbeError
from ._model import user_call
from ._objective import Objective, check_finite

# Elementwise activations: (φ'(z), φ''(z)) from z; None for a φ'' that is 0 (a.e.).
_ACTIVATIONS = {
    nn.ReLU: lambda z: ((z > 0).to(z.dtype), None),
    nn.Tanh: lambda z: _tanh(torch.tanh(z)),
    nn.Sigmoid: lambda z: _sigmoid(torch.sigmoid(z)),
}
_PASS_THROUGH = (nn.Identity, nn.Flatten, nn.modules.dropout._DropoutNd)
#: Largest per-chunk block of d×d sample Hessians, in elements (128 MiB in float32).
_CHUNK_ELEMENTS = 2**25
#: Largest batch of C×C output Hessians (N·C² elements, 512 MiB in float32); C derivatives
#: of the whole batch's loss give them, so they are not split into chunks.
_OUTPUT_HESSIAN_ELEMENTS = 2**27

UNSUPPORTED = (
    "method='exact' backpropagates per-sample Hessians through nn.Sequential stacks of "
    "Linear, ReLU, Tanh, Sigmoid, Identity, Flatten and eval-mode Dropout only"
)


def _tanh(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d1 = 1 - t * t
    return d1, -2 * t * d1


def _sigmoid(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d1 = s * (1 - s)
    return d1, d1 * (1 - 2 * s)


def _derivatives(module: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(φ'(z), φ''(z))`` of an elementwise activation module."""
    kind = next(k for k in _ACTIVATIONS if isinstance(module, k))
    return _ACTIVATIONS[kind](z)


def layers_of(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The leaf modules of nested ``nn.Sequential`` containers, with their parameter prefixes."""
    if not isinstance(model, nn.Sequential):
        raise ProbeError(f"{UNSUPPORTED}; got a {type(model).__name__}: use method='hutch++'")
    leaves = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            leaves += layers_of(child, f"{prefix}{name}.")
        elif isinstance(child, (nn.Linear, *_ACTIVATIONS, *_PASS_THROUGH)):
            leaves.append((f"{prefix}{name}", child))
        else:
            raise ProbeError(
                f"{UNSUPPORTED}; module {prefix}{name!s} is a {type(child).__name__}: "
                "use method='hutch++'"
            )
    return leaves


def _output_hessians(
    loss_fn, outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``∇ℓ_n`` (N, C) and ``∇²ℓ_n`` (N, C, C) of the batch's mean loss, times N.

    Column ``c`` of every sample's Hessian at once: the derivative of
    ``Σ_n ∂loss/∂o_nc`` with respect to the outputs. Repeated with a random
    sign per sample, a loss that is a mean of per-sample terms gives the same
    columns with the signs; one that couples samples does not, and is refused.
    """
    n, classes = outputs.shape
    if n * classes * classes > _OUTPUT_HESSIAN_ELEMENTS:
        raise ProbeError(
            f"method='exact' holds one {classes}×{classes} output Hessian per sample, and "
            f"{n} samples of {classes} outputs exceed its memory bound ({_OUTPUT_HESSIAN_ELEMENTS} "
            "elements): pass the data as several smaller batches, or use method='hutch++'"
        )
    leaf = outputs.detach().requires_grad_(True)
    signs = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(0))
    signs = (2 * signs - 1).to(leaf.device, leaf.dtype)
    with torch.enable_grad():
        with user_call(
            f"loss_fn(outputs, targets) on outputs of shape {tuple(outputs.shape)},",
            "pass a loss_fn(outputs, targets) that torch can differentiate twice",
        ):
            loss = loss_fn(leaf, targets)
            check_finite(loss.detach(), "loss")
            (grad,) = torch.autograd.grad(loss, leaf, create_graph=True)
        columns, signed = [], []
        for c in range(classes):
            (col,) = torch.autograd.grad(grad[:, c].sum(), leaf, retain_graph=True)
            (col_s,) = torch.autograd.grad((grad[:, c] * signs).sum(), leaf, retain_graph=True)
            columns.append(col)
            signed.append(col_s)
    hess = torch.stack(columns, dim=2)  # (N, C, C): [n, i, c] = ∂²loss/∂o_ni ∂o_nc
    coupled = torch.stack(signed, dim=2) - signs[:, None, None] * hess
    scale = float(hess.abs().max()) if hess.numel() else 0.0
    if float(coupled.abs().max()) > 1e-6 * scale + 1e-30:
        raise ProbeError(
            "method='exact' needs a loss that is a mean of per-sample terms (cross_entropy, "
            "mse_loss, ...); this loss_fn couples the samples of a batch: use method='hutch++'"
        )
    return grad.detach() * n, hess * n


def parameter_values(objective: Objective) -> dict[str, torch.Tensor]:
    """Every parameter of the model by name, detached: the selected ones at the objective's θ."""
    return {
        **{n: p.detach() for n, p in objective.model.named_parameters()},
        **objective.fixed,
        **{n: t.detach() for n, t in objective.params.as_dict().items()},
    }


def linear_owners(layers) -> dict[str, int]:
    """The index in ``layers`` of the Linear layer owning each weight and bias name."""
    return {
        f"{name}.{kind}": i
        for i, (name, m) in enumerate(layers)
        if isinstance(m, nn.Linear)
        for kind in ("weight", "bias")
    }


def block_traces(objective: Objective) -> dict[str, float]:
    """``tr ∇²_θ L`` of each selected parameter tensor θ (exact, float64 sums), by name."""
    layers = layers_of(objective.model)
    selected = objective.params.names
    values = parameter_values(objective)
    owners = linear_owners(layers)
    strangers = sorted(set(selected) - owners.keys())
    if strangers:
        raise ProbeError(f"{UNSUPPORTED}; parameters {strangers} are not Linear weights or biases")
    lowest = min(owners[name] for name in selected)
    traces = dict.fromkeys(selected, 0.0)
    for weight, (inputs, targets) in zip(objective.batches.weights, objective.batches.pairs):
        saved, outputs = layer_inputs(layers, values, inputs)
        grads, hessians = _output_hessians(objective.loss_fn, outputs, targets)
        n = outputs.shape[0]
        # M is never wider than the inputs of the layers above the lowest one, or the outputs.
        widest = max([outputs.shape[1], *(t.shape[1] for t in saved[lowest + 1 :])])
        step = max(1, _CHUNK_ELEMENTS // widest**2)
        for start in range(0, n, step):
            rows = slice(start, start + step)
            chunk = [t[rows] for t in saved]
            found = _backward(layers[lowest:], chunk[lowest:], values, grads[rows], hessians[rows])
            for name, value in found.items():
                if name in traces:
                    traces[name] += weight / n * value
    for name, value in traces.items():
        check_finite(torch.tensor(value), f"Hessian trace of {name!r}")
    return traces


@torch.no_grad()
def layer_inputs(layers, values, inputs: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each layer's input (eval-mode Dropout is the identity), and the model's outputs."""
    saved, h = [], inputs
    for name, module in layers:
        saved.append(h)
        if isinstance(module, nn.Linear):
            if h.dim() != 2:
                raise ProbeError(
                    f"{UNSUPPORTED}, on (batch, features) inputs to Linear layers; "
                    f"{name} gets shape {tuple(h.shape)}: use method='hutch++'"
                )
            with user_call(
                f"the model's layer {name}, on inputs of shape {tuple(h.shape)} ({h.dtype}),",
                "pass data whose inputs the model accepts",
            ):
                h = nn.functional.linear(h, values[f"{name}.weight"], values.get(f"{name}.bias"))
        elif isinstance(module, (nn.Flatten, *_ACTIVATIONS)):
            h = module(h)
    if h.dim() != 2:
        raise ProbeError(f"{UNSUPPORTED}, with (batch, outputs) outputs; got {tuple(h.shape)}")
    return saved, h


@dataclass
class _Term:
    """``diag(s) Fᵀ K F diag(s)``, one sample per leading index.

    ``F`` is (c, d), shared by the samples, or (N, c, d); ``K`` is (N, c, c),
    or (N, c) for a diagonal core; ``s`` (N, d) scales the columns, or is None.
    """

    f: torch.Tensor
    k: torch.Tensor
    s: torch.Tensor | None = None

    def factor(self) -> torch.Tensor:
        """``F diag(s)``: (c, d) when shared and unscaled, else (N, c, d)."""
        return self.f if self.s is None else self.f * self.s[:, None, :]

    def diagonal(self) -> torch.Tensor:
        """The (N, d) diagonal of the term."""
        if self.k.dim() == 2 and self.f.dim() == 2:  # shared F, diagonal K: no (N, c, d) tensor
            diag = self.k @ (self.f * self.f)
            return diag if self.s is None else diag * self.s * self.s
        g = self.factor()
        if self.k.dim() == 2:
            return (self.k[:, :, None] * g * g).sum(dim=1)
        return (torch.matmul(self.k, g) * g).sum(dim=1)

    def dense(self) -> torch.Tensor:
        """The term as (N, d, d) matrices."""
        g = self.factor()
        kg = self.k[:, :, None] * g if self.k.dim() == 2 else torch.matmul(self.k, g)
        return torch.matmul(g.transpose(-1, -2), kg)

    def rows(self) -> int:
        return self.f.shape[-2]


class _SampleHessians:
    """The per-sample ``M_n`` of one layer, in the cheapest of three forms.

    Factored, ``Σ_t diag(s_t) F_tᵀ K_t F_t diag(s_t)`` (:class:`_Term`): the
    output Hessian (K = ∇²_o ℓ, F = I) and one term per activation's
    ``diag(φ'' ⊙ g)`` (K diagonal), each F taking ``F W`` at a Linear layer and
    each s the factor ``φ'`` at an activation; a product with a d_out×d_in
    weight costs ``N · c · d_out · d_in`` for c factor rows, where dense
    matrices cost ``N · d³``. Dense, once the rows reach the width and
    another product with a weight follows. Diagonal, below the second-lowest
    Linear layer: the lowest needs just its trace, and an activation maps the
    diagonal to the diagonal (``φ'² ⊙ d + φ'' ⊙ g``), so only ``diag(Wᵀ M W)
    = Σ_i W_ik (M W)_ik`` is formed.
    """

    def __init__(self, output_hessians: torch.Tensor):
        m = output_hessians
        eye = torch.eye(m.shape[1], dtype=m.dtype, device=m.device)
        self.terms, self.dense, self.diag = [_Term(eye, m)], None, None

    def diagonal(self) -> torch.Tensor:
        """``diag M_n`` as an (N, d) tensor."""
        if self.diag is not None:
            return self.diag
        if self.dense is not None:
            return torch.diagonal(self.dense, dim1=1, dim2=2)
        return sum(t.diagonal() for t in self.terms)

    def through_linear(self, w: torch.Tensor, *, last: bool) -> None:
        """``M ← Wᵀ M W``; ``last``: the next Linear layer down is the lowest."""
        if self.dense is not None and last:
            self.diag, self.dense = (torch.matmul(self.dense, w) * w).sum(dim=1), None
        elif self.dense is not None:
            self.dense = torch.matmul(w.T, torch.matmul(self.dense, w))
        else:
            self.terms = [_Term(t.factor() @ w, t.k) for t in self.terms]
            if not last and sum(t.rows() for t in self.terms) >= w.shape[1]:
                self.dense, self.terms = sum(t.dense() for t in self.terms), []

    def through_activation(self, d1: torch.Tensor, residual: torch.Tensor | None) -> None:
        """``M ← diag(φ') M diag(φ') + diag(residual)`` (``residual = φ'' ⊙ g``, None if 0)."""
        if self.diag is not None:
            self.diag = d1 * d1 * self.diag + (0 if residual is None else residual)
        elif self.dense is not None:
            self.dense = self.dense * d1[:, :, None]
            self.dense.mul_(d1[:, None, :])
            if residual is not None:
                torch.diagonal(self.dense, dim1=1, dim2=2).add_(residual)
        else:
            self.terms = [_Term(t.f, t.k, d1 if t.s is None else t.s * d1) for t in self.terms]
            if residual is not None:
                eye = torch.eye(d1.shape[1], dtype=d1.dtype, device=d1.device)
                self.terms.append(_Term(eye, residual))


@torch.no_grad()
def _backward(layers, saved, values, g: torch.Tensor, m: torch.Tensor) -> dict[str, float]:
    """``Σ_n ‖a_n‖² tr M_n`` and ``Σ_n tr M_n`` of every Linear layer, top down to ``layers[0]``."""
    found = {}
    linear = [i for i, (_, module) in enumerate(layers) if isinstance(module, nn.Linear)]
    hessians = _SampleHessians(m)
    for index in range(len(layers) - 1, -1, -1):
        name, module = layers[index]
        below = saved[index]
        if isinstance(module, nn.Linear):
            per_sample = hessians.diagonal().sum(dim=1).double()
            found[f"{name}.weight"] = float((below.double().pow(2).sum(dim=1) * per_sample).sum())
            found[f"{name}.bias"] = float(per_sample.sum())
            if index == 0:
                break
            w = values[f"{name}.weight"]
            hessians.through_linear(w, last=index == linear[1])
            g = g @ w
        elif isinstance(module, tuple(_ACTIVATIONS)):
            d1, d2 = _derivatives(module, below)
            hessians.through_activation(d1, None if d2 is None else d2 * g)
            g = d1 * g
    return found
