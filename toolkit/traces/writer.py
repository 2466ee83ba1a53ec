"""Synthetic traces and trace writers, so tests and notebooks need no external file.

:func:`synthetic_requests` draws keys from a bounded Zipf(alpha) over ``n_objects`` objects,
gives each object one size and (optionally) one TTL, mixes in writes and deletes, and fills in
the next-access field. It is deterministic for a seed (``numpy.random.default_rng``, one
spawned stream per purpose). The ``write_*`` functions store a request array in each format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .readers import ORACLE_GENERAL_DTYPE, normalize_format
from .requests import REQUEST_DTYPE, Op, next_access_indices

__all__ = [
    "synthetic_requests",
    "write_oracle_general",
    "write_csv",
    "write_twitter",
    "write_trace",
    "write_synthetic_trace",
]

_WRITE_CHUNK = 1 << 18
_UINT32_MAX = int(np.iinfo(np.uint32).max)
_OP_TEXT = {int(Op.READ): "get", int(Op.WRITE): "set", int(Op.DELETE): "delete"}


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise InvalidArgumentError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _int_range(name: str, value: object) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo = hi = int(value)
    elif (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = int(value[0]), int(value[1])
    else:
        raise InvalidArgumentError(f"{name} must be an int or a (low, high) pair, got {value!r}")
    if lo < 0 or hi < lo:
        raise InvalidArgumentError(f"{name} must satisfy 0 <= low <= high, got {value!r}")
    return lo, hi


def synthetic_requests(
    n_requests: int,
    n_objects: int,
    alpha: float = 1.0,
    *,
    seed: int = 0,
    requests_per_second: float = 1000.0,
    size_range: int | tuple[int, int] = 1,
    ttl_millis: int | tuple[int, int] = 0,
    write_fraction: float = 0.0,
    delete_fraction: float = 0.0,
    first_id: int = 1,
) -> np.ndarray:
    """A synthetic trace as one :data:`~toolkit.traces.requests.REQUEST_DTYPE` array.

    Keys follow a bounded Zipf(``alpha``) over ``n_objects`` objects (``alpha=0``: uniform);
    popularity ranks are shuffled onto ids ``first_id .. first_id + n_objects - 1``. Request
    ``i`` happens at ``floor(i * 1000 / requests_per_second)`` ms. Each object has one size in
    bytes drawn uniformly from ``size_range`` (an int or an inclusive ``(low, high)``) and one
    TTL in ms from ``ttl_millis`` (0: none). A ``write_fraction`` of requests are writes and a
    ``delete_fraction`` deletes; the rest are reads. ``next_access`` is filled in.

    Raises :class:`~toolkit.errors.InvalidArgumentError` for a bad argument.
    """
    n = _positive_int("n_requests", n_requests)
    n_obj = _positive_int("n_objects", n_objects)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise InvalidArgumentError(f"alpha must be a number >= 0, got {alpha!r}")
    if (
        isinstance(requests_per_second, bool)
        or not isinstance(requests_per_second, (int, float))
        or not requests_per_second > 0
    ):
        raise InvalidArgumentError(f"requests_per_second must be a number > 0, got {requests_per_second!r}")
    size_lo, size_hi = _int_range("size_range", size_range)
    if size_lo < 1 or size_hi > _UINT32_MAX:
        raise InvalidArgumentError(f"size_range must lie in 1..{_UINT32_MAX}, got {size_range!r}")
    ttl_lo, ttl_hi = _int_range("ttl_millis", ttl_millis)
    for name, frac in (("write_fraction", write_fraction), ("delete_fraction", delete_fraction)):
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
            raise InvalidArgumentError(f"{name} must be in [0, 1], got {frac!r}")
    if write_fraction + delete_fraction > 1:
        raise InvalidArgumentError(
            f"write_fraction + delete_fraction must be <= 1, got {write_fraction + delete_fraction}"
        )
    if isinstance(first_id, bool) or not isinstance(first_id, int) or first_id < 0:
        raise InvalidArgumentError(f"first_id must be an int >= 0, got {first_id!r}")

    key_rng, perm_rng, size_rng, ttl_rng, op_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    ranks = np.arange(1, n_obj + 1, dtype=np.float64)
    weights = ranks ** (-float(alpha))
    weights /= weights.sum()
    draws = key_rng.choice(n_obj, size=n, p=weights)
    objects = perm_rng.permutation(n_obj)[draws]

    out = np.empty(n, dtype=REQUEST_DTYPE)
    out["time_ms"] = (np.arange(n, dtype=np.float64) * (1000.0 / requests_per_second)).astype(np.int64)
    out["key"] = objects.astype(np.uint64) + np.uint64(first_id)
    out["size"] = size_rng.integers(size_lo, size_hi + 1, size=n_obj)[objects]
    out["ttl_ms"] = ttl_rng.integers(ttl_lo, ttl_hi + 1, size=n_obj)[objects]
    u = op_rng.random(n)
    ops = np.full(n, int(Op.READ), dtype=np.uint8)
    ops[u < write_fraction] = int(Op.WRITE)
    ops[(u >= write_fraction) & (u < write_fraction + delete_fraction)] = int(Op.DELETE)
    out["op"] = ops
    out["next_access"] = next_access_indices(out["key"])
    return out


def _check_requests(requests: np.ndarray) -> np.ndarray:
    if not isinstance(requests, np.ndarray) or requests.dtype != REQUEST_DTYPE:
        raise InvalidArgumentError("requests must be a numpy array of REQUEST_DTYPE")
    return requests


def write_oracle_general(path: str | os.PathLike[str], requests: np.ndarray) -> int:
    """Write ``requests`` as an oracleGeneral binary trace; return the number of records.

    Times are truncated to whole seconds; ops and TTLs are not part of the format and are
    dropped; a next access of -1 is written as -1. Raises
    :class:`~toolkit.errors.InvalidArgumentError` when a time does not fit the format's uint32
    seconds.
    """
    requests = _check_requests(requests)
    times = requests["time_ms"]
    if len(times) and (times.min() < 0 or times.max() // 1000 > _UINT32_MAX):
        raise InvalidArgumentError(
            f"times must lie in 0..{_UINT32_MAX} s for oracleGeneral, got {times.min()}..{times.max()} ms"
        )
    with open(path, "wb") as f:
        for start in range(0, len(requests), _WRITE_CHUNK):
            part = requests[start : start + _WRITE_CHUNK]
            raw = np.empty(len(part), dtype=ORACLE_GENERAL_DTYPE)
            raw["clock_time"] = part["time_ms"] // 1000
            raw["obj_id"] = part["key"]
            raw["obj_size"] = part["size"]
            raw["next_access_vtime"] = part["next_access"]
            raw.tofile(f)
    return len(requests)


def write_csv(path: str | os.PathLike[str], requests: np.ndarray) -> int:
    """Write ``requests`` as a CSV trace with the header
    ``time_ms,key,op,size,ttl_ms,next_access``; return the number of lines written.

    Ops are written as ``get``, ``set`` and ``delete``; everything else is exact.
    """
    requests = _check_requests(requests)
    op_text = _OP_TEXT
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("time_ms,key,op,size,ttl_ms,next_access\n")
        for start in range(0, len(requests), _WRITE_CHUNK):
            part = requests[start : start + _WRITE_CHUNK]
            rows = zip(
                part["time_ms"].tolist(),
                part["key"].tolist(),
                part["op"].tolist(),
                part["size"].tolist(),
                part["ttl_ms"].tolist(),
                part["next_access"].tolist(),
                strict=True,
            )
            f.write("".join(f"{t},{k},{op_text[o]},{s},{ttl},{nx}\n" for t, k, o, s, ttl, nx in rows))
    return len(requests)


def write_twitter(path: str | os.PathLike[str], requests: np.ndarray) -> int:
    """Write ``requests`` in the Twitter cache-trace layout; return the number of lines.

    Keys are written as ``k<id>``; the key size is the length of that text and the value size
    the rest of the request's size (at least 0); times and TTLs are truncated to whole
    seconds; the client id is 0; ops are written as ``get``, ``set`` and ``delete``.
    """
    requests = _check_requests(requests)
    op_text = _OP_TEXT
    with open(path, "w", encoding="utf-8", newline="") as f:
        for start in range(0, len(requests), _WRITE_CHUNK):
            part = requests[start : start + _WRITE_CHUNK]
            lines = []
            for t, k, o, s, ttl in zip(
                (part["time_ms"] // 1000).tolist(),
                part["key"].tolist(),
                part["op"].tolist(),
                part["size"].tolist(),
                (part["ttl_ms"] // 1000).tolist(),
                strict=True,
            ):
                key = f"k{k}"
                ksize = len(key)
                vsize = s - ksize if s > ksize else 0
                lines.append(f"{t},{key},{ksize},{vsize},0,{op_text[o]},{ttl}\n")
            f.write("".join(lines))
    return len(requests)


def write_trace(path: str | os.PathLike[str], requests: np.ndarray, format: str) -> int:
    """Write ``requests`` at ``path`` in ``format`` (oracleGeneral, csv or twitter)."""
    fmt = normalize_format(format)
    if fmt == "oracleGeneral":
        return write_oracle_general(path, requests)
    if fmt == "csv":
        return write_csv(path, requests)
    return write_twitter(path, requests)


def write_synthetic_trace(
    path: str | os.PathLike[str],
    n_requests: int,
    n_objects: int,
    alpha: float = 1.0,
    *,
    format: str = "oracleGeneral",
    seed: int = 0,
    **options: Any,
) -> np.ndarray:
    """Draw :func:`synthetic_requests` and write them at ``path``; return the requests.

    ``options`` are passed on to :func:`synthetic_requests` (``requests_per_second``,
    ``size_range``, ``ttl_millis``, ``write_fraction``, ``delete_fraction``, ``first_id``).
    """
    requests = synthetic_requests(n_requests, n_objects, alpha, seed=seed, **options)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_trace(path, requests, format)
    return requests
