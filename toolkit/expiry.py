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
from .records import ExpiryReason, RecordMetadata

__all__ = ["ExpiryIndex", "ScanExpiry", "CursorExpiry", "DeadlineExpiry", "make_expiry_index"]

_NOT = ExpiryReason.NOT_EXPIRED


def _budget(total: int, percentage: int) -> int:
    return math.ceil(total * percentage / 100)


class ExpiryIndex:
    """Base class. ``tracking`` is False when the strategy needs no per-put bookkeeping."""

    tracking = False

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
    """The seed's sweep: check every entry, remove ``percentage``% of the expired ones.

    Cost: O(n) per sweep whatever the percentage; no per-put bookkeeping.
    """

    def collect(self, percentage: int, now: int) -> list[Any]:
        expired = [
            key
            for key, rec in self.engine.snapshot_iter()
            if (rec.metadata.ttl_millis or rec.metadata.max_idle_millis)
            and rec.metadata.expiry_reason(now) is not _NOT
        ]
        return expired[: _budget(len(expired), percentage)]


class CursorExpiry(ExpiryIndex):
    """A resumable cursor over the expirable entries (Hazelcast's ClearExpiredRecordsTask,
    Redis 6's active expire cycle over its ``expires`` dict).

    Each sweep examines ``percentage``% of the expirable entries from where the last one
    stopped, wrapping around. While every entry of the store can expire (a store-wide TTL), the
    cursor pages the engine itself and costs no memory per entry; the first entry without
    expiry switches it, once, to a dense index of the expirable keys, so live entries without
    expiry are never visited. Cost: O(examined) per sweep, O(1) per put.
    """

    tracking = True

    def __init__(self, engine: StorageEngine) -> None:
        super().__init__(engine)
        self.indexed = False
        self.keys: list[Hashable] = []
        self.pos: dict[Hashable, int] = {}
        self.cursor = 0

    def _build_index(self) -> None:
        self.indexed = True
        self.cursor = 0
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
        self.keys.clear()
        self.pos.clear()
        self.cursor = 0

    def collect(self, percentage: int, now: int) -> list[Any]:
        if not self.indexed:
            return self._collect_from_engine(percentage, now)
        keys = self.keys
        m = len(keys)
        if m == 0:
            return []
        budget = min(m, _budget(m, percentage))
        start = self.cursor % m
        get = self.engine.get
        out = []
        for i in range(start, start + budget):
            key = keys[i % m]
            rec = get(key)
            if rec is not None and rec.metadata.expiry_reason(now) is not _NOT:
                out.append(key)
        # Removing the expired keys swaps later keys into their places; moving the cursor back
        # by the number removed keeps the sweep from skipping them.
        self.cursor = (start + budget - len(out)) % max(1, m - len(out))
        return out

    def _collect_from_engine(self, percentage: int, now: int) -> list[Any]:
        engine = self.engine
        n = engine.len()
        if n == 0:
            return []
        budget = min(n, _budget(n, percentage))
        start = self.cursor % n
        out = []
        position = start
        remaining = budget
        while remaining > 0:
            page = engine.fetch_entries(IterationCursor(position, False), remaining)
            for key, rec in page.items:
                md = rec.metadata
                if (md.ttl_millis or md.max_idle_millis) and md.expiry_reason(now) is not _NOT:
                    out.append(key)
            remaining -= len(page.items)
            position += len(page.items)
            if page.next_cursor.finished or not page.items:
                position = 0
        self.cursor = (start + budget - len(out)) % max(1, n - len(out))
        return out

    def expirable_keys(self) -> Iterator[Any]:
        if not self.indexed:
            return super().expirable_keys()
        return iter(list(self.keys))


class DeadlineExpiry(ExpiryIndex):
    """A deadline heap with lazy invalidation.

    A key is scheduled at its expiry deadline when written; an idle deadline pushed later by
    reads is found when the key reaches the top of the heap and is re-scheduled then. A sweep
    pops only entries whose deadline has passed, so removing K expired entries costs
    O(K log n) and never visits live ones. At most ``percentage``% of the expirable entries are
    removed per sweep. Stale heap entries are compacted away when they outnumber live ones.
    """

    tracking = True

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
        limit = _budget(len(self.scheduled), percentage)
        heap = self.heap
        scheduled = self.scheduled
        get = self.engine.get
        out: list[Any] = []
        while heap and heap[0][0] < now and len(out) < limit:
            deadline, _, key = heapq.heappop(heap)
            if scheduled.get(key) != deadline:
                continue  # stale: removed, or re-scheduled earlier
            rec = get(key)
            actual = rec.metadata.expiry_deadline() if rec is not None else None
            if actual is None:
                del scheduled[key]
            elif actual >= now:
                scheduled[key] = actual  # read since scheduled: expires later
                self._seq += 1
                heapq.heappush(heap, (actual, self._seq, key))
            else:
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
