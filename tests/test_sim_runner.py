"""Tests for toolkit.sim.runner: determinism, conservation, time, analytic expiry, latency."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit import DefaultRecordStore, InvalidArgumentError, StorageConfig
from toolkit.gcpause import gc_paused
from toolkit.sim import (
    TIMELINE_COLUMNS,
    Arrival,
    Background,
    DataStoreSpec,
    Distribution,
    KeyPopularity,
    LatencyModel,
    Sampling,
    Scenario,
    ScenarioError,
    Workload,
    load_scenario,
    run,
)
from toolkit.sim.runner import MillisSimClock

SCENARIOS = Path(__file__).resolve().parent.parent / "data" / "scenarios"


def _mixed(**changes: object) -> Scenario:
    """A small scenario with every mechanism: capacity, TTL + max-idle, sweep, fills."""
    scenario = Scenario(
        name="mixed",
        workload=Workload(
            arrival=Arrival(rate_per_s=2000),
            keys=KeyPopularity(kind="zipf", key_count=3000, alpha=0.9),
            clients=3,
            read_fraction=0.8,
            write_on_miss=True,
            value_bytes=Distribution("uniform", low=100, high=3000),
            ttl_ms=Distribution("choice", values=(0, 2000)),
            max_idle_ms=Distribution.constant(1000),
            duration_ms=8000,
            seed=21,
        ),
        store=StorageConfig(max_entry_count=1000),
        background=Background(expiry_sweep_interval_ms=1000, expiry_sweep_percentage=20),
        sampling=Sampling(interval_ms=500),
    )
    return scenario.with_overrides(changes) if changes else scenario


def test_timeline_shape() -> None:
    result = run(_mixed())
    tl = result.timeline
    assert list(tl.columns) == list(TIMELINE_COLUMNS)
    assert tl["time_ms"].tolist() == list(range(500, 8001, 500))
    assert (tl["size"] <= 1000).all()
    assert tl["hit_ratio"].between(0, 1).all()
    assert result.operations is None
    assert result.summary["requests"] == tl["requests"].sum()
    assert result.summary["scenario"] == "mixed"


@pytest.mark.parametrize("data_store", ["null", "sqlite", "write_behind"])
def test_same_seed_same_timeline_bit_for_bit(data_store: str, tmp_path: Path) -> None:
    scenario = _mixed(**{"data_store.kind": data_store, "workload.duration_ms": 4000})
    a, b = run(scenario), run(scenario)
    a.timeline.to_csv(tmp_path / "a.csv", index=False)
    b.timeline.to_csv(tmp_path / "b.csv", index=False)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert a.summary == b.summary or _nan_equal(a.summary, b.summary)
    c = run(_mixed(**{"data_store.kind": data_store, "workload.duration_ms": 4000,
                      "workload.seed": 22}))
    assert not c.timeline.equals(a.timeline)


def _nan_equal(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(
        (isinstance(v, float) and np.isnan(v) and np.isnan(y[k])) or v == y[k]
        for k, v in x.items()
    )


@pytest.mark.parametrize("data_store", ["null", "write_behind"])
def test_a_progress_bar_changes_nothing(
    data_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the bar stops the environment PROGRESS_STEPS times, also at instants where the sampler
    # and the flusher are due: every operation must still happen at the same time, in order
    scenario = _mixed(**{"data_store.kind": data_store, "workload.duration_ms": 4000})
    plain = run(scenario, record_operations=True)
    assert capsys.readouterr().err == ""
    shown = run(scenario, record_operations=True, progress=True)
    err = capsys.readouterr().err
    assert "mixed:" in err and "/4.00 [" in err and " sim s/s" in err  # total: 4 simulated s
    pd.testing.assert_frame_equal(shown.timeline, plain.timeline)
    assert plain.operations is not None and shown.operations is not None
    pd.testing.assert_frame_equal(shown.operations, plain.operations)
    assert _nan_equal(shown.summary, plain.summary)


def test_progress_must_be_a_bool_or_none() -> None:
    with pytest.raises(InvalidArgumentError, match="progress must be True, False or None, got 'yes'"):
        run(_mixed(), progress="yes")  # type: ignore[arg-type]


def test_operation_records_match_the_timeline() -> None:
    result = run(_mixed(), record_operations=True)
    ops = result.operations
    assert ops is not None
    assert list(ops.columns) == ["time_ms", "client", "op", "key", "hit", "latency_ms"]
    assert len(ops) == result.summary["requests"]
    reads = ops[ops["op"] == "get"]
    assert len(reads) == result.summary["reads"]
    assert int(reads["hit"].sum()) == result.summary["hits"]
    assert ops["time_ms"].between(0, 8000).all()
    for _, per_client in ops.groupby("client"):
        assert per_client["time_ms"].is_monotonic_increasing
    # the recorded run is the same run as the fast path
    fast = run(_mixed())
    pd.testing.assert_frame_equal(fast.timeline, result.timeline)


@pytest.mark.parametrize("data_store", ["null", "sqlite", "write_behind"])
def test_conservation(data_store: str) -> None:
    result = run(_mixed(**{"data_store.kind": data_store}))
    tl = result.timeline
    s = result.summary
    assert s["hits"] + s["misses"] == s["reads"]
    assert (tl["hits"] + tl["misses"] == tl["reads"]).all()
    assert s["writes"] + s["fills"] == s["inserts"] + s["updates"]
    assert s["reads"] + s["writes"] == s["requests"]
    # every entry that came in either left or is still there, at every sample
    c = tl.cumsum()
    entries_in = c["inserts"] + c["loads"]
    entries_out = c["removes"] + c["evictions"] + c["expired_ttl"] + c["expired_max_idle"]
    assert (entries_in == entries_out + tl["size"]).all()
    assert s["expired_ttl"] > 0 and s["expired_max_idle"] > 0 and s["evictions"] > 0
    if data_store != "null":
        assert s["loads"] > 0  # misses of keys evicted earlier come back from the database


_SUMMED = (
    "requests", "reads", "hits", "misses", "writes", "fills", "inserts", "updates", "removes",
    "loads", "evictions", "expired_ttl", "expired_max_idle", "backing_writes", "backing_deletes",
    "backing_batches", "backing_loads",
)


@pytest.mark.parametrize("data_store", ["null", "sqlite", "write_behind"])
def test_what_happens_at_the_last_instant_is_in_the_last_row(data_store: str) -> None:
    # Constant arrivals, the sweep, the flusher and the sampler all land on t = 3000 ms, the
    # end: the last row must come after all of them, so the timeline adds up to the summary.
    scenario = Scenario(
        name="edge",
        workload=Workload(
            arrival=Arrival(kind="constant", rate_per_s=1000),
            keys=KeyPopularity(key_count=400),
            read_fraction=0.7,
            write_on_miss=True,
            ttl_ms=Distribution.constant(700),
            duration_ms=3000,
            seed=3,
        ),
        store=StorageConfig(max_entry_count=300),
        data_store=DataStoreSpec(kind=data_store, write_delay_ms=250, flush_interval_ms=100),
        background=Background(expiry_sweep_interval_ms=100, expiry_sweep_percentage=100),
        sampling=Sampling(interval_ms=500),
    )
    result = run(scenario)
    tl, s = result.timeline, result.summary
    assert s["requests"] == 3000 and list(tl["time_ms"])[-1] == 3000
    for column in _SUMMED:
        assert int(tl[column].sum()) == s[column], column
    assert s["flush_ms"] == pytest.approx(float(tl["flush_ms"].sum()))
    assert s["final_size"] == tl["size"].iloc[-1]
    assert s["pending_writes_end"] == tl["pending_writes"].iloc[-1]
    entries_in = s["inserts"] + s["loads"]
    entries_out = s["removes"] + s["evictions"] + s["expired_ttl"] + s["expired_max_idle"]
    assert entries_in == entries_out + s["final_size"]


def test_simulated_time_advances_only_through_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def wall_clock(*_: object) -> float:
        raise AssertionError("the simulation read the wall clock")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns"):
        monkeypatch.setattr(time, name, wall_clock)
    result = run(_mixed(), record_operations=True)
    assert result.timeline["time_ms"].iloc[-1] == 8000
    assert result.operations is not None and result.operations["time_ms"].max() <= 8000


def test_millis_clock_is_a_sim_clock_reading_the_environment() -> None:
    import simpy

    from toolkit import SimClock

    env = simpy.Environment()
    clock = MillisSimClock(env)
    assert isinstance(clock, SimClock)
    env.run(until=12.6)
    assert clock.now_millis() == SimClock(env, millis_per_unit=1).now_millis() == 13


def test_ttl_steady_state_matches_littles_law() -> None:
    """Poisson writes of unique keys at rate lambda with a fixed TTL T: the entries alive at
    any time are those written in the last T ms, so the live count is lambda x T."""
    rate_per_s, ttl = 200.0, 5000
    scenario = Scenario(
        name="ttl",
        workload=Workload(
            arrival=Arrival(rate_per_s=rate_per_s),
            keys=KeyPopularity(kind="unique"),
            read_fraction=0.0,
            ttl_ms=Distribution.constant(ttl),
            duration_ms=60_000,
            seed=5,
        ),
        background=Background(expiry_sweep_interval_ms=100, expiry_sweep_percentage=100),
        sampling=Sampling(interval_ms=1000),
    )
    result = run(scenario)
    tl = result.timeline
    steady = tl[tl["time_ms"] >= 10_000]
    expected = rate_per_s * ttl / 1000  # 1000 entries
    live = steady["size"] - steady["expired_present"]
    assert live.mean() == pytest.approx(expected, rel=0.05)
    # the sweep runs every 100 ms over everything: at most 100 ms of writes are stale
    assert steady["size"].mean() == pytest.approx(expected * (1 + 50 / ttl), rel=0.05)
    assert steady["expired_present"].max() <= rate_per_s * 0.1 * 2
    # everything written before duration - TTL has expired by the end
    assert result.summary["expired_ttl"] == pytest.approx(
        rate_per_s * (60 - ttl / 1000), rel=0.05
    )
    assert result.summary["expired_max_idle"] == 0


def test_without_a_sweep_expired_entries_pile_up() -> None:
    scenario = load_scenario(SCENARIOS / "expiry-strategies.toml").with_overrides(
        {"workload.duration_ms": 20_000, "background.expiry_sweep_interval_ms": 0}
    )
    tl = run(scenario).timeline
    # nothing reads, nothing sweeps: every entry older than the TTL is still there
    assert tl["expired_ttl"].sum() == 0
    assert tl["size"].iloc[-1] == tl["writes"].sum()
    assert tl["expired_present"].iloc[-1] > 0.4 * tl["size"].iloc[-1]


def test_latency_is_charged_from_what_the_data_store_did() -> None:
    lm = LatencyModel(memory_hit_ms=0.1, memory_miss_ms=0.2, memory_write_ms=0.3, load_ms=5.0,
                      load_per_key_ms=0.0, write_ms=7.0, write_per_row_ms=0.0, queue_ms=0.5)
    base = _mixed(**{"workload.duration_ms": 3000, "workload.max_idle_ms": 0,
                     "workload.ttl_ms": 0})
    base = Scenario(name="lat", workload=base.workload, store=base.store, latency=lm,
                    sampling=base.sampling)
    through = run(base.with_overrides({"data_store.kind": "sqlite"}), record_operations=True)
    ops = through.operations
    assert ops is not None
    puts = ops[ops["op"] == "put"]
    assert (puts["latency_ms"] == 0.3 + 7.0).all()  # one write round trip each
    hits = ops[(ops["op"] == "get") & ops["hit"].astype(bool)]
    assert (hits["latency_ms"] == 0.1).all()
    misses = ops[(ops["op"] == "get") & ~ops["hit"].astype(bool)]
    # a miss loads (5 ms); if the database had nothing, the fill writes through (0.3 + 7 ms)
    assert set(np.round(misses["latency_ms"], 9)) <= {0.2 + 5.0, 0.2 + 5.0 + 0.3 + 7.0}
    behind = run(base.with_overrides({"data_store.kind": "write_behind"}),
                 record_operations=True)
    bops = behind.operations
    assert bops is not None
    assert (bops[bops["op"] == "put"]["latency_ms"] == 0.3 + 0.5).all()  # enqueue only
    assert behind.summary["backing_batches"] < through.summary["backing_batches"]
    assert behind.summary["flush_ms"] > 0
    assert behind.timeline["pending_writes"].max() > 0
    assert through.timeline["pending_writes"].max() == 0


def test_write_behind_coalesces_hot_keys() -> None:
    scenario = load_scenario(SCENARIOS / "write-through-vs-write-behind.toml").with_overrides(
        {"workload.duration_ms": 5000}
    )
    through = run(scenario).summary
    behind = run(scenario.with_overrides({"data_store.kind": "write_behind"})).summary
    assert behind["requests"] == through["requests"]  # common random numbers
    assert behind["backing_writes"] + behind["pending_writes_end"] < through["backing_writes"]
    assert behind["latency_p99_ms"] < through["latency_p99_ms"]


def test_closed_loop_clients_wait_for_their_latency() -> None:
    lm = LatencyModel(memory_hit_ms=10.0, memory_miss_ms=10.0, memory_write_ms=10.0)
    open_loop = Scenario(
        name="loop",
        workload=Workload(arrival=Arrival(kind="constant", rate_per_s=100), clients=1,
                          duration_ms=10_000),
        latency=lm,
    )
    closed = open_loop.with_overrides({"workload.arrival.closed_loop": True})
    assert run(open_loop).summary["requests"] == 1000  # every 10 ms, 10 ms to 10 000 ms
    assert run(closed).summary["requests"] == 500  # 10 ms gap + 10 ms latency


def test_common_random_numbers_across_store_configs() -> None:
    a = run(_mixed(**{"store.max_entry_count": 200}), record_operations=True).operations
    b = run(_mixed(**{"store.eviction_policy": "lfu", "store.max_entry_count": 900}),
            record_operations=True).operations
    assert a is not None and b is not None
    cols = ["time_ms", "client", "op", "key"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_shifting_hotset_moves_the_hot_keys() -> None:
    scenario = Scenario(
        name="shift",
        workload=Workload(
            keys=KeyPopularity(kind="shifting_hotset", key_count=1000, hot_fraction=0.1,
                               hot_probability=1.0, shift_every_ms=1000),
            read_fraction=1.0, duration_ms=3000,
        ),
    )
    ops = run(scenario, record_operations=True).operations
    assert ops is not None
    epoch = (ops["time_ms"] // 1000).astype(int)
    for e, keys in ops.groupby(epoch)["key"]:
        assert keys.between(e * 100, e * 100 + 99).all()


def test_trace_replay(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("time_ms,op,key,value_bytes\n0,put,a,100\n10,get,a,0\n20,get,b,0\n"
                     "30,put,b,200\n40,get,b,0\n")
    (tmp_path / "s.toml").write_text(
        '[workload]\nduration_ms = 100\n[workload.arrival]\nkind = "trace"\n'
        'trace = "trace.csv"\n[sampling]\ninterval_ms = 50\n'
    )
    result = run(load_scenario(tmp_path / "s.toml"), record_operations=True)
    s = result.summary
    assert (s["reads"], s["hits"], s["misses"], s["writes"]) == (3, 2, 1, 2)
    ops = result.operations
    assert ops is not None and ops["time_ms"].tolist() == [0, 10, 20, 30, 40]
    assert ops["key"].tolist() == ["a", "a", "b", "b", "b"]
    assert result.timeline["cost_bytes"].iloc[-1] > 300


def test_a_trace_that_cannot_be_read_is_a_scenario_error(tmp_path: Path) -> None:
    scenario = Scenario(workload=Workload(arrival=Arrival(kind="trace",
                                                          trace=str(tmp_path / "x.csv"))))
    with pytest.raises(ScenarioError, match="cannot read trace"):
        run(scenario)


def test_run_refuses_something_else() -> None:
    with pytest.raises(TypeError, match="Scenario"):
        run({"workload": {}})  # type: ignore[arg-type]


def test_sampling_can_skip_the_expired_scan() -> None:
    tl = run(_mixed(**{"sampling.expired_present": False})).timeline
    assert tl["expired_present"].isna().all()


def test_data_store_spec_validation() -> None:
    with pytest.raises(ScenarioError) as info:
        DataStoreSpec(write_batch_size=0)
    assert info.value.key == "write_batch_size"


def test_extra_observers_see_the_run() -> None:
    from toolkit import EventCounter
    from toolkit.sim import Scenario, run

    counter = EventCounter()
    scenario = Scenario.from_dict(
        {
            "name": "observed",
            "workload": {"seed": 3, "duration_ms": 2_000, "arrival": {"kind": "constant", "rate_per_s": 500},
                         "keys": {"kind": "uniform", "key_count": 50}, "read_fraction": 0.5},
            "store": {"max_entry_count": 20},
        }
    )
    result = run(scenario, observers=[counter])
    assert counter.counts["put"] == result.summary["inserts"]
    assert counter.counts["evict"] == int(result.timeline["evictions"].sum())


def test_the_run_pauses_the_cyclic_collector_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    real_evict = DefaultRecordStore.evict_expired

    def spy(self: DefaultRecordStore, percentage: int, now: int, is_backup: bool = False) -> int:
        seen.append(gc.isenabled())
        return real_evict(self, percentage, now, is_backup)

    monkeypatch.setattr(DefaultRecordStore, "evict_expired", spy)
    assert gc.isenabled()
    run(_mixed())
    assert seen and not any(seen)  # paused while the simulation ran
    assert gc.isenabled()  # and enabled again afterwards
    gc.disable()
    try:
        run(_mixed(**{"workload.duration_ms": 1000}))
        assert not gc.isenabled()  # a collector the caller had disabled stays disabled
    finally:
        gc.enable()


@pytest.mark.parametrize("data_store", ["null", "sqlite", "write_behind"])
def test_a_finished_run_frees_its_store_without_the_cyclic_collector(data_store: str) -> None:
    """Once run() returns, the record store and its records are freed by reference counting:
    nothing of the run is left in a reference cycle waiting for a full collection (in a
    sweep, each run's store would otherwise stay in memory beside the next run's)."""
    import weakref

    from toolkit import BaseMutationObserver

    class Witness(BaseMutationObserver):
        pass

    witness = Witness()
    alive = weakref.ref(witness)
    changes: dict[str, object] = {"workload.duration_ms": 2000}
    if data_store != "null":
        changes["data_store.kind"] = data_store
    scenario = _mixed(**changes)
    gc.collect()
    gc.disable()
    try:
        result = run(scenario, observers=[witness])
        del witness
        assert alive() is None, "the run's store is still referenced after run() returned"
        assert result.summary["requests"] > 0
    finally:
        gc.enable()


def test_gc_paused_restores_the_collector_after_an_error() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_benchmark_peer_serves_the_same_requests() -> None:
    # bench_sim's peers must drive exactly the runner's requests: same count and,
    # in a cut where nothing is evicted yet, the same hits (a read miss fills the key in both)
    import sys

    sys.path.insert(0, str(SCENARIOS.parent.parent))
    try:
        from benchmarks import bench_sim
    finally:
        sys.path.remove(str(SCENARIOS.parent.parent))
    scenario = load_scenario(SCENARIOS / "large.toml").with_overrides(
        {"workload.duration_ms": 1_000}
    )
    result = run(scenario)
    n, seconds, hit_ratio = bench_sim.peer_cache(scenario)
    assert n == result.summary["requests"] > 5_000 and seconds > 0
    assert result.summary["evictions"] == 0
    assert hit_ratio == pytest.approx(result.summary["hit_ratio"], abs=1e-12)
    # the plain-dict floor serves the same requests (in 1 s nothing expires either)
    n, seconds, hit_ratio = bench_sim.peer_cache(scenario, plain=True)
    assert n == result.summary["requests"] and seconds > 0
    assert hit_ratio == pytest.approx(result.summary["hit_ratio"], abs=1e-12)
    with pytest.raises(ValueError, match="constant TTL"):
        bench_sim.peer_cache(
            scenario.with_overrides({"workload.ttl_ms.kind": "uniform",
                                     "workload.ttl_ms.low": 1, "workload.ttl_ms.high": 5})
        )


def test_an_operation_at_a_sampling_time_is_in_the_row_that_ends_there(tmp_path: Path) -> None:
    # Requests at 10, 50, 60 and 150 ms, samples every 50 ms: rows are (prev, t], so the get
    # at 50 belongs to the row ending at 50 and the put at 150 to the row ending at 150,
    # whatever order SimPy scheduled them in; per-operation records match the rows by time.
    trace = tmp_path / "t.csv"
    trace.write_text("10,put,a\n50,get,a\n60,get,b\n150,put,c\n")
    scenario = Scenario(
        workload=Workload(arrival=Arrival(kind="trace", trace=str(trace)), duration_ms=200),
        sampling=Sampling(interval_ms=50),
    )
    result = run(scenario, record_operations=True)
    tl, ops = result.timeline, result.operations
    assert ops is not None
    assert list(tl["time_ms"]) == [50, 100, 150, 200]
    assert list(tl["requests"]) == [2, 1, 1, 0]
    edges = [0, *tl["time_ms"]]
    per_row = [
        int(((ops.time_ms > a) & (ops.time_ms <= b)).sum())
        for a, b in zip(edges, edges[1:], strict=False)
    ]
    per_row[0] += int((ops.time_ms == 0).sum())
    assert per_row == list(tl["requests"])
    # constant arrivals: 1000 a second, rows of 1000 ms hold 1000 requests each
    steady = Scenario(
        workload=Workload(arrival=Arrival(kind="constant", rate_per_s=1000), duration_ms=3000),
        sampling=Sampling(interval_ms=1000),
    )
    assert list(run(steady).timeline["requests"]) == [1000, 1000, 1000]


def test_a_failed_flush_round_trip_is_charged_to_flush_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.datastores import SQLiteDataStore
    from toolkit.errors import DataStoreError

    real = SQLiteDataStore.store_batch
    calls = [0]

    def fail_the_third(self: SQLiteDataStore, ops: object, now: int) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise DataStoreError("database is locked")
        real(self, ops, now)  # type: ignore[arg-type]

    monkeypatch.setattr(SQLiteDataStore, "store_batch", fail_the_third)
    scenario = _mixed(**{"data_store.kind": "write_behind", "data_store.write_delay_ms": 100,
                         "data_store.flush_interval_ms": 250})
    result = run(scenario)
    tl, lat = result.timeline, scenario.latency
    rows = tl["backing_writes"].sum() + tl["backing_deletes"].sum()
    expected = (tl["backing_batches"].sum() + 1) * lat.write_ms + rows * lat.write_per_row_ms
    assert calls[0] > 3 and tl["flush_ms"].sum() == pytest.approx(expected)


def test_summary_metrics_name_every_measure_of_the_summary() -> None:
    from toolkit.sim.runner import SUMMARY_METRICS

    summary = run(_mixed(**{"workload.duration_ms": 1000})).summary
    assert [k for k in summary if k not in SUMMARY_METRICS] == [
        "scenario", "seed", "duration_ms", "eviction_policy", "max_entry_count",
        "max_cost_bytes", "expiry_strategy", "data_store",
    ]
    assert set(SUMMARY_METRICS) <= set(summary)


def test_common_mistakes_get_errors_that_say_what_was_expected(tmp_path: Path) -> None:
    from toolkit.sim import sweep
    from toolkit.sim.workload import read_trace

    scenario = _mixed(**{"workload.duration_ms": 500})
    with pytest.raises(TypeError, match=r"needs a Scenario \(load_scenario\(path\) reads a file\)"):
        run("flagship.toml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sweep\(\) needs a Scenario"):
        sweep("flagship.toml", {"workload.seed": [1]})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="grid must map dotted keys"):
        sweep(scenario, [("workload.seed", [1])])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="with_overrides needs a mapping"):
        scenario.with_overrides([("store.max_entry_count", 5)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="observers must be MutationObservers"):
        run(scenario, observers=[object()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"trace must be a Trace \(read_trace"):
        run(scenario, trace="t.csv")  # type: ignore[arg-type]
    trace_file = tmp_path / "t.csv"
    trace_file.write_text("0,put,a\n5,get,a\n")
    with pytest.raises(ScenarioError, match="trace= would be ignored"):
        run(scenario, trace=read_trace(trace_file))
