"""What a training run records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

from ..errors import TrainingTypeError


@dataclass
class History:
    """Per-evaluation (usually per-epoch) metrics of one training run.

    ``train_loss``/``train_acc`` are running means over the mini-batches since
    the previous evaluation, weighted by batch size, of the objective that was
    minimized (penalties included, dropout active) — what Keras prints as
    ``loss`` and ``accuracy``. ``train_eval_loss``/``train_eval_acc`` are filled
    when the trainer is asked to evaluate the whole training set in eval mode.
    ``val_*`` are the validation set in eval mode. ``step`` is the number of
    optimizer steps done at each evaluation, ``seconds`` the wall time since
    the previous one. ``step_loss`` holds every mini-batch objective when
    per-step recording is on. ``probes`` holds what a
    :class:`~dlverify.probes.ProbeRecorder` measured: ``probes["step"]`` the
    steps, and one list per probe name (empty, and left out of
    :meth:`as_dict`, when no recorder ran).
    """

    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    train_eval_loss: list[float] = field(default_factory=list)
    train_eval_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    probes: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, list]:
        """Plain lists (and ``probes``, a dict of lists, when recorded), JSON-serializable."""
        values = asdict(self)
        if not values["probes"]:
            del values["probes"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Sequence]) -> History:
        """The History that :meth:`as_dict` gave ``values`` (e.g. read back from the run cache).

        Metrics missing from ``values`` stay empty (an older record); a name that
        is not a metric is an error rather than silently dropped data.
        """
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TrainingTypeError(f"History has no metric(s) {sorted(unknown)}")
        return cls(
            **{
                name: (
                    {k: list(v) for k, v in series.items()} if name == "probes" else list(series)
                )
                for name, series in values.items()
            }
        )

    @property
    def final(self) -> dict[str, float]:
        """The last value of every metric that was recorded."""
        return {
            name: values[-1]
            for name, values in self.as_dict().items()
            if values and name not in ("step_loss", "probes")
        }
