"""The task store (toolkit.tasks): lifecycle, owner isolation, limits, TTL, merge, pagination,
CAS error mapping and the canonical record form. Backend contract: test_tasks_backends.py."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit import DefaultRecordStore, ManualClock
from toolkit.errors import ConfigError, InvalidArgumentError, ToolkitError
from toolkit.tasks import (
    ANONYMOUS_OWNERS,
    AccessDenied,
    BackendError,
    ConcurrentModification,
    Expired,
    GenericTaskStore,
    InMemoryBackend,
    InvalidInput,
    InvalidTransition,
    KeyNotFound,
    NotFound,
    NotReady,
    RecordStoreBackend,
    ResourceExhausted,
    SQLiteBackend,
    StorageBackend,
    StorageFull,
    StoreConfig,
    StoreError,
    Task,
    TaskError,
    TaskRecord,
    TaskSecurityConfig,
    TaskStatus,
    VariableSizeExceeded,
    VersionConflict,
    VersionedRecord,
    owner_prefix,
    split_key,
    task_key,
)
from toolkit.tasks.timestamps import format_timestamp, parse_timestamp

from .readme import code_blocks, section

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
WK, IR, CO, FA, CA = (
    TaskStatus.WORKING,
    TaskStatus.INPUT_REQUIRED,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)
ALLOWED = {
    WK: {IR, CO, FA, CA},
    IR: {WK, CO, FA, CA},
    CO: set(),
    FA: set(),
    CA: set(),
}
BACKENDS = ["memory", "sqlite-memory", "sqlite-file", "record-store"]


def make_backend(kind: str, clock: ManualClock, tmp_path: Path) -> StorageBackend:
    if kind == "memory":
        return InMemoryBackend(clock=clock)
    if kind == "sqlite-memory":
        return SQLiteBackend(":memory:", clock=clock)
    if kind == "sqlite-file":
        return SQLiteBackend(tmp_path / "tasks.db", clock=clock)
    if kind == "record-store":
        return RecordStoreBackend(DefaultRecordStore("tasks", clock=clock), retention_ms=10_000)
    raise AssertionError(kind)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store(clock: ManualClock) -> GenericTaskStore:
    """A store on the in-memory backend (rules that do not depend on the backend)."""
    return GenericTaskStore(InMemoryBackend(clock=clock), clock=clock)


@pytest.fixture(params=BACKENDS)
def any_store(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> Iterator[GenericTaskStore]:
    """The same store on every backend."""
    backend = make_backend(request.param, clock, tmp_path)
    yield GenericTaskStore(backend, clock=clock)
    if isinstance(backend, SQLiteBackend):
        backend.close()


def to_status(store: GenericTaskStore, task_id: str, owner: str, status: TaskStatus) -> None:
    """Bring a fresh (working) task to ``status``."""
    if status is not WK:
        store.update_status(task_id, owner, status)


# --- status and the lifecycle --------------------------------------------------------------------


def test_status_values_are_lowercase_wire_names() -> None:
    assert [s.value for s in TaskStatus] == [
        "working",
        "input_required",
        "completed",
        "failed",
        "cancelled",
    ]
    assert TaskStatus("input_required") is IR


@pytest.mark.parametrize("status", list(TaskStatus))
def test_is_terminal(status: TaskStatus) -> None:
    assert status.is_terminal() == (status in {CO, FA, CA})


@pytest.mark.parametrize("source", list(TaskStatus))
@pytest.mark.parametrize("target", list(TaskStatus))
def test_transition_matrix(
    store: GenericTaskStore, source: TaskStatus, target: TaskStatus
) -> None:
    allowed = target in ALLOWED[source]
    assert source.can_transition_to(target) == allowed
    rec = store.create("alice", "tools/call")
    tid = rec.task.task_id
    to_status(store, tid, "alice", source)
    before = store.get(tid, "alice")
    if allowed:
        after = store.update_status(tid, "alice", target, "moved")
        assert after.task.status is target
        assert after.task.status_message == "moved"
        assert after.version == before.version + 1
        assert store.get(tid, "alice") == after
    else:
        with pytest.raises(InvalidTransition) as info:
            store.update_status(tid, "alice", target)
        err = info.value
        assert (err.from_status, err.to_status) == (source.value, target.value)
        word = "terminal" if source.is_terminal() else "already"
        assert word in err.suggested_action
        assert source.value in str(err) and target.value in str(err)
        assert store.get(tid, "alice") == before


def test_status_given_by_name_and_unknown_status_named(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    assert store.update_status(tid, "alice", "input_required").task.status is IR
    with pytest.raises(InvalidInput, match="'paused'"):
        store.update_status(tid, "alice", "paused")


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "max_variable_size_bytes",
        "default_ttl_ms",
        "max_ttl_ms",
        "max_variable_depth",
        "max_string_length",
    ],
)
@pytest.mark.parametrize("bad", [0, -1, True, "10", 1.5])
def test_store_config_refuses_bad_values(field: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        StoreConfig(**{field: bad})
    assert repr(bad) in str(info.value)


def test_store_config_defaults_and_ttl_order() -> None:
    cfg = StoreConfig()
    assert (
        cfg.max_variable_size_bytes,
        cfg.default_ttl_ms,
        cfg.max_ttl_ms,
        cfg.max_variable_depth,
        cfg.max_string_length,
    ) == (1_048_576, 3_600_000, 86_400_000, 10, 65_536)
    with pytest.raises(ConfigError, match="default_ttl_ms .5000. must not exceed max_ttl_ms"):
        StoreConfig(default_ttl_ms=5000, max_ttl_ms=4000)


def test_security_config_validation() -> None:
    sec = TaskSecurityConfig()
    assert (sec.max_tasks_per_owner, sec.allow_anonymous) == (100, False)
    with pytest.raises(ConfigError, match="max_tasks_per_owner"):
        TaskSecurityConfig(max_tasks_per_owner=0)
    with pytest.raises(ConfigError, match="allow_anonymous.*'yes'"):
        TaskSecurityConfig(allow_anonymous="yes")  # type: ignore[arg-type]


def test_store_constructor_validation(clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="StorageBackend"):
        GenericTaskStore(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="StoreConfig"):
        GenericTaskStore(InMemoryBackend(), config={"max_ttl_ms": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="TaskSecurityConfig"):
        GenericTaskStore(InMemoryBackend(), security=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="now_millis"):
        GenericTaskStore(InMemoryBackend(), clock=object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="poll_interval_ms"):
        GenericTaskStore(InMemoryBackend(), poll_interval_ms=-1)
    s = GenericTaskStore(InMemoryBackend(), clock=clock)
    assert isinstance(s.backend, InMemoryBackend)


# --- create and get ------------------------------------------------------------------------------


def test_create_fills_every_field(any_store: GenericTaskStore, clock: ManualClock) -> None:
    rec = any_store.create("alice", "tools/call", ttl_ms=60_000)
    task = rec.task
    assert uuid.UUID(task.task_id).version == 4
    assert task.status is WK
    assert task.created_at == task.last_updated_at == "2026-01-01T00:00:00.000Z"
    assert (task.ttl, task.poll_interval, task.status_message) == (60_000, 500, None)
    assert (rec.owner_id, rec.request_method, rec.variables, rec.result) == (
        "alice",
        "tools/call",
        {},
        None,
    )
    assert rec.expires_at == T0 + 60_000
    assert rec.version == 1
    assert any_store.get(task.task_id, "alice") == rec


def test_create_uses_defaults_and_the_injected_clock(clock: ManualClock) -> None:
    store = GenericTaskStore(InMemoryBackend(), clock=clock, poll_interval_ms=250)
    clock.advance(1234)
    rec = store.create("bob", "m")
    assert rec.task.created_at == "2026-01-01T00:00:01.234Z"
    assert rec.task.ttl == 3_600_000
    assert rec.task.poll_interval == 250
    assert rec.expires_at == T0 + 1234 + 3_600_000
    clock.advance(5)
    updated = store.update_status(rec.task.task_id, "bob", IR)
    assert updated.task.last_updated_at == "2026-01-01T00:00:01.239Z"
    assert updated.task.created_at == rec.task.created_at


def test_ids_are_unique(store: GenericTaskStore) -> None:
    ids = {store.create("alice", "m").task.task_id for _ in range(50)}
    assert len(ids) == 50


def test_get_unknown_task_is_not_found(any_store: GenericTaskStore) -> None:
    with pytest.raises(NotFound, match="'nope'") as info:
        any_store.get("nope", "alice")
    assert info.value.task_id == "nope"


@pytest.mark.parametrize("owner", sorted(ANONYMOUS_OWNERS))
def test_anonymous_owners_refused_unless_allowed(clock: ManualClock, owner: str) -> None:
    strict = GenericTaskStore(InMemoryBackend(), clock=clock)
    with pytest.raises(AccessDenied, match=repr(owner)):
        strict.create(owner, "m")
    assert strict.list(owner).tasks == []
    lenient = GenericTaskStore(
        InMemoryBackend(), clock=clock, security=TaskSecurityConfig(allow_anonymous=True)
    )
    rec = lenient.create(owner, "m")
    assert lenient.get(rec.task.task_id, owner).owner_id == owner


def test_owner_and_method_must_be_text(store: GenericTaskStore) -> None:
    with pytest.raises(InvalidInput, match="owner_id"):
        store.create(7, "m")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="request_method"):
        store.create("alice", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="owner_id"):
        store.create("bad\ud800", "m")
    with pytest.raises(InvalidInput, match="task_id"):
        store.get(3, "alice")  # type: ignore[arg-type]


# --- limits --------------------------------------------------------------------------------------


def test_per_owner_limit_counts_expired_tasks_until_cleanup(clock: ManualClock) -> None:
    store = GenericTaskStore(
        InMemoryBackend(clock=clock),
        clock=clock,
        security=TaskSecurityConfig(max_tasks_per_owner=3),
    )
    for _ in range(2):
        store.create("alice", "m", ttl_ms=1000)
    store.create("alice", "m", ttl_ms=10_000)
    with pytest.raises(ResourceExhausted, match="3 tasks; max_tasks_per_owner is 3") as info:
        store.create("alice", "m")
    assert (info.value.count, info.value.limit) == (3, 3)
    store.create("bob", "m")  # other owners are unaffected
    store.create("alice:x", "m")  # nor is an owner whose id extends alice's
    clock.advance(1001)
    with pytest.raises(ResourceExhausted):
        store.create("alice", "m")
    assert store.cleanup_expired() == 2
    store.create("alice", "m")
    assert len(store.list("alice").tasks) == 2


@pytest.mark.parametrize("bad", [0, -5, True, 1.5, "60"])
def test_bad_ttl_refused(store: GenericTaskStore, bad: Any) -> None:
    with pytest.raises(InvalidInput, match="ttl_ms"):
        store.create("alice", "m", ttl_ms=bad)
    assert store.list("alice").tasks == []


def test_ttl_over_the_maximum_is_refused_not_clamped(clock: ManualClock) -> None:
    store = GenericTaskStore(
        InMemoryBackend(), clock=clock, config=StoreConfig(default_ttl_ms=100, max_ttl_ms=5000)
    )
    with pytest.raises(InvalidInput, match="ttl_ms 5001 exceeds max_ttl_ms 5000"):
        store.create("alice", "m", ttl_ms=5001)
    assert store.list("alice").tasks == []
    assert store.create("alice", "m", ttl_ms=5000).task.ttl == 5000
    assert store.create("alice", "m").task.ttl == 100


def test_backend_capacity_is_storage_full(clock: ManualClock) -> None:
    store = GenericTaskStore(InMemoryBackend(max_records=2), clock=clock)
    store.create("alice", "m")
    store.create("bob", "m")
    with pytest.raises(StorageFull, match="max_records is 2"):
        store.create("carol", "m")
    assert store.list("carol").tasks == []


# --- TTL and expiry ------------------------------------------------------------------------------


def test_expiry_is_strict_and_refuses_every_mutation(
    any_store: GenericTaskStore, clock: ManualClock
) -> None:
    rec = any_store.create("alice", "m", ttl_ms=1000)
    tid = rec.task.task_id
    clock.advance(1000)  # at expires_at: still live
    live = any_store.set_variables(tid, "alice", {"a": 1})
    assert not live.is_expired(clock.now_millis())
    clock.advance(1)
    got = any_store.get(tid, "alice")  # get returns the expired record; the caller checks
    assert got == live
    assert got.is_expired(clock.now_millis())
    mutations: list[Callable[[], object]] = [
        lambda: any_store.update_status(tid, "alice", CO),
        lambda: any_store.set_variables(tid, "alice", {"b": 2}),
        lambda: any_store.set_result(tid, "alice", {"r": 1}),
        lambda: any_store.complete_with_result(tid, "alice", CO, "done", 1),
        lambda: any_store.cancel(tid, "alice"),
    ]
    for mutate in mutations:
        with pytest.raises(Expired, match=str(rec.expires_at)) as info:
            mutate()
        assert info.value.task_id == tid
    assert any_store.get(tid, "alice") == live
    assert [r.task.task_id for r in any_store.list("alice").tasks] == [tid]
    assert any_store.cleanup_expired() == 1
    with pytest.raises(NotFound):
        any_store.get(tid, "alice")
    assert any_store.cleanup_expired() == 0


def test_cleanup_keeps_live_tasks(any_store: GenericTaskStore, clock: ManualClock) -> None:
    short = any_store.create("alice", "m", ttl_ms=10).task.task_id
    long = any_store.create("bob", "m", ttl_ms=10_000).task.task_id
    clock.advance(11)
    assert any_store.cleanup_expired() == 1
    assert any_store.get(long, "bob").task.task_id == long
    with pytest.raises(NotFound):
        any_store.get(short, "alice")


# --- owner isolation -----------------------------------------------------------------------------


def test_every_operation_with_a_wrong_owner_is_not_found(any_store: GenericTaskStore) -> None:
    rec = any_store.create("alice", "m")
    tid = rec.task.task_id
    any_store.complete_with_result(tid, "alice", CO, "done", {"x": 1})
    before = any_store.get(tid, "alice")
    operations: list[Callable[[str], object]] = [
        lambda o: any_store.get(tid, o),
        lambda o: any_store.update_status(tid, o, CO),
        lambda o: any_store.set_variables(tid, o, {"a": 1}),
        lambda o: any_store.set_result(tid, o, 1),
        lambda o: any_store.get_result(tid, o),
        lambda o: any_store.complete_with_result(tid, o, CO, "x", 1),
        lambda o: any_store.cancel(tid, o),
    ]
    for owner in ["mallory", "alice:", "Alice", "alice ", "%61lice", "alic"]:
        for operation in operations:
            with pytest.raises(NotFound) as info:
                operation(owner)
            message = str(info.value)
            assert tid in message
            assert "alice" not in message.lower() and owner.strip() not in message
        assert any_store.list(owner).tasks == []
    assert any_store.get(tid, "alice") == before


SEPARATOR_OWNERS = ["a", "a:b", "a:", ":a", "a%3Ab", "a%", "a:b:c", "a/b", "ä:ö", " a"]


def test_owner_ids_with_separators_are_isolated(any_store: GenericTaskStore) -> None:
    made = {owner: any_store.create(owner, "m").task.task_id for owner in SEPARATOR_OWNERS}
    for owner, tid in made.items():
        listed = [r.task.task_id for r in any_store.list(owner).tasks]
        assert listed == [tid], owner
        assert any_store.get(tid, owner).owner_id == owner
        for other in SEPARATOR_OWNERS:
            if other != owner:
                with pytest.raises(NotFound):
                    any_store.get(tid, other)
                with pytest.raises(NotFound):
                    any_store.set_variables(tid, other, {"stolen": True})


def test_task_ids_with_separators_cannot_reach_another_owner(any_store: GenericTaskStore) -> None:
    tid = any_store.create("a:b", "m").task.task_id
    # Under the naive scheme "{owner}:{task}", owner "a" asking for task "b:<tid>" would
    # build the key "a:b:<tid>", which is the key of owner "a:b"'s task.
    for owner, forged in [("a", f"b:{tid}"), ("a", f"b%3A{tid}"), ("a:b:", tid)]:
        with pytest.raises(NotFound):
            any_store.get(forged, owner)


def test_keys_escape_the_separator() -> None:
    assert task_key("a", "t") == "a:t"
    assert task_key("a:b", "t") == "a%3Ab:t"
    assert not task_key("a:b", "t").startswith(owner_prefix("a"))
    assert split_key(task_key("a:b", "x:y")) == ("a:b", "x:y")
    assert split_key("a:b:c") is None
    assert split_key("a%3a:t") is None  # not canonical: lower-case escape
    assert split_key("plain") is None


def test_record_of_another_owner_under_a_forged_key_is_not_served(
    clock: ManualClock,
) -> None:
    """Defence in depth: the owner in the record is checked after decoding."""
    backend = InMemoryBackend()
    store = GenericTaskStore(backend, clock=clock)
    rec = store.create("bob", "m")
    tid = rec.task.task_id
    backend.put(task_key("alice", tid), backend.get(task_key("bob", tid)).data)
    with pytest.raises(NotFound):
        store.get(tid, "alice")
    with pytest.raises(NotFound):
        store.set_variables(tid, "alice", {"a": 1})
    assert store.list("alice").tasks == []
    # and a record whose task id differs from the one in its key is not served either
    backend.put(task_key("bob", "other"), backend.get(task_key("bob", tid)).data)
    with pytest.raises(NotFound):
        store.get("other", "bob")
    assert [r.task.task_id for r in store.list("bob").tasks] == [tid]


# --- variables -----------------------------------------------------------------------------------


def test_merge_sets_and_deletes_on_a_copy(any_store: GenericTaskStore) -> None:
    tid = any_store.create("alice", "m").task.task_id
    first = {"a": 1, "b": [1, 2], "c": {"d": None}}
    r1 = any_store.set_variables(tid, "alice", first)
    assert r1.variables == {"a": 1, "b": [1, 2], "c": {"d": None}}
    assert r1.version == 2
    second = {"b": None, "e": "x", "missing": None}
    r2 = any_store.set_variables(tid, "alice", second)
    assert r2.variables == {"a": 1, "c": {"d": None}, "e": "x"}
    assert second == {"b": None, "e": "x", "missing": None}  # input untouched
    assert first == {"a": 1, "b": [1, 2], "c": {"d": None}}
    assert r1.variables == {"a": 1, "b": [1, 2], "c": {"d": None}}  # earlier record untouched
    assert any_store.get(tid, "alice").variables == r2.variables
    assert any_store.set_variables(tid, "alice", {}).version == r2.version + 1


def test_variable_size_limit_counts_the_merged_map(clock: ManualClock) -> None:
    store = GenericTaskStore(
        InMemoryBackend(), clock=clock, config=StoreConfig(max_variable_size_bytes=30)
    )
    tid = store.create("alice", "m").task.task_id
    r1 = store.set_variables(tid, "alice", {"a": "x" * 10})  # {"a":"xxxxxxxxxx"}: 18 bytes
    fill = {"b": "y" * 5}  # merged: {"a":"xxxxxxxxxx","b":"yyyyy"}: 30 bytes, the limit
    assert len(json.dumps({**r1.variables, **fill}, separators=(",", ":"))) == 30
    r2 = store.set_variables(tid, "alice", fill)
    with pytest.raises(VariableSizeExceeded, match="31 bytes.*_size_bytes is 30") as info:
        store.set_variables(tid, "alice", {"b": "y" * 6})
    assert (info.value.size_bytes, info.value.limit_bytes, info.value.task_id) == (31, 30, tid)
    assert store.get(tid, "alice") == r2  # nothing committed
    # deleting makes room: the check is on the merged map
    r3 = store.set_variables(tid, "alice", {"a": None, "b": "y" * 20})
    assert r3.variables == {"b": "y" * 20}


def test_size_counts_utf8_bytes(clock: ManualClock) -> None:
    store = GenericTaskStore(
        InMemoryBackend(), clock=clock, config=StoreConfig(max_variable_size_bytes=12)
    )
    tid = store.create("alice", "m").task.task_id
    store.set_variables(tid, "alice", {"a": "éé"})  # {"a":"éé"}: 10 chars, 12 bytes
    with pytest.raises(VariableSizeExceeded):
        store.set_variables(tid, "alice", {"a": "ééé"})


def nest(depth: int, kind: str, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        if kind == "list" or (kind == "mixed" and i % 2):
            value = [value]
        else:
            value = {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict", "mixed"])
def test_depth_bombs(store: GenericTaskStore, kind: str) -> None:
    tid = store.create("alice", "m").task.task_id
    ok = store.set_variables(tid, "alice", {"deep": nest(10, kind)})
    assert ok.variables["deep"] == nest(10, kind)
    with pytest.raises(InvalidInput, match="more than 10 levels.*max_variable_depth is 10"):
        store.set_variables(tid, "alice", {"deeper": nest(11, kind)})
    with pytest.raises(InvalidInput, match="'bomb'"):
        store.set_variables(tid, "alice", {"bomb": nest(100_000, kind)})
    with pytest.raises(InvalidInput, match="result"):
        store.set_result(tid, "alice", nest(11, kind))
    assert store.get(tid, "alice") == ok


def test_depth_limit_is_configurable_and_cycles_are_refused(clock: ManualClock) -> None:
    config = StoreConfig(max_variable_depth=2)
    store = GenericTaskStore(InMemoryBackend(), clock=clock, config=config)
    tid = store.create("alice", "m").task.task_id
    store.set_variables(tid, "alice", {"v": [[1], {"a": 2}, []]})
    with pytest.raises(InvalidInput, match="more than 2 levels"):
        store.set_variables(tid, "alice", {"v": [[[1]]]})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidInput):
        store.set_variables(tid, "alice", {"loop": cyclic})


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s,
        lambda s: [1, [2, [s]]],
        lambda s: {"a": {"b": [s]}},
        lambda s: [{"k": s}],
        lambda s: {s: 1},
        lambda s: [{"ok": 1, s: 2}],
    ],
    ids=["top", "nested-list", "nested-object", "object-in-list", "key", "key-in-list"],
)
def test_long_strings_anywhere_are_refused(clock: ManualClock, make: Any) -> None:
    config = StoreConfig(max_string_length=50)
    store = GenericTaskStore(InMemoryBackend(), clock=clock, config=config)
    tid = store.create("alice", "m").task.task_id
    ok = store.set_variables(tid, "alice", {"v": make("x" * 50)})
    with pytest.raises(InvalidInput, match="51 characters; max_string_length is 50"):
        store.set_variables(tid, "alice", {"v": make("x" * 51)})
    with pytest.raises(InvalidInput, match="51 characters"):
        store.set_result(tid, "alice", make("x" * 51))
    assert store.get(tid, "alice") == ok


def test_default_string_limit(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    store.set_variables(tid, "alice", {"v": ["x" * 65_536]})
    with pytest.raises(InvalidInput, match="65537 characters"):
        store.set_variables(tid, "alice", {"v": [{"w": "x" * 65_537}]})
    with pytest.raises(InvalidInput, match="variable name"):
        store.set_variables(tid, "alice", {"n" * 65_537: 1})


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1, 2}, float("nan"), float("inf"), object(), b"bytes", {1: "int key"}, "\ud800"],
    ids=["tuple", "set", "nan", "inf", "object", "bytes", "int-key", "surrogate"],
)
def test_non_json_values_are_refused(store: GenericTaskStore, value: Any) -> None:
    tid = store.create("alice", "m").task.task_id
    with pytest.raises(InvalidInput):
        store.set_variables(tid, "alice", {"v": [value]})
    assert store.get(tid, "alice").version == 1


def test_variables_must_be_a_mapping_with_str_names(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    with pytest.raises(InvalidInput, match="mapping"):
        store.set_variables(tid, "alice", [("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="names must be str"):
        store.set_variables(tid, "alice", {1: "a"})  # type: ignore[dict-item]


# --- results -------------------------------------------------------------------------------------


def test_result_lifecycle(any_store: GenericTaskStore) -> None:
    tid = any_store.create("alice", "m").task.task_id
    with pytest.raises(NotReady, match="not in a terminal status"):
        any_store.get_result(tid, "alice")
    any_store.set_result(tid, "alice", {"partial": True})
    with pytest.raises(NotReady, match="'working'"):
        any_store.get_result(tid, "alice")
    any_store.update_status(tid, "alice", CO)
    assert any_store.get_result(tid, "alice") == {"partial": True}


def test_terminal_without_result_is_not_ready(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    store.update_status(tid, "alice", FA, "boom")
    with pytest.raises(NotReady, match="no result was stored"):
        store.get_result(tid, "alice")


def test_complete_with_result_is_one_write(any_store: GenericTaskStore) -> None:
    tid = any_store.create("alice", "m").task.task_id
    rec = any_store.complete_with_result(tid, "alice", CO, "all done", [1, 2, 3])
    assert rec.version == 2
    assert (rec.task.status, rec.task.status_message, rec.result) == (CO, "all done", [1, 2, 3])
    assert any_store.get(tid, "alice") == rec
    assert any_store.get_result(tid, "alice") == [1, 2, 3]
    with pytest.raises(InvalidTransition, match="terminal"):
        any_store.complete_with_result(tid, "alice", FA, "again", "other")
    assert any_store.get_result(tid, "alice") == [1, 2, 3]


def test_complete_with_result_needs_a_terminal_status(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    with pytest.raises(InvalidInput, match="terminal status.*'input_required'"):
        store.complete_with_result(tid, "alice", IR, None, 1)
    assert store.get(tid, "alice").version == 1


def test_result_checks(clock: ManualClock) -> None:
    store = GenericTaskStore(
        InMemoryBackend(), clock=clock, config=StoreConfig(max_variable_size_bytes=10)
    )
    tid = store.create("alice", "m").task.task_id
    with pytest.raises(InvalidInput, match="None"):
        store.set_result(tid, "alice", None)
    with pytest.raises(VariableSizeExceeded, match="result"):
        store.set_result(tid, "alice", "x" * 20)
    with pytest.raises(VariableSizeExceeded, match="result"):
        store.complete_with_result(tid, "alice", CO, None, "x" * 20)
    assert store.get(tid, "alice").version == 1


def test_cancel_and_status_message(store: GenericTaskStore) -> None:
    tid = store.create("alice", "m").task.task_id
    r1 = store.update_status(tid, "alice", IR, "need input")
    assert r1.task.status_message == "need input"
    r2 = store.update_status(tid, "alice", WK)
    assert r2.task.status_message is None
    r3 = store.cancel(tid, "alice", "user asked")
    assert (r3.task.status, r3.task.status_message) == (CA, "user asked")
    with pytest.raises(InvalidTransition, match="terminal"):
        store.cancel(tid, "alice")
    with pytest.raises(InvalidInput, match="status_message"):
        store.update_status(tid, "alice", CO, 5)  # type: ignore[arg-type]


# --- pagination ----------------------------------------------------------------------------------


def test_pagination_newest_first_without_overlap(
    any_store: GenericTaskStore, clock: ManualClock
) -> None:
    made = []
    for _ in range(5):
        made.append(any_store.create("alice", "m").task.task_id)
        clock.advance(1)
    any_store.create("bob", "m")
    pages = []
    cursor = None
    while True:
        page = any_store.list("alice", cursor=cursor, limit=2)
        pages.append([r.task.task_id for r in page.tasks])
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.tasks[-1].task.task_id
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [t for p in pages for t in p]
    assert flat == list(reversed(made))
    assert len(set(flat)) == 5
    whole = any_store.list("alice")
    assert [r.task.task_id for r in whole.tasks] == flat and whole.next_cursor is None
    exact = any_store.list("alice", limit=5)
    assert len(exact.tasks) == 5 and exact.next_cursor is None


def test_same_millisecond_tasks_are_ordered_by_id(store: GenericTaskStore) -> None:
    ids = [store.create("alice", "m").task.task_id for _ in range(6)]
    assert [r.task.task_id for r in store.list("alice").tasks] == sorted(ids, reverse=True)
    first = store.list("alice", limit=4)
    second = store.list("alice", cursor=first.next_cursor, limit=4)
    assert len(first.tasks) == 4 and len(second.tasks) == 2 and second.next_cursor is None


def test_list_argument_checks(store: GenericTaskStore) -> None:
    assert store.list("nobody").tasks == [] and store.list("nobody").next_cursor is None
    store.create("alice", "m")
    with pytest.raises(InvalidInput, match="unknown cursor 'zzz'"):
        store.list("alice", cursor="zzz")
    for bad in (0, -1, True, "2"):
        with pytest.raises(InvalidInput, match="limit"):
            store.list("alice", limit=bad)  # type: ignore[arg-type]


# --- compare-and-swap ----------------------------------------------------------------------------


class AlwaysConflicts(InMemoryBackend):
    """Every compare-and-swap finds a newer version."""

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        raise VersionConflict(key, expected_version, expected_version + 7)


def test_a_backend_that_always_conflicts_yields_concurrent_modification(
    clock: ManualClock,
) -> None:
    store = GenericTaskStore(AlwaysConflicts(), clock=clock)
    rec = store.create("alice", "m")
    tid = rec.task.task_id
    mutations: list[Callable[[], object]] = [
        lambda: store.update_status(tid, "alice", IR),
        lambda: store.set_variables(tid, "alice", {"a": 1}),
        lambda: store.set_result(tid, "alice", 1),
        lambda: store.complete_with_result(tid, "alice", CO, None, 1),
        lambda: store.cancel(tid, "alice"),
    ]
    for mutate in mutations:
        with pytest.raises(ConcurrentModification, match="version 1, found version 8") as e:
            mutate()
        assert (e.value.task_id, e.value.expected_version, e.value.actual_version) == (tid, 1, 8)
        assert "alice" not in str(e.value)
    assert store.get(tid, "alice") == rec


def test_expected_version_makes_read_modify_write_safe(any_store: GenericTaskStore) -> None:
    tid = any_store.create("alice", "m").task.task_id
    seen = any_store.get(tid, "alice")
    any_store.set_variables(tid, "alice", {"n": 1})  # someone else writes
    with pytest.raises(ConcurrentModification) as info:
        any_store.set_variables(tid, "alice", {"n": 100}, expected_version=seen.version)
    assert (info.value.expected_version, info.value.actual_version) == (1, 2)
    assert any_store.get(tid, "alice").variables == {"n": 1}
    fresh = any_store.get(tid, "alice")
    done = any_store.set_variables(tid, "alice", {"n": 2}, expected_version=fresh.version)
    assert done.version == 3
    with pytest.raises(InvalidInput, match="expected_version"):
        any_store.cancel(tid, "alice", expected_version=0)


class VanishesOnWrite(InMemoryBackend):
    """The record disappears between the store's read and its write."""

    def put_if_version(
        self, key: str, data: bytes, expected_version: int, *, expires_at_ms: int | None = None
    ) -> int:
        self.delete(key)
        raise KeyNotFound(key)


class Broken(InMemoryBackend):
    def get(self, key: str) -> VersionedRecord:
        raise BackendError("connection reset")


def test_backend_failures_map_to_task_errors(clock: ManualClock, tmp_path: Path) -> None:
    vanishing = GenericTaskStore(VanishesOnWrite(), clock=clock)
    tid = vanishing.create("alice", "m").task.task_id
    with pytest.raises(NotFound):
        vanishing.set_variables(tid, "alice", {"a": 1})
    broken = GenericTaskStore(Broken(), clock=clock)
    with pytest.raises(StoreError, match="connection reset") as info:
        broken.get("t", "alice")
    assert info.value.__cause__ is not None
    backend = SQLiteBackend(tmp_path / "t.db")
    sq = GenericTaskStore(backend, clock=clock)
    tid = sq.create("alice", "m").task.task_id
    backend.close()
    with pytest.raises(StoreError):
        sq.get(tid, "alice")


def test_corrupt_records_are_store_errors(clock: ManualClock) -> None:
    backend = InMemoryBackend()
    store = GenericTaskStore(backend, clock=clock)
    backend.put(task_key("alice", "t1"), b"\xff not json")
    with pytest.raises(StoreError, match="'t1' is corrupt"):
        store.get("t1", "alice")
    backend.put(task_key("alice", "t2"), b'{"task": 3}')
    with pytest.raises(StoreError, match="'t2' is corrupt"):
        store.get("t2", "alice")
    with pytest.raises(StoreError):
        store.list("alice")


# --- records and their JSON ----------------------------------------------------------------------


def sample_record() -> TaskRecord:
    task = Task("t-1", IR, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.500Z", "hi", 1000, 500)
    return TaskRecord(task, "alice", {"b": [1, 2.5, None], "a": {"z": True}}, {"r": "é"}, "m",
                      T0 + 1000, 9)


def test_record_json_uses_camel_case_and_omits_the_version() -> None:
    rec = sample_record()
    obj = json.loads(rec.to_json_bytes())
    assert set(obj) == {"task", "ownerId", "variables", "result", "requestMethod", "expiresAt"}
    assert set(obj["task"]) == {
        "taskId",
        "status",
        "createdAt",
        "lastUpdatedAt",
        "statusMessage",
        "ttl",
        "pollInterval",
    }
    assert obj["expiresAt"] == "2026-01-01T00:00:01.000Z"
    assert obj["task"]["status"] == "input_required"
    assert b"version" not in rec.to_json_bytes()


def test_record_json_is_deterministic_and_round_trips() -> None:
    rec = sample_record()
    data = rec.to_json_bytes()
    assert data == rec.to_json_bytes()
    reordered = TaskRecord(rec.task, rec.owner_id, {"a": {"z": True}, "b": [1, 2.5, None]},
                           rec.result, rec.request_method, rec.expires_at, 3)
    assert reordered.to_json_bytes() == data
    assert b" " not in data  # compact
    back = TaskRecord.from_json_bytes(data, version=9)
    assert back == rec
    assert TaskRecord.from_json_bytes(data).version == 0


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"task": {}}', b"\xff", b"[" * 100_000],
)
def test_malformed_record_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        TaskRecord.from_json_bytes(data)


def test_timestamps() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(T0) == "2026-01-01T00:00:00.000Z"
    assert format_timestamp(T0 + 86_399_999) == "2026-01-01T23:59:59.999Z"
    assert parse_timestamp("2026-01-01T23:59:59.999Z") == T0 + 86_399_999
    bad_stamps = [
        "2026-01-01T00:00:00Z",
        "2026-01-01 00:00:00.000Z",
        "x",
        "2026-01-01T00:00:00.000+00:00",
    ]
    for bad in bad_stamps:
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_timestamp(bad)
    with pytest.raises(ValueError):
        format_timestamp(-1)


def test_error_hierarchy_and_messages() -> None:
    for cls in (NotFound, Expired, InvalidTransition, NotReady, ResourceExhausted,
                VariableSizeExceeded, ConcurrentModification, StorageFull, StoreError,
                AccessDenied, InvalidInput):
        assert issubclass(cls, TaskError)
    assert issubclass(TaskError, ToolkitError)
    assert issubclass(InvalidInput, InvalidArgumentError)
    err = ConcurrentModification("t9", 4, 6)
    assert (err.task_id, err.expected_version, err.actual_version) == ("t9", 4, 6)
    assert "'t9'" in str(err) and "4" in str(err) and "6" in str(err)
    conflict = VersionConflict("k", 1, 2)
    assert (conflict.key, conflict.expected, conflict.actual) == ("k", 1, 2)


# --- the documentation's example runs ------------------------------------------------------------


def test_docs_examples_run() -> None:
    blocks = code_blocks(section("The task store"))
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md (The task store)", "exec"), {"__name__": "docs_tasks"})
