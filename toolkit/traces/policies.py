"""Exact reference eviction policies for fast replay: LRU, FIFO, LFU and Belady's MIN.

Each policy is bounded by an object count (``capacity``), by bytes (``capacity_bytes``) or by
both, and consumes request chunks (:data:`~toolkit.traces.requests.REQUEST_DTYPE`) with
:meth:`ExactPolicy.process`. The rules follow libCacheSim's, so miss ratios can be compared:

* A read that misses inserts the object after evicting until it fits; an object larger than
  ``capacity_bytes`` is never inserted (and evicts nothing). A hit does not change the size
  the cache holds for the object.
* A write stores the object with the request's size (inserting it if absent; dropping it if
  it is larger than ``capacity_bytes``) and counts as recency, not as a hit or a frequency;
  the cache then evicts until it is within its bounds. A delete removes the object. Only
  reads count towards hits and misses.
* LRU evicts the least recently used object; FIFO the oldest inserted; LFU the least
  frequently read (an object enters with frequency 1 and forgets it when evicted; ties go to
  the least recently used); Belady the object whose next request is farthest away (never
  again counts as farthest; ties between such objects go to the smallest key). Belady always
  inserts on a miss, as libCacheSim's does.

LRU and FIFO by count run a tight loop over the chunk's keys when the chunk holds only reads;
LRU by count on a trace without deletes runs on :func:`functools.lru_cache` (see
:class:`LruPolicy`).
"""

from __future__ import annotations

import functools
import heapq
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass, fields
from typing import Any, ClassVar

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
    :class:`~toolkit.errors.InvalidArgumentError` otherwise. ``may_delete=False`` promises
    that no chunk holds a delete, which lets a policy pick a faster structure (a delete then
    raises :class:`~toolkit.errors.InvalidArgumentError`).
    """

    name: ClassVar[str] = ""
    needs_next_access: ClassVar[bool] = False

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True) -> None:
        self.may_delete = bool(may_delete)
        self.capacity = _check_capacity("capacity", capacity)
        self.capacity_bytes = _check_capacity("capacity_bytes", capacity_bytes)
        if not self.capacity and not self.capacity_bytes:
            raise InvalidArgumentError("a replay needs capacity (objects) or capacity_bytes (bytes) > 0")
        self.counters = ReplayCounters()
        self.used_bytes = 0

    @abstractmethod
    def process(self, chunk: np.ndarray) -> None:
        """Replay one chunk of requests, in order, updating :attr:`counters`."""

    @abstractmethod
    def __len__(self) -> int:
        """Objects currently cached."""

    def _count_ops(self, ops: np.ndarray, sizes: np.ndarray) -> int:
        """Add the chunk's read/write/delete counts and read bytes to the counters; return
        the chunk's read bytes."""
        c = self.counters
        if not ops.any():
            read_bytes = int(sizes.sum(dtype=np.int64))
            c.reads += len(ops)
        else:
            reads = ops == _READ
            n_reads = int(np.count_nonzero(reads))
            n_writes = int(np.count_nonzero(ops == _WRITE))
            c.reads += n_reads
            c.writes += n_writes
            c.deletes += len(ops) - n_reads - n_writes
            read_bytes = int(sizes[reads].sum(dtype=np.int64))
        c.read_bytes += read_bytes
        return read_bytes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(capacity={self.capacity}, "
            f"capacity_bytes={self.capacity_bytes}, cached={len(self)})"
        )


class _OrderedPolicy(ExactPolicy):
    """Shared by LRU and FIFO: an OrderedDict of key -> cached size, oldest first."""

    _touch_on_hit: ClassVar[bool] = True

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True) -> None:
        super().__init__(capacity, capacity_bytes, may_delete=may_delete)
        self._od: OrderedDict[int, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._od)

    def process(self, chunk: np.ndarray) -> None:
        ops = chunk["op"]
        sizes = chunk["size"]
        read_bytes = self._count_ops(ops, sizes)
        if not self.capacity_bytes and not ops.any():
            keys = chunk["key"].tolist()
            if len(keys) and read_bytes == len(keys) * int(sizes[0]) == len(keys) * int(sizes.max()):
                size = int(sizes[0])
                misses = self._reads_by_count(keys, size)
                missed_bytes = misses * size
            else:
                misses, missed_bytes = self._reads_by_count_sized(keys, sizes.tolist())
            c = self.counters
            c.hits += len(keys) - misses
            c.hit_bytes += read_bytes - missed_bytes
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
    """Exact LRU: evict the least recently used object.

    Bounded by count only and promised no deletes (``may_delete=False``), the cache is
    :func:`functools.lru_cache` (CPython's C implementation of an exact LRU list of
    ``capacity`` entries) wrapped around ``list.append``: a miss calls it, so the list
    collects the missed keys, and a chunk of reads is replayed by ``map`` at C speed.
    Otherwise an OrderedDict holds the cache.
    """

    name = "lru"
    _touch_on_hit = True

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True) -> None:
        super().__init__(capacity, capacity_bytes, may_delete=may_delete)
        self._missed: list[int] = []
        self._cached: Any = None
        if not self.capacity_bytes and not self.may_delete:
            self._cached = functools.lru_cache(maxsize=self.capacity)(self._missed.append)

    def __len__(self) -> int:
        if self._cached is not None:
            return int(self._cached.cache_info().currsize)
        return len(self._od)

    def process(self, chunk: np.ndarray) -> None:
        cached = self._cached
        if cached is None:
            super().process(chunk)
            return
        ops = chunk["op"]
        sizes = chunk["size"]
        read_bytes = self._count_ops(ops, sizes)
        missed = self._missed
        keys = chunk["key"].tolist()
        c = self.counters
        if not ops.any():
            if len(keys) and read_bytes == len(keys) * int(sizes[0]) == len(keys) * int(sizes.max()):
                deque(map(cached, keys), maxlen=0)
                misses = len(missed)
                missed_bytes = misses * int(sizes[0])
            else:
                misses = missed_bytes = 0
                for k, s in zip(keys, sizes.tolist(), strict=True):
                    cached(k)
                    if len(missed) != misses:
                        misses += 1
                        missed_bytes += s
            c.hits += len(keys) - misses
            c.hit_bytes += read_bytes - missed_bytes
        else:
            seen = 0
            for i, (k, s, op) in enumerate(zip(keys, sizes.tolist(), ops.tolist(), strict=True)):
                if op != _READ and op != _WRITE:
                    raise InvalidArgumentError(
                        f"request {i} of the chunk is a delete, but the policy was promised "
                        "none (may_delete=False)"
                    )
                cached(k)  # a write is an access too: it inserts or refreshes the key
                if len(missed) != seen:
                    seen += 1
                elif op == _READ:
                    c.hits += 1
                    c.hit_bytes += s
        missed.clear()
        info = cached.cache_info()
        c.evictions = info.misses - info.currsize


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

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True) -> None:
        super().__init__(capacity, capacity_bytes, may_delete=may_delete)
        self._freq: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._buckets: dict[int, OrderedDict[int, None]] = {}
        self._min_freq = 1

    def __len__(self) -> int:
        return len(self._freq)

    def _drop(self, key: int) -> None:
        """Remove ``key`` (cached) from every index."""
        f = self._freq.pop(key)
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
        self.used_bytes -= self._size.pop(key)

    def _evict_one(self) -> None:
        """Evict the least recently used of the least frequent objects."""
        buckets = self._buckets
        minf = self._min_freq
        while minf not in buckets:
            minf += 1
        self._min_freq = minf
        bucket = buckets[minf]
        victim, _ = bucket.popitem(last=False)
        if not bucket:
            del buckets[minf]
        del self._freq[victim]
        self.used_bytes -= self._size.pop(victim)
        self.counters.evictions += 1

    def process(self, chunk: np.ndarray) -> None:
        ops = chunk["op"]
        sizes = chunk["size"]
        self._count_ops(ops, sizes)
        freq = self._freq
        size_of = self._size
        buckets = self._buckets
        cap = self.capacity or (1 << 62)
        capb = self.capacity_bytes or (1 << 62)
        evict_one = self._evict_one
        hits = hit_bytes = 0
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
                        if self._min_freq == f:
                            self._min_freq = f + 1
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
                    self.used_bytes += s - size_of[k]
                    size_of[k] = s
                    buckets[f].move_to_end(k)
                    if s > capb:
                        self._drop(k)
                    while self.used_bytes > capb:
                        evict_one()
                    continue
                if s > capb:
                    continue
            else:
                if f is not None:
                    self._drop(k)
                continue
            # Insert k (a read miss or a write of a new key), evicting first.
            while freq and (len(freq) >= cap or self.used_bytes + s > capb):
                evict_one()
            freq[k] = 1
            size_of[k] = s
            self.used_bytes += s
            b1 = buckets.get(1)
            if b1 is None:
                b1 = buckets[1] = OrderedDict()
            b1[k] = None
            self._min_freq = 1
        c = self.counters
        c.hits += hits
        c.hit_bytes += hit_bytes


class BeladyPolicy(ExactPolicy):
    """Belady's MIN: evict the object whose next request is farthest in the future.

    Needs each request's ``next_access`` (the index of the next request for the same key in
    the whole trace, -1 = never); a max-heap with lazy deletion, O(log n) per request.
    """

    name = "belady"
    needs_next_access = True

    def __init__(self, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True) -> None:
        super().__init__(capacity, capacity_bytes, may_delete=may_delete)
        self._next: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._heap: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._next)

    def _drop(self, key: int) -> None:
        """Remove ``key`` (cached); its heap entries go stale."""
        del self._next[key]
        self.used_bytes -= self._size.pop(key)

    def _evict_one(self) -> None:
        """Evict the object whose next request is farthest (ties: the smallest key)."""
        heap = self._heap
        nxt_of = self._next
        while True:
            neg, victim = heapq.heappop(heap)
            if nxt_of.get(victim) == -neg:
                break  # otherwise a stale entry
        self._drop(victim)
        self.counters.evictions += 1

    def _push(self, key: int, nxt: int) -> None:
        heap = self._heap
        heapq.heappush(heap, (-nxt, key))
        if len(heap) > 4 * len(self._next) + 4096:
            # Drop stale entries: the heap gains one per request otherwise.
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
        push = self._push
        evict_one = self._evict_one
        cap = self.capacity or (1 << 62)
        capb = self.capacity_bytes or (1 << 62)
        hits = hit_bytes = 0
        for k, s, op, n in zip(chunk["key"].tolist(), sizes.tolist(), ops.tolist(), nexts, strict=True):
            present = k in nxt_of
            if op == _READ:
                if present:
                    hits += 1
                    hit_bytes += s
                    nxt_of[k] = n
                    push(k, n)
                    continue
                if s > capb:
                    continue
            elif op == _WRITE:
                if present:
                    self.used_bytes += s - size_of[k]
                    size_of[k] = s
                    nxt_of[k] = n
                    push(k, n)
                    if s > capb:
                        self._drop(k)
                    while self.used_bytes > capb:
                        evict_one()
                    continue
                if s > capb:
                    continue
            else:
                if present:
                    self._drop(k)
                continue
            while nxt_of and (len(nxt_of) >= cap or self.used_bytes + s > capb):
                evict_one()
            nxt_of[k] = n
            size_of[k] = s
            self.used_bytes += s
            push(k, n)
        c = self.counters
        c.hits += hits
        c.hit_bytes += hit_bytes


#: The exact policies by name.
EXACT_POLICIES: dict[str, type[ExactPolicy]] = {
    "lru": LruPolicy,
    "fifo": FifoPolicy,
    "lfu": LfuPolicy,
    "belady": BeladyPolicy,
}


def make_policy(
    name: str, capacity: int = 0, capacity_bytes: int = 0, *, may_delete: bool = True
) -> ExactPolicy:
    """A fresh exact policy by name (``lru``, ``fifo``, ``lfu``, ``belady``; ``opt`` and ``min``
    mean Belady); see :class:`ExactPolicy` for ``may_delete``. Raises
    :class:`~toolkit.errors.InvalidArgumentError` for an unknown name or missing bounds."""
    wanted = str(name).strip().lower()
    if wanted in ("opt", "min"):
        wanted = "belady"
    cls = EXACT_POLICIES.get(wanted)
    if cls is None:
        raise InvalidArgumentError(
            f"unknown exact policy {name!r}; expected one of: {', '.join(EXACT_POLICIES)}"
        )
    return cls(capacity, capacity_bytes, may_delete=may_delete)
