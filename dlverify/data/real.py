"""MNIST and Fashion-MNIST as tensors, from the standard IDX files."""

from __future__ import annotations

import torch

from ..errors import CorruptDataError
from .idx import parse_idx
from .location import load_verified
from .registry import FASHION_MNIST, MNIST, DatasetSpec
from .tensors import TensorData

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _load_idx_pair(
    spec: DatasetSpec, split: str, *, download: bool | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_file, labels_file = spec.files[f"{split}-images"], spec.files[f"{split}-labels"]
    images = parse_idx(
        load_verified(spec, f"{split}-images", download=download), name=images_file.name, ndim=3
    )
    labels = parse_idx(
        load_verified(spec, f"{split}-labels", download=download), name=labels_file.name, ndim=1
    )
    if images.shape[0] != labels.shape[0]:
        raise CorruptDataError(
            f"{spec.name} {split}: {images.shape[0]} images but {labels.shape[0]} labels"
        )
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype("int64"))


def _as_data(
    images: torch.Tensor, labels: torch.Tensor, device, dtype, flatten: bool
) -> TensorData:
    x = images.to(dtype=dtype).div_(255.0)
    x = x.reshape(x.shape[0], -1) if flatten else x.unsqueeze(1)
    return TensorData(x, labels).to(device)


def load_mnist(
    split: str = "train",
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    flatten: bool = False,
    download: bool | None = None,
) -> TensorData:
    """MNIST digits scaled to [0, 1]: inputs ``(N, 1, 28, 28)`` (or ``(N, 784)``), integer labels.

    60 000 training and 10 000 test images (LeCun et al., 1998). Raises
    :class:`~dlverify.errors.DataNotFoundError` when the files are not on this
    machine and cannot be downloaded.
    """
    return _as_data(*_load_idx_pair(MNIST, split, download=download), device, dtype, flatten)


def load_fashion_mnist(
    split: str = "train",
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    flatten: bool = False,
    download: bool | None = None,
) -> TensorData:
    """Fashion-MNIST scaled to [0, 1] (Xiao et al., 2017); same layout as :func:`load_mnist`.

    Class names are in :data:`FASHION_MNIST_CLASSES`.
    """
    return _as_data(
        *_load_idx_pair(FASHION_MNIST, split, download=download), device, dtype, flatten
    )
