"""Replaying a trace: a fast path through exact reference policies, and a path through the
real :class:`~toolkit.record_store.DefaultRecordStore`.

Both return a :class:`ReplayResult`, a plain record: ``pd.DataFrame([r1, r2, ...])`` makes a
table of several replays in one call.

* :func:`replay` runs an exact policy (:mod:`toolkit.traces.policies`: LRU, FIFO, LFU,
  Belady) bounded by object count and/or bytes. TTLs play no part.
* :func:`replay_store` drives a record store whose :class:`~toolkit.clocks.ManualClock`
  follows the trace's timestamps (ms), so TTL, max-idle, sampled eviction and observers all
  take part. A read is ``get(key, touch=True)`` and, on a miss, ``put(key, SizedValue(size),
  ExpiryPolicy(ttl_millis=ttl))`` (cache-aside); a write is that ``put``; a delete is
  ``remove(key)``.

Only reads count towards hits and misses; ``miss_ratio`` is misses / reads and
``byte_miss_ratio`` missed bytes / read bytes (0.0 when there are no reads).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..clocks import ManualClock
from ..config import EvictionPolicy, ExpiryStrategy, StorageConfig
from ..errors import InvalidArgumentError
from ..observers import CompositeMutationObserver, MutationObserver
from ..progress import progress_bar
from ..record_store import DefaultRecordStore
from ..records import ExpiryPolicy, SizedValue
from .policies import ExactPolicy, make_policy
from .readers import InMemoryTrace, OracleGeneralReader, TraceReader, as_reader, read_requests
from .requests import Op, next_access_indices

__all__ = ["ReplayResult", "replay", "replay_store", "with_next_access"]

_READ = int(Op.READ)
_WRITE = int(Op.WRITE)

TraceLike = TraceReader | np.ndarray | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of one replay (one row of a results table).

    ``mode`` is ``"exact"`` (:func:`replay`) or ``"store"`` (:func:`replay_store`);
    ``capacity`` is in objects and ``capacity_bytes`` in bytes (0 = no such bound; for the
    store, bytes are its cost estimate, which includes key and record overhead); bytes
    counters are the requests' sizes; ``elapsed_s`` is wall time in seconds and is left out
    of equality.
    """

    trace: str
    policy: str
    mode: str
    capacity: int
    capacity_bytes: int
    requests: int
    reads: int
    writes: int
    deletes: int
    hits: int
    misses: int
    read_bytes: int
    missed_bytes: int
    miss_ratio: float
    byte_miss_ratio: float
    evictions: int
    expirations: int
    sample_count: int
    elapsed_s: float = field(default=0.0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready)."""
        return asdict(self)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _may_delete(reader: TraceReader) -> bool:
    """False when the trace is known to hold no delete (oracleGeneral has only reads)."""
    if isinstance(reader, OracleGeneralReader):
        return False
    if isinstance(reader, InMemoryTrace):
        return bool((reader.requests["op"] == int(Op.DELETE)).any())
    return True


def with_next_access(trace: TraceLike, format: str | None = None) -> InMemoryTrace:
    """The whole trace in memory with ``next_access`` computed from its keys."""
    reader = as_reader(trace, format)
    requests = read_requests(reader).copy()
    requests["next_access"] = next_access_indices(requests["key"])
    return InMemoryTrace(requests, has_next_access=True, source=reader.source)


def replay(
    trace: TraceLike,
    policy: str = "lru",
    capacity: int = 0,
    capacity_bytes: int = 0,
    *,
    format: str | None = None,
    recompute_next: bool = False,
    progress: bool | None = None,
) -> ReplayResult:
    """Replay ``trace`` through an exact policy bounded by ``capacity`` objects and/or
    ``capacity_bytes`` bytes.

    ``trace`` is a reader, a :data:`~toolkit.traces.requests.REQUEST_DTYPE` array or a path
    (opened with ``format``). Belady uses the trace's next-access field, or computes it (the
    whole trace in memory) when the format has none or ``recompute_next`` is true.
    ``progress`` shows a tqdm bar (None: only on a terminal). Raises
    :class:`~toolkit.errors.InvalidArgumentError` for an unknown policy or no bound, and
    :class:`~toolkit.traces.errors.TraceFormatError` for malformed input.
    """
    started = time.perf_counter()
    make_policy(policy, capacity, capacity_bytes)  # refuse bad arguments before any I/O
    reader = as_reader(trace, format)
    pol: ExactPolicy = make_policy(policy, capacity, capacity_bytes, may_delete=_may_delete(reader))
    if pol.needs_next_access and (recompute_next or not reader.has_next_access):
        reader = with_next_access(reader)
    bar = progress_bar(reader.n_requests, progress, f"replay {pol.name}")
    try:
        for chunk in reader.chunks():
            pol.process(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
    c = pol.counters
    misses = c.reads - c.hits
    missed_bytes = c.read_bytes - c.hit_bytes
    return ReplayResult(
        trace=reader.source,
        policy=pol.name,
        mode="exact",
        capacity=pol.capacity,
        capacity_bytes=pol.capacity_bytes,
        requests=c.reads + c.writes + c.deletes,
        reads=c.reads,
        writes=c.writes,
        deletes=c.deletes,
        hits=c.hits,
        misses=misses,
        read_bytes=c.read_bytes,
        missed_bytes=missed_bytes,
        miss_ratio=_ratio(misses, c.reads),
        byte_miss_ratio=_ratio(missed_bytes, c.read_bytes),
        evictions=c.evictions,
        expirations=0,
        sample_count=0,
        elapsed_s=time.perf_counter() - started,
    )


class _TraceClock(ManualClock):
    """A :class:`~toolkit.clocks.ManualClock` that the replay loop moves itself.

    The replay loop stores each later trace time into it directly (time only moves forward),
    skipping the per-call checks of :meth:`ManualClock.set`: one attribute store per new
    timestamp.
    """

    __slots__ = ()


def _store_config(
    config: StorageConfig | None,
    capacity: int,
    capacity_bytes: int,
    policy: str | EvictionPolicy | None,
    sample_count: int | None,
    seed: int | None,
    ttl_millis: int | None,
    max_idle_millis: int | None,
    strategy: ExpiryStrategy,
) -> StorageConfig:
    base = StorageConfig(sampling_seed=0, expiry_strategy=strategy) if config is None else config
    if not isinstance(base, StorageConfig):
        raise InvalidArgumentError(f"config must be a StorageConfig, got {config!r}")
    changes: dict[str, Any] = {"max_entry_count": capacity, "max_cost_bytes": capacity_bytes}
    if policy is not None:
        changes["eviction_policy"] = policy
    if sample_count is not None:
        changes["eviction_sample_count"] = sample_count
    if seed is not None:
        changes["sampling_seed"] = seed
    if ttl_millis is not None:
        changes["default_ttl_millis"] = ttl_millis
    if max_idle_millis is not None:
        changes["default_max_idle_millis"] = max_idle_millis
    return base.with_changes(**changes)


def replay_store(
    trace: TraceLike,
    capacity: int = 0,
    capacity_bytes: int = 0,
    *,
    policy: str | EvictionPolicy | None = None,
    sample_count: int | None = None,
    seed: int | None = None,
    ttl_millis: int | None = None,
    max_idle_millis: int | None = None,
    config: StorageConfig | None = None,
    observers: Iterable[MutationObserver] = (),
    sweep_interval_millis: int = 0,
    sweep_percentage: int = 10,
    format: str | None = None,
    progress: bool | None = None,
) -> ReplayResult:
    """Replay ``trace`` through a :class:`~toolkit.record_store.DefaultRecordStore`.

    The store is built from ``config`` (default: ``StorageConfig(sampling_seed=0)`` with the
    SCAN expiry strategy, which keeps no index, when there are no sweeps, else CURSOR) with
    ``max_entry_count=capacity`` and ``max_cost_bytes=capacity_bytes`` (0 = unbounded), and,
    where given, ``policy`` (an :class:`~toolkit.config.EvictionPolicy` or its name),
    ``sample_count``, ``seed`` (sampling), ``ttl_millis`` and ``max_idle_millis`` (store-wide
    defaults; a request's own TTL wins). Its ManualClock is set to each request's time in ms;
    a timestamp earlier than the last one is held at the last (time never goes backwards).
    With ``sweep_interval_millis`` > 0 the store also sweeps expired entries
    (``evict_expired(sweep_percentage, now)``) at that interval of trace time. ``observers``
    see every mutation. ``trace``, ``format`` and ``progress`` are as for :func:`replay`.
    Raises :class:`~toolkit.errors.ConfigError` for a bad setting,
    :class:`~toolkit.errors.InvalidArgumentError` for a bad sweep interval and
    :class:`~toolkit.traces.errors.TraceFormatError` for malformed input.
    """
    started = time.perf_counter()
    if (
        isinstance(sweep_interval_millis, bool)
        or not isinstance(sweep_interval_millis, int)
        or sweep_interval_millis < 0
    ):
        raise InvalidArgumentError(
            f"sweep_interval_millis must be an int >= 0, got {sweep_interval_millis!r}"
        )
    # Without sweeps no expiry index is needed (lazy expiry and eviction still apply).
    strategy = ExpiryStrategy.CURSOR if sweep_interval_millis else ExpiryStrategy.SCAN
    cfg = _store_config(
        config,
        capacity,
        capacity_bytes,
        policy,
        sample_count,
        seed,
        ttl_millis,
        max_idle_millis,
        strategy,
    )
    reader = as_reader(trace, format)
    clock = _TraceClock()
    store = DefaultRecordStore(
        "trace",
        0,
        config=cfg,
        clock=clock,
        observer=CompositeMutationObserver(list(observers)),
    )
    get = store.get
    put = store.put
    remove = store.remove
    values: dict[int, SizedValue] = {}
    expiries: dict[int, ExpiryPolicy] = {0: ExpiryPolicy.NONE}
    now = -1
    next_sweep = sweep_interval_millis if sweep_interval_millis else -1
    reads = writes = deletes = misses = 0
    read_bytes = missed_bytes = 0
    bar = progress_bar(reader.n_requests, progress, "replay store")
    try:
        for chunk in reader.chunks():
            ops_arr = chunk["op"]
            sizes_arr = chunk["size"]
            times = chunk["time_ms"].tolist()
            keys = chunk["key"].tolist()
            sizes = sizes_arr.tolist()
            ttls = chunk["ttl_ms"].tolist()
            if not ops_arr.any():
                reads += len(keys)
                read_bytes += int(sizes_arr.sum(dtype=np.int64))
                for t, k, s, ttl in zip(times, keys, sizes, ttls, strict=True):
                    if t > now:
                        now = clock._now = t
                        if 0 <= next_sweep <= now:
                            store.evict_expired(sweep_percentage, now)
                            next_sweep = now + sweep_interval_millis
                    if get(k, True) is None:
                        misses += 1
                        missed_bytes += s
                        v = values.get(s)
                        if v is None:
                            v = values[s] = SizedValue(s)
                        e = expiries.get(ttl)
                        if e is None:
                            e = expiries[ttl] = ExpiryPolicy(ttl_millis=ttl)
                        put(k, v, e)
            else:
                for t, k, s, ttl, op in zip(times, keys, sizes, ttls, ops_arr.tolist(), strict=True):
                    if t > now:
                        now = clock._now = t
                        if 0 <= next_sweep <= now:
                            store.evict_expired(sweep_percentage, now)
                            next_sweep = now + sweep_interval_millis
                    if op == _READ:
                        reads += 1
                        read_bytes += s
                        if get(k, True) is not None:
                            continue
                        misses += 1
                        missed_bytes += s
                    elif op != _WRITE:
                        deletes += 1
                        remove(k)
                        continue
                    else:
                        writes += 1
                    v = values.get(s)
                    if v is None:
                        v = values[s] = SizedValue(s)
                    e = expiries.get(ttl)
                    if e is None:
                        e = expiries[ttl] = ExpiryPolicy(ttl_millis=ttl)
                    put(k, v, e)
            bar.update(len(keys))
    finally:
        bar.close()
    stats = store.stats
    return ReplayResult(
        trace=reader.source,
        policy=cfg.eviction_policy.value,
        mode="store",
        capacity=capacity,
        capacity_bytes=capacity_bytes,
        requests=reads + writes + deletes,
        reads=reads,
        writes=writes,
        deletes=deletes,
        hits=reads - misses,
        misses=misses,
        read_bytes=read_bytes,
        missed_bytes=missed_bytes,
        miss_ratio=_ratio(misses, reads),
        byte_miss_ratio=_ratio(missed_bytes, read_bytes),
        evictions=stats.evictions,
        expirations=stats.expirations_ttl + stats.expirations_max_idle,
        sample_count=cfg.eviction_sample_count,
        elapsed_s=time.perf_counter() - started,
    )
