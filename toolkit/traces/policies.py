"""Exact reference eviction policies for fast replay: LRU, FIFO, LFU and Belady's MIN.

Each policy is bounded by an object count (``capacity``), by bytes (``capacity_bytes``) or by
both, and consumes request chunks (:data:`~toolkit.traces.requests.REQUEST_DTYPE`) with
:meth:`ExactPolicy.process`. The rules follow libCacheSim's, so miss ratios can be compared:

* A read that misses inserts the object after evicting until it fits; an object larger than
  ``capacity_bytes`` is never inserted (and evicts nothing). A hit does not change the size
  the cache holds for the object.
* A write updates (or inserts) the object with the request's size and counts as recency, not
  as a hit or a frequency; a delete removes it. Only reads count towards hits and misses.
* LRU evicts the least recently used object; FIFO the oldest inserted; LFU the least
  frequently read (an object enters with frequency 1 and forgets it when evicted; ties go to
  the least recently used); Belady the object whose next request is farthest away (never
  again counts as farthest; ties between such objects go to the smallest key). Belady always
  inserts on a miss, as libCacheSim's does.

LRU and FIFO by count run a tight loop over the chunk's keys when the chunk holds only reads.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from ..errors import InvalidArgumentError
from .requests import Op

__all__ = [
    "ReplayCounters",
    "ExactPolicy",
    "LruPolicy",
    "FifoPolicy",
    "LfuPolicy",
    "BeladyPolicy",
    "EXACT_POLICIES",
    "make_policy",
]

_READ = int(Op.READ)
_WRITE = int(Op.WRITE)
_NEVER = 1 << 62  # "no next access": farther than any request index


@dataclass(slots=True)
class ReplayCounters:
    """What a replay counted. Bytes are the requests' sizes."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    hits: int = 0
    read_bytes: int = 0
    hit_bytes: int = 0
    evictions: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_capacity(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise InvalidArgumentError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


class ExactPolicy(ABC):
    """An exact eviction policy bounded by ``capacity`` objects and/or ``capacity_bytes``.

    At least one bound must be set (> 0); raises
    :class:`~toolkit.errors.InvalidArgumentError` otherwise.
    """

    name: ClassVar[str] = ""
    needs_next_access: ClassVar[bool] = False

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0) -> None:
        self.capacity = _check_capacity("capacity", capacity)
        self.capacity_bytes = _check_capacity("capacity_bytes", capacity_bytes)
        if not self.capacity and not self.capacity_bytes:
            raise InvalidArgumentError(
                "a replay needs capacity (objects) or capacity_bytes (bytes) > 0"
            )
        self.counters = ReplayCounters()
        self.used_bytes = 0

    @abstractmethod
    def process(self, chunk: np.ndarray) -> None:
        """Replay one chunk of requests, in order, updating :attr:`counters`."""

    @abstractmethod
    def __len__(self) -> int:
        """Objects currently cached."""

    def _count_ops(self, ops: np.ndarray, sizes: np.ndarray) -> None:
        """Add the chunk's read/write/delete counts and read bytes to the counters."""
        c = self.counters
        if not ops.any():
            c.reads += len(ops)
            c.read_bytes += int(sizes.sum(dtype=np.int64))
            return
        reads = ops == _READ
        n_reads = int(np.count_nonzero(reads))
        n_writes = int(np.count_nonzero(ops == _WRITE))
        c.reads += n_reads
        c.writes += n_writes
        c.deletes += len(ops) - n_reads - n_writes
        c.read_bytes += int(sizes[reads].sum(dtype=np.int64))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(capacity={self.capacity}, "
            f"capacity_bytes={self.capacity_bytes}, cached={len(self)})"
        )


class _OrderedPolicy(ExactPolicy):
    """Shared by LRU and FIFO: an OrderedDict of key -> cached size, oldest first."""

    _touch_on_hit: ClassVar[bool] = True

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0) -> None:
        super().__init__(capacity, capacity_bytes)
        self._od: OrderedDict[int, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._od)

    def process(self, chunk: np.ndarray) -> None:
        ops = chunk["op"]
        sizes = chunk["size"]
        self._count_ops(ops, sizes)
        if not self.capacity_bytes and not ops.any():
            keys = chunk["key"].tolist()
            if len(sizes) and sizes.min() == sizes.max():
                size = int(sizes[0])
                misses = self._reads_by_count(keys, size)
                missed_bytes = misses * size
            else:
                misses, missed_bytes = self._reads_by_count_sized(keys, sizes.tolist())
            c = self.counters
            c.hits += len(keys) - misses
            c.hit_bytes += int(sizes.sum(dtype=np.int64)) - missed_bytes
        else:
            self._general(chunk["key"].tolist(), sizes.tolist(), ops.tolist())

    def _reads_by_count(self, keys: list[int], size: int) -> int:
        """Reads only, count bound, one size: return the misses (the hot loop)."""
        od = self._od
        cap = self.capacity
        touch = self._touch_on_hit
        mte = od.move_to_end
        pop = od.popitem
        misses = 0
        evictions = 0
        it = iter(keys)
        if len(od) < cap:
            for k in it:
                if k in od:
                    if touch:
                        mte(k)
                else:
                    od[k] = size
                    misses += 1
                    if len(od) >= cap:
                        break
        if len(od) >= cap:
            before = misses
            if touch:
                for k in it:
                    if k in od:
                        mte(k)
                    else:
                        od[k] = size
                        pop(False)
                        misses += 1
            else:
                for k in it:
                    if k not in od:
                        od[k] = size
                        pop(False)
                        misses += 1
            evictions = misses - before
        self.counters.evictions += evictions
        return misses

    def _reads_by_count_sized(self, keys: list[int], sizes: list[int]) -> tuple[int, int]:
        """Reads only, count bound, sizes vary: return (misses, missed bytes)."""
        od = self._od
        cap = self.capacity
        touch = self._touch_on_hit
        mte = od.move_to_end
        pop = od.popitem
        misses = 0
        missed = 0
        evictions = 0
        for k, s in zip(keys, sizes, strict=True):
            if k in od:
                if touch:
                    mte(k)
            else:
                misses += 1
                missed += s
                od[k] = s
                if len(od) > cap:
                    pop(False)
                    evictions += 1
        self.counters.evictions += evictions
        return misses, missed

    def _general(self, keys: list[int], sizes: list[int], ops: list[int]) -> None:
        """Any ops, any bounds."""
        od = self._od
        cap = self.capacity or (1 << 62)
        capb = self.capacity_bytes or (1 << 62)
        touch = self._touch_on_hit
        mte = od.move_to_end
        pop = od.popitem
        used = self.used_bytes
        hits = hit_bytes = evictions = 0
        for k, s, op in zip(keys, sizes, ops, strict=True):
            if op == _READ:
                if k in od:
                    hits += 1
                    hit_bytes += s
                    if touch:
                        mte(k)
                    continue
                if s > capb:
                    continue
                od[k] = s
                used += s
            elif op == _WRITE:
                old = od.get(k)
                if old is None:
                    if s > capb:
                        continue
                    od[k] = s
                    used += s
                else:
                    od[k] = s
                    used += s - old
                    if touch:
                        mte(k)
                    if s > capb:
                        used -= od.pop(k)
                        continue
            else:
                old = od.pop(k, None)
                if old is not None:
                    used -= old
                continue
            while len(od) > cap or used > capb:
                _, gone = pop(False)
                used -= gone
                evictions += 1
        c = self.counters
        c.hits += hits
        c.hit_bytes += hit_bytes
        c.evictions += evictions
        self.used_bytes = used


class LruPolicy(_OrderedPolicy):
    """Exact LRU: evict the least recently used object."""

    name = "lru"
    _touch_on_hit = True


class FifoPolicy(_OrderedPolicy):
    """Exact FIFO: evict the object inserted first; hits do not reorder."""

    name = "fifo"
    _touch_on_hit = False


class LfuPolicy(ExactPolicy):
    """Exact LFU with frequency buckets (O(1) per request, as libCacheSim's LFU).

    An object enters with frequency 1 and forgets its count when evicted; each read hit adds
    one; among the least frequent the least recently used is evicted.
    """

    name = "lfu"

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0) -> None:
        super().__init__(capacity, capacity_bytes)
        self._freq: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._buckets: dict[int, OrderedDict[int, None]] = {}
        self._min_freq = 1

    def __len__(self) -> int:
        return len(self._freq)

    def process(self, chunk: np.ndarray) -> None:
        ops = chunk["op"]
        sizes = chunk["size"]
        self._count_ops(ops, sizes)
        freq = self._freq
        size_of = self._size
        buckets = self._buckets
        minf = self._min_freq
        cap = self.capacity or (1 << 62)
        capb = self.capacity_bytes or (1 << 62)
        used = self.used_bytes
        hits = hit_bytes = evictions = 0
        for k, s, op in zip(chunk["key"].tolist(), sizes.tolist(), ops.tolist(), strict=True):
            f = freq.get(k)
            if op == _READ:
                if f is not None:
                    hits += 1
                    hit_bytes += s
                    b = buckets[f]
                    del b[k]
                    if not b:
                        del buckets[f]
                        if minf == f:
                            minf = f + 1
                    f += 1
                    freq[k] = f
                    nb = buckets.get(f)
                    if nb is None:
                        nb = buckets[f] = OrderedDict()
                    nb[k] = None
                    continue
                if s > capb:
                    continue
            elif op == _WRITE:
                if f is not None:
                    used += s - size_of[k]
                    size_of[k] = s
                    buckets[f].move_to_end(k)
                    if s <= capb:
                        continue
                    # Too large to stay: drop it.
                    del buckets[f][k]
                    if not buckets[f]:
                        del buckets[f]
                    del freq[k]
                    used -= size_of.pop(k)
                    continue
                if s > capb:
                    continue
            else:
                if f is not None:
                    del buckets[f][k]
                    if not buckets[f]:
                        del buckets[f]
                    del freq[k]
                    used -= size_of.pop(k)
                continue
            # Insert k (a read miss or a write of a new key), evicting first.
            while freq and (len(freq) >= cap or used + s > capb):
                while minf not in buckets:
                    minf += 1
                b = buckets[minf]
                victim, _ = b.popitem(last=False)
                if not b:
                    del buckets[minf]
                del freq[victim]
                used -= size_of.pop(victim)
                evictions += 1
            freq[k] = 1
            size_of[k] = s
            used += s
            b1 = buckets.get(1)
            if b1 is None:
                b1 = buckets[1] = OrderedDict()
            b1[k] = None
            minf = 1
        self._min_freq = minf
        self.used_bytes = used
        c = self.counters
        c.hits += hits
        c.hit_bytes += hit_bytes
        c.evictions += evictions


class BeladyPolicy(ExactPolicy):
    """Belady's MIN: evict the object whose next request is farthest in the future.

    Needs each request's ``next_access`` (the index of the next request for the same key in
    the whole trace, -1 = never); a max-heap with lazy deletion, O(log n) per request.
    """

    name = "belady"
    needs_next_access = True

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0) -> None:
        super().__init__(capacity, capacity_bytes)
        self._next: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._heap: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._next)

    def _compact(self) -> None:
        """Drop stale heap entries (the heap keeps one entry per request otherwise)."""
        self._heap = [(-n, k) for k, n in self._next.items()]
        heapq.heapify(self._heap)

    def process(self, chunk: np.ndarray) -> None:
        ops = chunk["op"]
        sizes = chunk["size"]
        self._count_ops(ops, sizes)
        nexts_arr = chunk["next_access"]
        nexts = np.where(nexts_arr < 0, _NEVER, nexts_arr).tolist()
        nxt_of = self._next
        size_of = self._size
        heap = self._heap
        push = heapq.heappush
        pop = heapq.heappop
        cap = self.capacity or (1 << 62)
        capb = self.capacity_bytes or (1 << 62)
        used = self.used_bytes
        hits = hit_bytes = evictions = 0
        limit = 4 * (len(nxt_of) + 1024)
        for k, s, op, n in zip(
            chunk["key"].tolist(), sizes.tolist(), ops.tolist(), nexts, strict=True
        ):
            present = k in nxt_of
            if op == _READ:
                if present:
                    hits += 1
                    hit_bytes += s
                    nxt_of[k] = n
                    push(heap, (-n, k))
                    continue
                if s > capb:
                    continue
            elif op == _WRITE:
                if present:
                    used += s - size_of[k]
                    size_of[k] = s
                    nxt_of[k] = n
                    push(heap, (-n, k))
                    if s > capb:
                        del nxt_of[k]
                        used -= size_of.pop(k)
                    continue
                if s > capb:
                    continue
            else:
                if present:
                    del nxt_of[k]
                    used -= size_of.pop(k)
                continue
            while nxt_of and (len(nxt_of) >= cap or used + s > capb):
                neg, victim = pop(heap)
                if nxt_of.get(victim) != -neg:
                    continue  # stale entry
                del nxt_of[victim]
                used -= size_of.pop(victim)
                evictions += 1
            nxt_of[k] = n
            size_of[k] = s
            used += s
            push(heap, (-n, k))
            if len(heap) > limit:
                self._heap = heap
                self._compact()
                heap = self._heap
                limit = 4 * (len(nxt_of) + 1024)
        self._heap = heap
        self.used_bytes = used
        c = self.counters
        c.hits += hits
        c.hit_bytes += hit_bytes
        c.evictions += evictions


#: The exact policies by name.
EXACT_POLICIES: dict[str, type[ExactPolicy]] = {
    "lru": LruPolicy,
    "fifo": FifoPolicy,
    "lfu": LfuPolicy,
    "belady": BeladyPolicy,
}


def make_policy(name: str, capacity: int = 0, capacity_bytes: int = 0) -> ExactPolicy:
    """A fresh exact policy by name (``lru``, ``fifo``, ``lfu``, ``belady``; ``opt`` and ``min``
    mean Belady). Raises :class:`~toolkit.errors.InvalidArgumentError` for an unknown name or
    missing bounds."""
    wanted = str(name).strip().lower()
    if wanted in ("opt", "min"):
        wanted = "belady"
    cls = EXACT_POLICIES.get(wanted)
    if cls is None:
        raise InvalidArgumentError(
            f"unknown exact policy {name!r}; expected one of: {', '.join(EXACT_POLICIES)}"
        )
    return cls(capacity, capacity_bytes)
