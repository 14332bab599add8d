"""The data layer: IDX parsing, checksums, locating, downloading, errors."""

from __future__ import annotations

import gzip
import hashlib
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dlverify.__main__ import main
from dlverify.data import (
    DataFile,
    DatasetSpec,
    TensorData,
    function_problem,
    linear_problem,
    load_mnist,
    random_labels,
)
from dlverify.data.idx import parse_idx
from dlverify.data.location import load_verified, locate, read_bytes, search_roots
from dlverify.errors import ChecksumError, CorruptDataError, DataLocationError, DataNotFoundError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real data roots: an empty environment variable, a private cache, no system folders."""
    monkeypatch.delenv("DLVERIFY_DATA", raising=False)
    monkeypatch.delenv("DLVERIFY_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("dlverify.data.location.SYSTEM_ROOTS", ())
    return tmp_path


def tiny_spec(content: bytes, mirror: str = "http://127.0.0.1:9/") -> DatasetSpec:
    file = DataFile("tiny-labels-idx1-ubyte", hashlib.sha256(content).hexdigest())
    return DatasetSpec(name="tiny", folder="tiny", files={"labels": file}, mirrors=(mirror,))


LABELS = idx_bytes(np.arange(10, dtype=np.uint8))


# -- IDX --------------------------------------------------------------------------


def test_parse_idx_roundtrip():
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28))
    parsed = parse_idx(idx_bytes(images), ndim=3)
    assert parsed.shape == (3, 28, 28) and np.array_equal(parsed, images)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda b: b"\x01" + b[1:], "bad magic"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "type code"),
        (lambda b: b[:-5], "promises"),
        (lambda b: b[:6], "truncated header"),
    ],
)
def test_parse_idx_rejects_corrupt_content(mangle, message):
    with pytest.raises(CorruptDataError, match=message):
        parse_idx(mangle(LABELS), name="labels")


def test_parse_idx_checks_dimensions():
    with pytest.raises(CorruptDataError, match="expected 3 dimensions"):
        parse_idx(LABELS, ndim=3)


# -- locating and verifying -------------------------------------------------------


def test_environment_root_is_searched_first_and_verified(isolated, monkeypatch):
    root = isolated / "mine"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "tiny-labels-idx1-ubyte.gz").write_bytes(gzip.compress(LABELS))
    monkeypatch.setenv("DLVERIFY_DATA", str(root))
    assert search_roots()[0] == root
    located = locate(tiny_spec(LABELS), "labels")
    assert located.source == "environment"
    assert load_verified(tiny_spec(LABELS), "labels") == LABELS


def test_raw_files_are_found_too(isolated, monkeypatch):
    (isolated / "mine" / "tiny").mkdir(parents=True)
    (isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte").write_bytes(LABELS)
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    assert load_verified(tiny_spec(LABELS), "labels") == LABELS


def test_wrong_checksum_names_the_file_and_the_fix(isolated, monkeypatch):
    path = isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(LABELS[:-1] + b"\x07"))
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    with pytest.raises(ChecksumError, match=r"tiny-labels-idx1-ubyte\.gz.*expected.*delete it"):
        load_verified(tiny_spec(LABELS), "labels")


def test_truncated_gzip_is_a_corrupt_data_error(isolated, monkeypatch):
    path = isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(LABELS * 50)[:40])
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    with pytest.raises(CorruptDataError, match="truncated or corrupt"):
        load_verified(tiny_spec(LABELS), "labels")


def test_missing_and_offline_says_where_it_looked_and_what_to_do(isolated, monkeypatch):
    monkeypatch.setenv("DLVERIFY_OFFLINE", "1")
    with pytest.raises(
        DataNotFoundError,
        match=r"(?s)looked in .*DLVERIFY_DATA.*python -m dlverify data fetch tiny",
    ):
        locate(tiny_spec(LABELS), "labels")


def test_environment_folder_that_does_not_exist_is_an_error_not_a_fall_through(
    isolated, monkeypatch
):
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "typo"))
    with pytest.raises(
        DataLocationError, match=r"DLVERIFY_DATA names .*typo, which is not a folder"
    ):
        locate(tiny_spec(LABELS), "labels")


def _cached_copy(isolated) -> Path:
    """A good copy in the user cache: what a fall-through would silently use instead."""
    path = isolated / "cache" / "dlverify" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(LABELS))
    return path


@pytest.mark.parametrize("name", ["tiny-labels-idx1-ubyte", "tiny-labels-idx1-ubyte.gz"])
def test_a_dangling_symlink_is_an_error_not_a_fall_through_to_the_cache(
    isolated, monkeypatch, name
):
    _cached_copy(isolated)
    folder = isolated / "mine" / "tiny"
    folder.mkdir(parents=True)
    (folder / name).symlink_to(isolated / "moved" / name)
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    with pytest.raises(
        DataLocationError,
        match=rf"{name} is a symbolic link to .*moved.*, which "
        r"does not exist; point the link",
    ):
        load_verified(tiny_spec(LABELS), "labels")


def test_a_dangling_symlink_is_an_error_not_a_download(isolated, monkeypatch):
    spec = tiny_spec(LABELS, mirror=_mirror(isolated, LABELS))
    (isolated / "cache" / "dlverify").mkdir(parents=True)
    (isolated / "cache" / "dlverify" / "tiny").symlink_to(isolated / "unmounted")
    with pytest.raises(DataLocationError, match=r"tiny is a symbolic link .*unmounted"):
        locate(spec, "labels")
    assert not (isolated / "unmounted").exists()


def test_a_folder_in_place_of_a_data_file_or_a_file_in_place_of_the_folder_is_an_error(
    isolated, monkeypatch
):
    _cached_copy(isolated)
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    (isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte").mkdir(parents=True)
    with pytest.raises(DataLocationError, match="is a folder, not a data file"):
        locate(tiny_spec(LABELS), "labels")
    (isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte").rmdir()
    (isolated / "mine" / "tiny").rmdir()
    (isolated / "mine" / "tiny").write_bytes(b"")
    with pytest.raises(DataLocationError, match="is a file where the data set's folder should be"):
        locate(tiny_spec(LABELS), "labels")


def test_an_unreadable_file_is_an_error_that_says_so_not_a_fall_through(isolated, monkeypatch):
    """Root reads every file, so the permission check is made to fail where it is asked."""
    _cached_copy(isolated)
    path = isolated / "mine" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(LABELS))
    path.chmod(0)
    real_access = os.access
    monkeypatch.setattr(
        "dlverify.data.location.os.access",
        lambda p, mode: False if Path(p) == path else real_access(p, mode),
    )
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "mine"))
    with pytest.raises(DataLocationError, match=r"cannot be read.*chmod u\+r") as info:
        load_verified(tiny_spec(LABELS), "labels")
    assert "delete it" not in str(info.value).lower()


def test_a_permission_error_while_reading_is_not_called_corruption(isolated, monkeypatch):
    path = isolated / "tiny-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(LABELS))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("dlverify.data.location.open", refuse, raising=False)
    with pytest.raises(
        DataLocationError,
        match=r"cannot be read \(\[Errno 13\] Permission denied"
        r".*chmod u\+r",
    ) as info:
        read_bytes(path)
    assert "delete it" not in str(info.value).lower()
    assert "corrupt" not in str(info.value).lower()


def test_data_cli_rejects_a_missing_environment_folder(isolated, monkeypatch, capsys):
    monkeypatch.setenv("DLVERIFY_DATA", str(isolated / "typo"))
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "list", "mnist"])
    assert exit_info.value.code == 2
    assert "which is not a folder" in capsys.readouterr().err


def test_unreachable_mirror_is_data_not_found(isolated):
    with pytest.raises(DataNotFoundError, match="could not be downloaded"):
        locate(tiny_spec(LABELS, mirror="http://127.0.0.1:9/"), "labels")
    leftovers = list((isolated / "cache").rglob("*.part"))
    assert leftovers == []


def _mirror(tmp_path: Path, content: bytes) -> str:
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    (mirror / "tiny-labels-idx1-ubyte.gz").write_bytes(gzip.compress(content))
    return mirror.as_uri() + "/"


def test_download_is_verified_and_lands_in_the_cache(isolated):
    spec = tiny_spec(LABELS, mirror=_mirror(isolated, LABELS))
    located = locate(spec, "labels")
    assert located.source == "download"
    assert located.path == isolated / "cache" / "dlverify" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    assert locate(spec, "labels").source == "cache"


def test_download_with_wrong_content_is_rejected_and_leaves_nothing(isolated):
    spec = tiny_spec(LABELS, mirror=_mirror(isolated, LABELS[:-1] + b"\x03"))
    with pytest.raises(DataNotFoundError, match="SHA-256"):
        locate(spec, "labels")
    assert not (isolated / "cache" / "dlverify" / "tiny" / "tiny-labels-idx1-ubyte.gz").exists()


def _download_in_worker(args) -> bytes:
    cache, mirror = args
    os.environ["XDG_CACHE_HOME"] = cache
    os.environ.pop("DLVERIFY_DATA", None)
    import dlverify.data.location as loc

    loc.SYSTEM_ROOTS = ()
    return loc.load_verified(tiny_spec(LABELS * 2000, mirror=mirror), "labels")


def test_parallel_workers_all_get_the_whole_verified_file(isolated):
    mirror = _mirror(isolated, LABELS * 2000)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_download_in_worker, [(str(isolated / "cache"), mirror)] * 8)
    assert all(result == LABELS * 2000 for result in results)
    folder = isolated / "cache" / "dlverify" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        "tiny-labels-idx1-ubyte.gz",
        "tiny-labels-idx1-ubyte.gz.lock",
    ]


# -- real data sets (when present) --------------------------------------------------


def test_mnist_matches_the_documented_label_counts():
    try:
        train = load_mnist("train", download=False)
    except DataNotFoundError as error:
        pytest.skip(str(error))
    assert train.inputs.shape == (60000, 1, 28, 28)
    assert 0.0 <= float(train.inputs.min()) and float(train.inputs.max()) == 1.0
    assert train.targets.bincount().tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")


# -- generated problems ---------------------------------------------------------------


def test_linear_problem_is_reproducible_and_has_the_stated_coefficients():
    a = linear_problem(20_000, generator=torch.Generator().manual_seed(3))
    b = linear_problem(20_000, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    x = torch.cat([a.inputs.double(), torch.ones_like(a.inputs.double())], dim=1)
    w, b_ = torch.linalg.lstsq(x, a.targets.double()).solution.flatten().tolist()
    assert abs(w - 3.0) < 0.03 and abs(b_ - 2.0) < 0.03


def test_function_problem_values():
    data = function_problem("cos", 5, low=-1.0, high=1.0)
    x = data.inputs.double()
    assert torch.allclose(data.targets.double(), torch.cos(x) + 0.5 * x**2, atol=1e-6)
    with pytest.raises(ValueError, match="unknown function"):
        function_problem("tan")


def test_random_labels_keep_class_counts_but_break_the_pairing():
    data = TensorData(torch.zeros(1000, 2), torch.arange(1000) % 10)
    shuffled = random_labels(data, generator=torch.Generator().manual_seed(0))
    assert torch.equal(shuffled.targets.bincount(), data.targets.bincount())
    assert (shuffled.targets == data.targets).float().mean() < 0.3


def test_tensor_data_rejects_misaligned_tensors_and_splits_like_keras():
    with pytest.raises(ValueError, match="differ in length"):
        TensorData(torch.zeros(3, 1), torch.zeros(4))
    data = TensorData(torch.arange(10.0).unsqueeze(1), torch.arange(10))
    first, second = data.split(0.2)
    assert second.targets.tolist() == [8, 9] and len(first) == 8
