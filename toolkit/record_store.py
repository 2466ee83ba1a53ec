"""Layer 2: the record store, which adds metadata, expiry, eviction and persistence hooks to
a storage engine.

:class:`DefaultRecordStore` talks to its :class:`~toolkit.engine.StorageEngine` and its
:class:`~toolkit.datastores.MapDataStore` only through their protocols, and tells observers
what happened. Time comes from its :class:`~toolkit.clocks.Clock`, read once per operation.
"""

from __future__ import annotations

import random
import weakref
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from .clocks import Clock, SystemClock, check_clock
from .config import EvictionPolicy, StorageConfig
from .datastores.base import MapDataStore, NullDataStore
from .engine import FetchResult, HashMapStorage, IterationCursor, StorageEngine
from .errors import InvalidArgumentError, check_non_negative_int, check_percentage
from .eviction import make_evictor
from .expiry import make_expiry_index
from .observers import CompositeMutationObserver, MutationObserver
from .records import (
    CallerProvenance,
    ExpiryPolicy,
    ExpiryReason,
    Record,
    RecordMetadata,
    estimate_cost,
)

__all__ = ["RecordStore", "DefaultRecordStore", "StoreStats"]

_NOT = ExpiryReason.NOT_EXPIRED
_TTL = ExpiryReason.TTL
_CLIENT = CallerProvenance.CLIENT
_BACKUP = CallerProvenance.BACKUP
_REPLICATION = CallerProvenance.REPLICATION
_CRDT_MERGE = CallerProvenance.CRDT_MERGE
_NONE_POLICY = ExpiryPolicy.NONE


@dataclass(slots=True)
class StoreStats:
    """Counters a record store keeps as it works (cumulative since creation or ``reset``)."""

    hits: int = 0
    """Reads that found a live entry in memory."""
    misses: int = 0
    """Reads that did not (whether or not the key was then loaded)."""
    inserts: int = 0
    """Puts of a key that was not in memory."""
    updates: int = 0
    """Puts of a key that was."""
    removes: int = 0
    """Entries removed by ``remove``."""
    loads: int = 0
    """Entries loaded from the data store on a read miss."""
    evictions: int = 0
    """Live entries evicted (by policy or by ``evict``)."""
    expirations_ttl: int = 0
    """Entries removed because their TTL passed."""
    expirations_max_idle: int = 0
    """Entries removed because they were idle too long."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@runtime_checkable
class RecordStore(Protocol):
    """A per-map, per-partition store of records (see :class:`DefaultRecordStore`)."""

    @property
    def name(self) -> str: ...

    @property
    def partition_id(self) -> int: ...

    def get(self, key: Any, touch: bool = False) -> Record | None: ...

    def exists_in_memory(self, key: Any) -> bool: ...

    def put(
        self,
        key: Any,
        value: Any,
        expiry: ExpiryPolicy = _NONE_POLICY,
        provenance: CallerProvenance = _CLIENT,
    ) -> Any: ...

    def remove(self, key: Any, provenance: CallerProvenance = _CLIENT) -> Any: ...

    def put_backup(
        self, key: Any, record: Record, provenance: CallerProvenance = _BACKUP
    ) -> None: ...

    def remove_backup(self, key: Any, provenance: CallerProvenance = _BACKUP) -> None: ...

    def get_all(self, keys: Iterable[Any]) -> list[tuple[Any, Record]]: ...

    def fetch_keys(self, cursor: IterationCursor, size: int) -> FetchResult[Any]: ...

    def fetch_entries(
        self, cursor: IterationCursor, size: int
    ) -> FetchResult[tuple[Any, Record]]: ...

    def for_each(
        self, consumer: Callable[[Any, Record], None], is_backup: bool = False
    ) -> None: ...

    def size(self) -> int: ...

    def is_empty(self) -> bool: ...

    def owned_entry_cost(self) -> int: ...

    def has_expired(self, key: Any, now: int, is_backup: bool = False) -> ExpiryReason: ...

    def evict_expired(self, percentage: int, now: int, is_backup: bool = False) -> int: ...

    def is_expirable(self) -> bool: ...

    def evict(self, key: Any, is_backup: bool = False) -> Any: ...

    def evict_all(self, is_backup: bool = False) -> int: ...

    def should_evict(self) -> bool: ...

    def init(self) -> None: ...

    def clear(self, is_backup: bool = False) -> int: ...

    def reset(self) -> None: ...

    def destroy(self) -> None: ...

    def soft_flush(self) -> int: ...

    def storage(self) -> StorageEngine: ...

    def map_data_store(self) -> MapDataStore: ...


class _StoredListener:
    """A record store's stored-listener, holding the store weakly: a data store that outlives
    the record store neither keeps it alive nor keeps calling it (``alive`` turns false and
    the data store drops it)."""

    __slots__ = ("_store",)

    def __init__(self, store: DefaultRecordStore) -> None:
        self._store = weakref.ref(store)

    @property
    def alive(self) -> bool:
        return self._store() is not None

    def __call__(self, key: Any, value: Any, now: int) -> None:
        store = self._store()
        if store is not None:
            store._on_stored(key, value, now)


def _seed_for(seed: int | None, name: str, partition_id: int) -> int | None:
    if seed is None:
        return None
    return (seed * 1_000_003 + zlib.crc32(name.encode()) * 31 + partition_id) & 0xFFFFFFFF


class DefaultRecordStore:
    """The record store of one map partition, orchestrating all three layers.

    Semantics (see the project's design notes): expired entries are never served (a read of
    one removes it and notifies ``on_expire``); a per-entry :class:`ExpiryPolicy` wins over the
    store-wide defaults; an update bumps ``version`` and restarts the TTL clock; touching reads
    and writes restart the idle clock; after a put-like operation the store evicts until it is
    within ``max_entry_count`` and ``max_cost_bytes`` (unless the policy is NONE). CLIENT and
    CRDT_MERGE writes reach the data store before memory changes, so a refused write changes
    nothing; a dirty record leaving memory is handed to ``flush_key`` so no write is lost.
    """

    def __init__(
        self,
        name: str,
        partition_id: int = 0,
        engine: StorageEngine | None = None,
        data_store: MapDataStore | None = None,
        observer: MutationObserver | None = None,
        config: StorageConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"name must be a non-empty str, got {name!r}")
        check_non_negative_int("partition_id", partition_id)
        config = StorageConfig() if config is None else config
        if not isinstance(config, StorageConfig):
            raise InvalidArgumentError(f"config must be a StorageConfig, got {config!r}")
        check_clock(clock)
        for part, needs in ((data_store, ("add", "load", "is_null")), (engine, ("put", "get"))):
            if part is not None and not all(callable(getattr(part, n, None)) for n in needs):
                what = "data_store must be a MapDataStore" if needs[0] == "add" else (
                    "engine must be a StorageEngine")
                raise InvalidArgumentError(f"{what}, got {part!r}")
        if observer is not None and not isinstance(observer, MutationObserver):
            raise InvalidArgumentError(f"observer must be a MutationObserver, got {observer!r}")
        seed = _seed_for(config.sampling_seed, name, partition_id)
        self._name = name
        self._partition_id = partition_id
        self._engine: StorageEngine = (
            HashMapStorage(seed, shuffle=config.eviction_policy.sampled) if engine is None else engine
        )
        self._data_store: MapDataStore = NullDataStore() if data_store is None else data_store
        if observer is None:
            observer = CompositeMutationObserver()
        elif not isinstance(observer, CompositeMutationObserver):
            observer = CompositeMutationObserver([observer])
        self._observer: CompositeMutationObserver = observer
        self._config = config
        self._clock: Clock = SystemClock() if clock is None else clock
        self._now = self._clock.now_millis
        # Engines may offer cheaper bound callables with the same results (HashMapStorage does).
        self._engine_get = getattr(self._engine, "fast_get", self._engine.get)
        self._engine_put = self._engine.put
        self._engine_len = getattr(self._engine, "fast_len", self._engine.len)
        self._rng = random.Random(seed)
        self._default_ttl = config.default_ttl_millis
        self._default_idle = config.default_max_idle_millis
        self._max_count = config.max_entry_count
        self._max_cost = config.max_cost_bytes
        self._bounded = config.eviction_policy is not EvictionPolicy.NONE and bool(
            self._max_count or self._max_cost
        )
        self._evictor = make_evictor(config, self._engine, self._rng)
        self._tracker = (
            self._evictor
            if self._evictor is not None
            and (self._evictor.tracks_access or self._evictor.tracks_membership)
            else None
        )
        self._expiry = make_expiry_index(config.expiry_strategy, self._engine)
        self._expiry_tracking = self._expiry.tracking
        self._expirable_count = 0
        self._ds_null = self._data_store.is_null()
        bind = getattr(self._data_store, "bind_clock", None)
        if bind is not None:  # a data store made without a clock reads this store's clock
            bind(self._clock)
        # A data store that returns the stored expiration with the value (optional).
        self._load_entry = getattr(self._data_store, "load_entry", None)
        self.stats = StoreStats()
        self._data_store.add_stored_listener(name, _StoredListener(self))

    # --- identity ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The map this store belongs to."""
        return self._name

    @property
    def partition_id(self) -> int:
        """The partition this store belongs to."""
        return self._partition_id

    @property
    def config(self) -> StorageConfig:
        """The configuration the store was built with."""
        return self._config

    @property
    def clock(self) -> Clock:
        """The clock the store reads."""
        return self._clock

    @property
    def observer(self) -> CompositeMutationObserver:
        """The composite observer; ``store.observer.add(o)`` registers one more."""
        return self._observer

    # --- bookkeeping shared by every path that adds or drops an entry -------------------

    def _track_insert(self, key: Any, md: RecordMetadata, now: int) -> None:
        if md.ttl_millis or md.max_idle_millis:
            self._expirable_count += 1
        if self._expiry_tracking:
            self._expiry.on_put(key, md)
        if self._tracker is not None:
            self._tracker.on_insert(key, md, now)

    def _track_drop(self, key: Any, md: RecordMetadata) -> None:
        if md.ttl_millis or md.max_idle_millis:
            self._expirable_count -= 1
        if self._expiry.tracks_removes:
            self._expiry.on_remove(key)
        if self._tracker is not None:
            self._tracker.on_remove(key)

    def _expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        self._engine.remove(key)
        self._keep_dirty(key, record, is_backup)
        self._note_expired(key, record, reason, is_backup)

    def _note_expired(
        self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool
    ) -> None:
        """Bookkeeping and ``on_expire`` for an expired record that has left the engine."""
        self._track_drop(key, record.metadata)
        if reason is _TTL:
            self.stats.expirations_ttl += 1
        else:
            self.stats.expirations_max_idle += 1
        if self._observer.observers:
            self._observer.on_expire(key, record, reason, is_backup)

    def _keep_dirty(self, key: Any, record: Record, is_backup: bool) -> None:
        """A record leaving memory whose latest write is still queued is handed to flush_key."""
        if (
            not self._ds_null
            and record.metadata.is_dirty()
            and not self._data_store.is_loadable(key, self._name)
        ):
            self._data_store.flush_key(self._name, key, record.value, is_backup)

    def _evict_record(self, key: Any, record: Record, is_backup: bool) -> None:
        self._engine.remove(key)
        md = record.metadata
        if md.ttl_millis or md.max_idle_millis:
            self._expirable_count -= 1
        if self._expiry.tracks_removes:
            self._expiry.on_remove(key)
        if self._tracker is not None:
            self._tracker.on_remove(key)
        self.stats.evictions += 1
        if self._observer.observers:
            self._observer.on_evict(key, record, is_backup)
        if not self._ds_null:
            self._keep_dirty(key, record, is_backup)

    def _evict_if_needed(self, protected: Any, now: int, is_backup: bool = False) -> None:
        engine = self._engine
        max_count = self._max_count
        max_cost = self._max_cost
        evictor = self._evictor
        assert evictor is not None
        if max_cost:
            # An entry that alone exceeds max_cost_bytes can never fit: it is evicted at once
            # rather than after every other entry has been evicted to make room for it.
            record = engine.get(protected)
            if record is not None and record.metadata.cost > max_cost:
                self._evict_record(protected, record, is_backup)
        while (max_count and engine.len() > max_count) or (
            max_cost and engine.estimated_cost() > max_cost
        ):
            victim = evictor.select(protected, now, self._expirable_count > 0)
            if victim is None:
                return
            key, record, reason = victim
            if reason is not None:
                self._expire(key, record, reason, is_backup)
            else:
                self._evict_record(key, record, is_backup)

    def _on_stored(self, key: Any, value: Any, now: int) -> None:
        # Called when a queued write reached the backing store (from the flusher's thread,
        # if it has one). The record in memory is that write's only if it holds the same
        # value object and no newer write of the key has been queued since: the owner may
        # have put the same object again (a small int, say) before this listener ran.
        record = self._engine.get(key)
        if (
            record is not None
            and record.value is value
            and self._data_store.is_loadable(key, self._name)
        ):
            record.metadata.on_store(now)

    def _live(self, key: Any, now: int, is_backup: bool = False) -> Record | None:
        """The record under ``key`` if it is live at ``now``; an expired one is removed."""
        record = self._engine.get(key)
        if record is None:
            return None
        md = record.metadata
        if md.ttl_millis or md.max_idle_millis:
            reason = md.expiry_reason(now)
            if reason is not _NOT:
                self._expire(key, record, reason, is_backup)
                return None
        return record

    # --- core CRUD ----------------------------------------------------------------------

    def get(self, key: Any, touch: bool = False) -> Record | None:
        """The live record under ``key``, loading it from the data store on a miss.

        ``touch=True`` counts a hit on the record and restarts its idle clock. An expired
        record is removed (``on_expire``) and treated as missing.
        """
        record = self._engine_get(key)
        if record is not None:
            md = record.metadata
            ttl = md.ttl_millis
            idle = md.max_idle_millis
            if ttl or idle:
                now = self._now()
                if (ttl and now - md.last_update_time > ttl) or (
                    idle and now - md.last_access_time > idle
                ):
                    self._expire(key, record, md.expiry_reason(now), False)
                    record = None
                elif touch:
                    md.hits += 1
                    md.last_access_time = now
                    if self._tracker is not None:
                        self._tracker.on_access(key, md, now)
            elif touch:
                now = self._now()
                md.hits += 1
                md.last_access_time = now
                if self._tracker is not None:
                    self._tracker.on_access(key, md, now)
            if record is not None:
                self.stats.hits += 1
                return record
        self.stats.misses += 1
        if self._ds_null:
            return None
        return self._load(key)

    def _no_reset_since(self, epoch: int) -> bool:
        """Whether no reset() of the data store was under way at ``epoch`` (its
        ``reset_epoch`` read before a write or load) or has begun since: only then does a
        True from ``is_loadable`` mean that the write was stored, not dropped."""
        return not epoch & 1 and getattr(self._data_store, "reset_epoch", 0) == epoch

    def _load(self, key: Any) -> Record | None:
        epoch = getattr(self._data_store, "reset_epoch", 0)  # a reset() meanwhile drops, not stores
        load_entry = self._load_entry
        if load_entry is not None:
            entry = load_entry(self._name, key)
        else:  # a data store that only knows values
            loaded = self._data_store.load(self._name, key)
            entry = None if loaded is None else (loaded, 0)
        if entry is None:
            return None
        value, expiration_time = entry
        now = self._clock.now_millis()
        md = RecordMetadata.new(now, estimate_cost(key, value))
        # A stored expiration keeps counting: the loaded record expires when the stored row
        # would have, after ``expiration_time``.
        if expiration_time:
            left = expiration_time - now
            if left < 0:  # the row expired between the load and now
                return None
            if left == 0:  # live now, expired 1 ms later (a TTL of 0 would mean "never")
                md.last_update_time = now - 1
            md.ttl_millis = max(1, left)
        else:
            md.ttl_millis = self._default_ttl
        md.max_idle_millis = self._default_idle
        loadable = self._data_store.is_loadable(key, self._name)
        if loadable and self._no_reset_since(epoch):
            md.on_store(now)
        record = Record(value, md)
        self._engine.put(key, record)
        if (
            not loadable
            and self._data_store.is_loadable(key, self._name)
            and self._no_reset_since(epoch)
        ):
            md.on_store(now)  # its queued write was stored meanwhile (a flusher thread)
        self._track_insert(key, md, now)
        self.stats.loads += 1
        if self._observer.observers:
            self._observer.on_load(key, record, False)
        if self._bounded:
            self._evict_if_needed(key, now)
        return record

    def exists_in_memory(self, key: Any) -> bool:
        """Whether ``key`` is in memory (no load, no expiry check)."""
        return self._engine.contains_key(key)

    def put(
        self,
        key: Any,
        value: Any,
        expiry: ExpiryPolicy = _NONE_POLICY,
        provenance: CallerProvenance = _CLIENT,
    ) -> Any:
        """Store ``value`` under ``key``; return the previous live value or None.

        Raises :class:`~toolkit.errors.InvalidArgumentError` for a None value, an unhashable
        key, a bad ``expiry`` or ``provenance``; the data store may refuse the value
        (:class:`~toolkit.errors.UnsupportedValueError`) or a full queue
        (:class:`~toolkit.errors.QueueFullError`). A refused put changes nothing.
        """
        if value is None:
            raise InvalidArgumentError(f"value must not be None (key {key!r}); use remove()")
        if type(expiry) is not ExpiryPolicy:
            raise InvalidArgumentError(f"expiry must be an ExpiryPolicy, got {expiry!r}")
        if type(provenance) is not CallerProvenance:
            raise InvalidArgumentError(f"provenance must be a CallerProvenance, got {provenance!r}")
        try:
            hash(key)
        except TypeError:
            raise InvalidArgumentError(
                f"key must be hashable, got {type(key).__name__} {key!r}"
            ) from None
        now = self._now()
        ttl = expiry.ttl_millis or self._default_ttl
        idle = expiry.max_idle_millis or self._default_idle
        stored = queued = False
        epoch = 0
        if not self._ds_null and (provenance is _CLIENT or provenance is _CRDT_MERGE):
            epoch = getattr(self._data_store, "reset_epoch", 0)  # see the is_loadable check below
            stored = self._data_store.add(self._name, key, value, now + ttl if ttl else 0, now)
            queued = not stored
        elif provenance is CallerProvenance.LOAD and not self._ds_null:
            # A LOAD put's value came from the backing store: clean, unless a newer write of
            # the key is still queued there (then the stored row is not the latest write).
            stored = self._data_store.is_loadable(key, self._name)
        md = RecordMetadata(0, now, now, now, 0, 0, estimate_cost(key, value), ttl, idle)
        record = Record(value, md)
        old = self._engine_put(key, record)
        if old is not None:
            omd = old.metadata
            if omd.ttl_millis or omd.max_idle_millis:
                reason = omd.expiry_reason(now)
                if reason is not _NOT:
                    # The previous record had expired: it leaves as an expiry, this is an insert.
                    self._note_expired(key, old, reason, False)
                    old = None
        observers = self._observer.observers
        if old is None:
            if ttl or idle:
                self._expirable_count += 1
            if self._expiry_tracking and (self._expiry.tracks_removes or not (ttl or idle)):
                self._expiry.on_put(key, md)
            if self._tracker is not None:
                self._tracker.on_insert(key, md, now)
            self.stats.inserts += 1
            if stored:
                md.on_store(now)
            if observers:
                self._observer.on_put(key, record, None, False)
            old_value = None
        else:
            omd = old.metadata
            md.version = omd.version + 1
            md.creation_time = omd.creation_time
            md.hits = omd.hits
            md.last_stored_time = omd.last_stored_time
            md.stored_version = omd.stored_version
            md.frequency = omd.frequency
            was_expirable = bool(omd.ttl_millis or omd.max_idle_millis)
            if was_expirable != bool(ttl or idle):
                self._expirable_count += -1 if was_expirable else 1
            if self._expiry_tracking:
                self._expiry.on_put(key, md)
            if self._tracker is not None:
                self._tracker.on_access(key, md, now)
            self.stats.updates += 1
            if stored:
                md.on_store(now)
            old_value = old.value
            if observers:
                self._observer.on_update(key, record, old_value, value, False)
        if (
            queued
            and self._data_store.is_loadable(key, self._name)
            and self._no_reset_since(epoch)
        ):
            # A flusher thread stored the write after add() queued it, before this record
            # and its version were in place (its listener found the old record, or marked
            # this one before the version was set): not queued any more means stored, unless
            # a reset() (on another thread) dropped it meanwhile.
            md.on_store(now)
        if observers and provenance is _REPLICATION:
            self._observer.on_replication_put(key, record, True)
        if self._bounded and (
            (self._max_count and self._engine_len() > self._max_count)
            or (self._max_cost and self._engine.estimated_cost() > self._max_cost)
        ):
            self._evict_if_needed(key, now)
        return old_value

    def remove(self, key: Any, provenance: CallerProvenance = _CLIENT) -> Any:
        """Remove ``key``; return its live value (loaded from the data store if it is not in
        memory) or None. CLIENT and CRDT_MERGE removals are passed to the data store."""
        if type(provenance) is not CallerProvenance:
            raise InvalidArgumentError(f"provenance must be a CallerProvenance, got {provenance!r}")
        now = self._clock.now_millis()
        record = self._live(key, now)
        old_value = record.value if record is not None else None
        if not self._ds_null and provenance.writes_through:
            if record is None:
                old_value = self._data_store.load(self._name, key)
            self._data_store.remove(self._name, key, now)
        if record is not None:
            self._engine.remove(key)
            self._track_drop(key, record.metadata)
            self.stats.removes += 1
            if self._observer.observers:
                self._observer.on_remove(key, record, False)
        return old_value

    def put_backup(self, key: Any, record: Record, provenance: CallerProvenance = _BACKUP) -> None:
        """Store a record replicated from the primary, metadata as given."""
        if not isinstance(record, Record):
            raise InvalidArgumentError(f"record must be a Record, got {record!r}")
        if type(provenance) is not CallerProvenance:
            raise InvalidArgumentError(f"provenance must be a CallerProvenance, got {provenance!r}")
        now = self._clock.now_millis()
        md = record.metadata
        if not self._ds_null and provenance.writes_through:
            ttl = md.ttl_millis
            self._data_store.add_backup(
                self._name, key, record.value, md.last_update_time + ttl if ttl else 0, now
            )
        old = self._engine.put(key, record)
        if old is not None:
            self._track_drop(key, old.metadata)
        self._track_insert(key, md, now)
        if self._observer.observers:
            self._observer.on_put(key, record, old.value if old is not None else None, True)
        if self._bounded:
            self._evict_if_needed(key, now, is_backup=True)

    def remove_backup(self, key: Any, provenance: CallerProvenance = _BACKUP) -> None:
        """Remove a backup record."""
        if type(provenance) is not CallerProvenance:
            raise InvalidArgumentError(f"provenance must be a CallerProvenance, got {provenance!r}")
        now = self._clock.now_millis()
        if not self._ds_null and provenance.writes_through:
            self._data_store.remove_backup(self._name, key, now)
        record = self._engine.remove(key)
        if record is not None:
            self._track_drop(key, record.metadata)
            if self._observer.observers:
                self._observer.on_remove(key, record, True)

    # --- batch and iteration ---------------------------------------------------------------

    def get_all(self, keys: Iterable[Any]) -> list[tuple[Any, Record]]:
        """(key, record) for each live key of ``keys`` (loading misses), without touching."""
        out = []
        for key in keys:
            record = self.get(key, False)
            if record is not None:
                out.append((key, record))
        return out

    def fetch_keys(self, cursor: IterationCursor, size: int) -> FetchResult[Any]:
        """A page of keys from the engine, expired ones left out."""
        _check_page(cursor, size)
        page = self._engine.fetch_entries(cursor, size)
        now = self._clock.now_millis()
        keys = [k for k, r in page.items if not _is_expired(r.metadata, now)]
        return FetchResult(keys, page.next_cursor)

    def fetch_entries(self, cursor: IterationCursor, size: int) -> FetchResult[tuple[Any, Record]]:
        """A page of (key, record) from the engine, expired ones left out."""
        _check_page(cursor, size)
        page = self._engine.fetch_entries(cursor, size)
        now = self._clock.now_millis()
        items = [(k, r) for k, r in page.items if not _is_expired(r.metadata, now)]
        return FetchResult(items, page.next_cursor)

    def for_each(self, consumer: Callable[[Any, Record], None], is_backup: bool = False) -> None:
        """Call ``consumer(key, record)`` for every live entry (a snapshot; expired skipped)."""
        now = self._clock.now_millis()
        for key, record in self._engine.snapshot_iter():
            if not _is_expired(record.metadata, now):
                consumer(key, record)

    def metadata_rows(self) -> list[dict[str, Any]]:
        """One dict per entry in memory (key, value and metadata): ``pd.DataFrame(rows)``."""
        now = self._clock.now_millis()
        rows = []
        for key, record in self._engine.snapshot_iter():
            row = {"key": key, "value": record.value}
            row.update(record.metadata.as_dict())
            row["expired"] = _is_expired(record.metadata, now)
            rows.append(row)
        return rows

    # --- size and cost --------------------------------------------------------------------

    def size(self) -> int:
        """Entries in memory (expired-but-not-yet-removed ones included)."""
        return self._engine.len()

    def is_empty(self) -> bool:
        """Whether no entry is in memory."""
        return self._engine.is_empty()

    def owned_entry_cost(self) -> int:
        """Estimated bytes of every entry in memory."""
        return self._engine.estimated_cost()

    # --- expiry ---------------------------------------------------------------------------

    def has_expired(self, key: Any, now: int, is_backup: bool = False) -> ExpiryReason:
        """Why ``key`` is expired at ``now`` (NOT_EXPIRED if it is live or absent)."""
        record = self._engine.get(key)
        if record is None:
            return _NOT
        return record.metadata.expiry_reason(now)

    def evict_expired(self, percentage: int, now: int, is_backup: bool = False) -> int:
        """Sweep for expired entries with the configured strategy; return how many were removed.

        ``percentage`` (0..100) bounds the sweep as the strategy defines; 100 removes every
        entry expired at ``now``.
        """
        check_percentage(percentage)
        check_non_negative_int("now", now)
        if percentage == 0 or not self._expirable_count:
            return 0
        removed = 0
        get = self._engine.get
        for key in self._expiry.collect(percentage, now):
            record = get(key)
            if record is None:
                continue
            reason = record.metadata.expiry_reason(now)
            if reason is not _NOT:
                self._expire(key, record, reason, is_backup)
                removed += 1
        return removed

    def is_expirable(self) -> bool:
        """Whether any entry can expire (store-wide defaults or per-entry policies)."""
        return bool(self._default_ttl or self._default_idle or self._expirable_count)

    def expired_present_count(self, now: int) -> int:
        """Entries expired at ``now`` but still in memory (ground truth for plots)."""
        if not self._expirable_count:
            return 0
        get = self._engine.get
        count = 0
        for key in self._expiry.expirable_keys():
            record = get(key)
            if record is not None and _is_expired(record.metadata, now):
                count += 1
        return count

    # --- eviction ---------------------------------------------------------------------------

    def evict(self, key: Any, is_backup: bool = False) -> Any:
        """Evict ``key`` (``on_evict``); return its value or None if absent."""
        record = self._engine.get(key)
        if record is None:
            return None
        self._evict_record(key, record, is_backup)
        return record.value

    def evict_all(self, is_backup: bool = False) -> int:
        """Evict every entry; return how many."""
        count = 0
        for key, record in self._engine.snapshot_iter():
            self._evict_record(key, record, is_backup)
            count += 1
        return count

    def should_evict(self) -> bool:
        """Whether the store is at or over a limit (the seed's ``len >= max_entry_count``)."""
        if self._max_count and self._engine.len() >= self._max_count:
            return True
        return bool(self._max_cost and self._engine.estimated_cost() >= self._max_cost)

    # --- lifecycle -------------------------------------------------------------------------

    def init(self) -> None:
        """Nothing to prepare: the store is ready when constructed."""

    def _drop_all_indexes(self) -> None:
        self._expiry.clear()
        if self._tracker is not None:
            self._tracker.clear()
        self._expirable_count = 0

    def clear(self, is_backup: bool = False) -> int:
        """Remove every entry from memory (``on_clear``); return how many there were.

        Dirty records are handed to the data store first, so clearing loses no write.
        """
        count = self._engine.len()
        self._observer.on_clear()
        if not self._ds_null:
            for key, record in self._engine.snapshot_iter():
                self._keep_dirty(key, record, is_backup)
        self._engine.clear()
        self._drop_all_indexes()
        return count

    def reset(self) -> None:
        """Back to empty, as after a migration (``on_reset``); counters restart."""
        self._observer.on_reset()
        self._engine.clear()
        self._drop_all_indexes()
        self.stats = StoreStats()

    def destroy(self) -> None:
        """Release everything (``on_destroy``)."""
        self._observer.on_destroy(False)
        self._engine.destroy()
        self._drop_all_indexes()

    # --- data store integration ------------------------------------------------------------

    def soft_flush(self) -> int:
        """Ask the data store to store its queued writes soon; see ``MapDataStore.soft_flush``."""
        return self._data_store.soft_flush()

    def storage(self) -> StorageEngine:
        """Layer 1."""
        return self._engine

    def map_data_store(self) -> MapDataStore:
        """Layer 3."""
        return self._data_store

    def __len__(self) -> int:
        return self._engine.len()

    def __repr__(self) -> str:
        return (
            f"DefaultRecordStore(name={self._name!r}, partition_id={self._partition_id}, "
            f"size={self._engine.len()}, cost={self._engine.estimated_cost()})"
        )


def _check_page(cursor: IterationCursor, size: int) -> None:
    if not isinstance(cursor, IterationCursor):
        raise InvalidArgumentError(f"cursor must be an IterationCursor, got {cursor!r}")
    if check_non_negative_int("size", size) == 0:
        raise InvalidArgumentError(f"size must be >= 1, got {size!r}")


def _is_expired(md: RecordMetadata, now: int) -> bool:
    # Same rule as RecordMetadata.expiry_reason, inlined: iteration calls this per entry.
    ttl = md.ttl_millis
    idle = md.max_idle_millis
    return bool(
        (ttl and now - md.last_update_time > ttl) or (idle and now - md.last_access_time > idle)
    )
