"""Fixtures shared by the claim tests: the real data sets, loaded once per process.

Data sets are found as :mod:`dlverify.data.location` describes (``--data-dir``,
``$DLVERIFY_DATA``, the user cache, ``/usr/share/datasets``, a download). When a
data set is missing and cannot be downloaded, every claim that needs it is
skipped with the loader's message, which says how to provide it.
"""

from __future__ import annotations

import pytest

from dlverify.data import TensorData, load_fashion_mnist, load_mnist
from dlverify.errors import DataNotFoundError


def _load(loader, split: str) -> TensorData:
    try:
        return loader(split)
    except DataNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def mnist_train() -> TensorData:
    """The 60 000 MNIST training images (CPU, ``(N, 1, 28, 28)`` in [0, 1])."""
    return _load(load_mnist, "train")


@pytest.fixture(scope="session")
def mnist_test() -> TensorData:
    """The 10 000 MNIST test images."""
    return _load(load_mnist, "test")


@pytest.fixture(scope="session")
def fashion_train() -> TensorData:
    """The 60 000 Fashion-MNIST training images."""
    return _load(load_fashion_mnist, "train")


@pytest.fixture(scope="session")
def fashion_test() -> TensorData:
    """The 10 000 Fashion-MNIST test images."""
    return _load(load_fashion_mnist, "test")
