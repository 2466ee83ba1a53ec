"""A :class:`~toolkit.tasks.StorageBackend` in an SQLite database (Python's ``sqlite3``)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from ...clocks import Clock, SystemClock
from ...errors import InvalidArgumentError, check_non_negative_int
from ..errors import BackendError, CapacityExceeded, KeyNotFound, VersionConflict
from .base import VersionedRecord, check_data, check_expiry, check_key, check_version

__all__ = ["SQLiteBackend"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    key TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at_ms INTEGER
)
"""


class SQLiteBackend:
    """Records in one table (``key``, ``data``, ``version``, ``expires_at_ms``).

    ``path`` is a file name or ``":memory:"``. One connection serves every thread, behind a
    lock, in autocommit mode, so each operation is one atomic statement or transaction. The
    compare-and-swap is a conditional ``UPDATE ... WHERE key = ? AND version = ?``, so it
    stays correct when other processes write the same database file. A file database uses
    write-ahead logging unless ``wal=False`` (WAL needs a local file system); ``timeout_s``
    is how long a write waits for another process's lock. ``clock`` is read by
    ``cleanup_expired`` when no time is given. Call :meth:`close` (or use ``with``) when done.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        clock: Clock | None = None,
        table: str = "tasks",
        timeout_s: float = 5.0,
        wal: bool = True,
    ) -> None:
        if not isinstance(table, str) or not table.isidentifier():
            raise InvalidArgumentError(f"table must be an SQL identifier, got {table!r}")
        self._clock: Clock = SystemClock() if clock is None else clock
        self._table = table
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                path, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open SQLite database {path!r}: {exc}") from exc
        try:
            if wal and str(path) != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA.format(table=table))
        except sqlite3.Error as exc:
            self._conn.close()
            raise BackendError(f"cannot create table {table!r} in {path!r}: {exc}") from exc
        self._path = path

    @contextmanager
    def _locked(self, what: str, key: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                if "full" in str(exc).lower():
                    raise CapacityExceeded(
                        f"SQLite database is full ({what} {key!r}): {exc}"
                    ) from exc
                raise BackendError(f"SQLite {what} of key {key!r} failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise BackendError(f"SQLite {what} of key {key!r} failed: {exc}") from exc

    def get(self, key: str) -> VersionedRecord:
        """The record under ``key``; ``KeyNotFound`` if there is none."""
        check_key(key)
        with self._locked("get", key) as conn:
            row = conn.execute(
                f"SELECT data, version FROM {self._table} WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            raise KeyNotFound(key)
        return VersionedRecord(bytes(row[0]), int(row[1]))

    def put(self, key: str, data: bytes, *, expires_at_ms: int | None = None) -> int:
        """Store ``data`` under ``key`` (an upsert); return the new version (1 for a new key)."""
        check_key(key)
        data = check_data(data)
        check_expiry(expires_at_ms)
        with self._locked("put", key) as conn:
            row = conn.execute(
                f"INSERT INTO {self._table} (key, data, version, expires_at_ms) "
                "VALUES (?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data, "
                "version = version + 1, expires_at_ms = excluded.expires_at_ms "
                "RETURNING version",
                (key, data, expires_at_ms),
            ).fetchone()
        return int(row[0])

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        """Store ``data`` if the stored version is ``expected_version``; return the new
        version. ``VersionConflict`` or ``KeyNotFound`` otherwise, changing nothing."""
        check_key(key)
        data = check_data(data)
        check_version(expected_version)
        check_expiry(expires_at_ms)
        with self._locked("put_if_version", key) as conn:
            updated = conn.execute(
                f"UPDATE {self._table} SET data = ?, version = version + 1, expires_at_ms = ? "
                "WHERE key = ? AND version = ?",
                (data, expires_at_ms, key, expected_version),
            ).rowcount
            if updated == 1:
                return expected_version + 1
            row = conn.execute(
                f"SELECT version FROM {self._table} WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            raise KeyNotFound(key)
        raise VersionConflict(key, expected_version, int(row[0]))

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        check_key(key)
        with self._locked("delete", key) as conn:
            return conn.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,)).rowcount == 1

    def list_by_prefix(self, prefix: str) -> list[tuple[str, VersionedRecord]]:
        """Every ``(key, record)`` whose key starts with ``prefix``, sorted by key."""
        check_key(prefix)
        with self._locked("list_by_prefix", prefix) as conn:
            rows = conn.execute(
                f"SELECT key, data, version FROM {self._table} "
                "WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
        return [(str(k), VersionedRecord(bytes(d), int(v))) for k, d, v in rows]

    def cleanup_expired(self, now_ms: int | None = None) -> int:
        """Remove every record whose ``expires_at_ms`` is before ``now_ms`` (default: the
        clock); return how many."""
        now = (
            self._clock.now_millis()
            if now_ms is None
            else check_non_negative_int("now_ms", now_ms)
        )
        with self._locked("cleanup_expired", "*") as conn:
            return int(
                conn.execute(
                    f"DELETE FROM {self._table} WHERE expires_at_ms IS NOT NULL "
                    "AND expires_at_ms < ?",
                    (now,),
                ).rowcount
            )

    def close(self) -> None:
        """Close the connection; the backend cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteBackend({self._path!r}, table={self._table!r})"
