"""Small, obviously-correct reference implementations the tests compare against."""

from __future__ import annotations

import random
from typing import Any

from toolkit import FetchResult, IterationCursor, Record


class ReferenceEngine:
    """A StorageEngine built the naive way (O(n) sampling and paging over a sorted snapshot).

    Running the engine contract suite against it checks the suite; running the record store
    suite on it checks that Layer 2 only uses the engine protocol.
    """

    def __init__(self, seed: int = 0) -> None:
        self.data: dict[Any, Record] = {}
        self.rng = random.Random(seed)

    def put(self, key: Any, record: Record) -> Record | None:
        prev = self.data.get(key)
        self.data[key] = record
        return prev

    def get(self, key: Any) -> Record | None:
        return self.data.get(key)

    def remove(self, key: Any) -> Record | None:
        return self.data.pop(key, None)

    def contains_key(self, key: Any) -> bool:
        return key in self.data

    def len(self) -> int:
        return len(self.data)

    def is_empty(self) -> bool:
        return not self.data

    def clear(self) -> None:
        self.data.clear()

    def destroy(self) -> None:
        self.data.clear()

    def estimated_cost(self) -> int:
        return sum(r.metadata.cost for r in self.data.values())

    def _ordered(self) -> list[Any]:
        return sorted(self.data, key=repr)

    def fetch_keys(self, cursor: IterationCursor, size: int) -> FetchResult[Any]:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        keys = self._ordered()[cursor.state : cursor.state + size]
        end = cursor.state + size
        return FetchResult(keys, IterationCursor(end, end >= len(self.data)))

    def fetch_entries(self, cursor: IterationCursor, size: int) -> FetchResult[tuple[Any, Record]]:
        page = self.fetch_keys(cursor, size)
        return FetchResult([(k, self.data[k]) for k in page.items], page.next_cursor)

    def snapshot_iter(self) -> list[tuple[Any, Record]]:
        return list(self.data.items())

    def random_samples(self, sample_count: int) -> list[tuple[Any, Record]]:
        items = list(self.data.items())
        if sample_count >= len(items):
            return items
        return self.rng.sample(items, sample_count)
