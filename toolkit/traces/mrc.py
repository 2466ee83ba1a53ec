"""Miss-ratio curves: miss ratio against cache size, for many sizes at once.

For LRU one pass gives every size (Mattson's stack algorithm): a read hits a cache of ``C``
objects exactly when fewer than ``C`` distinct other keys were requested since the key's
previous request (its *stack distance*). :func:`stack_distances` computes all of them with
numpy: the distance of request ``i`` is the length of the window since the previous request
of its key minus the requests in that window whose own previous request also lies in it, a
count of earlier-and-greater values computed level by level over the bits of the values
(O(n log n), no Python loop per request). :func:`byte_stack_distances` is the same in bytes.

Other policies (and traces with deletes, which LRU's stack cannot express) are replayed once
per size. :func:`plot_mrc` draws a curve from the frame :func:`miss_ratio_curve` returns.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError
from ..progress import progress_bar
from .policies import make_policy
from .readers import InMemoryTrace, TraceReader, as_reader, read_requests
from .replay import replay, with_next_access
from .requests import Op, previous_access_indices

__all__ = [
    "stack_distances",
    "byte_stack_distances",
    "default_capacities",
    "miss_ratio_curve",
    "plot_mrc",
    "MRC_COLUMNS",
]

#: The columns of a miss-ratio-curve frame.
MRC_COLUMNS: tuple[str, ...] = (
    "policy",
    "by",
    "method",
    "capacity",
    "requests",
    "reads",
    "hits",
    "misses",
    "miss_ratio",
    "byte_miss_ratio",
)


def _earlier_greater(values: np.ndarray, weights: np.ndarray | None = None, bar: Any = None) -> np.ndarray:
    """For each ``i``: how many ``k < i`` have ``values[k] > values[i]`` (or the sum of their
    ``weights``). ``values`` are non-negative integers.

    Works over the bits from the highest: at each level the values sharing the higher bits
    form contiguous groups in time order (a stable partition by each bit, zeros first, keeps
    them so); within a group, an element whose bit is 0 is exceeded by every earlier element
    whose bit is 1.
    """
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    values = np.asarray(values)
    if values.min() < 0:
        raise InvalidArgumentError("values must be non-negative")
    # 32-bit positions halve the memory traffic when they fit.
    idx_type = np.int32 if n < 2**31 - 1 and values.max() < 2**31 - 1 else np.int64
    cur: np.ndarray[Any, np.dtype[np.signedinteger[Any]]] = values.astype(idx_type)
    order = np.arange(n, dtype=idx_type)
    pos = np.arange(n, dtype=idx_type)
    w = None if weights is None else np.asarray(weights, dtype=np.int64)
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    for b in range(int(cur.max()).bit_length() - 1, -1, -1):
        ones = ((cur >> b) & 1).astype(bool)
        group = cur >> (b + 1)
        np.not_equal(group[1:], group[:-1], out=new_group[1:])
        if w is None:
            before = np.cumsum(ones, dtype=np.int64)
            before -= ones
        else:
            contrib = np.where(ones, w, 0)
            before = np.cumsum(contrib)
            before -= contrib
        start = np.maximum.accumulate(np.where(new_group, pos, 0))
        before -= before[start]
        zeros = ~ones
        out[order[zeros]] += before[zeros]
        perm = np.concatenate((np.flatnonzero(zeros), np.flatnonzero(ones)))
        cur = cur[perm]
        order = order[perm]
        if w is not None:
            w = w[perm]
        if bar is not None:
            bar.update(1)
    return out


def _levels(n: int) -> int:
    return max(int(n).bit_length(), 1)


def stack_distances(keys: np.ndarray, progress: bool | None = None) -> np.ndarray:
    """LRU stack distance of every request: the number of distinct other keys requested since
    the previous request of the same key (-1 for a first request).

    A request hits an LRU cache of ``C`` objects iff ``0 <= distance < C``.
    """
    keys = np.asarray(keys)
    n = len(keys)
    prev = previous_access_indices(keys)
    bar = progress_bar(_levels(n), progress, "stack distances", unit="level")
    try:
        greater = _earlier_greater(prev + 1, None, bar)
    finally:
        bar.close()
    idx = np.arange(n, dtype=np.int64)
    dist = idx - prev - 1 - greater
    dist[prev < 0] = -1
    return dist


def byte_stack_distances(keys: np.ndarray, sizes: np.ndarray, progress: bool | None = None) -> np.ndarray:
    """LRU stack distance in bytes of every request: the bytes of the distinct other keys
    requested since the previous request of the same key (each at its latest size) plus the
    key's own size at that previous request; -1 for a first request.

    A request hits an LRU cache of ``B`` bytes iff ``0 <= distance <= B``, as long as every
    object keeps one size and fits in ``B`` (an object larger than the cache is never cached,
    which a single stack cannot express).
    """
    keys = np.asarray(keys)
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.shape != keys.shape:
        raise InvalidArgumentError(
            f"keys and sizes must have the same length, got {len(keys)} and {len(sizes)}"
        )
    n = len(keys)
    prev = previous_access_indices(keys)
    has_prev = prev >= 0
    prev_size = np.where(has_prev, sizes[np.where(has_prev, prev, 0)], 0)
    bar = progress_bar(_levels(n), progress, "byte stack distances", unit="level")
    try:
        superseded = _earlier_greater(prev + 1, prev_size, bar)
    finally:
        bar.close()
    csum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=csum[1:])
    idx = np.arange(n, dtype=np.int64)
    window = csum[idx] - csum[np.where(has_prev, prev + 1, 0)]
    dist = window - superseded + prev_size
    dist[~has_prev] = -1
    return dist


def default_capacities(largest: int, points: int = 20) -> np.ndarray:
    """About ``points`` log-spaced whole capacities from 1 to ``largest`` (unique, sorted)."""
    if largest < 1:
        return np.array([1], dtype=np.int64)
    caps = np.unique(np.geomspace(1, largest, max(points, 2)).round().astype(np.int64))
    return caps[caps >= 1]


def _check_capacities(capacities: Any) -> np.ndarray:
    caps = np.asarray(capacities)
    if caps.ndim != 1 or len(caps) == 0 or not np.issubdtype(caps.dtype, np.integer):
        raise InvalidArgumentError(f"capacities must be a non-empty sequence of ints, got {capacities!r}")
    if (caps < 1).any():
        raise InvalidArgumentError(f"capacities must all be >= 1, got {capacities!r}")
    return np.unique(caps.astype(np.int64))


def _stack_frame(
    requests: np.ndarray, capacities: np.ndarray | None, by: str, points: int, progress: bool | None
) -> pd.DataFrame:
    keys = requests["key"]
    sizes = requests["size"].astype(np.int64)
    if by == "objects":
        dist = stack_distances(keys, progress)
    else:
        dist = byte_stack_distances(keys, sizes, progress)
    reads = requests["op"] == int(Op.READ)
    if capacities is None:
        if by == "objects":
            largest = len(np.unique(keys))
        else:
            last = np.unique(keys[::-1], return_index=True)[1]
            largest = int(sizes[::-1][last].sum())
        capacities = default_capacities(largest, points)
    d = dist[reads]
    s = sizes[reads]
    reused = d >= 0
    order = np.argsort(d[reused], kind="stable")
    d_sorted = d[reused][order]
    s_cum = np.concatenate(([0], np.cumsum(s[reused][order])))
    if by == "objects":
        n_hits = np.searchsorted(d_sorted, capacities, side="left")
    else:
        n_hits = np.searchsorted(d_sorted, capacities, side="right")
    hit_bytes = s_cum[n_hits]
    n_reads = int(reads.sum())
    read_bytes = int(s.sum())
    misses = n_reads - n_hits
    return pd.DataFrame(
        {
            "policy": "lru",
            "by": by,
            "method": "stack",
            "capacity": capacities,
            "requests": len(requests),
            "reads": n_reads,
            "hits": n_hits,
            "misses": misses,
            "miss_ratio": misses / n_reads if n_reads else 0.0,
            "byte_miss_ratio": (read_bytes - hit_bytes) / read_bytes if read_bytes else 0.0,
        },
        columns=list(MRC_COLUMNS),
    )


def miss_ratio_curve(
    trace: TraceReader | np.ndarray | str | os.PathLike[str],
    capacities: Any = None,
    *,
    policy: str = "lru",
    by: str = "objects",
    method: str = "auto",
    points: int = 20,
    format: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The miss-ratio curve of ``trace`` under ``policy``: one row per capacity
    (:data:`MRC_COLUMNS`).

    ``by`` is ``"objects"`` (capacities count objects) or ``"bytes"``. ``capacities`` default
    to ``points`` log-spaced sizes up to the trace's footprint (distinct objects or their
    bytes). ``method`` is ``"stack"`` (one pass; LRU only), ``"replay"`` (one exact replay
    per capacity) or ``"auto"`` (stack for LRU on traces without deletes, else replay). The
    whole trace is read into memory once. Raises
    :class:`~toolkit.errors.InvalidArgumentError` for a bad argument.
    """
    if by not in ("objects", "bytes"):
        raise InvalidArgumentError(f"by must be 'objects' or 'bytes', got {by!r}")
    if method not in ("auto", "stack", "replay"):
        raise InvalidArgumentError(f"method must be 'auto', 'stack' or 'replay', got {method!r}")
    name = make_policy(policy, 1).name
    caps = None if capacities is None else _check_capacities(capacities)
    reader = as_reader(trace, format)
    requests = read_requests(reader)
    has_deletes = bool((requests["op"] == int(Op.DELETE)).any())
    if method == "stack" and (name != "lru" or has_deletes):
        raise InvalidArgumentError(
            "method='stack' needs policy 'lru' and a trace without deletes; use 'replay'"
        )
    if method == "stack" or (method == "auto" and name == "lru" and not has_deletes):
        return _stack_frame(requests, caps, by, points, progress)

    if name == "belady" and (not reader.has_next_access):
        source: TraceReader = with_next_access(requests)
    else:
        source = InMemoryTrace(requests, has_next_access=reader.has_next_access)
    if caps is None:
        keys = requests["key"]
        if by == "objects":
            largest = len(np.unique(keys))
        else:
            last = np.unique(keys[::-1], return_index=True)[1]
            largest = int(requests["size"][::-1][last].astype(np.int64).sum())
        caps = default_capacities(largest, points)
    rows = []
    bar = progress_bar(len(caps), progress, f"mrc {name}", unit="size")
    try:
        for cap in caps.tolist():
            if by == "objects":
                r = replay(source, name, capacity=cap, progress=False)
            else:
                r = replay(source, name, capacity_bytes=cap, progress=False)
            rows.append(
                {
                    "policy": name,
                    "by": by,
                    "method": "replay",
                    "capacity": cap,
                    "requests": r.requests,
                    "reads": r.reads,
                    "hits": r.hits,
                    "misses": r.misses,
                    "miss_ratio": r.miss_ratio,
                    "byte_miss_ratio": r.byte_miss_ratio,
                }
            )
            bar.update(1)
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=list(MRC_COLUMNS))


def plot_mrc(
    df: pd.DataFrame,
    ax: Any = None,
    *,
    column: str = "miss_ratio",
    logx: bool = True,
    label: str | None = None,
) -> Any:
    """Plot a miss-ratio curve frame (one line per policy) on ``ax`` (a new figure if None);
    return the axes.

    ``column`` is ``"miss_ratio"`` or ``"byte_miss_ratio"``; ``label`` overrides the legend
    label of a single-policy frame.
    """
    if column not in ("miss_ratio", "byte_miss_ratio"):
        raise InvalidArgumentError(f"column must be 'miss_ratio' or 'byte_miss_ratio', got {column!r}")
    missing = {"capacity", column}.difference(df.columns)
    if missing:
        raise InvalidArgumentError(f"frame lacks columns {sorted(missing)}")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    groups = list(df.groupby("policy", sort=False)) if "policy" in df.columns else [("", df)]
    for name, part in groups:
        part = part.sort_values("capacity")
        text = label if label is not None and len(groups) == 1 else str(name)
        ax.plot(part["capacity"], part[column], marker=".", label=text)
    if logx:
        ax.set_xscale("log")
    by = str(df["by"].iloc[0]) if "by" in df.columns and len(df) else "objects"
    ax.set_xlabel(f"cache size ({by})")
    ax.set_ylabel(column.replace("_", " "))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if any(str(name) for name, _ in groups) or label:
        ax.legend()
    return ax
