"""Data sets as tensors on a device: real (MNIST, Fashion-MNIST) and generated.

Real data sets are located as described in :mod:`dlverify.data.location` and
verified by SHA-256; a missing data set raises
:class:`~dlverify.errors.DataNotFoundError` with what to do.
"""

from .cifar import CIFAR10_CLASSES, load_cifar10
from .location import ENV_VAR, OFFLINE_ENV_VAR, cache_root, locate, search_roots
from .real import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist
from .registry import DATASETS, DataFile, DatasetSpec, get_spec
from .synthetic import FUNCTIONS, function_problem, linear_problem, random_labels
from .tensors import TensorData

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DataFile",
    "DatasetSpec",
    "ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "FUNCTIONS",
    "OFFLINE_ENV_VAR",
    "TensorData",
    "cache_root",
    "function_problem",
    "get_spec",
    "linear_problem",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist",
    "locate",
    "random_labels",
    "search_roots",
]
