"""Metrics of a simulation: monitors (levels and tallies) and the recorder that fills them.

Modelled on salabim's ``Monitor``: a :class:`Level` is a quantity that holds between changes
(store size, cost, queued writes) and has a time-weighted mean; a :class:`Tally` is a series
of observations without duration (operation latencies) with counts, means and percentiles.
:class:`MetricsRecorder` is a :class:`~toolkit.MutationObserver`: the record store tells it
about every insert, update, removal, eviction, expiry and load; the runner tells it about
reads (hit or miss) and latencies, and asks it for a timeline row at each sampling time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..datastores.base import DataStoreStats
from ..errors import InvalidArgumentError
from ..observers import BaseMutationObserver
from ..records import ExpiryReason, Record

__all__ = [
    "Level",
    "Tally",
    "MetricsRecorder",
    "TIMELINE_COLUMNS",
    "OUTCOME_HIT",
    "OUTCOME_MISS",
    "OUTCOME_MISS_FILL",
    "OUTCOME_WRITE",
]

#: Outcome codes a hot loop may append to :attr:`MetricsRecorder.outcomes` instead of
#: counting and tallying each operation itself: a read served from memory, a read miss, a
#: read miss followed by a fill (cache-aside put), a client write.
OUTCOME_HIT, OUTCOME_MISS, OUTCOME_MISS_FILL, OUTCOME_WRITE = 0, 1, 2, 3

_TTL = ExpiryReason.TTL

#: The columns of a timeline, in order (times in ms, costs in bytes, latencies in ms). Counts
#: are per sampling interval; ``size``, ``cost_bytes``, ``expired_present`` and
#: ``pending_writes`` are levels at the sampling time.
TIMELINE_COLUMNS: tuple[str, ...] = (
    "time_ms",
    "size",
    "cost_bytes",
    "expired_present",
    "pending_writes",
    "requests",
    "reads",
    "hits",
    "misses",
    "hit_ratio",
    "writes",
    "fills",
    "inserts",
    "updates",
    "removes",
    "loads",
    "evictions",
    "expired_ttl",
    "expired_max_idle",
    "backing_writes",
    "backing_deletes",
    "backing_batches",
    "backing_loads",
    "flush_ms",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
)

_COUNTERS: tuple[str, ...] = (
    "reads",
    "hits",
    "misses",
    "writes",
    "fills",
    "inserts",
    "updates",
    "removes",
    "loads",
    "evictions",
    "expired_ttl",
    "expired_max_idle",
)
_BACKING: tuple[tuple[str, str], ...] = (
    ("backing_writes", "writes"),
    ("backing_deletes", "deletes"),
    ("backing_batches", "write_batches"),
    ("backing_loads", "loads"),
)


class Level:
    """A level monitor: ``record(t, v)`` says the quantity is ``v`` from time ``t`` (ms) on."""

    __slots__ = ("name", "times", "values")

    def __init__(self, name: str) -> None:
        self.name = name
        self.times: list[int] = []
        self.values: list[float] = []

    def record(self, time_ms: int, value: float) -> None:
        """The level is ``value`` from ``time_ms`` on; an earlier time than the last raises
        :class:`~toolkit.errors.InvalidArgumentError`."""
        if self.times and time_ms < self.times[-1]:
            raise InvalidArgumentError(
                f"Level {self.name!r}: time {time_ms} ms is before the last ({self.times[-1]})"
            )
        self.times.append(time_ms)
        self.values.append(value)

    @property
    def value(self) -> float:
        """The current level (0 before the first record)."""
        return self.values[-1] if self.values else 0

    def mean(self, until_ms: int | None = None) -> float:
        """The time-weighted mean from the first record to ``until_ms`` (default: the last
        record); the plain mean when that span is empty, NaN with no records."""
        if not self.times:
            return math.nan
        t = np.asarray(self.times, dtype=float)
        v = np.asarray(self.values, dtype=float)
        end = float(t[-1] if until_ms is None else until_ms)
        durations = np.diff(np.append(t, end))
        total = float(durations.sum())
        if total <= 0:
            return float(v.mean())
        return float(np.dot(v, durations) / total)

    def sampled_mean(self, until_ms: int | None = None) -> float:
        """The time-weighted mean of a quantity seen only at the recorded times (samples):
        the trapezoid rule, the quantity taken to change linearly between samples (the step
        rule of :meth:`mean` lags a growing quantity by a whole interval); up to ``until_ms``
        (default: the last record), the last value held after it. The plain mean when that
        span is empty, NaN with no records."""
        if not self.times:
            return math.nan
        t = np.asarray(self.times, dtype=float)
        v = np.asarray(self.values, dtype=float)
        end = float(t[-1] if until_ms is None else until_ms)
        total = end - float(t[0])
        if total <= 0:
            return float(v.mean())
        area = float(np.dot((v[1:] + v[:-1]) / 2, np.diff(t))) + float(v[-1]) * (end - float(t[-1]))
        return area / total

    def maximum(self) -> float:
        """The largest recorded level (NaN with no records)."""
        return float(max(self.values)) if self.values else math.nan

    def minimum(self) -> float:
        """The smallest recorded level (NaN with no records)."""
        return float(min(self.values)) if self.values else math.nan

    def as_dataframe(self) -> pd.DataFrame:
        """Columns ``time_ms`` and the level's name."""
        return pd.DataFrame({"time_ms": self.times, self.name: self.values})


class Tally:
    """A tally monitor: observations without duration (latencies in ms).

    ``values`` collects the current interval (a hot loop may bind ``values.append``: the list
    is emptied in place); :meth:`record_many` adds an array at once; :meth:`close_interval`
    files the interval away and returns it as an array.
    """

    __slots__ = ("name", "values", "_arrays", "_chunks")

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: list[float] = []
        self._arrays: list[np.ndarray] = []
        self._chunks: list[np.ndarray] = []

    def record(self, value: float) -> None:
        """One observation."""
        self.values.append(value)

    def record_many(self, values: np.ndarray) -> None:
        """Many observations at once."""
        if len(values):
            self._arrays.append(np.asarray(values, dtype=float))

    def _current(self) -> np.ndarray:
        parts = self._arrays
        if self.values:
            parts = [*parts, np.asarray(self.values, dtype=float)]
        if not parts:
            return np.empty(0)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close_interval(self) -> np.ndarray:
        """The observations since the last call, as an array; the interval starts afresh."""
        arr = self._current()
        self.values.clear()
        self._arrays = []
        if arr.size:
            self._chunks.append(arr)
        return arr

    def all(self) -> np.ndarray:
        """Every observation so far (intervals in order)."""
        parts = [*self._chunks]
        current = self._current()
        if current.size:
            parts.append(current)
        return np.concatenate(parts) if parts else np.empty(0)

    def count(self) -> int:
        """How many observations."""
        return len(self.all())

    def mean(self) -> float:
        """Their mean (NaN when empty)."""
        a = self.all()
        return float(a.mean()) if a.size else math.nan

    def percentile(self, q: float) -> float:
        """Their ``q``-th percentile, 0..100 (NaN when empty)."""
        a = self.all()
        return float(np.percentile(a, q)) if a.size else math.nan

    def as_dataframe(self) -> pd.DataFrame:
        """One column named after the tally."""
        return pd.DataFrame({self.name: self.all()})


def _stats(values: np.ndarray) -> tuple[float, float, float, float, float]:
    if not values.size:
        nan = math.nan
        return nan, nan, nan, nan, nan
    p50, p95, p99 = np.percentile(values, [50, 95, 99]).tolist()
    return float(values.mean()), p50, p95, p99, float(values.max())


class MetricsRecorder(BaseMutationObserver):
    """Counts what a record store does and turns it into a timeline, one row per sample.

    Store events arrive through the observer methods. The runner reports client operations,
    either by counting ``reads``, ``hits``, ``misses``, ``writes`` (client puts) and ``fills``
    (cache-aside puts after a miss) and recording latencies (ms) in the ``latency`` tally, or
    by appending outcome codes (``OUTCOME_*``) to ``outcomes`` when every outcome has a fixed
    latency (``outcome_latency_ms``, indexed by code). ``flush`` tallies background flush
    time (ms). At each sampling time the runner calls :meth:`sample` with the levels it read
    from the store's public methods. Counts are cumulative; timeline rows hold per-interval
    deltas.
    """

    def __init__(self, outcome_latency_ms: tuple[float, float, float, float] = (0, 0, 0, 0)):
        self.reads = 0
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.fills = 0
        self.inserts = 0
        self.updates = 0
        self.removes = 0
        self.loads = 0
        self.evictions = 0
        self.expired_ttl = 0
        self.expired_max_idle = 0
        self.outcomes: list[int] = []
        self.outcome_latency_ms = np.asarray(outcome_latency_ms, dtype=float)
        self.latency = Tally("latency_ms")
        self.flush = Tally("flush_ms")
        self.size = Level("size")
        self.cost_bytes = Level("cost_bytes")
        self.expired_present = Level("expired_present")
        self.pending_writes = Level("pending_writes")
        self.rows: list[dict[str, Any]] = []
        self._last: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._last_backing: dict[str, int] = dict.fromkeys((f for _, f in _BACKING), 0)

    def drain_outcomes(self) -> None:
        """Fold the appended outcome codes into the counters and the latency tally."""
        if not self.outcomes:
            return
        codes = np.asarray(self.outcomes, dtype=np.intp)
        self.outcomes.clear()
        hit, miss, miss_fill, write = np.bincount(codes, minlength=4).tolist()[:4]
        self.reads += hit + miss + miss_fill
        self.hits += hit
        self.misses += miss + miss_fill
        self.fills += miss_fill
        self.writes += write
        self.latency.record_many(self.outcome_latency_ms[codes])

    # --- observer ------------------------------------------------------------------------

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        if not is_backup:
            self.inserts += 1

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None:
        self.updates += 1

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        if not is_backup:
            self.removes += 1

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        self.evictions += 1

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        if reason is _TTL:
            self.expired_ttl += 1
        else:
            self.expired_max_idle += 1

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        self.loads += 1

    # --- sampling ------------------------------------------------------------------------

    @property
    def entries_in(self) -> int:
        """Entries that entered memory: inserts plus loads."""
        return self.inserts + self.loads

    @property
    def entries_out(self) -> int:
        """Entries that left memory: removals, evictions and expirations."""
        return self.removes + self.evictions + self.expired_ttl + self.expired_max_idle

    def start(self, time_ms: int = 0) -> None:
        """Record the levels at the start of the run (an empty store)."""
        for level in (self.size, self.cost_bytes, self.expired_present, self.pending_writes):
            level.record(time_ms, 0)

    def sample(
        self,
        time_ms: int,
        size: int,
        cost_bytes: int,
        expired_present: int,
        pending_writes: int,
        backing: DataStoreStats | None = None,
    ) -> dict[str, Any]:
        """Close the interval ending at ``time_ms``: append and return its timeline row.

        ``backing`` is the data store's cumulative stats (None for no data store).
        """
        self.drain_outcomes()
        self.size.record(time_ms, size)
        self.cost_bytes.record(time_ms, cost_bytes)
        self.expired_present.record(time_ms, expired_present)
        self.pending_writes.record(time_ms, pending_writes)
        row: dict[str, Any] = {
            "time_ms": time_ms,
            "size": size,
            "cost_bytes": cost_bytes,
            "expired_present": expired_present,
            "pending_writes": pending_writes,
        }
        last = self._last
        delta = {}
        for name in _COUNTERS:
            now = getattr(self, name)
            delta[name] = now - last[name]
            last[name] = now
        row["requests"] = delta["reads"] + delta["writes"]
        for name in ("reads", "hits", "misses"):
            row[name] = delta[name]
        row["hit_ratio"] = delta["hits"] / delta["reads"] if delta["reads"] else math.nan
        for name in _COUNTERS[3:]:
            row[name] = delta[name]
        last_b = self._last_backing
        for column, field_name in _BACKING:
            now = getattr(backing, field_name) if backing is not None else 0
            before = last_b[field_name]
            row[column] = now - before
            last_b[field_name] = now
        row["flush_ms"] = float(self.flush.close_interval().sum())
        mean, p50, p95, p99, top = _stats(self.latency.close_interval())
        row["latency_mean_ms"] = mean
        row["latency_p50_ms"] = p50
        row["latency_p95_ms"] = p95
        row["latency_p99_ms"] = p99
        row["latency_max_ms"] = top
        self.rows.append(row)
        return row

    def as_dataframe(self) -> pd.DataFrame:
        """The timeline: one row per sample, columns :data:`TIMELINE_COLUMNS`."""
        return pd.DataFrame(self.rows, columns=list(TIMELINE_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """Totals, time-weighted level means and latency percentiles over the whole run."""
        self.drain_outcomes()
        lat = self.latency.all()
        mean, p50, p95, p99, top = _stats(lat)
        end = self.size.times[-1] if self.size.times else 0
        return {
            "requests": self.reads + self.writes,
            "reads": self.reads,
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": self.hits / self.reads if self.reads else math.nan,
            "writes": self.writes,
            "fills": self.fills,
            "inserts": self.inserts,
            "updates": self.updates,
            "removes": self.removes,
            "loads": self.loads,
            "evictions": self.evictions,
            "expired_ttl": self.expired_ttl,
            "expired_max_idle": self.expired_max_idle,
            "final_size": int(self.size.value),
            "mean_size": self.size.sampled_mean(end),
            "peak_size": self.size.maximum(),
            "final_cost_bytes": int(self.cost_bytes.value),
            "mean_cost_bytes": self.cost_bytes.sampled_mean(end),
            "peak_cost_bytes": self.cost_bytes.maximum(),
            "mean_expired_present": self.expired_present.sampled_mean(end),
            "peak_pending_writes": self.pending_writes.maximum(),
            "flush_ms": float(self.flush.all().sum()),
            "latency_mean_ms": mean,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "latency_max_ms": top,
        }
