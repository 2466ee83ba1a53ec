"""Eviction: choosing a victim when a store is over its size or cost limit.

Sampled evictors look at a handful of random entries (Hazelcast samples 15, Redis 5) and pick
by policy, so an eviction costs O(sample), not O(n). Hazelcast's rules apply: an expired
sample is the preferred victim, and the key just written is chosen only if nothing else is.
Exact evictors (LRU_EXACT, LFU_EXACT) keep a full ordering and are the reference.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from .config import EvictionPolicy, StorageConfig
from .engine import IterationCursor, StorageEngine
from .records import ExpiryReason, Record, RecordMetadata

__all__ = ["Victim", "Evictor", "SampledEvictor", "ExactLruEvictor", "ExactLfuEvictor",
           "make_evictor", "lfu_aged_counter"]

_NOT = ExpiryReason.NOT_EXPIRED

#: (key, record, expiry reason or None): what an evictor hands back.
Victim = tuple[Any, Record, ExpiryReason | None]

_BIG = 1 << 62  # compares above every time stamp and counter
_LFU_INIT = 5
_LFU_MAX = 255


def lfu_aged_counter(md: RecordMetadata, now: int, decay_millis: int) -> int:
    """The Redis-style logarithmic access counter of ``md`` decayed to ``now``.

    ``md.frequency`` packs ``(last_decrement_time << 8) | counter``; the counter loses one per
    ``decay_millis`` elapsed since the last decrement (never below 0).
    """
    packed = md.frequency
    if not packed:
        return _LFU_INIT
    counter = packed & 0xFF
    if decay_millis:
        periods = (now - (packed >> 8)) // decay_millis
        if periods > 0:
            counter = counter - periods if counter > periods else 0
    return counter


class Evictor:
    """Base class: picks victims; may track accesses (``tracks_access``) or membership."""

    tracks_access = False
    tracks_membership = False

    def select(self, protected: Any, now: int, check_expiry: bool) -> Victim | None:
        """A victim other than ``protected`` if any exists, else ``protected``, else None.

        With ``check_expiry``, a victim that has expired at ``now`` comes with its
        :class:`ExpiryReason` (the store then removes it as an expiry); otherwise the reason
        is None.
        """
        raise NotImplementedError

    def on_insert(self, key: Any, md: RecordMetadata, now: int) -> None:
        """A key entered the store."""

    def on_access(self, key: Any, md: RecordMetadata, now: int) -> None:
        """A key was read with touch or written."""

    def on_remove(self, key: Any) -> None:
        """A key left the store."""

    def clear(self) -> None:
        """The store was emptied."""


class SampledEvictor(Evictor):
    """LRU, LFU, LFU_AGED, RANDOM or FIFO over ``sample_count`` random entries.

    Scores (lowest is evicted): LRU last access time; LFU hits, then last access time;
    LFU_AGED the decayed logarithmic counter (Redis ``lfu-log-factor``/``lfu-decay-time``),
    then last access time; FIFO creation time; RANDOM draws one sample uniformly. Before any
    score, an expired sample is returned with its reason (it leaves as an expiry); the
    ``protected`` key (just written) is returned only when no other key is stored.
    Cost: O(sample_count) per victim.
    """

    def __init__(self, policy: EvictionPolicy, engine: StorageEngine, config: StorageConfig,
                 rng: random.Random) -> None:
        self.policy = policy
        self.engine = engine
        self.sample_count = config.eviction_sample_count
        self.log_factor = config.lfu_log_factor
        self.decay_millis = config.lfu_decay_millis
        self._random = rng.random
        self.tracks_access = policy is EvictionPolicy.LFU_AGED
        tuple_scored = policy in (EvictionPolicy.LFU, EvictionPolicy.LFU_AGED)
        self._no_score: Any = (_BIG, _BIG) if tuple_scored else _BIG

    def on_insert(self, key: Any, md: RecordMetadata, now: int) -> None:
        if self.tracks_access:
            md.frequency = (now << 8) | _LFU_INIT

    def on_access(self, key: Any, md: RecordMetadata, now: int) -> None:
        # Redis LFULogIncr after LFUDecrAndReturn.
        counter = lfu_aged_counter(md, now, self.decay_millis)
        if counter < _LFU_MAX:
            base = counter - _LFU_INIT
            if base < 0:
                base = 0
            if self._random() < 1.0 / (base * self.log_factor + 1):
                counter += 1
        md.frequency = (now << 8) | counter

    def _score(self, md: RecordMetadata, now: int) -> Any:
        p = self.policy
        if p is EvictionPolicy.LRU:
            return md.last_access_time
        if p is EvictionPolicy.LFU:
            return (md.hits, md.last_access_time)
        if p is EvictionPolicy.LFU_AGED:
            return (lfu_aged_counter(md, now, self.decay_millis), md.last_access_time)
        return md.creation_time  # FIFO (RANDOM does not score)

    def _select_lru(
        self, samples: list[tuple[Any, Record]], protected: Any, now: int, check_expiry: bool
    ) -> Victim | None:
        """The LRU loop of :meth:`select`, written out: it runs once per eviction."""
        best: tuple[Any, Record] | None = None
        best_score = _BIG
        # Compare records, not keys: an identity test never has to read a key object.
        shielded = self.engine.get(protected)
        if check_expiry:
            for pair in samples:
                rec = pair[1]
                md = rec.metadata
                accessed = md.last_access_time
                ttl = md.ttl_millis
                idle = md.max_idle_millis
                if (ttl and now - md.last_update_time > ttl) or (idle and now - accessed > idle):
                    return pair[0], rec, md.expiry_reason(now)
                if accessed < best_score and rec is not shielded:
                    best = pair
                    best_score = accessed
        else:
            for pair in samples:
                rec = pair[1]
                accessed = rec.metadata.last_access_time
                if accessed < best_score and rec is not shielded:
                    best = pair
                    best_score = accessed
        if best is not None:
            return best[0], best[1], None
        return _fallback(self.engine, protected, now, check_expiry)

    def select(self, protected: Any, now: int, check_expiry: bool) -> Victim | None:
        samples = self.engine.random_samples(self.sample_count)
        policy = self.policy
        if policy is EvictionPolicy.LRU:
            return self._select_lru(samples, protected, now, check_expiry)
        if policy is EvictionPolicy.RANDOM:
            return self._select_random(samples, protected, now, check_expiry)
        best_key: Any = None
        best_rec: Record | None = None
        best_score: Any = self._no_score
        lru = policy is EvictionPolicy.LRU
        fifo = policy is EvictionPolicy.FIFO
        for key, rec in samples:
            md = rec.metadata
            if check_expiry:
                ttl = md.ttl_millis
                idle = md.max_idle_millis
                if (ttl and now - md.last_update_time > ttl) or (
                    idle and now - md.last_access_time > idle
                ):
                    return key, rec, md.expiry_reason(now)
            if key == protected:
                continue
            if lru:
                score = md.last_access_time
            elif fifo:
                score = md.creation_time
            else:
                score = self._score(md, now)
            if score < best_score:
                best_key, best_rec, best_score = key, rec, score
        if best_rec is not None:
            return best_key, best_rec, None
        return _fallback(self.engine, protected, now, check_expiry)

    def _select_random(
        self, samples: list[tuple[Any, Record]], protected: Any, now: int, check_expiry: bool
    ) -> Victim | None:
        """An expired sample if any, else a sample drawn uniformly among those not protected.

        The draw matters when the sample is the whole store: the engine then returns its
        entries in a fixed order, and "the first sample" would be FIFO in disguise.
        """
        if check_expiry:
            for key, rec in samples:
                md = rec.metadata
                ttl = md.ttl_millis
                idle = md.max_idle_millis
                if (ttl and now - md.last_update_time > ttl) or (
                    idle and now - md.last_access_time > idle
                ):
                    return key, rec, md.expiry_reason(now)
        m = len(samples)
        if m:
            rand = self._random
            for _ in range(4):  # the protected key is at most half of a useful sample
                key, rec = samples[int(rand() * m)]
                if key != protected:
                    return key, rec, None
            for key, rec in samples:
                if key != protected:
                    return key, rec, None
        return _fallback(self.engine, protected, now, check_expiry)


def _victim(key: Any, rec: Record, now: int, check_expiry: bool) -> Victim:
    """``(key, rec, reason)``: the reason is set when the record has expired, so that it
    leaves as an expiry (``on_expire``), not as an eviction."""
    if check_expiry:
        reason = rec.metadata.expiry_reason(now)
        if reason is not _NOT:
            return key, rec, reason
    return key, rec, None


def _fallback(engine: StorageEngine, protected: Any, now: int, check_expiry: bool) -> Victim | None:
    """Any key but ``protected`` (the first two in cursor order), else ``protected`` itself."""
    page = engine.fetch_entries(IterationCursor.start(), 2).items
    for key, rec in page:
        if key != protected:
            return _victim(key, rec, now, check_expiry)
    for key, rec in page:
        return _victim(key, rec, now, check_expiry)
    return None


class ExactLruEvictor(Evictor):
    """True LRU: an ordered index of every key by last access (O(1) per operation).

    A reference policy: it takes the least recently used key even when some other entry has
    expired (it does not sample), but a victim that has expired leaves as an expiry.
    """

    tracks_access = True
    tracks_membership = True

    def __init__(self, engine: StorageEngine) -> None:
        self.engine = engine
        self.order: OrderedDict[Hashable, None] = OrderedDict()

    def on_insert(self, key: Any, md: RecordMetadata, now: int) -> None:
        self.order[key] = None
        self.order.move_to_end(key)

    def on_access(self, key: Any, md: RecordMetadata, now: int) -> None:
        self.order.move_to_end(key)

    def on_remove(self, key: Any) -> None:
        self.order.pop(key, None)

    def clear(self) -> None:
        self.order.clear()

    def select(self, protected: Any, now: int, check_expiry: bool) -> Victim | None:
        for key in self.order:
            if key != protected:
                rec = self.engine.get(key)
                if rec is not None:
                    return _victim(key, rec, now, check_expiry)
        rec = self.engine.get(protected)
        return _victim(protected, rec, now, check_expiry) if rec is not None else None


class ExactLfuEvictor(Evictor):
    """True LFU by ``hits`` (ties: least recently used first) over frequency buckets.

    O(1) per access; a victim costs O(distinct hit counts) to find the lowest bucket. Like
    :class:`ExactLruEvictor`, a reference policy whose expired victim leaves as an expiry.
    """

    tracks_access = True
    tracks_membership = True

    def __init__(self, engine: StorageEngine) -> None:
        self.engine = engine
        self.freq: dict[Hashable, int] = {}
        self.buckets: dict[int, OrderedDict[Hashable, None]] = {}

    def _place(self, key: Any, f: int) -> None:
        bucket = self.buckets.get(f)
        if bucket is None:
            bucket = self.buckets[f] = OrderedDict()
        bucket[key] = None
        self.freq[key] = f

    def _unplace(self, key: Any) -> int | None:
        f = self.freq.pop(key, None)
        if f is not None:
            bucket = self.buckets[f]
            del bucket[key]
            if not bucket:
                del self.buckets[f]
        return f

    def on_insert(self, key: Any, md: RecordMetadata, now: int) -> None:
        self._unplace(key)
        self._place(key, md.hits)

    def on_access(self, key: Any, md: RecordMetadata, now: int) -> None:
        # Writes count as recency only; touching reads raise md.hits, which is the frequency.
        self._unplace(key)
        self._place(key, md.hits)

    def on_remove(self, key: Any) -> None:
        self._unplace(key)

    def clear(self) -> None:
        self.freq.clear()
        self.buckets.clear()

    def select(self, protected: Any, now: int, check_expiry: bool) -> Victim | None:
        buckets = self.buckets
        if not buckets:
            return None
        lowest = min(buckets)  # O(distinct counts); sort only if the lowest holds `protected`
        for key in buckets[lowest]:
            if key != protected:
                rec = self.engine.get(key)
                if rec is not None:
                    return _victim(key, rec, now, check_expiry)
        for f in sorted(buckets):
            for key in buckets[f]:
                if key != protected:
                    rec = self.engine.get(key)
                    if rec is not None:
                        return _victim(key, rec, now, check_expiry)
        rec = self.engine.get(protected)
        return _victim(protected, rec, now, check_expiry) if rec is not None else None


def make_evictor(config: StorageConfig, engine: StorageEngine, rng: random.Random) -> Evictor | None:
    """The evictor ``config.eviction_policy`` names, or None for NONE."""
    policy = config.eviction_policy
    if policy is EvictionPolicy.NONE:
        return None
    if policy is EvictionPolicy.LRU_EXACT:
        return ExactLruEvictor(engine)
    if policy is EvictionPolicy.LFU_EXACT:
        return ExactLfuEvictor(engine)
    return SampledEvictor(policy, engine, config, rng)
