"""What the probes read from a model, without changing it.

The probes never call ``model.train()``/``model.eval()``, never touch
``.grad`` or ``requires_grad``, and never write to parameters or buffers:
they evaluate the model through :func:`torch.func.functional_call` on detached
parameter tensors and build new tensors for every perturbation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DlverifyError, ModelModeError, ProbeError
from ._checks import count_non_finite, describe

_NORM_BASE = nn.modules.batchnorm._NormBase
_DROPOUT_BASE = nn.modules.dropout._DropoutNd


def mode_dependent(module: nn.Module) -> bool:
    """Whether ``module``'s output differs between train and eval mode.

    Dropout variants, ``RReLU``, ``MultiheadAttention`` with dropout, and
    BatchNorm/InstanceNorm variants that track running statistics.
    """
    if isinstance(module, (_DROPOUT_BASE, nn.RReLU)):
        return True
    if isinstance(module, nn.MultiheadAttention):
        return module.dropout > 0
    if isinstance(module, _NORM_BASE):
        return bool(module.track_running_stats)
    return False


def check_module(model: object, what: str = "model") -> None:
    """Refuse a ``model`` that is not an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise ProbeError(f"{what} must be a torch.nn.Module, got {describe(model)}")


def check_finite_weights(model: nn.Module, what: str = "model") -> None:
    """Refuse a model with a NaN or infinite parameter or floating-point buffer.

    Every probe measures a function of finite weights; a NaN weight would be
    skipped by a comparison (``|w| < t`` is false for NaN) or turn every
    output into NaN. One device synchronisation for the whole model.
    """
    named = [(f"parameter {n!r}", t) for n, t in model.named_parameters()]
    named += [(f"buffer {n!r}", t) for n, t in model.named_buffers()]
    named = [(n, t) for n, t in named if t.is_floating_point() and t.numel()]
    if not named:
        return
    finite = torch.stack([torch.isfinite(t).all().to(named[0][1].device) for _, t in named])
    if bool(finite.all()):
        return
    bad = [
        f"{n} ({count_non_finite(t.detach())} of {t.numel()})"
        for (n, t), ok in zip(named, finite.tolist())
        if not ok
    ]
    raise ProbeError(
        f"{what} holds NaN or infinite values in {', '.join(bad[:5])}"
        + (" ..." if len(bad) > 5 else "")
        + "; a probe cannot measure a model with non-finite weights: check the run "
        "that produced it (a diverged loss, too large a learning rate) or load a "
        "finite checkpoint"
    )


@contextlib.contextmanager
def user_call(what: str, advice: str):
    """Turn an error raised by the caller's code (model, loss, function) into a ProbeError.

    ``what`` says which call failed and on what; ``advice`` what to pass
    instead. dlverify's own errors and out-of-memory errors pass unchanged; the
    original error is chained (``from``), so its traceback is kept.
    """
    try:
        yield
    except (DlverifyError, MemoryError, torch.OutOfMemoryError):
        raise
    except Exception as error:
        raise ProbeError(f"{what} raised {type(error).__name__}: {error}; {advice}") from error


def check_mode(model: nn.Module, what: str = "model") -> None:
    """Refuse a model whose mode-dependent modules are in training mode.

    A probe measures a deterministic function of the parameters; in training
    mode Dropout draws from the global RNG and BatchNorm uses batch statistics
    and updates its running buffers. Switching mode silently would change the
    caller's model, so the caller decides. A ``model`` that is not an
    ``nn.Module`` is refused first.
    """
    check_module(model, what)
    culprits = [
        name or type(m).__name__
        for name, m in model.named_modules()
        if m.training and mode_dependent(m)
    ]
    if culprits:
        shown = ", ".join(f"{c!r}" for c in culprits[:5]) + (" ..." if len(culprits) > 5 else "")
        raise ModelModeError(
            f"{what} is in training mode and its output depends on the mode "
            f"(modules {shown}); call {what}.eval() before probing it, "
            "the probe does not switch modes for you"
        )


@dataclass(frozen=True)
class Parameters:
    """The trainable parameters of a model, detached, in ``model.parameters()`` order."""

    names: tuple[str, ...]
    tensors: tuple[torch.Tensor, ...]

    @property
    def count(self) -> int:
        return sum(t.numel() for t in self.tensors)

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.tensors[0].dtype

    def as_dict(self, tensors=None) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.tensors if tensors is None else tensors))

    def flat(self) -> torch.Tensor:
        return flatten(self.tensors)

    def unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector of length P into a name → tensor dict shaped like the parameters."""
        pieces = torch.split(vector, [t.numel() for t in self.tensors])
        return {n: p.view(t.shape) for n, p, t in zip(self.names, pieces, self.tensors)}


def flatten(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def trainable_parameters(model: nn.Module) -> Parameters:
    """The parameters with ``requires_grad=True``, detached (shared storage, never written).

    ``named_parameters()`` lists a tied parameter once, like ``parameters()``,
    so the flat order is ``model.parameters()`` order restricted to trainable ones.
    """
    check_module(model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ProbeError("the model has no trainable parameters (none with requires_grad=True)")
    devices = {p.device for _, p in named}
    dtypes = {p.dtype for _, p in named}
    if len(devices) > 1 or len(dtypes) > 1:
        raise ProbeError(
            "the trainable parameters must share one device and one dtype, got "
            f"devices {sorted(map(str, devices))} and dtypes {sorted(map(str, dtypes))}"
        )
    if not next(iter(dtypes)).is_floating_point:
        raise ProbeError(f"trainable parameters must be floating point, got {next(iter(dtypes))}")
    return Parameters(tuple(n for n, _ in named), tuple(p.detach() for _, p in named))


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[str, nn.Module]:
    """Find ``layer`` (a submodule or its name in ``named_modules()``) inside ``model``."""
    if not isinstance(layer, (str, nn.Module)):
        raise ProbeError(
            f"layer must be a submodule of the model or its name in "
            f"model.named_modules() (e.g. '2'), got {describe(layer)}"
        )
    modules = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in modules:
            raise ProbeError(
                f"model has no module named {layer!r}; names are {sorted(modules)[:20]}"
            )
        return layer, modules[layer]
    for name, module in modules.items():
        if module is layer:
            return name, module
    raise ProbeError(f"layer {type(layer).__name__} is not a submodule of the model")
