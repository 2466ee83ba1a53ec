"""Layer 2: the record store contract (every seed acceptance criterion, the design's
semantics), bad input, and a hypothesis state machine against a reference model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from toolkit import (
    BaseMutationObserver,
    CallerProvenance,
    CompositeMutationObserver,
    ConfigError,
    DefaultRecordStore,
    EventCounter,
    EvictionPolicy,
    ExpiryPolicy,
    ExpiryReason,
    ExpiryStrategy,
    HashMapStorage,
    InvalidArgumentError,
    IterationCursor,
    ManualClock,
    NullDataStore,
    Record,
    RecordMetadata,
    RecordStore,
    RecordStoreFactory,
    StorageConfig,
    estimate_cost,
)

from .reference import ReferenceEngine


class Recorder(BaseMutationObserver):
    """Keeps every notification as a tuple, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        self.events.append(("put", key, old_value, is_backup))

    def on_update(self, key: Any, record: Record, old_value: Any, new_value: Any,
                  is_backup: bool) -> None:
        self.events.append(("update", key, old_value, new_value, is_backup))

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        self.events.append(("remove", key, is_backup))

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        self.events.append(("evict", key, is_backup))

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        self.events.append(("expire", key, reason))

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        self.events.append(("load", key))

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None:
        self.events.append(("replication_put", key))

    def on_clear(self) -> None:
        self.events.append(("clear",))

    def on_reset(self) -> None:
        self.events.append(("reset",))

    def on_destroy(self, is_shutdown: bool) -> None:
        self.events.append(("destroy", is_shutdown))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


def state_of(store: DefaultRecordStore) -> list[tuple[Any, Any, dict[str, Any]]]:
    """Everything observable about a store, for 'nothing changed' checks."""
    return sorted(
        ((k, r.value, r.metadata.as_dict()) for k, r in store.storage().snapshot_iter()),
        key=lambda t: repr(t[0]),
    )


class RecordStoreContract:
    """Behaviour every way of building a DefaultRecordStore must show."""

    def build(self, config: StorageConfig, clock: ManualClock,
              observer: Recorder) -> DefaultRecordStore:
        raise NotImplementedError

    def make(self, **config: Any) -> tuple[DefaultRecordStore, ManualClock, Recorder]:
        clock = ManualClock(1_000)
        rec = Recorder()
        store = self.build(StorageConfig(sampling_seed=3, **config), clock, rec)
        return store, clock, rec

    # --- seed acceptance criteria ---------------------------------------------------------

    def test_conforms_to_protocol(self) -> None:
        store, _, _ = self.make()
        assert isinstance(store, RecordStore)
        assert store.name == "m" and store.partition_id == 7

    def test_put_then_get_round_trip(self) -> None:
        store, _, _ = self.make()
        assert store.put("k", {"v": 1}) is None
        got = store.get("k")
        assert got is not None and got.value == {"v": 1}

    def test_put_fires_on_put_and_update_fires_on_update(self) -> None:
        store, _, rec = self.make()
        store.put("k", "a")
        assert rec.events == [("put", "k", None, False)]
        assert store.put("k", "b") == "a"
        assert rec.events[-1] == ("update", "k", "a", "b", False)
        assert rec.kinds().count("put") == 1

    def test_remove_fires_on_remove_and_returns_old_value(self) -> None:
        store, _, rec = self.make()
        store.put("k", "a")
        assert store.remove("k") == "a"
        assert rec.events[-1] == ("remove", "k", False)
        assert store.remove("k") is None
        assert rec.kinds().count("remove") == 1

    def test_has_expired_reports_ttl_max_idle_and_not_expired(self) -> None:
        store, clock, _ = self.make(default_ttl_millis=1_000)
        store.put("t", 1)
        store.put("i", 1, ExpiryPolicy(ttl_millis=10_000, max_idle_millis=500))
        now = clock.now_millis()
        assert store.has_expired("t", now) is ExpiryReason.NOT_EXPIRED
        assert store.has_expired("t", now + 2_000) is ExpiryReason.TTL
        assert store.has_expired("i", now + 501) is ExpiryReason.MAX_IDLE
        assert store.has_expired("missing", now + 10**6) is ExpiryReason.NOT_EXPIRED

    def test_size_and_cost_reflect_the_records(self) -> None:
        store, _, _ = self.make()
        assert store.size() == 0 and store.owned_entry_cost() == 0 and store.is_empty()
        store.put("a", "x" * 10)
        store.put("b", "y" * 1000)
        assert store.size() == 2
        assert store.owned_entry_cost() == estimate_cost("a", "x" * 10) + estimate_cost("b", "y" * 1000)
        store.put("b", "z")
        assert store.owned_entry_cost() == estimate_cost("a", "x" * 10) + estimate_cost("b", "z")
        store.remove("a")
        assert store.owned_entry_cost() == estimate_cost("b", "z")

    def test_clear_fires_on_clear_and_empties(self) -> None:
        store, _, rec = self.make()
        store.put("a", 1)
        store.put("b", 2)
        assert store.clear() == 2
        assert ("clear",) in rec.events
        assert store.size() == 0 and store.get("a") is None

    def test_touch_updates_access_statistics(self) -> None:
        store, clock, _ = self.make()
        store.put("k", 1)
        clock.advance(250)
        rec1 = store.get("k", touch=True)
        assert rec1 is not None
        assert rec1.metadata.hits == 1 and rec1.metadata.last_access_time == 1_250
        clock.advance(250)
        plain = store.get("k")
        assert plain is not None and plain.metadata.hits == 1
        assert plain.metadata.last_access_time == 1_250

    # --- design semantics -------------------------------------------------------------------

    def test_expired_entries_are_never_served_and_leave_as_expiry(self) -> None:
        store, clock, rec = self.make(default_ttl_millis=100)
        store.put("k", 1)
        clock.advance(100)
        assert store.get("k") is not None  # strict: at the limit it is still live
        clock.advance(1)
        assert store.get("k") is None
        assert ("expire", "k", ExpiryReason.TTL) in rec.events
        assert "evict" not in rec.kinds()
        assert store.size() == 0
        assert store.stats.expirations_ttl == 1 and store.stats.misses == 1

    def test_for_each_get_all_and_fetch_skip_expired(self) -> None:
        store, clock, _ = self.make()
        store.put("live", 1)
        store.put("dead", 2, ExpiryPolicy(ttl_millis=10))
        clock.advance(11)
        seen: list[Any] = []
        store.for_each(lambda k, r: seen.append(k))
        assert seen == ["live"]
        assert [k for k, _ in store.get_all(["live", "dead", "nope"])] == ["live"]
        assert store.fetch_keys(IterationCursor.start(), 10).items == ["live"]
        assert [k for k, _ in store.fetch_entries(IterationCursor.start(), 10).items] == ["live"]

    def test_per_entry_expiry_wins_over_defaults_and_zero_falls_back(self) -> None:
        store, _, _ = self.make(default_ttl_millis=1_000, default_max_idle_millis=2_000)
        store.put("own", 1, ExpiryPolicy(ttl_millis=50))
        store.put("default", 1)
        own = store.get("own")
        default = store.get("default")
        assert own is not None and default is not None
        assert (own.metadata.ttl_millis, own.metadata.max_idle_millis) == (50, 2_000)
        assert (default.metadata.ttl_millis, default.metadata.max_idle_millis) == (1_000, 2_000)

    def test_update_bumps_version_and_restarts_ttl(self) -> None:
        store, clock, _ = self.make(default_ttl_millis=100)
        store.put("k", 1)
        clock.advance(80)
        store.put("k", 2)
        clock.advance(80)
        got = store.get("k")
        assert got is not None and got.value == 2 and got.metadata.version == 1
        assert got.metadata.creation_time == 1_000
        clock.advance(21)
        assert store.get("k") is None

    def test_reads_never_extend_ttl(self) -> None:
        store, clock, _ = self.make(default_ttl_millis=100)
        store.put("k", 1)
        for _ in range(4):
            clock.advance(25)
            assert store.get("k", touch=True) is not None
        clock.advance(1)
        assert store.get("k", touch=True) is None

    def test_touch_and_writes_restart_the_idle_clock_plain_reads_do_not(self) -> None:
        store, clock, _ = self.make(default_max_idle_millis=100)
        store.put("k", 1)
        clock.advance(90)
        store.get("k", touch=True)
        clock.advance(90)
        store.put("k", 2)
        clock.advance(90)
        assert store.get("k") is not None  # plain read: counted, but the idle clock runs on
        clock.advance(11)
        assert store.get("k") is None

    def test_both_limits_report_the_first_deadline(self) -> None:
        store, clock, rec = self.make()
        store.put("k", 1, ExpiryPolicy(ttl_millis=1_000, max_idle_millis=100))
        clock.advance(5_000)
        assert store.get("k") is None
        assert ("expire", "k", ExpiryReason.MAX_IDLE) in rec.events

    def test_put_on_an_expired_key_is_an_insert(self) -> None:
        store, clock, rec = self.make(default_ttl_millis=10)
        store.put("k", 1)
        store.put("k", 2)
        clock.advance(11)
        assert store.put("k", 3) is None
        got = store.get("k")
        assert got is not None and got.metadata.version == 0
        assert rec.kinds()[-3:] == ["expire", "put"] or rec.kinds()[-2:] == ["expire", "put"]

    def test_size_never_exceeds_max_entry_count_after_a_put(self) -> None:
        store, _, rec = self.make(max_entry_count=10)
        for i in range(100):
            store.put(i, i)
            assert store.size() <= 10
            assert store.exists_in_memory(i)  # the key just written survives
        assert rec.kinds().count("evict") == 90
        assert store.stats.evictions == 90

    def test_policy_none_never_evicts(self) -> None:
        store, _, rec = self.make(max_entry_count=3, eviction_policy="none")
        for i in range(10):
            store.put(i, i)
        assert store.size() == 10 and "evict" not in rec.kinds()

    def test_should_evict_follows_the_seed(self) -> None:
        store, _, _ = self.make(max_entry_count=2, eviction_policy=EvictionPolicy.NONE)
        assert not store.should_evict()
        store.put("a", 1)
        assert not store.should_evict()
        store.put("b", 1)
        assert store.should_evict()
        unbounded, _, _ = self.make()
        unbounded.put("a", 1)
        assert not unbounded.should_evict()

    def test_evict_and_evict_all(self) -> None:
        store, _, rec = self.make()
        for i in range(5):
            store.put(i, i)
        assert store.evict(2) == 2
        assert store.evict(2) is None
        assert rec.events[-1] == ("evict", 2, False)
        assert store.evict_all() == 4
        assert store.is_empty() and rec.kinds().count("evict") == 5

    def test_backup_operations_flag_is_backup(self) -> None:
        store, clock, rec = self.make()
        md = RecordMetadata.new(clock.now_millis(), 99)
        store.put_backup("b", Record("v", md))
        assert rec.events[-1] == ("put", "b", None, True)
        got = store.get("b")
        assert got is not None and got.metadata is md
        store.remove_backup("b")
        assert rec.events[-1] == ("remove", "b", True)
        assert store.size() == 0

    def test_replication_put_is_announced(self) -> None:
        store, _, rec = self.make()
        store.put("k", 1, provenance=CallerProvenance.REPLICATION)
        assert rec.kinds() == ["put", "replication_put"]

    def test_lifecycle_notifications(self) -> None:
        store, _, rec = self.make()
        store.init()
        store.put("a", 1)
        store.reset()
        assert store.size() == 0 and rec.kinds()[-1] == "reset"
        assert store.stats.inserts == 0
        store.put("a", 1)
        store.destroy()
        assert store.size() == 0 and rec.events[-1] == ("destroy", False)
        assert store.soft_flush() == 0
        assert isinstance(store.map_data_store(), NullDataStore)

    def test_is_expirable(self) -> None:
        store, _, _ = self.make()
        assert not store.is_expirable()
        store.put("a", 1, ExpiryPolicy(ttl_millis=5))
        assert store.is_expirable()
        store.remove("a")
        assert not store.is_expirable()
        ttl_store, _, _ = self.make(default_ttl_millis=5)
        assert ttl_store.is_expirable()

    def test_evict_expired_removes_only_expired(self) -> None:
        store, clock, rec = self.make()
        for i in range(20):
            store.put(i, i, ExpiryPolicy(ttl_millis=100 if i % 2 else 0))
        clock.advance(101)
        assert store.expired_present_count(clock.now_millis()) == 10
        assert store.evict_expired(100, clock.now_millis()) == 10
        assert sorted(k for k, _ in store.storage().snapshot_iter()) == list(range(0, 20, 2))
        assert store.expired_present_count(clock.now_millis()) == 0
        assert rec.kinds().count("expire") == 10

    def test_hits_and_misses_are_counted(self) -> None:
        store, _, _ = self.make()
        store.put("a", 1)
        store.get("a")
        store.get("a", touch=True)
        store.get("b")
        assert (store.stats.hits, store.stats.misses) == (2, 1)

    def test_metadata_rows_are_a_table(self) -> None:
        store, clock, _ = self.make()
        store.put("a", 1)
        clock.advance(5)
        store.get("a", touch=True)
        rows = store.metadata_rows()
        assert rows == [{
            "key": "a", "value": 1, "version": 0, "creation_time": 1_000,
            "last_access_time": 1_005, "last_update_time": 1_000, "last_stored_time": 0,
            "hits": 1, "cost": estimate_cost("a", 1), "ttl_millis": 0, "max_idle_millis": 0,
            "dirty": True, "expired": False,
        }]

    # --- bad input --------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda s: s.put("k", None), "None"),
            (lambda s: s.put(["unhashable"], 1), "hashable.*unhashable"),
            (lambda s: s.put("k", 1, expiry=5), "ExpiryPolicy.*5"),
            (lambda s: s.put("k", 1, provenance="client"), "CallerProvenance.*client"),
            (lambda s: s.remove("a", provenance=None), "CallerProvenance.*None"),
            (lambda s: s.put_backup("k", "not a record"), "Record.*not a record"),
            (lambda s: s.evict_expired(101, 0), "101"),
            (lambda s: s.evict_expired(-1, 0), "-1"),
            (lambda s: s.evict_expired(50, -5), "now.*-5"),
            (lambda s: s.fetch_keys(IterationCursor.start(), 0), "size.*0"),
        ],
    )
    def test_refused_calls_name_the_bad_value_and_change_nothing(self, call: Any, match: str) -> None:
        store, _, rec = self.make(default_ttl_millis=1_000)
        store.put("a", 1)
        before = state_of(store)
        events = list(rec.events)
        with pytest.raises(InvalidArgumentError, match=match):
            call(store)
        assert state_of(store) == before
        assert rec.events == events


class TestDefaultRecordStore(RecordStoreContract):
    def build(self, config: StorageConfig, clock: ManualClock,
              observer: Recorder) -> DefaultRecordStore:
        return DefaultRecordStore("m", 7, HashMapStorage(seed=1), NullDataStore(), observer,
                                  config, clock)


class TestRecordStoreOnReferenceEngine(RecordStoreContract):
    def build(self, config: StorageConfig, clock: ManualClock,
              observer: Recorder) -> DefaultRecordStore:
        return DefaultRecordStore("m", 7, ReferenceEngine(), NullDataStore(), observer,
                                  config, clock)


class TestFactoryStore(RecordStoreContract):
    def build(self, config: StorageConfig, clock: ManualClock,
              observer: Recorder) -> DefaultRecordStore:
        return RecordStoreFactory(config, NullDataStore(), [observer], clock=clock).create("m", 7)


# --- construction, config and factory --------------------------------------------------------


def test_storage_config_defaults_match_the_seed() -> None:
    cfg = StorageConfig()
    assert (cfg.default_ttl_millis, cfg.default_max_idle_millis, cfg.max_entry_count) == (0, 0, 0)
    assert cfg.eviction_policy is EvictionPolicy.LRU
    assert cfg.eviction_sample_count == 15
    assert cfg.max_cost_bytes == 0
    assert cfg.expiry_strategy is ExpiryStrategy.CURSOR


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"default_ttl_millis": -1}, "default_ttl_millis.*-1"),
        ({"default_max_idle_millis": 1.5}, "default_max_idle_millis.*1.5"),
        ({"max_entry_count": -10}, "max_entry_count.*-10"),
        ({"eviction_policy": "lru2"}, "EvictionPolicy 'lru2'"),
        ({"expiry_strategy": "wheel"}, "ExpiryStrategy 'wheel'"),
        ({"eviction_sample_count": 0}, "eviction_sample_count.*0"),
        ({"max_cost_bytes": "1kb"}, "max_cost_bytes.*1kb"),
    ],
)
def test_bad_config_is_refused_with_the_value(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StorageConfig(**kwargs)


def test_config_accepts_names_and_with_changes_revalidates() -> None:
    cfg = StorageConfig(eviction_policy="LFU", expiry_strategy="deadline")
    assert cfg.eviction_policy is EvictionPolicy.LFU
    assert cfg.expiry_strategy is ExpiryStrategy.DEADLINE
    assert cfg.with_changes(max_entry_count=5).max_entry_count == 5
    with pytest.raises(ConfigError, match="no field 'capacity'"):
        cfg.with_changes(capacity=5)
    with pytest.raises(ConfigError, match="-2"):
        cfg.with_changes(max_entry_count=-2)
    assert cfg.as_dict()["eviction_policy"] == "lfu"


def test_store_construction_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="name"):
        DefaultRecordStore("")
    with pytest.raises(InvalidArgumentError, match="partition_id.*-1"):
        DefaultRecordStore("m", -1)
    with pytest.raises(InvalidArgumentError, match="StorageConfig"):
        DefaultRecordStore("m", 0, config={"max_entry_count": 3})  # type: ignore[arg-type]


def test_factory_wires_shared_parts_into_separate_stores() -> None:
    clock = ManualClock()
    counter = EventCounter()
    factory = RecordStoreFactory(StorageConfig(max_entry_count=4), observers=[counter], clock=clock)
    a = factory.create("orders", 0)
    b = factory.create("orders", 1)
    assert (a.name, a.partition_id, b.partition_id) == ("orders", 0, 1)
    a.put("x", 1)
    b.put("x", 2)
    assert a.get("x").value == 1 and b.get("x").value == 2  # type: ignore[union-attr]
    assert a.storage() is not b.storage()
    assert a.map_data_store() is b.map_data_store()
    assert counter.counts["put"] == 2
    assert a.config.max_entry_count == 4 and a.clock is clock


def test_composite_observer_fans_out_and_accepts_late_additions() -> None:
    first, second = EventCounter(), EventCounter()
    composite = CompositeMutationObserver([first])
    store = DefaultRecordStore("m", observer=composite, clock=ManualClock())
    store.put("a", 1)
    store.observer.add(second)
    store.put("a", 2)
    store.remove("a")
    assert first.counts == {"put": 1, "update": 1, "remove": 1}
    assert second.counts == {"update": 1, "remove": 1}
    assert len(composite) == 2


def test_empty_composite_observer_accepts_every_notification() -> None:
    c = CompositeMutationObserver()
    rec = Record(1, RecordMetadata.new(0, 0))
    c.on_put("k", rec, None, False)
    c.on_update("k", rec, 1, 2, False)
    c.on_remove("k", rec, False)
    c.on_evict("k", rec, False)
    c.on_expire("k", rec, ExpiryReason.TTL, False)
    c.on_load("k", rec, False)
    c.on_replication_put("k", rec, True)
    c.on_clear()
    c.on_reset()
    c.on_destroy(True)
    assert not c


def test_a_plain_observer_is_wrapped() -> None:
    counter = EventCounter(keep_log=True)
    store = DefaultRecordStore("m", observer=counter, clock=ManualClock())
    store.put("a", 1)
    assert counter.log == [("put", "a")]


# --- state machine against a reference model ------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
EXPIRIES = st.builds(
    ExpiryPolicy,
    ttl_millis=st.sampled_from([0, 0, 5, 20, 100]),
    max_idle_millis=st.sampled_from([0, 0, 5, 30]),
)


class Model:
    """What a correct store holds: value, limits and the two clock starts per live key."""

    def __init__(self, default_ttl: int, default_idle: int) -> None:
        self.entries: dict[str, dict[str, int]] = {}
        self.default_ttl = default_ttl
        self.default_idle = default_idle

    def expired(self, key: str, now: int) -> bool:
        e = self.entries[key]
        return bool(
            (e["ttl"] and now - e["written"] > e["ttl"])
            or (e["idle"] and now - e["accessed"] > e["idle"])
        )


class StoreMachine(RuleBasedStateMachine):
    config = StorageConfig(max_entry_count=4, sampling_seed=1)

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.rec = Recorder()
        self.store = DefaultRecordStore("m", 0, None, None, self.rec, self.config, self.clock)
        self.model = Model(self.config.default_ttl_millis, self.config.default_max_idle_millis)
        self.seen_version: dict[str, int] = {}
        self.counter = 0

    def _sync_removals(self) -> None:
        """Evictions and expirations the store reported: check them, mirror them."""
        now = self.clock.now_millis()
        for event in self.rec.events:
            kind, key = event[0], event[1] if len(event) > 1 else None
            if kind == "evict":
                assert self.config.max_entry_count, "evicted without a limit"
                self.model.entries.pop(key, None)
                self.seen_version.pop(key, None)
            elif kind == "expire":
                assert key in self.model.entries and self.model.expired(key, now), key
                del self.model.entries[key]
                self.seen_version.pop(key, None)
        self.rec.events.clear()

    @rule(key=KEYS, expiry=EXPIRIES)
    def put(self, key: str, expiry: ExpiryPolicy) -> None:
        self.counter += 1
        now = self.clock.now_millis()
        live_before = key in self.model.entries and not self.model.expired(key, now)
        old = self.store.put(key, self.counter, expiry)
        if live_before:
            assert old == self.model.entries[key]["value"]
        else:
            assert old is None
        self._sync_removals()
        self.model.entries[key] = {
            "value": self.counter,
            "ttl": expiry.ttl_millis or self.model.default_ttl,
            "idle": expiry.max_idle_millis or self.model.default_idle,
            "written": now,
            "accessed": now,
        }
        assert self.store.exists_in_memory(key)

    @rule(key=KEYS, touch=st.booleans())
    def get(self, key: str, touch: bool) -> None:
        now = self.clock.now_millis()
        got = self.store.get(key, touch)
        live = key in self.model.entries and not self.model.expired(key, now)
        self._sync_removals()
        if live:
            assert got is not None and got.value == self.model.entries[key]["value"]
            if touch:
                self.model.entries[key]["accessed"] = now
            version = got.metadata.version
            assert version >= self.seen_version.get(key, 0)
            self.seen_version[key] = version
        else:
            assert got is None, f"served {key} although it is absent or expired"

    @rule(key=KEYS)
    def remove(self, key: str) -> None:
        now = self.clock.now_millis()
        live = key in self.model.entries and not self.model.expired(key, now)
        expected = self.model.entries[key]["value"] if live else None
        assert self.store.remove(key) == expected
        self._sync_removals()
        self.model.entries.pop(key, None)
        self.seen_version.pop(key, None)

    @rule(millis=st.sampled_from([1, 3, 10, 40]))
    def advance(self, millis: int) -> None:
        self.clock.advance(millis)

    @rule(percentage=st.sampled_from([10, 50, 100]))
    def sweep(self, percentage: int) -> None:
        now = self.clock.now_millis()
        self.store.evict_expired(percentage, now)
        self._sync_removals()
        if percentage == 100:
            assert not any(self.model.expired(k, now) for k in self.model.entries)

    @precondition(lambda self: self.model.entries)
    @rule()
    def every_model_key_is_in_memory(self) -> None:
        for key in self.model.entries:
            assert self.store.exists_in_memory(key)

    @invariant()
    def size_within_capacity(self) -> None:
        limit = self.config.max_entry_count
        if limit and self.config.eviction_policy is not EvictionPolicy.NONE:
            assert self.store.size() <= limit

    @invariant()
    def memory_matches_the_model(self) -> None:
        assert {k for k, _ in self.store.storage().snapshot_iter()} == set(self.model.entries)

    @invariant()
    def cost_is_the_sum_of_entry_costs(self) -> None:
        snapshot = self.store.storage().snapshot_iter()
        assert self.store.owned_entry_cost() == sum(r.metadata.cost for _, r in snapshot)

    @invariant()
    def expired_count_is_ground_truth(self) -> None:
        now = self.clock.now_millis()
        truth = sum(self.model.expired(k, now) for k in self.model.entries)
        assert self.store.expired_present_count(now) == truth


class DeadlineStoreMachine(StoreMachine):
    config = StorageConfig(max_entry_count=5, expiry_strategy="deadline",
                           eviction_policy="lfu", default_ttl_millis=60, sampling_seed=2)


class ScanUnboundedStoreMachine(StoreMachine):
    config = StorageConfig(expiry_strategy="scan", default_max_idle_millis=25)


class ExactLruStoreMachine(StoreMachine):
    config = StorageConfig(max_entry_count=3, eviction_policy="lru_exact",
                           expiry_strategy="cursor")


TestStoreMachine = StoreMachine.TestCase
TestDeadlineStoreMachine = DeadlineStoreMachine.TestCase
TestScanUnboundedStoreMachine = ScanUnboundedStoreMachine.TestCase
TestExactLruStoreMachine = ExactLruStoreMachine.TestCase
