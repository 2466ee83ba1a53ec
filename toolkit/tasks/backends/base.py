"""The storage backend contract: a small versioned key-value store the task store runs on.

Backends store opaque bytes under string keys and know nothing about tasks. Every write
assigns a version: 1 for a new key, one more than before for an existing key.
``put_if_version`` is the compare-and-swap the task store builds every mutation on.

``expires_at_ms`` (milliseconds since the epoch, or None for "never") tells the backend when
the record's task expires, so it can drop it natively, as DynamoDB or Redis TTL would. A
backend never hides an expired record from ``get`` or ``list_by_prefix`` (the task store
decides what an expired task means); it removes records only in ``cleanup_expired``, or, for
:class:`~toolkit.tasks.RecordStoreBackend`, after a configurable retention margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...errors import InvalidArgumentError

__all__ = [
    "VersionedRecord",
    "StorageBackend",
    "check_key",
    "check_data",
    "check_expiry",
    "check_version",
]


@dataclass(frozen=True, slots=True)
class VersionedRecord:
    """The bytes stored under a key and the version they were written at (>= 1)."""

    data: bytes
    version: int


@runtime_checkable
class StorageBackend(Protocol):
    """A versioned key-value store; every method is atomic with respect to the others.

    Errors are :class:`~toolkit.tasks.BackendError` subclasses: ``KeyNotFound`` for a missing
    key, ``VersionConflict`` for a failed compare-and-swap, ``CapacityExceeded`` when full.
    """

    def get(self, key: str) -> VersionedRecord:
        """The record under ``key``; raise ``KeyNotFound(key)`` if there is none."""
        ...

    def put(self, key: str, data: bytes, *, expires_at_ms: int | None = None) -> int:
        """Store ``data`` under ``key`` unconditionally; return the new version."""
        ...

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        """Store ``data`` only if the stored version is ``expected_version``; return the new
        version. Raise ``VersionConflict(key, expected, actual)`` on a mismatch and
        ``KeyNotFound(key)`` if nothing is stored; either way nothing changes."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there, False if not."""
        ...

    def list_by_prefix(self, prefix: str) -> list[tuple[str, VersionedRecord]]:
        """Every ``(key, record)`` whose key starts with ``prefix``, sorted by key."""
        ...

    def cleanup_expired(self, now_ms: int | None = None) -> int:
        """Remove every record whose ``expires_at_ms`` is before ``now_ms`` (default: the
        backend's clock); return how many were removed."""
        ...


def check_key(key: object) -> str:
    """Return ``key`` if it is a str; raise ``InvalidArgumentError`` naming it otherwise."""
    if not isinstance(key, str):
        raise InvalidArgumentError(f"backend keys must be str, got {key!r}")
    return key


def check_data(data: object) -> bytes:
    """Return ``data`` as bytes if it is bytes-like; raise ``InvalidArgumentError`` otherwise."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise InvalidArgumentError(f"backend data must be bytes, got {type(data).__name__}")


def check_expiry(expires_at_ms: object) -> int | None:
    """Return ``expires_at_ms`` if it is None or an int >= 0; raise otherwise."""
    if expires_at_ms is None:
        return None
    if isinstance(expires_at_ms, bool) or not isinstance(expires_at_ms, int) or expires_at_ms < 0:
        raise InvalidArgumentError(
            f"expires_at_ms must be None or an int >= 0 (ms since the epoch), got {expires_at_ms!r}"
        )
    return expires_at_ms


def check_version(expected_version: object) -> int:
    """Return ``expected_version`` if it is an int; raise ``InvalidArgumentError`` otherwise."""
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise InvalidArgumentError(f"expected_version must be an int, got {expected_version!r}")
    return expected_version
