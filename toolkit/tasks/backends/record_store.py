"""A :class:`~toolkit.tasks.StorageBackend` on the toolkit's own record store (Layer 2, with
its engine and data store beneath)."""

from __future__ import annotations

import threading
from typing import Any

from ...clocks import Clock, SystemClock
from ...config import EvictionPolicy, StorageConfig
from ...errors import (
    ConfigError,
    QueueFullError,
    ToolkitError,
    check_non_negative_int,
)
from ...record_store import RecordStore
from ...records import ExpiryPolicy, Record
from ..errors import BackendError, CapacityExceeded, KeyNotFound, VersionConflict
from .base import VersionedRecord, check_data, check_expiry, check_key, check_version

__all__ = ["RecordStoreBackend", "DEFAULT_RETENTION_MS"]

#: How long (ms) a record stays in the record store after its task expires, by default.
DEFAULT_RETENTION_MS = 3_600_000


class RecordStoreBackend:
    """Task records as entries of a :class:`~toolkit.RecordStore`.

    * Each entry's value is the tuple ``(data, expires_at_ms)``.
    * Version = the record's ``metadata.version + 1`` (the record store starts at 0 and adds
      one per update), so versions run 1, 2, ...; ``put_if_version`` compares against it.
    * TTL goes through the record store's per-entry expiry: a write with ``expires_at_ms``
      sets ``ExpiryPolicy(ttl_millis=expires_at_ms - now + retention_ms)`` (at least 1 ms).
      The task store's ``get`` must still return an expired task (the caller checks
      ``is_expired``), so the record store keeps it ``retention_ms`` past ``expires_at_ms``
      and only then drops it on its own (lazily on access, or by its expiry sweep).
      ``cleanup_expired`` removes records as soon as ``expires_at_ms`` has passed. A write
      without ``expires_at_ms`` gets the record store's default TTL (0: never).
    * ``DefaultRecordStore`` is not thread-safe: every call holds this backend's lock, so use
      the record store only through the backend while it is shared.

    The record store must not drop live tasks behind the task store's back: one configured to
    evict (a count or cost limit with an eviction policy) or with a store-wide max-idle time is
    refused with :class:`~toolkit.errors.ConfigError`. Versions live in memory; if a record
    store reloads an entry from its data store, its version starts again at 1. Give the record
    store the same clock as the task store (``clock`` defaults to the record store's).
    """

    def __init__(
        self,
        record_store: RecordStore,
        retention_ms: int = DEFAULT_RETENTION_MS,
        clock: Clock | None = None,
    ) -> None:
        self._check_config(getattr(record_store, "config", None))
        self._rs = record_store
        self._retention = check_non_negative_int("retention_ms", retention_ms)
        if clock is None:
            clock = getattr(record_store, "clock", None)
        self._clock: Clock = SystemClock() if clock is None else clock
        self._lock = threading.Lock()

    @staticmethod
    def _check_config(config: Any) -> None:
        if not isinstance(config, StorageConfig):
            return
        if config.eviction_policy is not EvictionPolicy.NONE and (
            config.max_entry_count or config.max_cost_bytes
        ):
            raise ConfigError(
                "RecordStoreBackend needs a record store that never evicts, got "
                f"eviction_policy={config.eviction_policy.value!r} with "
                f"max_entry_count={config.max_entry_count}, "
                f"max_cost_bytes={config.max_cost_bytes}"
            )
        if config.default_max_idle_millis:
            raise ConfigError(
                "RecordStoreBackend needs a record store without max-idle expiry, got "
                f"default_max_idle_millis={config.default_max_idle_millis}"
            )

    @property
    def record_store(self) -> RecordStore:
        """The record store the records live in."""
        return self._rs

    @property
    def retention_ms(self) -> int:
        """How long (ms) a record is kept past its ``expires_at_ms`` before the record store
        drops it on its own."""
        return self._retention

    def _entry(self, key: str) -> Record | None:
        record = self._rs.get(key)
        if record is None:
            return None
        value = record.value
        if type(value) is not tuple or len(value) != 2 or type(value[0]) is not bytes:
            raise BackendError(f"entry under key {key!r} is not a task record: {value!r:.80}")
        return record

    def _write(self, key: str, data: bytes, expires_at_ms: int | None) -> int:
        if expires_at_ms is None:
            policy = ExpiryPolicy.NONE
        else:
            ttl = expires_at_ms + self._retention - self._clock.now_millis()
            policy = ExpiryPolicy(ttl_millis=max(ttl, 1))
        try:
            self._rs.put(key, (data, expires_at_ms), policy)
        except QueueFullError as exc:
            raise CapacityExceeded(f"record store refused key {key!r}: {exc}") from exc
        except ToolkitError as exc:
            raise BackendError(f"record store refused key {key!r}: {exc}") from exc
        record = self._rs.get(key)
        if record is None:
            raise BackendError(f"record store dropped key {key!r} right after writing it")
        return record.metadata.version + 1

    def get(self, key: str) -> VersionedRecord:
        """The record under ``key``; ``KeyNotFound`` if there is none (or it is past its
        retention)."""
        check_key(key)
        with self._lock:
            record = self._entry(key)
            if record is None:
                raise KeyNotFound(key)
            return VersionedRecord(record.value[0], record.metadata.version + 1)

    def put(self, key: str, data: bytes, *, expires_at_ms: int | None = None) -> int:
        """Store ``data`` under ``key``; return the new version (1 for a new key)."""
        check_key(key)
        data = check_data(data)
        check_expiry(expires_at_ms)
        with self._lock:
            return self._write(key, data, expires_at_ms)

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        """Store ``data`` if the record's version is ``expected_version``; return the new
        version. ``VersionConflict`` or ``KeyNotFound`` otherwise, changing nothing."""
        check_key(key)
        data = check_data(data)
        check_version(expected_version)
        check_expiry(expires_at_ms)
        with self._lock:
            record = self._entry(key)
            if record is None:
                raise KeyNotFound(key)
            actual = record.metadata.version + 1
            if actual != expected_version:
                raise VersionConflict(key, expected_version, actual)
            return self._write(key, data, expires_at_ms)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if a live entry was there."""
        check_key(key)
        with self._lock:
            if self._entry(key) is None:
                return False
            self._rs.remove(key)
            return True

    def list_by_prefix(self, prefix: str) -> list[tuple[str, VersionedRecord]]:
        """Every ``(key, record)`` whose key starts with ``prefix``, sorted by key."""
        check_key(prefix)
        found: list[tuple[str, VersionedRecord]] = []

        def collect(key: Any, record: Record) -> None:
            value = record.value
            if (
                isinstance(key, str)
                and key.startswith(prefix)
                and type(value) is tuple
                and len(value) == 2
                and type(value[0]) is bytes
            ):
                found.append((key, VersionedRecord(value[0], record.metadata.version + 1)))

        with self._lock:
            self._rs.for_each(collect)
        found.sort(key=lambda item: item[0])
        return found

    def cleanup_expired(self, now_ms: int | None = None) -> int:
        """Remove every record whose ``expires_at_ms`` is before ``now_ms`` (default: the
        clock), and let the record store sweep what is past its retention; return how many
        records went."""
        now = (
            self._clock.now_millis()
            if now_ms is None
            else check_non_negative_int("now_ms", now_ms)
        )
        gone: list[str] = []

        def collect(key: Any, record: Record) -> None:
            value = record.value
            if type(value) is tuple and len(value) == 2 and isinstance(key, str):
                expires_at = value[1]
                if expires_at is not None and now > expires_at:
                    gone.append(key)

        with self._lock:
            self._rs.for_each(collect)
            for key in gone:
                self._rs.remove(key)
            swept = self._rs.evict_expired(100, self._clock.now_millis())
        return len(gone) + swept

    def __repr__(self) -> str:
        return f"RecordStoreBackend({self._rs!r}, retention_ms={self._retention})"
