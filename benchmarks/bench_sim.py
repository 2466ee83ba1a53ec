"""Simulation throughput against a bare SimPy loop, in one run; and a 1M-request scenario.

1. Throughput: simulated requests per second of :func:`toolkit.sim.run` against a bare SimPy
   loop with the same number of processes and the same number of timeout events (one per
   request), in rounds after an untimed warm-up (the variants rotate who goes first; each
   timed section starts from a collected heap with the cyclic collector paused, as the
   runner's loop runs); rates are medians, ratios medians of each round's ratio. The ratio
   is the share of time SimPy's own event loop takes in a simulation: 1.0 would mean the
   store and the simulation cost nothing.
   Two workloads: the benchmark scenario (``data/scenarios/large.toml`` cut to 20 s:
   cache-aside, where about a third of the reads miss and also pay a store put; the cut
   ends before the store fills, so nothing is evicted) and a read-mostly one (nearly every
   request a hit: the runner's own overhead).
   Two peers in the same rounds: the same requests (the same seeded streams) through the
   same SimPy client loop, served by ``cachetools.TTLCache`` (exact LRU, the scenario's
   capacity and TTL, SimPy's clock as its timer) instead of the record store: what the
   lightest well-known pure-Python TTL cache reaches against bare SimPy; and by a plain
   ``dict`` (no TTL, no capacity, no metrics): the floor, what the client loop and one dict
   operation a request cost: no store served from this loop in Python can go below it.
2. End to end: load ``data/scenarios/large.toml`` (1M requests) and run it; target < 60 s.

    python benchmarks/bench_sim.py [--quick] [--rounds N]
    python -m benchmarks.bench_sim [--quick]
"""

from __future__ import annotations

import argparse
import gc
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
    from toolkit.gcpause import gc_paused

    gc.collect()  # start from a clean heap, as every timed section does
    started = time.perf_counter()
    with gc_paused():  # the same collector setting as the runner's loop
        env.run()
    return time.perf_counter() - started


def peer_cache(scenario: Any, plain: bool = False) -> tuple[int, float, float]:
    """(requests, seconds, hit ratio) of the scenario's requests through the runner's client
    loop with ``cachetools.TTLCache`` in place of the record store (open loop, no data
    store, constant TTL: what ``large.toml`` and the read-mostly cut use), or with a plain
    ``dict`` when ``plain`` (no TTL and no capacity: the floor). Draws the request blocks
    inside the timing, as the runner does; a read miss fills the key."""
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
    cache: Any = {} if plain else TTLCache(capacity, ttl, timer=lambda: env.now)
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

    from toolkit.gcpause import gc_paused

    gc.collect()  # no garbage or pending full collection left by the previous variant
    started = time.perf_counter()
    for stream in client_streams(w, seed_sequences(w.seed)[1]):
        env.process(client(stream))
    with gc_paused():  # the runner pauses the collector for its loop: so does the peer
        env.run(until=w.duration_ms)
    elapsed = time.perf_counter() - started
    reads = sum(1 for o in outcomes if o != OUTCOME_WRITE)
    hits = sum(1 for o in outcomes if o == OUTCOME_HIT)
    return len(outcomes), elapsed, hits / reads if reads else float("nan")


def throughput(scenario: Any, rounds: int) -> dict[str, Any]:
    """Requests/s of the simulation, of the two peers (cachetools, plain dict) and of the bare
    loop: medians over ``rounds`` rounds after an untimed warm-up round, the four rotating
    who goes first; the ratios are medians of each round's own ratios (the rounds' variants
    ran back to back, so a slow minute of the machine hits all four). Every timed section
    starts from a collected heap with the cyclic collector paused, as the runner's loop
    runs."""
    from toolkit.sim import run

    w = scenario.workload
    rates: dict[str, list[float]] = {"sim": [], "peer": [], "dict": [], "bare": []}
    seen: dict[str, Any] = {"requests": 0}

    def sim_round(r: int) -> float:
        gc.collect()
        started = time.perf_counter()
        result = run(scenario)
        elapsed = time.perf_counter() - started
        seen["requests"] = int(result.summary["requests"])
        seen["hit_ratio"] = float(result.summary["hit_ratio"])
        return seen["requests"] / elapsed

    def peer_round(r: int) -> float:
        peer_n, peer_seconds, seen["peer_hit_ratio"] = peer_cache(scenario)
        return peer_n / peer_seconds

    def dict_round(r: int) -> float:
        dict_n, dict_seconds, _ = peer_cache(scenario, plain=True)
        return dict_n / dict_seconds

    def bare_round(r: int) -> float:
        n = seen["requests"]
        return n / bare_simpy(n, w.clients, w.arrival.rate_per_s, seed=r)

    variants = [("sim", sim_round), ("peer", peer_round), ("dict", dict_round), ("bare", bare_round)]
    for _, fn in variants:  # warm-up, untimed; also gives the bare loop its request count
        fn(0)
    for r in range(rounds):
        k = r % len(variants)
        for name, fn in variants[k:] + variants[:k]:
            rates[name].append(fn(r))
    med = statistics.median
    return {
        "requests": seen["requests"],
        "sim": med(rates["sim"]),
        "peer": med(rates["peer"]),
        "bare": med(rates["bare"]),
        "ratio": med(s / b for s, b in zip(rates["sim"], rates["bare"], strict=True)),
        "peer_ratio": med(p / b for p, b in zip(rates["peer"], rates["bare"], strict=True)),
        "dict": med(rates["dict"]),
        "dict_ratio": med(d / b for d, b in zip(rates["dict"], rates["bare"], strict=True)),
        "ratio_range": (
            min(s / b for s, b in zip(rates["sim"], rates["bare"], strict=True)),
            max(s / b for s, b in zip(rates["sim"], rates["bare"], strict=True)),
        ),
        "hit_ratio": seen["hit_ratio"],
        "peer_hit_ratio": seen["peer_hit_ratio"],
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
    rounds = args.rounds or (5 if args.quick else 9)

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
                f"{t['ratio']:.2f}x ({t['ratio_range'][0]:.2f}-{t['ratio_range'][1]:.2f})",
                f"{t['peer']:,.0f} ({t['peer_hit_ratio']:.3f})",
                f"{t['peer_ratio']:.2f}x",
                f"{t['dict']:,.0f}",
                f"{t['dict_ratio']:.2f}x",
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
                "ratio (rounds' range)",
                "TTLCache in SimPy req/s (hit ratio)",
                "TTLCache ratio",
                "dict in SimPy req/s",
                "dict ratio (floor)",
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
            [
                [
                    label,
                    f"{e2e['requests']:,}",
                    f"{e2e['hit_ratio']:.3f}",
                    f"{e2e['seconds']:.1f}",
                    "< 60 s" if not args.quick else "< 6 s",
                ]
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
