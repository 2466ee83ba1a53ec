"""Helpers for the teaching notebooks: independent checks of what a simulation did.

The notebooks run the store through :func:`toolkit.sim.run`; these functions take the run's
operation log (``run(..., record_operations=True).operations``) and recompute from the outside
what the store should have done, so a notebook can assert that the store kept its promises
(no expired entry was served) and explain its answers (which limit removed which key).
:class:`CountingStorage` is an engine that counts the records the layers above it read, so a
notebook can measure the work of a background sweep in records, not in machine-dependent
seconds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .engine import FetchResult, HashMapStorage, IterationCursor
from .errors import InvalidArgumentError
from .records import Record

__all__ = ["audit_expiry", "EXPIRY_STATES", "CountingStorage"]

#: What :func:`audit_expiry` says about the entry a read named, before the read ran:
#: ``live`` (present and within both limits), ``ttl`` / ``max_idle`` (its copy had expired, by
#: the limit whose deadline passed first; TTL on a tie), ``absent`` (never written).
EXPIRY_STATES: tuple[str, ...] = ("live", "ttl", "max_idle", "absent")

_OPERATION_COLUMNS = ("time_ms", "op", "key", "hit")


def _check_limit(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{name} must be an int >= 0 (milliseconds), got {value!r}")
    return value


def audit_expiry(
    operations: pd.DataFrame, ttl_ms: int = 0, max_idle_ms: int = 0, write_on_miss: bool = True
) -> pd.DataFrame:
    """Replay an operation log against the expiry rules; one row per read.

    ``operations`` is the operation log of a run without eviction (an unbounded store) and
    without a data store, whose writes all carried ``ttl_ms`` and ``max_idle_ms`` (0 = no
    limit): columns ``time_ms``, ``op`` (``"get"``/``"put"``), ``key`` and ``hit``, in the
    order the operations ran. A ``put`` restarts both clocks of its key; a read that hits
    restarts the idle clock; a read that misses writes the key when ``write_on_miss``
    (cache-aside). Times are rounded to whole milliseconds, as the store's clock reads them,
    and expiry is strict (``now - start > limit``).

    Returns the reads with columns ``time_ms``, ``key``, ``hit`` and ``state`` (one of
    :data:`EXPIRY_STATES`): the state the entry should have been in when the read arrived.
    A correct store hits exactly the ``live`` reads. Raises
    :class:`~toolkit.errors.InvalidArgumentError` for a negative limit and :class:`KeyError`
    naming a missing column.
    """
    ttl = _check_limit("ttl_ms", ttl_ms)
    idle = _check_limit("max_idle_ms", max_idle_ms)
    missing = [c for c in _OPERATION_COLUMNS if c not in operations.columns]
    if missing:
        raise KeyError(f"the operation log lacks column(s) {missing}")
    last_write: dict[Any, int] = {}
    last_access: dict[Any, int] = {}
    rows: list[tuple[int, Any, bool, str]] = []
    for time_ms, op, key, hit in operations[list(_OPERATION_COLUMNS)].itertuples(
        index=False, name=None
    ):
        now = round(time_ms)
        if op == "put":
            last_write[key] = last_access[key] = now
            continue
        state = "absent"
        written = last_write.get(key)
        if written is not None:
            accessed = last_access[key]
            ttl_late = ttl and now - written > ttl
            idle_late = idle and now - accessed > idle
            if ttl_late and not (idle_late and accessed + idle < written + ttl):
                state = "ttl"
            elif idle_late:
                state = "max_idle"
            else:
                state = "live"
        hit = bool(hit)
        rows.append((now, key, hit, state))
        if hit:
            last_access[key] = now
        else:
            last_write.pop(key, None)
            last_access.pop(key, None)
            if write_on_miss:
                last_write[key] = last_access[key] = now
    return pd.DataFrame(rows, columns=["time_ms", "key", "hit", "state"])


class CountingStorage(HashMapStorage):
    """A :class:`~toolkit.HashMapStorage` that counts the records read through it.

    ``examined`` grows by one per record returned by :meth:`get`, :meth:`fetch_entries`,
    :meth:`snapshot_iter` and :meth:`random_samples`: the work of whatever walks the engine,
    such as an expiry sweep (``evict_expired``) or an eviction sample. Client reads of the
    record store go through ``fast_get``, which is not counted. Reset ``examined`` to 0 to
    measure one operation. Results are those of :class:`~toolkit.HashMapStorage`.
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.examined = 0

    def get(self, key: Any) -> Record | None:
        """The record of ``key`` or None (counts one record read)."""
        self.examined += 1
        return super().get(key)

    def fetch_entries(self, cursor: IterationCursor, size: int) -> FetchResult[tuple[Any, Record]]:
        """A page of entries (counts the entries returned)."""
        page = super().fetch_entries(cursor, size)
        self.examined += len(page.items)
        return page

    def snapshot_iter(self) -> list[tuple[Any, Record]]:
        """Every entry (counts them all)."""
        items = super().snapshot_iter()
        self.examined += len(items)
        return items

    def random_samples(self, sample_count: int) -> list[tuple[Any, Record]]:
        """About ``sample_count`` random entries (counts those returned)."""
        items = super().random_samples(sample_count)
        self.examined += len(items)
        return items
