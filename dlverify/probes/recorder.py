"""Probes measured during training: a callback for :func:`dlverify.train.fit` (Cockpit-style)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import ProbeError
from ._objective import LossFn, Objective, check_finite
from .eigenvalues import eigenvalues
from .gradients import grad_norm
from .trace import hessian_trace

#: ``probe(model, loss_fn, data, generator) -> float``.
Probe = Callable[[nn.Module, LossFn, object, torch.Generator], float]


def _loss(model, loss_fn, data, generator) -> float:
    value = Objective.build(model, loss_fn, data).loss()
    check_finite(value, "loss")
    return float(value)


#: The probes a :class:`ProbeRecorder` knows by name (cheap settings: at most 50
#: Lanczos steps for the eigenvalues, with the usual ConvergenceWarning when that is
#: not enough; 30 Hutch++ products for the trace; ``"exact_trace"`` for MLPs, see
#: :func:`~dlverify.probes.hessian_trace`).
BUILTIN: dict[str, Probe] = {
    "loss": _loss,
    "grad_norm": lambda m, f, d, g: grad_norm(m, f, d),
    "top_eigenvalue": lambda m, f, d, g: float(
        eigenvalues(m, f, d, max_iter=50, generator=g).values[0]
    ),
    "smallest_eigenvalue": lambda m, f, d, g: float(
        eigenvalues(m, f, d, which="smallest", max_iter=50, generator=g).values[0]
    ),
    "trace": lambda m, f, d, g: hessian_trace(m, f, d, n_samples=30, generator=g).value,
    "exact_trace": lambda m, f, d, g: hessian_trace(m, f, d, method="exact").value,
}


class ProbeRecorder:
    """Measure probes every ``every`` optimizer steps on a fixed batch; store them in the History.

    Pass it to ``fit(..., callbacks=[recorder])``. ``probes`` is a sequence of
    names from :data:`BUILTIN` (``"loss"``, ``"grad_norm"``,
    ``"top_eigenvalue"``, ``"smallest_eigenvalue"``, ``"trace"``,
    ``"exact_trace"``) or a mapping
    from names to ``probe(model, loss_fn, data, generator) -> float``. After
    each step whose count is a multiple of ``every`` (and before the first,
    with ``at_start``) every probe is measured on ``data`` — the same batch
    each time, as in Cockpit (Schneider, Dangel & Hennig, NeurIPS 2021), so
    the series shows the model changing, not the batch — with a generator
    seeded with ``seed`` each time (the same random vectors at every step).
    The model is put in eval mode for the measurement and its mode restored;
    nothing else about it changes. At each of ``fit``'s evaluations (and so
    at the end of training) the measurements are appended to
    ``history.probes``: ``"step"`` (steps done) and one list per probe name.
    """

    def __init__(
        self,
        loss_fn: LossFn,
        data,
        probes: Sequence[str] | Mapping[str, Probe] = ("loss", "grad_norm"),
        *,
        every: int = 1,
        at_start: bool = True,
        seed: int = 0,
    ):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ProbeError(f"every must be a positive integer (steps), got {every!r}")
        if isinstance(probes, str):
            raise ProbeError(f"probes must be a list of names, e.g. [{probes!r}], not a string")
        if isinstance(probes, Mapping):
            chosen = dict(probes)
        else:
            unknown = [p for p in probes if p not in BUILTIN]
            if unknown:
                raise ProbeError(
                    f"unknown probe {unknown[0]!r}; known names are "
                    f"{sorted(BUILTIN)}, or pass a mapping from names to functions"
                )
            chosen = {p: BUILTIN[p] for p in probes}
        if not chosen:
            raise ProbeError("probes is empty: name at least one probe to record")
        if "step" in chosen:
            raise ProbeError(
                "'step' is where the recorder stores the step count; rename that probe"
            )
        bad = [name for name, fn in chosen.items() if not callable(fn)]
        if bad:
            raise ProbeError(f"probe {bad[0]!r} is not callable")
        self.loss_fn, self.data, self.probes = loss_fn, data, chosen
        self.every, self.at_start, self.seed = every, at_start, seed
        self._pending: dict[str, list[float]] = {"step": [], **{name: [] for name in chosen}}

    def _measure(self, steps_done: int, model: nn.Module) -> None:
        was_training = model.training
        model.eval()
        try:
            values = {
                name: float(
                    fn(model, self.loss_fn, self.data, torch.Generator().manual_seed(self.seed))
                )
                for name, fn in self.probes.items()
            }
        finally:
            model.train(was_training)
        self._pending["step"].append(steps_done)
        for name, value in values.items():
            self._pending[name].append(value)

    def before_step(self, step: int, model: nn.Module, optimizer) -> None:
        """``fit`` callback: measure at step 0 when ``at_start``."""
        if step == 0 and self.at_start:
            self._measure(0, model)

    def after_step(self, step: int, model: nn.Module, optimizer) -> None:
        """``fit`` callback: measure after every ``every``-th step."""
        if (step + 1) % self.every == 0:
            self._measure(step + 1, model)

    def after_evaluation(self, history, model: nn.Module) -> None:
        """``fit`` callback: move the measurements taken since the last evaluation into ``history.probes``."""
        for name, values in self._pending.items():
            history.probes.setdefault(name, []).extend(values)
            values.clear()
