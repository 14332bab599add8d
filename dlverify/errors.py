"""Exceptions raised by dlverify.

Every error says what went wrong and what to do about it. They all derive from
:class:`DlverifyError` so callers can catch the library's errors as one family;
each also derives from the built-in exception a caller would expect for the same
mistake (``ValueError`` for a bad value, ``TypeError`` for a wrong type), so
``except ValueError`` keeps working.

::

    DlverifyError
    ├── DataError ── DataNotFoundError, DataLocationError, ChecksumError, CorruptDataError
    ├── ProbeError (ValueError) ── ModelModeError, ... (what a probe refuses to measure)
    ├── NonFiniteLossError (FloatingPointError)
    ├── DeviceUnavailableError (RuntimeError)
    ├── StatsError (ValueError)
    ├── RunCacheError (ValueError)
    ├── ArgumentError (ValueError)
    │   ├── ArgumentTypeError (TypeError)
    │   ├── TrainingError ── TrainingTypeError (TypeError),
    │   │                    TrainingIndexError (IndexError)
    │   ├── ModelError
    │   ├── ProfileError
    │   └── ClaimError ── ClaimTypeError (TypeError),
    │                     ClaimIncompleteError (RuntimeError)
    └── ReportError (ValueError)
"""

from __future__ import annotations


class DlverifyError(Exception):
    """Base class of every error dlverify raises on purpose."""


class DataError(DlverifyError):
    """A data set could not be provided."""


class DataNotFoundError(DataError):
    """A data set is not on this machine and could not be downloaded.

    The claims suite turns this into a skip whose reason is this message.
    """


class DataLocationError(DataError):
    """A data location on this machine cannot be used.

    A folder named in ``DLVERIFY_DATA`` does not exist (``--data-dir`` is checked by
    the plugin), or a data file there is a dangling symbolic link, a folder, or
    cannot be read (permissions). Never a fall-through to the next root or a download.
    """


class ChecksumError(DataError):
    """A data file's decompressed bytes do not match the known SHA-256."""


class CorruptDataError(DataError):
    """A data file could not be read (truncated gzip, bad IDX header, ...)."""


class ProbeError(DlverifyError, ValueError):
    """A probe was given input it cannot measure (wrong mode, NaN loss, shapes)."""


class ModelModeError(ProbeError):
    """A probe that needs a deterministic model was given one in train mode."""


class NotConvergedError(ProbeError):
    """An iterative probe did not converge and the caller asked for ``strict=True``."""


class ConvergenceWarning(UserWarning):
    """An iterative probe did not converge; its result is an estimate (see its residual)."""


class NonFiniteLossError(DlverifyError, FloatingPointError):
    """A loss or gradient became NaN or infinite."""


class DeviceUnavailableError(DlverifyError, RuntimeError):
    """A device was asked for that this machine does not have."""


class StatsError(DlverifyError, ValueError):
    """A statistic was given input it cannot use (NaN, mismatched lengths, ties, ...)."""


class RunCacheError(DlverifyError, ValueError):
    """A run cannot be cached: its spec is not JSON, or its payload is not a safe type.

    Raised by :class:`dlverify.runcache.RunCache` whether the cache is enabled or
    not, so a claim that runs without a cache also runs with one. The message
    names the offending entry (``spec['protocol']['lr']``) and what to write instead.
    """


class ArgumentError(DlverifyError, ValueError):
    """A function was given an argument value it cannot use; the message says what to pass."""


class ArgumentTypeError(ArgumentError, TypeError):
    """A function was given an argument of a type it does not take."""


class TrainingError(ArgumentError):
    """Training (:mod:`dlverify.train`) was asked for with settings or data it cannot use."""


class TrainingTypeError(TrainingError, TypeError):
    """Training was given an object of the wrong kind (an optimizer object for a name, ...)."""


class TrainingIndexError(TrainingError, IndexError):
    """Training was given an index out of range (a penalty on a layer the model does not have)."""


class ModelError(ArgumentError):
    """A model or initialization (:mod:`dlverify.models`) was asked for with unusable settings."""


class ProfileError(ArgumentError):
    """An unknown profile or a seed count out of range (:mod:`dlverify.profiles`)."""


class ClaimError(ArgumentError):
    """A claim test used the claim API wrongly (a ``Finding`` without a reason, ...)."""


class ClaimTypeError(ClaimError, TypeError):
    """A claim test passed an object of the wrong kind (``claim.expect`` of a string, ...)."""


class ClaimIncompleteError(ClaimError, RuntimeError):
    """A claim test returned without deciding anything (no ``claim.expect``)."""


class ReportError(DlverifyError, ValueError):
    """A claims report cannot be read, merged or written where asked."""
