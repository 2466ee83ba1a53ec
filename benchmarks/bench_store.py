"""Record store throughput and memory against cachetools and a plain dict, in one run.

Stream: Zipf(1.0) over 100k keys, 80% reads (with touch) / 20% writes, capacity 10k, TTL on,
one simulated millisecond per request. Two ways to drive it: "mix" runs the stream as it is
(a read is a read, a write a write); "cache-aside" also writes the key after every read miss,
as an application filling a cache does, so about twice as many writes reach the store and
every one of them evicts.

    python -m benchmarks.bench_store [--quick]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from typing import Any

import cachetools
import numpy as np

from toolkit import (
    EvictionPolicy,
    ExpiryStrategy,
    ManualClock,
    RecordStoreFactory,
    StorageConfig,
)

from .common import markdown_table, median_time, zipf_keys

N_KEYS = 100_000
CAPACITY = 10_000
TTL_MS = 300_000  # long enough that the capacity binds: both eviction and expiry happen


def make_stream(n: int, seed: int = 7) -> tuple[list[int], list[bool]]:
    keys = zipf_keys(n, N_KEYS, 1.0, seed)
    writes = (np.random.default_rng(seed + 1).random(n) < 0.2).tolist()
    return keys, writes


def run_store(keys: list[int], writes: list[bool], policy: EvictionPolicy,
              strategy: ExpiryStrategy = ExpiryStrategy.CURSOR,
              aside: bool = True) -> tuple[float, int]:
    clock = ManualClock()
    store = RecordStoreFactory(
        StorageConfig(default_ttl_millis=TTL_MS, max_entry_count=CAPACITY,
                      eviction_policy=policy, expiry_strategy=strategy, sampling_seed=1),
        clock=clock,
    ).create("bench")
    get, put, tick = store.get, store.put, clock.advance
    for key, is_write in zip(keys, writes, strict=True):
        tick(1)
        if is_write:
            put(key, key)
        elif get(key, True) is None and aside:
            put(key, key)
    stats = store.stats
    return stats.hits / max(1, stats.hits + stats.misses), stats.evictions


def run_cachetools(keys: list[int], writes: list[bool], cache: Any, clock: ManualClock,
                   aside: bool = True) -> tuple[float, int | None]:
    tick = clock.advance
    get = cache.get
    hits = misses = 0
    for key, is_write in zip(keys, writes, strict=True):
        tick(1)
        if is_write:
            cache[key] = key
        elif get(key) is None:
            misses += 1
            if aside:
                cache[key] = key
        else:
            hits += 1
    return hits / max(1, hits + misses), None


def run_dict(keys: list[int], writes: list[bool], aside: bool = True) -> tuple[float, int]:
    d: dict[int, int] = {}
    get = d.get
    hits = misses = 0
    for key, is_write in zip(keys, writes, strict=True):
        if is_write:
            d[key] = key
        elif get(key) is None:
            misses += 1
            if aside:
                d[key] = key
        else:
            hits += 1
    return hits / max(1, hits + misses), 0


def throughput_table(n: int, rounds: int, aside: bool) -> tuple[str, dict[str, float]]:
    keys, writes = make_stream(n)
    results: dict[str, tuple[float, float, int | None]] = {}

    def timed(name: str, fn: Any) -> None:
        box: list[tuple[float, int | None]] = []
        t = median_time(lambda: box.append(fn()), rounds=rounds)
        results[name] = (n / t, *box[-1])

    def ttl_cache() -> tuple[float, int | None]:
        clock = ManualClock()
        cache: Any = cachetools.TTLCache(CAPACITY, TTL_MS, timer=clock.now_millis)
        return run_cachetools(keys, writes, cache, clock, aside)

    def lru_cache() -> tuple[float, int | None]:
        clock = ManualClock()
        return run_cachetools(keys, writes, cachetools.LRUCache(CAPACITY), clock, aside)

    timed("cachetools.TTLCache", ttl_cache)
    timed("cachetools.LRUCache (no TTL)", lru_cache)
    timed("plain dict (unbounded, no TTL)", lambda: run_dict(keys, writes, aside))
    policies = (EvictionPolicy.LRU, EvictionPolicy.LFU, EvictionPolicy.RANDOM,
                EvictionPolicy.LRU_EXACT)
    for policy in policies:
        timed(f"record store, {policy.value}",
              lambda p=policy: run_store(keys, writes, p, aside=aside))
    for strategy in (ExpiryStrategy.SCAN, ExpiryStrategy.DEADLINE):
        timed(f"record store, lru, {strategy.value} expiry index",
              lambda s=strategy: run_store(keys, writes, EvictionPolicy.LRU, s, aside=aside))
    base = results["cachetools.TTLCache"][0]
    rows = [
        (name, f"{ops / 1e6:.2f}", f"{ops / base:.2f}x", f"{hit:.3f}",
         "-" if evicted is None else f"{evicted:,}")
        for name, (ops, hit, evicted) in results.items()
    ]
    header = ["implementation", "M ops/s (median)", "vs TTLCache", "hit ratio", "evictions"]
    table = markdown_table(header, rows)
    return table, {k: v[0] / base for k, v in results.items()}


def bytes_per_entry(n: int) -> tuple[str, float]:
    def measure(build: Any) -> float:
        gc.collect()
        tracemalloc.start()
        obj = build()
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del obj
        return size / n

    keys = list(range(10**9, 10**9 + n))  # created outside the measurement, shared by both

    def store() -> Any:
        clock = ManualClock(1_000_000)
        s = RecordStoreFactory(StorageConfig(default_ttl_millis=TTL_MS), clock=clock).create("mem")
        for k in keys:
            s.put(k, 1)
        return s

    def ttl() -> Any:
        c: Any = cachetools.TTLCache(n + 1, TTL_MS, timer=lambda: 1_000_000)
        for k in keys:
            c[k] = 1
        return c

    def plain() -> Any:
        return dict.fromkeys(keys, 1)

    ours, theirs, base = measure(store), measure(ttl), measure(plain)
    rows = [
        ("record store (TTL on, cursor index)", f"{ours:.0f}", f"{ours / theirs:.2f}x"),
        ("cachetools.TTLCache", f"{theirs:.0f}", "1.00x"),
        ("plain dict", f"{base:.0f}", f"{base / theirs:.2f}x"),
    ]
    return markdown_table([f"structure ({n:,} entries)", "bytes/entry", "vs TTLCache"], rows), ours / theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller stream, fewer rounds")
    args = parser.parse_args(argv)
    n, rounds, mem_n = (200_000, 3, 200_000) if args.quick else (1_000_000, 5, 1_000_000)
    print(f"Python {sys.version.split()[0]}, cachetools {cachetools.__version__}")
    print(f"\nThroughput: {n:,} requests, Zipf(1.0) over {N_KEYS:,} keys, 80/20 read/write, "
          f"capacity {CAPACITY:,}, TTL {TTL_MS} ms, {rounds} rounds\n")
    for aside in (False, True):
        label = "cache-aside (a read miss writes the key)" if aside else "mix (the stream as it is)"
        print(f"\n{label}\n")
        table, _ = throughput_table(n, rounds, aside)
        print(table)
    print("\nMemory\n")
    mem_table, _ = bytes_per_entry(mem_n)
    print(mem_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
