"""An in-memory, thread-safe :class:`~toolkit.tasks.StorageBackend`."""

from __future__ import annotations

import threading

from ...clocks import Clock, SystemClock
from ...errors import check_non_negative_int
from ..errors import CapacityExceeded, KeyNotFound, VersionConflict
from .base import VersionedRecord, check_data, check_expiry, check_key, check_version

__all__ = ["InMemoryBackend"]


class _Slot:
    __slots__ = ("data", "version", "expires_at_ms")

    def __init__(self, data: bytes, version: int, expires_at_ms: int | None) -> None:
        self.data = data
        self.version = version
        self.expires_at_ms = expires_at_ms


class InMemoryBackend:
    """A dict behind one lock: every operation is atomic, so the backend is safe to share
    between threads.

    ``clock`` is read by ``cleanup_expired`` when no time is given (default: wall time);
    ``max_records`` (0 = unbounded) makes ``put`` of a new key raise ``CapacityExceeded``
    when that many records are stored.
    """

    def __init__(self, clock: Clock | None = None, max_records: int = 0) -> None:
        self._clock: Clock = SystemClock() if clock is None else clock
        self._max_records = check_non_negative_int("max_records", max_records)
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> VersionedRecord:
        """The record under ``key``; ``KeyNotFound`` if there is none."""
        check_key(key)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                raise KeyNotFound(key)
            return VersionedRecord(slot.data, slot.version)

    def put(self, key: str, data: bytes, *, expires_at_ms: int | None = None) -> int:
        """Store ``data`` under ``key``; return the new version (1 for a new key)."""
        check_key(key)
        data = check_data(data)
        check_expiry(expires_at_ms)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                if self._max_records and len(self._slots) >= self._max_records:
                    raise CapacityExceeded(
                        f"InMemoryBackend holds {len(self._slots)} records; "
                        f"max_records is {self._max_records}"
                    )
                self._slots[key] = _Slot(data, 1, expires_at_ms)
                return 1
            slot.data = data
            slot.version += 1
            slot.expires_at_ms = expires_at_ms
            return slot.version

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        """Store ``data`` if the stored version is ``expected_version``; return the new
        version. ``VersionConflict`` or ``KeyNotFound`` otherwise, changing nothing."""
        check_key(key)
        data = check_data(data)
        check_version(expected_version)
        check_expiry(expires_at_ms)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                raise KeyNotFound(key)
            if slot.version != expected_version:
                raise VersionConflict(key, expected_version, slot.version)
            slot.data = data
            slot.version += 1
            slot.expires_at_ms = expires_at_ms
            return slot.version

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        check_key(key)
        with self._lock:
            return self._slots.pop(key, None) is not None

    def list_by_prefix(self, prefix: str) -> list[tuple[str, VersionedRecord]]:
        """Every ``(key, record)`` whose key starts with ``prefix``, sorted by key."""
        check_key(prefix)
        with self._lock:
            found = [
                (k, VersionedRecord(s.data, s.version))
                for k, s in self._slots.items()
                if k.startswith(prefix)
            ]
        found.sort(key=lambda item: item[0])
        return found

    def cleanup_expired(self, now_ms: int | None = None) -> int:
        """Remove every record whose ``expires_at_ms`` is before ``now_ms`` (default: the
        clock); return how many."""
        now = (
            self._clock.now_millis()
            if now_ms is None
            else check_non_negative_int("now_ms", now_ms)
        )
        with self._lock:
            gone = [
                k
                for k, s in self._slots.items()
                if s.expires_at_ms is not None and now > s.expires_at_ms
            ]
            for k in gone:
                del self._slots[k]
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def __repr__(self) -> str:
        return f"InMemoryBackend(records={len(self)})"
