"""Write-through persistence in one SQLite database file: :class:`SQLiteDataStore`."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from ..clocks import Clock, SystemClock, check_clock
from ..errors import DataStoreError, InvalidArgumentError, check_non_negative_int
from ..records import SizedValue
from .base import DataStoreStats, StoredListener
from .batch import MAX_MILLIS, StoreOp, check_keys, check_millis
from .codec import check_value, decode_key, decode_value, encode_key, encode_plain, encode_value, encoded_size

__all__ = ["SQLiteDataStore", "SYNCHRONOUS_MODES"]

#: The ``PRAGMA synchronous`` levels :class:`SQLiteDataStore` accepts. In WAL mode NORMAL
#: keeps every committed transaction through a crash of the process (the commit is in the
#: write-ahead log when ``add`` returns) and may lose the last commits on power loss; FULL
#: and EXTRA also sync the log to the disk on every commit (power-loss safe, slower).
SYNCHRONOUS_MODES: tuple[str, ...] = ("NORMAL", "FULL", "EXTRA")

_TABLES = {False: "entries", True: "backup_entries"}
#: 2: keys equal in Python share one encoding (``True``, ``1`` and ``1.0`` are all ``1``);
#: a version 1 database is migrated when it is opened.
_SCHEMA_VERSION = 2
_IN_CHUNK = 500  # keys per SELECT/DELETE ... IN (...) statement
#: Rows per multi-row INSERT of a batch written while other threads run (5 parameters a row;
#: capped lower by a SQLite built with a smaller parameter limit). Each statement is one
#: ``sqlite3_step``, and Python's sqlite3 releases the GIL around each step: a batch stored row
#: by row would hand the GIL over once per row, and a flusher thread competing with a busy
#: writer gets it back only every switch interval (5 ms), so it would store a few hundred rows
#: a second. With no other thread to hand it to, one prepared single-row INSERT run for each
#: row (``executemany``) is faster, and is used. Deletes in a batch are grouped up to
#: :data:`_IN_CHUNK` keys per statement.
_ROWS_PER_INSERT = 200


def _threads_running() -> int:
    """Python threads alive, this one included."""
    return threading.active_count()


def _migrate_keys(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: re-encode every key whose text changed (a bool or an integral float
    key, also inside a tuple). When several old rows become one key, the row stored last
    wins, as it would have in memory."""
    for table in _TABLES.values():
        changed: list[tuple[tuple[str, str], tuple[str, str, str, int, int]]] = []
        for map_name, key, value, exp, stored in conn.execute(
            f"SELECT map_name, key, value, expiration_time, stored_time FROM {table}"
        ):
            new = encode_key(decode_key(key))
            if new != key:
                changed.append(((map_name, key), (map_name, new, value, exp, stored)))
        if not changed:
            continue
        conn.executemany(f"DELETE FROM {table} WHERE map_name = ? AND key = ?", [c[0] for c in changed])
        rows = sorted((row for _, row in changed), key=lambda row: row[4])  # oldest first
        conn.executemany(
            f"INSERT INTO {table}(map_name, key, value, expiration_time, stored_time)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(map_name, key) DO UPDATE SET"
            " value = excluded.value, expiration_time = excluded.expiration_time,"
            " stored_time = excluded.stored_time WHERE excluded.stored_time >= stored_time",
            rows,
        )


class SQLiteDataStore:
    """A write-through :class:`~toolkit.datastores.MapDataStore` over one SQLite file.

    One database holds any number of maps: rows are keyed by ``(map_name, key)``, primaries in
    table ``entries`` and backups apart in ``backup_entries``. Keys and values are stored in
    the canonical encoding of :mod:`toolkit.datastores.codec`; a value (or key) it cannot
    encode is refused with :class:`~toolkit.errors.UnsupportedValueError` before anything is
    written. Each row keeps its ``expiration_time`` (absolute ms, 0 = never); :meth:`load`
    and :meth:`load_all` do not return a row whose time has passed (``now`` from ``clock``;
    expired when ``now > expiration_time``, as in memory). Without a ``clock`` the store reads
    the clock of the first record store built over it (:meth:`bind_clock`), else the system
    clock.

    Every write is its own committed transaction (``add``, ``remove``) or one transaction per
    batch (``remove_all``, ``store_batch``), in WAL mode: when a method returns, the write
    survives the process being killed. ``synchronous`` is ``"NORMAL"`` by default (durable
    through a process crash; see :data:`SYNCHRONOUS_MODES`); pass ``"FULL"`` to also survive
    power loss at the price of a disk sync per commit. While other threads run, a batch
    (``store_batch``) writes up to ``rows_per_insert`` rows per statement (fewer if the SQLite
    build allows fewer parameters), so it hands the GIL over a few times, not once a row;
    alone, it runs one prepared INSERT per row, which is faster.
    ``path=":memory:"`` gives a private in-memory database (nothing durable; for tests).

    Thread-safe: one connection, used under a lock (a write-behind flusher thread may write
    while the owner reads). Use it as a context manager or call :meth:`close`. Database errors
    are raised as :class:`~toolkit.errors.DataStoreError`.
    """

    keys_per_load: int = _IN_CHUNK
    """Keys one query of :meth:`load_all` reads at most: a longer ``load_all`` takes one round
    trip per this many keys (``stats.loads`` counts them)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        synchronous: str = "NORMAL",
        timeout_millis: int = 5_000,
        rows_per_insert: int = _ROWS_PER_INSERT,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"path must be a str or path, got {path!r}")
        mode = str(synchronous).upper()
        if mode not in SYNCHRONOUS_MODES:
            raise InvalidArgumentError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, got {synchronous!r}"
            )
        check_non_negative_int("timeout_millis", timeout_millis)
        if check_non_negative_int("rows_per_insert", rows_per_insert) < 1:
            raise InvalidArgumentError(f"rows_per_insert must be >= 1, got {rows_per_insert!r}")
        self.path = os.fspath(path)
        if not self.path:
            raise InvalidArgumentError(
                "path must not be empty (SQLite would use a temporary file, deleted on close; "
                "':memory:' keeps the database in memory)"
            )
        check_clock(clock, "SQLiteDataStore(path, clock, ...)")
        self.synchronous = mode
        self.stats = DataStoreStats()
        self._clock: Clock = SystemClock() if clock is None else clock
        self._clock_given = clock is not None
        self._lock = threading.Lock()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=timeout_millis / 1000,
                isolation_level=None,  # autocommit: each statement outside BEGIN commits
                check_same_thread=False,
            )
        except sqlite3.Error as err:
            raise DataStoreError(f"cannot open SQLite database {self.path!r}: {err}") from err
        try:  # look before changing anything: a database that is not ours stays untouched
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.Error as err:  # "file is not a database", say
            conn.close()
            raise DataStoreError(f"cannot open SQLite database {self.path!r}: {err}") from err
        if version not in (0, 1, _SCHEMA_VERSION):
            conn.close()
            raise DataStoreError(
                f"SQLite database {self.path!r} has schema version {version}, expected {_SCHEMA_VERSION}"
            )
        foreign = sorted(tables.difference(_TABLES.values()))
        if (version == 0 and foreign) or (version and "entries" not in tables):
            conn.close()
            raise DataStoreError(
                f"SQLite database {self.path!r} is not a data store of this toolkit (its tables: "
                f"{sorted(tables) or 'none'}; schema version {version}); nothing was changed: "
                "use another file"
            )
        try:
            self.journal_mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            conn.execute(f"PRAGMA synchronous={mode}")
            conn.execute("BEGIN IMMEDIATE")
            for table in _TABLES.values():
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ("
                    " map_name TEXT NOT NULL,"
                    " key TEXT NOT NULL,"
                    " value TEXT NOT NULL,"
                    " expiration_time INTEGER NOT NULL DEFAULT 0,"
                    " stored_time INTEGER NOT NULL DEFAULT 0,"
                    " PRIMARY KEY (map_name, key)"
                    ") WITHOUT ROWID"
                )
            if version == 1:
                _migrate_keys(conn)
            if version != _SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            conn.close()
            raise DataStoreError(f"cannot prepare SQLite database {self.path!r}: {err}") from err
        self._conn: sqlite3.Connection | None = conn
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._rows_per_insert = max(1, min(rows_per_insert, limit // 5))
        self._multi_sql: dict[tuple[bool, int], str] = {}
        self._put_sql = {
            b: f"INSERT OR REPLACE INTO {t}(map_name, key, value, expiration_time, stored_time)"
            " VALUES (?, ?, ?, ?, ?)"
            for b, t in _TABLES.items()
        }
        self._del_sql = {b: f"DELETE FROM {t} WHERE map_name = ? AND key = ?" for b, t in _TABLES.items()}
        self._get_sql = {
            b: f"SELECT value, expiration_time FROM {t} WHERE map_name = ? AND key = ?"
            " AND (expiration_time = 0 OR expiration_time >= ?)"
            for b, t in _TABLES.items()
        }

    # --- plumbing -----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise DataStoreError(f"SQLiteDataStore({self.path!r}) is closed")
        return conn

    def _write(self, sql: str, params: tuple[Any, ...], what: str, map_name: str, key: Any) -> None:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(sql, params)
            except sqlite3.Error as err:
                raise DataStoreError(f"SQLite {what} of map {map_name!r} key {key!r} failed: {err}") from err

    def _insert_rows(self, conn: sqlite3.Connection, backup: bool, rows: list[Any], per: int) -> None:
        """Insert ``rows``, ``per`` a statement: a few statements, so a few GIL hand-overs."""
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            conn.execute(self._insert_sql(backup, len(chunk)), [x for row in chunk for x in row])

    def _insert_sql(self, backup: bool, rows: int) -> str:
        """The INSERT OR REPLACE of ``rows`` rows at once (cached per shape)."""
        sql = self._multi_sql.get((backup, rows))
        if sql is None:
            head = self._put_sql[backup].partition(" VALUES ")[0]
            sql = self._multi_sql[(backup, rows)] = (
                head + " VALUES " + ",".join(("(?, ?, ?, ?, ?)",) * rows)
            )
        return sql

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, backup: bool, pairs: list[Any]) -> None:
        """Delete the ``(map_name, key)`` rows, many keys of a map per statement."""
        by_map: dict[str, list[str]] = {}
        for map_name, ek in pairs:
            by_map.setdefault(map_name, []).append(ek)
        table = _TABLES[backup]
        for map_name, eks in by_map.items():
            for i in range(0, len(eks), _IN_CHUNK):
                chunk = eks[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                conn.execute(
                    f"DELETE FROM {table} WHERE map_name = ? AND key IN ({marks})",
                    (map_name, *chunk),
                )

    def _transaction(self, steps: list[tuple[bool, bool, list[Any]]], what: str) -> None:
        """Run ``steps`` in one transaction, all or nothing.

        A step is ``(is_put, backup, params)``: for a put, ``params`` is the list of the rows
        (5-tuples), written with one prepared INSERT per row when no other thread runs, else
        ``rows_per_insert`` rows per statement (see :data:`_ROWS_PER_INSERT`); for a delete, a
        list of ``(map_name, key)`` pairs, deleted up to :data:`_IN_CHUNK` keys of a map per
        statement (the deletes of one step commute, so grouping them by map changes nothing).
        """
        per = self._rows_per_insert
        if per > 1 and _threads_running() == 1:
            per = 1  # nobody to hand the GIL to
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for is_put, backup, params in steps:
                        if not is_put:
                            self._delete_rows(conn, backup, params)
                        elif per == 1 or len(params) == 1:
                            conn.executemany(self._put_sql[backup], params)
                        else:
                            self._insert_rows(conn, backup, params, per)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise DataStoreError(f"SQLite {what} failed (nothing written): {err}") from err

    def _count(self, **counts: int) -> None:
        """Add ``counts`` to :attr:`stats` under the lock: writers and readers on several
        threads lose no count."""
        with self._lock:
            st = self.stats
            for name, n in counts.items():
                setattr(st, name, getattr(st, name) + n)

    @staticmethod
    def _check_map(map_name: Any) -> None:
        if type(map_name) is not str:
            raise InvalidArgumentError(f"map_name must be a str, got {map_name!r}")

    # --- writes -------------------------------------------------------------------------

    def _add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int, backup: bool) -> bool:
        self._check_map(map_name)
        if value is None:
            raise InvalidArgumentError(f"value must not be None (key {key!r}); use remove()")
        ek = encode_key(key)
        ev = encode_value(value)
        if type(expiration_time) is not int or not 0 <= expiration_time <= MAX_MILLIS:
            check_millis("expiration_time", expiration_time)
        if type(now) is not int or not 0 <= now <= MAX_MILLIS:
            check_millis("now", now)
        with self._lock:
            conn = self._conn
            if conn is None:
                self._connection()
            try:
                conn.execute(self._put_sql[backup], (map_name, ek, ev, expiration_time, now))  # type: ignore[union-attr]
            except sqlite3.Error as err:
                raise DataStoreError(f"SQLite write of map {map_name!r} key {key!r} failed: {err}") from err
            st = self.stats  # counted under the lock: writers on several threads lose no count
            st.writes += 1
            st.write_batches += 1
            st.bytes_written += encoded_size(value, ev)
        return True

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        """Write ``value`` under ``key`` of ``map_name`` and commit; return True (durable).

        ``expiration_time`` is absolute ms (0 = never); ``now`` (ms) is kept as the row's
        stored time. Raises :class:`~toolkit.errors.UnsupportedValueError` for a key or value
        with no canonical encoding (nothing written), :class:`~toolkit.errors.DataStoreError`
        if the database fails.
        """
        return self._add(map_name, key, value, expiration_time, now, False)

    def add_backup(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        """As :meth:`add`, into the backup rows (kept apart from primaries)."""
        return self._add(map_name, key, value, expiration_time, now, True)

    def _remove(self, map_name: str, key: Any, now: int, backup: bool) -> bool:
        self._check_map(map_name)
        check_millis("now", now)
        try:
            ek = encode_key(key)
        except InvalidArgumentError:
            with self._lock:
                self._connection()  # raises if closed
            return True  # a key that cannot be encoded was never stored
        self._write(self._del_sql[backup], (map_name, ek), "delete", map_name, key)
        self._count(deletes=1, write_batches=1)
        return True

    def remove(self, map_name: str, key: Any, now: int) -> bool:
        """Delete the primary row of ``key`` (if any) and commit; return True (durable)."""
        return self._remove(map_name, key, now, False)

    def remove_backup(self, map_name: str, key: Any, now: int) -> bool:
        """Delete the backup row of ``key`` (if any) and commit; return True."""
        return self._remove(map_name, key, now, True)

    def remove_all(self, map_name: str, keys: Sequence[Any]) -> None:
        """Delete the primary rows of every one of ``keys`` in one transaction."""
        self._check_map(map_name)
        check_keys(keys)
        rows = []
        for key in keys:
            try:
                rows.append((map_name, encode_key(key)))
            except InvalidArgumentError:
                continue
        if not rows:
            return
        self._transaction([(False, False, rows)], f"delete of {len(rows)} keys of {map_name!r}")
        self._count(deletes=len(rows), write_batches=1)

    def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
        """Apply ``ops`` (writes and deletes, in order) in one transaction, all or nothing.

        Raises :class:`~toolkit.errors.UnsupportedValueError` (nothing written) if a key or
        value cannot be encoded, :class:`~toolkit.errors.DataStoreError` (rolled back) if the
        database fails; ``stats.failures`` counts the latter.
        """
        steps: list[tuple[bool, bool, list[Any]]] = []
        params: list[Any] = []
        texts: list[str] = []  # the encoded values whose UTF-8 bytes count as written
        last = -1
        deletes = sized = 0
        for op in ops:
            map_name = op.map_name
            if type(map_name) is not str:
                self._check_map(map_name)
            ek = encode_key(op.key)
            value = op.value
            kind = 2 if value is None else 0
            if op.is_backup:
                kind += 1
            if kind != last:  # consecutive operations of one kind share one step
                params = []
                steps.append((value is not None, kind == 1 or kind == 3, params))
                last = kind
            if value is None:
                params.append((map_name, ek))
                deletes += 1
            else:
                if op.checked:
                    try:
                        ev = encode_plain(value)
                    except (TypeError, ValueError):  # mutated since it was checked
                        ev = encode_value(value)  # raises UnsupportedValueError naming it
                else:
                    ev = encode_value(value)
                params.append((map_name, ek, ev, op.expiration_time, now))
                if type(value) is SizedValue:
                    sized += value.nbytes
                else:
                    texts.append(ev)
        text = "".join(texts)
        nbytes = sized + (len(text) if text.isascii() else len(text.encode()))
        writes = len(ops) - deletes
        if not steps:
            return
        try:
            self._transaction(steps, f"batch of {len(ops)} operations")
        except DataStoreError:
            self._count(failures=1)
            raise
        self._count(writes=writes, deletes=deletes, write_batches=1, bytes_written=nbytes)

    # --- reads --------------------------------------------------------------------------

    def _load(self, map_name: str, key: Any, backup: bool) -> tuple[Any, int] | None:
        self._check_map(map_name)
        try:
            ek = encode_key(key)
        except InvalidArgumentError:
            return None  # never stored
        now = self._clock.now_millis()
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute(self._get_sql[backup], (map_name, ek, now)).fetchone()
            except sqlite3.Error as err:
                raise DataStoreError(f"SQLite load of map {map_name!r} key {key!r} failed: {err}") from err
            self.stats.loads += 1
            if row is None:
                return None
            self.stats.keys_loaded += 1
        return decode_value(row[0]), int(row[1])

    def load(self, map_name: str, key: Any) -> Any | None:
        """The stored primary value of ``key``, or None if absent or expired at ``clock`` now."""
        entry = self._load(map_name, key, False)
        return None if entry is None else entry[0]

    def load_entry(self, map_name: str, key: Any) -> tuple[Any, int] | None:
        """``(value, expiration_time)`` of the live primary row of ``key`` (expiration_time
        absolute ms, 0 = never), or None."""
        return self._load(map_name, key, False)

    def load_backup(self, map_name: str, key: Any) -> Any | None:
        """The stored backup value of ``key``, or None if absent or expired."""
        entry = self._load(map_name, key, True)
        return None if entry is None else entry[0]

    def load_all(self, map_name: str, keys: Sequence[Any]) -> list[tuple[Any, Any]]:
        """``(key, value)`` for each of ``keys`` with a live primary row, in the order given
        (duplicates once); one query per 500 keys."""
        self._check_map(map_name)
        wanted: dict[str, Any] = {}
        for key in keys:
            try:
                ek = encode_key(key)
            except InvalidArgumentError:
                continue
            wanted.setdefault(ek, key)
        if not wanted:
            return []
        now = self._clock.now_millis()
        found: dict[str, str] = {}
        eks = list(wanted)
        table = _TABLES[False]
        with self._lock:
            conn = self._connection()
            try:
                for i in range(0, len(eks), _IN_CHUNK):
                    chunk = eks[i : i + _IN_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    cur = conn.execute(
                        f"SELECT key, value FROM {table} WHERE map_name = ?"
                        " AND (expiration_time = 0 OR expiration_time >= ?)"
                        f" AND key IN ({marks})",
                        (map_name, now, *chunk),
                    )
                    found.update(cur.fetchall())
                    self.stats.loads += 1
            except sqlite3.Error as err:
                raise DataStoreError(f"SQLite load_all of map {map_name!r} failed: {err}") from err
            self.stats.keys_loaded += len(found)
        return [(wanted[ek], decode_value(found[ek])) for ek in eks if ek in found]

    def row_count(self, map_name: str | None = None, is_backup: bool = False) -> int:
        """Rows stored (expired ones included) for ``map_name`` (None: every map)."""
        table = _TABLES[bool(is_backup)]
        with self._lock:
            conn = self._connection()
            if map_name is None:
                return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            return int(
                conn.execute(f"SELECT COUNT(*) FROM {table} WHERE map_name = ?", (map_name,)).fetchone()[0]
            )

    def purge_expired(self, now: int | None = None) -> int:
        """Delete every row (primary and backup) expired at ``now`` (default: the clock);
        return how many were deleted."""
        now = self._clock.now_millis() if now is None else check_non_negative_int("now", now)
        deleted = 0
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                for table in _TABLES.values():
                    cur = conn.execute(
                        f"DELETE FROM {table} WHERE expiration_time != 0 AND expiration_time < ?",
                        (now,),
                    )
                    deleted += cur.rowcount
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise DataStoreError(f"SQLite purge of expired rows failed: {err}") from err
            self.stats.deletes += deleted
            self.stats.write_batches += 1
        return deleted

    # --- the rest of the protocol -------------------------------------------------------

    def is_loadable(self, key: Any, map_name: str | None = None) -> bool:
        """Always True: a write-through store has no queued writes."""
        return True

    def pending_operation_count(self) -> int:
        """Always 0: every write is stored when ``add`` returns."""
        return 0

    def soft_flush(self) -> int:
        """Nothing is queued; return 0."""
        return 0

    def hard_flush(self) -> None:
        """Nothing is queued: every acknowledged write is already committed."""

    def flush_key(self, map_name: str, key: Any, value: Any, is_backup: bool) -> None:
        """Nothing to do: every write of a client key was stored when it was made."""

    def reset(self) -> None:
        """No queue to drop; the rows stay."""

    def is_null(self) -> bool:
        """False: this store persists."""
        return False

    #: Raise :class:`~toolkit.errors.UnsupportedValueError` if a value has no encoding; True
    #: for plain JSON (the codec's own check, bound directly: a write-behind store calls it on
    #: every write and marks the operation ``checked``).
    check_value = staticmethod(check_value)

    def check_key(self, key: Any) -> None:
        """Raise :class:`~toolkit.errors.UnsupportedValueError` if ``key`` has no encoding."""
        encode_key(key)

    def add_stored_listener(self, map_name: str, listener: StoredListener) -> None:
        """Nothing to register: ``add`` returns True, so the caller knows the write is stored."""

    def bind_clock(self, clock: Clock) -> None:
        """Read ``clock`` from now on if this store was made without one (a record store
        over it calls this with its own clock, so that rows expire on the time the record
        store wrote them in); a store given a clock keeps it."""
        if not self._clock_given:
            self._clock = clock
            self._clock_given = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._conn is None

    def close(self) -> None:
        """Close the database connection (idempotent); later operations raise."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> SQLiteDataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else self.journal_mode
        return f"SQLiteDataStore({self.path!r}, {state}, synchronous={self.synchronous})"
