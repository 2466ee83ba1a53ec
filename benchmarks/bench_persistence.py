"""Persistence throughput: write-through and write-behind puts against raw sqlite3, in one run.

Stream: Zipf(1.0) over 10,000 keys (bounded, seeded), one small dict value per put, one
simulated millisecond per put. Every variant writes into a fresh database file in the same
temporary directory on disk, WAL mode, ``synchronous=NORMAL``, the same table layout.

* raw sqlite3, commit per row: ``INSERT OR REPLACE`` in autocommit mode, rows encoded before
  timing: the floor for a store that commits every acknowledged write (the fair peer of
  write-through, and the one its 1.5x target is measured against; write-through encodes
  inside its timing, so the ratio includes the encoding).
* raw sqlite3, executemany: every row in one transaction (no per-write durability): shown for
  scale.
* SQLiteDataStore (write-through): ``add`` per put, encoding included.
* WriteBehindDataStore over it, 1,000 ms delay, batches of up to 1,000, ``flush_due`` once
  per simulated second (every 1,000 puts, as Hazelcast's store worker runs every second) and
  ``hard_flush`` at the end, all inside the timing: with and without coalescing, and with
  coalescing at a 5 s delay (more writes coalesce).
* A bound for any write-behind in Python over this database: a minimal coalescing queue (a
  dict of key to value in first-write order, the same value check and encoding, the same
  per-second flush of what is due) with none of WriteBehindDataStore's guarantees (no lock
  for a flusher thread, no read of queued writes, one map, no retry, no stats).
* With ``synchronous=FULL`` (a disk sync per commit, power-loss safe): write-through (the
  first 300 puts only, or 1/20 of a short run: it is slow) and write-behind with coalescing.
* For context: both stores behind a DefaultRecordStore (``put``).
* A background flusher beside a busy writer (wall clock, ``start_flusher``): a writer thread
  puts in a tight loop for a few seconds while the flusher thread stores what is due; rows the
  flusher stored per second, with one row per INSERT statement against the default 200.

    python -m benchmarks.bench_persistence [--quick] [--ops N] [--rounds R] [--dir DIR]
        [--flusher-seconds S]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # run as a script: python benchmarks/bench_persistence.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.common import markdown_table, zipf_keys
else:
    from .common import markdown_table, zipf_keys

from toolkit import DefaultRecordStore, ManualClock, StorageConfig, SystemClock
from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore, encode_key, encode_value
from toolkit.datastores.codec import check_value, encode_plain

N_KEYS = 10_000
ALPHA = 1.0
DELAY_MS = 1_000
BATCH = 1_000
FLUSHER_BATCH = 100  # the background-flusher line's batch size
FLUSH_EVERY = 1_000  # puts, i.e. every simulated second (Hazelcast's store worker cadence)
MAP = "bench"

__all__ = ["main", "run"]


class Workload:
    """The stream and a supply of fresh database paths."""

    def __init__(self, n_ops: int, directory: Path, seed: int = 7) -> None:
        self.keys = zipf_keys(n_ops, N_KEYS, ALPHA, seed)
        self.nows = list(range(1, n_ops + 1))  # one simulated millisecond per put
        self.values = [{"seq": i, "user": k, "tags": ["a", "b"]} for i, k in enumerate(self.keys)]
        self.rows = [
            (MAP, encode_key(k), encode_value(v), 0, i)
            for i, (k, v) in enumerate(zip(self.keys, self.values, strict=True))
        ]
        self.directory = directory
        self._n = 0

    def fresh_path(self) -> Path:
        self._n += 1
        return self.directory / f"bench-{self._n}.db"


def _raw_connection(path: Path) -> sqlite3.Connection:
    # The same layout, journal and sync settings as SQLiteDataStore: open one, then reuse.
    SQLiteDataStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


_INSERT = (
    "INSERT OR REPLACE INTO entries(map_name, key, value, expiration_time, stored_time)"
    " VALUES (?, ?, ?, ?, ?)"
)


class Timing(NamedTuple):
    """One variant's run: wall and CPU seconds, rows written, puts made."""

    wall: float
    cpu: float
    rows: int
    puts: int


class _Timer:
    def __enter__(self) -> _Timer:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def stop(self, rows: int, puts: int) -> Timing:
        return Timing(time.perf_counter() - self.t0, time.process_time() - self.c0, rows, puts)

    def __exit__(self, *exc: object) -> None:
        return None


def raw_per_row(w: Workload) -> Timing:
    conn = _raw_connection(w.fresh_path())
    try:
        execute, rows = conn.execute, w.rows
        with _Timer() as t:
            for row in rows:
                execute(_INSERT, row)  # autocommit: one committed transaction per row
            return t.stop(len(rows), len(rows))
    finally:
        conn.close()


def raw_executemany(w: Workload) -> Timing:
    conn = _raw_connection(w.fresh_path())
    try:
        with _Timer() as t:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, w.rows)
            conn.execute("COMMIT")
            return t.stop(len(w.rows), len(w.rows))
    finally:
        conn.close()


def write_through(w: Workload, synchronous: str = "NORMAL", limit: int | None = None) -> Timing:
    clock = ManualClock(0)
    keys, values = w.keys[:limit], w.values[:limit]
    with SQLiteDataStore(w.fresh_path(), clock, synchronous=synchronous) as store:
        add = store.add
        with _Timer() as t:
            for now, k, v in zip(w.nows, keys, values, strict=False):
                add(MAP, k, v, 0, now)
            return t.stop(store.stats.writes, len(keys))


def write_behind(
    w: Workload, coalescing: bool, delay_ms: int = DELAY_MS, synchronous: str = "NORMAL"
) -> Timing:
    clock = ManualClock(0)
    inner = SQLiteDataStore(w.fresh_path(), clock, synchronous=synchronous)
    store = WriteBehindDataStore(
        inner, clock, delay_ms, BATCH, write_coalescing=coalescing, queue_capacity=len(w.keys) + 1
    )
    with store:
        add, flush = store.add, store.flush_due
        with _Timer() as t:
            for a in range(0, len(w.keys), FLUSH_EVERY):
                b = a + FLUSH_EVERY
                for now, k, v in zip(w.nows[a:b], w.keys[a:b], w.values[a:b], strict=True):
                    add(MAP, k, v, 0, now)
                flush(now)  # once per simulated second, as Hazelcast's store worker
            clock.set(len(w.keys))
            store.hard_flush()
            return t.stop(store.stats.writes, len(w.keys))


def minimal_write_behind(w: Workload) -> Timing:
    """The bound: coalescing in a dict (a key keeps its first write's place and due time),
    values checked on write and encoded on flush, due rows stored once per simulated second
    in one transaction, the rest at the end; nothing else."""
    conn = _raw_connection(w.fresh_path())
    values: dict[Any, Any] = {}
    due: dict[Any, int] = {}  # key -> when its first queued write is due, in queue order
    rows = 0

    def store(keys: list[Any], now: int) -> None:
        batch = [(MAP, encode_key(k), encode_plain(values.pop(k)), 0, now) for k in keys]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, batch)
        conn.execute("COMMIT")

    try:
        with _Timer() as t:
            for a in range(0, len(w.keys), FLUSH_EVERY):
                b = a + FLUSH_EVERY
                for now, k, v in zip(w.nows[a:b], w.keys[a:b], w.values[a:b], strict=True):
                    check_value(v)
                    values[k] = v
                    if k not in due:
                        due[k] = now + DELAY_MS
                ready = []
                for k, at in due.items():
                    if at > now:
                        break
                    ready.append(k)
                for k in ready:
                    del due[k]
                store(ready, now)
                rows += len(ready)
            rows += len(due)
            store(list(due), len(w.keys))
            return t.stop(rows, len(w.keys))
    finally:
        conn.close()


def record_store(w: Workload, behind: bool) -> Timing:
    clock = ManualClock(0)
    inner = SQLiteDataStore(w.fresh_path(), clock)
    ds: Any = WriteBehindDataStore(inner, clock, DELAY_MS, BATCH) if behind else inner
    with ds:
        rs = DefaultRecordStore(MAP, data_store=ds, config=StorageConfig(), clock=clock)
        put, tick = rs.put, clock.advance
        flush = ds.flush_due if behind else None
        with _Timer() as t:
            for i, (k, v) in enumerate(zip(w.keys, w.values, strict=True)):
                tick(1)
                put(k, v)
                if flush is not None and i % FLUSH_EVERY == 0:
                    flush()
            ds.hard_flush()
            return t.stop(ds.stats.writes, len(w.keys))


WRITE_THROUGH = "SQLiteDataStore write-through"
WRITE_BEHIND = "write-behind, coalescing"
RAW_ROW = "raw sqlite3, commit per row"
RAW_MANY = "raw sqlite3, executemany (one transaction)"
MINIMAL = "bound: minimal coalescing queue (no lock, no queued reads, no stats)"
FULL_SYNC_PUTS = 300  # at most; it syncs the disk per put
FULL_THROUGH = "write-through, synchronous=FULL (first puts only)"
FULL_BEHIND = "write-behind, coalescing, synchronous=FULL"

#: Every timed round of the last :func:`run`, per variant.
ROUNDS: dict[str, list[Timing]] = {}

VARIANTS: dict[str, Callable[[Workload], Timing]] = {
    RAW_ROW: raw_per_row,
    RAW_MANY: raw_executemany,
    WRITE_THROUGH: write_through,
    WRITE_BEHIND: lambda w: write_behind(w, True),
    "write-behind, no coalescing": lambda w: write_behind(w, False),
    "write-behind, coalescing, 5 s delay": lambda w: write_behind(w, True, 5_000),
    MINIMAL: minimal_write_behind,
    FULL_THROUGH: lambda w: write_through(w, "FULL", min(FULL_SYNC_PUTS, len(w.keys) // 20 + 1)),
    FULL_BEHIND: lambda w: write_behind(w, True, synchronous="FULL"),
    "record store put, write-through": lambda w: record_store(w, False),
    "record store put, write-behind (coalescing)": lambda w: record_store(w, True),
}


def flusher_beside_writer(directory: Path, rows_per_insert: int, seconds: float) -> tuple[float, float]:
    """(puts per second, rows the flusher stored per second) while the caller's thread puts
    in a tight loop for ``seconds`` and a background flusher (every 100 ms, no delay) stores
    the queue: keys drawn uniformly from 100,000, so the queue never runs dry."""
    rng = random.Random(11)
    inner = SQLiteDataStore(directory / f"flusher-{rows_per_insert}.db", rows_per_insert=rows_per_insert)
    # batches of 100: rows count as stored when their batch commits, so smaller batches give
    # a finer count (with 1,000 a one-row-per-INSERT flusher may commit none in a short run)
    store = WriteBehindDataStore(inner, SystemClock(), 0, FLUSHER_BATCH)
    with store:
        store.start_flusher(100)
        add, draw, clock = store.add, rng.randrange, time.perf_counter
        puts = 0
        started = clock()
        while clock() - started < seconds:
            for _ in range(1_000):
                puts += 1
                add(MAP, draw(100_000), {"seq": puts}, 0, 0)
        elapsed = clock() - started
        stored = store.stats.writes
        store.stop_flusher()
    return puts / elapsed, stored / elapsed


def run(n_ops: int, rounds: int, directory: Path) -> dict[str, Timing]:
    """Median wall and CPU seconds per variant (rounds interleaved, after a warm-up round).

    The rounds' own timings are kept in :data:`ROUNDS` (the target ratios are medians of each
    round's ratio: a round's variants ran back to back, so a slow minute hits them alike)."""
    w = Workload(n_ops, directory)
    runs: dict[str, list[Timing]] = {name: [] for name in VARIANTS}
    for r in range(rounds + 1):
        for name, fn in VARIANTS.items():
            timing = fn(w)
            if r:  # round 0 warms up caches and the file system
                runs[name].append(timing)
    ROUNDS.clear()
    ROUNDS.update(runs)
    return {
        name: Timing(
            statistics.median(t.wall for t in ts),
            statistics.median(t.cpu for t in ts),
            ts[-1].rows,
            ts[-1].puts,
        )
        for name, ts in runs.items()
    }


def report(results: dict[str, Timing]) -> tuple[str, dict[str, float]]:
    """The markdown table and the target ratios (wall time per put)."""
    per_put = {name: t.wall / t.puts for name, t in results.items()}
    wt, raw_row, raw_many = per_put[WRITE_THROUGH], per_put[RAW_ROW], per_put[RAW_MANY]
    table_rows = [
        (
            name,
            f"{1 / per_put[name]:,.0f}",
            f"{per_put[name] * 1e6:.1f}",
            f"{t.cpu / t.puts * 1e6:.1f}",
            f"{t.rows:,} of {t.puts:,}",
            f"{wt / per_put[name]:.2f}x",
            f"{per_put[name] / raw_row:.2f}",
            f"{per_put[name] / raw_many:.2f}",
        )
        for name, t in results.items()
    ]
    table = markdown_table(
        [
            "variant",
            "puts/s",
            "µs/put",
            "CPU µs/put",
            "rows written",
            "speed vs write-through",
            "time vs raw per-row commit",
            "time vs raw executemany",
        ],
        table_rows,
    )
    def per_round(a: str, b: str) -> float:
        """Median over the rounds of (a's wall time per put) / (b's)."""
        if not ROUNDS.get(a) or not ROUNDS.get(b):
            return (per_put[a]) / per_put[b]
        return statistics.median(
            (x.wall / x.puts) / (y.wall / y.puts) for x, y in zip(ROUNDS[a], ROUNDS[b], strict=True)
        )

    targets = {
        "write_behind_speedup": per_round(WRITE_THROUGH, WRITE_BEHIND),
        "write_behind_5s_speedup": per_round(WRITE_THROUGH, "write-behind, coalescing, 5 s delay"),
        "bound_speedup": per_round(WRITE_THROUGH, MINIMAL),
        "write_through_vs_raw_per_row": per_round(WRITE_THROUGH, RAW_ROW),
        "write_through_vs_raw_executemany": per_round(WRITE_THROUGH, RAW_MANY),
    }
    return table, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller stream, fewer rounds")
    parser.add_argument("--ops", type=int, default=None, help="puts per variant and round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (median)")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the database files")
    parser.add_argument(
        "--flusher-seconds", type=float, default=None,
        help="how long the writer runs beside a background flusher (default 3, --quick 1)",
    )
    args = parser.parse_args(argv)
    n_ops = args.ops or (10_000 if args.quick else 40_000)
    rounds = args.rounds or (5 if args.quick else 9)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-persistence-") as tmp:
        results = run(n_ops, rounds, Path(tmp))
        seconds = args.flusher_seconds or (1.0 if args.quick else 3.0)
        flusher = {n: flusher_beside_writer(Path(tmp), n, seconds) for n in (1, 200)}
    print(
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}; {n_ops:,} puts, "
        f"Zipf({ALPHA}) over {N_KEYS:,} keys, median of {rounds} rounds, WAL, synchronous=NORMAL, "
        f"write-behind delay {DELAY_MS} ms, batch {BATCH}. Wall-clock medians unless marked CPU "
        "(CPU time leaves out waiting for the disk).\n"
    )
    table, t = report(results)
    print(table)
    ok1 = t["write_behind_speedup"] >= 5
    ok2 = t["write_through_vs_raw_per_row"] <= 1.5
    print(
        f"\nTarget ratios are medians of each round's ratio.\n"
        f"write-behind (coalescing, 1 s delay) vs write-through: "
        f"{t['write_behind_speedup']:.2f}x faster (target >= 5x: {'met' if ok1 else 'NOT met'}); "
        f"with a 5 s delay: {t['write_behind_5s_speedup']:.2f}x"
    )
    print(
        f"a minimal coalescing queue with the same checks and flushes (no guarantees): "
        f"{t['bound_speedup']:.2f}x faster than write-through"
    )
    ft, fb = results[FULL_THROUGH], results[FULL_BEHIND]
    print(
        "with synchronous=FULL (a disk sync per commit) in both: write-behind "
        f"{(ft.wall / ft.puts) / (fb.wall / fb.puts):.0f}x faster than write-through per put"
    )
    (p1, r1), (p200, r200) = flusher[1], flusher[200]
    print(
        f"a background flusher beside a writer in a tight loop ({seconds:g} s): stored "
        f"{r1:,.0f} rows/s with one row per INSERT ({p1:,.0f} puts/s), {r200:,.0f} rows/s with "
        f"200 rows per INSERT ({p200:,.0f} puts/s)"
    )
    print(
        f"write-through vs raw sqlite3 commit per row: {t['write_through_vs_raw_per_row']:.2f}x "
        f"the time (target <= 1.5x: {'met' if ok2 else 'NOT met'}); vs raw executemany in one "
        f"transaction: {t['write_through_vs_raw_executemany']:.1f}x (no per-write durability "
        "there, so not the target's peer)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
