"""Write-behind persistence: :class:`WriteBehindDataStore` queues writes and stores them later,
in batches, through a write-through inner store (Hazelcast's write-behind MapStore)."""

from __future__ import annotations

import atexit
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any

from ..clocks import Clock, SystemClock, check_clock
from ..errors import (
    DataStoreError,
    InvalidArgumentError,
    QueueFullError,
    UnsupportedValueError,
    check_non_negative_int,
)
from .base import DataStoreStats, MapDataStore, StoredListener
from .batch import MAX_MILLIS, StoreOp, check_keys, check_millis

__all__ = ["WriteBehindDataStore", "flush_process"]

_QKey = tuple[str, bool, Any]
#: The rows one map's primaries (False) or backups (True) are: ``(map_name, is_backup)``.
_Rows = tuple[str, bool]
#: ``add`` queues the writes it handed over itself once this many wait (with coalescing).
_DRAIN_AT = 512
#: The longest background flusher interval (ms): one day.
_MAX_FLUSHER_MILLIS = 86_400_000
#: Write-behind stores not yet closed, held until they are: closed at interpreter exit.
_OPEN: set[WriteBehindDataStore] = set()


@atexit.register
def _close_at_exit() -> None:
    """Store every open store's queue first (stores may share an inner store, which the first
    close would close), then close those whose queue was stored."""
    stored = []
    for store in list(_OPEN):
        try:
            with store._lock:
                store._set_closing(True)  # no more writes from threads still running
            store.stop_flusher()
            store.hard_flush()
        except Exception as err:  # nothing to raise to at exit: say what stays unstored
            print(
                f"toolkit: could not store the write-behind queue of {store!r} at exit: {err}",
                file=sys.stderr,
            )
        else:
            stored.append(store)
    for store in stored:
        try:
            store.close()
        except Exception as err:
            print(f"toolkit: could not close {store!r} at exit: {err}", file=sys.stderr)


class _Queued(StoreOp):
    """A queued operation. ``queued`` is True while it waits in the queue (with coalescing, a
    later write of its key is merged into it then) and False once it is in flight or set
    aside (a later write is then a new operation)."""

    __slots__ = ("queued",)
    queued: bool


class WriteBehindDataStore:
    """A :class:`~toolkit.datastores.MapDataStore` that queues writes and deletes and stores
    them in the ``inner`` (write-through) store after ``write_delay_millis``.

    * ``add``/``remove`` (and their backup forms) validate the value, queue the operation due
      at ``now + write_delay_millis`` and return False (not yet durable).
    * :meth:`flush_due` stores every due operation, ``write_batch_size`` per batch, each batch
      one call of the inner store's ``store_batch`` (one transaction) when it has one. A SimPy
      process (:func:`flush_process`), a loop of your own, or the optional background thread
      (:meth:`start_flusher`) calls it.
    * ``write_coalescing=True``: one queued operation per key; a later write replaces the
      queued one (``stats.coalesced``) and keeps its place and due time, so a hot key is not
      postponed forever (as Hazelcast does). The queue is bounded by the number of keys.
    * ``write_coalescing=False``: every operation is kept, in order; when ``queue_capacity``
      operations are queued or being stored, a write or delete is refused with
      :class:`~toolkit.errors.QueueFullError` and nothing changes (Hazelcast's bounded
      non-coalescing queue; ``queue_capacity`` does not apply with coalescing).
    * While a key has a queued or in-flight operation :meth:`is_loadable` is False and
      :meth:`load` answers from the queue (None for a queued delete or an expired write), so a
      read never sees a stale row. A dirty record evicted from memory (:meth:`flush_key`)
      leaves its write staged in the queue: nothing is lost and a later ``get`` loads the
      newest value.
    * What a flush cannot store stays queued, in order, and is retried by the next flush
      (``stats.failures``; the error is kept in :attr:`last_error`). When a batch fails with
      anything but :class:`~toolkit.errors.DataStoreError` (which says the inner store
      itself is failing), its operations are first tried one at a time, as Hazelcast falls
      back from ``storeAll`` to ``store``: one operation the inner store refuses (say a value
      it cannot encode) stays queued with the later operations of its key, and the others
      are stored; the rest of that flush passes over the key, so it holds back no other
      key's operations, whatever the batch size.
    * When a queued primary write reaches the inner store and no newer write of its key is
      queued, every listener of its map is called as ``listener(key, value, now)``; the record
      store uses this to mark the record clean.

    Durability: a queued write is in memory only until it is stored; :meth:`hard_flush`
    stores everything now and :meth:`close` (or leaving the ``with`` block) calls it, then
    closes the inner store when ``close_inner`` is true (when the flush fails, close raises
    and closes nothing, so nothing queued is lost). Values must not be mutated after
    they are written (the queue holds the object, as the record does).

    Without a ``clock`` the store reads the clock of the first record store built over it
    (:meth:`bind_clock`), else the system clock; given one, it binds an inner store made
    without a clock to it.

    Thread safety: queue state is guarded by a lock and flushes are serialised, so the
    background flusher may run while the owner writes; listeners are then called from the
    flusher thread. With coalescing, ``add`` does not take the lock: it hands the write over
    (appends it to a list, which is atomic) and the next call that reads or changes the queue
    (a flush, a load, :attr:`stats`, ...) queues what was handed over, in order, under the
    lock (:meth:`is_loadable` asked about the key handed over last answers without it). A
    write handed over as :meth:`close` begins is either stored by the close or taken back and
    refused (:class:`~toolkit.errors.DataStoreError`), never acknowledged and lost.
    """

    def __init__(
        self,
        inner: MapDataStore,
        clock: Clock | None = None,
        write_delay_millis: int = 1_000,
        write_batch_size: int = 100,
        write_coalescing: bool = True,
        queue_capacity: int = 50_000,
        *,
        close_inner: bool = True,
    ) -> None:
        if isinstance(inner, WriteBehindDataStore) or not hasattr(inner, "add"):
            raise InvalidArgumentError(f"inner must be a write-through MapDataStore, got {inner!r}")
        check_non_negative_int("write_delay_millis", write_delay_millis)
        check_non_negative_int("write_batch_size", write_batch_size)
        if write_batch_size < 1:
            raise InvalidArgumentError(f"write_batch_size must be >= 1, got {write_batch_size!r}")
        check_non_negative_int("queue_capacity", queue_capacity)
        if queue_capacity < 1:
            raise InvalidArgumentError(f"queue_capacity must be >= 1, got {queue_capacity!r}")
        if not isinstance(write_coalescing, bool):
            raise InvalidArgumentError(f"write_coalescing must be a bool, got {write_coalescing!r}")
        if not isinstance(close_inner, bool):
            raise InvalidArgumentError(f"close_inner must be a bool, got {close_inner!r}")
        check_clock(clock, "WriteBehindDataStore(inner, clock, write_delay_millis, ...)")
        self.inner = inner
        self.write_delay_millis = write_delay_millis
        self.write_batch_size = write_batch_size
        self._coalescing = write_coalescing
        self.queue_capacity = queue_capacity
        self.close_inner = close_inner
        self._stats = DataStoreStats()
        self.last_error: BaseException | None = None
        """The error of the last failed batch (None until one fails)."""
        self._clock: Clock = SystemClock() if clock is None else clock
        self._clock_given = clock is not None
        self._lock = threading.RLock()  # guards the queue, staging and listeners
        self._close_lock = threading.Lock()  # one close() at a time
        self._flush_lock = threading.Lock()  # one flush at a time: batches stored in order
        # the queue, oldest first (with coalescing, one operation per key: see _Queued)
        self._fifo: deque[_Queued] = deque()
        # the newest queued, in-flight or set-aside operation of each key, by map and key:
        # (map_name, is_backup) -> {key: op}. Two levels, so the per-put lookups hash and
        # compare the key alone, not a (map, backup, key) tuple built for each of them.
        self._newest: dict[_Rows, dict[Any, _Queued]] = {}
        self._inflight: list[_Queued] = []  # the staging area: the batch being stored
        self._parked: list[_Queued] = []  # refused operations, set aside during a flush
        self._parked_keys: set[_QKey] = set()  # their keys (later operations join them)
        self._listeners: dict[str, list[StoredListener]] = {}
        self._seq = 0
        self._generation = 0
        self._closed = False
        self._closing = False  # close() has begun: new writes are refused
        # Writes add() hands over without taking the lock (a list append is atomic), queued
        # in order, under the lock, by _drain() before anything reads or changes the queue.
        self._incoming: list[tuple[str, Any, Any, int, int, bool]] = []
        self._handing_over = write_coalescing  # coalescing, and not closing or closed
        self._check_value: Callable[[Any], bool | None] = inner.check_value
        # the background flusher: its thread, its stop signal and its interval (ms)
        self._flusher: tuple[threading.Thread, threading.Event, int] | None = None
        bind = getattr(inner, "bind_clock", None)
        if clock is not None and bind is not None:
            bind(clock)  # an inner store made without a clock reads this one
        _OPEN.add(self)

    @property
    def write_coalescing(self) -> bool:
        """Whether a later write of a queued key replaces it (fixed when the store is made)."""
        return self._coalescing

    @property
    def stats(self) -> DataStoreStats:
        """What this store has done so far (:class:`~toolkit.datastores.DataStoreStats`); a
        write counts as queued once ``add`` has returned. Read it through this property after
        the operations it should count: a reference kept from before may lag behind writes
        ``add`` handed over until the store is next used."""
        if self._incoming:
            with self._lock:
                self._drain()
        return self._stats

    # --- queueing -----------------------------------------------------------------------

    def _enqueue(
        self,
        map_name: str,
        key: Any,
        value: Any,
        expiration_time: int,
        now: int,
        backup: bool,
        bounded: bool = True,
        checked: bool = False,
        drain: bool = True,
    ) -> None:
        """Queue one operation (lock held by the caller), after the writes handed over before
        it (``drain``; :meth:`_drain` itself passes False)."""
        if drain and self._incoming:
            self._drain()
        if not self._coalescing and bounded:
            self._check_room(1, key)  # before anything changes
        seq = self._seq + 1  # committed once the operation is in place (see _drain)
        keys = self._keys(map_name, backup)  # before the op: is_loadable(key) looks in every map
        if self._coalescing:
            op = keys.get(key)
            if op is not None and (op.queued or self._half_placed(op)):
                # Coalesce into the waiting operation: it keeps its place and due time.
                op.value = value
                op.expiration_time = expiration_time
                op.seq = seq
                op.checked = checked
                self._seq = seq
                st = self._stats
                st.coalesced += 1
                st.queued += 1
                return
            qk = (map_name, backup, key)
            if self._parked_keys and qk in self._parked_keys:
                # the key's refused write is set aside in this flush: this one supersedes it
                # (counted by what the filter removed: a replay after an interrupt adds none)
                parked = self._parked
                self._parked = [p for p in parked if (p.map_name, p.is_backup, p.key) != qk]
                self._stats.coalesced += len(parked) - len(self._parked)
        op = _Queued(
            map_name, key, value, expiration_time, backup, now + self.write_delay_millis, seq, checked
        )
        op.queued = False  # until it is in the queue (an interrupted placing leaves no trace)
        keys[key] = op  # before the queue: a reader without the lock looks here
        self._fifo.append(op)
        op.queued = True
        self._seq = seq
        self._stats.queued += 1

    def _half_placed(self, op: _Queued) -> bool:
        """Whether ``op``, not flagged as queued, is in the queue all the same: the last
        operation there, placed by a drain that an interrupt stopped before it set the flag
        (the write is then queued again first). If so, set the flag now."""
        fifo = self._fifo
        if fifo and fifo[-1] is op:
            op.queued = True
            return True
        return False

    def _keys(self, map_name: str, backup: bool) -> dict[Any, _Queued]:
        """The newest operations of the keys of ``map_name``'s primaries or backups, made
        empty on first use (lock held)."""
        rows = (map_name, backup)
        keys = self._newest.get(rows)
        if keys is None:
            keys = self._newest[rows] = {}
        return keys

    def _newest_op(self, map_name: str, backup: bool, key: Any) -> _Queued | None:
        """The newest queued, in-flight or set-aside operation of ``key`` (None if none)."""
        keys = self._newest.get((map_name, backup))
        return None if keys is None else keys.get(key)

    def _check_room(self, n: int, key: Any) -> None:
        used = len(self._fifo) + len(self._inflight) + len(self._parked)
        if used + n > self.queue_capacity:
            self._stats.refused += n
            raise QueueFullError(
                f"write-behind queue is full ({used} of {self.queue_capacity} operations "
                f"queued); refused the operation on key {key!r}; flush or raise queue_capacity"
            )

    def _validate(self, map_name: Any, key: Any, value: Any, expiration_time: Any, now: Any = 0) -> None:
        if type(map_name) is not str:
            raise InvalidArgumentError(f"map_name must be a str, got {map_name!r}")
        try:
            hash(key)
        except TypeError:
            raise UnsupportedValueError(
                f"key {key!r} of type {type(key).__name__} cannot be stored: keys must be hashable"
            ) from None
        check_key = getattr(self.inner, "check_key", None)
        if check_key is not None:
            check_key(key)
        if value is not None:
            self._check_value(value)
        if type(expiration_time) is not int or not 0 <= expiration_time <= MAX_MILLIS:
            check_millis("expiration_time", expiration_time)
        if type(now) is not int or not 0 <= now <= MAX_MILLIS:
            check_millis("now", now)

    def _set_closing(self, closing: bool) -> None:
        """Begin or end closing (lock held): while closing, and once closed, add() takes the
        lock and is refused instead of handing writes over."""
        self._closing = closing
        self._handing_over = self._coalescing and not closing and not self._closed

    def _open(self) -> None:
        if self._closed:
            raise DataStoreError(f"{self!r} is closed")
        if self._closing:
            raise DataStoreError(f"{self!r} is closing: it stores what is queued and takes no more")

    def _add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int, backup: bool) -> bool:
        if value is None:
            raise InvalidArgumentError(f"value must not be None (key {key!r}); use remove()")
        tk = type(key)
        if (
            (tk is not str and tk is not int)
            or type(map_name) is not str
            or type(expiration_time) is not int
            or not 0 <= expiration_time <= MAX_MILLIS
            or type(now) is not int
            or not 0 <= now <= MAX_MILLIS
        ):
            self._validate(map_name, key, None, expiration_time, now)
        checked = self._check_value(value) is True
        with self._lock:
            if self._closed or self._closing:
                self._open()
            self._enqueue(map_name, key, value, expiration_time, now, backup, True, checked)
        return False

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        """Queue a write of ``value`` under ``key``, due at ``now + write_delay_millis`` (ms);
        return False (it is durable only once stored).

        Raises :class:`~toolkit.errors.UnsupportedValueError` for a value or key the inner
        store cannot encode and :class:`~toolkit.errors.QueueFullError` when a non-coalescing
        queue is full, in both cases before anything changes.
        """
        tk = type(key)
        if (
            value is None
            or (tk is not str and tk is not int)
            or type(map_name) is not str
            or type(expiration_time) is not int
            or type(now) is not int
            or (expiration_time | now) >> 63  # either is negative or beyond MAX_MILLIS
        ):
            return self._add(map_name, key, value, expiration_time, now, False)
        check = self._check_value  # an attribute, not a method: loaded, then called
        checked = check(value) is True
        if self._handing_over:
            # the hot path of every put: hand the write over without the lock (_drain
            # queues it), then look again, in case close() began meanwhile
            item = (map_name, key, value, expiration_time, now, checked)
            incoming = self._incoming
            incoming.append(item)
            if not self._handing_over:
                return self._take_back(item)
            if len(incoming) >= _DRAIN_AT:  # queue its own writes now and then: the list stays
                with self._lock:  # short, and a flusher thread is not left all the work
                    self._drain()
            return False
        with self._lock:
            if self._closed or self._closing:
                self._open()
            self._enqueue(map_name, key, value, expiration_time, now, False, True, checked)
        return False

    def _take_back(self, item: tuple[str, Any, Any, int, int, bool]) -> bool:
        """``add()`` handed ``item`` over as :meth:`close` began: refuse the write if it is
        still handed over (nothing changes), keep it if it is queued already (the close
        stores it), or if the store is open again (a close that failed)."""
        with self._lock:
            if not (self._closed or self._closing):
                return False
            incoming = self._incoming
            for i in range(len(incoming) - 1, -1, -1):
                if incoming[i] is item:
                    del incoming[i]
                    self._open()  # raises: closing or closed
            return False

    def _drain(self) -> None:
        """Queue the writes ``add()`` handed over, in the order it did (lock held). Once the
        store is closed they stay where they are, for their writers to take back."""
        incoming = self._incoming
        n = len(incoming)
        if not n or self._closed:
            return
        first = self._seq
        try:
            self._queue_handed_over(incoming[:n])  # writers append meanwhile: these n only
        finally:
            # The writes queued leave the list (all n, unless an exception such as a
            # KeyboardInterrupt stopped the loop: the rest wait for the next drain), and
            # only now: a reader that finds the list empty without the lock (is_loadable,
            # stats) may take it that every write the list held is queued.
            del incoming[: self._seq - first]

    def _queue_handed_over(self, items: list[tuple[str, Any, Any, int, int, bool]]) -> None:
        """Queue ``items``, writes ``add()`` handed over, in order (lock held). Each write is
        numbered (``_seq``) once it is in place: interrupted, this leaves the writes not yet
        numbered for :meth:`_drain` to keep, and applying one of them again changes nothing."""
        if self._parked_keys:  # a flush has set keys aside: the general path knows them
            for map_name, key, value, expiration_time, now, checked in items:
                self._enqueue(map_name, key, value, expiration_time, now, False, True, checked, False)
            return
        newest, append = self._newest, self._fifo.append
        delay = self.write_delay_millis
        first = seq = self._seq
        size = len(self._fifo)
        new_op = object.__new__
        last: Any = None  # the map of the keys below (the writes of a run mostly share one)
        keys: dict[Any, _Queued] = {}
        try:
            for map_name, key, value, expiration_time, now, checked in items:
                # as _enqueue, written out: this runs once per put
                if map_name is not last:
                    keys = newest.get((map_name, False))  # type: ignore[assignment]
                    if keys is None:  # before the op: is_loadable(key) looks in every map
                        keys = newest[(map_name, False)] = {}
                    last = map_name
                op = keys.get(key)
                if op is not None and (op.queued or self._half_placed(op)):
                    op.value = value
                    op.expiration_time = expiration_time
                    op.seq = seq + 1
                    op.checked = checked
                else:  # _Queued(...) field by field: a third of the cost of calling __init__
                    op = new_op(_Queued)
                    op.map_name = map_name
                    op.key = key
                    op.value = value
                    op.expiration_time = expiration_time
                    op.is_backup = False
                    op.due = now + delay
                    op.seq = seq + 1
                    op.checked = checked
                    op.queued = False  # until it is in the queue (see _enqueue)
                    keys[key] = op  # newest first: a reader without the lock
                    append(op)
                    op.queued = True
                seq += 1
        finally:
            # (an op placed just before an interruption counts as new here and as coalesced
            # when its write is queued again: the counts agree once it is)
            self._seq = seq
            st = self._stats
            st.queued += seq - first
            st.coalesced += seq - first - (len(self._fifo) - size)

    def add_backup(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        """As :meth:`add`, for a backup row."""
        return self._add(map_name, key, value, expiration_time, now, True)

    def _remove(self, map_name: str, key: Any, now: int, backup: bool) -> bool:
        self._validate(map_name, key, None, 0, now)
        with self._lock:
            self._open()
            self._enqueue(map_name, key, None, 0, now, backup)
        return False

    def remove(self, map_name: str, key: Any, now: int) -> bool:
        """Queue the deletion of ``key``; return False. Raises
        :class:`~toolkit.errors.QueueFullError` (nothing changed) when a non-coalescing queue
        is full."""
        return self._remove(map_name, key, now, False)

    def remove_backup(self, map_name: str, key: Any, now: int) -> bool:
        """As :meth:`remove`, for a backup row."""
        return self._remove(map_name, key, now, True)

    def remove_all(self, map_name: str, keys: Sequence[Any]) -> None:
        """Queue the deletion of every one of ``keys`` (all or none: a non-coalescing queue
        without room for all of them raises :class:`~toolkit.errors.QueueFullError`)."""
        check_keys(keys)
        keys = list(keys)
        for key in keys:
            self._validate(map_name, key, None, 0)
        now = self._clock.now_millis()
        with self._lock:
            self._open()
            if not self._coalescing and keys:
                self._check_room(len(keys), keys[0])
            for key in keys:
                self._enqueue(map_name, key, None, 0, now, False, bounded=False)

    # --- reads --------------------------------------------------------------------------

    def _from_queue(self, entry: tuple[Any, int]) -> Any | None:
        value, exp = entry
        if value is None:
            return None
        if exp and self._clock.now_millis() > exp:
            return None
        return value

    def _queued_op(self, map_name: str, key: Any) -> tuple[Any, int] | None:
        """(value, expiration time) of the newest queued or in-flight operation of a primary
        ``key``, read together under the lock (a coalescing write updates both), if any
        (None for a key that cannot be queued: an unhashable one was never stored)."""
        try:
            with self._lock:
                self._drain()
                op = self._newest_op(map_name, False, key)
                if op is None:
                    return None
                self._stats.queue_reads += 1
                return op.value, op.expiration_time
        except TypeError:
            return None

    def _count_loads(self, trips: int, rows: int) -> None:
        """Count round trips to the inner store and the rows they returned (under the lock:
        readers on several threads lose no count)."""
        with self._lock:
            st = self._stats
            st.loads += trips
            st.keys_loaded += rows

    def load(self, map_name: str, key: Any) -> Any | None:
        """The newest value of ``key``: the queued (or in-flight) operation's if there is one
        (None for a delete or an expired write), else the inner store's row."""
        op = self._queued_op(map_name, key)
        if op is not None:
            return self._from_queue(op)
        value = self.inner.load(map_name, key)
        self._count_loads(1, value is not None)
        return value

    def load_entry(self, map_name: str, key: Any) -> tuple[Any, int] | None:
        """As :meth:`load`, with the write's absolute ``expiration_time`` (ms, 0 = never)."""
        queued = self._queued_op(map_name, key)
        if queued is not None:
            value = self._from_queue(queued)
            return None if value is None else (value, queued[1])
        loader = getattr(self.inner, "load_entry", None)
        if loader is None:
            value = self.inner.load(map_name, key)
            entry = None if value is None else (value, 0)
        else:
            entry = loader(map_name, key)
        self._count_loads(1, entry is not None)
        return entry

    def load_all(self, map_name: str, keys: Sequence[Any]) -> list[tuple[Any, Any]]:
        """``(key, value)`` for each of ``keys`` that has a value, queued operations first,
        the rest from the inner store in one ``load_all``; in the order given."""
        found: dict[Any, Any] = {}
        rest: list[Any] = []
        keys = [key for key in keys if _hashable(key)]  # an unhashable key was never stored
        with self._lock:
            self._drain()
            newest = self._newest.get((map_name, False), {})
            ops = [(key, newest.get(key)) for key in keys]
            entries = [(key, None if op is None else (op.value, op.expiration_time)) for key, op in ops]
        queue_reads = 0
        for key, entry in entries:
            if key in found:
                continue
            if entry is None:
                rest.append(key)
                continue
            found[key] = self._from_queue(entry)
            queue_reads += 1
        if queue_reads:
            with self._lock:
                self._stats.queue_reads += queue_reads
        if rest:
            loaded = self.inner.load_all(map_name, rest)
            # the inner store's round trips: one per keys_per_load keys (SQLite: 500), or one
            per = getattr(self.inner, "keys_per_load", 0)
            trips = -(-len(dict.fromkeys(rest)) // per) if per else 1
            self._count_loads(trips, len(loaded))
            found.update(loaded)
        out: list[tuple[Any, Any]] = []
        seen: set[Any] = set()
        for key, _ in ops:
            if key in seen:
                continue
            seen.add(key)
            value = found.get(key)
            if value is not None:
                out.append((key, value))
        return out

    def is_loadable(self, key: Any, map_name: str | None = None) -> bool:
        """False while a primary write or delete of ``key`` (of ``map_name``, or of any map
        when None) is queued or being stored: the inner row may be stale."""
        incoming = self._incoming
        if incoming:
            last = incoming[-1:]  # [] if drained meanwhile
            if last and self._handing_over:
                # The write add() handed over last is of this key (a record store asks right
                # after its put): not stored yet, and no need to queue the hand-overs first.
                # (Handed-over keys are a str or an int: == is theirs.)
                queued_map, k = last[0][:2]
                if (k is key or (type(k) is type(key) and k == key)) and (
                    map_name is None or queued_map == map_name
                ):
                    return False
            with self._lock:
                self._drain()
        newest = self._newest
        try:
            if map_name is not None:
                keys = newest.get((map_name, False))
                return keys is None or key not in keys
            # (a tuple of the maps at once: a drain may add one meanwhile)
            return not any(key in keys for (_, backup), keys in tuple(newest.items()) if not backup)
        except TypeError:  # an unhashable key was never queued (nor stored)
            return True

    def pending_operation_count(self) -> int:
        """Operations queued or being stored (with coalescing: at most one per key)."""
        with self._lock:  # a batch moving from the queue to the staging area is counted once
            self._drain()
            return len(self._fifo) + len(self._inflight) + len(self._parked)

    def next_due(self) -> int | None:
        """When the oldest queued operation becomes due (ms), or None if nothing is queued."""
        with self._lock:
            self._drain()
            if self._parked:
                return self._parked[0].due
            if self._fifo:
                return self._fifo[0].due
            return None

    def queued(self) -> list[StoreOp]:
        """A snapshot of the queued operations, oldest first (in-flight ones not included)."""
        with self._lock:
            self._drain()
            return [*self._parked, *self._fifo]

    # --- flushing -----------------------------------------------------------------------

    def _take(self, now: int, everything: bool) -> tuple[list[_Queued], int]:
        """Move up to one batch of due operations from the queue to the staging area."""
        size = self.write_batch_size
        batch: list[_Queued] = []
        with self._lock:
            self._drain()
            fifo = self._fifo
            self._inflight = batch  # the staging area, filled below (see _flush)
            try:
                if self._coalescing:
                    pop, append = fifo.popleft, batch.append
                    for _ in range(min(size, len(fifo))):
                        op = fifo[0]
                        if op.due > now and not everything:
                            break
                        append(op)  # in the batch before it leaves the queue (see below)
                        pop()
                        op.queued = False  # in flight: a later write is new
                else:
                    parked_keys = self._parked_keys
                    while fifo and len(batch) < size and (everything or fifo[0].due <= now):
                        op = fifo[0]
                        if parked_keys and (op.map_name, op.is_backup, op.key) in parked_keys:
                            self._parked.append(op)  # queued after its key was set aside: behind it
                        else:
                            batch.append(op)
                        fifo.popleft()
            except BaseException:  # a KeyboardInterrupt: what this took goes back, in order
                self._untake(batch)
                raise
            return batch, self._generation

    def _untake(self, batch: list[_Queued]) -> None:
        """Put back at the front of the queue the operations an interrupted :meth:`_take` had
        taken into ``batch`` (lock held). Each was recorded in the batch, or set aside, before
        it left the queue, so the last one recorded may still be at the front: it stays there
        (and out of the batch, or of the set-aside ones)."""
        fifo, parked = self._fifo, self._parked
        if fifo and batch and fifo[0] is batch[-1]:
            batch.pop()
        if fifo and parked and fifo[0] is parked[-1]:
            parked.pop()
        fifo.extendleft(reversed(batch))
        self._inflight = []
        if self._coalescing:
            for op in batch:
                op.queued = True

    def _park(self, keys: set[_QKey], generation: int) -> None:
        """Set aside, for the rest of this flush, the queued operations of ``keys`` (keys the
        inner store refused, whose operations the failed batch has just put back at the
        front): later batches then pass over them at no cost. They stay pending and readable
        (:attr:`_newest`); :meth:`_unpark` puts them back in front. Without coalescing, a
        later operation of one of these keys joins them when a batch reaches it (it must not
        be stored before them); with coalescing a write queued meanwhile is newer than the
        one set aside, which it supersedes."""
        with self._lock:
            self._drain()
            if generation != self._generation:
                return  # reset() dropped the queue meanwhile
            self._parked_keys |= keys
            parked, fifo = self._parked, self._fifo
            try:
                while fifo and (fifo[0].map_name, fifo[0].is_backup, fifo[0].key) in keys:
                    op = fifo[0]
                    parked.append(op)  # set aside before it leaves the queue (see _untake)
                    fifo.popleft()
                    op.queued = False  # a later write is new
            except BaseException:  # a KeyboardInterrupt: _flush puts the set-aside ones back
                self._untake([])
                raise

    def _unpark(self) -> None:
        """Put the parked operations back at the front of the queue, in their order (at the
        end of a flush, when no batch is in flight)."""
        with self._lock:
            parked, self._parked = self._parked, []
            self._parked_keys = set()
            if parked:
                self._put_back(parked, self._generation)  # a reset() since would have emptied it

    def _write(self, batch: Sequence[StoreOp], now: int) -> None:
        store_batch = getattr(self.inner, "store_batch", None)
        if store_batch is not None:
            store_batch(batch, now)
            return
        inner = self.inner
        for op in batch:
            if op.value is None:
                (inner.remove_backup if op.is_backup else inner.remove)(op.map_name, op.key, now)
            else:
                (inner.add_backup if op.is_backup else inner.add)(
                    op.map_name, op.key, op.value, op.expiration_time, now
                )

    def _store(
        self, batch: list[_Queued], generation: int, now: int
    ) -> tuple[int, bool, set[_QKey], bool]:
        """Store one batch; return (operations stored, whether all of them were, the keys
        whose operations the inner store refused, whether the inner store itself failed).

        A batch of several operations that fails with anything but a
        :class:`~toolkit.errors.DataStoreError` is tried again one operation at a time
        (:meth:`_one_by_one`). What is not stored goes back to the front of the queue."""
        inner_stats = getattr(self.inner, "stats", None)
        bytes_before = getattr(inner_stats, "bytes_written", 0)
        try:
            self._write(batch, now)
        except BaseException as err:  # kept queued and retried: a failed batch is never dropped
            if not isinstance(err, Exception):  # KeyboardInterrupt, SystemExit: put it back
                with self._lock:
                    self._put_back(batch, generation)
                raise
            self.last_error = err
            # a DataStoreError says the inner store is failing; a lone operation that fails
            # with anything but a refusal of its value or key says so too
            down = isinstance(err, DataStoreError) or (
                len(batch) == 1 and not isinstance(err, UnsupportedValueError)
            )
            if len(batch) == 1 or down:
                with self._lock:
                    self._stats.failures += 1
                    self._put_back(batch, generation)
                if down:
                    return 0, False, set(), True
                op = batch[0]
                return 0, False, {(op.map_name, op.is_backup, op.key)}, False
            try:
                stored, held, failures, refused, down = self._one_by_one(batch, now)
            except BaseException:  # interrupted: all of it back (storing a row twice is harmless)
                with self._lock:
                    self._put_back(batch, generation)
                raise
            trips = len(stored)
        else:
            stored, held, failures, trips = batch, [], 0, 1
            refused, down = set(), False
        notify: list[_Queued] = []
        with self._lock:
            self._drain()  # a newer write handed over meanwhile keeps its key dirty
            self._inflight = []
            st = self._stats
            if held:
                self._put_back(held, generation)
            st.failures += failures
            st.write_batches += trips
            st.bytes_written += getattr(inner_stats, "bytes_written", 0) - bytes_before
            deletes = 0
            newest, listeners = self._newest, self._listeners
            done: set[_QKey] = set()
            unique = self._coalescing  # then a batch holds each key at most once
            last: Any = None  # the map and role of the keys below (a batch mostly has one)
            last_backup: Any = None
            keys: dict[Any, _Queued] = {}
            for op in reversed(stored):  # the last operation of a key in the batch decides
                map_name, backup, key, value = op.map_name, op.is_backup, op.key, op.value
                if value is None:
                    deletes += 1
                if not unique:
                    qk = (map_name, backup, key)
                    if qk in done:
                        continue
                    done.add(qk)
                if map_name is not last or backup is not last_backup:
                    keys = newest.get((map_name, backup), {})
                    last, last_backup = map_name, backup
                current = keys.get(key)
                if current is op:
                    del keys[key]
                elif current is not None or generation == self._generation:
                    continue  # a newer write of the key is queued
                # (after a reset() that dropped the queue, nothing newer is: the row is current)
                if value is not None and not backup and map_name in listeners:
                    notify.append(op)
            st.deletes += deletes
            st.writes += len(stored) - deletes
        gone = False
        for op in reversed(notify):
            for listener in listeners.get(op.map_name, ()):
                if not getattr(listener, "alive", True):
                    gone = True
                    continue
                try:
                    listener(op.key, op.value, now)
                except Exception as err:  # the others still hear of it; the flush goes on
                    self.last_error = err
        if gone:  # drop the listeners of record stores that are gone
            with self._lock:
                for name, registered in listeners.items():
                    listeners[name] = [h for h in registered if getattr(h, "alive", True)]
        return len(stored), not held, refused, down

    def _one_by_one(
        self, batch: list[_Queued], now: int
    ) -> tuple[list[_Queued], list[_Queued], int, set[_QKey], bool]:
        """After ``batch`` failed: store its operations one at a time, in order, as Hazelcast
        falls back from ``storeAll`` to ``store``, so one operation the inner store refuses
        does not hold back the others. An operation that fails, and every later operation of
        its key, is held; a :class:`~toolkit.errors.DataStoreError` means the inner store
        itself is failing, and the rest of the batch is held untried; so does a pass that
        stored nothing when not every failure was a refusal
        (:class:`~toolkit.errors.UnsupportedValueError`): an inner store that is down
        whatever it raises is not asked once per queued operation. Return (stored, held,
        failed round trips with the batch's, the keys refused, whether the store failed)."""
        stored: list[_Queued] = []
        held: list[_Queued] = []
        refused: set[_QKey] = set()
        failures = 1
        down = False
        refusals_only = True
        for op in batch:
            qk = (op.map_name, op.is_backup, op.key)
            if down or qk in refused:
                held.append(op)
                continue
            try:
                self._write([op], now)
            except Exception as err:
                self.last_error = err
                failures += 1
                held.append(op)
                refused.add(qk)
                down = isinstance(err, DataStoreError)
                refusals_only = refusals_only and isinstance(err, UnsupportedValueError)
            else:
                stored.append(op)
        if not stored and not refusals_only:
            down = True
        return stored, held, failures, refused, down

    def _put_back(self, batch: list[_Queued], generation: int) -> None:
        """Put ``batch`` (not stored) back at the front of the queue (lock held), after the
        writes handed over meanwhile are queued: those supersede it."""
        self._drain()
        self._inflight = []
        if generation != self._generation:
            return  # reset() dropped the queue meanwhile
        if self._coalescing:
            fifo = self._fifo
            for op in reversed(batch):
                if self._newest_op(op.map_name, op.is_backup, op.key) is op:
                    fifo.appendleft(op)
                    op.queued = True
                else:  # a newer write of the key is queued and supersedes this one
                    self._stats.coalesced += 1
        else:
            self._fifo.extendleft(reversed(batch))

    def flush_due(self, now: int | None = None) -> int:
        """Store every operation due at ``now`` (ms; default the clock), in batches of
        ``write_batch_size``; return how many were stored.

        What fails stays queued (see :attr:`last_error`) and the next call retries it; this
        one sets aside the operations of a key the inner store refused (they wait, in order,
        for the next flush) and goes on with the others, and stops when the inner store
        itself fails (a :class:`~toolkit.errors.DataStoreError`, or failures that are not
        refusals). Never raises for a failing inner store.
        """
        now = self._clock.now_millis() if now is None else check_millis("now", now)
        return self._flush(now, False)[0]

    def _flush(self, now: int, everything: bool) -> tuple[int, bool]:
        """Store what is due at ``now`` (``everything``: all of it), batch by batch; return
        (operations stored, whether anything failed). A refused key's operations are set
        aside for the rest of the flush; a store that is down ends it."""
        stored = 0
        failed = False
        generation = self._generation
        with self._flush_lock:
            try:
                while True:
                    batch, generation = self._take(now, everything)
                    if not batch:
                        break
                    n, complete, refused, down = self._store(batch, generation, now)
                    stored += n
                    if complete:
                        continue
                    failed = True
                    if down or not refused:
                        break  # the inner store fails: stop here
                    self._park(refused, generation)  # out of the queue: the loop ends
            except BaseException:
                # a KeyboardInterrupt between taking a batch and storing it (or before its
                # failure put it back): it goes back in front (storing a row twice is harmless)
                with self._lock:
                    if self._inflight:
                        self._put_back(self._inflight, generation)
                raise
            finally:
                self._unpark()
        return stored, failed

    def soft_flush(self) -> int:
        """Make everything queued due now (the next :meth:`flush_due` stores it); return the
        sequence number of the last queued operation, or 0 if nothing is queued."""
        with self._lock:
            self._drain()
            for ops in (self._fifo, self._inflight, self._parked):
                for op in ops:  # in flight or set aside too: due if it goes back to the queue
                    op.due = 0
            return self._seq if self.pending_operation_count() else 0

    def hard_flush(self) -> None:
        """Store everything queued now, in batches.

        Raises :class:`~toolkit.errors.DataStoreError` when something cannot be stored (a
        failing inner store, or operations it refuses even one at a time); what was not
        stored stays queued.
        """
        if self._flush(self._clock.now_millis(), True)[1]:
            raise DataStoreError(
                f"write-behind flush failed, {self.pending_operation_count()} "
                f"operations still queued: {self.last_error}"
            ) from self.last_error

    def flush_key(self, map_name: str, key: Any, value: Any, is_backup: bool) -> None:
        """A dirty record of ``key`` leaves memory (eviction, expiry, clear) while its write is
        queued: keep that write staged so nothing is lost (``stats.staged``).

        Every write-through write was queued by :meth:`add`, so the queue already holds the
        newest value the record store handed over; it stays queued (or in flight), loadable
        through :meth:`load`, until it is stored, and is never dropped (only :meth:`reset`
        drops the queue). A value that reached memory without passing through ``add``
        (BACKUP, REPLICATION or LOAD provenance) is not turned into a write: a later read
        sees what a write-through store would hold.
        """
        with self._lock:
            self._drain()
            if self._newest_op(map_name, bool(is_backup), key) is not None:
                self._stats.staged += 1

    def reset(self) -> None:
        """Drop every queued operation and the staging area (the inner rows stay)."""
        with self._lock:
            self._drain()  # handed-over writes count as queued, then are dropped with the rest
            self._generation += 1  # odd while writes are being dropped (see reset_epoch)
            try:
                # one statement that only stores (the new containers are built first): an
                # interrupt cannot leave the queue dropped and the staging area not
                (
                    self._fifo,
                    self._newest,
                    self._inflight,
                    self._parked,
                    self._parked_keys,
                ) = (deque(), {}, [], [], set())
            finally:  # even again, also if interrupted
                self._generation += 1

    @property
    def reset_epoch(self) -> int:
        """Goes up by one as :meth:`reset` starts dropping the queue and again once it has:
        odd meanwhile. A caller that reads the same even value before a write and again after
        :meth:`is_loadable` answered True knows the write was stored, not dropped by a reset
        (a record store marks its record clean only then). Read without the lock."""
        return self._generation

    def is_null(self) -> bool:
        """False: this store persists (later)."""
        return False

    def check_value(self, value: Any) -> bool | None:
        """Raise :class:`~toolkit.errors.UnsupportedValueError` if the inner store cannot
        store ``value`` (the inner store's answer otherwise)."""
        return self._check_value(value)

    def check_key(self, key: Any) -> None:
        """Raise :class:`~toolkit.errors.UnsupportedValueError` if ``key`` cannot be stored."""
        self._validate("", key, None, 0)

    def bind_clock(self, clock: Clock) -> None:
        """Read ``clock`` from now on if this store was made without one, and bind the inner
        store the same way (a record store over it calls this with its own clock)."""
        if not self._clock_given:
            self._clock = clock
            self._clock_given = True
        bind = getattr(self.inner, "bind_clock", None)
        if bind is not None:
            bind(clock)

    def add_stored_listener(self, map_name: str, listener: StoredListener) -> None:
        """Call ``listener(key, value, now)`` when a queued primary write of ``map_name``
        reaches the inner store and no newer write of the key is queued.

        A listener whose ``alive`` attribute is false (a record store's, once that store is
        gone) is dropped, so short-lived record stores over one long-lived write-behind store
        do not pile up."""
        if not callable(listener):
            raise InvalidArgumentError(f"listener must be callable, got {listener!r}")
        with self._lock:
            kept = [h for h in self._listeners.get(map_name, ()) if getattr(h, "alive", True)]
            self._listeners[map_name] = [*kept, listener]

    # --- background flusher and lifecycle ------------------------------------------------

    @property
    def flusher_running(self) -> bool:
        """Whether the background flusher thread is running."""
        return self._flusher is not None and self._flusher[0].is_alive()

    def start_flusher(self, interval_millis: int = 100) -> None:
        """Start a daemon thread that calls :meth:`flush_due` every ``interval_millis`` (wall
        time). Stopped by :meth:`stop_flusher` or :meth:`close`. Raises
        :class:`~toolkit.errors.InvalidArgumentError` if one is already running."""
        check_non_negative_int("interval_millis", interval_millis)
        if not 1 <= interval_millis <= _MAX_FLUSHER_MILLIS:
            raise InvalidArgumentError(
                f"interval_millis must be in 1..{_MAX_FLUSHER_MILLIS} (one day), got {interval_millis!r}"
            )
        with self._lock:
            self._open()
            if self.flusher_running:
                raise InvalidArgumentError("the background flusher is already running")
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run_flusher,
                args=(stop, interval_millis / 1000),
                name="write-behind-flusher",
                daemon=True,
            )
            self._flusher = (thread, stop, interval_millis)
        thread.start()

    def _run_flusher(self, stop: threading.Event, interval_s: float) -> None:
        while not stop.wait(interval_s):
            try:
                self.flush_due()
            except Exception as err:  # keep flushing; the owner can read last_error
                self.last_error = err

    def stop_flusher(self) -> None:
        """Stop the background flusher (if running) and wait for it to finish."""
        with self._lock:
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            thread, stop, _ = flusher
            stop.set()
            thread.join()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Stop the flusher, store everything queued (:meth:`hard_flush`), then close the inner
        store if ``close_inner``, and let go of the stored listeners (nothing is stored
        after this, and a record store listening would otherwise stay referenced). Idempotent.

        Raises :class:`~toolkit.errors.DataStoreError` if the final flush fails; then nothing
        is closed and nothing is dropped: the operations left stay queued (the message says
        how many), the store stays usable (a background flusher that was running runs again),
        and ``close()`` may be called again once the inner store recovers. To give up on them,
        :meth:`reset` drops the queue first.

        While it runs, writes from other threads are refused with
        :class:`~toolkit.errors.DataStoreError` (Hazelcast refuses operations once shutdown
        has begun), so a busy writer cannot keep it from finishing.

        Two threads closing at once close once: the second waits for the first, then returns
        if it succeeded or tries again itself.

        A store is kept open until it is closed: one still open when the interpreter exits
        normally is closed then (every open store's queue is stored first, then the stores
        are closed), as Hazelcast flushes write-behind queues on a graceful shutdown; a
        failure there is reported on standard error."""
        with self._close_lock:
            with self._lock:
                if self._closed:
                    return
                self._set_closing(True)  # from here on writes are refused, so the flush can finish
                interval = self._flusher[2] if self._flusher and self.flusher_running else None
            try:
                self.stop_flusher()
                while True:
                    self.hard_flush()  # raises, leaving everything open and queued, if it cannot finish
                    with self._lock:
                        self._drain()  # writes handed over as the close began are stored too
                        if not self.pending_operation_count():
                            self._closed = True
                            self._set_closing(False)
                            self._listeners.clear()
                            break
            except BaseException as err:
                with self._lock:
                    self._set_closing(False)  # still open and usable, as before the call
                if interval is not None and isinstance(err, Exception):
                    try:
                        self.start_flusher(interval)  # and flushing in the background again
                    except Exception:  # the flush error is the one to report
                        pass
                raise
            _OPEN.discard(self)
            close = getattr(self.inner, "close", None)
            if self.close_inner and close is not None:
                close()

    def __enter__(self) -> WriteBehindDataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "coalescing" if self._coalescing else f"capacity={self.queue_capacity}"
        return (
            f"WriteBehindDataStore({self.inner!r}, delay={self.write_delay_millis}ms, "
            f"batch={self.write_batch_size}, {mode}, pending={self.pending_operation_count()})"
        )


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def flush_process(
    env: Any, store: WriteBehindDataStore, interval_millis: int, millis_per_unit: float = 1000
) -> Generator[Any, Any, None]:
    """A SimPy process that calls ``store.flush_due()`` every ``interval_millis`` of simulated
    time (``millis_per_unit`` as in :class:`~toolkit.clocks.SimClock`): ``env.process(
    flush_process(env, store, 100))``. Give the store a ``SimClock`` of the same environment.

    Raises :class:`~toolkit.errors.InvalidArgumentError` for an interval below 1 ms.
    """
    check_non_negative_int("interval_millis", interval_millis)
    if interval_millis < 1:
        raise InvalidArgumentError(f"interval_millis must be >= 1, got {interval_millis!r}")
    if isinstance(millis_per_unit, bool) or not isinstance(millis_per_unit, (int, float)):
        raise InvalidArgumentError(f"millis_per_unit must be a number, got {millis_per_unit!r}")
    if millis_per_unit <= 0:
        raise InvalidArgumentError(f"millis_per_unit must be > 0, got {millis_per_unit!r}")
    return _flush_loop(env, store, interval_millis / millis_per_unit)


def _flush_loop(env: Any, store: WriteBehindDataStore, step: float) -> Generator[Any, Any, None]:
    while True:
        yield env.timeout(step)
        store.flush_due()
