"""K multilayer perceptrons of one architecture as stacked tensors, with a hand-written backward pass.

The parameters of all K networks live in one ``(K, P)`` buffer (model-major:
row ``k`` is network ``k``'s parameters, layer after layer, kernel before
bias), and their gradients in another, so that an optimizer step is a handful
of operations on whole rows (see :mod:`._stacked_optim`). Each ``Linear``
layer is a view ``W: (K, out, in)``, ``b: (K, out)`` into that buffer and runs
as one batched matrix product over the K networks::

    forward   h' = b + h Wᵀ             torch.baddbmm   (K, B, out)
    backward  ∂W = gᵀ h,  ∂b = Σ_B g,  ∂h = g W    torch.bmm, written in place

The backward pass calls the same ATen kernels autograd calls for
``nn.Linear`` (``addmm``'s ``mm_mat2_backward`` computes ``gᵀ h`` for a
row-major kernel), ``ReLU`` (``threshold_backward``), ``Sigmoid``
(``sigmoid_backward``), ``Tanh`` (``tanh_backward``) and ``Dropout``
(multiplication by the scaled mask), so the only departure from K separate
autograd passes is the batched GEMM: for some shapes MKL's batched path
accumulates in another order than the per-matrix one, a last-bit difference.

Only plain MLP layers are supported (``Flatten``, ``Linear``, ``ReLU``,
``Sigmoid``, ``Tanh``, ``Identity``, ``Dropout``); :func:`describe` names the
first layer that is not, or the first difference between two networks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TrainingError, TrainingTypeError

SUPPORTED_LAYERS = (nn.Flatten, nn.Linear, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout)
_ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Identity: "identity"}
_NAMES = {
    "flatten": "Flatten",
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "identity": "Identity",
    "dropout": "Dropout",
}
_FORWARD = {
    "relu": (torch.relu_, torch.relu),
    "sigmoid": (torch.sigmoid_, torch.sigmoid),
    "tanh": (torch.tanh_, torch.tanh),
}


@dataclass(frozen=True)
class Layer:
    """One layer of the shared architecture: its kind and the shape facts two networks must agree on."""

    kind: str  # "flatten", "linear", "relu", "sigmoid", "tanh", "identity", "dropout"
    in_features: int = 0
    out_features: int = 0
    bias: bool = False

    def __str__(self) -> str:
        if self.kind == "linear":
            return (
                f"Linear({self.in_features}→{self.out_features}{'' if self.bias else ', no bias'})"
            )
        return _NAMES[self.kind]


def _leaves(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _leaves(child)]
    return [model]


def describe(model: nn.Module, index: int) -> tuple[list[Layer], list[nn.Module]]:
    """The architecture of ``model`` (``index`` names it in errors) and its layer modules.

    Raises ``TypeError`` for a layer fit_many cannot run and ``ValueError`` for
    a Flatten other than the default one, a frozen parameter or a hook.
    """
    modules = _leaves(model)
    layers = []
    for position, module in enumerate(modules):
        # Exact types: a subclass may compute something else in its forward.
        if type(module) not in SUPPORTED_LAYERS:
            raise TrainingTypeError(
                f"fit_many supports MLP layers only ({', '.join(t.__name__ for t in SUPPORTED_LAYERS)}, "
                f"possibly nested in nn.Sequential); model {index} has {type(module).__name__} at layer "
                f"{position}. Train it with fit instead."
            )
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks:
            raise TrainingError(
                f"model {index}, layer {position} ({type(module).__name__}) has hooks, which fit_many "
                f"would not run; train it with fit"
            )
        if isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) != (1, -1):
                raise TrainingError(
                    f"model {index}, layer {position}: fit_many supports nn.Flatten() with its default "
                    f"start_dim=1, end_dim=-1 only, got {module.start_dim}, {module.end_dim}"
                )
            layers.append(Layer("flatten"))
        elif isinstance(module, nn.Linear):
            if not all(p.requires_grad for p in module.parameters()):
                raise TrainingError(
                    f"model {index}, layer {position}: fit_many trains every parameter; "
                    f"this Linear has a frozen one (use fit)"
                )
            layers.append(
                Layer("linear", module.in_features, module.out_features, module.bias is not None)
            )
        elif isinstance(module, nn.Dropout):
            layers.append(Layer("dropout"))
        else:
            layers.append(Layer(_ACTIVATIONS[type(module)]))
    if not any(layer.kind == "linear" for layer in layers):
        raise TrainingError(f"model {index} has no Linear layer: nothing to train")
    return layers, modules


def check_same_architecture(
    models: Sequence[nn.Module],
) -> tuple[list[Layer], list[list[nn.Module]]]:
    """The shared architecture and every model's layer modules; a clear error at the first difference."""
    reference, first = describe(models[0], 0)
    all_modules = [first]
    for index, model in enumerate(models[1:], start=1):
        layers, modules = describe(model, index)
        for position, (a, b) in enumerate(zip(reference, layers)):
            if a != b:
                raise TrainingError(
                    f"fit_many needs models of one architecture: model {index} differs from model 0 "
                    f"at layer {position}: {b} vs {a}"
                )
        if len(layers) != len(reference):
            raise TrainingError(
                f"fit_many needs models of one architecture: model {index} has {len(layers)} layers, "
                f"model 0 has {len(reference)}"
            )
        all_modules.append(modules)
    return reference, all_modules


class StackedMLP:
    """The K networks' parameters as one ``(K, P)`` tensor, and their forward and backward passes.

    ``params`` and ``grad`` are ``(K, P)``; ``weights[i]``/``biases[i]`` and
    ``weight_grads[i]``/``bias_grads[i]`` are views for the ``i``-th Linear
    layer. ``dropout_rates[j]`` lists the K rates of the ``j``-th Dropout layer.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        self.layers, self._modules = check_same_architecture(models)
        self.k = len(models)
        linears = [[m for m in modules if isinstance(m, nn.Linear)] for modules in self._modules]
        first = linears[0][0].weight
        for index, model_linears in enumerate(linears):
            for linear in model_linears:
                for p in linear.parameters():
                    if p.device != first.device or p.dtype != first.dtype:
                        raise TrainingError(
                            f"all models' parameters must share one device and dtype; model {index} has "
                            f"{p.dtype} on {p.device}, model 0 {first.dtype} on {first.device}"
                        )
        self.device, self.dtype = first.device, first.dtype
        shapes = []
        for layer in self.layers:
            if layer.kind == "linear":
                shapes.append((layer.out_features, layer.in_features))
                if layer.bias:
                    shapes.append((layer.out_features,))
        self.num_parameters = sum(math.prod(s) for s in shapes)
        self.params = torch.empty(self.k, self.num_parameters, device=self.device, dtype=self.dtype)
        self.grad = torch.zeros_like(self.params)
        self.weights, self.biases, self.weight_grads, self.bias_grads = [], [], [], []
        offset = 0
        for layer in self.layers:
            if layer.kind != "linear":
                continue
            size = layer.out_features * layer.in_features
            shape = (self.k, layer.out_features, layer.in_features)
            self.weights.append(self.params[:, offset : offset + size].view(shape))
            self.weight_grads.append(self.grad[:, offset : offset + size].view(shape))
            offset += size
            if layer.bias:
                self.biases.append(self.params[:, offset : offset + layer.out_features])
                self.bias_grads.append(self.grad[:, offset : offset + layer.out_features])
                offset += layer.out_features
            else:
                self.biases.append(None)
                self.bias_grads.append(None)
        self._linears = linears
        # Views of the parameter buffer as the products want them (they follow in-place updates).
        self._kernels_t = [w.transpose(1, 2) for w in self.weights]
        self._bias_rows = [None if b is None else b.unsqueeze(1) for b in self.biases]
        self._workspace: dict[tuple, torch.Tensor] = {}
        self.dropout_rates = [
            [float(m.p) for m in modules if isinstance(m, nn.Dropout)] for modules in self._modules
        ]
        self.dropout_rates = [list(rates) for rates in zip(*self.dropout_rates)]
        self.load_from_models()
        # Backward stops at the first Linear: nothing below it has parameters.
        self._first_linear = next(
            i for i, layer in enumerate(self.layers) if layer.kind == "linear"
        )

    @property
    def num_linear(self) -> int:
        return len(self.weights)

    @torch.no_grad()
    def load_from_models(self, indices: Sequence[int] | None = None) -> None:
        """Copy the models' current parameters into the stacked buffer."""
        for k in range(self.k) if indices is None else indices:
            for i, linear in enumerate(self._linears[k]):
                self.weights[i][k].copy_(linear.weight)
                if linear.bias is not None:
                    self.biases[i][k].copy_(linear.bias)

    @torch.no_grad()
    def store_to_models(self, indices: Sequence[int] | None = None) -> None:
        """Copy the stacked parameters back into the models (in place, so references stay valid)."""
        for k in range(self.k) if indices is None else indices:
            for i, linear in enumerate(self._linears[k]):
                linear.weight.copy_(self.weights[i][k])
                if linear.bias is not None:
                    linear.bias.copy_(self.biases[i][k])

    @staticmethod
    def _check_2d(h: torch.Tensor) -> None:
        if h.ndim != 3:
            raise TrainingError(
                f"fit_many needs 2-D inputs (batch, features) at each Linear layer, got per-model "
                f"shape {tuple(h.shape[1:])}; put nn.Flatten() first"
            )

    def buffer(self, name: tuple, shape: tuple[int, ...]) -> torch.Tensor:
        """A workspace tensor reused from step to step (one per name and shape).

        Fresh megabyte-sized tensors each step cost page faults when the
        allocator hands memory back to the system in between (measured: a
        ReLU backward on a fresh (5, 512, 100) tensor took 3× longer than in
        place), so the training pass writes into these instead. Their contents
        are valid until the next pass with the same batch size.
        """
        key = (name, shape)
        buffer = self._workspace.get(key)
        if buffer is None:
            buffer = self._workspace[key] = torch.empty(shape, dtype=self.dtype, device=self.device)
        return buffer

    def forward(
        self, x: torch.Tensor, dropout: DropoutMasks | None = None
    ) -> tuple[torch.Tensor, list]:
        """Training forward pass of ``x: (K, B, ...)``; returns ``(K, B, out)`` and what backward needs.

        ``dropout`` draws each Dropout layer's scaled mask when the pass reaches
        it (so in the order ``nn.Dropout`` would draw); None runs Dropout as
        identity. The result and the saved activations live in the workspace
        (see :meth:`buffer`).
        """
        saved: list = []
        h, linear, dropout_index, fresh = (
            x,
            0,
            0,
            False,
        )  # fresh: h is a workspace tensor nothing else needs
        for position, layer in enumerate(self.layers):
            kind = layer.kind
            if kind == "linear":
                saved.append(h)
                self._check_2d(h)
                h = self._linear(linear, h, ("forward", position), layer.out_features)
                linear += 1
                fresh = True
            elif kind in _FORWARD:
                inplace, outplace = _FORWARD[kind]
                h = inplace(h) if fresh else outplace(h)
                fresh = False  # saved for backward: the next layer must not overwrite it
                saved.append(h)
            elif kind == "dropout":
                mask = None
                if dropout is not None:
                    mask = dropout.mask(
                        dropout_index, self.buffer(("mask", position), tuple(h.shape))
                    )
                dropout_index += 1
                saved.append(mask)
                if mask is not None:
                    h = torch.mul(h, mask, out=self.buffer(("dropped", position), tuple(h.shape)))
                    fresh = True
            elif kind == "flatten":
                saved.append(h.shape)
                h = h.flatten(2)
            else:  # identity
                saved.append(None)
        return h, saved

    def _linear(
        self, linear: int, h: torch.Tensor, buffer_key: tuple, out_features: int
    ) -> torch.Tensor:
        """The ``linear``-th Linear layer of every model at once, ``h @ Wᵀ + b``, into a workspace buffer."""
        out = self.buffer(buffer_key, (h.shape[0], h.shape[1], out_features))
        bias = self._bias_rows[linear]
        if bias is None:
            return torch.bmm(h, self._kernels_t[linear], out=out)
        return torch.baddbmm(bias, h, self._kernels_t[linear], out=out)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward pass (Dropout off) of ``x: (K, B, ...)``.

        Layer outputs alternate between two workspace buffers per width (the
        result is valid until the next call).
        """
        h, linear, fresh = x, 0, False
        for layer in self.layers:
            kind = layer.kind
            if kind == "linear":
                self._check_2d(h)
                h = self._linear(linear, h, ("predict", linear % 2), layer.out_features)
                linear += 1
                fresh = True
            elif kind in _FORWARD:
                inplace, outplace = _FORWARD[kind]
                h = inplace(h) if fresh else outplace(h)
                fresh = True
            elif kind == "flatten":
                h = h.flatten(2)
        return h

    @torch.no_grad()
    def backward(self, grad_out: torch.Tensor, saved: list) -> None:
        """Write ``∂(Σ_k loss_k)/∂params`` into ``self.grad`` from ``grad_out = ∂loss/∂outputs`` ``(K, B, out)``.

        Row ``k`` of the result is model ``k``'s own gradient: the models share
        no parameters, so the sum's gradient separates.
        """
        g = grad_out  # ours to overwrite: the loss computes it fresh
        linear = self.num_linear
        for position in range(len(self.layers) - 1, self._first_linear - 1, -1):
            layer = self.layers[position]
            kind = layer.kind
            value = saved[position]
            if kind == "linear":
                linear -= 1
                torch.bmm(g.transpose(1, 2), value, out=self.weight_grads[linear])
                if self.bias_grads[linear] is not None:
                    torch.sum(g, 1, out=self.bias_grads[linear])
                if position > self._first_linear:
                    out = self.buffer(
                        ("backward", position), (g.shape[0], g.shape[1], layer.in_features)
                    )
                    g = torch.bmm(g, self.weights[linear], out=out)
            elif kind == "relu":
                g = torch.ops.aten.threshold_backward.grad_input(g, value, 0, grad_input=g)
            elif kind == "sigmoid":
                g = torch.ops.aten.sigmoid_backward.grad_input(g, value, grad_input=g)
            elif kind == "tanh":
                g = torch.ops.aten.tanh_backward.grad_input(g, value, grad_input=g)
            elif kind == "dropout":
                if value is not None:
                    g = g.mul_(value)
            elif kind == "flatten":
                g = g.reshape(value)


class DropoutMasks:
    """Each model's dropout masks from its own generator, drawn as ``nn.Dropout`` draws them.

    On the CPU ``F.dropout`` in training computes ``input * bernoulli_(1 − p) / (1 − p)``
    with the default generator (ATen ``_dropout_impl``; no draw when ``p`` is 0,
    a zero mask when it is 1). :func:`dlverify.train.fit` seeds that generator
    with ``seed``, so drawing model ``k``'s masks from a CPU generator seeded with
    its seed, one ``(B, width)`` mask per Dropout layer in forward order, step
    after step, reproduces fit's masks exactly. On CUDA ``F.dropout`` uses a
    fused kernel with its own Philox offsets that cannot be replayed, so each
    model draws from a CUDA generator seeded with its seed: the masks have the
    same distribution as fit's but are not the same masks.
    """

    def __init__(
        self, rates: Sequence[Sequence[float]], seeds: Sequence[int], device: torch.device
    ) -> None:
        self.rates = [list(layer_rates) for layer_rates in rates]
        self.active = any(p > 0 for layer_rates in self.rates for p in layer_rates)
        # A CPU generator for CPU data, a CUDA generator for CUDA data.
        self.generators = (
            [torch.Generator(device).manual_seed(s) for s in seeds] if self.active else []
        )

    def mask(self, layer: int, out: torch.Tensor) -> torch.Tensor | None:
        """The ``layer``-th Dropout layer's scaled masks written into ``out`` ``(K, ...)``; None if all rates are 0.

        Model ``k``'s mask is drawn into ``out[k]``, a contiguous tensor of the
        shape ``F.dropout``'s mask has in fit, so it consumes the generator alike.
        """
        layer_rates = self.rates[layer]
        if not any(p > 0 for p in layer_rates):
            return None
        for row, p, generator in zip(out, layer_rates, self.generators):
            if p == 0:
                row.fill_(1)
            elif p == 1:
                row.zero_()
            else:
                row.bernoulli_(1 - p, generator=generator).div_(1 - p)
        return out
