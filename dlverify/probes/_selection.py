"""The ``params=`` argument of the curvature probes: which parameters to differentiate.

``params`` names entries of ``model.named_parameters()``; the probe's
derivatives are taken with respect to those only, and every other parameter is
held fixed at its value. The Hessian of one layer is then the diagonal block
``∇²_{θ_S} L`` of the full Hessian, in ``model.parameters()`` order
(not the order ``params`` lists the names in).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..errors import ProbeError
from ._model import Parameters


def select_parameters(
    params: Parameters, names: Iterable[str] | None
) -> tuple[Parameters, dict[str, torch.Tensor]]:
    """Split the trainable ``params`` into the selected ones and the ones held fixed.

    ``names=None`` selects every trainable parameter. Raises :class:`ProbeError`
    for a bare string, an empty selection, a duplicate, or a name that is not a
    trainable parameter, listing the names there are.
    """
    if names is None:
        return params, {}
    if isinstance(names, str):
        raise ProbeError(
            f"params must be a list of parameter names, e.g. [{names!r}], not a single string"
        )
    try:
        wanted = list(names)
    except TypeError:
        raise ProbeError(
            "params must be a list of names from model.named_parameters(), got "
            f"{type(names).__name__}"
        ) from None
    if not wanted:
        raise ProbeError("params is empty; name at least one parameter, or pass None for all")
    strange = [n for n in wanted if not isinstance(n, str)]
    if strange:
        raise ProbeError(f"params must be parameter names (strings), got {strange[0]!r}")
    repeated = sorted({n for n in wanted if wanted.count(n) > 1})
    if repeated:
        raise ProbeError(f"params names {repeated} more than once; name each parameter once")
    unknown = [n for n in wanted if n not in params.names]
    if unknown:
        raise ProbeError(
            f"the model has no trainable parameter named {unknown[0]!r}; trainable "
            f"parameters are {list(params.names)} (requires_grad=False ones are "
            "always held fixed)"
        )
    keep = set(wanted)
    chosen = [(n, t) for n, t in zip(params.names, params.tensors) if n in keep]
    fixed = {n: t for n, t in zip(params.names, params.tensors) if n not in keep}
    return Parameters(tuple(n for n, _ in chosen), tuple(t for _, t in chosen)), fixed
