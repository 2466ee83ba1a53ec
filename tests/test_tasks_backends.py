"""The StorageBackend contract, run against every backend (one mixin, one subclass each), the
backends' own promises, and concurrency through the task store on every backend."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from toolkit import DefaultRecordStore, ManualClock, StorageConfig
from toolkit.errors import ConfigError, InvalidArgumentError
from toolkit.tasks import (
    ConcurrentModification,
    GenericTaskStore,
    InMemoryBackend,
    KeyNotFound,
    NotFound,
    RecordStoreBackend,
    SQLiteBackend,
    StorageBackend,
    TaskSecurityConfig,
    VersionConflict,
    VersionedRecord,
)

T0 = 1_767_225_600_000


class BackendContract:
    """What every StorageBackend promises. Subclasses say how to build one."""

    def make_backend(self, clock: ManualClock, tmp_path: Path) -> StorageBackend:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock(T0)

    @pytest.fixture
    def backend(self, clock: ManualClock, tmp_path: Path) -> Iterator[StorageBackend]:
        backend = self.make_backend(clock, tmp_path)
        yield backend
        if isinstance(backend, SQLiteBackend):
            backend.close()

    def test_is_a_storage_backend(self, backend: StorageBackend) -> None:
        assert isinstance(backend, StorageBackend)

    def test_missing_key(self, backend: StorageBackend) -> None:
        with pytest.raises(KeyNotFound, match="'k'") as info:
            backend.get("k")
        assert info.value.key == "k"

    def test_versions_start_at_one_and_grow_by_one(self, backend: StorageBackend) -> None:
        assert backend.put("k", b"v1") == 1
        assert backend.get("k") == VersionedRecord(b"v1", 1)
        assert backend.put("k", b"v2") == 2
        assert backend.put_if_version("k", b"v3", 2) == 3
        assert backend.put("k", b"v4", expires_at_ms=T0 + 5) == 4
        assert backend.get("k") == VersionedRecord(b"v4", 4)
        assert backend.put("other", b"x") == 1

    def test_conflict_changes_nothing(self, backend: StorageBackend) -> None:
        backend.put("k", b"a")
        backend.put("k", b"b")
        for stale in (1, 3, 0):
            with pytest.raises(VersionConflict) as info:
                backend.put_if_version("k", b"lost", stale)
            assert (info.value.key, info.value.expected, info.value.actual) == ("k", stale, 2)
        assert backend.get("k") == VersionedRecord(b"b", 2)
        with pytest.raises(KeyNotFound):
            backend.put_if_version("absent", b"x", 1)
        with pytest.raises(KeyNotFound):
            backend.get("absent")

    def test_delete_true_then_false(self, backend: StorageBackend) -> None:
        backend.put("k", b"a")
        backend.put("k", b"b")
        assert backend.delete("k") is True
        assert backend.delete("k") is False
        with pytest.raises(KeyNotFound):
            backend.get("k")
        assert backend.put("k", b"new") == 1

    def test_bytes_are_stored_verbatim(self, backend: StorageBackend) -> None:
        payload = bytes(range(256)) + b"\x00"
        backend.put("k", payload)
        assert backend.get("k").data == payload
        backend.put("e", b"")
        assert backend.get("e").data == b""

    def test_list_by_prefix(self, backend: StorageBackend) -> None:
        for key in ["a:2", "a:1", "ab:1", "a%3Ab:1", "b:1", "A:1", "a"]:
            backend.put(key, key.encode())
        backend.put("a:1", b"again")
        listed = backend.list_by_prefix("a:")
        assert listed == [
            ("a:1", VersionedRecord(b"again", 2)),
            ("a:2", VersionedRecord(b"a:2", 1)),
        ]
        assert [k for k, _ in backend.list_by_prefix("a")] == ["a", "a%3Ab:1", "a:1", "a:2", "ab:1"]
        assert len(backend.list_by_prefix("")) == 7
        assert backend.list_by_prefix("zzz") == []
        assert [k for k, _ in backend.list_by_prefix("a%")] == ["a%3Ab:1"]
        assert [k for k, _ in backend.list_by_prefix("a_")] == []  # no LIKE wildcards

    def test_cleanup_expired(self, backend: StorageBackend, clock: ManualClock) -> None:
        backend.put("gone", b"1", expires_at_ms=T0 + 10)
        backend.put("edge", b"2", expires_at_ms=T0 + 20)
        backend.put("never", b"3")
        backend.put("renewed", b"4", expires_at_ms=T0 + 10)
        backend.put_if_version("renewed", b"5", 1, expires_at_ms=T0 + 1000)
        backend.put("cleared", b"6", expires_at_ms=T0 + 10)
        backend.put("cleared", b"7")
        assert backend.cleanup_expired(T0 + 10) == 0  # strict: expired only after the time
        assert backend.cleanup_expired(T0 + 20) == 1
        assert [k for k, _ in backend.list_by_prefix("")] == [
            "cleared",
            "edge",
            "never",
            "renewed",
        ]
        clock.set(T0 + 21)
        assert backend.cleanup_expired() == 1  # default: the backend's clock
        assert [k for k, _ in backend.list_by_prefix("")] == ["cleared", "never", "renewed"]
        assert backend.cleanup_expired() == 0

    def test_expired_records_are_still_served(self, backend: StorageBackend) -> None:
        backend.put("k", b"x", expires_at_ms=T0 - 1)
        assert backend.get("k").data == b"x"
        assert [k for k, _ in backend.list_by_prefix("")] == ["k"]

    def test_bad_arguments(self, backend: StorageBackend) -> None:
        with pytest.raises(InvalidArgumentError, match="keys must be str"):
            backend.put(1, b"x")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="bytes"):
            backend.put("k", "text")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="expires_at_ms"):
            backend.put("k", b"x", expires_at_ms=-1)
        with pytest.raises(InvalidArgumentError, match="expected_version"):
            backend.put_if_version("k", b"x", "1")  # type: ignore[arg-type]
        with pytest.raises(KeyNotFound):
            backend.get("k")  # nothing was written

    def test_concurrent_cas_increments_lose_nothing(self, backend: StorageBackend) -> None:
        backend.put("counter", b"0")
        threads, rounds = 8, 25
        barrier = threading.Barrier(threads)
        conflicts = [0] * threads

        def work(index: int) -> None:
            barrier.wait()
            for _ in range(rounds):
                while True:
                    current = backend.get("counter")
                    nxt = str(int(current.data) + 1).encode()
                    try:
                        backend.put_if_version("counter", nxt, current.version)
                        break
                    except VersionConflict:
                        conflicts[index] += 1

        run_threads(threads, work)
        final = backend.get("counter")
        assert int(final.data) == threads * rounds
        assert final.version == 1 + threads * rounds


def run_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def wrapped(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


class TestInMemoryBackend(BackendContract):
    def make_backend(self, clock: ManualClock, tmp_path: Path) -> StorageBackend:
        return InMemoryBackend(clock=clock)


class TestSQLiteMemoryBackend(BackendContract):
    def make_backend(self, clock: ManualClock, tmp_path: Path) -> StorageBackend:
        return SQLiteBackend(":memory:", clock=clock)


class TestSQLiteFileBackend(BackendContract):
    def make_backend(self, clock: ManualClock, tmp_path: Path) -> StorageBackend:
        return SQLiteBackend(tmp_path / "tasks.db", clock=clock)


class TestRecordStoreBackend(BackendContract):
    def make_backend(self, clock: ManualClock, tmp_path: Path) -> StorageBackend:
        return RecordStoreBackend(DefaultRecordStore("tasks", clock=clock))


# --- backend-specific promises ----------------------------------------------------------------


def test_in_memory_capacity() -> None:
    from toolkit.tasks import CapacityExceeded

    backend = InMemoryBackend(max_records=1)
    backend.put("a", b"1")
    backend.put("a", b"2")  # overwriting is not growth
    with pytest.raises(CapacityExceeded, match="max_records is 1"):
        backend.put("b", b"1")
    assert len(backend) == 1


def test_sqlite_file_persists_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SQLiteBackend(path) as first:
        first.put("k", b"a")
        first.put("k", b"b", expires_at_ms=5)
    with SQLiteBackend(path) as second:
        assert second.get("k") == VersionedRecord(b"b", 2)
        assert second.put_if_version("k", b"c", 2, expires_at_ms=5) == 3
        assert second.cleanup_expired(6) == 1


def test_two_sqlite_connections_on_one_file_conflict(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SQLiteBackend(path) as a, SQLiteBackend(path) as b:
        a.put("k", b"0")
        seen = b.get("k")
        a.put_if_version("k", b"1", seen.version)
        with pytest.raises(VersionConflict) as info:
            b.put_if_version("k", b"lost", seen.version)
        assert (info.value.expected, info.value.actual) == (1, 2)
        assert a.get("k").data == b"1"


def test_sqlite_rejects_a_bad_table_name() -> None:
    with pytest.raises(InvalidArgumentError, match="'x; DROP'"):
        SQLiteBackend(":memory:", table="x; DROP")


def test_record_store_backend_uses_the_record_version_and_ttl() -> None:
    clock = ManualClock(T0)
    rs = DefaultRecordStore("tasks", clock=clock)
    backend = RecordStoreBackend(rs, retention_ms=500)
    assert backend.put("k", b"a", expires_at_ms=T0 + 1000) == 1
    record = rs.get("k")
    assert record is not None
    assert record.value == (b"a", T0 + 1000)
    assert record.metadata.version == 0
    assert record.metadata.ttl_millis == 1000 + 500
    clock.advance(100)
    assert backend.put_if_version("k", b"b", 1, expires_at_ms=T0 + 1000) == 2
    record = rs.get("k")
    assert record is not None and record.metadata.version == 1
    assert record.metadata.ttl_millis == 900 + 500  # TTL restarts at each write
    assert backend.put("n", b"x") == 1
    never = rs.get("n")
    assert never is not None and never.metadata.ttl_millis == 0


def test_record_store_backend_keeps_expired_tasks_for_the_retention() -> None:
    clock = ManualClock(T0)
    backend = RecordStoreBackend(DefaultRecordStore("tasks", clock=clock), retention_ms=500)
    store = GenericTaskStore(backend, clock=clock)
    tid = store.create("alice", "m", ttl_ms=1000).task.task_id
    clock.advance(1001)
    assert store.get(tid, "alice").is_expired(clock.now_millis())  # expired, still served
    clock.advance(499)
    assert store.get(tid, "alice").task.task_id == tid  # last moment of the retention
    clock.advance(1)
    with pytest.raises(NotFound):  # the record store dropped it by itself
        store.get(tid, "alice")
    assert store.list("alice").tasks == []


def test_record_store_backend_sweep_counts_records_past_retention() -> None:
    clock = ManualClock(T0)
    rs = DefaultRecordStore("tasks", clock=clock)
    backend = RecordStoreBackend(rs, retention_ms=0)
    backend.put("a", b"1", expires_at_ms=T0 + 10)
    backend.put("b", b"2", expires_at_ms=T0 + 1000)
    clock.advance(11)
    assert backend.cleanup_expired() == 1
    assert rs.size() == 1


def test_record_store_backend_refuses_stores_that_drop_live_tasks() -> None:
    evicting = DefaultRecordStore("t", config=StorageConfig(max_entry_count=10))
    with pytest.raises(ConfigError, match="never evicts"):
        RecordStoreBackend(evicting)
    idle = DefaultRecordStore("t", config=StorageConfig(default_max_idle_millis=5))
    with pytest.raises(ConfigError, match="default_max_idle_millis=5"):
        RecordStoreBackend(idle)
    with pytest.raises(InvalidArgumentError, match="retention_ms"):
        RecordStoreBackend(DefaultRecordStore("t"), retention_ms=-1)
    unbounded = DefaultRecordStore("t", config=StorageConfig(max_entry_count=10,
                                                             eviction_policy="none"))
    assert RecordStoreBackend(unbounded).retention_ms == 3_600_000


# --- concurrency through the task store, on every backend -------------------------------------


BACKEND_KINDS = ["memory", "sqlite-memory", "sqlite-file", "record-store"]


@pytest.fixture(params=BACKEND_KINDS)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GenericTaskStore]:
    clock = ManualClock(T0)
    backend: StorageBackend
    if request.param == "memory":
        backend = InMemoryBackend(clock=clock)
    elif request.param == "sqlite-memory":
        backend = SQLiteBackend(":memory:", clock=clock)
    elif request.param == "sqlite-file":
        backend = SQLiteBackend(tmp_path / "tasks.db", clock=clock)
    else:
        backend = RecordStoreBackend(DefaultRecordStore("tasks", clock=clock))
    yield GenericTaskStore(backend, clock=clock,
                           security=TaskSecurityConfig(max_tasks_per_owner=1000))
    if isinstance(backend, SQLiteBackend):
        backend.close()


def test_sixteen_threads_each_writing_its_own_variable(shared_store: GenericTaskStore) -> None:
    tid = shared_store.create("alice", "m").task.task_id
    threads, writes = 16, 10
    barrier = threading.Barrier(threads)
    acknowledged: list[list[int]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        barrier.wait()
        for n in range(writes):
            while True:
                try:
                    shared_store.set_variables(tid, "alice", {f"v{index}": n})
                    acknowledged[index].append(n)
                    break
                except ConcurrentModification:
                    continue

    run_threads(threads, work)
    final = shared_store.get(tid, "alice")
    assert final.variables == {f"v{i}": writes - 1 for i in range(threads)}
    assert all(acks == list(range(writes)) for acks in acknowledged)
    assert final.version == 1 + threads * writes


def test_read_modify_write_with_expected_version_loses_no_acknowledged_write(
    shared_store: GenericTaskStore,
) -> None:
    tid = shared_store.create("alice", "m").task.task_id
    shared_store.set_variables(tid, "alice", {"n": 0})
    threads, rounds = 8, 20
    barrier = threading.Barrier(threads)
    acks = [0] * threads

    def work(index: int) -> None:
        barrier.wait()
        for _ in range(rounds):
            while True:
                seen = shared_store.get(tid, "alice")
                try:
                    shared_store.set_variables(
                        tid, "alice", {"n": seen.variables["n"] + 1},
                        expected_version=seen.version,
                    )
                    acks[index] += 1
                    break
                except ConcurrentModification:
                    continue

    run_threads(threads, work)
    final = shared_store.get(tid, "alice")
    assert final.variables["n"] == sum(acks) == threads * rounds


def test_concurrent_creates_and_transitions(shared_store: GenericTaskStore) -> None:
    """Many owners at once: every task ends where its owner put it, and no listing leaks."""
    owners = [f"owner:{i}" for i in range(8)]

    def work(index: int) -> None:
        owner = owners[index]
        for _ in range(5):
            tid = shared_store.create(owner, "m").task.task_id
            shared_store.update_status(tid, owner, "input_required")
            shared_store.complete_with_result(tid, owner, "completed", None, index)

    run_threads(len(owners), work)
    for index, owner in enumerate(owners):
        tasks = shared_store.list(owner).tasks
        assert len(tasks) == 5
        assert {r.owner_id for r in tasks} == {owner}
        assert all(shared_store.get_result(r.task.task_id, owner) == index for r in tasks)
