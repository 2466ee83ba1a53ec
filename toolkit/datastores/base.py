"""Layer 3 protocol: :class:`MapDataStore`, the cost hook, and :class:`NullDataStore`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

__all__ = ["MapDataStore", "NullDataStore", "DataStoreStats", "StoredListener"]

#: Called by a data store when the backing store has durably stored ``value`` for ``key`` of
#: a map at time ``now`` (``listener(key, value, now)``). Write-behind stores call it after a
#: flush; the record store uses it to mark the record clean.
StoredListener = Callable[[Any, Any, int], None]


@dataclass(slots=True)
class DataStoreStats:
    """What a data store has done so far: the cost hook simulations charge latency from.

    Take :meth:`copy` before an operation and :meth:`minus` after it to see what it did: a
    simulation charges, say, one round trip per ``write_batches`` and ``loads`` plus a cost
    per row (``writes``, ``deletes``, ``keys_loaded``) or per byte (``bytes_written``),
    without sleeping. Every counter is cumulative. A write-behind store counts what it made
    its inner store do (writes when they are stored, not when queued), so read the counters of
    the store the record store talks to.
    """

    writes: int = 0
    """Rows written (inserted or replaced) in the backing store."""
    deletes: int = 0
    """Deletes applied to the backing store, one per key (a key with no row counts too:
    the store is not asked first); ``purge_expired`` adds the rows it deleted."""
    write_batches: int = 0
    """Round trips that wrote: one per write-through operation, one per flushed batch."""
    loads: int = 0
    """Load round trips (``load`` or ``load_all`` calls that reached the backing store)."""
    keys_loaded: int = 0
    """Rows returned by loads."""
    queued: int = 0
    """Writes and deletes accepted into a write-behind queue."""
    coalesced: int = 0
    """Queued writes replaced by a later write to the same key before they were stored."""
    failures: int = 0
    """Write round trips that failed (what they held stays queued and is retried): a batch,
    or one operation a write-behind store tried alone after its batch failed."""
    bytes_written: int = 0
    """Bytes of encoded values written, in UTF-8 (a ``SizedValue`` counts its ``nbytes``)."""
    queue_reads: int = 0
    """Loads answered from a write-behind queue or staging area, with no round trip."""
    refused: int = 0
    """Writes or deletes refused because a (non-coalescing) write-behind queue was full."""
    staged: int = 0
    """Dirty records that left memory while their write was still queued (kept staged)."""

    def copy(self) -> DataStoreStats:
        """An independent copy."""
        return DataStoreStats(*(getattr(self, f.name) for f in fields(self)))

    def minus(self, earlier: DataStoreStats) -> DataStoreStats:
        """What happened since ``earlier``."""
        return DataStoreStats(
            *(getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self))
        )

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@runtime_checkable
class MapDataStore(Protocol):
    """External persistence for record stores (write-through or write-behind).

    Times are milliseconds; ``expiration_time`` is absolute (0 = never). One data store may
    serve many maps; ``map_name`` keeps their rows apart.
    """

    @property
    def stats(self) -> DataStoreStats:
        """What the store has done so far: the cost hook (see :class:`DataStoreStats`)."""
        ...

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        """Store (or queue) a primary write. Return True if it is durable when this returns.

        Raises :class:`~toolkit.errors.UnsupportedValueError` or
        :class:`~toolkit.errors.QueueFullError` before changing anything.
        """
        ...

    def add_backup(
        self, map_name: str, key: Any, value: Any, expiration_time: int, now: int
    ) -> bool:
        """As :meth:`add`, for a backup copy (kept apart from primaries)."""
        ...

    def remove(self, map_name: str, key: Any, now: int) -> bool:
        """Delete (or queue the deletion of) a primary row; True if durable on return."""
        ...

    def remove_backup(self, map_name: str, key: Any, now: int) -> bool:
        """As :meth:`remove`, for a backup row."""
        ...

    def load(self, map_name: str, key: Any) -> Any | None:
        """The newest value of ``key`` (a queued write wins over the stored row), or None."""
        ...

    def load_entry(self, map_name: str, key: Any) -> tuple[Any, int] | None:
        """As :meth:`load`, with the write's absolute ``expiration_time`` (ms, 0 = never), so
        a loaded record expires when the stored one would have."""
        ...

    def load_all(self, map_name: str, keys: Sequence[Any]) -> list[tuple[Any, Any]]:
        """(key, value) for each of ``keys`` that has a value."""
        ...

    def remove_all(self, map_name: str, keys: Sequence[Any]) -> None:
        """Delete every one of ``keys``."""
        ...

    def is_loadable(self, key: Any, map_name: str | None = None) -> bool:
        """False while a write of ``key`` is queued (loading the row would read a stale value)."""
        ...

    def pending_operation_count(self) -> int:
        """Queued operations not yet stored (0 for write-through)."""
        ...

    def soft_flush(self) -> int:
        """Mark everything queued as due; return the sequence number of the last queued op."""
        ...

    def hard_flush(self) -> None:
        """Store everything queued now."""
        ...

    def flush_key(self, map_name: str, key: Any, value: Any, is_backup: bool) -> None:
        """Make sure the newest write of ``key`` is not lost when its record leaves memory."""
        ...

    def reset(self) -> None:
        """Drop queues and staging (the backing store keeps its rows)."""
        ...

    def is_null(self) -> bool:
        """True for the no-op store."""
        ...

    def check_value(self, value: Any) -> bool | None:
        """Raise :class:`~toolkit.errors.UnsupportedValueError` if ``value`` cannot be stored.

        A store may return True to say the value needs no further checking when it is
        encoded: a write-behind queue then marks its operation ``checked``
        (:class:`~toolkit.datastores.StoreOp`) for the store's ``store_batch``."""
        ...

    def add_stored_listener(self, map_name: str, listener: StoredListener) -> None:
        """Call ``listener`` whenever a queued write of ``map_name`` reaches the backing store."""
        ...


class NullDataStore:
    """The no-op data store: nothing is persisted, nothing is loaded."""

    def __init__(self) -> None:
        self.stats = DataStoreStats()

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        return False

    def add_backup(
        self, map_name: str, key: Any, value: Any, expiration_time: int, now: int
    ) -> bool:
        return False

    def remove(self, map_name: str, key: Any, now: int) -> bool:
        return False

    def remove_backup(self, map_name: str, key: Any, now: int) -> bool:
        return False

    def load(self, map_name: str, key: Any) -> Any | None:
        return None

    def load_entry(self, map_name: str, key: Any) -> tuple[Any, int] | None:
        return None

    def load_all(self, map_name: str, keys: Sequence[Any]) -> list[tuple[Any, Any]]:
        return []

    def remove_all(self, map_name: str, keys: Sequence[Any]) -> None:
        return None

    def is_loadable(self, key: Any, map_name: str | None = None) -> bool:
        return True

    def pending_operation_count(self) -> int:
        return 0

    def soft_flush(self) -> int:
        return 0

    def hard_flush(self) -> None:
        return None

    def flush_key(self, map_name: str, key: Any, value: Any, is_backup: bool) -> None:
        return None

    def reset(self) -> None:
        return None

    def is_null(self) -> bool:
        return True

    def check_value(self, value: Any) -> bool | None:
        return None

    def add_stored_listener(self, map_name: str, listener: StoredListener) -> None:
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> NullDataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "NullDataStore()"
