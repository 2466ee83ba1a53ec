"""Simulation throughput against a bare SimPy loop, in one run; and a 1M-request scenario.

1. Throughput: simulated requests per second of :func:`toolkit.sim.run` against a bare SimPy
   loop with the same number of processes and the same number of timeout events (one per
   request), alternating rounds, medians. The ratio is the share of time SimPy's own event
   loop takes in a simulation: 1.0 would mean the store and the simulation cost nothing.
   Two workloads: the benchmark scenario (``data/scenarios/large.toml`` cut to 20 s:
   cache-aside, where about a third of the reads miss and also pay a store put; the cut
   ends before the store fills, so nothing is evicted) and a read-mostly one (nearly every
   request a hit: the runner's own overhead).
   A peer in the same rounds: the same requests (the same seeded streams) through the same
   SimPy client loop, served by ``cachetools.TTLCache`` (exact LRU, the scenario's capacity
   and TTL, SimPy's clock as its timer) instead of the record store: what the lightest
   well-known pure-Python TTL cache reaches against bare SimPy.
2. End to end: load ``data/scenarios/large.toml`` (1M requests) and run it; target < 60 s.

    python benchmarks/bench_sim.py [--quick] [--rounds N]
    python -m benchmarks.bench_sim [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parent.parent
LARGE = ROOT / "data" / "scenarios" / "large.toml"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def bare_simpy(requests: int, clients: int, rate_per_s: float, seed: int = 0) -> float:
    """Seconds for a bare SimPy loop: ``clients`` processes, ``requests`` timeouts in all,
    exponential gaps (ms) pre-drawn as lists, as the runner draws them."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    per_client = requests // clients
    mean_gap = 1000.0 * clients / rate_per_s

    def client(gaps: list[float]) -> Generator[Any, Any, None]:
        timeout = env.timeout
        for gap in gaps:
            yield timeout(gap)

    for c in range(clients):
        n = per_client + (1 if c < requests % clients else 0)
        env.process(client(rng.exponential(mean_gap, n).tolist()))
    started = time.perf_counter()
    env.run()
    return time.perf_counter() - started


def peer_cache(scenario: Any) -> tuple[int, float, float]:
    """(requests, seconds, hit ratio) of the scenario's requests through the runner's client
    loop with ``cachetools.TTLCache`` in place of the record store (open loop, no data
    store, constant TTL: what ``large.toml`` and the read-mostly cut use). Draws the request
    blocks inside the timing, as the runner does; a read miss fills the key."""
    from cachetools import TTLCache

    from toolkit.sim.metrics import OUTCOME_HIT, OUTCOME_MISS, OUTCOME_WRITE
    from toolkit.sim.runner import seed_sequences
    from toolkit.sim.workload import client_streams

    w = scenario.workload
    if w.ttl_ms.kind != "constant" or w.arrival.kind == "trace":
        raise ValueError(f"the peer needs a constant TTL and generated arrivals: {scenario.name}")
    env = simpy.Environment()
    capacity = scenario.store.max_entry_count or float("inf")
    ttl = w.ttl_ms.value or float("inf")
    cache: TTLCache[Any, Any] = TTLCache(capacity, ttl, timer=lambda: env.now)
    outcomes: list[int] = []
    fill = w.write_on_miss

    def client(stream: Any) -> Generator[Any, Any, None]:
        timeout = env.timeout
        get = cache.get
        out = outcomes.append
        for block in stream:
            for gap, key, is_read, size in zip(
                block.gaps, block.keys, block.reads, block.values, strict=False
            ):
                yield timeout(gap)
                if is_read:
                    if get(key) is not None:
                        out(OUTCOME_HIT)
                    else:
                        if fill:
                            cache[key] = size
                        out(OUTCOME_MISS)
                else:
                    cache[key] = size
                    out(OUTCOME_WRITE)

    started = time.perf_counter()
    for stream in client_streams(w, seed_sequences(w.seed)[1]):
        env.process(client(stream))
    env.run(until=w.duration_ms)
    elapsed = time.perf_counter() - started
    reads = sum(1 for o in outcomes if o != OUTCOME_WRITE)
    hits = sum(1 for o in outcomes if o == OUTCOME_HIT)
    return len(outcomes), elapsed, hits / reads if reads else float("nan")


def throughput(scenario: Any, rounds: int) -> dict[str, Any]:
    """Median requests/s of the simulation, of the cachetools peer and of the bare loop,
    alternating rounds."""
    from toolkit.sim import run

    sim_rates: list[float] = []
    peer_rates: list[float] = []
    bare_rates: list[float] = []
    hit_ratio = peer_hit_ratio = float("nan")
    for r in range(rounds):
        started = time.perf_counter()
        result = run(scenario)
        elapsed = time.perf_counter() - started
        n = int(result.summary["requests"])
        hit_ratio = float(result.summary["hit_ratio"])
        sim_rates.append(n / elapsed)
        peer_n, peer_seconds, peer_hit_ratio = peer_cache(scenario)
        peer_rates.append(peer_n / peer_seconds)
        w = scenario.workload
        bare_rates.append(n / bare_simpy(n, w.clients, w.arrival.rate_per_s, seed=r))
    sim = statistics.median(sim_rates)
    peer = statistics.median(peer_rates)
    bare = statistics.median(bare_rates)
    return {
        "requests": n,
        "sim": sim,
        "peer": peer,
        "bare": bare,
        "ratio": sim / bare,
        "peer_ratio": peer / bare,
        "hit_ratio": hit_ratio,
        "peer_hit_ratio": peer_hit_ratio,
    }


def end_to_end(path: Path, scale: float) -> dict[str, Any]:
    """Load and run the scenario at ``path`` (its duration scaled by ``scale``)."""
    from toolkit.sim import load_scenario, run

    started = time.perf_counter()
    scenario = load_scenario(path)
    if scale != 1.0:
        w = scenario.workload
        scenario = scenario.with_overrides({"workload.duration_ms": int(w.duration_ms * scale)})
    result = run(scenario)
    return {
        "requests": int(result.summary["requests"]),
        "seconds": time.perf_counter() - started,
        "hit_ratio": float(result.summary["hit_ratio"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)

    from toolkit.sim import load_scenario

    large = load_scenario(LARGE)
    seconds = 5_000 if args.quick else 20_000
    bench = large.with_overrides({"workload.duration_ms": seconds})
    # every request a read of one of 5000 keys: after the first miss of each key (which
    # fills it), every read is a hit, so this measures the runner's own overhead
    hot = bench.with_overrides(
        {
            "name": "read-mostly",
            "workload.read_fraction": 1.0,
            "workload.keys.kind": "uniform",
            "workload.keys.key_count": 5_000,
            "store.max_entry_count": 0,
        }
    )
    rows: list[list[Any]] = []
    results: list[tuple[str, dict[str, Any]]] = []
    for label, scenario in (("large.toml (cache-aside, Zipf)", bench), ("read-mostly", hot)):
        t = throughput(scenario, rounds)
        results.append((label, t))
        rows.append(
            [
                label,
                f"{t['requests']:,}",
                f"{t['hit_ratio']:.3f}",
                f"{t['sim']:,.0f}",
                f"{t['bare']:,.0f}",
                f"{t['ratio']:.2f}x",
                f"{t['peer']:,.0f} ({t['peer_hit_ratio']:.3f})",
                f"{t['peer_ratio']:.2f}x",
            ]
        )
    print(f"Simulated requests per second vs a bare SimPy loop (median of {rounds} rounds)\n")
    print(
        _markdown(
            [
                "workload",
                "requests",
                "hit ratio",
                "sim req/s",
                "bare SimPy events/s",
                "ratio",
                "TTLCache in SimPy req/s (hit ratio)",
                "TTLCache ratio",
            ],
            rows,
        )
    )
    scale = 0.1 if args.quick else 1.0
    e2e = end_to_end(LARGE, scale)
    label = "large.toml" + (" (10 % of the duration, --quick)" if args.quick else "")
    print("\nEnd to end (load + run)\n")
    print(
        _markdown(
            ["scenario", "requests", "hit ratio", "wall (s)", "target"],
            [[label, f"{e2e['requests']:,}", f"{e2e['hit_ratio']:.3f}",
              f"{e2e['seconds']:.1f}", "< 60 s" if not args.quick else "< 6 s"]],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
