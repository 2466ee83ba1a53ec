"""Matplotlib figures from simulation result frames.

Every panel function takes a DataFrame (a timeline from :func:`toolkit.sim.run`, or a sweep
table from :func:`toolkit.sim.sweep`) and an optional ``ax``, draws on it and returns it;
:func:`plot_timeline` draws every panel on one figure and returns the figure. Times are shown
in seconds of simulated time, costs in MiB, latencies in milliseconds. A frame that lacks a
needed column raises :class:`KeyError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "plot_size_and_cost",
    "plot_hit_ratio",
    "plot_expirations",
    "plot_pending_writes",
    "plot_latency",
    "plot_timeline",
    "plot_comparison",
    "plot_hit_ratio_vs_capacity",
    "plot_timelines_overlay",
]

_MIB = 1024 * 1024
#: Timeline columns that count what happened in a sampling interval (not levels or rates).
_COUNTS = frozenset((
    "requests", "reads", "hits", "misses", "writes", "fills", "inserts", "updates", "removes",
    "loads", "evictions", "expired_ttl", "expired_max_idle", "backing_writes",
    "backing_deletes", "backing_batches", "backing_loads",
))
#: Markers taken in turn once the colours of the cycle run out, so every line differs.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _need(frame: pd.DataFrame, *columns: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        hint = ""
        if hasattr(frame, "timeline") and hasattr(frame, "summary"):
            hint = " (a SimResult: pass result.timeline)"
        elif isinstance(frame, pd.Series):
            hint = " (a Series: pass the whole table)"
        raise TypeError(f"expected a pandas DataFrame{hint}, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"the frame lacks column(s) {missing}; it has {list(frame.columns)}"
        )


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")  # labels not clipped
    return ax


def _seconds(timeline: pd.DataFrame) -> np.ndarray:
    return timeline["time_ms"].to_numpy(dtype=float) / 1000.0


def _plot(ax: Axes, t: np.ndarray, y: Any, **style: Any) -> Any:
    """``ax.plot`` of a sampled series, with a marker on every point that has no finite
    neighbour: a line alone would not show it (a one-row timeline, or a single interval with
    reads between intervals without any)."""
    y = np.asarray(y, dtype=float)
    (line,) = ax.plot(t, y, **style)
    finite = np.isfinite(y)
    alone = finite & ~np.r_[False, finite[:-1]] & ~np.r_[finite[1:], False]
    if alone.any():
        ax.plot(
            t[alone], y[alone], linestyle="none", marker="o", markersize=4,
            color=line.get_color(), alpha=style.get("alpha"),
        )
    return line


def _nothing_to_show(ax: Axes, t: np.ndarray, values: Any, message: str) -> None:
    """Say so on ``ax`` when ``values`` has no finite number (and keep the time axis)."""
    if np.isfinite(np.asarray(values, dtype=float)).any():
        return
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="gray")
    if len(t) and t.max() > t.min():
        ax.set_xlim(t.min(), t.max())


def _per_interval(timeline: pd.DataFrame) -> str:
    """``"per 1 s interval"``: the sampling interval of a timeline (the span between its
    first two samples; ``"per interval"`` with fewer than two)."""
    t = timeline["time_ms"].to_numpy(dtype=float)
    if len(t) < 2:
        return "per interval"
    return f"per {(t[1] - t[0]) / 1000:g} s interval"


def _label(column: str) -> str:
    """A column name with its unit: ``latency_mean_ms (ms)``, ``cost_bytes (bytes)``."""
    for suffix, unit in (("_ms", "ms"), ("_bytes", "bytes"), ("_count", "entries")):
        if column.endswith(suffix):
            return f"{column} ({unit})"
    return column


def _legend(ax: Axes, **kwargs: Any) -> None:
    """A legend when something on ``ax`` has a label (else matplotlib warns)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def plot_size_and_cost(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Entries in memory (and how many of them are expired but not yet removed) on the left
    axis, their estimated cost in MiB on a twin right axis."""
    _need(timeline, "time_ms", "size", "cost_bytes")
    ax = _axes(ax)
    t = _seconds(timeline)
    _plot(ax, t, timeline["size"], color="tab:blue", label="entries")
    if "expired_present" in timeline and timeline["expired_present"].notna().any():
        _plot(
            ax, t, timeline["expired_present"], color="tab:red", linestyle="--",
            label="expired, not yet removed",
        )
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("entries")
    ax.set_title("Size and cost")
    twin = ax.twinx()
    _plot(twin, t, timeline["cost_bytes"] / _MIB, color="tab:gray", alpha=0.6, label="cost")
    twin.set_ylabel("cost (MiB)")
    twin.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    lines = [ln for ln in ax.get_lines() + twin.get_lines() if not str(ln.get_label()).startswith("_")]
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right", fontsize=8)
    return ax


def plot_hit_ratio(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The fraction of reads served from memory, per sampling interval."""
    _need(timeline, "time_ms", "hit_ratio")
    ax = _axes(ax)
    t = _seconds(timeline)
    _plot(ax, t, timeline["hit_ratio"], color="tab:green")
    _nothing_to_show(ax, t, timeline["hit_ratio"], "no reads in this run")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("hit ratio (hits / reads)")
    ax.set_title("Hit ratio per interval")
    return ax


def plot_expirations(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Entries removed per interval: expired by TTL, expired by max-idle, and evicted (by
    the size or cost limit) drawn apart, since expiry is not eviction."""
    _need(timeline, "time_ms", "expired_ttl", "expired_max_idle", "evictions")
    ax = _axes(ax)
    t = _seconds(timeline)
    _plot(ax, t, timeline["expired_ttl"], color="tab:orange", label="expired (TTL)")
    _plot(ax, t, timeline["expired_max_idle"], color="tab:purple", label="expired (max-idle)")
    _plot(ax, t, timeline["evictions"], color="black", linestyle=":", label="evicted")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"entries removed {_per_interval(timeline)}")
    ax.set_title("Expirations by reason vs evictions")
    ax.legend(fontsize=8)
    return ax


def plot_pending_writes(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Writes queued but not yet in the backing store (dirty entries), and rows written to
    the backing store per interval."""
    _need(timeline, "time_ms", "pending_writes", "backing_writes")
    ax = _axes(ax)
    t = _seconds(timeline)
    _plot(ax, t, timeline["pending_writes"], color="tab:red", label="pending (dirty) writes")
    _plot(ax, t, timeline["backing_writes"], color="tab:blue", alpha=0.7,
          label=f"rows written {_per_interval(timeline)}")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("writes")
    ax.set_title("Write-behind queue and backing-store writes")
    ax.legend(fontsize=8)
    return ax


def plot_latency(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Operation latency percentiles (p50, p95, p99) per interval, in ms."""
    _need(timeline, "time_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
    ax = _axes(ax)
    t = _seconds(timeline)
    for column, label, style in (
        ("latency_p50_ms", "p50", "-"),
        ("latency_p95_ms", "p95", "--"),
        ("latency_p99_ms", "p99", ":"),
    ):
        _plot(ax, t, timeline[column], linestyle=style, label=label)
    _nothing_to_show(ax, t, timeline["latency_p50_ms"], "no operations in this run")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Operation latency")
    ax.legend(fontsize=8)
    return ax


def plot_timeline(
    timeline: pd.DataFrame, fig: Figure | None = None, title: str | None = None
) -> Figure:
    """All six panels (size and cost, hit ratio, expirations vs evictions, pending writes,
    latency, requests) on one figure, returned."""
    _need(timeline, "time_ms", "requests")
    if fig is None:
        fig = plt.figure(figsize=(13, 10), layout="constrained")
    axes = fig.subplots(3, 2)
    plot_size_and_cost(timeline, axes[0, 0])
    plot_hit_ratio(timeline, axes[0, 1])
    plot_expirations(timeline, axes[1, 0])
    plot_pending_writes(timeline, axes[1, 1])
    plot_latency(timeline, axes[2, 0])
    ax = axes[2, 1]
    t = _seconds(timeline)
    _plot(ax, t, timeline["requests"], label="requests")
    if "misses" in timeline:
        _plot(ax, t, timeline["misses"], label="read misses")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(_per_interval(timeline))
    ax.set_title("Requests")
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_comparison(
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str | None = None,
    ax: Axes | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Axes:
    """``y`` against ``x`` from a sweep table, one line per value of ``by``.

    Rows with the same (``by``, ``x``) are replications: the line is their mean and the bar
    spans their minimum to maximum. A bool ``x`` is drawn as two categories; a missing
    (NaN) ``x`` or ``by`` value is a group of its own; lines differ in colour and marker.
    """
    _need(frame, x, y, *([by] if by else []))
    ax = _axes(ax)
    if frame[x].dtype == bool:  # two categories, not 0 and 1 on a number line
        frame = frame.assign(**{x: frame[x].map(str)})
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(frame.groupby(by, sort=True, dropna=False)) if by else [(None, frame)]
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", [None])
    for i, (name, group) in enumerate(groups):
        stats = group.groupby(x, sort=True, dropna=False)[y].agg(["mean", "min", "max"])
        xs = stats.index.to_numpy()
        mean = stats["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - stats["min"].to_numpy(float), stats["max"].to_numpy(float) - mean])
        label = None if by is None else f"{by.split('.')[-1]} = {name}"
        ax.errorbar(
            xs, mean, yerr=err, marker=_MARKERS[i // len(colours) % len(_MARKERS)],
            color=colours[i % len(colours)], capsize=3, label=label,
        )
    _nothing_to_show(ax, np.array([]), frame[y], f"no {y} values")
    ax.set_xlabel(xlabel or _label(x))
    ax.set_ylabel(ylabel or _label(y))
    if by is not None:
        _legend(ax, fontsize=8)
    ax.set_title(f"{ylabel or y} vs {xlabel or x}")
    return ax


def plot_hit_ratio_vs_capacity(
    frame: pd.DataFrame,
    capacity: str = "store.max_entry_count",
    policy: str = "store.eviction_policy",
    ax: Axes | None = None,
) -> Axes:
    """Hit ratio against capacity (entries), one line per eviction policy (replications
    averaged, min-max bars)."""
    if policy not in frame.columns:
        policy = "eviction_policy"  # the summary's own column, in a sweep that did not set it
    if capacity not in frame.columns:
        capacity = "max_entry_count"
    ax = plot_comparison(
        frame, capacity, "hit_ratio", by=policy, ax=ax,
        xlabel="capacity (max entries)", ylabel="hit ratio",
    )
    ax.set_ylim(0, 1.02)
    ax.set_title("Hit ratio vs capacity by eviction policy")
    return ax


def plot_timelines_overlay(
    timelines: Mapping[str, pd.DataFrame] | Sequence[tuple[str, pd.DataFrame]],
    column: str,
    ax: Axes | None = None,
    ylabel: str | None = None,
) -> Axes:
    """One ``column`` from several timelines on one axis, labelled by name (e.g. the same
    workload under two data stores); ``cost_bytes`` in MiB, as in :func:`plot_size_and_cost`.
    Counts are per sampling interval: compare timelines sampled at the same interval."""
    items = list(timelines.items()) if isinstance(timelines, Mapping) else list(timelines)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], pd.DataFrame)):
            raise TypeError(
                "timelines must map names to timelines ({'a': result.timeline, ...}) or be "
                f"(name, timeline) pairs, got an item {type(item).__name__}"
            )
    ax = _axes(ax)
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", [None])
    scale, default_label = (_MIB, "cost (MiB)") if column == "cost_bytes" else (1, _label(column))
    if column in _COUNTS and items:
        default_label = f"{default_label} {_per_interval(items[0][1])}"
    values = []
    for i, (name, timeline) in enumerate(items):
        _need(timeline, "time_ms", column)
        _plot(
            ax, _seconds(timeline), timeline[column] / scale, label=str(name),
            color=colours[i % len(colours)],
            linestyle=("-", "--", ":", "-.")[i // len(colours) % 4],
        )
        values.append(timeline[column].to_numpy(dtype=float))
    times = np.concatenate([_seconds(t) for _, t in items]) if items else np.array([])
    _nothing_to_show(
        ax, times, np.concatenate(values) if values else np.array([]),
        f"no {column} values in these runs",
    )
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel or default_label)
    ax.set_title(ylabel or default_label)
    _legend(ax, fontsize=8)
    return ax
