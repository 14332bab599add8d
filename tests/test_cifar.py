"""CIFAR-10 loader: tiny batches written in the CIFAR-10 pickle format, located via DLVERIFY_DATA."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle

import numpy as np
import pytest
import torch

from dlverify.data import load_cifar10
from dlverify.data.cifar import TRAIN_BATCHES, download_cifar10, parse_batch, verify_file
from dlverify.data.registry import CIFAR10, DATASETS, DataFile
from dlverify.errors import ChecksumError, CorruptDataError, DataNotFoundError

PER_BATCH = 4


def _batch_bytes(seed: int, n: int = PER_BATCH) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    content = pickle.dumps(
        {b"batch_label": b"test", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n},
        protocol=2,
    )
    return content, data, np.asarray(labels)


def _write_fixture(root, monkeypatch, *, corrupt: dict[str, bytes] | None = None):
    """Write the seven files under root/cifar-10-batches-py and a spec whose checksums match them."""
    folder = root / CIFAR10.folder
    folder.mkdir(parents=True)
    files, arrays = {}, {}
    for index, role in enumerate(CIFAR10.files):
        if role == "batches.meta":
            content = pickle.dumps(
                {b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, protocol=2
            )
        else:
            content, data, labels = _batch_bytes(index)
            arrays[role] = (data, labels)
        files[role] = DataFile(role, hashlib.sha256(content).hexdigest())
        (folder / role).write_bytes((corrupt or {}).get(role, content))
    monkeypatch.setenv("DLVERIFY_DATA", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    monkeypatch.setenv("DLVERIFY_OFFLINE", "1")
    return dataclasses.replace(CIFAR10, files=files), arrays


def test_loads_train_batches_in_order_with_channel_major_layout(tmp_path, monkeypatch):
    spec, arrays = _write_fixture(tmp_path, monkeypatch)
    train = load_cifar10("train", spec=spec)
    assert train.inputs.shape == (5 * PER_BATCH, 3, 32, 32)
    assert train.inputs.dtype == torch.float32
    expected = np.concatenate([arrays[r][0] for r in TRAIN_BATCHES]).reshape(-1, 3, 32, 32)
    torch.testing.assert_close(train.inputs, torch.from_numpy(expected).float() / 255.0)
    assert train.targets.tolist() == np.concatenate([arrays[r][1] for r in TRAIN_BATCHES]).tolist()
    # the first 1024 values of a row are the red plane, in raster order
    assert train.inputs[0, 0, 0, 1] == pytest.approx(arrays["data_batch_1"][0][0, 1] / 255.0)
    assert train.inputs[0, 1, 0, 0] == pytest.approx(arrays["data_batch_1"][0][0, 1024] / 255.0)


def test_test_split_and_flatten(tmp_path, monkeypatch):
    spec, arrays = _write_fixture(tmp_path, monkeypatch)
    test = load_cifar10("test", spec=spec, flatten=True, dtype=torch.float64)
    assert test.inputs.shape == (PER_BATCH, 3072) and test.inputs.dtype == torch.float64
    assert test.targets.dtype == torch.int64
    assert test.targets.tolist() == arrays["test_batch"][1].tolist()


def test_the_real_spec_rejects_files_that_are_not_the_canonical_ones(tmp_path, monkeypatch):
    _write_fixture(tmp_path, monkeypatch)
    with pytest.raises(ChecksumError, match=r"data_batch_1.*MD5"):
        load_cifar10("train")


def test_truncated_file_is_a_checksum_error_naming_the_file(tmp_path, monkeypatch):
    content, _, _ = _batch_bytes(2)
    spec, _ = _write_fixture(
        tmp_path, monkeypatch, corrupt={"data_batch_2": content[: len(content) // 2]}
    )
    with pytest.raises(ChecksumError, match=r"data_batch_2.*(download|Delete)"):
        load_cifar10("train", spec=spec)


def test_unreadable_pickle_with_matching_checksum_is_corrupt_data(tmp_path, monkeypatch):
    spec, _ = _write_fixture(tmp_path, monkeypatch)
    bad = pickle.dumps({b"data": np.zeros((2, 10), dtype=np.uint8), b"labels": [0, 1]}, protocol=2)
    (tmp_path / CIFAR10.folder / "test_batch").write_bytes(bad)
    spec = dataclasses.replace(
        spec,
        files={**spec.files, "test_batch": DataFile("test_batch", hashlib.sha256(bad).hexdigest())},
    )
    with pytest.raises(CorruptDataError, match=r"test_batch.*3072"):
        load_cifar10("test", spec=spec)


def test_pickles_that_would_run_code_are_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    with pytest.raises(CorruptDataError, match="refusing"):
        parse_batch(pickle.dumps({b"data": Evil(), b"labels": []}), name="evil")


def test_missing_and_offline_is_data_not_found_with_instructions(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DLVERIFY_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DLVERIFY_OFFLINE", "1")
    with pytest.raises(
        DataNotFoundError,
        match=r"cifar-10-python\.tar\.gz.*c58f30108f718f92721af3b95e74349a.*DLVERIFY_DATA",
    ):
        load_cifar10("train", spec=dataclasses.replace(CIFAR10, folder="cifar-10-batches-py"))


def test_failed_download_is_data_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    with pytest.raises(DataNotFoundError, match="network unreachable"):
        download_cifar10()
    assert not (tmp_path / "cache" / "dlverify" / CIFAR10.folder).exists()


def test_verify_file_prefers_sha256_and_falls_back_to_md5(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert verify_file(path, DataFile("f", "", md5=hashlib.md5(b"abc").hexdigest())) == b"abc"
    assert (
        verify_file(path, DataFile("f", hashlib.sha256(b"abc").hexdigest(), md5="0" * 32)) == b"abc"
    )
    with pytest.raises(ValueError, match="neither"):
        verify_file(path, DataFile("f", ""))


def test_download_unpacks_verifies_and_installs_atomically(tmp_path, monkeypatch):
    import io
    import tarfile

    source = tmp_path / "source"
    spec, arrays = _write_fixture(source, monkeypatch)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(source / CIFAR10.folder, arcname=CIFAR10.folder)
    payload = archive.getvalue()
    monkeypatch.setattr("dlverify.data.cifar.ARCHIVE_MD5", hashlib.md5(payload).hexdigest())
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(payload))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DLVERIFY_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("DLVERIFY_OFFLINE")
    test = load_cifar10("test", spec=spec)
    assert test.targets.tolist() == arrays["test_batch"][1].tolist()
    installed = tmp_path / "source" / "cache" / "dlverify" / CIFAR10.folder
    assert sorted(p.name for p in installed.iterdir()) == sorted(spec.files)
    assert not [
        p
        for p in installed.parent.iterdir()
        if p.name.startswith(f".{CIFAR10.folder}.") and p.is_dir()
    ]


def test_download_with_wrong_archive_checksum_installs_nothing(tmp_path, monkeypatch):
    import io

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(
        "urllib.request.urlopen", lambda url, timeout: io.BytesIO(b"not the archive")
    )
    with pytest.raises(DataNotFoundError, match="MD5"):
        download_cifar10()
    assert not (tmp_path / "cache" / "dlverify" / CIFAR10.folder).exists()


def test_data_cli_lists_and_fetches_cifar_by_its_member_md5s(tmp_path, monkeypatch, capsys):
    from dlverify.__main__ import main

    spec, _ = _write_fixture(tmp_path, monkeypatch)
    folder = tmp_path / CIFAR10.folder
    files = {
        role: DataFile(role, "", md5=hashlib.md5((folder / role).read_bytes()).hexdigest())
        for role in spec.files
    }
    monkeypatch.setitem(DATASETS, "cifar-10", dataclasses.replace(spec, files=files))

    assert main(["data", "list", "cifar-10"]) == 0
    listed = capsys.readouterr().out
    assert listed.count(" ok ") == len(files) and "missing" not in listed
    assert main(["data", "fetch", "cifar-10"]) == 0
    assert f"already at {folder}" in capsys.readouterr().out

    (folder / "data_batch_3").write_bytes(b"not a batch")
    assert main(["data", "list", "cifar-10"]) == 1
    assert "data_batch_3" in capsys.readouterr().out.split("INVALID")[0].splitlines()[-1]
    assert main(["data", "fetch", "cifar-10"]) == 1
    assert "MD5" in capsys.readouterr().err
