"""Persistence end to end: DefaultRecordStore over SQLite write-through and write-behind
(read-through, provenance, dirty tracking, eviction of dirty entries, refusals, restart and a
killed process), the documentation example and the benchmark script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from toolkit import (
    CallerProvenance,
    DefaultRecordStore,
    EventCounter,
    ExpiryPolicy,
    HashMapStorage,
    LwwValue,
    ManualClock,
    OrMapEntry,
    OrMapValue,
    OrTombstones,
    QueueFullError,
    Record,
    RecordMetadata,
    RecordStoreFactory,
    SizedValue,
    StorageConfig,
    Timestamp,
    UnsupportedValueError,
)
from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore

ROOT = Path(__file__).resolve().parent.parent
CLIENT = CallerProvenance.CLIENT


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(10_000)


@pytest.fixture
def sqlite(tmp_path: Path, clock: ManualClock) -> Iterator[SQLiteDataStore]:
    with SQLiteDataStore(tmp_path / "store.db", clock) as s:
        yield s


def make_store(
    data_store: Any, clock: ManualClock, name: str = "m", **config: Any
) -> tuple[DefaultRecordStore, EventCounter]:
    counter = EventCounter()
    store = DefaultRecordStore(
        name,
        0,
        data_store=data_store,
        observer=counter,
        config=StorageConfig(sampling_seed=3, **config),
        clock=clock,
    )
    return store, counter


def dirty(store: DefaultRecordStore, key: Any) -> bool:
    record = store.storage().get(key)
    assert record is not None, key
    return record.metadata.is_dirty()


# --- write-through ---------------------------------------------------------------------------


def test_write_through_put_is_stored_and_clean(sqlite: SQLiteDataStore, clock: ManualClock) -> None:
    store, _ = make_store(sqlite, clock)
    store.put("a", {"x": 1})
    assert sqlite.load("m", "a") == {"x": 1}
    assert not dirty(store, "a")
    assert store.storage().get("a").metadata.last_stored_time == 10_000  # type: ignore[union-attr]
    clock.advance(5)
    store.put("a", {"x": 2})
    assert not dirty(store, "a") and sqlite.load("m", "a") == {"x": 2}
    assert sqlite.stats.writes == 2 and sqlite.stats.write_batches == 2


def test_read_through_loads_once_and_fires_on_load(sqlite: SQLiteDataStore, clock: ManualClock) -> None:
    sqlite.add("m", "k", [1, 2], 0, 0)
    store, counter = make_store(sqlite, clock)
    record = store.get("k")
    assert record is not None and record.value == [1, 2]
    assert counter.counts["load"] == 1 and store.stats.loads == 1
    assert not record.metadata.is_dirty()
    assert store.get("k") is record  # now in memory: no second load
    assert counter.counts["load"] == 1 and sqlite.stats.loads == 1
    assert store.get("absent") is None
    assert counter.counts["load"] == 1 and sqlite.stats.loads == 2


def test_provenance_decides_what_is_written(sqlite: SQLiteDataStore, clock: ManualClock) -> None:
    store, _ = make_store(sqlite, clock)
    for p in (CallerProvenance.BACKUP, CallerProvenance.REPLICATION, CallerProvenance.LOAD):
        store.put(p.value, "v", provenance=p)
    assert sqlite.row_count() == 0
    assert dirty(store, "backup") and dirty(store, "replication")
    assert not dirty(store, "load")  # its value came from the backing store
    store.put("merged", "v", provenance=CallerProvenance.CRDT_MERGE)
    store.put("client", "v")
    assert sqlite.row_count("m") == 2
    store.put_backup("b1", Record("bv", RecordMetadata.new(0, 1)), CallerProvenance.CLIENT)
    store.put_backup("b2", Record("bv", RecordMetadata.new(0, 1)))
    assert sqlite.row_count("m", is_backup=True) == 1 and sqlite.load_backup("m", "b1") == "bv"
    assert sqlite.load("m", "b1") is None
    store.remove_backup("b1", CallerProvenance.CLIENT)
    assert sqlite.row_count(is_backup=True) == 0
    store.remove("client", CallerProvenance.REPLICATION)
    assert sqlite.load("m", "client") == "v"
    store.remove("merged", CallerProvenance.CRDT_MERGE)
    assert sqlite.load("m", "merged") is None


def test_remove_of_a_key_not_in_memory_returns_the_stored_value(
    sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    sqlite.add("m", "k", "stored", 0, 0)
    store, counter = make_store(sqlite, clock)
    assert store.remove("k") == "stored"
    assert sqlite.load("m", "k") is None
    assert store.get("k") is None


def test_ttl_is_stored_and_an_expired_row_is_not_loaded(sqlite: SQLiteDataStore, clock: ManualClock) -> None:
    store, counter = make_store(sqlite, clock)
    store.put("k", "v", ExpiryPolicy(ttl_millis=100))
    store.put("forever", "w")
    store.evict_all()
    clock.advance(100)
    assert store.get("k") is not None  # live at the deadline (reloaded)
    store.evict_all()
    clock.advance(1)
    assert store.get("k") is None
    assert store.get("forever") is not None


@pytest.mark.parametrize("kind", ["sqlite", "write_behind"])
@pytest.mark.parametrize("bad", [{1, 2}, object(), [1, {2}]], ids=["set", "object", "nested"])
def test_unsupported_value_is_refused_at_put_before_anything_changes(
    tmp_path: Path, clock: ManualClock, kind: str, bad: Any
) -> None:
    inner = SQLiteDataStore(tmp_path / "u.db", clock)
    ds: Any = inner if kind == "sqlite" else WriteBehindDataStore(inner, clock, 100)
    with ds:
        store, counter = make_store(ds, clock)
        store.put("k", "old")
        before = (dict(counter.counts), store.stats.as_dict(), ds.stats.copy())
        pending = ds.pending_operation_count()
        with pytest.raises(UnsupportedValueError, match="cannot store"):
            store.put("k", bad)
        with pytest.raises(UnsupportedValueError):
            store.put("new", bad)
        assert (dict(counter.counts), store.stats.as_dict(), ds.stats) == before
        assert ds.pending_operation_count() == pending
        assert store.get("k").value == "old"  # type: ignore[union-attr]
        assert not store.exists_in_memory("new") and store.size() == 1
        ds.hard_flush()
        assert inner.load("m", "k") == "old" and inner.load("m", "new") is None


# --- write-behind ------------------------------------------------------------------------------


@pytest.fixture
def wb(sqlite: SQLiteDataStore, clock: ManualClock) -> Iterator[WriteBehindDataStore]:
    with WriteBehindDataStore(sqlite, clock, write_delay_millis=1_000, close_inner=False) as w:
        yield w


def test_dirty_flag_is_truthful_across_write_behind_and_flush(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    store, _ = make_store(wb, clock)
    store.put("a", "v1")
    assert dirty(store, "a") and sqlite.load("m", "a") is None
    clock.advance(500)
    store.put("a", "v2")  # coalesced: still due at 11_000
    assert dirty(store, "a")
    clock.advance(500)
    assert wb.flush_due() == 1
    assert not dirty(store, "a") and sqlite.load("m", "a") == "v2"
    assert store.storage().get("a").metadata.last_stored_time == 11_000  # type: ignore[union-attr]
    store.put("a", "v3")
    assert dirty(store, "a")
    assert store.soft_flush() > 0
    wb.flush_due()
    assert not dirty(store, "a")


def test_a_write_queued_after_the_flushed_one_keeps_the_record_dirty(
    tmp_path: Path, clock: ManualClock
) -> None:
    inner = SQLiteDataStore(tmp_path / "nc.db", clock)
    with WriteBehindDataStore(inner, clock, 0, write_batch_size=1, write_coalescing=False) as w:
        store, _ = make_store(w, clock)
        store.put("a", "v1")
        store.put("a", "v2")
        assert [op.value for op in w.queued()] == ["v1", "v2"]
        w.flush_due(clock.now_millis())
        assert not dirty(store, "a")
        assert w.stats.write_batches == 2


def test_loaded_record_of_a_queued_key_is_dirty_until_stored(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    sqlite.add("m", "k", "stale row", 0, 0)
    store, counter = make_store(wb, clock)
    store.put("k", "newest")
    store.evict("k")
    record = store.get("k")
    assert record is not None and record.value == "newest"  # never the stale row
    assert counter.counts["load"] == 1 and record.metadata.is_dirty()
    wb.hard_flush()
    assert not record.metadata.is_dirty() and sqlite.load("m", "k") == "newest"


def test_queued_delete_hides_the_stored_row(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    sqlite.add("m", "k", "stored", 0, 0)
    store, _ = make_store(wb, clock)
    assert store.remove("k") == "stored"
    assert store.get("k") is None
    wb.hard_flush()
    assert sqlite.load("m", "k") is None and store.get("k") is None


@pytest.mark.parametrize("coalescing", [True, False])
def test_eviction_under_capacity_pressure_loses_nothing(
    tmp_path: Path, clock: ManualClock, coalescing: bool
) -> None:
    inner = SQLiteDataStore(tmp_path / "evict.db", clock)
    with WriteBehindDataStore(
        inner, clock, write_delay_millis=5_000, write_batch_size=16, write_coalescing=coalescing
    ) as w:
        store, counter = make_store(w, clock, max_entry_count=20)
        rng = np.random.default_rng(11)
        model: dict[int, Any] = {}
        for step in range(1_500):
            clock.advance(3)
            key = int(rng.zipf(1.3)) % 200
            if rng.random() < 0.1:
                store.remove(key)
                model.pop(key, None)
            else:
                value = SizedValue(64, tag=step)
                store.put(key, value)
                model[key] = value
            if step % 97 == 0:
                probe = int(rng.integers(200))
                got = store.get(probe)
                assert (got.value if got else None) == model.get(probe)  # no stale read
            if step % 400 == 0:
                w.flush_due()
            assert store.size() <= 20
        assert counter.counts["evict"] > 500
        assert w.stats.staged > 0  # dirty records left memory while their writes were queued
        for key in range(200):
            got = store.get(key)
            assert (got.value if got else None) == model.get(key)
        w.hard_flush()
        assert w.pending_operation_count() == 0
        assert dict(inner.load_all("m", range(200))) == model
        store.for_each(lambda k, r: None)
        assert not any(row["dirty"] for row in store.metadata_rows())


def test_ttl_expired_queued_write_is_not_served(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    sqlite.add("m", "k", "old row", 0, 0)
    store, counter = make_store(wb, clock)
    store.put("k", "short-lived", ExpiryPolicy(ttl_millis=100))
    clock.advance(101)
    assert store.get("k") is None  # expired in memory ...
    assert counter.counts["expire:ttl"] == 1
    assert store.get("k") is None  # ... and not loaded back, neither from the queue nor the row
    wb.hard_flush()
    assert store.get("k") is None and counter.counts["load"] == 0


def test_crdt_values_survive_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "crdt.db"
    lww = LwwValue({"name": "x"}, Timestamp(5, 1, "node-a"))
    ormap = OrMapValue((OrMapEntry(1, "t1", Timestamp(1)), OrMapEntry((2, 3), "t2", Timestamp(2))))
    tomb = OrTombstones(("t0",))
    with SQLiteDataStore(path, clock) as db:
        store, _ = make_store(db, clock)
        for key, value in (("lww", lww), ("ormap", ormap), ("tomb", tomb)):
            store.put(key, value, provenance=CallerProvenance.CRDT_MERGE)
        store.put("sized", SizedValue(10_000, tag=3))
    with SQLiteDataStore(path, clock) as db:
        store, _ = make_store(db, clock)
        assert store.get("lww").value == lww  # type: ignore[union-attr]
        assert store.get("ormap").value == ormap  # type: ignore[union-attr]
        assert store.get("tomb").value == tomb  # type: ignore[union-attr]
        assert store.get("sized").value == SizedValue(10_000, tag=3)  # type: ignore[union-attr]
        assert db.stats.keys_loaded == 4


def test_clear_hands_dirty_records_to_the_queue(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    store, _ = make_store(wb, clock)
    for i in range(5):
        store.put(i, i)
    assert store.clear() == 5
    assert [store.get(i).value for i in range(5)] == list(range(5))  # type: ignore[union-attr]
    wb.hard_flush()
    assert sqlite.row_count("m") == 5


def test_full_queue_refuses_put_and_remove_and_nothing_changes(tmp_path: Path, clock: ManualClock) -> None:
    inner = SQLiteDataStore(tmp_path / "full.db", clock)
    with WriteBehindDataStore(inner, clock, 1_000, write_coalescing=False, queue_capacity=4) as w:
        store, counter = make_store(w, clock)
        for i in range(4):
            store.put("k" if i % 2 else i, i)
        queued = [(op.key, op.value) for op in w.queued()]
        rows = store.metadata_rows()
        before = (dict(counter.counts), store.stats.as_dict())
        with pytest.raises(QueueFullError, match="queue is full"):
            store.put("k", "refused")
        with pytest.raises(QueueFullError):
            store.put("fresh", "refused")
        with pytest.raises(QueueFullError):
            store.remove("k")
        assert store.metadata_rows() == rows
        assert (dict(counter.counts), store.stats.as_dict()) == before
        assert [(op.key, op.value) for op in w.queued()] == queued
        assert store.get("k").value == 3  # type: ignore[union-attr]
        assert w.stats.refused == 3
        clock.advance(1_000)
        w.flush_due()
        store.put("k", "accepted")
        w.hard_flush()
        assert inner.load("m", "k") == "accepted"


def test_factory_partitions_share_one_write_behind_store(
    wb: WriteBehindDataStore, sqlite: SQLiteDataStore, clock: ManualClock
) -> None:
    factory = RecordStoreFactory(StorageConfig(), wb, clock=clock)
    p0, p1 = factory.create("m", 0), factory.create("m", 1)
    p0.put("a", "x")
    p1.put("b", "y")
    wb.hard_flush()
    assert not p0.storage().get("a").metadata.is_dirty()  # type: ignore[union-attr]
    assert not p1.storage().get("b").metadata.is_dirty()  # type: ignore[union-attr]
    assert dict(sqlite.load_all("m", ["a", "b"])) == {"a": "x", "b": "y"}


# --- restart and a killed process --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "write_behind"])
def test_restart_sees_everything_acknowledged(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "restart.db"
    clock = ManualClock(0)
    inner = SQLiteDataStore(path, clock)
    ds: Any = inner if kind == "sqlite" else WriteBehindDataStore(inner, clock, 60_000)
    with ds:
        store, _ = make_store(ds, clock)
        for i in range(100):
            store.put(i, {"n": i})
        store.remove(7)
    with SQLiteDataStore(path, clock) as again:
        store, counter = make_store(again, clock)
        assert store.get(7) is None
        for i in set(range(100)) - {7}:
            assert store.get(i).value == {"n": i}  # type: ignore[union-attr]
        assert counter.counts["load"] == 99


CHILD = textwrap.dedent(
    """
    import os, sys
    from toolkit import DefaultRecordStore, ManualClock
    from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore
    path, kind = sys.argv[1], sys.argv[2]
    clock = ManualClock(0)
    ds = SQLiteDataStore(path, clock)
    if kind == "write_behind":
        ds = WriteBehindDataStore(ds, clock, 60_000)
    store = DefaultRecordStore("m", data_store=ds, clock=clock)
    for i in range(300):
        store.put(i, ("value", i))
    if kind == "write_behind":
        ds.hard_flush()
    print("acknowledged", flush=True)
    os._exit(0)  # no close, no checkpoint, no atexit: as if killed
    """
)


@pytest.mark.parametrize("kind", ["sqlite", "write_behind"])
def test_process_killed_after_acknowledged_writes_loses_nothing(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "killed.db"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), kind],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == "acknowledged"
    assert Path(str(path) + "-wal").exists()  # the commits are still in the write-ahead log
    with SQLiteDataStore(path) as again:
        assert dict(again.load_all("m", range(300))) == {i: ("value", i) for i in range(300)}


# --- documentation and benchmark -------------------------------------------------------------


def test_documentation_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from .readme import code_blocks, section

    blocks = code_blocks(section("Persistence"))
    assert blocks, "the README's persistence section has no python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md (Persistence)", "exec"), {"__name__": "docs_example"})


def test_benchmark_script_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import bench_persistence
    finally:
        sys.path.remove(str(ROOT))
    bench_persistence.main(
        ["--ops", "1000", "--rounds", "1", "--dir", str(tmp_path), "--flusher-seconds", "0.2"]
    )
    out = capsys.readouterr().out
    assert "| write-behind" in out and "raw sqlite3" in out and "| bound: minimal" in out
    assert "a background flusher beside a writer" in out
    # the bound coalesces exactly as the write-behind store does: the same rows stored
    results = bench_persistence.run(2_000, 1, tmp_path)
    behind = results[bench_persistence.WRITE_BEHIND]
    bound = results[bench_persistence.MINIMAL]
    assert bound.rows == behind.rows < bound.puts == 2_000


# --- a loaded record keeps the stored expiration ---------------------------------------------


@pytest.mark.parametrize("behind", [False, True], ids=["write-through", "write-behind"])
def test_loaded_record_expires_when_the_stored_one_would(tmp_path: Path, behind: bool) -> None:
    clock = ManualClock(1_000)
    path = tmp_path / "ttl.db"
    inner = SQLiteDataStore(path, clock)
    ds: Any = WriteBehindDataStore(inner, clock, 50, 10) if behind else inner
    with ds:
        store = DefaultRecordStore("m", data_store=ds, clock=clock,
                                   config=StorageConfig(default_ttl_millis=60_000))
        store.put("k", "v", ExpiryPolicy(ttl_millis=500))  # stored to expire at 1_500
        store.evict("k")  # leaves memory (staged in the queue when writing behind)
        clock.advance(200)
        loaded = store.get("k")
        assert loaded is not None and loaded.value == "v"
        assert loaded.metadata.ttl_millis == 300  # not the store-wide 60 s
        clock.set(1_500)
        assert store.get("k") is not None  # strict: live at its deadline
        clock.advance(1)
        assert store.get("k") is None
        assert store.stats.expirations_ttl == 1


def test_loaded_record_without_stored_expiry_takes_the_store_default(tmp_path: Path) -> None:
    clock = ManualClock(1_000)
    with SQLiteDataStore(tmp_path / "plain.db", clock) as db:
        DefaultRecordStore("m", data_store=db, clock=clock).put("k", 1)
        fresh = DefaultRecordStore("m", data_store=db, clock=clock,
                                   config=StorageConfig(default_ttl_millis=700))
        loaded = fresh.get("k")
        assert loaded is not None and loaded.metadata.ttl_millis == 700
        assert db.load_entry("m", "k") == (1, 0)
        assert db.load_entry("m", "absent") is None
def test_keys_equal_in_python_are_one_row_in_every_store(tmp_path: Path) -> None:
    # Memory holds one record for True, 1 and 1.0: a store behind it must hold one row, or a
    # read through after eviction would find an older write (write-through) or none at all
    # (write-behind, coalesced under True and stored under another text).
    clock = ManualClock(0)
    for ds in (
        SQLiteDataStore(tmp_path / "wt.db", clock),
        WriteBehindDataStore(SQLiteDataStore(tmp_path / "wb.db", clock), clock, 0),
    ):
        with ds:
            rs = DefaultRecordStore("m", data_store=ds, clock=clock)
            rs.put(True, "a")
            rs.put(1, "b")
            rs.put(1.0, "c")
            ds.hard_flush()
            rs.evict(1)
            assert rs.get(1).value == "c"  # type: ignore[union-attr]
            ((_, value),) = ds.load_all("m", [1, True, 1.0])  # one row, whichever key asks
            assert value == "c"




class _StoresWhileQueuing(WriteBehindDataStore):
    """A write-behind store whose flusher stores each write before ``add`` returns: what a
    background flusher thread does when it runs between ``add`` and the record reaching
    memory."""

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        queued = super().add(map_name, key, value, expiration_time, now)
        self.flush_due(now)
        return queued


def test_a_write_stored_before_its_record_reaches_memory_is_clean() -> None:
    clock = ManualClock(0)
    with _StoresWhileQueuing(SQLiteDataStore(":memory:", clock), clock, 0) as ds:
        rs = DefaultRecordStore("m", data_store=ds, clock=clock)
        rs.put("k", "v1")  # insert
        rs.put("k", "v2")  # update
        record = rs.get("k")
        assert record is not None and not record.metadata.is_dirty()
        assert record.metadata.last_stored_time == 0 and ds.pending_operation_count() == 0


def test_a_loaded_record_expires_when_its_row_does(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with SQLiteDataStore(tmp_path / "exp.db", clock) as ds:
        rs = DefaultRecordStore("m", data_store=ds, clock=clock)
        for i, load_at in enumerate((40, 99, 100)):  # well before, 1 ms before, at expiry
            t0 = 1_000 * i
            clock.set(t0)
            rs.put("k", "v", ExpiryPolicy(ttl_millis=100))  # the row expires after t0 + 100
            rs.evict("k")
            clock.set(t0 + load_at)
            assert rs.get("k").value == "v"  # type: ignore[union-attr]
            clock.set(t0 + 100)
            assert rs.get("k") is not None, load_at
            clock.set(t0 + 101)
            assert rs.get("k") is None, load_at
            assert not rs.exists_in_memory("k")


def test_a_data_store_made_without_a_clock_reads_the_record_stores(tmp_path: Path) -> None:
    # Expiration times are written on the record store's clock: a store that compared them
    # with the system clock would find every row long expired.
    for ds in (
        SQLiteDataStore(tmp_path / "a.db"),
        WriteBehindDataStore(SQLiteDataStore(tmp_path / "b.db"), None, 0),
    ):
        with ds:
            clock = ManualClock(1_000)
            rs = DefaultRecordStore("m", data_store=ds, clock=clock)
            rs.put("t", "v", ExpiryPolicy(ttl_millis=60_000))
            ds.hard_flush()
            rs.evict("t")
            assert rs.get("t").value == "v"  # type: ignore[union-attr]
            clock.advance(60_001)
            rs.evict("t")
            assert rs.get("t") is None
    given = ManualClock(5)
    with SQLiteDataStore(tmp_path / "c.db", given) as ds:
        DefaultRecordStore("m", data_store=ds, clock=clock)
        assert ds._clock is given  # a store given a clock keeps it
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "d.db"), given) as wb:
        assert wb.inner._clock is given  # type: ignore[attr-defined]


class _FlushingEngine(HashMapStorage):
    """An engine that runs ``hook`` just before or just after each put: where a flusher
    thread may run while the record store puts or loads a record."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.before: Callable[[], None] | None = None
        self.after: Callable[[], None] | None = None

    def put(self, key: Any, record: Record) -> Record | None:
        if self.before is not None:
            self.before()
        old = super().put(key, record)
        if self.after is not None:
            self.after()
        return old


def _flusher_race_parts() -> tuple[DefaultRecordStore, WriteBehindDataStore, _FlushingEngine]:
    clock = ManualClock(0)
    wb = WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock, 0)
    engine = _FlushingEngine()
    rs = DefaultRecordStore("m", engine=engine, data_store=wb, clock=clock)
    return rs, wb, engine


def test_a_reset_while_put_is_under_way_leaves_the_record_dirty() -> None:
    # reset() (from another thread) drops the write put has just queued: the queue is then
    # empty, and is_loadable's True must not read as "stored".
    rs, wb, engine = _flusher_race_parts()
    with wb:
        engine.after = wb.reset
        rs.put("k", 1)
        engine.after = None
        md = rs.get("k").metadata  # type: ignore[union-attr]
        assert md.is_dirty() and wb.reset_epoch == 2 and wb.inner.load("m", "k") is None


def test_a_reset_while_a_queued_value_is_loaded_leaves_the_record_dirty() -> None:
    rs, wb, engine = _flusher_race_parts()
    with wb:
        rs.put("k", 1)
        engine.remove("k")  # evicted: its write stays queued
        engine.after = wb.reset  # after get() loaded the queued value, before it is marked
        record = rs.get("k")
        engine.after = None
        assert record is not None and record.value == 1 and record.metadata.is_dirty()
        assert wb.reset_epoch == 2 and wb.inner.load("m", "k") is None


def test_an_update_stored_right_after_it_reaches_memory_is_clean() -> None:
    # The flusher stores the update once the record is in the engine but before its version
    # is set: its listener marks version 0, then the update makes it version 1.
    rs, wb, engine = _flusher_race_parts()
    with wb:
        rs.put("k", 1)
        wb.flush_due(0)
        engine.after = lambda: wb.flush_due(0)
        rs.put("k", 2)
        engine.after = None
        md = rs.get("k").metadata  # type: ignore[union-attr]
        assert md.version == 1 and not md.is_dirty() and wb.pending_operation_count() == 0


def test_a_record_loaded_while_its_write_is_stored_is_clean() -> None:
    # get() loads an evicted key from the queue, and the flusher stores that write before
    # the loaded record is in the engine: its listener finds no record to mark.
    rs, wb, engine = _flusher_race_parts()
    with wb:
        rs.put("k", "v")
        rs.evict("k")
        engine.before = lambda: wb.flush_due(0)
        record = rs.get("k")
        engine.before = None
        assert record is not None and record.value == "v"
        assert not record.metadata.is_dirty() and wb.pending_operation_count() == 0


def test_a_record_rewritten_with_the_same_object_stays_dirty_while_queued() -> None:
    # The flusher decided to notify for the stored write of 7, then the owner put 7 again
    # (the same int object) before the record store's listener ran: the record in memory is
    # the new write, still queued, so it must stay dirty.
    clock = ManualClock(0)
    wb = WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock, 10)
    with wb:
        holder: list[DefaultRecordStore] = []

        def put_again_once(key: Any, value: Any, now: int) -> None:
            if len(holder) == 1:
                holder.append(holder[0])
                holder[0].put(key, value)

        wb.add_stored_listener("m", put_again_once)
        rs = DefaultRecordStore("m", data_store=wb, clock=clock)
        holder.append(rs)
        rs.put("k", 7)
        clock.set(10)
        wb.flush_due()  # stores 7; the first listener puts 7 again, queued until t = 20
        assert wb.pending_operation_count() == 1
        assert rs.get("k").metadata.is_dirty()  # type: ignore[union-attr]


# --- a reference model: nothing acknowledged is lost, no read is stale ------------------------

from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

PM_KEYS = ["a", "b", "c", "d", "e"]


class PersistentStoreMachine(RuleBasedStateMachine):
    """A record store of three entries (sampled LRU) over write-behind over SQLite, on a manual
    clock, against a model that keeps only each key's last client write and its expiry time.

    Whatever memory does (eviction, TTL and max-idle expiry, the sweep, evicting everything,
    a clean restart) and whenever the flusher runs, a read returns the model's live value: the
    newest write unless its TTL has passed; a dirty record is one whose write is still queued;
    and once everything is flushed the database holds exactly the model's live values.
    """

    coalescing = True

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(1_000)
        self.sqlite = SQLiteDataStore(":memory:", self.clock)
        self.model: dict[str, tuple[int, int] | None] = {}  # key -> (value, expires at; 0 never)
        self.counter = 0
        self.restarts = 0

    @initialize()
    def open(self) -> None:
        self._open()

    def _open(self) -> None:
        self.wb = WriteBehindDataStore(
            self.sqlite, self.clock, 100, 2, write_coalescing=self.coalescing, close_inner=False
        )
        self.store = DefaultRecordStore(
            "m", 0, data_store=self.wb, clock=self.clock,
            config=StorageConfig(max_entry_count=3, sampling_seed=self.restarts),
        )

    def live(self, key: str) -> int | None:
        entry = self.model.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires and self.clock.now_millis() > expires:
            return None
        return value

    @rule(key=st.sampled_from(PM_KEYS), ttl=st.sampled_from([0, 0, 50, 300]),
          idle=st.sampled_from([0, 0, 40]))
    def put(self, key: str, ttl: int, idle: int) -> None:
        self.counter += 1
        previous = self.store.put(key, self.counter, ExpiryPolicy(ttl, idle))
        assert previous in (None, self.live(key))  # None: not in memory (no load on put)
        now = self.clock.now_millis()
        self.model[key] = (self.counter, now + ttl if ttl else 0)

    @rule(key=st.sampled_from(PM_KEYS))
    def get(self, key: str) -> None:
        record = self.store.get(key, touch=True)
        assert (record.value if record is not None else None) == self.live(key), key

    @rule(key=st.sampled_from(PM_KEYS))
    def remove(self, key: str) -> None:
        assert self.store.remove(key) == self.live(key), key
        self.model[key] = None

    @rule(ms=st.sampled_from([1, 20, 45, 120, 400]))
    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule()
    def flush_due(self) -> None:
        self.wb.flush_due()

    @rule()
    def sweep(self) -> None:
        self.store.evict_expired(100, self.clock.now_millis())

    @rule()
    def evict_all(self) -> None:
        self.store.evict_all()

    @precondition(lambda self: self.restarts < 3)
    @rule()
    def restart(self) -> None:
        self.wb.close()  # a clean shutdown: everything queued is stored
        assert self.wb.pending_operation_count() == 0
        self.restarts += 1
        self._open()

    @invariant()
    def dirty_exactly_while_queued(self) -> None:
        for key in PM_KEYS:
            record = self.store.storage().get(key)
            if record is not None:
                assert record.metadata.is_dirty() == (not self.wb.is_loadable(key, "m")), key

    @invariant()
    def within_capacity(self) -> None:
        assert self.store.size() <= 3

    def teardown(self) -> None:
        if not hasattr(self, "wb"):
            return
        self.wb.close()
        for key in PM_KEYS:
            assert self.sqlite.load("m", key) == self.live(key), key
        self.sqlite.close()


class NonCoalescingPersistentStoreMachine(PersistentStoreMachine):
    coalescing = False


_PM_SETTINGS = settings(max_examples=60, stateful_step_count=50, deadline=None)
TestPersistentStoreMachine = PersistentStoreMachine.TestCase
TestPersistentStoreMachine.settings = _PM_SETTINGS
TestNonCoalescingPersistentStoreMachine = NonCoalescingPersistentStoreMachine.TestCase
TestNonCoalescingPersistentStoreMachine.settings = _PM_SETTINGS
