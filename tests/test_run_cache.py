"""The run cache: a trained run is stored once, read back intact, never trusted when damaged."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dlverify
import dlverify.machine
from dlverify.errors import DlverifyError, RunCacheError
from dlverify.runcache import RunCache, RunCacheWarning
from dlverify.train import History

SPEC = {
    "protocol": "demo/1",
    "lr": 0.001,
    "seed": 0,
    "device": "cpu",
    "dtype": "torch.float32",
    "data": {"mnist-train": "ba891046e6505d7a"},
    "widths": [784, 100, 10],
}


class Calls:
    """A create() that counts its calls and returns a fixed nested payload."""

    def __init__(self, payload=None):
        self.count = 0
        self.payload = payload if payload is not None else {"w": torch.arange(4.0)}

    def __call__(self):
        self.count += 1
        return self.payload


def nested_payload() -> dict:
    history = History(
        step=[10, 20],
        epoch=[1.0, 2.0],
        train_loss=[0.9, 0.5],
        val_loss=[1.0, 0.7],
        val_acc=[0.5, 0.75],
    )
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return {
        "model": model.state_dict(),
        "history": history.as_dict(),
        "probes": {"top_eigenvalue": 3.25, "converged": True, "note": None, "by_seed": {0: [1, 2]}},
        "shape": (2, 3),
        "labels": torch.tensor([1, 0, 2]),
        "half": torch.ones(2, dtype=torch.float16),
        "name": "he",
    }


def says(text: str, *parts: str) -> bool:
    """Whether ``text`` contains every part, in this order."""
    position = 0
    for part in parts:
        position = text.find(part, position)
        if position < 0:
            return False
        position += len(part)
    return True


def entry(cache: RunCache, spec=SPEC) -> tuple[Path, Path]:
    path = cache.entry_path(cache.key(spec))
    return path, path.with_suffix(".json")


def rewrite(cache: RunCache, data: bytes, *, record_digest: bool) -> None:
    """Replace an entry's bytes; with record_digest the sidecar vouches for them (only loading can catch them)."""
    path, sidecar = entry(cache)
    path.write_bytes(data)
    if record_digest:
        meta = json.loads(sidecar.read_text())
        meta["sha256"] = hashlib.sha256(data).hexdigest()
        sidecar.write_text(json.dumps(meta))


# -- storing and reading -------------------------------------------------------------


def test_a_nested_payload_with_tensors_and_a_history_round_trips(tmp_path):
    expected = nested_payload()
    trained = RunCache(tmp_path).get_or_create(SPEC, Calls(expected))
    later = RunCache(tmp_path)  # another session
    read = later.get_or_create(SPEC, Calls())
    assert later.hits == 1 and later.misses == 0
    for payload in (trained, read):  # the run just trained looks exactly like the one read back
        assert payload.keys() == expected.keys()
        assert payload["model"].keys() == expected["model"].keys()
        assert all(torch.equal(payload["model"][k], v) for k, v in expected["model"].items())
        assert History.from_dict(payload["history"]) == History.from_dict(expected["history"])
        assert (
            payload["probes"] == expected["probes"]
            and payload["shape"] == (2, 3)
            and payload["name"] == "he"
        )
        assert (
            torch.equal(payload["labels"], expected["labels"])
            and payload["half"].dtype == torch.float16
        )
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    model.load_state_dict(read["model"])  # the caller rebuilds the model


def test_returned_tensors_are_cpu_copies_not_the_trained_parameters(tmp_path):
    layer = torch.nn.Linear(2, 2)
    payload = RunCache(tmp_path).get_or_create(SPEC, lambda: layer.state_dict())
    with torch.no_grad():
        layer.weight.add_(1.0)  # training on after caching does not change what was cached
    assert not torch.equal(payload["weight"], layer.weight)
    assert payload["weight"].device.type == "cpu"


def test_entries_live_under_the_key_with_a_readable_sidecar(tmp_path):
    cache = RunCache(tmp_path)
    cache.get_or_create(SPEC, Calls())
    key = cache.key(SPEC)
    path, sidecar = entry(cache)
    assert path == tmp_path / key[:2] / f"{key}.pt" and path.is_file()
    meta = json.loads(sidecar.read_text())
    assert meta["spec"] == SPEC and meta["key"] == key and meta["torch"] == torch.__version__
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not list(tmp_path.rglob("*.part"))


def test_a_second_ask_reads_and_does_not_create(tmp_path):
    cache, create = RunCache(tmp_path), Calls()
    first = cache.get_or_create(SPEC, create)
    second = cache.get_or_create(
        dict(reversed(list(SPEC.items()))), create
    )  # dict order is irrelevant
    assert create.count == 1 and (cache.hits, cache.misses) == (1, 1)
    assert torch.equal(first["w"], second["w"])


class BatchCalls:
    """A create_many() that records which runs it was asked for together."""

    def __init__(self):
        self.batches: list[list[int]] = []

    def __call__(self, seeds):
        self.batches.append(list(seeds))
        return {seed: {"w": torch.full((2,), float(seed))} for seed in seeds}


def specs(seeds) -> dict:
    return {seed: {**SPEC, "seed": seed} for seed in seeds}


def test_many_runs_missing_from_disk_are_created_in_one_call_and_stored_one_by_one(tmp_path):
    cache, create = RunCache(tmp_path), BatchCalls()
    cache.get_or_create(
        specs([1])[1], lambda: {"w": torch.full((2,), 1.0)}
    )  # seed 1 is on disk already
    payloads = cache.get_or_create_many(specs([0, 1, 2, 3]), create)
    assert create.batches == [[2, 3, 0]]  # the missing ones, together, the first needed last
    assert {seed: float(p["w"][0]) for seed, p in payloads.items()} == {
        0: 0.0,
        1: 1.0,
        2: 2.0,
        3: 3.0,
    }
    again = BatchCalls()
    assert (
        RunCache(tmp_path).get_or_create_many(specs([3, 0]), again).keys() == {3, 0}
        and again.batches == []
    )


def test_many_runs_with_the_cache_disabled_are_still_created_together(tmp_path):
    create = BatchCalls()
    payloads = RunCache(None).get_or_create_many(specs([5, 6]), create)
    assert create.batches == [[6, 5]] and sorted(payloads) == [5, 6]


def test_a_create_many_that_forgets_a_run_is_an_error_naming_it(tmp_path):
    with pytest.raises(RunCacheError, match=r"no payload for \[7\]"):
        RunCache(tmp_path).get_or_create_many(
            specs([7, 8]), lambda seeds: {8: {"w": torch.zeros(1)}}
        )


def test_disabled_cache_always_creates_and_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache, create = RunCache(None), Calls()
    assert not cache.enabled
    for _ in range(3):
        assert torch.equal(cache.get_or_create(SPEC, create)["w"], torch.arange(4.0))
    assert create.count == 3 and (cache.hits, cache.misses) == (0, 3)
    assert not list(tmp_path.iterdir())


# -- the key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": "demo/2"},
        {"lr": 0.0010000001},
        {"seed": 1},
        {"device": "cuda"},
        {"dtype": "torch.float64"},
        {"data": {"mnist-train": "0000000000000000"}},
        {"widths": [784, 100, 100, 10]},
        {"extra": None},
        {"lr": 1},
        {"seed": 0.0},
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_key_changes_with_any_spec_field(change):
    assert RunCache.key({**SPEC, **change}) != RunCache.key(SPEC)


def test_key_changes_with_the_torch_and_dlverify_versions(monkeypatch):
    key = RunCache.key(SPEC)
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    torch_changed = RunCache.key(SPEC)
    monkeypatch.setattr(dlverify, "__version__", "0.0.1")
    assert len({key, torch_changed, RunCache.key(SPEC)}) == 3


@pytest.mark.parametrize(
    "patch",
    [
        ("dlverify.machine.cpu_name", lambda: "Another CPU"),
        ("torch.backends.cpu.get_cpu_capability", lambda: "DEFAULT"),
    ],
    ids=["cpu-model", "aten-capability"],
)
def test_key_changes_with_the_processor(monkeypatch, patch):
    """Another processor rounds the same run differently: a shared cache must not mix them."""
    key = RunCache.key(SPEC)
    monkeypatch.setattr(*patch)
    assert RunCache.key(SPEC) != key


def test_key_changes_with_the_mkl_instruction_set(monkeypatch):
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    key = RunCache.key(SPEC)
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert RunCache.key(SPEC) != key


def test_the_sidecar_names_the_processor(tmp_path):
    cache = RunCache(tmp_path)
    cache.get_or_create(SPEC, Calls())
    sidecar = json.loads(entry(cache)[1].read_text())
    assert sidecar["processor"]["cpu"] == dlverify.machine.cpu_name()
    assert sidecar["processor"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_a_spec_device_torch_does_not_know_is_refused(tmp_path):
    with pytest.raises(RunCacheError, match=r"spec\['device'\] is 'gpu'.*device.type"):
        RunCache(tmp_path).get_or_create({**SPEC, "device": "gpu"}, Calls())


def test_same_spec_same_key_in_another_process():
    """Canonical JSON: neither dict order nor the process's hash seed matter."""
    shuffled = {k: SPEC[k] for k in sorted(SPEC, reverse=True)}
    code = f"from dlverify.runcache import RunCache; print(RunCache.key({shuffled!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == RunCache.key(SPEC)


@pytest.mark.parametrize(
    "spec, named",
    [
        (
            {**SPEC, "data": {"mnist": torch.tensor([1.0])}},
            ("spec['data']['mnist'] is a torch.Tensor", ".tolist()"),
        ),
        (
            {**SPEC, "device": torch.device("cpu")},
            ("spec['device'] is a torch.device", "device.type"),
        ),
        ({**SPEC, "widths": [784, float("nan")]}, ("spec['widths'][1] is nan", "no NaN")),
        ({**SPEC, "seeds": {0: "a"}}, ("spec['seeds'] has the key 0",)),
        ({**SPEC, "path": Path("x")}, ("spec['path'] is a ", "Path", "str(path)")),
    ],
    ids=["tensor", "device", "nan", "int-key", "path"],
)
def test_a_spec_that_is_not_json_is_refused_naming_the_entry(tmp_path, spec, named):
    create = Calls()
    for cache in (RunCache(tmp_path), RunCache(None)):
        with pytest.raises(RunCacheError) as raised:
            cache.get_or_create(spec, create)
        assert isinstance(raised.value, DlverifyError)
        assert says(str(raised.value), *named), str(raised.value)
    assert create.count == 0


@pytest.mark.parametrize(
    "payload, named",
    [
        (
            {"model": torch.nn.Linear(2, 2)},
            ("payload['model'] is a torch.nn", "Linear", "state_dict()"),
        ),
        ({"history": History()}, ("payload['history'] is a ", "History", "History.from_dict()")),
        ({"runs": [1, {"x": object()}]}, ("payload['runs'][1]['x'] is a object",)),
        ({"loss": torch.tensor(1.0).numpy().sum()}, ("payload['loss'] is a numpy.", "float(x)")),
    ],
    ids=["module", "history", "object", "numpy-scalar"],
)
def test_a_payload_that_cannot_be_loaded_safely_is_refused_naming_the_part(
    tmp_path, payload, named
):
    for cache in (RunCache(tmp_path), RunCache(None)):  # refused with the cache on or off alike
        with pytest.raises(RunCacheError) as raised:
            cache.get_or_create(SPEC, lambda: payload)
        assert says(str(raised.value), *named), str(raised.value)
    assert not entry(RunCache(tmp_path))[0].exists()


# -- damaged entries are discarded, warned about, and computed again -------------------


def flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


class RunsCode:
    """An object whose unpickling would create a file: the cache must never run it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def torch_saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


REFUSED = "torch.load(weights_only=True) refused it"
MISMATCH = "is not the one recorded"


@pytest.mark.parametrize(
    "damage, why",
    [
        ("flip bytes", MISMATCH),
        ("truncate", MISMATCH),
        ("truncate, digest updated", REFUSED),
        ("empty, digest updated", REFUSED),
        ("no sidecar", ".json recording its SHA-256"),
        ("sidecar not json", "does not record a SHA-256"),
        ("torch.save of code, digest updated", REFUSED),
        ("pickle of code, digest updated", REFUSED),
    ],
    ids=[
        "flipped",
        "truncated",
        "truncated-vouched",
        "empty-vouched",
        "no-sidecar",
        "bad-sidecar",
        "torch-save-of-code",
        "pickle-of-code",
    ],
)
@pytest.mark.filterwarnings(
    "ignore:Detected pickle protocol:UserWarning"
)  # torch's own note on the plain pickle
def test_a_damaged_entry_is_discarded_with_a_warning_and_computed_again(tmp_path, damage, why):
    cache = RunCache(tmp_path)
    cache.get_or_create(SPEC, Calls())
    path, sidecar = entry(cache)
    data, marker = path.read_bytes(), tmp_path / "code-was-run"
    if damage == "flip bytes":
        rewrite(cache, flipped(data), record_digest=False)
    elif damage == "truncate":
        rewrite(cache, data[: len(data) // 2], record_digest=False)
    elif damage == "truncate, digest updated":
        rewrite(cache, data[: len(data) // 2], record_digest=True)
    elif damage == "empty, digest updated":
        rewrite(cache, b"", record_digest=True)
    elif damage == "no sidecar":
        sidecar.unlink()
    elif damage == "sidecar not json":
        sidecar.write_text("{not json")
    elif damage == "torch.save of code, digest updated":
        rewrite(cache, torch_saved({"w": RunsCode(marker)}), record_digest=True)
    elif damage == "pickle of code, digest updated":
        rewrite(cache, pickle.dumps({"w": RunsCode(marker)}), record_digest=True)

    create = Calls({"w": torch.arange(4.0)})
    with pytest.warns(RunCacheWarning) as warned:
        payload = cache.get_or_create(SPEC, create)
    [message] = [str(w.message) for w in warned if w.category is RunCacheWarning]
    assert says(message, str(path), why, "computed again"), message
    assert not marker.exists(), "the cache ran code from a cache file"
    assert create.count == 1 and torch.equal(payload["w"], torch.arange(4.0))
    # stored again, intact: the next ask reads it without a warning
    again = RunCache(tmp_path)
    assert torch.equal(
        again.get_or_create(SPEC, Calls({"w": torch.zeros(1)}))["w"], torch.arange(4.0)
    )
    assert again.hits == 1


# -- atomicity --------------------------------------------------------------------------


def test_a_create_that_raises_leaves_no_entry(tmp_path):
    cache = RunCache(tmp_path)

    def crash():
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        cache.get_or_create(SPEC, crash)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"] == []
    assert cache.misses == 0
    assert cache.get_or_create(SPEC, Calls())["w"].shape == (4,)  # and the run can still be made


def test_the_entry_appears_only_when_complete_and_a_failed_write_is_a_warning(
    tmp_path, monkeypatch
):
    cache = RunCache(tmp_path)
    path, _ = entry(cache)
    seen = []
    real_fsync = os.fsync

    def fsync_then_fail(handle):
        seen.append(path.exists())  # while the bytes are being written, no entry is visible
        real_fsync(handle)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_then_fail)
    with pytest.warns(RunCacheWarning, match="could not be stored.*No space left"):
        payload = cache.get_or_create(SPEC, Calls())
    assert seen and not any(seen)
    assert torch.equal(payload["w"], torch.arange(4.0))  # the run is still used
    assert [p.name for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"] == []


# -- two processes, one run -------------------------------------------------------------


def _ask_in_another_process(root: str, counter: str, result: str, barrier) -> None:
    """Run in a spawned process: ask for SPEC, with a create() that counts its calls in a file."""

    def create():
        calls = int(Path(counter).read_text() or 0) + 1
        Path(counter).write_text(str(calls))
        time.sleep(0.5)  # long enough for the other process to be waiting on the lock
        return {"w": torch.arange(5.0), "calls": calls}

    cache = RunCache(root)
    barrier.wait()
    payload = cache.get_or_create(SPEC, create)
    Path(result).write_text(
        json.dumps(
            {
                "w": payload["w"].tolist(),
                "calls": payload["calls"],
                "hits": cache.hits,
                "misses": cache.misses,
            }
        )
    )


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    counter = tmp_path / "calls"
    counter.write_text("0")
    barrier = context.Barrier(2)
    results = [tmp_path / f"result{i}.json" for i in range(2)]
    processes = [
        context.Process(
            target=_ask_in_another_process,
            args=(str(tmp_path / "runs"), str(counter), str(result), barrier),
        )
        for result in results
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0, 0]
    assert counter.read_text() == "1"
    got = [json.loads(result.read_text()) for result in results]
    assert (
        got[0]["w"] == got[1]["w"] == [0.0, 1.0, 2.0, 3.0, 4.0]
        and got[0]["calls"] == got[1]["calls"] == 1
    )
    assert sorted((g["hits"], g["misses"]) for g in got) == [(0, 1), (1, 0)]
