"""Layer 1: the in-memory storage engine.

:class:`HashMapStorage` keeps records in a dict and, beside it, a dense list of keys so that
random sampling for eviction costs O(sample), not O(n), and a full cursor pass costs O(n).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .errors import InvalidArgumentError, check_non_negative_int
from .records import Record

__all__ = ["StorageEngine", "HashMapStorage", "IterationCursor", "FetchResult"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IterationCursor:
    """Where a paged iteration stands: an opaque ``state`` and whether it has ``finished``."""

    state: int = 0
    finished: bool = False

    @classmethod
    def start(cls) -> IterationCursor:
        """A cursor at the beginning of the storage."""
        return cls(0, False)


@dataclass(frozen=True, slots=True)
class FetchResult(Generic[T]):
    """One page of a cursor iteration: the ``items`` and the cursor for the next page."""

    items: list[T] = field(default_factory=list)
    next_cursor: IterationCursor = field(default_factory=IterationCursor.start)


@runtime_checkable
class StorageEngine(Protocol):
    """Low-level key -> :class:`Record` storage with cursor iteration and random sampling."""

    def put(self, key: Any, record: Record) -> Record | None:
        """Insert or replace; return the previous record."""
        ...

    def get(self, key: Any) -> Record | None:
        """The record under ``key`` or None."""
        ...

    def remove(self, key: Any) -> Record | None:
        """Remove and return the record under ``key``."""
        ...

    def contains_key(self, key: Any) -> bool:
        """Whether ``key`` is stored."""
        ...

    def len(self) -> int:
        """Number of entries."""
        ...

    def is_empty(self) -> bool:
        """Whether there are no entries."""
        ...

    def clear(self) -> None:
        """Remove every entry."""
        ...

    def destroy(self) -> None:
        """Remove every entry and release resources."""
        ...

    def estimated_cost(self) -> int:
        """Sum of the entries' ``metadata.cost`` in bytes."""
        ...

    def fetch_keys(self, cursor: IterationCursor, size: int) -> FetchResult[Any]:
        """Up to ``size`` keys from ``cursor`` on."""
        ...

    def fetch_entries(self, cursor: IterationCursor, size: int) -> FetchResult[tuple[Any, Record]]:
        """Up to ``size`` (key, record) pairs from ``cursor`` on."""
        ...

    def snapshot_iter(self) -> list[tuple[Any, Record]]:
        """A point-in-time list of every (key, record)."""
        ...

    def random_samples(self, sample_count: int) -> list[tuple[Any, Record]]:
        """About ``sample_count`` random (key, record) pairs (all of them if fewer are stored)."""
        ...


class HashMapStorage:
    """A dict-backed :class:`StorageEngine`.

    Keys and records sit in dense parallel lists kept in a uniformly random order: a new key
    takes a random position (the key there moves to the end, an inside-out shuffle) and a
    removal moves the last key into the hole. So, as Hazelcast and Redis do over their hash
    tables, ``random_samples(n)`` reads ``n`` consecutive positions from a random start: a
    window of a random permutation is a uniform random sample without repeats, read with two
    list slices (and with memory reads close together).

    Costs: ``put``/``get``/``remove`` O(1); ``random_samples(n)`` O(n) of the sample;
    ``fetch_keys``/``fetch_entries`` O(page). A cursor pass visits every key exactly once while
    the storage is not modified; under concurrent changes a key present throughout can be
    missed or seen twice (entries move when others come and go).

    ``seed`` makes sampling reproducible. ``shuffle=False`` keeps insertion order instead (a
    put is a little cheaper) and samples by independent random draws: for stores that never
    sample (exact or no eviction policy).
    """

    __slots__ = ("_data", "_keys", "_records", "_pos", "_cost", "_rng", "_bits", "_shuffle")

    def __init__(self, seed: int | None = None, shuffle: bool = True) -> None:
        self._data: dict[Hashable, Record] = {}
        # Dense, parallel lists: position i holds a key and its record, so a random sample is a
        # couple of list reads (no hash lookups) and removal swaps the last entry into the hole.
        self._keys: list[Hashable] = []
        self._records: list[Record] = []
        self._pos: dict[Hashable, int] = {}
        self._cost = 0
        self._rng = random.Random(seed)
        self._bits = self._rng.getrandbits
        self._shuffle = bool(shuffle)

    # --- core map operations -----------------------------------------------------------

    def put(self, key: Any, record: Record) -> Record | None:
        data = self._data
        prev = data.get(key)
        data[key] = record
        if prev is None:
            keys = self._keys
            records = self._records
            pos = self._pos
            n = len(keys)
            j = self._bits(32) % (n + 1) if self._shuffle else n
            if j < n:
                # Inside-out shuffle: the new key takes position j, its tenant moves to the end.
                moved = keys[j]
                keys.append(moved)
                records.append(records[j])
                pos[moved] = n
                keys[j] = key
                records[j] = record
                pos[key] = j
            else:
                keys.append(key)
                records.append(record)
                pos[key] = n
            self._cost += record.metadata.cost
        else:
            self._records[self._pos[key]] = record
            self._cost += record.metadata.cost - prev.metadata.cost
        return prev

    def get(self, key: Any) -> Record | None:
        return self._data.get(key)

    @property
    def fast_get(self) -> Any:
        """The backing dict's own ``get`` (same result as :meth:`get`, one call cheaper)."""
        return self._data.get

    @property
    def fast_len(self) -> Any:
        """The backing dict's own ``__len__`` (same result as :meth:`len`)."""
        return self._data.__len__

    def remove(self, key: Any) -> Record | None:
        prev = self._data.pop(key, None)
        if prev is None:
            return None
        pos = self._pos.pop(key)
        keys = self._keys
        records = self._records
        last = keys.pop()
        last_record = records.pop()
        if pos < len(keys):
            keys[pos] = last
            records[pos] = last_record
            self._pos[last] = pos
        self._cost -= prev.metadata.cost
        return prev

    def contains_key(self, key: Any) -> bool:
        return key in self._data

    def len(self) -> int:
        return len(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def is_empty(self) -> bool:
        return not self._data

    def clear(self) -> None:
        self._data.clear()
        self._keys.clear()
        self._records.clear()
        self._pos.clear()
        self._cost = 0

    def destroy(self) -> None:
        self.clear()

    def estimated_cost(self) -> int:
        return self._cost

    # --- iteration -------------------------------------------------------------------

    @staticmethod
    def _check_page(cursor: IterationCursor, size: int) -> None:
        if not isinstance(cursor, IterationCursor):
            raise InvalidArgumentError(f"cursor must be an IterationCursor, got {cursor!r}")
        if check_non_negative_int("size", size) == 0:
            raise InvalidArgumentError(f"size must be >= 1, got {size!r}")

    def fetch_keys(self, cursor: IterationCursor, size: int) -> FetchResult[Any]:
        self._check_page(cursor, size)
        if cursor.finished:
            return FetchResult([], cursor)
        start = cursor.state
        end = start + size
        keys = self._keys[start:end]
        return FetchResult(keys, IterationCursor(end, end >= len(self._keys)))

    def fetch_entries(self, cursor: IterationCursor, size: int) -> FetchResult[tuple[Any, Record]]:
        self._check_page(cursor, size)
        if cursor.finished:
            return FetchResult([], cursor)
        start = cursor.state
        end = start + size
        items = list(zip(self._keys[start:end], self._records[start:end], strict=True))
        return FetchResult(items, IterationCursor(end, end >= len(self._keys)))

    def snapshot_iter(self) -> list[tuple[Any, Record]]:
        return list(self._data.items())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._keys))

    def random_samples(self, sample_count: int) -> list[tuple[Any, Record]]:
        if type(sample_count) is not int or sample_count < 0:
            check_non_negative_int("sample_count", sample_count)
        keys = self._keys
        n = len(keys)
        if sample_count >= n:
            return list(zip(keys, self._records, strict=True))
        records = self._records
        if not self._shuffle:
            # Insertion order is not random: independent draws (a rare repeat is harmless).
            bits = self._bits
            return [(keys[i := bits(32) % n], records[i]) for _ in range(sample_count)]
        start = self._bits(32) % n
        end = start + sample_count
        if end <= n:
            return list(zip(keys[start:end], records[start:end], strict=True))
        end -= n
        return list(zip(keys[start:] + keys[:end], records[start:] + records[:end], strict=True))

    def __repr__(self) -> str:
        return f"HashMapStorage(len={len(self._data)}, cost={self._cost})"
