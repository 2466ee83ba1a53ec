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


def _need(frame: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"the frame lacks column(s) {missing}; it has {list(frame.columns)}"
        )


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    return ax


def _seconds(timeline: pd.DataFrame) -> np.ndarray:
    return timeline["time_ms"].to_numpy(dtype=float) / 1000.0


def plot_size_and_cost(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Entries in memory (and how many of them are expired but not yet removed) on the left
    axis, their estimated cost in MiB on a twin right axis."""
    _need(timeline, "time_ms", "size", "cost_bytes")
    ax = _axes(ax)
    t = _seconds(timeline)
    ax.plot(t, timeline["size"], color="tab:blue", label="entries")
    if "expired_present" in timeline and timeline["expired_present"].notna().any():
        ax.plot(
            t, timeline["expired_present"], color="tab:red", linestyle="--",
            label="expired, not yet removed",
        )
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("entries")
    ax.set_title("Size and cost")
    twin = ax.twinx()
    twin.plot(t, timeline["cost_bytes"] / _MIB, color="tab:gray", alpha=0.6, label="cost")
    twin.set_ylabel("cost (MiB)")
    twin.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right", fontsize=8)
    return ax


def plot_hit_ratio(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The fraction of reads served from memory, per sampling interval."""
    _need(timeline, "time_ms", "hit_ratio")
    ax = _axes(ax)
    ax.plot(_seconds(timeline), timeline["hit_ratio"], color="tab:green")
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
    ax.plot(t, timeline["expired_ttl"], color="tab:orange", label="expired (TTL)")
    ax.plot(t, timeline["expired_max_idle"], color="tab:purple", label="expired (max-idle)")
    ax.plot(t, timeline["evictions"], color="black", linestyle=":", label="evicted")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("entries removed per interval")
    ax.set_title("Expirations by reason vs evictions")
    ax.legend(fontsize=8)
    return ax


def plot_pending_writes(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Writes queued but not yet in the backing store (dirty entries), and rows written to
    the backing store per interval."""
    _need(timeline, "time_ms", "pending_writes", "backing_writes")
    ax = _axes(ax)
    t = _seconds(timeline)
    ax.plot(t, timeline["pending_writes"], color="tab:red", label="pending (dirty) writes")
    ax.plot(t, timeline["backing_writes"], color="tab:blue", alpha=0.7,
            label="rows written per interval")
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
        ax.plot(t, timeline[column], linestyle=style, label=label)
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
    ax.plot(t, timeline["requests"], label="requests")
    if "misses" in timeline:
        ax.plot(t, timeline["misses"], label="read misses")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("per interval")
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
    spans their minimum to maximum.
    """
    _need(frame, x, y, *([by] if by else []))
    ax = _axes(ax)
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(frame.groupby(by, sort=True)) if by else [(None, frame)]
    )
    for name, group in groups:
        stats = group.groupby(x, sort=True)[y].agg(["mean", "min", "max"])
        xs = stats.index.to_numpy()
        mean = stats["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - stats["min"].to_numpy(float), stats["max"].to_numpy(float) - mean])
        label = None if by is None else f"{by.split('.')[-1]} = {name}"
        ax.errorbar(xs, mean, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if by is not None:
        ax.legend(fontsize=8)
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
        policy = "eviction_policy"
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
    workload under two data stores)."""
    items = list(timelines.items()) if isinstance(timelines, Mapping) else list(timelines)
    ax = _axes(ax)
    for name, timeline in items:
        _need(timeline, "time_ms", column)
        ax.plot(_seconds(timeline), timeline[column], label=str(name))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel or column)
    ax.set_title(ylabel or column)
    ax.legend(fontsize=8)
    return ax
