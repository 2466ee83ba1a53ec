"""Tests for toolkit.sim.sweep: grids, and the same rows from every executor."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from toolkit import QueueFullError, StorageConfig
from toolkit.sim import (
    Arrival,
    KeyPopularity,
    Sampling,
    Scenario,
    ScenarioError,
    Workload,
    load_scenario,
    parse_assignment,
    sweep,
)
from toolkit.sim.sweep import grid_points


def _scenario() -> Scenario:
    return Scenario(
        name="tiny",
        workload=Workload(
            arrival=Arrival(rate_per_s=1000),
            keys=KeyPopularity(kind="zipf", key_count=2000, alpha=1.0),
            read_fraction=0.9,
            write_on_miss=True,
            duration_ms=3000,
        ),
        store=StorageConfig(max_entry_count=100),
        sampling=Sampling(interval_ms=1000),
    )


GRID = {"store.max_entry_count": [100, 400], "workload.seed": [1, 2]}


def test_parse_assignment() -> None:
    assert parse_assignment("store.max_entry_count=1000,2000") == (
        "store.max_entry_count", [1000, 2000])
    assert parse_assignment("store.eviction_policy=lru,lfu") == (
        "store.eviction_policy", ["lru", "lfu"])
    assert parse_assignment("workload.read_fraction=0.5, 0.9") == (
        "workload.read_fraction", [0.5, 0.9])
    assert parse_assignment('name="a b",true') == ("name", ["a b", True])
    assert parse_assignment('description="a, b",c') == ("description", ["a, b", "c"])
    assert parse_assignment('description="say \\"x,y\\"",2') == ("description", ['say "x,y"', 2])
    assert parse_assignment("workload.ttl_ms.values=[0, 5000],[0,1]") == (
        "workload.ttl_ms.values", [[0, 5000], [0, 1]])
    assert parse_assignment('name="[a,b]",c') == ("name", ["[a,b]", "c"])
    for bad in ("store.max_entry_count", "=1,2", "store.max_entry_count="):
        with pytest.raises(ScenarioError):
            parse_assignment(bad)
    for bad in ("store.max_entry_count=1000,,2000", "store.max_entry_count=1000,"):
        with pytest.raises(ScenarioError, match="empty value"):
            parse_assignment(bad)


def test_grid_points_first_key_slowest() -> None:
    assert grid_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(ScenarioError):
        grid_points({"a": []})
    with pytest.raises(ScenarioError):
        grid_points({"a": "lru"})


def test_serial_sweep_rows() -> None:
    result = sweep(_scenario(), GRID)
    frame = result.summary
    assert len(frame) == 4
    assert list(frame.columns[:2]) == ["store.max_entry_count", "workload.seed"]
    assert frame["store.max_entry_count"].tolist() == [100, 100, 400, 400]
    assert frame["max_entry_count"].tolist() == [100, 100, 400, 400]
    assert frame["seed"].tolist() == [1, 2, 1, 2]
    # more memory, more hits, for each seed (common random numbers)
    by_seed = frame.pivot(index="workload.seed", columns="store.max_entry_count",
                          values="hit_ratio")
    assert (by_seed[400] > by_seed[100]).all()
    # the same seed gives the same request stream whatever the capacity
    assert frame.groupby("workload.seed")["requests"].nunique().eq(1).all()
    assert result.timelines is None


def test_sweep_timelines_are_long_format() -> None:
    result = sweep(_scenario(), {"store.max_entry_count": [100, 400]}, timelines=True)
    tl = result.timelines
    assert tl is not None and len(tl) == 6
    assert tl.columns[0] == "store.max_entry_count"
    assert tl.groupby("store.max_entry_count")["time_ms"].apply(list).tolist() == [
        [1000, 2000, 3000]] * 2


def test_process_pool_gives_the_same_rows_as_serial() -> None:
    serial = sweep(_scenario(), GRID).summary
    pooled = sweep(_scenario(), GRID, jobs=2, executor="process").summary
    pd.testing.assert_frame_equal(serial, pooled)


def test_dask_gives_the_same_rows_as_serial() -> None:
    import distributed  # the dask extra, installed by `make test`
    serial = sweep(_scenario(), GRID).summary
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        on_dask = sweep(_scenario(), GRID, executor=client).summary
        by_address = sweep(_scenario(), {"workload.seed": [1]}, executor=cluster.scheduler_address)
    pd.testing.assert_frame_equal(serial, on_dask)
    assert by_address.summary["hit_ratio"].tolist() == [serial["hit_ratio"].iloc[0]]


def test_bad_points_fail_before_anything_runs() -> None:
    with pytest.raises(ScenarioError) as info:
        sweep(_scenario(), {"store.max_entry_count": [100, -1]})
    assert info.value.key == "store.max_entry_count"
    with pytest.raises(ScenarioError):
        sweep(_scenario(), GRID, jobs=0)
    with pytest.raises(ScenarioError, match="proces"):
        sweep(_scenario(), GRID, executor="proces")
    with pytest.raises(ScenarioError, match="got 5"):
        sweep(_scenario(), GRID, executor=5)


def test_a_malformed_scheduler_address_is_a_clear_error() -> None:
    from toolkit.errors import ToolkitError

    with pytest.raises(ToolkitError, match="cannot use the Dask scheduler at 'tcp:/bad'"):
        sweep(_scenario(), {"workload.seed": [1]}, executor="tcp:/bad")


def test_missing_dask_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import gc

    from toolkit.errors import ToolkitError

    gc.collect()  # finalise any Dask object left by an earlier test before imports fail
    real_import = builtins.__import__

    def no_distributed(name: str, *args: object, **kwargs: object) -> object:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ToolkitError, match="dask"):
        sweep(_scenario(), {"workload.seed": [1]}, executor="dask")


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_swept_trace_path_is_relative_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    def trace(path: Path, requests: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{i},get,k{i % 7},0" for i in range(requests)]
        path.write_text("time_ms,op,key,value_bytes\n" + "\n".join(lines) + "\n")

    home = tmp_path / "scenarios"
    trace(home / "traces" / "a.csv", 30)
    trace(home / "traces" / "b.csv", 60)
    (home / "t.toml").write_text(
        '[workload]\nduration_ms = 100\n[workload.arrival]\nkind = "trace"\n'
        'trace = "traces/a.csv"\n[sampling]\ninterval_ms = 50\n'
    )
    elsewhere = tmp_path / "elsewhere"
    trace(elsewhere / "traces" / "a.csv", 3)  # decoys where the command runs
    trace(elsewhere / "traces" / "b.csv", 3)
    monkeypatch.chdir(elsewhere)
    grid = {"workload.arrival.trace": ["traces/a.csv", "traces/b.csv"]}
    rows = sweep(load_scenario(home / "t.toml"), grid, jobs=2, executor=executor).summary
    assert rows["requests"].tolist() == [30, 60]
    assert rows["workload.arrival.trace"].tolist() == ["traces/a.csv", "traces/b.csv"]


def test_a_failing_point_is_reported_as_a_serial_sweep_reports_it() -> None:
    # both points overflow a non-coalescing write-behind queue, the first after 150,000
    # writes, the second at once; every executor names the first, as the serial sweep
    # (which stops there) does, not the one that failed first
    failing = _scenario().with_overrides(
        {"data_store.kind": "write_behind", "data_store.inner": "null",
         "data_store.write_coalescing": False, "data_store.write_delay_ms": 60_000,
         "workload.read_fraction": 0.0, "workload.arrival.rate_per_s": 100_000}
    )
    grid = {"data_store.queue_capacity": [150_000, 5]}
    messages = []
    for executor in ("serial", "process"):
        with pytest.raises(QueueFullError) as info:
            sweep(failing, grid, jobs=2, executor=executor)
        messages.append(str(info.value).split(";")[0])
    assert messages[0] == messages[1] and "(150000 of 150000 operations" in messages[0]


def test_a_grid_with_the_same_run_twice_is_refused() -> None:
    for grid in ({"store.max_entry_count": [100, 100]},
                 {"store.eviction_policy": ["LRU", "lru"]},
                 {"store.max_entry_count": [100, 400], "workload.seed": [1, 1]}):
        with pytest.raises(ScenarioError, match="are the same run"):
            sweep(_scenario(), grid)


def test_a_list_value_can_be_swept() -> None:
    scenario = _scenario().with_overrides(
        {"workload.ttl_ms.kind": "choice", "workload.ttl_ms.values": [0, 500]}
    )
    key, values = parse_assignment("workload.ttl_ms.values=[0,500],[0,100000]")
    rows = sweep(scenario, {key: values}).summary
    assert rows[key].tolist() == ["[0, 500]", "[0, 100000]"]  # a list is labelled by its text
    assert rows["expired_ttl"].iloc[0] > rows["expired_ttl"].iloc[1]


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_keep_going_gives_every_point_a_row(executor: str) -> None:
    overflowing = _scenario().with_overrides(
        {"data_store.kind": "write_behind", "data_store.inner": "null",
         "data_store.write_coalescing": False, "data_store.write_delay_ms": 60_000}
    )
    grid = {"data_store.queue_capacity": [5, 100_000], "workload.seed": [1, 2]}
    rows = sweep(overflowing, grid, jobs=2, executor=executor, keep_going=True).summary
    assert list(rows.columns[:2]) == list(grid) and rows.columns[-1] == "error"
    assert rows["data_store.queue_capacity"].tolist() == [5, 5, 100_000, 100_000]
    failed = rows["error"].notna().tolist()
    assert failed == [True, True, False, False]
    assert rows["error"].iloc[0].startswith("QueueFullError: write-behind queue is full (5 of 5")
    assert rows["requests"].isna().tolist() == failed
    ran = sweep(overflowing, {"data_store.queue_capacity": [100_000], "workload.seed": [1]}).summary
    assert rows["requests"].iloc[2] == ran["requests"].iloc[0]


def test_numpy_values_work_as_python_values() -> None:
    import json

    import numpy as np

    from toolkit import ExpiryPolicy, SizedValue
    from toolkit.sim import Distribution

    # a notebook's values often come from numpy or pandas
    assert StorageConfig(max_entry_count=np.int64(5)).max_entry_count == 5
    assert type(StorageConfig(max_entry_count=np.int64(5)).max_entry_count) is int
    assert ExpiryPolicy(np.int64(5), np.int32(0)) == ExpiryPolicy(5, 0)
    assert SizedValue(np.int64(10)).nbytes == 10
    assert Distribution("choice", values=np.array([0, 500])).values == Distribution(
        "choice", values=(0, 500)).values
    assert Distribution("choice", values=pd.Series([0, 500])).values == (0, 500)
    scenario = _scenario().with_overrides({"store.max_entry_count": np.int64(300),
                                           "workload.write_on_miss": np.bool_(False)})
    assert scenario.store.max_entry_count == 300 and scenario.workload.write_on_miss is False
    rows = sweep(_scenario(), {"store.max_entry_count": np.arange(100, 300, 100),
                               "workload.read_fraction": pd.Series([0.5])}).summary
    assert rows["store.max_entry_count"].tolist() == [100, 200]
    assert json.dumps(rows.iloc[0].to_dict(), default=str)  # plain values throughout
    with pytest.raises(ScenarioError, match="non-empty list"):
        sweep(_scenario(), {"store.max_entry_count": np.array([], dtype=int)})
    with pytest.raises(ScenarioError, match="non-empty list"):
        sweep(_scenario(), {"store.max_entry_count": 100})


def test_list_and_table_values_are_labelled_by_their_json_text() -> None:
    scenario = _scenario().with_overrides(
        {"workload.ttl_ms.kind": "choice", "workload.ttl_ms.values": [0, 500]}
    )
    grid = {"workload.ttl_ms": [{"kind": "constant", "value": 500},
                                {"kind": "choice", "values": [0, 500]}]}
    result = sweep(scenario, grid, timelines=True)
    labels = ['{"kind": "constant", "value": 500}', '{"kind": "choice", "values": [0, 500]}']
    assert result.summary["workload.ttl_ms"].tolist() == labels
    tl = result.timelines
    assert tl is not None and tl.groupby("workload.ttl_ms").size().to_dict() == {
        label: 3 for label in labels}  # one label per timeline row, 3 rows a run
