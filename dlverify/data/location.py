"""Find a data set's files on this machine, or download them safely.

Search order (first root that has the file wins):

1. the folders in the ``DLVERIFY_DATA`` environment variable (``os.pathsep``-separated;
   each must exist, else :class:`~dlverify.errors.DataLocationError`);
2. the user cache, ``$XDG_CACHE_HOME/dlverify`` (default ``~/.cache/dlverify``);
3. system data folders: Debian's ``/usr/share/datasets``;
4. a download from the data set's canonical mirror into the user cache.

Inside a root a file is ``<root>/<folder>/<name>`` or ``<name>.gz``. Every file is
verified against the SHA-256 of its decompressed bytes; a mismatch is an error
naming the file, never a silent fall-through to the next root. So is a copy
that is there but cannot be used (a dangling symbolic link, a folder in the
file's place, a file without read permission): :class:`DataLocationError`.
Downloads go to a temporary file that is verified and then atomically renamed,
under an exclusive file lock, so parallel pytest-xdist workers never see half a file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import stat
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import filelock

from ..errors import ChecksumError, CorruptDataError, DataLocationError, DataNotFoundError
from .registry import DataFile, DatasetSpec

ENV_VAR = "DLVERIFY_DATA"
OFFLINE_ENV_VAR = "DLVERIFY_OFFLINE"
SYSTEM_ROOTS = (Path("/usr/share/datasets"),)
_CHUNK = 1 << 20


def cache_root() -> Path:
    """The user cache folder dlverify downloads into."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlverify"


def environment_roots() -> list[Path]:
    """The folders named in ``DLVERIFY_DATA``; each must exist.

    A folder that does not exist is almost always a typo or a copy that moved;
    searching on (and perhaps downloading) would hide it, so it is an error.
    """
    roots = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    for root in roots:
        if not root.is_dir():
            raise DataLocationError(
                f"{ENV_VAR} names {root}, which is not a folder. Point it at the folder that holds "
                f"mnist/, fashion-mnist/ (and cifar-10/), or unset it to use the user cache "
                f"({cache_root()})."
            )
    return roots


def search_roots() -> list[Path]:
    """Data roots in the order they are searched (environment, cache, system)."""
    return [*environment_roots(), cache_root(), *SYSTEM_ROOTS]


@dataclass(frozen=True)
class Located:
    """Where one file of a data set was found and how."""

    role: str
    path: Path
    source: str  # "environment", "cache", "system" or "download"


def read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it if it is gzip (by magic bytes); corrupt gzip is a CorruptDataError."""
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
        if compressed:
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (PermissionError, FileNotFoundError, IsADirectoryError) as error:
        raise DataLocationError(_unusable(path, error)) from error
    except (EOFError, OSError, zlib.error) as error:
        raise CorruptDataError(
            f"{path} could not be read ({error}); the file is truncated or corrupt. "
            f"Delete it and fetch it again (python -m dlverify data fetch)."
        ) from error


def verify(path: Path, expected: DataFile) -> bytes:
    """Return the decompressed bytes of ``path`` after checking their SHA-256."""
    content = read_bytes(path)
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected.sha256:
        raise ChecksumError(
            f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {expected.sha256} "
            f"for {expected.name}. The file is corrupt or a different version; delete it and "
            f"fetch it again (python -m dlverify data fetch)."
        )
    return content


def _candidates(root: Path, spec: DatasetSpec, file: DataFile) -> list[Path]:
    folder = root / spec.folder
    return [folder / file.name, folder / f"{file.name}.gz"]


def _unusable(path: Path, error: OSError | None = None) -> str:
    """What is wrong with a data path that exists but cannot be read, and what to do."""
    if path.is_symlink() and not path.exists():
        what = f"is a symbolic link to {os.readlink(path)}, which does not exist"
        fix = "point the link at the real file or folder, or remove it"
    elif isinstance(error, FileNotFoundError):
        what = "was found but is gone (removed while it was being read)"
        fix = "check what removed it (a cleaner, another process)"
    elif path.is_dir():
        what = "is a folder, not a data file"
        fix = "move the file's content into its place, or remove the folder"
    else:
        what = f"cannot be read ({error})" if error else "cannot be read (no read permission)"
        fix = (
            f"give your user read permission (chmod u+r {path}; a+r for a shared folder), "
            "or run as a user who can read it"
        )
    return (
        f"{path} {what}; {fix}, or point {ENV_VAR} at a folder with a usable copy. "
        "dlverify does not fall back to another copy or a download while this one is "
        "in the way."
    )


def _usable(path: Path) -> bool:
    """Whether ``path`` is a readable regular file; False when nothing is there.

    Something there that cannot be read (a dangling symbolic link, a folder, a
    file without read permission, a link loop) raises DataLocationError.
    """
    try:
        mode = path.stat().st_mode  # follows symbolic links
    except (FileNotFoundError, NotADirectoryError):
        if path.is_symlink():
            raise DataLocationError(_unusable(path)) from None
        return False
    except OSError as error:  # permission denied on a folder on the way, a link loop, ...
        raise DataLocationError(_unusable(path, error)) from error
    if not stat.S_ISREG(mode) or not os.access(path, os.R_OK):
        raise DataLocationError(_unusable(path))
    return True


def _check_folder(folder: Path) -> None:
    """Refuse a data set's folder that is a dangling symbolic link, a file, or cannot be entered."""
    try:
        mode = folder.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        if folder.is_symlink():
            raise DataLocationError(_unusable(folder)) from None
        return
    except OSError as error:
        raise DataLocationError(_unusable(folder, error)) from error
    if not stat.S_ISDIR(mode):
        raise DataLocationError(
            f"{folder} is a file where the data set's folder should be; "
            f"move it away, or point {ENV_VAR} at a folder whose "
            f"{folder.name}/ holds the data files."
        )


def _source_of(root: Path, env_roots: int, index: int) -> str:
    if index < env_roots:
        return "environment"
    return "cache" if root == cache_root() else "system"


def find_file(spec: DatasetSpec, role: str) -> Located | None:
    """The first existing copy of one file in the search roots, or None (not verified)."""
    env_count = len(environment_roots())
    for index, root in enumerate(search_roots()):
        _check_folder(root / spec.folder)
        for candidate in _candidates(root, spec, spec.files[role]):
            if _usable(candidate):
                return Located(role, candidate, _source_of(root, env_count, index))
    return None


@contextlib.contextmanager
def _exclusive_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(path):  # flock on POSIX, msvcrt on Windows: released if the process dies
        yield


def download_file(spec: DatasetSpec, role: str, *, timeout: float = 60.0) -> Located:
    """Download one file into the user cache: verified, atomic, safe under parallel workers."""
    file = spec.files[role]
    target = cache_root() / spec.folder / f"{file.name}.gz"
    with _exclusive_lock(target.with_name(target.name + ".lock")):
        if target.is_file():  # another worker finished it while we waited
            verify(target, file)
            return Located(role, target, "cache")
        errors = []
        for mirror in spec.mirrors:
            url = mirror + file.name + (".gz" if spec.compressed_on_mirror else "")
            handle, tmp_name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{file.name}.", suffix=".part"
            )
            tmp = Path(tmp_name)
            try:
                with (
                    os.fdopen(handle, "wb") as out,
                    urllib.request.urlopen(url, timeout=timeout) as response,
                ):
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                if not spec.compressed_on_mirror:
                    tmp.write_bytes(gzip.compress(tmp.read_bytes()))
                verify(tmp, file)
                os.replace(tmp, target)
                return Located(role, target, "download")
            except (urllib.error.URLError, OSError, ChecksumError, CorruptDataError) as error:
                errors.append(f"{url}: {error}")
            finally:
                tmp.unlink(missing_ok=True)
    raise DataNotFoundError(_missing_message(spec, role, errors))


def _missing_message(spec: DatasetSpec, role: str, errors: list[str]) -> str:
    file = spec.files[role]
    looked = ", ".join(str(root / spec.folder) for root in search_roots())
    reasons = "; ".join(errors) if errors else "downloads are disabled"
    return (
        f"{spec.name} file {file.name} is not on this machine (looked in {looked}) and could "
        f"not be downloaded ({reasons}). Point {ENV_VAR} at a folder holding "
        f"{spec.folder}/{file.name}[.gz], or run `python -m dlverify data fetch {spec.name}` "
        f"on a machine with network access."
    )


def downloads_allowed() -> bool:
    """False when ``DLVERIFY_OFFLINE`` is set to a true value."""
    return os.environ.get(OFFLINE_ENV_VAR, "").lower() not in {"1", "true", "yes"}


def locate(spec: DatasetSpec, role: str, *, download: bool | None = None) -> Located:
    """Find one file of a data set, downloading it if allowed; raise DataNotFoundError otherwise."""
    found = find_file(spec, role)
    if found is not None:
        return found
    if download is None:
        download = downloads_allowed()
    if not download:
        raise DataNotFoundError(_missing_message(spec, role, []))
    return download_file(spec, role)


def load_verified(spec: DatasetSpec, role: str, *, download: bool | None = None) -> bytes:
    """Decompressed, checksum-verified bytes of one file of a data set."""
    located = locate(spec, role, download=download)
    return verify(located.path, spec.files[role])
