"""Tests for toolkit.plots: every panel draws on the given axes and returns them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from toolkit import StorageConfig, plots
from toolkit.sim import (
    Arrival,
    DataStoreSpec,
    Distribution,
    KeyPopularity,
    Scenario,
    Workload,
    run,
    sweep,
)


@pytest.fixture(scope="module")
def timeline() -> pd.DataFrame:
    scenario = Scenario(
        name="p",
        workload=Workload(
            arrival=Arrival(rate_per_s=500),
            keys=KeyPopularity(kind="zipf", key_count=1000),
            write_on_miss=True,
            ttl_ms=Distribution.constant(1500),
            max_idle_ms=Distribution.constant(800),
            duration_ms=4000,
        ),
        store=StorageConfig(max_entry_count=200),
        data_store=DataStoreSpec(kind="write_behind"),
    )
    return run(scenario).timeline


@pytest.fixture(autouse=True)
def _close_figures() -> object:
    yield
    plt.close("all")


PANELS = [
    plots.plot_size_and_cost,
    plots.plot_hit_ratio,
    plots.plot_expirations,
    plots.plot_pending_writes,
    plots.plot_latency,
]


@pytest.mark.parametrize("panel", PANELS)
def test_panels_draw_on_the_given_axes(panel, timeline: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    assert panel(timeline, ax) is ax
    assert ax.get_lines(), "nothing was drawn"
    assert "simulated time (s)" in ax.get_xlabel()
    assert ax.get_ylabel() and ax.get_title()


@pytest.mark.parametrize("panel", PANELS)
def test_panels_make_axes_when_none_given(panel, timeline: pd.DataFrame) -> None:
    assert isinstance(panel(timeline), Axes)


def test_time_axis_is_in_seconds(timeline: pd.DataFrame) -> None:
    ax = plots.plot_hit_ratio(timeline)
    assert ax.get_lines()[0].get_xdata()[-1] == pytest.approx(4.0)


def test_units_are_labelled(timeline: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    plots.plot_size_and_cost(timeline, ax)
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert twin.get_ylabel() == "cost (MiB)"
    assert plots.plot_latency(timeline).get_ylabel() == "latency (ms)"


def test_timeline_figure(timeline: pd.DataFrame) -> None:
    fig = plots.plot_timeline(timeline, title="p")
    assert isinstance(fig, Figure)
    assert len([a for a in fig.axes if a.get_title()]) == 6
    mine = plt.figure()
    assert plots.plot_timeline(timeline, fig=mine) is mine


def test_missing_columns_are_named(timeline: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="hit_ratio"):
        plots.plot_hit_ratio(timeline.drop(columns=["hit_ratio"]))


def test_comparison_of_several_results() -> None:
    scenario = Scenario(
        name="c",
        workload=Workload(keys=KeyPopularity(kind="zipf", key_count=2000),
                          write_on_miss=True, duration_ms=2000),
    )
    frame = sweep(
        scenario,
        {"store.eviction_policy": ["lru", "random"], "store.max_entry_count": [100, 400],
         "workload.seed": [1, 2]},
    ).summary
    _, ax = plt.subplots()
    assert plots.plot_hit_ratio_vs_capacity(frame, ax=ax) is ax
    assert len(ax.get_legend().get_texts()) == 2
    assert ax.get_xlabel() == "capacity (max entries)"
    ax2 = plots.plot_comparison(frame, "store.max_entry_count", "latency_mean_ms")
    assert ax2.get_ylabel() == "latency_mean_ms"


def test_overlay_of_timelines(timeline: pd.DataFrame) -> None:
    ax = plots.plot_timelines_overlay({"a": timeline, "b": timeline}, "size", ylabel="entries")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_ylabel() == "entries"
