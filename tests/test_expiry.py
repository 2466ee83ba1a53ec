"""Expiry: the sweep strategies of ``evict_expired`` against a reference model, their cost
promises, lazy expiry, the counters, and bad input."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from toolkit import (
    ConfigError,
    DefaultRecordStore,
    EventCounter,
    ExpiryPolicy,
    ExpiryReason,
    ExpiryStrategy,
    HashMapStorage,
    InvalidArgumentError,
    IterationCursor,
    ManualClock,
    Record,
    StorageConfig,
)

S = ExpiryStrategy
STRATEGIES = list(ExpiryStrategy)
NOT = ExpiryReason.NOT_EXPIRED


class CountingEngine(HashMapStorage):
    """A HashMapStorage that counts the entries it hands out while ``counting`` is on."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.counting = False
        self.examined = 0

    def get(self, key: Any) -> Record | None:
        if self.counting:
            self.examined += 1
        return super().get(key)

    def fetch_entries(self, cursor: IterationCursor, size: int) -> Any:
        page = super().fetch_entries(cursor, size)
        if self.counting:
            self.examined += len(page.items)
        return page

    def snapshot_iter(self) -> list[tuple[Any, Record]]:
        items = super().snapshot_iter()
        if self.counting:
            self.examined += len(items)
        return items


def make_store(
    strategy: ExpiryStrategy,
    clock: ManualClock | None = None,
    observer: EventCounter | None = None,
    engine: HashMapStorage | None = None,
    **config: Any,
) -> DefaultRecordStore:
    return DefaultRecordStore(
        "m",
        0,
        engine=engine,
        observer=observer,
        config=StorageConfig(expiry_strategy=strategy, sampling_seed=1, **config),
        clock=clock if clock is not None else ManualClock(1_000),
    )


def keys_of(store: DefaultRecordStore) -> set[Any]:
    return {k for k, _ in store.storage().snapshot_iter()}


def brute_force_expired(store: DefaultRecordStore, now: int) -> int:
    """Expired entries still in memory, found by looking at every one."""
    return sum(
        1 for _, r in store.storage().snapshot_iter() if r.metadata.expiry_reason(now) is not NOT
    )


def model_reason(update: int, access: int, ttl: int, idle: int, now: int) -> ExpiryReason:
    """The documented rule: strict (now - start > limit); TTL from the last write, idle from
    the last access; both passed: the one whose deadline came first (TTL on a tie)."""
    ttl_late = bool(ttl) and now - update > ttl
    idle_late = bool(idle) and now - access > idle
    if ttl_late and idle_late:
        return ExpiryReason.MAX_IDLE if access + idle < update + ttl else ExpiryReason.TTL
    if ttl_late:
        return ExpiryReason.TTL
    if idle_late:
        return ExpiryReason.MAX_IDLE
    return NOT


# --- any sequence of operations, every strategy ------------------------------------------


class ExpiryMachine(RuleBasedStateMachine):
    """Puts (per-entry TTL / max-idle, some without expiry), reads with and without touch,
    removes, clock advances and sweeps, against a dict model of each key's times.

    Every ``on_expire`` must name a key the model says has expired, with the model's reason;
    ``evict_expired(100, now)`` must leave no expired entry and remove no live one.
    """

    strategy: ExpiryStrategy = S.CURSOR
    default_ttl = 0

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(1_000)
        self.events = EventCounter(keep_log=True)
        self.store = make_store(
            self.strategy, self.clock, self.events, default_ttl_millis=self.default_ttl
        )
        self.model: dict[int, tuple[int, int, int, int]] = {}  # key -> update, access, ttl, idle
        self.reads = 0
        self.by_reason = {ExpiryReason.TTL: 0, ExpiryReason.MAX_IDLE: 0}

    @property
    def now(self) -> int:
        return self.clock.now_millis()

    def _reason(self, key: int) -> ExpiryReason:
        return model_reason(*self.model[key], self.now)

    def _drain(self) -> int:
        """Check the events of the last operation against the model; drop expired keys."""
        expired = 0
        for event, key in self.events.log:
            assert event != "evict", "nothing is bounded: no eviction expected"
            if event.startswith("expire:"):
                assert key in self.model, f"expired {key!r}, which the model does not hold"
                reason = self._reason(key)
                assert reason is not NOT, f"expired {key!r}, which the model says is live"
                assert event == f"expire:{reason.value}", (event, reason)
                self.by_reason[reason] += 1
                del self.model[key]
                expired += 1
        self.events.log.clear()
        return expired

    @rule(key=st.integers(0, 11), ttl=st.sampled_from([0, 0, 5, 20]),
          idle=st.sampled_from([0, 0, 3, 15]))
    def put(self, key: int, ttl: int, idle: int) -> None:
        self.store.put(key, key, ExpiryPolicy(ttl, idle))
        self._drain()  # a put over an expired record expires it first
        self.model[key] = (self.now, self.now, ttl or self.default_ttl, idle)

    @rule(key=st.integers(0, 11), touch=st.booleans())
    def get(self, key: int, touch: bool) -> None:
        live = key in self.model and self._reason(key) is NOT
        record = self.store.get(key, touch=touch)
        self.reads += 1
        assert (record is not None) == live
        self._drain()
        if live and touch:
            update, _, ttl, idle = self.model[key]
            self.model[key] = (update, self.now, ttl, idle)

    @rule(key=st.integers(0, 11))
    def remove(self, key: int) -> None:
        live = key in self.model and self._reason(key) is NOT
        assert (self.store.remove(key) is not None) == live
        self._drain()
        self.model.pop(key, None)

    @rule(millis=st.sampled_from([0, 1, 2, 3, 5, 8, 16]))
    def advance(self, millis: int) -> None:
        self.clock.advance(millis)

    @rule(percentage=st.integers(0, 99))
    def sweep_part(self, percentage: int) -> None:
        removed = self.store.evict_expired(percentage, self.now)
        assert removed == self._drain()  # only expired entries, each reported once
        if percentage == 0:
            assert removed == 0

    @rule()
    def sweep_all(self) -> None:
        now = self.now
        expected = {k for k in self.model if self._reason(k) is not NOT}
        removed = self.store.evict_expired(100, now)
        assert removed == len(expected) == self._drain()
        for key in range(12):
            assert self.store.has_expired(key, now) is NOT
        assert self.store.expired_present_count(now) == 0
        assert keys_of(self.store) == set(self.model)  # no live entry was removed

    @invariant()
    def agrees_with_model(self) -> None:
        now = self.now
        assert keys_of(self.store) == set(self.model)
        truth = sum(1 for k in self.model if self._reason(k) is not NOT)
        assert self.store.expired_present_count(now) == truth == brute_force_expired(
            self.store, now
        )
        stats = self.store.stats
        assert stats.hits + stats.misses == self.reads
        assert stats.expirations_ttl == self.by_reason[ExpiryReason.TTL]
        assert stats.expirations_max_idle == self.by_reason[ExpiryReason.MAX_IDLE]


_MACHINE_SETTINGS = settings(max_examples=40, stateful_step_count=40)
for _strategy in STRATEGIES:
    for _default in (0, 20):  # 20: every entry can expire (the cursor then pages the engine)
        _name = f"Test{_strategy.name.title()}ExpiryDefaultTtl{_default}"
        _machine = type(_name, (ExpiryMachine,), {"strategy": _strategy, "default_ttl": _default})
        _case = _machine.TestCase
        _case.settings = _MACHINE_SETTINGS
        globals()[_name] = _case
del _strategy, _default, _name, _machine, _case


# --- deterministic cases for each strategy ---------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_read_extends_max_idle_and_the_sweep_respects_it(strategy: ExpiryStrategy) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    store.put("k", 1, ExpiryPolicy(max_idle_millis=10))  # scheduled for 10
    store.put("other", 2, ExpiryPolicy(max_idle_millis=10))
    clock.set(8)
    assert store.get("k", touch=True) is not None  # now live until 18
    clock.set(15)
    assert store.evict_expired(100, 15) == 1  # "other" only
    assert keys_of(store) == {"k"}
    clock.set(18)
    assert store.evict_expired(100, 18) == 0  # strict: live at its deadline
    clock.set(19)
    assert store.evict_expired(100, 19) == 1
    assert store.stats.expirations_max_idle == 2 and store.size() == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_re_put_moves_the_deadline_either_way(strategy: ExpiryStrategy) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    store.put("later", 1, ExpiryPolicy(ttl_millis=10))
    store.put("sooner", 1, ExpiryPolicy(ttl_millis=100))
    store.put("never", 1, ExpiryPolicy(ttl_millis=10))
    clock.set(5)
    store.put("later", 2, ExpiryPolicy(ttl_millis=10))  # restarts the TTL: 15
    store.put("sooner", 2, ExpiryPolicy(ttl_millis=5))  # 10
    store.put("never", 2)  # no expiry any more
    assert store.evict_expired(100, 11) == 1
    assert keys_of(store) == {"later", "never"}
    assert store.evict_expired(100, 15) == 0
    assert store.evict_expired(100, 16) == 1
    assert store.evict_expired(100, 10**9) == 0
    assert keys_of(store) == {"never"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_remove_and_re_put_with_the_same_deadline_is_swept_once(strategy: ExpiryStrategy) -> None:
    """The deadline heap then holds two entries for k1 with the same deadline; both must not
    count against the sweep's budget as if they were two keys."""
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    store.put("k1", 1, ExpiryPolicy(ttl_millis=10))
    store.remove("k1")
    store.put("k1", 1, ExpiryPolicy(ttl_millis=10))
    store.put("k2", 1, ExpiryPolicy(ttl_millis=10))
    assert store.evict_expired(100, 11) == 2
    assert store.expired_present_count(11) == 0 and store.size() == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_partial_sweep_removes_only_expired_entries(strategy: ExpiryStrategy) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    rng = random.Random(5)
    for i in range(300):
        store.put(i, i, ExpiryPolicy(ttl_millis=rng.choice([10, 50, 1_000])) if i % 3 else
                  ExpiryPolicy.NONE)
    clock.set(60)
    expired_before = {k for k, r in store.storage().snapshot_iter()
                      if r.metadata.expiry_reason(60) is not NOT}
    live_before = keys_of(store) - expired_before
    removed = store.evict_expired(30, 60)
    assert 0 < removed < len(expired_before)  # a sweep of 30% does part of the work
    assert live_before <= keys_of(store)
    assert len(keys_of(store)) == 300 - removed


@pytest.mark.parametrize("all_expirable", [False, True])
def test_cursor_sweeps_are_resumable(all_expirable: bool) -> None:
    """Sweeps at 10% continue where the last stopped: one cycle (examining each expirable
    entry once) removes every entry expired throughout it, and no sweep examines more than
    its share. ``all_expirable``: every entry has a TTL, so the cursor pages the engine."""
    clock = ManualClock(0)
    engine = CountingEngine(seed=3)
    store = make_store(S.CURSOR, clock, engine=engine)
    rng = random.Random(9)
    kinds = ["soon"] * 1_000 + ["late"] * 1_000 + (["late"] if all_expirable else ["none"]) * 1_500
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        ttl = {"soon": 10, "late": 10**9, "none": 0}[kind]
        store.put(i, kind, ExpiryPolicy(ttl_millis=ttl))
    expirable = sum(1 for k in kinds if k != "none")
    clock.set(11)
    assert store.expired_present_count(11) == 1_000
    examined = sweeps = last = 0
    while examined < expirable:
        m = store.size() - (0 if all_expirable else 1_500)  # expirable entries now
        engine.counting, engine.examined = True, 0
        removed = store.evict_expired(10, 11)
        engine.counting = False
        last = engine.examined - removed  # the store re-reads each key it removes
        examined += last
        sweeps += 1
        assert last <= math.ceil(m * 10 / 100)
        if sweeps == 1:
            assert 0 < removed < 1_000
    assert examined - last < expirable <= examined  # the last sweep may start the next cycle
    assert store.expired_present_count(11) == 0
    assert store.stats.expirations_ttl == 1_000 and store.size() == len(kinds) - 1_000


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_repeated_ten_percent_sweeps_eventually_remove_everything(strategy: ExpiryStrategy) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    rng = random.Random(2)
    for step in range(3_000):  # a churning store: writes, reads, removes as time goes by
        clock.advance(rng.choice([0, 1, 2]))
        key = rng.randrange(800)
        op = rng.random()
        if op < 0.6:
            store.put(key, step, ExpiryPolicy(rng.choice([0, 50, 500]), rng.choice([0, 0, 100])))
        elif op < 0.9:
            store.get(key, touch=True)
        else:
            store.remove(key)
        if step % 100 == 0:
            store.evict_expired(10, clock.now_millis())
    now = clock.now_millis() + 1_000
    assert store.expired_present_count(now) > 100
    for _ in range(200):
        store.evict_expired(10, now)
        if store.expired_present_count(now) == 0:
            break
    assert store.expired_present_count(now) == 0 == brute_force_expired(store, now)


def test_what_each_strategy_examines() -> None:
    """Deadline visits only the expired; cursor only the expirable; scan everything."""
    examined = {}
    for strategy in STRATEGIES:
        clock = ManualClock(0)
        engine = CountingEngine(seed=1)
        store = make_store(strategy, clock, engine=engine)
        for i in range(5_000):
            store.put(("live", i), i)
        for i in range(300):
            store.put(("late", i), i, ExpiryPolicy(ttl_millis=10**9))
        for i in range(200):
            store.put(("soon", i), i, ExpiryPolicy(ttl_millis=10))
        engine.counting = True
        removed = store.evict_expired(100, 11)
        engine.counting = False
        assert removed == 200
        examined[strategy] = engine.examined - removed
    assert examined[S.DEADLINE] == 200
    assert examined[S.CURSOR] == 500
    assert examined[S.SCAN] >= 5_500


def test_sweep_budget_is_a_share_of_the_expirable_entries() -> None:
    clock = ManualClock(0)
    for strategy in (S.CURSOR, S.DEADLINE):
        store = make_store(strategy, clock)
        for i in range(1_000):
            store.put(i, i, ExpiryPolicy(ttl_millis=5))
        for i in range(1_000, 3_000):
            store.put(i, i)
        assert store.evict_expired(10, clock.now_millis() + 6) == 100
        assert store.evict_expired(1, clock.now_millis() + 6) == 9  # ceil(1% of 900)


# --- lazy expiry and the counters -------------------------------------------------------------


def test_lazy_expiry_and_counters_by_reason() -> None:
    clock = ManualClock(0)
    ev = EventCounter(keep_log=True)
    store = make_store(S.CURSOR, clock, ev)
    store.put("ttl", 1, ExpiryPolicy(ttl_millis=10))
    store.put("idle", 2, ExpiryPolicy(max_idle_millis=10))
    store.put("both", 3, ExpiryPolicy(ttl_millis=30, max_idle_millis=10))  # idle first
    store.put("plain", 4)
    clock.set(5)
    assert store.get("ttl", touch=True) is not None  # a read never extends TTL
    clock.set(10)
    assert store.get("ttl") is not None and store.has_expired("ttl", 10) is NOT
    clock.set(11)
    assert store.has_expired("ttl", 11) is ExpiryReason.TTL
    assert store.has_expired("both", 11) is ExpiryReason.MAX_IDLE
    assert store.has_expired("absent", 11) is NOT
    assert store.expired_present_count(11) == 3 == brute_force_expired(store, 11)
    assert store.get("ttl") is None  # lazily removed
    assert ev.log[-1] == ("expire:ttl", "ttl")
    assert store.expired_present_count(11) == 2
    assert store.evict_expired(100, 11) == 2
    assert ev.counts["expire:ttl"] == 1 and ev.counts["expire:max_idle"] == 2
    stats = store.stats
    assert (stats.expirations_ttl, stats.expirations_max_idle, stats.evictions) == (1, 2, 0)
    assert (stats.hits, stats.misses) == (2, 1)
    assert store.get("plain") is not None and store.get("nope") is None
    assert stats.hits + stats.misses == 5  # every read is one or the other
    assert keys_of(store) == {"plain"}


def test_store_wide_defaults_apply_and_per_entry_values_win() -> None:
    clock = ManualClock(0)
    store = make_store(S.DEADLINE, clock, default_ttl_millis=10, default_max_idle_millis=50)
    store.put("default", 1)
    store.put("own", 2, ExpiryPolicy(ttl_millis=100))
    assert store.is_expirable()
    assert store.evict_expired(100, 11) == 1
    assert keys_of(store) == {"own"}
    assert store.evict_expired(100, 50) == 0
    assert store.evict_expired(100, 51) == 1  # the default max-idle still applies to it
    assert store.stats.expirations_max_idle == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_clear_and_reset_leave_nothing_to_sweep(strategy: ExpiryStrategy) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    for i in range(50):
        store.put(i, i, ExpiryPolicy(ttl_millis=5))
    store.clear()
    assert store.expired_present_count(100) == 0 and store.evict_expired(100, 100) == 0
    store.put("a", 1, ExpiryPolicy(ttl_millis=5))
    store.reset()
    store.put("b", 1, ExpiryPolicy(ttl_millis=5))
    assert store.expired_present_count(100) == 1
    assert store.evict_expired(100, 100) == 1 and store.size() == 0


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("percentage", [-1, 101, 1_000, 50.0, True, "10", None])
def test_bad_percentage_is_refused_and_changes_nothing(
    strategy: ExpiryStrategy, percentage: Any
) -> None:
    clock = ManualClock(0)
    store = make_store(strategy, clock)
    for i in range(20):
        store.put(i, i, ExpiryPolicy(ttl_millis=5 if i % 2 else 0))
    before = (keys_of(store), store.stats.as_dict(), store.expired_present_count(10))
    with pytest.raises(InvalidArgumentError) as info:
        store.evict_expired(percentage, 10)  # type: ignore[arg-type]
    assert repr(percentage) in str(info.value)
    assert (keys_of(store), store.stats.as_dict(), store.expired_present_count(10)) == before
    assert store.evict_expired(100, 10) == 10  # and the store still works


def test_bad_now_is_refused() -> None:
    store = make_store(S.CURSOR)
    store.put("a", 1, ExpiryPolicy(ttl_millis=5))
    with pytest.raises(InvalidArgumentError, match="-1"):
        store.evict_expired(100, -1)
    assert store.size() == 1


@pytest.mark.parametrize("value", ["lazy", "", 7, None])
def test_unknown_strategy_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        StorageConfig(expiry_strategy=value)
    assert repr(value) in str(info.value)
    assert "scan" in str(info.value)  # and says what was expected


def test_strategy_names_parse() -> None:
    assert StorageConfig(expiry_strategy="Deadline").expiry_strategy is S.DEADLINE
    assert StorageConfig(expiry_strategy=S.SCAN).expiry_strategy is S.SCAN


@pytest.mark.parametrize("kwargs", [{"ttl_millis": -1}, {"max_idle_millis": -5}])
def test_negative_expiry_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidArgumentError, match=str(next(iter(kwargs.values())))):
        ExpiryPolicy(**kwargs)
