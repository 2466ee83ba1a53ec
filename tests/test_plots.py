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
    assert ax2.get_ylabel() == "latency_mean_ms (ms)"  # the unit named


def _drawn_points(ax: Axes) -> int:
    """Finite points drawn by lines with a visible marker or a segment between two points."""
    import numpy as np

    n = 0
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        if line.get_marker() not in (None, "None", "", " "):
            n += int(np.isfinite(y).sum())
    return n


@pytest.mark.parametrize("panel", PANELS)
def test_a_one_row_timeline_is_drawn_not_blank(panel, timeline: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    panel(timeline.iloc[:1], ax)
    assert _drawn_points(ax) >= 1


def test_an_isolated_sample_gets_a_marker_and_no_reads_say_so(timeline: pd.DataFrame) -> None:
    import numpy as np

    gappy = timeline.copy()
    gappy["hit_ratio"] = np.nan
    gappy.loc[gappy.index[3], "hit_ratio"] = 0.5  # one interval with reads between two without
    _, ax = plt.subplots()
    plots.plot_hit_ratio(gappy, ax)
    assert _drawn_points(ax) == 1
    none = timeline.copy()
    none["hit_ratio"] = np.nan
    _, ax = plt.subplots()
    plots.plot_hit_ratio(none, ax)
    assert [t.get_text() for t in ax.texts] == ["no reads in this run"]
    assert ax.get_xlim() == (timeline["time_ms"].min() / 1000, timeline["time_ms"].max() / 1000)


def test_comparison_draws_a_bool_as_two_categories_and_keeps_lines_apart() -> None:
    frame = pd.DataFrame({
        "flag": [True, False, True, False],
        "group": ["a", "a", "b", "b"],
        "hit_ratio": [0.5, 0.4, 0.6, 0.3],
    })
    _, ax = plt.subplots()
    plots.plot_comparison(frame, "flag", "hit_ratio", by="group", ax=ax)
    assert sorted(t.get_text() for t in ax.get_xticklabels()) == ["False", "True"]
    many = pd.DataFrame({"x": list(range(3)) * 12, "g": [i // 3 for i in range(36)],
                         "y": [0.1] * 36})
    _, ax = plt.subplots()
    plots.plot_comparison(many, "x", "y", by="g", ax=ax)
    styles = {(line.get_color(), line.get_marker()) for line in ax.get_lines()
              if line.get_marker() in plots._MARKERS}  # not the error bars' caps
    assert len(styles) == 12  # more groups than colours: the marker tells them apart


def test_overlay_of_timelines(timeline: pd.DataFrame) -> None:
    ax = plots.plot_timelines_overlay({"a": timeline, "b": timeline}, "size", ylabel="entries")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_ylabel() == "entries"
    cost = plots.plot_timelines_overlay({"a": timeline}, "cost_bytes")
    assert cost.get_ylabel() == "cost (MiB)"
    assert max(cost.get_lines()[0].get_ydata()) == pytest.approx(timeline["cost_bytes"].max() / 2**20)


def test_plots_name_what_they_need_when_given_something_else() -> None:
    from toolkit.sim import Scenario, Workload, run

    result = run(Scenario(workload=Workload(duration_ms=2000)))
    with pytest.raises(TypeError, match=r"a SimResult: pass result.timeline"):
        plots.plot_hit_ratio(result)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a Series: pass the whole table"):
        plots.plot_hit_ratio(result.timeline["hit_ratio"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(name, timeline\) pairs"):
        plots.plot_timelines_overlay([result.timeline, result.timeline], "hit_ratio")  # type: ignore[arg-type]
    plt.close("all")


def test_overlay_labels_counts_by_interval_and_says_when_empty() -> None:
    from toolkit.sim import Scenario, Workload, run

    writes = run(Scenario(workload=Workload(duration_ms=3000, read_fraction=0.0))).timeline
    ax = plots.plot_timelines_overlay({"a": writes, "b": writes}, "writes")
    assert ax.get_ylabel() == "writes per 1 s interval"
    ax = plots.plot_timelines_overlay({"a": writes}, "hit_ratio")
    assert "no hit_ratio values in these runs" in [t.get_text() for t in ax.texts]
    plt.close("all")
