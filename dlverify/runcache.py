"""A cache of trained runs on disk, so that no run is trained twice.

A claim family describes each run by a *spec* — a JSON mapping of everything
that determines the run — and asks the cache for it::

    cache = RunCache("~/.cache/dlverify-runs")
    payload = cache.get_or_create(spec, lambda: train(spec))

The first call trains and stores; every later call, in this process, another
pytest-xdist worker or a later session, reads. What is stored is a *payload*:
any nesting of ``dict`` (``str``/``int`` keys), ``list``, ``tuple``,
``torch.Tensor``, ``int``, ``float``, ``str``, ``bool`` and ``None`` — exactly
what ``torch.save`` followed by ``torch.load(weights_only=True)`` round-trips
without running code. A model is stored as its ``state_dict()`` and rebuilt by
the caller (``model.load_state_dict(payload["model"])``); a
:class:`~dlverify.train.History` as ``history.as_dict()`` and rebuilt with
:meth:`History.from_dict <dlverify.train.History.from_dict>`.

The payload handed back is always the one read back from its stored bytes,
whether it was just trained, read from disk, or the cache is disabled: tensors
are on the CPU and are copies (never the trained model's own parameters), and
a payload that could not be read back is refused at once
(:class:`~dlverify.errors.RunCacheError`), not on the next session.

**The key.** SHA-256 of the canonical JSON (sorted keys, no NaN, no
whitespace) of ``{"spec": spec, "dlverify": version, "torch": version,
"processor": ..., "format": FORMAT_VERSION}``. The spec must name everything
that determines the run: the protocol's settings, the seed, checksums of the
data, the device *type* under ``"device"`` (``"cpu"``/``"cuda"``, as a run on
one is not bitwise a run on the other), the dtype; and, since the dlverify
version only changes at releases, a version of the claim family's own
protocol code, bumped when that code changes what a run produces. The
processor is added by the cache, from the spec's device (a spec without
``"device"`` is a CPU run): :func:`dlverify.machine.processor_identity`, the
CPU model, ATen's CPU capability and MKL's or oneDNN's instruction-set
variables when set, and the GPU for a CUDA run. Two processors with other
kernels round the same run differently, so a cache shared between machines
never hands one machine's run to another. JSON has no tuples: ``(1, 2)`` and
``[1, 2]`` are the same key; ``1`` and ``1.0`` are not.

**On disk.** ``<root>/<key[:2]>/<key>.pt`` holds the payload (``torch.save``);
``<key>.json`` beside it holds the spec, the versions and the SHA-256 of the
``.pt`` bytes, for humans and for the integrity check. Both are written to a
temporary file in the same folder, flushed to disk, then renamed over the
target (``os.replace``), the ``.pt`` first: a crash leaves either no entry or a
``.pt`` without its digest, which is discarded. Nothing is ever loaded with
pickle's full power: ``torch.load(weights_only=True, map_location="cpu")``.

**Integrity.** A read verifies the recorded SHA-256 against the bytes it is
about to load. An entry whose digest is missing or wrong, or that fails to load
(truncated, corrupt, a pickle of arbitrary objects), is deleted, a
:class:`RunCacheWarning` says which entry and why, and the run is trained and
stored again: the cache never returns a corrupt result.

**Concurrency.** One ``filelock.FileLock`` per key (``<key>.lock``) is held
while an entry is checked, created and written, so two processes never train
the same run: the second waits, then reads. The lock is an OS lock (``flock``
on POSIX, ``msvcrt`` on Windows): a process that dies releases it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import filelock
import torch

from .errors import RunCacheError
from .machine import processor_identity

#: Version of the on-disk format; part of every key, so a change of format never reads old entries.
FORMAT_VERSION = 1

Payload = TypeVar("Payload")
Name = TypeVar("Name")

_MISSING = object()


class RunCacheWarning(UserWarning):
    """A cache entry was unusable (deleted, the run computed again) or a run could not be stored."""


class RunCache:
    """Trained runs kept on disk under ``root``, keyed by their spec; ``root=None`` disables it.

    Disabled, :meth:`get_or_create` always calls ``create`` and stores nothing —
    but still checks the spec and hands back the read-back payload, so a claim
    behaves the same with the cache on or off.

    ``hits`` counts runs read from the cache, ``misses`` runs computed by
    ``create`` (successfully), by this instance; a caller such as the pytest
    plugin reports them.
    """

    def __init__(self, root: Path | str | None) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"RunCache({str(self.root) if self.root else None!r}, hits={self.hits}, misses={self.misses})"

    @property
    def enabled(self) -> bool:
        """Whether runs are stored and read (a root was given)."""
        return self.root is not None

    @staticmethod
    def key(spec: Mapping[str, Any]) -> str:
        """The SHA-256 (hex) that names the run of ``spec`` under this dlverify and torch.

        Raises :class:`~dlverify.errors.RunCacheError` naming the offending
        entry when ``spec`` is not JSON (a tensor, a ``torch.device``, NaN, a
        non-string key, ...).
        """
        return hashlib.sha256(_canonical_json(_identity(spec)).encode("ascii")).hexdigest()

    def entry_path(self, key: str) -> Path:
        """The ``.pt`` file of ``key`` (its sidecar is the same path with ``.json``)."""
        if self.root is None:
            raise RunCacheError("this RunCache is disabled (root None): it has no entries on disk")
        return self.root / key[:2] / f"{key}.pt"

    def has(self, spec: Mapping[str, Any]) -> bool:
        """Whether an entry for ``spec`` is on disk (not yet checked: a damaged one is retrained on reading).

        For callers that train several runs at once: ask which are missing,
        train those together, then hand each one to :meth:`get_or_create`.
        """
        return (
            self.root is not None and self.entry_path(self.key(spec)).with_suffix(".json").exists()
        )

    def get_or_create(self, spec: Mapping[str, Any], create: Callable[[], Payload]) -> Payload:
        """The payload of the run ``spec``: read from the cache, or ``create()``-d and stored.

        ``create`` is called at most once, and only when no usable entry exists;
        while it runs, other processes asking for the same spec wait for it.
        An exception from ``create`` propagates and leaves no entry.
        """
        key = self.key(spec)
        if self.root is None:
            payload, _ = _round_trip(create())
            self.misses += 1
            return payload
        path = self.entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(path.with_suffix(".lock")):
            found = self._read(path)
            if found is not _MISSING:
                self.hits += 1
                return found
            payload, data = _round_trip(create())
            self.misses += 1
            self._write(path, spec, key, data)
            return payload

    def get_or_create_many(
        self,
        specs: Mapping[Name, Mapping[str, Any]],
        create: Callable[[list[Name]], Mapping[Name, Payload]],
    ) -> dict[Name, Payload]:
        """The payloads of several runs, the missing ones created *together*: ``{name: payload}``.

        ``specs`` names each run (a seed, a configuration) and gives its spec.
        ``create(names)`` must return the payload of every run it is given;
        it is called with all the runs not on disk at once (e.g. one
        :func:`~dlverify.train.fit_many` over seeds), when the first of them
        is needed, so a family trains its missing seeds in one batched call
        and stores them one by one. Each run is still read and written under
        its own lock, as in :meth:`get_or_create`: a run another process
        stored meanwhile is read, not overwritten. A run's payload must not
        depend on which other runs it was created with.
        """
        missing = [name for name, spec in specs.items() if not self.has(spec)]
        made: dict[Name, Payload] = {}

        def one(name: Name) -> Payload:
            if name not in made:
                batch = [m for m in missing if m not in made and m != name] + [name]
                created = create(batch)
                absent = [m for m in batch if m not in created]
                if absent:
                    raise RunCacheError(f"create({batch!r}) returned no payload for {absent!r}")
                made.update({m: created[m] for m in batch})
            return made.pop(name)

        return {
            name: self.get_or_create(spec, lambda name=name: one(name))
            for name, spec in specs.items()
        }

    # -- reading and writing (always under the key's lock) -------------------------

    def _read(self, path: Path) -> Any:
        """The entry's payload, or _MISSING when there is none or it was unusable (then deleted)."""
        if not path.exists():
            return _MISSING
        sidecar = path.with_suffix(".json")
        try:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise _Unusable(f"it could not be read ({error})") from None
            expected = _recorded_digest(sidecar)
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise _Unusable(
                    f"the SHA-256 of its bytes ({actual[:12]}...) is not the one recorded in "
                    f"{sidecar.name} ({expected[:12]}...): it is truncated or was altered"
                )
            # Load the very bytes just verified (no second read that could differ).
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        except _Unusable as error:
            reason = str(error)
        except Exception as error:  # anything that fails to load is a bad entry, never a crash
            reason = f"torch.load(weights_only=True) refused it ({type(error).__name__}: {_first_line(error)})"
        self._discard(path, reason)
        return _MISSING

    def _discard(self, path: Path, reason: str) -> None:
        problems = []
        for file in (path, path.with_suffix(".json")):
            try:
                file.unlink(missing_ok=True)
            except OSError as error:
                problems.append(f"could not delete {file.name}: {error}")
        note = f" ({'; '.join(problems)})" if problems else ""
        warnings.warn(
            RunCacheWarning(
                f"run cache entry {path} is unusable: {reason}. It was deleted{note} and the run is computed again."
            ),
            stacklevel=4,
        )

    def _write(self, path: Path, spec: Mapping[str, Any], key: str, data: bytes) -> None:
        """Store the payload bytes, then the sidecar that vouches for them.

        A run that cannot be stored (disk full, read-only folder) is still a
        correct result: the caller gets it, with a warning, rather than losing
        the training it just did.
        """
        sidecar = {
            "key": key,
            **_identity(spec),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            _atomic_write(path, data)
            _atomic_write(
                path.with_suffix(".json"),
                (json.dumps(sidecar, indent=1, sort_keys=True) + "\n").encode(),
            )
        except OSError as error:
            for file in (path, path.with_suffix(".json")):
                try:
                    file.unlink(missing_ok=True)
                except OSError:
                    pass
            warnings.warn(
                RunCacheWarning(
                    f"run {key[:12]}... could not be stored in {self.root} ({error}); "
                    f"it is used but will be computed again next time"
                ),
                stacklevel=3,
            )


class _Unusable(Exception):
    """Why an entry cannot be trusted (the message goes into the warning)."""


def _recorded_digest(sidecar: Path) -> str:
    try:
        digest = json.loads(sidecar.read_text(encoding="utf-8"))["sha256"]
    except FileNotFoundError:
        raise _Unusable(
            f"it has no {sidecar.name} recording its SHA-256 (a write was interrupted)"
        ) from None
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise _Unusable(
            f"its {sidecar.name} does not record a SHA-256 ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(digest, str):
        raise _Unusable(f"its {sidecar.name} records {digest!r} as the SHA-256")
    return digest


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file, or all of the new one.

    The temporary file is in the same folder (a rename across file systems is
    not atomic), is named ``.<name>.<random>.part`` (never taken for an entry),
    and is flushed to disk before the rename so a power cut cannot leave a
    renamed but empty file.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the OS allows it (POSIX); elsewhere a no-op."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""


# -- the key ---------------------------------------------------------------------


def _identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a run depends on besides its spec: this dlverify, this torch, this processor, this format."""
    from . import __version__  # read at each call, like torch.__version__

    if not isinstance(spec, Mapping):
        raise RunCacheError(
            f"a run spec must be a mapping (a dict of JSON values), not a {_type_name(spec)}"
        )
    plain = _plain_json(spec, "spec")
    device = plain.get("device", "cpu")
    try:
        processor = processor_identity(device)
    except (TypeError, RuntimeError) as error:
        raise RunCacheError(
            f"spec['device'] is {device!r}, not a device torch knows ({_first_line(error)}); "
            f"write the device type, e.g. device.type ('cpu' or 'cuda')"
        ) from None
    return {
        "spec": plain,
        "dlverify": __version__,
        "torch": torch.__version__,
        "processor": processor,
        "format": FORMAT_VERSION,
    }


def _canonical_json(value: Any) -> str:
    """One text per value whatever the dict order or the process: sorted keys, no spaces, ASCII."""
    return json.dumps(
        value, sort_keys=True, allow_nan=False, separators=(",", ":"), ensure_ascii=True
    )


_SPEC_HINTS = (
    (torch.device, "write the device type, e.g. device.type ('cpu' or 'cuda')"),
    (torch.dtype, "write str(dtype), e.g. 'torch.float32'"),
    (torch.Tensor, "write a number (.item()), a list (.tolist()) or a checksum of it"),
    (Path, "write str(path), or better a checksum of the file's content"),
)


def _plain_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None).

    Raises RunCacheError naming the first entry JSON cannot hold exactly: the
    message says where (``spec['protocol']['lr']``), what it is, and what to
    write instead.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RunCacheError(
                f"run spec entry {where} is {value!r}; JSON (and so a run spec) has no NaN or infinity"
            )
        return value
    if isinstance(value, Mapping):
        plain = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise RunCacheError(
                    f"run spec entry {where} has the key {name!r} ({_type_name(name)}); "
                    f"JSON keys are strings, and str({name!r}) would collide with the string key"
                )
            plain[name] = _plain_json(item, f"{where}[{name!r}]")
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    hint = next(
        (text for kind, text in _SPEC_HINTS if isinstance(value, kind)),
        "write it as a str, int, float, bool, None, list or dict",
    )
    raise RunCacheError(
        f"run spec entry {where} is a {_type_name(value)}, which is not JSON: {hint}"
    )


# -- the payload -----------------------------------------------------------------

_PAYLOAD_SCALARS = (type(None), bool, int, float, str)


def _check_payload(value: Any, where: str) -> None:
    """Raise RunCacheError naming the first part of ``value`` that is not a safe payload type.

    Exact types, not subclasses, for the scalars: ``numpy.float64`` is a
    ``float`` subclass that ``weights_only`` loading refuses. Catching it here
    gives the entry's name and a remedy instead of torch's generic message.
    """
    if type(value) in _PAYLOAD_SCALARS or isinstance(value, torch.Tensor):
        return
    if type(value) in (dict, OrderedDict):  # OrderedDict: what state_dict() returns
        for name, item in value.items():
            if type(name) not in (str, int):
                raise RunCacheError(
                    f"run payload {where} has the key {name!r} ({_type_name(name)}); "
                    f"payload keys are str or int"
                )
            _check_payload(item, f"{where}[{name!r}]")
        return
    if type(value) in (list, tuple):
        for index, item in enumerate(value):
            _check_payload(item, f"{where}[{index}]")
        return
    if isinstance(value, torch.nn.Module):
        hint = "store its state_dict() and rebuild the model with load_state_dict()"
    elif type(value).__name__ == "History":
        hint = "store history.as_dict() and rebuild it with History.from_dict()"
    elif type(value).__module__.split(".")[0] == "numpy":
        hint = "convert it: float(x), int(x), or torch.from_numpy(array)"
    else:
        hint = "payloads hold dict, list, tuple, torch.Tensor, int, float, str, bool and None only"
    raise RunCacheError(
        f"run payload {where} is a {_type_name(value)}, which the cache cannot store safely: {hint}"
    )


def _round_trip(payload: Any) -> tuple[Any, bytes]:
    """The payload as it will be read back, and its bytes: the same object for a new run and a cached one."""
    _check_payload(payload, "payload")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu"), data
    except Exception as error:  # a type _check_payload let through that weights_only refuses
        raise RunCacheError(
            f"the run payload cannot be read back with torch.load(weights_only=True): "
            f"{_first_line(error)}"
        ) from error


def _type_name(value: Any) -> str:
    kind = type(value)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
