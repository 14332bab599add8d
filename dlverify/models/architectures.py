"""The small networks of the reports."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import ModelError

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ModelError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None


def mlp(
    sizes: Sequence[int],
    *,
    activation: str | Sequence[str] = "relu",
    dropout: float = 0.0,
    flatten: bool = True,
) -> nn.Sequential:
    """A fully connected network ``sizes[0] → … → sizes[-1]`` returning logits.

    ``activation`` is one name for every hidden layer or one per hidden layer
    (hw2's first hidden layer is a sigmoid). ``dropout`` is applied after each
    hidden activation, as Keras ``Dropout`` layers placed after ``Dense`` are.
    The softmax of the reports' last layer is folded into the loss
    (``cross_entropy`` on logits), which is numerically the same and stable.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ModelError(f"sizes must list at least an input and an output width >= 1, got {sizes}")
    hidden = len(sizes) - 2
    names = [activation] * hidden if isinstance(activation, str) else list(activation)
    if len(names) != hidden:
        raise ModelError(f"{hidden} hidden layers but {len(names)} activations given: {names}")
    if not 0.0 <= dropout < 1.0:
        raise ModelError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    for i, name in enumerate(names):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), _activation(name)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def softmax_regression(in_features: int = 784, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression: ``softmax(W x + b)`` (logits returned)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))


def function_net(hidden: int = 10, *, activation: str = "relu") -> nn.Sequential:
    """hw1's 1-``hidden``-1 regression network (31 parameters at ``hidden=10``)."""
    return mlp([1, hidden, 1], activation=activation, flatten=False)


def linear_model() -> nn.Linear:
    """lab1's ``y = W x + b`` with scalar ``W`` and ``b``."""
    return nn.Linear(1, 1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
