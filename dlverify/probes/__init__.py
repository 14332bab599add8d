"""Measurements of a model: gradients, curvature, sharpness, landscape, weights.

Every probe is a pure function of (model, loss, data) or of tensors:

- it never mutates the caller's model (parameters, buffers, ``requires_grad``,
  ``.grad``, train/eval mode): it evaluates the model with
  :func:`torch.func.functional_call` on detached parameters;
- it refuses (:class:`~dlverify.errors.ModelModeError`) a model whose
  Dropout/BatchNorm-like modules are in training mode instead of switching
  the mode silently; pure models (Linear, ReLU, Sigmoid, ...) may be in either;
- ``data`` is a pair ``(inputs, targets)`` or an iterable of pairs;
  ``loss_fn(outputs, targets)`` returns a *mean* loss, and full-data
  quantities weight each batch by its size, so batching does not change them;
- anything random takes an explicit ``torch.Generator`` (a CPU generator
  seeded with 0 when ``None``), so results are deterministic;
- it computes on the model's device, in the model's dtype unless documented
  (``gradcheck`` and ``minimal_ratio`` use float64);
- bad input raises :class:`~dlverify.errors.ProbeError`, a NaN/inf loss
  :class:`~dlverify.errors.NonFiniteLossError`;
- it refuses what it cannot measure rather than return a wrong number: a loss
  with no gradient path to the parameters (``.item()``, ``.detach()``), NaN or
  infinite weights, data or activations, the same snapshot twice, a size
  beyond its limit (checked before any copy), and arguments of the wrong type
  or range (the message says what to pass); errors raised by the caller's
  model or loss become a ``ProbeError`` naming the call, with the original
  error chained; an iterative probe that did not converge warns
  (:class:`~dlverify.errors.ConvergenceWarning`), or raises with ``strict=True``.
"""

from .activations import saturation
from .clustering import ClusterResult, cluster_weights
from .curvature import MAX_HESSIAN_PARAMS, hessian, hvp
from .density import DensityResult, spectral_density
from .eigenvalues import EigenvaluesResult, eigenvalues
from .epsilon_sharpness import SharpnessResult, sharpness
from .finite_differences import GradcheckResult, gradcheck
from .gradients import grad_norm, per_layer_grad_norms
from .hessian_operator import HessianOperator, hessian_operator
from .input_jacobian import sensitivity
from .interpolation import InterpolationResult, interpolate
from .loss_plane import (
    LossPlaneResult,
    TrajectoryProjection,
    filter_normalize,
    loss_plane,
    project_trajectory,
)
from .recorder import ProbeRecorder
from .spectrum import EigenResult, minimal_ratio, top_eigenvalue
from .trace import TraceResult, hessian_trace
from .trajectory import WeightPCAResult, weight_pca
from .weights import near_zero_weight_ratio

__all__ = [
    "MAX_HESSIAN_PARAMS",
    "ClusterResult",
    "DensityResult",
    "EigenResult",
    "EigenvaluesResult",
    "GradcheckResult",
    "HessianOperator",
    "InterpolationResult",
    "LossPlaneResult",
    "ProbeRecorder",
    "SharpnessResult",
    "TraceResult",
    "TrajectoryProjection",
    "WeightPCAResult",
    "cluster_weights",
    "eigenvalues",
    "filter_normalize",
    "grad_norm",
    "gradcheck",
    "hessian",
    "hessian_operator",
    "hessian_trace",
    "hvp",
    "interpolate",
    "loss_plane",
    "minimal_ratio",
    "near_zero_weight_ratio",
    "per_layer_grad_norms",
    "project_trajectory",
    "saturation",
    "sensitivity",
    "sharpness",
    "spectral_density",
    "top_eigenvalue",
    "weight_pca",
]
