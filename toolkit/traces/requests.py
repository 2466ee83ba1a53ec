"""Requests in memory: one numpy structured array per chunk of a trace.

Every reader yields arrays of :data:`REQUEST_DTYPE`; the replay paths and the miss-ratio curves
consume them. Times and TTLs are integer milliseconds; sizes are bytes; ``next_access`` is the
0-based index (in the whole trace) of the next request for the same key, or -1 when there is
none or it is not known.
"""

from __future__ import annotations

import enum

import numpy as np

from .errors import TraceFormatError

__all__ = [
    "REQUEST_DTYPE",
    "Op",
    "parse_op",
    "empty_requests",
    "previous_access_indices",
    "next_access_indices",
]

#: The fields of one request: time (ms), key (an integer id), size (bytes), op (:class:`Op`),
#: per-request TTL (ms, 0 = none) and the index of the next request for the key (-1 = none).
REQUEST_DTYPE = np.dtype(
    [
        ("time_ms", "<i8"),
        ("key", "<u8"),
        ("size", "<u4"),
        ("op", "u1"),
        ("ttl_ms", "<i8"),
        ("next_access", "<i8"),
    ],
    align=True,
)


class Op(enum.IntEnum):
    """What a request does: read the key (cache-aside on a miss), write it, or delete it."""

    READ = 0
    WRITE = 1
    DELETE = 2


_OP_NAMES: dict[str, Op] = {
    "get": Op.READ,
    "gets": Op.READ,
    "read": Op.READ,
    "r": Op.READ,
    "set": Op.WRITE,
    "put": Op.WRITE,
    "write": Op.WRITE,
    "w": Op.WRITE,
    "add": Op.WRITE,
    "replace": Op.WRITE,
    "cas": Op.WRITE,
    "append": Op.WRITE,
    "prepend": Op.WRITE,
    "incr": Op.WRITE,
    "decr": Op.WRITE,
    "delete": Op.DELETE,
    "del": Op.DELETE,
    "remove": Op.DELETE,
    "d": Op.DELETE,
}


def parse_op(text: str, source: str | None = None, line: int | None = None) -> Op:
    """The :class:`Op` an operation name stands for (case-insensitive).

    Reads: get, gets, read, r. Writes: set, put, write, w, add, replace, cas, append, prepend,
    incr, decr. Deletes: delete, del, remove, d. Raises :class:`TraceFormatError` naming the
    unknown op (and ``source``/``line`` when given).
    """
    op = _OP_NAMES.get(text.strip().lower())
    if op is None:
        choices = ", ".join(sorted(_OP_NAMES))
        raise TraceFormatError(f"unknown op {text!r}; expected one of: {choices}", source, line)
    return op


def empty_requests(n: int) -> np.ndarray:
    """A zeroed request array of length ``n`` (reads, no TTL, next access unknown)."""
    out = np.zeros(n, dtype=REQUEST_DTYPE)
    out["next_access"] = -1
    return out


def previous_access_indices(keys: np.ndarray) -> np.ndarray:
    """For each request, the index of the previous request for the same key, or -1."""
    keys = np.asarray(keys)
    n = len(keys)
    prev = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return prev
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def next_access_indices(keys: np.ndarray) -> np.ndarray:
    """For each request, the index of the next request for the same key, or -1 (vectorised)."""
    keys = np.asarray(keys)
    n = len(keys)
    nxt = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return nxt
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt
