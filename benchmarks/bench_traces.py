"""Trace replay throughput against peers, in one run (medians over rounds).

1. Exact LRU (and FIFO) by object count over a 2M-request Zipf(0.9) oracleGeneral trace
   (100k objects, capacity 10k), file to miss ratio: ``toolkit.traces.replay`` against
   libCacheSim's native ``process_trace`` (reader with ``ignore_obj_size``), with the hash
   table of its Python constructors (hashpower 24) and with one sized for the trace. The miss
   ratios must be identical (asserted and printed).
2. Replay through the record store against ``cachetools.TTLCache`` driven by the same
   requests: same capacity, same TTL (60 s, one request per simulated ms), cache-aside (a
   read miss writes the key). The store runs twice: exact LRU (TTLCache's policy) and
   Hazelcast-style sampled LRU (15 samples).

Rounds alternate the contenders so that machine noise hits them alike. Ratio = peer time /
our time (above 1: we are faster).

    python benchmarks/bench_traces.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cachetools
import libcachesim as lcs
import numpy as np

from toolkit.traces import (
    InMemoryTrace,
    replay,
    replay_store,
    synthetic_requests,
    write_oracle_general,
)

__all__ = ["main"]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _libcachesim_run(path: Path, cls: Callable[..., Any], capacity: int, hashpower: int) -> float:
    """libCacheSim's object miss ratio; the reader counts every object as size 1."""
    params = lcs.ReaderInitParam(ignore_obj_size=True)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, params)
    miss_ratio, _ = cls(capacity, hashpower=hashpower).process_trace(reader)
    return float(miss_ratio)


def _ttlcache_run(requests: np.ndarray, capacity: int, ttl_ms: int) -> float:
    """cachetools.TTLCache driven by the requests (cache-aside); returns the miss ratio."""
    now = [0]
    cache: cachetools.TTLCache[int, int] = cachetools.TTLCache(
        maxsize=capacity, ttl=ttl_ms, timer=lambda: now[0]
    )
    get = cache.get
    misses = 0
    for t, k, s in zip(
        requests["time_ms"].tolist(),
        requests["key"].tolist(),
        requests["size"].tolist(),
        strict=True,
    ):
        now[0] = t
        if get(k) is None:
            misses += 1
            cache[k] = s
    return misses / len(requests)


def _exact_rows(path: Path, n: int, n_objects: int, capacity: int, rounds: int) -> list[list[Any]]:
    # libCacheSim's Python constructors default to a 2**24-bucket hash table; a table sized
    # for the trace's objects is faster, so both are measured.
    fitted = max(int(n_objects - 1).bit_length(), 10)
    rows = []
    for policy, cls in (("lru", lcs.LRU), ("fifo", lcs.FIFO)):
        ours_t: list[float] = []
        peer_t: dict[int, list[float]] = {24: [], fitted: []}
        ours_mr = peer_mr = 0.0
        misses = 0
        replay(path, policy, capacity, progress=False)  # warm-up: page cache, imports
        for _ in range(rounds):
            t, result = _timed(partial(replay, path, policy, capacity, progress=False))
            ours_t.append(t)
            ours_mr = result.miss_ratio
            misses = result.misses
            for hp, times in peer_t.items():
                t, peer_mr = _timed(partial(_libcachesim_run, path, cls, capacity, hp))
                times.append(t)
                assert round(peer_mr * n) == result.misses, (policy, peer_mr, ours_mr)
        ours = statistics.median(ours_t)
        for hp, times in peer_t.items():
            peer = statistics.median(times)
            rows.append(
                [
                    f"exact {policy.upper()}, {n:,} req, cap {capacity:,}",
                    f"libCacheSim process_trace, hashpower {hp}: {peer:.3f} s",
                    f"{ours:.3f} s",
                    f"{n / ours / 1e6:.2f} M req/s",
                    f"{peer / ours:.2f}x",
                    f"{ours_mr:.6f} / {peer_mr:.6f} (misses identical: {misses:,})",
                ]
            )
    return rows


def _store_rows(requests: np.ndarray, capacity: int, ttl_ms: int, rounds: int) -> list[list[Any]]:
    trace = InMemoryTrace(requests)
    n = len(requests)
    contenders: dict[str, Callable[[], float]] = {
        "TTLCache": lambda: _ttlcache_run(requests, capacity, ttl_ms),
        "store LRU_EXACT": lambda: (
            replay_store(trace, capacity, policy="lru_exact", progress=False).miss_ratio
        ),
        "store LRU, 15 samples": lambda: (
            replay_store(trace, capacity, policy="lru", sample_count=15, seed=1, progress=False).miss_ratio
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    ratios: dict[str, float] = {}
    for fn in contenders.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in contenders.items():
            t, mr = _timed(fn)
            times[name].append(t)
            ratios[name] = mr
    peer = statistics.median(times["TTLCache"])
    rows = []
    for name in ("store LRU_EXACT", "store LRU, 15 samples"):
        ours = statistics.median(times[name])
        rows.append(
            [
                f"{name}, {n:,} req, cap {capacity:,}, TTL {ttl_ms // 1000} s",
                f"cachetools.TTLCache {peer:.3f} s",
                f"{ours:.3f} s",
                f"{n / ours / 1e6:.2f} M req/s",
                f"{peer / ours:.2f}x",
                f"{ratios[name]:.6f} / {ratios['TTLCache']:.6f}",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller trace, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    n = 200_000 if args.quick else 2_000_000
    n_objects = 20_000 if args.quick else 100_000
    capacity = 2_000 if args.quick else 10_000
    store_n = 100_000 if args.quick else 500_000
    rounds = args.rounds or (3 if args.quick else 5)
    store_rounds = 2 if args.quick else 3
    ttl_ms = 60_000

    requests = synthetic_requests(n, n_objects, 0.9, seed=42, ttl_millis=ttl_ms)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zipf.oracleGeneral"
        write_oracle_general(path, requests)
        rows = _exact_rows(path, n, n_objects, capacity, rounds)
    rows += _store_rows(requests[:store_n], capacity, ttl_ms, store_rounds)
    header = [
        "benchmark",
        "peer (median)",
        "ours (median)",
        "our throughput",
        "ratio",
        "miss ratio ours / peer",
    ]
    print(f"Zipf(0.9), {n_objects:,} objects, {rounds} rounds (store: {store_rounds})\n")
    print(_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
