"""The runner: :func:`run` drives a scenario's workload against a record store in SimPy.

One SimPy process per client issues requests (one timeout event each) from pre-drawn blocks;
background processes sweep expired entries, flush the write-behind queue and sample the
timeline. Simulated time is in milliseconds and reaches the store only through its
:class:`~toolkit.SimClock`. Latency is charged from what each operation made the data store
do (its :class:`~toolkit.DataStoreStats` before and after); nothing sleeps.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import simpy

from ..clocks import SimClock
from ..datastores.base import MapDataStore, NullDataStore
from ..factory import RecordStoreFactory
from ..gcpause import gc_paused
from ..observers import MutationObserver
from ..progress import progress_bar, progress_enabled
from ..records import ExpiryPolicy, SizedValue
from .errors import ScenarioError
from .metrics import (
    OUTCOME_HIT,
    OUTCOME_MISS,
    OUTCOME_MISS_FILL,
    OUTCOME_WRITE,
    MetricsRecorder,
)
from .scenario import DataStoreSpec, Scenario
from .workload import RequestStream, Trace, TraceStream, client_streams, read_trace

__all__ = [
    "run",
    "SimResult",
    "OperationRecord",
    "MillisSimClock",
    "build_data_store",
    "seed_sequences",
    "SUMMARY_METRICS",
]


class OperationRecord(NamedTuple):
    """One client operation (kept when ``run(..., record_operations=True)``).

    ``time_ms`` is when it was issued; ``op`` is ``"get"`` or ``"put"``; ``hit`` is whether a
    read was served from memory (None for a put); ``latency_ms`` what it was charged (for a
    read miss with ``write_on_miss``, the read and the fill together).
    """

    time_ms: float
    client: int
    op: str
    key: Any
    hit: bool | None
    latency_ms: float


@dataclass
class SimResult:
    """What :func:`run` returns.

    ``timeline``: one row per sampling interval (columns
    :data:`~toolkit.sim.metrics.TIMELINE_COLUMNS`); ``summary``: totals and means of the
    whole run (plain Python values; NaN where a measure is undefined, such as the hit ratio of
    a run without reads, which ``summary.json`` writes as null); ``operations``: one row per operation
    (:class:`OperationRecord` fields) or None; ``wall_seconds``: how long the run took.
    """

    scenario: Scenario
    timeline: pd.DataFrame
    summary: dict[str, Any]
    operations: pd.DataFrame | None = None
    wall_seconds: float = field(default=0.0, compare=False)


def build_data_store(spec: DataStoreSpec, clock: SimClock) -> MapDataStore:
    """The data store a :class:`~toolkit.sim.DataStoreSpec` describes, on ``clock``."""
    if spec.kind == "null":
        return NullDataStore()
    from ..datastores import SQLiteDataStore

    if spec.kind == "sqlite" or spec.inner == "sqlite":
        inner: MapDataStore = SQLiteDataStore(spec.path, clock=clock)
    else:
        inner = NullDataStore()
    if spec.kind == "sqlite":
        return inner
    from ..datastores import WriteBehindDataStore

    kwargs: dict[str, Any] = {
        "write_delay_millis": spec.write_delay_ms,
        "write_batch_size": spec.write_batch_size,
        "write_coalescing": spec.write_coalescing,
    }
    if spec.queue_capacity:
        kwargs["queue_capacity"] = spec.queue_capacity
    store: MapDataStore = WriteBehindDataStore(inner, clock, **kwargs)
    return store


def seed_sequences(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(store sampling, requests): the two independent seed streams of a run."""
    store_seq, request_seq = np.random.SeedSequence(seed).spawn(2)
    return store_seq, request_seq


#: The numeric measures of a run's summary (besides the scenario's settings it repeats).
SUMMARY_METRICS: tuple[str, ...] = (
    *MetricsRecorder().summary(),
    "backing_writes",
    "backing_deletes",
    "backing_batches",
    "backing_loads",
    "pending_writes_end",
)

#: How many times a run with a progress bar stops to update it.
PROGRESS_STEPS = 200


class MillisSimClock(SimClock):
    """A :class:`~toolkit.SimClock` for an environment that counts milliseconds
    (``millis_per_unit=1``): the same times, read with one ``round`` (the hot path reads the
    clock once per operation)."""

    __slots__ = ()

    def __init__(self, env: simpy.Environment) -> None:
        super().__init__(env, millis_per_unit=1)

    def now_millis(self) -> int:
        """The environment's ``now`` rounded to whole milliseconds."""
        return round(self.env.now)


class _Simulation:
    """The wiring of one run: environment, clock, data store, store, recorder, processes."""

    def __init__(
        self,
        scenario: Scenario,
        record_operations: bool,
        trace: Trace | None,
        observers: Sequence[MutationObserver] = (),
    ) -> None:
        self.scenario = scenario
        w = scenario.workload
        if w.arrival.kind == "trace" and trace is None:
            trace = read_trace(w.arrival.trace)
        self.env = simpy.Environment()
        self.clock = MillisSimClock(self.env)
        store_seq, request_seq = seed_sequences(w.seed)
        config = scenario.store
        if config.sampling_seed is None:
            config = config.with_changes(sampling_seed=int(store_seq.generate_state(1)[0]))
        self.ds = build_data_store(scenario.data_store, self.clock)
        self.ds_null = self.ds.is_null()
        lm = scenario.latency
        self.recorder = MetricsRecorder(
            (
                lm.memory_hit_ms,
                lm.memory_miss_ms,
                lm.memory_miss_ms + lm.memory_write_ms,
                lm.memory_write_ms,
            )
        )
        self.store = RecordStoreFactory(
            config, self.ds, [self.recorder, *observers], self.clock
        ).create(
            scenario.name, 0
        )
        self.streams = client_streams(w, request_seq, trace)
        self.operations: list[OperationRecord] | None = [] if record_operations else None
        self._policies: dict[tuple[int, int], ExpiryPolicy] = {}
        self._values: dict[int, SizedValue] = {}
        self._tags = itertools.count(1)
        self._last_sample = -1
        shifting = w.keys.kind == "shifting_hotset" and w.arrival.kind != "trace"
        #: the hot set moves every this many ms (0: keys are used as drawn)
        self.shift_every_ms = w.keys.shift_every_ms if shifting else 0

    # --- values and expiry policies --------------------------------------------------------

    def _policy(self, ttl: int, idle: int) -> ExpiryPolicy:
        key = (ttl, idle)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = ExpiryPolicy(ttl, idle)
        return policy

    def _policies_of(self, ttls: Iterable[int], idles: Iterable[int]) -> Iterable[ExpiryPolicy]:
        if isinstance(ttls, itertools.repeat) and isinstance(idles, itertools.repeat):
            t = next(iter(ttls))
            i = next(iter(idles))
            return itertools.repeat(self._policy(t, i))
        policy = self._policy
        return [policy(t, i) for t, i in zip(ttls, idles, strict=False)]

    def _value(self, nbytes: int) -> SizedValue:
        """A new placeholder of ``nbytes`` bytes, tagged with a write counter: with a data
        store each write needs its own object (write-behind tells writes apart by identity)."""
        return SizedValue(nbytes, next(self._tags))

    def _shared_values(self, sizes: Iterable[int]) -> Iterable[SizedValue]:
        """Placeholders for a block of sizes, one shared object per size: without a data
        store nothing tells two writes' values apart, so they need not be distinct."""
        cache = self._values
        if isinstance(sizes, itertools.repeat):
            n = next(iter(sizes))
            v = cache.get(n)
            if v is None:
                v = cache[n] = SizedValue(n, 0)
            return itertools.repeat(v)
        out = []
        for n in sizes:
            v = cache.get(n)
            if v is None:
                v = cache[n] = SizedValue(n, 0)
            out.append(v)
        return out

    # --- client processes --------------------------------------------------------------------

    def _client_null(self, stream: RequestStream | TraceStream) -> Generator[Any, Any, None]:
        """A client against a store with no data store, open loop, no operation records:
        the hot path. Every outcome has a fixed latency, so it only appends outcome codes."""
        env = self.env
        timeout = env.timeout
        store = self.store
        get = store.get
        put = store.put
        out = self.recorder.outcomes.append
        fill = self.scenario.workload.write_on_miss
        hit_code = OUTCOME_HIT
        miss_code = OUTCOME_MISS_FILL if fill else OUTCOME_MISS
        write_code = OUTCOME_WRITE
        kp = self.scenario.workload.keys
        shift_every = self.shift_every_ms
        hot = kp.hot_count
        count = kp.key_count
        for block in stream:
            policies = self._policies_of(block.ttls, block.idles)
            values = self._shared_values(block.values)
            for gap, key, is_read, value, policy in zip(
                block.gaps, block.keys, block.reads, values, policies, strict=False
            ):
                yield timeout(gap)
                if shift_every:
                    key = (key + int(env.now // shift_every) * hot) % count
                if is_read:
                    if get(key, True) is not None:
                        out(hit_code)
                    else:
                        if fill:
                            put(key, value, policy)
                        out(miss_code)
                else:
                    put(key, value, policy)
                    out(write_code)

    def _client(self, stream: RequestStream | TraceStream) -> Generator[Any, Any, None]:
        """A client in the general case: charges data-store work, closed loop, records."""
        env = self.env
        timeout = env.timeout
        store = self.store
        get = store.get
        put = store.put
        ds = self.ds
        rec = self.recorder
        lat = rec.latency.values.append
        lm = self.scenario.latency
        charge = lm.charge
        w = self.scenario.workload
        fill = w.write_on_miss
        closed = w.arrival.closed_loop
        kp = w.keys
        shift_every = self.shift_every_ms
        hot = kp.hot_count
        count = kp.key_count
        value = self._value
        ops = self.operations
        client = stream.client
        carry = 0.0
        for block in stream:
            policies = self._policies_of(block.ttls, block.idles)
            for gap, key, is_read, nbytes, policy in zip(
                block.gaps, block.keys, block.reads, block.values, policies, strict=False
            ):
                yield timeout(gap + carry)
                if shift_every:
                    key = (key + int(env.now // shift_every) * hot) % count
                s = ds.stats
                l0, k0, b0 = s.loads, s.keys_loaded, s.write_batches
                r0, q0 = s.writes + s.deletes, s.queued
                hit: bool | None
                if is_read:
                    loads_before = rec.loads
                    found = get(key, True) is not None
                    hit = found and rec.loads == loads_before
                    rec.reads += 1
                    if hit:
                        rec.hits += 1
                        base = lm.memory_hit_ms
                    else:
                        rec.misses += 1
                        base = lm.memory_miss_ms
                        if fill and not found:
                            put(key, value(nbytes), policy)
                            rec.fills += 1
                            base += lm.memory_write_ms
                else:
                    hit = None
                    put(key, value(nbytes), policy)
                    rec.writes += 1
                    base = lm.memory_write_ms
                s = ds.stats
                latency = charge(
                    base,
                    s.loads - l0,
                    s.keys_loaded - k0,
                    s.write_batches - b0,
                    s.writes + s.deletes - r0,
                    s.queued - q0,
                )
                lat(latency)
                if closed:
                    carry = latency
                if ops is not None:
                    ops.append(
                        OperationRecord(
                            env.now, client, "get" if is_read else "put", key, hit, latency
                        )
                    )

    # --- background processes ----------------------------------------------------------------

    def _sweeper(self, interval: int, percentage: int) -> Generator[Any, Any, None]:
        """Hazelcast's ClearExpiredRecordsTask: ``evict_expired`` every ``interval`` ms."""
        timeout = self.env.timeout
        now = self.clock.now_millis
        evict_expired = self.store.evict_expired
        while True:
            yield timeout(interval)
            evict_expired(percentage, now())

    def _flusher(self, interval: int) -> Generator[Any, Any, None]:
        """The write-behind flusher: store what is due every ``interval`` ms; its round trips,
        failed ones included, are charged to the ``flush`` tally (background time, not client
        latency)."""
        timeout = self.env.timeout
        now = self.clock.now_millis
        ds = self.ds
        flush_due = ds.flush_due  # type: ignore[attr-defined]
        charge = self.scenario.latency.charge
        tally = self.recorder.flush
        while True:
            yield timeout(interval)
            s = ds.stats
            b0, r0, f0 = s.write_batches, s.writes + s.deletes, s.failures
            flush_due(now())
            s = ds.stats
            # a failed round trip took its time too (what it held is retried later)
            trips = s.write_batches - b0 + s.failures - f0
            if trips:
                tally.record(charge(0.0, write_batches=trips, rows_written=s.writes + s.deletes - r0))

    def sample(self) -> None:
        """Append a timeline row for the interval ending now (at most one per instant)."""
        now = self.clock.now_millis()
        if now == self._last_sample:
            return
        self._last_sample = now
        store = self.store
        present: int | float = (
            store.expired_present_count(now) if self.scenario.sampling.expired_present else math.nan
        )
        self.recorder.sample(
            now,
            store.size(),
            store.owned_entry_cost(),
            present,  # type: ignore[arg-type]
            self.ds.pending_operation_count(),
            None if self.ds_null else self.ds.stats,
        )

    def _sampler(self, interval: int, end: int) -> Generator[Any, Any, None]:
        """A timeline row every ``interval`` ms before ``end``; the run samples ``end`` itself
        once everything due at that instant has happened.

        A row covers (previous sample, this sample]: at its instant the sampler waits a zero
        timeout, which SimPy runs after every event already due then (client requests,
        flushes, sweeps), so an operation at exactly a sampling time is in the row that ends
        there, whoever scheduled it first."""
        timeout = self.env.timeout
        env = self.env
        while True:
            yield timeout(interval)
            if env.now >= end:
                return
            yield timeout(0)
            self.sample()

    # --- the run ------------------------------------------------------------------------------

    def run(self, progress: bool = False) -> None:
        env = self.env
        sc = self.scenario
        fast = self.ds_null and not sc.workload.arrival.closed_loop and self.operations is None
        # The processes' generators hold this simulation (and through it the store) while
        # their events wait in the environment's queue, a reference cycle; closing them when
        # the run ends lets reference counting free the store at once, not the next full
        # collection (in a sweep, one run's records would otherwise sit beside the next's).
        processes = [self._client_null(s) if fast else self._client(s) for s in self.streams]
        bg = sc.background
        if bg.expiry_sweep_interval_ms and bg.expiry_sweep_percentage:
            processes.append(
                self._sweeper(bg.expiry_sweep_interval_ms, bg.expiry_sweep_percentage)
            )
        if sc.data_store.kind == "write_behind":
            processes.append(self._flusher(sc.data_store.flush_interval_ms))
        processes.append(self._sampler(sc.sampling.interval_ms, sc.workload.duration_ms))
        for process in processes:
            env.process(process)
        self.recorder.start(0)
        try:
            end = sc.workload.duration_ms
            with gc_paused():  # records by the hundred thousand, none in a cycle
                self._run_until(end, progress)
                while env.peek() <= end:  # what is due at the very end belongs to the run
                    env.step()
            self.sample()
        finally:
            try:
                close = getattr(self.ds, "close", None)
                if close is not None:
                    close()
            finally:
                for process in processes:
                    process.close()

    def _run_until(self, end: int, progress: bool) -> None:
        """``env.run(until=end)``, with a progress bar in simulated seconds when asked for.

        The bar's run stops the environment :data:`PROGRESS_STEPS` times on the way: each stop
        is one extra event at its own instant, ordered before that instant's other events, so
        every other event happens in the same order and the results are the same."""
        env = self.env
        if not progress:
            env.run(until=end)
            return
        bar = progress_bar(end / 1000, True, self.scenario.name, unit=" sim s")
        try:
            shown = 0.0
            for i in range(1, PROGRESS_STEPS + 1):
                at = end * i // PROGRESS_STEPS
                if at > env.now:
                    env.run(until=at)
                bar.update(at / 1000 - shown)
                shown = at / 1000
        finally:
            bar.close()

    def summary(self) -> dict[str, Any]:
        sc = self.scenario
        w = sc.workload
        out: dict[str, Any] = {
            "scenario": sc.name,
            "seed": w.seed,
            "duration_ms": w.duration_ms,
            "eviction_policy": sc.store.eviction_policy.value,
            "max_entry_count": sc.store.max_entry_count,
            "max_cost_bytes": sc.store.max_cost_bytes,
            "expiry_strategy": sc.store.expiry_strategy.value,
            "data_store": sc.data_store.kind,
        }
        out.update(self.recorder.summary())
        tl = self.recorder.rows
        out["backing_writes"] = int(sum(r["backing_writes"] for r in tl))
        out["backing_deletes"] = int(sum(r["backing_deletes"] for r in tl))
        out["backing_batches"] = int(sum(r["backing_batches"] for r in tl))
        out["backing_loads"] = int(sum(r["backing_loads"] for r in tl))
        out["pending_writes_end"] = int(tl[-1]["pending_writes"]) if tl else 0
        return out


def run(
    scenario: Scenario,
    *,
    record_operations: bool = False,
    trace: Trace | None = None,
    observers: Sequence[MutationObserver] = (),
    progress: bool | None = False,
) -> SimResult:
    """Run ``scenario`` and return its :class:`SimResult`.

    The same scenario (same seed) gives the same timeline, bit for bit. With
    ``record_operations`` every client operation is kept (slower; for small runs). ``trace``
    replaces reading ``workload.arrival.trace`` from disk. ``observers`` are added to the
    store beside the metrics recorder (they see simulated times through the store).
    ``progress=True`` shows a tqdm bar of simulated seconds on standard error (None: only when
    standard error is a terminal); it does not change the results. Raises
    :class:`~toolkit.sim.ScenarioError` for a trace that cannot be read, and whatever the
    layers raise (a write-behind queue that is full, a database error).
    """
    if not isinstance(scenario, Scenario):
        hint = " (load_scenario(path) reads a file)" if isinstance(scenario, (str, Path)) else ""
        raise TypeError(f"run() needs a Scenario{hint}, got {type(scenario).__name__}")
    if trace is not None:
        if not isinstance(trace, Trace):
            raise TypeError(
                f"trace must be a Trace (read_trace(path) reads a file), got {type(trace).__name__}"
            )
        if scenario.workload.arrival.kind != "trace":
            raise ScenarioError(
                "workload.arrival.kind",
                f"is {scenario.workload.arrival.kind!r}, so trace= would be ignored; a trace "
                "is replayed by a scenario whose arrival kind is 'trace'",
            )
    for observer in observers:
        if not isinstance(observer, MutationObserver):
            raise TypeError(
                f"observers must be MutationObservers (say, subclasses of BaseMutationObserver), "
                f"got {type(observer).__name__}"
            )
    show_progress = progress_enabled(progress)
    started = time.perf_counter()
    sim = _Simulation(scenario, record_operations, trace, observers)
    sim.run(show_progress)
    timeline = sim.recorder.as_dataframe()
    operations = (
        pd.DataFrame(sim.operations, columns=list(OperationRecord._fields))
        if sim.operations is not None
        else None
    )
    return SimResult(
        scenario, timeline, sim.summary(), operations, time.perf_counter() - started
    )
