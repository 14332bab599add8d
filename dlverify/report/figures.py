"""Figures for the claims report, drawn from measurements.

Each function returns a ``matplotlib.figure.Figure`` made without pyplot: no
backend is chosen or switched (a notebook's inline plots keep working), no
figure is registered in pyplot's global list, and nothing needs closing. A
``Figure`` renders to PNG on its own; pass it to ``claim.figure(fig, name)``
to put it in the report. :func:`subplots` is ``plt.subplots`` on such a figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure


def subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    """``(figure, axes)`` like ``matplotlib.pyplot.subplots``, on a figure pyplot does not manage.

    ``kwargs`` go to :meth:`matplotlib.figure.Figure.subplots` (``sharex``,
    ``sharey``, ``squeeze``, ``width_ratios``, ...).
    """
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def curves(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    title: str = "",
    logy: bool = False,
    styles: Mapping[str, str] | None = None,
):
    """One line per labelled series, on shared axes."""
    fig, ax = subplots(figsize=(5.5, 3.6))
    for label, values in series.items():
        xs = list(x) if x is not None else list(range(1, len(values) + 1))
        ax.plot(
            xs[: len(values)],
            list(values),
            (styles or {}).get(label, "-"),
            label=label,
            linewidth=1.4,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def train_val_curves(
    histories: Mapping[str, object], *, metric: str = "loss", title: str = "", logy: bool = False
):
    """Train (solid) and validation (dashed) ``metric`` per epoch for several runs, one colour each."""
    fig, ax = subplots(figsize=(5.5, 3.6))
    for index, (label, history) in enumerate(histories.items()):
        colour = f"C{index % 10}"
        train = getattr(history, f"train_{metric}")
        val = getattr(history, f"val_{metric}")
        epochs = history.epoch
        ax.plot(
            epochs[: len(train)], train, "-", color=colour, label=f"{label} train", linewidth=1.4
        )
        if val:
            ax.plot(
                epochs[: len(val)], val, "--", color=colour, label=f"{label} val", linewidth=1.4
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
