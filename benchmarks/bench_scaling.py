"""How the record store's sweeps, iteration and eviction scale with the number of entries.

Each line compares the same operation on a small and a large store in one run, rounds
alternating between the two, and reports the ratio of the medians (large / small):

1. ``evict_expired(100, now)`` removing 1,000 expired entries from a 400k-entry store vs a
   10k-entry store, for the deadline, cursor and scan strategies. The other entries have no
   expiry, so only the 1,000 can expire. Targets: deadline and cursor <= 3x; scan is O(n)
   and allowed to grow (shown for contrast).
2. A full paged iteration (``fetch_entries``, page size 100) over 400k vs 10k entries (long
   TTL, so each entry's expiry is checked): per-entry cost ratio <= 2x.
3. A put at capacity (each put evicts one entry, sampled LRU, 15 samples): per-put cost at
   1M vs 10k entries, target ratio <= 2x. For reference: the engine's ``random_samples(15)``
   alone on the same stores (the memory reads sampling cannot avoid: 15 entries at random
   places in a heap of hundreds of MB), the store with exact LRU, and
   ``cachetools.LRUCache``, whose evictions walk memory in order.

Stores are built with plain puts. While rounds run, ``gc.freeze()`` keeps the built objects
out of the cyclic collector's generations, so the timings measure the store, not CPython
scanning a heap of millions of objects (which would slow any structure of that size alike).

    python -m benchmarks.bench_scaling [--quick]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any

from toolkit import (
    DefaultRecordStore,
    EvictionPolicy,
    ExpiryPolicy,
    ExpiryStrategy,
    IterationCursor,
    ManualClock,
    StorageConfig,
)

from .common import markdown_table

EXPIRED = 1_000
SWEEP_SMALL, SWEEP_LARGE = 10_000, 400_000
ITER_SMALL, ITER_LARGE = 10_000, 400_000
EVICT_SMALL, EVICT_LARGE = 10_000, 1_000_000
PAGE = 100


def _store(clock: ManualClock, **config: Any) -> DefaultRecordStore:
    return DefaultRecordStore("bench", 0, config=StorageConfig(sampling_seed=1, **config),
                              clock=clock)


def _fill(store: DefaultRecordStore, n: int, expiry: ExpiryPolicy = ExpiryPolicy.NONE,
          start: int = 0) -> None:
    put = store.put
    for key in range(start, start + n):
        put(key, key, expiry)


class Case:
    """One side of a comparison: ``round()`` runs the operation once and returns its cost
    (seconds, or seconds per unit)."""

    def round(self) -> float:
        raise NotImplementedError


def compare(small: Case, large: Case, rounds: int) -> tuple[float, float]:
    """Median cost of each case over ``rounds`` rounds after one warm-up round each, small
    and large alternating so that a change in machine load touches both alike."""
    gc.collect()
    gc.freeze()
    try:
        small.round()
        large.round()
        costs: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):
            costs[0].append(small.round())
            costs[1].append(large.round())
    finally:
        gc.unfreeze()
    return statistics.median(costs[0]), statistics.median(costs[1])


# --- 1. sweeps ----------------------------------------------------------------------------------


class SweepCase(Case):
    """``evict_expired(100, now)`` removing ``EXPIRED`` entries from a store that also holds
    ``n_live`` entries without expiry; each round first puts the ``EXPIRED`` ones (untimed)."""

    def __init__(self, strategy: ExpiryStrategy, n_live: int) -> None:
        self.strategy = strategy
        self.clock = ManualClock(0)
        self.store = _store(self.clock, expiry_strategy=strategy)
        _fill(self.store, n_live)
        self.next_key = n_live

    def round(self) -> float:
        _fill(self.store, EXPIRED, ExpiryPolicy(ttl_millis=10), start=self.next_key)
        self.next_key += EXPIRED
        now = self.clock.advance(11)
        t0 = time.perf_counter()
        removed = self.store.evict_expired(100, now)
        elapsed = time.perf_counter() - t0
        if removed != EXPIRED:
            raise AssertionError(f"{self.strategy.value}: removed {removed} of {EXPIRED}")
        return elapsed


# --- 2. paged iteration -------------------------------------------------------------------------


class IterationCase(Case):
    """A full ``fetch_entries`` pass with pages of ``PAGE``; cost per entry."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.store = _store(ManualClock(0))
        _fill(self.store, n, ExpiryPolicy(ttl_millis=10**9))

    def round(self) -> float:
        fetch = self.store.fetch_entries
        seen = 0
        cursor = IterationCursor.start()
        t0 = time.perf_counter()
        while not cursor.finished:
            page = fetch(cursor, PAGE)
            seen += len(page.items)
            cursor = page.next_cursor
        elapsed = time.perf_counter() - t0
        if seen != self.n:
            raise AssertionError(f"iteration saw {seen} of {self.n} entries")
        return elapsed / self.n


# --- 3. eviction at capacity --------------------------------------------------------------------


class EvictionCase(Case):
    """Puts of new keys into a full store (sampled LRU): each evicts one; cost per put."""

    def __init__(self, capacity: int, puts: int,
                 policy: EvictionPolicy = EvictionPolicy.LRU) -> None:
        self.capacity = capacity
        self.puts = puts
        self.clock = ManualClock(0)
        self.store = _store(self.clock, max_entry_count=capacity, eviction_policy=policy)
        put, tick = self.store.put, self.clock.advance
        for key in range(capacity):
            tick(1)
            put(key, key)
        self.next_key = capacity

    def round(self) -> float:
        store = self.store
        put, tick = store.put, self.clock.advance
        keys = range(self.next_key, self.next_key + self.puts)
        self.next_key += self.puts
        evictions = store.stats.evictions
        t0 = time.perf_counter()
        for key in keys:
            tick(1)
            put(key, key)
        elapsed = time.perf_counter() - t0
        if store.stats.evictions - evictions != self.puts or store.size() != self.capacity:
            raise AssertionError("every put at capacity should evict exactly one entry")
        return elapsed / self.puts


class SamplingCase(Case):
    """``random_samples(15)`` of a store's engine alone: the memory reads a sampled eviction
    cannot avoid (15 random entries); cost per call."""

    def __init__(self, store: DefaultRecordStore, calls: int) -> None:
        self.sample = store.storage().random_samples
        self.calls = calls

    def round(self) -> float:
        sample = self.sample
        t0 = time.perf_counter()
        for _ in range(self.calls):
            sample(15)
        return (time.perf_counter() - t0) / self.calls


class LruCacheCase(Case):
    """The same puts into a full ``cachetools.LRUCache`` (O(1) eviction from a linked order)."""

    def __init__(self, capacity: int, puts: int) -> None:
        import cachetools

        self.puts = puts
        self.cache: Any = cachetools.LRUCache(capacity)
        for key in range(capacity):
            self.cache[key] = key
        self.next_key = capacity

    def round(self) -> float:
        cache = self.cache
        keys = range(self.next_key, self.next_key + self.puts)
        self.next_key += self.puts
        t0 = time.perf_counter()
        for key in keys:
            cache[key] = key
        return (time.perf_counter() - t0) / self.puts


# --- the table -----------------------------------------------------------------------------------


def scaling_table(quick: bool) -> tuple[str, list[tuple[str, float, float | None]]]:
    """The markdown table, and (line, ratio, target or None) for each line."""
    rounds = 3 if quick else 7
    puts = 20_000 if quick else 50_000
    rows = []
    ratios: list[tuple[str, float, float | None]] = []

    def line(what: str, variant: str, small: str, large: str, ratio: float,
             target: float | None, note: str = "") -> None:
        verdict = note if target is None else (
            f"<= {target:g}x: {'met' if ratio <= target else 'MISSED'}"
        )
        rows.append((what, variant, small, large, f"{ratio:.2f}x", verdict))
        ratios.append((f"{what} / {variant}", ratio, target))

    sweep_what = f"evict_expired(100) removing {EXPIRED:,} expired"
    for strategy, target in ((ExpiryStrategy.DEADLINE, 3.0), (ExpiryStrategy.CURSOR, 3.0),
                             (ExpiryStrategy.SCAN, None)):
        small, large = compare(SweepCase(strategy, SWEEP_SMALL),
                               SweepCase(strategy, SWEEP_LARGE), 3 * rounds)  # cheap rounds
        line(sweep_what, strategy.value, f"{small * 1e3:.2f} ms", f"{large * 1e3:.2f} ms",
             large / small, target, "none: O(n), shown for contrast")

    small, large = compare(IterationCase(ITER_SMALL), IterationCase(ITER_LARGE), rounds)
    line(f"full fetch_entries pass, page {PAGE}, per entry", "long TTL on every entry",
         f"{small * 1e9:.0f} ns", f"{large * 1e9:.0f} ns", large / small, 2.0)

    put_what = "put at capacity (evicts one), per put"
    cases = EvictionCase(EVICT_SMALL, puts), EvictionCase(EVICT_LARGE, puts)
    small, large = compare(*cases, rounds)
    line(put_what, "sampled LRU, 15 samples", f"{small * 1e6:.2f} us", f"{large * 1e6:.2f} us",
         large / small, 2.0)
    small, large = compare(SamplingCase(cases[0].store, puts),
                           SamplingCase(cases[1].store, puts), rounds)
    line("engine.random_samples(15) alone, per call", "the same stores",
         f"{small * 1e6:.2f} us", f"{large * 1e6:.2f} us", large / small, None,
         "none: memory latency of 15 random entries")
    del cases
    small, large = compare(EvictionCase(EVICT_SMALL, puts, EvictionPolicy.LRU_EXACT),
                           EvictionCase(EVICT_LARGE, puts, EvictionPolicy.LRU_EXACT), rounds)
    line(put_what, "reference: exact LRU (no sampling)", f"{small * 1e6:.2f} us",
         f"{large * 1e6:.2f} us", large / small, None, "none: reference")
    small, large = compare(LruCacheCase(EVICT_SMALL, puts), LruCacheCase(EVICT_LARGE, puts),
                           rounds)
    line(put_what, "reference: cachetools.LRUCache",
         f"{small * 1e6:.2f} us", f"{large * 1e6:.2f} us", large / small, None,
         "none: reference")

    header = ["operation", "variant",
              f"small ({SWEEP_SMALL // 1000}k entries; {EVICT_SMALL // 1000}k for puts)",
              f"large ({SWEEP_LARGE // 1000}k entries; {EVICT_LARGE // 1_000_000}M for puts)",
              "large / small", "target"]
    return markdown_table(header, rows), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and puts")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rounds = 3 if args.quick else 7
    print(f"Python {sys.version.split()[0]}; medians of {rounds} rounds ({3 * rounds} for "
          f"sweeps), small and large alternating after a warm-up round each; one run.\n")
    table, ratios = scaling_table(args.quick)
    print(table)
    print(f"\nSweep lines: besides the stated number of entries without expiry, the store holds "
          f"the {EXPIRED:,} expired ones, so only those {EXPIRED:,} are expirable. Puts at "
          f"capacity insert new keys into a full store. "
          f"({time.perf_counter() - started:.0f} s)")
    missed = [name for name, ratio, target in ratios if target is not None and ratio > target]
    if missed:
        print("\nMissed targets: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
