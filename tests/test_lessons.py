"""Tests for toolkit.lessons: the notebooks' independent checks (expiry audit, counting engine)."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit import (
    DefaultRecordStore,
    ExpiryPolicy,
    InvalidArgumentError,
    IterationCursor,
    ManualClock,
    StorageConfig,
)
from toolkit.lessons import EXPIRY_STATES, CountingStorage, audit_expiry
from toolkit.sim import Scenario, run

from .test_engine import EngineContract


def log(*ops: tuple[float, str, object, bool | None]) -> pd.DataFrame:
    return pd.DataFrame(ops, columns=["time_ms", "op", "key", "hit"])


# --- audit_expiry ------------------------------------------------------------------------


def test_states_follow_both_clocks() -> None:
    ops = log(
        (0, "get", "a", False),      # absent: filled at 0
        (5, "get", "a", True),       # live, idle clock restarts at 5
        (10, "get", "a", True),      # live (idle 5 <= 5)
        (16, "get", "a", False),     # idle 6 > 5: max_idle; filled again at 16
        (20, "put", "b", None),
        (41, "get", "b", False),     # 21 > ttl 20 and 21 > idle 5: idle deadline (25) first
        (42, "get", "c", False),
    )
    audit = audit_expiry(ops, ttl_ms=20, max_idle_ms=5)
    assert list(audit.columns) == ["time_ms", "key", "hit", "state"]
    assert audit.state.tolist() == ["absent", "live", "live", "max_idle", "max_idle", "absent"]
    assert set(audit.state) <= set(EXPIRY_STATES)


def test_ttl_is_not_extended_by_reads() -> None:
    ops = log(*[(t, "get", "k", t != 0) for t in range(0, 11)], (11, "get", "k", False))
    audit = audit_expiry(ops, ttl_ms=10)
    assert audit.state.tolist()[-1] == "ttl"
    assert audit.state.tolist()[1:-1] == ["live"] * 10  # strict: at 10 ms it is still live


def test_tie_reports_ttl() -> None:
    ops = log((0, "put", "k", None), (11, "get", "k", False))
    assert audit_expiry(ops, ttl_ms=10, max_idle_ms=10).state.tolist() == ["ttl"]


def test_times_are_rounded_like_the_store_clock() -> None:
    ops = log((0.4, "put", "k", None), (10.4, "get", "k", True), (20.6, "get", "k", False))
    assert audit_expiry(ops, max_idle_ms=10).state.tolist() == ["live", "max_idle"]


def test_without_write_on_miss_a_miss_leaves_the_key_absent() -> None:
    ops = log((0, "get", "k", False), (1, "get", "k", False))
    assert audit_expiry(ops, write_on_miss=False).state.tolist() == ["absent", "absent"]
    assert audit_expiry(ops).state.tolist() == ["absent", "live"]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_bad_limits_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="ttl_ms"):
        audit_expiry(log(), ttl_ms=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_idle_ms"):
        audit_expiry(log(), max_idle_ms=bad)  # type: ignore[arg-type]


def test_missing_column_is_named() -> None:
    with pytest.raises(KeyError, match="hit"):
        audit_expiry(pd.DataFrame({"time_ms": [], "op": [], "key": []}))


def test_empty_log() -> None:
    assert audit_expiry(log()).empty


def test_a_simulated_store_hits_exactly_the_live_reads() -> None:
    scenario = Scenario.from_dict(
        {
            "workload": {
                "seed": 3,
                "duration_ms": 4_000,
                "clients": 2,
                "read_fraction": 0.9,
                "write_on_miss": True,
                "arrival": {"kind": "poisson", "rate_per_s": 500},
                "keys": {"kind": "zipf", "key_count": 300, "alpha": 0.8},
                "ttl_ms": 700,
                "max_idle_ms": 300,
            },
            "background": {"expiry_sweep_interval_ms": 500, "expiry_sweep_percentage": 50},
        }
    )
    result = run(scenario, record_operations=True)
    assert result.operations is not None
    audit = audit_expiry(result.operations, ttl_ms=700, max_idle_ms=300)
    assert len(audit) == result.summary["reads"]
    assert (audit.hit == (audit.state == "live")).all()
    assert {"ttl", "max_idle", "live", "absent"} <= set(audit.state)


# --- CountingStorage ----------------------------------------------------------------------


class TestCountingStorageContract(EngineContract):
    """A counting engine is still a correct engine."""

    def make(self) -> CountingStorage:
        return CountingStorage(seed=1)


def store_on(engine: CountingStorage, strategy: str, clock: ManualClock) -> DefaultRecordStore:
    return DefaultRecordStore("m", 0, engine, config=StorageConfig(expiry_strategy=strategy),
                              clock=clock)


def fill(store: DefaultRecordStore, clock: ManualClock) -> None:
    """100 entries without expiry, then 50 with a 10 ms TTL at t=0 and 50 at t=100."""
    for i in range(100):
        store.put(("ref", i), i)
    for i in range(50):
        store.put(("old", i), i, ExpiryPolicy(ttl_millis=10))
    clock.set(100)
    for i in range(50):
        store.put(("new", i), i, ExpiryPolicy(ttl_millis=10))


@pytest.mark.parametrize(
    ("strategy", "examined"),
    [
        ("scan", 200 + 50),    # every entry, then the store re-reads the 50 it removes
        ("cursor", 100 + 50),  # the expirable entries only
        ("deadline", 50 + 50),  # the expired ones only
    ],
)
def test_counts_the_records_a_full_sweep_reads(strategy: str, examined: int) -> None:
    clock = ManualClock()
    engine = CountingStorage(seed=1)
    store = store_on(engine, strategy, clock)
    fill(store, clock)
    engine.examined = 0
    assert store.evict_expired(100, 100) == 50
    assert engine.examined == examined
    assert store.size() == 150


def test_client_reads_are_not_counted() -> None:
    clock = ManualClock()
    engine = CountingStorage()
    store = store_on(engine, "cursor", clock)
    store.put("k", "v")
    engine.examined = 0
    for _ in range(10):
        assert store.get("k", touch=True) is not None
    assert engine.examined == 0


def test_counts_samples_and_pages() -> None:
    engine = CountingStorage(seed=2)
    store = store_on(engine, "scan", ManualClock())
    for i in range(20):
        store.put(i, i)
    engine.examined = 0
    assert len(engine.random_samples(5)) == 5
    assert engine.examined == 5
    page = engine.fetch_entries(IterationCursor.start(), 7)
    assert engine.examined == 5 + len(page.items) == 12
