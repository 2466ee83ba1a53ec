"""Expiry sweep strategies for ``evict_expired(percentage, now)``.

Lazy expiry on access always applies; these decide how a background sweep finds the expired
entries nobody reads. Each strategy only *finds* candidates; the record store removes them
and notifies ``on_expire``. ``percentage`` = 100 always finds every expired entry.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterator
from typing import Any

from .config import ExpiryStrategy
from .engine import IterationCursor, StorageEngine
from .records import RecordMetadata

__all__ = ["ExpiryIndex", "ScanExpiry", "CursorExpiry", "DeadlineExpiry", "make_expiry_index"]


def _budget(total: int, percentage: int) -> int:
    return math.ceil(total * percentage / 100)


def _expired(md: RecordMetadata, now: int) -> bool:
    """``md.expiry_reason(now) is not NOT_EXPIRED``, inlined: sweeps call it per entry."""
    ttl = md.ttl_millis
    idle = md.max_idle_millis
    return bool(
        (ttl and now - md.last_update_time > ttl) or (idle and now - md.last_access_time > idle)
    )


class ExpiryIndex:
    """Base class. ``tracking`` is False when the strategy needs no per-put bookkeeping."""

    tracking = False
    #: Whether :meth:`on_remove` (and :meth:`on_put` of a new expirable entry) does anything;
    #: the store skips those calls when it does not.
    tracks_removes = False

    def __init__(self, engine: StorageEngine) -> None:
        self.engine = engine

    def on_put(self, key: Any, md: RecordMetadata) -> None:
        """``key`` was written (or loaded) with metadata ``md``."""

    def on_remove(self, key: Any) -> None:
        """``key`` left the store."""

    def clear(self) -> None:
        """The store was emptied."""

    def collect(self, percentage: int, now: int) -> list[Any]:
        """Keys expired at ``now`` that this sweep should remove."""
        raise NotImplementedError

    def expirable_keys(self) -> Iterator[Any]:
        """Every key that may expire (for ground-truth counts)."""
        for key, rec in self.engine.snapshot_iter():
            md = rec.metadata
            if md.ttl_millis or md.max_idle_millis:
                yield key


class ScanExpiry(ExpiryIndex):
    """The seed's sweep: check every entry, remove ``ceil(percentage%)`` of the expired ones
    (the first found).

    Cost: O(n) time and a snapshot of n entries per sweep, whatever the percentage and however
    few entries can expire; nothing per put.
    """

    def collect(self, percentage: int, now: int) -> list[Any]:
        expired = [key for key, rec in self.engine.snapshot_iter() if _expired(rec.metadata, now)]
        return expired[: _budget(len(expired), percentage)]


class CursorExpiry(ExpiryIndex):
    """A resumable cursor over the expirable entries (Hazelcast's ClearExpiredRecordsTask,
    Redis 6's active expire cycle over its ``expires`` dict).

    Each sweep examines ``ceil(percentage% of m)`` entries, m being how many can expire now,
    continuing from where the last sweep stopped and wrapping around. While every entry of
    the store can expire (a store-wide TTL) the cursor pages the engine itself and costs no
    memory per entry; the first entry without expiry switches it, once (O(n)), to a dense
    index of the expirable keys, so entries without expiry are never visited.

    The cursor walks its dense array from the top down. Removing a key fills its slot with
    the array's last key, which is always one already examined in the current cycle, so
    removals never hide an unexamined key: one cycle (about ``100 / percentage`` sweeps)
    examines every entry present throughout it, and removes all of those expired when
    examined. An entry added during a cycle is first examined in the next one.

    Cost: O(examined) = O(percentage% of m) per sweep, whatever the number of entries
    without expiry; O(1) per put and remove (amortized).
    """

    tracking = True

    def __init__(self, engine: StorageEngine) -> None:
        super().__init__(engine)
        self.indexed = False
        self.tracks_removes = False
        self.keys: list[Hashable] = []
        self.pos: dict[Hashable, int] = {}
        self.hi = 0  # positions [0, hi) are not yet examined in this cycle; 0: cycle over

    def _build_index(self) -> None:
        self.indexed = True
        self.tracks_removes = True
        self.hi = 0
        for key, rec in self.engine.snapshot_iter():
            md = rec.metadata
            if (md.ttl_millis or md.max_idle_millis) and key not in self.pos:
                self.pos[key] = len(self.keys)
                self.keys.append(key)

    def on_put(self, key: Any, md: RecordMetadata) -> None:
        if md.ttl_millis or md.max_idle_millis:
            if self.indexed and key not in self.pos:
                self.pos[key] = len(self.keys)
                self.keys.append(key)
            return
        if not self.indexed:
            self._build_index()
        if key in self.pos:
            self.on_remove(key)

    def on_remove(self, key: Any) -> None:
        if not self.indexed:
            return
        pos = self.pos.pop(key, None)
        if pos is None:
            return
        keys = self.keys
        last = keys.pop()
        if pos < len(keys):
            keys[pos] = last
            self.pos[last] = pos

    def clear(self) -> None:
        self.indexed = False
        self.tracks_removes = False
        self.keys.clear()
        self.pos.clear()
        self.hi = 0

    def _plan(self, m: int, percentage: int) -> tuple[list[tuple[int, int]], int]:
        """The position ranges ``[lo, hi)`` this sweep examines, and how many of them belong
        to a new cycle (examined at the top of the array after wrapping around)."""
        budget = min(m, _budget(m, percentage))
        hi = self.hi if 0 < self.hi <= m else m
        lo = hi - budget
        if lo >= 0:
            return [(lo, hi)], 0
        wrapped = -lo  # <= m - hi, since budget <= m
        return [(0, hi), (m - wrapped, m)], wrapped

    def _advance(self, ranges: list[tuple[int, int]], wrapped: int, m: int, removed: int) -> None:
        """Where the next sweep resumes, once the store has removed the ``removed`` keys.

        Without a wrap the unexamined part ``[0, lo)`` is untouched by the removals (the
        keys that fill holes come from the top, all examined). After a wrap the new cycle's
        unexamined part is ``[0, m - wrapped)``, clipped to the shrunken array.
        """
        if wrapped:
            self.hi = min(m - wrapped, m - removed)
        else:
            self.hi = ranges[0][0]

    def collect(self, percentage: int, now: int) -> list[Any]:
        if not self.indexed:
            return self._collect_from_engine(percentage, now)
        keys = self.keys
        m = len(keys)
        if m == 0:
            return []
        ranges, wrapped = self._plan(m, percentage)
        get = self.engine.get
        out: list[Any] = []
        for lo, hi in ranges:
            for key in keys[lo:hi]:
                rec = get(key)
                if rec is not None and _expired(rec.metadata, now):
                    out.append(key)
        self._advance(ranges, wrapped, m, len(out))
        return out

    def _collect_from_engine(self, percentage: int, now: int) -> list[Any]:
        """The same walk over the engine's own positions (``IterationCursor.state``)."""
        engine = self.engine
        m = engine.len()
        if m == 0:
            return []
        ranges, wrapped = self._plan(m, percentage)
        out: list[Any] = []
        for lo, hi in ranges:
            if hi > lo:
                page = engine.fetch_entries(IterationCursor(lo, False), hi - lo)
                out.extend(key for key, rec in page.items if _expired(rec.metadata, now))
        self._advance(ranges, wrapped, m, len(out))
        return out

    def expirable_keys(self) -> Iterator[Any]:
        if not self.indexed:
            return super().expirable_keys()
        return iter(list(self.keys))


class DeadlineExpiry(ExpiryIndex):
    """A deadline heap with lazy invalidation.

    A key is scheduled at its expiry deadline when written (a re-put with an earlier
    deadline pushes a new heap entry; a later one is found lazily). Reads that push an idle
    deadline later change nothing here: when the old deadline comes up, the key is found
    live and re-scheduled then. A sweep pops heap entries whose deadline has passed and
    removes at most ``percentage``% of the scheduled (expirable) keys.

    Cost of a sweep that removes K expired entries: O((K + R + S) log h), h the heap size,
    where R counts keys re-scheduled because reads extended their idle deadline and S stale
    heap entries (removed or re-put keys) whose deadline has passed; R and S are each paid
    once per heap entry, so over time a sweep costs O(K log h) amortized. It never visits a
    key whose scheduled deadline is still ahead. Per put: O(log h) when the deadline moves
    earlier or the key is new, else O(1). Stale heap entries are compacted away (O(h)) when
    they outnumber scheduled keys, so h stays O(expirable entries).
    """

    tracking = True
    tracks_removes = True

    def __init__(self, engine: StorageEngine) -> None:
        super().__init__(engine)
        self.heap: list[tuple[int, int, Hashable]] = []
        self.scheduled: dict[Hashable, int] = {}
        self._seq = 0

    def on_put(self, key: Any, md: RecordMetadata) -> None:
        deadline = md.expiry_deadline()
        if deadline is None:
            self.scheduled.pop(key, None)
            return
        current = self.scheduled.get(key)
        if current is None or deadline < current:
            self.scheduled[key] = deadline
            self._seq += 1
            heapq.heappush(self.heap, (deadline, self._seq, key))
            if len(self.heap) > 2 * len(self.scheduled) + 1024:
                self._compact()

    def _compact(self) -> None:
        self.heap = [(d, i, k) for i, (k, d) in enumerate(self.scheduled.items())]
        heapq.heapify(self.heap)
        self._seq = len(self.heap)

    def on_remove(self, key: Any) -> None:
        self.scheduled.pop(key, None)

    def clear(self) -> None:
        self.heap.clear()
        self.scheduled.clear()

    def collect(self, percentage: int, now: int) -> list[Any]:
        """Expired keys, earliest deadline first. A collected key is unscheduled at once
        (the store removes it next), so a second heap entry with the same deadline (a key
        removed and put again) is seen as stale and never counted twice."""
        limit = _budget(len(self.scheduled), percentage)
        heap = self.heap
        scheduled = self.scheduled
        get = self.engine.get
        out: list[Any] = []
        while heap and heap[0][0] < now and len(out) < limit:
            deadline, _, key = heapq.heappop(heap)
            if scheduled.get(key) != deadline:
                continue  # stale: removed, collected, or re-scheduled earlier
            rec = get(key)
            actual = rec.metadata.expiry_deadline() if rec is not None else None
            if actual is None:
                del scheduled[key]
            elif actual >= now:
                scheduled[key] = actual  # read since scheduled: expires later
                self._seq += 1
                heapq.heappush(heap, (actual, self._seq, key))
            else:
                del scheduled[key]
                out.append(key)
        return out

    def expirable_keys(self) -> Iterator[Any]:
        return iter(list(self.scheduled))


def make_expiry_index(strategy: ExpiryStrategy, engine: StorageEngine) -> ExpiryIndex:
    """The expiry index for ``strategy``."""
    if strategy is ExpiryStrategy.SCAN:
        return ScanExpiry(engine)
    if strategy is ExpiryStrategy.CURSOR:
        return CursorExpiry(engine)
    return DeadlineExpiry(engine)
