"""CIFAR-10 as tensors, from the python-pickle batches (``cifar-10-batches-py``).

Layout of the canonical archive ``cifar-10-python.tar.gz`` (Krizhevsky, 2009):
``data_batch_1`` … ``data_batch_5`` (10 000 training images each), ``test_batch``
(10 000) and ``batches.meta`` (class names). Each batch is a pickled dict with
``b"data"``, a ``(10000, 3072)`` uint8 array (1024 red, then 1024 green, then
1024 blue values per image, rows in raster order) and ``b"labels"``, 10 000 ints.

Files are located like the other data sets (:mod:`dlverify.data.location`:
``DLVERIFY_DATA``, the user cache, ``/usr/share/datasets``), under
``<root>/cifar-10-batches-py/<file>``. Each file is verified before it is
unpickled: by SHA-256 when the spec gives one, else by the MD5 listed in
:data:`dlverify.data.registry.CIFAR10` (no per-file SHA-256 is published).
Unpickling accepts only numpy arrays and plain containers, so a replaced file
cannot run code. When files are missing and downloads are allowed (no
``DLVERIFY_OFFLINE``), the archive is downloaded from the canonical site, its MD5
checked, unpacked to a temporary folder, every member verified, and the folder
renamed into the user cache atomically under a file lock.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from ..errors import ChecksumError, CorruptDataError, DataNotFoundError
from .location import (
    ENV_VAR,
    _exclusive_lock,
    cache_root,
    downloads_allowed,
    find_file,
    read_bytes,
    search_roots,
)
from .registry import CIFAR10, DataFile, DatasetSpec
from .tensors import TensorData

ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
IMAGE_SHAPE = (3, 32, 32)
_CHUNK = 1 << 20


def _fix_hint(spec: DatasetSpec) -> str:
    return (
        f"Delete it and download {ARCHIVE_URL} (MD5 {ARCHIVE_MD5}) again, unpacked so that "
        f"<root>/{spec.folder}/ holds its files, with {ENV_VAR}=<root>; or delete it and let dlverify "
        f"download it into {cache_root()} on a machine with network access."
    )


def verify_file(path: Path, expected: DataFile, spec: DatasetSpec = CIFAR10) -> bytes:
    """The bytes of ``path`` after checking them against ``expected``'s SHA-256, else its MD5.

    Raises :class:`~dlverify.errors.ChecksumError` naming the file on a mismatch,
    and ``ValueError`` when ``expected`` carries no checksum at all.
    """
    content = read_bytes(path)
    if expected.sha256:
        algorithm, want, got = "SHA-256", expected.sha256, hashlib.sha256(content).hexdigest()
    elif expected.md5:
        algorithm, want, got = (
            "MD5",
            expected.md5,
            hashlib.md5(content, usedforsecurity=False).hexdigest(),
        )
    else:
        raise ValueError(f"{expected.name}: the data set spec gives neither a SHA-256 nor an MD5")
    if got != want:
        raise ChecksumError(
            f"{path}: {algorithm} is {got}, expected {want} for {spec.name} {expected.name}; the file is "
            f"corrupt, truncated or a different version. {_fix_hint(spec)}"
        )
    return content


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts, lists, numpy arrays) and nothing that could run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def parse_batch(content: bytes, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` from one pickled CIFAR-10 batch."""
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(content), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as error:
        raise CorruptDataError(f"{name}: not a readable CIFAR-10 pickle batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise CorruptDataError(f"{name}: expected a dict with b'data' and b'labels', got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    pixels = int(np.prod(IMAGE_SHAPE))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        raise CorruptDataError(
            f"{name}: b'data' should be (N, {pixels}) uint8, got {data.shape} {data.dtype}"
        )
    if labels.shape != (data.shape[0],):
        raise CorruptDataError(f"{name}: {data.shape[0]} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise CorruptDataError(
            f"{name}: labels outside 0..9 (min {labels.min()}, max {labels.max()})"
        )
    return data.reshape(-1, *IMAGE_SHAPE), labels


def _extract(archive: Path, destination: Path) -> None:
    """Unpack a tar.gz, refusing members that would land outside ``destination`` or are links."""
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(destination, filter="data")
            return
        root = destination.resolve()
        for member in tar.getmembers():
            target = (destination / member.name).resolve()
            if member.issym() or member.islnk() or (target != root and root not in target.parents):
                raise tarfile.TarError(f"unsafe member {member.name!r} in {archive.name}")
        tar.extractall(destination)


def _fetch_archive(url: str, target: Path, *, timeout: float) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(target, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            md5.update(chunk)
            out.write(chunk)
    if md5.hexdigest() != ARCHIVE_MD5:
        raise ChecksumError(
            f"{url}: MD5 of the download is {md5.hexdigest()}, expected {ARCHIVE_MD5}"
        )


def download_cifar10(
    spec: DatasetSpec = CIFAR10, *, url: str = ARCHIVE_URL, timeout: float = 120.0
) -> Path:
    """Download and unpack the archive into the user cache; return ``<cache>/<folder>``.

    Verified (archive MD5, then every member's checksum), atomic (unpacked into a
    temporary folder renamed into place) and locked, so parallel pytest-xdist
    workers download it once. Raises DataNotFoundError when it cannot be fetched.
    """
    final = cache_root() / spec.folder
    with _exclusive_lock(cache_root() / f".{spec.folder}.lock"):
        if all(
            (final / f.name).is_file() for f in spec.files.values()
        ):  # another worker finished it
            return final
        work = Path(tempfile.mkdtemp(dir=cache_root(), prefix=f".{spec.folder}."))
        try:
            archive = work / "archive.tar.gz"
            _fetch_archive(url, archive, timeout=timeout)
            _extract(archive, work / "unpacked")
            unpacked = work / "unpacked" / spec.folder
            for file in spec.files.values():
                verify_file(unpacked / file.name, file, spec)
            if final.exists():
                shutil.rmtree(final)
            os.replace(unpacked, final)
        except (
            urllib.error.URLError,
            OSError,
            tarfile.TarError,
            ChecksumError,
            CorruptDataError,
        ) as error:
            raise DataNotFoundError(
                _missing_message(spec, f"the download from {url} failed: {error}")
            ) from error
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _missing_message(spec: DatasetSpec, reason: str) -> str:
    looked = ", ".join(str(root / spec.folder) for root in search_roots())
    return (
        f"CIFAR-10 ({spec.folder}) is not on this machine (looked in {looked}) and {reason}. "
        f"Download {ARCHIVE_URL} (MD5 {ARCHIVE_MD5}), unpack it into a folder <root> so that "
        f"<root>/{spec.folder}/data_batch_1 exists, and set {ENV_VAR}=<root>; or run once with network "
        f"access (and without DLVERIFY_OFFLINE) to download it into {cache_root()}."
    )


def locate_cifar10(
    spec: DatasetSpec = CIFAR10,
    roles: tuple[str, ...] | None = None,
    *,
    download: bool | None = None,
) -> dict[str, Path]:
    """Paths of the wanted files (default: all), downloading the archive if allowed.

    Raises :class:`~dlverify.errors.DataNotFoundError` when a file is missing and
    cannot be downloaded. Files are not verified here (see :func:`verify_file`).
    """
    roles = tuple(spec.files) if roles is None else roles
    found = {role: find_file(spec, role) for role in roles}
    missing = [role for role, where in found.items() if where is None]
    if missing:
        if download is None:
            download = downloads_allowed()
        if not download:
            names = ", ".join(spec.files[r].name for r in missing)
            raise DataNotFoundError(
                _missing_message(spec, f"downloads are disabled (missing: {names})")
            )
        folder = download_cifar10(spec)
        return {role: folder / spec.files[role].name for role in roles}
    return {role: where.path for role, where in found.items()}


def load_cifar10_arrays(
    split: str = "train", *, spec: DatasetSpec = CIFAR10, download: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` of one split, batches in order."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    roles = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    paths = locate_cifar10(spec, roles, download=download)
    parts = [
        parse_batch(verify_file(paths[r], spec.files[r], spec), name=str(paths[r])) for r in roles
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar10(
    split: str = "train",
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    flatten: bool = False,
    download: bool | None = None,
    spec: DatasetSpec = CIFAR10,
) -> TensorData:
    """CIFAR-10 scaled to [0, 1]: inputs ``(N, 3, 32, 32)`` (or ``(N, 3072)``), integer labels.

    50 000 training images (``data_batch_1``…``5`` in order) and 10 000 test
    images; class names in :data:`CIFAR10_CLASSES`. Flattened inputs keep the
    file's channel-major order (R, G, B planes). ``spec`` replaces the file list
    and checksums (tests use it for generated batches). Raises
    :class:`~dlverify.errors.DataNotFoundError` when missing and not downloadable,
    :class:`~dlverify.errors.ChecksumError` / :class:`~dlverify.errors.CorruptDataError`
    for damaged files.
    """
    images, labels = load_cifar10_arrays(split, spec=spec, download=download)
    x = torch.from_numpy(images).to(dtype=dtype).div_(255.0)
    if flatten:
        x = x.reshape(x.shape[0], -1)
    return TensorData(x, torch.from_numpy(labels)).to(device)
