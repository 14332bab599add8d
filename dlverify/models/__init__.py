"""Small networks of the reports and their initialization schemes."""

from .architectures import (
    ACTIVATIONS,
    count_parameters,
    function_net,
    linear_model,
    mlp,
    softmax_regression,
)
from .init import SCHEMES, draw_kernel, initialize

__all__ = [
    "ACTIVATIONS",
    "SCHEMES",
    "count_parameters",
    "draw_kernel",
    "function_net",
    "initialize",
    "linear_model",
    "mlp",
    "softmax_regression",
]
