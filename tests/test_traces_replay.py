"""Replay: exact policies against libCacheSim and brute-force references, and the store path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import libcachesim as lcs
import numpy as np
import pandas as pd
import pytest

from toolkit import EventCounter, EvictionPolicy, StorageConfig
from toolkit.errors import ConfigError, InvalidArgumentError
from toolkit.traces import (
    BeladyPolicy,
    InMemoryTrace,
    LruPolicy,
    Op,
    ReplayResult,
    make_policy,
    replay,
    replay_store,
    synthetic_requests,
    write_csv,
    write_oracle_general,
)

N_REQUESTS = 20_000


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A Zipf(0.9) oracleGeneral trace over 1500 objects with sizes 1..200 bytes."""
    req = synthetic_requests(N_REQUESTS, 1_500, 0.9, seed=21, size_range=(1, 200))
    path = tmp_path_factory.mktemp("traces") / "zipf.oracleGeneral"
    write_oracle_general(path, req)
    return path, req


def _libcachesim(path: Path, cls: Callable[..., Any], size: int, by_bytes: bool) -> tuple[int, float]:
    """(misses, byte miss ratio) of a libCacheSim cache over the oracleGeneral file. By count,
    the reader ignores object sizes (every object counts 1 against a cache of ``size``)."""
    params = lcs.ReaderInitParam(ignore_obj_size=not by_bytes)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, params)
    miss_ratio, byte_miss_ratio = cls(size).process_trace(reader)
    return round(miss_ratio * N_REQUESTS), byte_miss_ratio


LCS_CLASSES = {"lru": lcs.LRU, "fifo": lcs.FIFO, "lfu": lcs.LFU, "belady": lcs.Belady}


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "belady"])
@pytest.mark.parametrize("capacity", [10, 150, 700])
def test_exact_by_count_matches_libcachesim(
    trace: tuple[Path, np.ndarray], policy: str, capacity: int
) -> None:
    path, _ = trace
    misses, _ = _libcachesim(path, LCS_CLASSES[policy], capacity, by_bytes=False)
    result = replay(path, policy, capacity=capacity, progress=False)
    assert result.misses == misses
    assert result.requests == result.reads == N_REQUESTS


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu"])
@pytest.mark.parametrize("capacity_bytes", [400, 15_000, 90_000])
def test_exact_by_bytes_matches_libcachesim(
    trace: tuple[Path, np.ndarray], policy: str, capacity_bytes: int
) -> None:
    path, _ = trace
    misses, byte_miss_ratio = _libcachesim(path, LCS_CLASSES[policy], capacity_bytes, True)
    result = replay(path, policy, capacity_bytes=capacity_bytes, progress=False)
    assert result.misses == misses
    assert result.byte_miss_ratio == pytest.approx(byte_miss_ratio, rel=1e-9)


# --- brute-force references (independent, O(n * capacity)) ------------------------------


def brute_force(requests: np.ndarray, policy: str, cap: int = 0, capb: int = 0) -> int:
    """Misses under the documented rules, by scanning every cached entry for the victim."""
    never = float("inf")
    cache: dict[int, dict[str, Any]] = {}
    misses = 0

    def score(item: tuple[int, dict[str, Any]]) -> Any:
        key, e = item
        if policy == "lru":
            return e["last"]
        if policy == "fifo":
            return e["inserted"]
        if policy == "lfu":
            return (e["freq"], e["last"])
        return (-e["next"], key)  # belady: farthest next use, then the smallest key

    def used() -> int:
        return sum(e["size"] for e in cache.values())

    def evict() -> None:
        victim = min(cache.items(), key=score)[0]
        del cache[victim]

    rows = zip(
        requests["key"].tolist(),
        requests["size"].tolist(),
        requests["op"].tolist(),
        requests["next_access"].tolist(),
        strict=True,
    )
    for i, (k, s, op, nxt) in enumerate(rows):
        nxt = never if nxt < 0 else nxt
        if op == Op.DELETE:
            cache.pop(k, None)
            continue
        if k in cache:
            e = cache[k]
            e["last"] = i
            e["next"] = nxt
            if op == Op.READ:
                e["freq"] += 1
                continue
            e["size"] = s
            if capb and s > capb:
                del cache[k]
            while capb and used() > capb:
                evict()
            continue
        if op == Op.READ:
            misses += 1
        if capb and s > capb:
            continue
        while cache and ((cap and len(cache) >= cap) or (capb and used() + s > capb)):
            evict()
        cache[k] = {"size": s, "inserted": i, "last": i, "freq": 1, "next": nxt}
    return misses


@pytest.fixture(scope="module")
def small_mixed() -> np.ndarray:
    """Writes, deletes and sizes: everything the rules cover."""
    return synthetic_requests(
        2_500, 120, 0.8, seed=5, size_range=(1, 60), write_fraction=0.2, delete_fraction=0.05
    )


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "belady"])
@pytest.mark.parametrize(("cap", "capb"), [(7, 0), (40, 0), (0, 300), (0, 1_500), (25, 900)])
def test_exact_matches_brute_force_with_writes_and_deletes(
    small_mixed: np.ndarray, policy: str, cap: int, capb: int
) -> None:
    result = replay(small_mixed, policy, cap, capb, progress=False)
    assert result.misses == brute_force(small_mixed, policy, cap, capb)
    assert result.reads + result.writes + result.deletes == len(small_mixed)
    assert result.writes == int((small_mixed["op"] == Op.WRITE).sum())


def test_lfu_and_belady_by_bytes_match_brute_force(trace: tuple[Path, np.ndarray]) -> None:
    # libCacheSim's Belady breaks ties between never-again objects its own way, which matters
    # by bytes; the brute-force reference states ours (the smallest key goes first).
    _, req = trace
    part = req[:4_000]
    for policy in ("lfu", "belady"):
        for capb in (500, 6_000):
            got = replay(part, policy, capacity_bytes=capb, recompute_next=True).misses
            assert got == brute_force(part, policy, capb=capb), (policy, capb)


def test_objects_larger_than_the_cache_are_never_inserted() -> None:
    req = synthetic_requests(6, 2, seed=0, size_range=5)
    req["key"] = [1, 2, 1, 2, 1, 2]
    req["size"] = [5, 50, 5, 50, 5, 50]
    result = replay(req, "lru", capacity_bytes=20)
    assert result.misses == 4  # key 1 hits twice; key 2 never fits
    assert result.evictions == 0


def test_chunking_does_not_change_results(small_mixed: np.ndarray) -> None:
    reads_only = synthetic_requests(5_000, 300, 1.0, seed=8, size_range=(1, 9))
    for req in (small_mixed, reads_only):
        for policy in ("lru", "fifo", "lfu", "belady"):
            whole = replay(InMemoryTrace(req), policy, 30)
            pieces = replay(InMemoryTrace(req, chunk_size=97), policy, 30)
            assert whole == pieces


def test_belady_computes_next_access_when_the_trace_has_none(tmp_path: Path) -> None:
    req = synthetic_requests(3_000, 200, 1.0, seed=4)
    plain = req.copy()
    plain["next_access"] = -1
    with_next = replay(req, "belady", 20)
    computed = replay(InMemoryTrace(plain, has_next_access=False), "belady", 20)
    assert computed == with_next
    path = tmp_path / "t.csv"
    write_csv(path, plain)  # a next_access column full of -1, so force recomputation
    from_csv = replay(path, "belady", 20, recompute_next=True)
    assert from_csv.misses == with_next.misses


def test_belady_is_the_lower_bound(small_mixed: np.ndarray) -> None:
    req = synthetic_requests(5_000, 400, 0.9, seed=9)
    for cap in (10, 100):
        opt = replay(req, "belady", cap).misses
        assert all(opt <= replay(req, p, cap).misses for p in ("lru", "fifo", "lfu"))


def test_results_become_a_dataframe(trace: tuple[Path, np.ndarray]) -> None:
    path, _ = trace
    results = [replay(path, p, capacity=100) for p in ("lru", "fifo")]
    df = pd.DataFrame(results)
    assert list(df["policy"]) == ["lru", "fifo"]
    for column in ("requests", "hits", "misses", "miss_ratio", "byte_miss_ratio"):
        assert column in df.columns
    r = results[0]
    assert r.hits + r.misses == r.reads
    assert r.miss_ratio == pytest.approx(r.misses / r.reads)
    assert r.byte_miss_ratio == pytest.approx(r.missed_bytes / r.read_bytes)
    assert set(r.as_dict()) >= {"requests", "misses", "miss_ratio"}


def test_replay_refuses_bad_arguments(trace: tuple[Path, np.ndarray]) -> None:
    path, _ = trace
    with pytest.raises(InvalidArgumentError, match="capacity"):
        replay(path, "lru")
    with pytest.raises(InvalidArgumentError, match="unknown exact policy"):
        replay(path, "arc", 10)
    with pytest.raises(InvalidArgumentError, match="capacity must be an int"):
        make_policy("lru", -1)
    assert isinstance(make_policy("OPT", 3), BeladyPolicy)
    assert isinstance(make_policy("lru", 3), LruPolicy)


# --- the store path ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timed() -> np.ndarray:
    """One request per millisecond, so last-access times never tie."""
    return synthetic_requests(N_REQUESTS, 1_500, 0.9, seed=21, requests_per_second=1000.0)


@pytest.mark.parametrize("capacity", [20, 150, 700])
def test_store_with_full_sampling_equals_exact_lru(timed: np.ndarray, capacity: int) -> None:
    # At eviction the store holds capacity + 1 entries: a sample that large sees all of them.
    exact = replay(timed, "lru", capacity)
    store = replay_store(timed, capacity, sample_count=capacity + 1)
    assert store.misses == exact.misses
    assert store.evictions == exact.evictions
    assert store.mode == "store" and store.policy == "lru"


def test_store_lru_exact_equals_exact_lru(timed: np.ndarray) -> None:
    exact = replay(timed, "lru", 300)
    assert replay_store(timed, 300, policy=EvictionPolicy.LRU_EXACT).misses == exact.misses


def test_store_through_oracle_general_file(tmp_path: Path) -> None:
    req = synthetic_requests(5_000, 500, 0.9, seed=2, requests_per_second=1.0)
    path = tmp_path / "t.oracleGeneral"
    write_oracle_general(path, req)  # one request per second: times survive the format
    exact = replay(path, "lru", 60)
    assert replay_store(path, 60, sample_count=61).misses == exact.misses


@pytest.mark.parametrize("capacity", [50, 300])
def test_store_with_15_samples_is_close_to_exact_lru(timed: np.ndarray, capacity: int) -> None:
    exact = replay(timed, "lru", capacity)
    sampled = replay_store(timed, capacity, sample_count=15, seed=7)
    assert abs(sampled.miss_ratio - exact.miss_ratio) < 0.02
    again = replay_store(timed, capacity, sample_count=15, seed=7)
    assert again == sampled  # seeded: reproducible


def test_store_ttl_from_the_trace_expires_entries() -> None:
    # 10 requests per second; every object lives 2 s after its last write.
    req = synthetic_requests(8_000, 400, 0.9, seed=3, requests_per_second=10.0, ttl_millis=2_000)
    counter = EventCounter()
    with_ttl = replay_store(req, 0, observers=[counter])
    no_ttl = req.copy()
    no_ttl["ttl_ms"] = 0
    without = replay_store(no_ttl, 0)
    assert without.misses == len(np.unique(req["key"]))  # unbounded: only cold misses
    assert with_ttl.misses > without.misses
    assert with_ttl.expirations > 0 and with_ttl.evictions == 0
    assert counter.counts["expire:ttl"] == with_ttl.expirations


def test_store_default_ttl_and_max_idle() -> None:
    req = synthetic_requests(6_000, 300, 0.9, seed=3, requests_per_second=10.0)
    base = replay_store(req, 0).misses
    ttl = replay_store(req, 0, ttl_millis=1_000).misses
    idle = replay_store(req, 0, max_idle_millis=1_000).misses
    assert ttl > base and idle > base
    assert ttl >= idle  # a read restarts the idle clock but never the TTL


def test_store_sweeps_expired_entries() -> None:
    req = synthetic_requests(6_000, 300, 0.9, seed=3, requests_per_second=10.0, ttl_millis=500)
    lazy = replay_store(req, 0)
    swept = replay_store(req, 0, sweep_interval_millis=1_000, sweep_percentage=100)
    assert swept.misses == lazy.misses  # sweeping changes memory held, not what is served
    assert swept.expirations >= lazy.expirations


def test_store_writes_and_deletes(small_mixed: np.ndarray) -> None:
    result = replay_store(small_mixed, 0)
    assert result.writes == int((small_mixed["op"] == Op.WRITE).sum())
    assert result.deletes == int((small_mixed["op"] == Op.DELETE).sum())
    # Unbounded and no TTL: a read misses only before the first write or read, or after a delete.
    assert result.misses == brute_force(small_mixed, "lru", cap=10**6)


def test_store_by_cost_bytes_evicts(timed: np.ndarray) -> None:
    result = replay_store(timed[:5_000], capacity_bytes=50_000)
    assert result.evictions > 0 and result.capacity_bytes == 50_000


def test_store_config_is_respected_and_validated(timed: np.ndarray) -> None:
    cfg = StorageConfig(eviction_policy="fifo", eviction_sample_count=5, sampling_seed=1)
    result = replay_store(timed[:3_000], 100, config=cfg)
    assert result.policy == "fifo" and result.sample_count == 5
    with pytest.raises(ConfigError, match="eviction_sample_count"):
        replay_store(timed[:10], 5, sample_count=0)
    with pytest.raises(InvalidArgumentError, match="sweep_interval_millis"):
        replay_store(timed[:10], 5, sweep_interval_millis=-1)


def test_replay_result_equality_ignores_time(timed: np.ndarray) -> None:
    a = replay(timed[:2_000], "lru", 10)
    b = replay(timed[:2_000], "lru", 10)
    assert isinstance(a, ReplayResult) and a == b


@pytest.mark.parametrize(
    "options",
    [
        {"size_range": 1},
        {"size_range": (1, 90)},
        {"size_range": (1, 90), "write_fraction": 0.3},
    ],
)
def test_lru_on_lru_cache_equals_lru_on_ordered_dict(options: dict[str, Any]) -> None:
    req = synthetic_requests(6_000, 500, 0.9, seed=12, **options)
    fast, plain = LruPolicy(40, may_delete=False), LruPolicy(40)
    for start in range(0, len(req), 1_000):
        fast.process(req[start : start + 1_000])
        plain.process(req[start : start + 1_000])
    assert fast.counters == plain.counters
    assert len(fast) == len(plain) == 40


def test_lru_promised_no_deletes_refuses_one() -> None:
    req = synthetic_requests(100, 10, seed=1, delete_fraction=0.5)
    with pytest.raises(InvalidArgumentError, match="promised"):
        LruPolicy(5, may_delete=False).process(req)


def test_progress_bar_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    req = synthetic_requests(3_000, 100, seed=1)
    quiet = replay(req, "lru", 10, progress=False)
    shown = replay(InMemoryTrace(req, chunk_size=500), "lru", 10, progress=True)
    assert shown == quiet
    assert "replay lru" in capsys.readouterr().err
