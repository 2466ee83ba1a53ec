"""Layer 1 contract, run against every StorageEngine (cachetools-style mixin)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit import (
    HashMapStorage,
    InvalidArgumentError,
    IterationCursor,
    Record,
    RecordMetadata,
    StorageEngine,
)

from .reference import ReferenceEngine


def rec(value: Any, cost: int = 10) -> Record:
    return Record(value, RecordMetadata.new(0, cost))


def drain_keys(engine: Any, page: int) -> list[Any]:
    cursor = IterationCursor.start()
    seen: list[Any] = []
    while not cursor.finished:
        result = engine.fetch_keys(cursor, page)
        seen.extend(result.items)
        cursor = result.next_cursor
    return seen


class EngineContract:
    """Behaviour every StorageEngine must show (seed SPEC-058b acceptance criteria)."""

    def make(self) -> Any:
        raise NotImplementedError

    def test_conforms_to_protocol(self) -> None:
        assert isinstance(self.make(), StorageEngine)

    def test_put_get_remove(self) -> None:
        e = self.make()
        assert e.put("a", rec(1)) is None
        first = e.get("a")
        assert first is not None and first.value == 1
        prev = e.put("a", rec(2))
        assert prev is not None and prev.value == 1
        assert e.get("a").value == 2
        removed = e.remove("a")
        assert removed is not None and removed.value == 2
        assert e.get("a") is None
        assert e.remove("a") is None

    def test_contains_len_is_empty(self) -> None:
        e = self.make()
        assert e.is_empty() and e.len() == 0
        e.put("a", rec(1))
        e.put("b", rec(2))
        assert e.contains_key("a") and not e.contains_key("z")
        assert e.len() == 2 and not e.is_empty()

    def test_clear_and_destroy(self) -> None:
        e = self.make()
        for i in range(10):
            e.put(i, rec(i))
        e.clear()
        assert e.len() == 0 and e.estimated_cost() == 0 and e.get(3) is None
        e.put("x", rec(1))
        e.destroy()
        assert e.is_empty()

    def test_estimated_cost_follows_puts_replacements_and_removals(self) -> None:
        e = self.make()
        e.put("a", rec(1, cost=100))
        e.put("b", rec(2, cost=50))
        assert e.estimated_cost() == 150
        e.put("a", rec(3, cost=10))
        assert e.estimated_cost() == 60
        e.remove("b")
        assert e.estimated_cost() == 10

    @pytest.mark.parametrize("page", [1, 3, 7, 100])
    def test_cursor_paging_visits_every_key_exactly_once(self, page: int) -> None:
        e = self.make()
        keys = [f"k{i}" for i in range(53)]
        for k in keys:
            e.put(k, rec(k))
        for k in keys[::5]:
            e.remove(k)
        seen = drain_keys(e, page)
        assert sorted(seen) == sorted(set(keys) - set(keys[::5]))
        assert len(seen) == len(set(seen))

    def test_fetch_entries_pairs_keys_with_records(self) -> None:
        e = self.make()
        for i in range(10):
            e.put(i, rec(i * 10))
        cursor = IterationCursor.start()
        pairs = []
        while not cursor.finished:
            res = e.fetch_entries(cursor, 4)
            pairs.extend(res.items)
            cursor = res.next_cursor
        assert sorted((k, r.value) for k, r in pairs) == [(i, i * 10) for i in range(10)]

    def test_paging_an_empty_engine_finishes_at_once(self) -> None:
        res = self.make().fetch_keys(IterationCursor.start(), 10)
        assert res.items == [] and res.next_cursor.finished

    def test_snapshot_is_a_point_in_time_copy(self) -> None:
        e = self.make()
        for i in range(5):
            e.put(i, rec(i))
        snap = e.snapshot_iter()
        e.remove(0)
        e.put(99, rec(99))
        assert sorted(k for k, _ in snap) == [0, 1, 2, 3, 4]

    def test_random_samples_returns_at_most_the_count_of_stored_entries(self) -> None:
        e = self.make()
        assert e.random_samples(5) == []
        for i in range(100):
            e.put(i, rec(i))
        samples = e.random_samples(15)
        assert 1 <= len(samples) <= 15
        for k, r in samples:
            assert e.get(k) is r
        assert sorted(k for k, _ in e.random_samples(1000)) == list(range(100))

    def test_random_samples_reach_every_entry(self) -> None:
        e = self.make()
        for i in range(50):
            e.put(i, rec(i))
        seen = set()
        for _ in range(400):
            seen.update(k for k, _ in e.random_samples(5))
        assert seen == set(range(50))


class TestHashMapStorage(EngineContract):
    def make(self) -> HashMapStorage:
        return HashMapStorage(seed=1)

    def test_bad_page_requests_are_refused(self) -> None:
        e = self.make()
        with pytest.raises(InvalidArgumentError, match="size"):
            e.fetch_keys(IterationCursor.start(), 0)
        with pytest.raises(InvalidArgumentError, match="cursor"):
            e.fetch_keys("start", 10)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="sample_count"):
            e.random_samples(-1)

    def test_seeded_sampling_is_reproducible(self) -> None:
        a, b = HashMapStorage(seed=9), HashMapStorage(seed=9)
        for i in range(1000):
            a.put(i, rec(i))
            b.put(i, rec(i))
        assert [k for k, _ in a.random_samples(15)] == [k for k, _ in b.random_samples(15)]


class TestReferenceEngine(EngineContract):
    def make(self) -> ReferenceEngine:
        return ReferenceEngine()


class TestHashMapStorageInInsertionOrder(EngineContract):
    def make(self) -> HashMapStorage:
        return HashMapStorage(seed=1, shuffle=False)

    def test_keeps_insertion_order(self) -> None:
        e = self.make()
        for i in range(20):
            e.put(i, rec(i))
        assert drain_keys(e, 7) == list(range(20))


def test_shuffled_order_is_a_permutation_that_moves() -> None:
    e = HashMapStorage(seed=5)
    for i in range(200):
        e.put(i, rec(i))
    order = drain_keys(e, 50)
    assert sorted(order) == list(range(200)) and order != list(range(200))


def test_window_samples_have_no_repeats_and_are_uniform() -> None:
    e = HashMapStorage(seed=11)
    for i in range(100):
        e.put(i, rec(i))
    seen = {i: 0 for i in range(100)}
    for _ in range(4000):
        sample = [k for k, _ in e.random_samples(10)]
        assert len(set(sample)) == 10
        for k in sample:
            seen[k] += 1
    # 40,000 picks over 100 keys: about 400 each; a fixed window over insertion order would
    # leave most keys far from it.
    assert min(seen.values()) > 250 and max(seen.values()) < 550


def test_sampling_policies_get_a_shuffled_engine() -> None:
    from toolkit import EvictionPolicy

    assert EvictionPolicy.LRU.sampled and EvictionPolicy.LFU_AGED.sampled
    assert not EvictionPolicy.LRU_EXACT.sampled and not EvictionPolicy.NONE.sampled
