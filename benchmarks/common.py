"""Shared helpers for the benchmark scripts: timing rounds, medians, markdown tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["median_time", "markdown_table", "zipf_keys"]


def median_time(fn: Callable[[], Any], rounds: int = 5, warmup: int = 1) -> float:
    """Median wall time in seconds of ``fn()`` over ``rounds`` runs (after ``warmup`` runs)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def zipf_keys(n_requests: int, n_keys: int, alpha: float, seed: int) -> list[int]:
    """``n_requests`` keys drawn from a bounded Zipf(alpha) over ``n_keys`` keys (rank 0 hottest),
    with ranks shuffled onto key ids so hot keys are not the small integers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_keys + 1, dtype=np.float64)
    p = ranks ** (-alpha)
    p /= p.sum()
    draws = rng.choice(n_keys, size=n_requests, p=p)
    perm = rng.permutation(n_keys)
    return perm[draws].tolist()
