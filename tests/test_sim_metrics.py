"""Tests for toolkit.sim.metrics: levels, tallies and the recorder as an observer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit import (
    ExpiryPolicy,
    ManualClock,
    MutationObserver,
    RecordStoreFactory,
    StorageConfig,
)
from toolkit.sim import TIMELINE_COLUMNS, Level, MetricsRecorder, Tally
from toolkit.sim.metrics import OUTCOME_HIT, OUTCOME_MISS_FILL, OUTCOME_WRITE


def test_level_is_time_weighted() -> None:
    level = Level("size")
    assert math.isnan(level.mean())
    level.record(0, 0)
    level.record(10, 100)  # 0 for 10 ms, then 100 for 30 ms
    assert level.mean(40) == pytest.approx(75.0)
    assert level.value == 100 and level.maximum() == 100 and level.minimum() == 0
    assert level.as_dataframe().columns.tolist() == ["time_ms", "size"]
    with pytest.raises(ValueError, match="before the last"):
        level.record(5, 1)


def test_sampled_mean_takes_the_quantity_as_linear_between_samples() -> None:
    level = Level("size")
    assert math.isnan(level.sampled_mean())
    level.record(0, 0)
    level.record(10, 100)  # ramps 0 -> 100 over 10 ms (mean 50), then held 100 for 30 ms
    assert level.sampled_mean(40) == pytest.approx((50 * 10 + 100 * 30) / 40)
    level.record(20, 100)
    level.record(30, 0)
    assert level.sampled_mean() == pytest.approx((50 + 100 + 50) / 3)
    one = Level("one")
    one.record(7, 3)
    assert one.sampled_mean() == 3.0  # an empty span: the plain mean


def test_summary_means_do_not_lag_a_store_that_fills_at_once() -> None:
    # Ten keys written over and over: the store is full within milliseconds. The step rule
    # held the first sample's 0 for a whole interval (mean 0 with one interval).
    from toolkit.sim import KeyPopularity, Sampling, Scenario, Workload, run

    for interval, low in ((100, 9.4), (1_000, 4.9)):
        scenario = Scenario(
            workload=Workload(duration_ms=1000, read_fraction=0, keys=KeyPopularity(key_count=10)),
            sampling=Sampling(interval_ms=interval),
        )
        s = run(scenario).summary
        assert s["final_size"] == s["peak_size"] == 10
        assert low <= s["mean_size"] <= 10, interval


def test_tally_intervals_and_totals() -> None:
    tally = Tally("latency_ms")
    assert math.isnan(tally.mean()) and tally.count() == 0
    tally.record(1.0)
    append = tally.values.append
    append(3.0)
    first = tally.close_interval()
    assert first.tolist() == [1.0, 3.0]
    append(5.0)  # the bound append still feeds the tally after an interval closes
    tally.record_many(np.array([7.0, 9.0]))
    assert sorted(tally.close_interval().tolist()) == [5.0, 7.0, 9.0]
    assert tally.count() == 5 and tally.mean() == 5.0
    assert tally.percentile(50) == 5.0
    assert len(tally.as_dataframe()) == 5
    assert tally.close_interval().size == 0


def test_recorder_observes_a_store() -> None:
    clock = ManualClock()
    recorder = MetricsRecorder()
    assert isinstance(recorder, MutationObserver)
    store = RecordStoreFactory(
        StorageConfig(max_entry_count=2, sampling_seed=1), observers=[recorder], clock=clock
    ).create("m")
    recorder.start(0)
    store.put("a", 1, ExpiryPolicy(ttl_millis=10))
    store.put("a", 2, ExpiryPolicy(ttl_millis=10))
    store.put("b", 1)
    clock.advance(20)
    assert store.get("a") is None  # expired by TTL
    store.put("c", 1)
    store.put("d", 1)  # over the limit of 2: evicts b or c, never the key just written
    store.remove("d")
    row = recorder.sample(20, store.size(), store.owned_entry_cost(), 0, 0)
    assert (row["inserts"], row["updates"], row["removes"]) == (4, 1, 1)
    assert (row["evictions"], row["expired_ttl"], row["expired_max_idle"]) == (1, 1, 0)
    assert recorder.entries_in == recorder.entries_out + store.size()
    frame = recorder.as_dataframe()
    assert list(frame.columns) == list(TIMELINE_COLUMNS) and len(frame) == 1


def test_outcome_codes_fold_into_counts_and_latency() -> None:
    recorder = MetricsRecorder(outcome_latency_ms=(0.1, 0.2, 0.3, 0.4))
    recorder.outcomes.extend([OUTCOME_HIT, OUTCOME_HIT, OUTCOME_MISS_FILL, OUTCOME_WRITE])
    row = recorder.sample(1000, 0, 0, 0, 0)
    assert (row["reads"], row["hits"], row["misses"], row["fills"], row["writes"]) == (
        3, 2, 1, 1, 1)
    assert row["requests"] == 4 and row["hit_ratio"] == pytest.approx(2 / 3)
    assert row["latency_mean_ms"] == pytest.approx(0.225)
    assert row["latency_max_ms"] == pytest.approx(0.4)
    empty = recorder.sample(2000, 0, 0, 0, 0)
    assert empty["requests"] == 0 and math.isnan(empty["hit_ratio"])
    assert math.isnan(empty["latency_p50_ms"])
    assert recorder.summary()["requests"] == 4
