"""Miss-ratio curves: one-pass LRU stack distances against per-capacity exact replays."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.errors import InvalidArgumentError
from toolkit.traces import (
    MRC_COLUMNS,
    byte_stack_distances,
    default_capacities,
    miss_ratio_curve,
    plot_mrc,
    replay,
    stack_distances,
    synthetic_requests,
)


def naive_distances(keys: list[int], sizes: list[int]) -> tuple[list[int], list[int]]:
    """Stack distances by walking an explicit LRU stack (most recent first)."""
    stack: list[int] = []
    size_of: dict[int, int] = {}
    dist, byte_dist = [], []
    for k, s in zip(keys, sizes, strict=True):
        if k in stack:
            depth = stack.index(k)
            dist.append(depth)
            byte_dist.append(sum(size_of[x] for x in stack[:depth]) + size_of[k])
            stack.remove(k)
        else:
            dist.append(-1)
            byte_dist.append(-1)
        stack.insert(0, k)
        size_of[k] = s
    return dist, byte_dist


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 9)), max_size=120))
def test_stack_distances_match_an_explicit_stack(pairs: list[tuple[int, int]]) -> None:
    keys = [k for k, _ in pairs]
    sizes = [s for _, s in pairs]
    dist, byte_dist = naive_distances(keys, sizes)
    karr = np.array(keys, dtype=np.uint64)
    assert stack_distances(karr).tolist() == dist
    assert byte_stack_distances(karr, np.array(sizes)).tolist() == byte_dist


@pytest.fixture(scope="module")
def requests() -> np.ndarray:
    return synthetic_requests(15_000, 1_200, 0.9, seed=17, size_range=(1, 300), write_fraction=0.1)


def test_mrc_by_objects_equals_exact_lru_replays(requests: np.ndarray) -> None:
    caps = [1, 3, 10, 40, 150, 600, 1_200]
    df = miss_ratio_curve(requests, caps, progress=False)
    assert list(df.columns) == list(MRC_COLUMNS)
    assert (df["method"] == "stack").all() and (df["by"] == "objects").all()
    for cap, misses, bmr in zip(df["capacity"], df["misses"], df["byte_miss_ratio"], strict=True):
        exact = replay(requests, "lru", capacity=int(cap))
        assert misses == exact.misses
        assert bmr == pytest.approx(exact.byte_miss_ratio, abs=1e-12)
    assert df["miss_ratio"].is_monotonic_decreasing


def test_mrc_by_bytes_equals_exact_lru_replays(requests: np.ndarray) -> None:
    caps = [300, 1_000, 10_000, 60_000, 200_000]
    df = miss_ratio_curve(requests, caps, by="bytes")
    for cap, misses in zip(df["capacity"], df["misses"], strict=True):
        assert misses == replay(requests, "lru", capacity_bytes=int(cap)).misses


def test_stack_and_replay_methods_agree(requests: np.ndarray) -> None:
    stack = miss_ratio_curve(requests, points=8)
    again = miss_ratio_curve(requests, points=8, method="replay")
    assert (again["method"] == "replay").all()
    assert np.array_equal(stack["misses"], again["misses"])
    assert stack["capacity"].iloc[-1] == len(np.unique(requests["key"]))


def test_other_policies_replay_per_capacity(requests: np.ndarray) -> None:
    part = requests[:4_000]
    for policy in ("fifo", "lfu", "belady"):
        df = miss_ratio_curve(part, [5, 50, 500], policy=policy)
        assert (df["policy"] == policy).all() and (df["method"] == "replay").all()
        assert df["misses"].tolist() == [replay(part, policy, c).misses for c in (5, 50, 500)]


def test_deletes_fall_back_to_replay() -> None:
    req = synthetic_requests(3_000, 200, 0.9, seed=2, delete_fraction=0.1)
    df = miss_ratio_curve(req, [10, 100])
    assert (df["method"] == "replay").all()
    with pytest.raises(InvalidArgumentError, match="method='stack'"):
        miss_ratio_curve(req, [10], method="stack")


def test_mrc_refuses_bad_arguments(requests: np.ndarray) -> None:
    with pytest.raises(InvalidArgumentError, match="capacities"):
        miss_ratio_curve(requests, [0, 5])
    with pytest.raises(InvalidArgumentError, match="by must be"):
        miss_ratio_curve(requests, by="pages")
    with pytest.raises(InvalidArgumentError, match="unknown exact policy"):
        miss_ratio_curve(requests, policy="arc")


def test_default_capacities() -> None:
    caps = default_capacities(1_000, 10)
    assert caps[0] == 1 and caps[-1] == 1_000
    assert (np.diff(caps) > 0).all()
    assert default_capacities(0).tolist() == [1]


def test_plot_mrc_uses_and_returns_the_axes(requests: np.ndarray) -> None:
    df = miss_ratio_curve(requests, points=6)
    fig, ax = plt.subplots()
    try:
        assert plot_mrc(df, ax) is ax
        assert len(ax.lines) == 1
        assert ax.get_xlabel() == "cache size (objects)"
        new_ax = plot_mrc(df, column="byte_miss_ratio")
        assert new_ax is not ax and new_ax.get_ylabel() == "byte miss ratio"
        plt.close(new_ax.figure)
        with pytest.raises(InvalidArgumentError, match="column"):
            plot_mrc(df, ax, column="hits")
    finally:
        plt.close(fig)
