"""What each real data set consists of: file names, checksums and mirrors.

Checksums are SHA-256 of the *decompressed* bytes: the gzip wrapper differs
between mirrors (and Debian's package recompresses), the content does not.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    """One file of a data set, named as on the canonical mirror without ``.gz``."""

    name: str
    sha256: str
    #: MD5 of the file, for data sets whose per-file SHA-256 is not published (CIFAR-10);
    #: used only when ``sha256`` is empty (see :func:`dlverify.data.cifar.verify_file`).
    md5: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: the folder it lives in under a data root, its files, its mirrors.

    ``mirrors`` are base URLs; a file is fetched as ``mirror + name + ".gz"``
    when ``compressed_on_mirror`` is true, else ``mirror + name``.
    """

    name: str
    folder: str
    files: dict[str, DataFile]
    mirrors: tuple[str, ...]
    compressed_on_mirror: bool = True
    homepage: str = ""


MNIST = DatasetSpec(
    name="mnist",
    folder="mnist",
    files={
        "train-images": DataFile(
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        "train-labels": DataFile(
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "test-images": DataFile(
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "test-labels": DataFile(
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    # The mirror torchvision uses; the original site now requires a login.
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    folder="fashion-mnist",
    files={
        "train-images": DataFile(
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train-labels": DataFile(
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test-images": DataFile(
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test-labels": DataFile(
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

# CIFAR-10, python version (Krizhevsky, 2009): pickled batches inside one archive,
# https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (MD5 c58f30108f718f92721af3b95e74349a,
# published on https://www.cs.toronto.edu/~kriz/cifar.html). No per-file SHA-256 is published, so each
# extracted file is checked against its MD5 as listed by torchvision's CIFAR10 dataset (and the many
# projects that copy it); :mod:`dlverify.data.cifar` downloads and unpacks the archive.
CIFAR10 = DatasetSpec(
    name="cifar-10",
    folder="cifar-10-batches-py",
    files={
        "data_batch_1": DataFile("data_batch_1", "", md5="c99cafc152244af753f735de768cd75f"),
        "data_batch_2": DataFile("data_batch_2", "", md5="d4bba439e000b95fd0a9bffe97cbabec"),
        "data_batch_3": DataFile("data_batch_3", "", md5="54ebc095f3ab1f0389bbae665268c751"),
        "data_batch_4": DataFile("data_batch_4", "", md5="634d18415352ddfa80567beed471001a"),
        "data_batch_5": DataFile("data_batch_5", "", md5="482c414d41f54cd18b22e5b47cb7c3cb"),
        "test_batch": DataFile("test_batch", "", md5="40351d587109b95175f43aff81a1287e"),
        "batches.meta": DataFile("batches.meta", "", md5="5ff9c542aee3614f3951f8cda6e48888"),
    },
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    compressed_on_mirror=False,
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST, CIFAR10)}


def get_spec(name: str) -> DatasetSpec:
    """Look a data set up by name (``mnist``, ``fashion-mnist``, ``cifar-10``)."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise KeyError(f"unknown data set {name!r}; known data sets: {known}") from None
