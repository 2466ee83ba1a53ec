"""Property tests of the task store: transition sequences, the variable merge, the record
JSON round trip, the key scheme, and a state machine against a reference model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from toolkit import ManualClock
from toolkit.tasks import (
    ConcurrentModification,
    Expired,
    GenericTaskStore,
    InMemoryBackend,
    InvalidTransition,
    NotFound,
    StoreConfig,
    Task,
    TaskRecord,
    TaskSecurityConfig,
    TaskStatus,
    owner_prefix,
    split_key,
    task_key,
)
from toolkit.tasks.timestamps import format_timestamp, parse_timestamp
from toolkit.tasks.variables import merge_variables

T0 = 1_767_225_600_000
LOOSE = StoreConfig(max_variable_depth=64)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
names = st.text(min_size=1, max_size=4)
updates = st.dictionaries(names, st.none() | json_values, max_size=5)
owners = st.text(alphabet=st.sampled_from("ab:%3A/é "), min_size=1, max_size=5)


def new_store() -> tuple[GenericTaskStore, ManualClock]:
    clock = ManualClock(T0)
    store = GenericTaskStore(
        InMemoryBackend(clock=clock),
        clock=clock,
        config=LOOSE,
        security=TaskSecurityConfig(max_tasks_per_owner=1000, allow_anonymous=True),
    )
    return store, clock


@given(st.lists(st.sampled_from(list(TaskStatus)), max_size=12))
def test_random_transition_sequences_end_in_the_expected_state(
    targets: list[TaskStatus],
) -> None:
    store, _ = new_store()
    rec = store.create("alice", "m")
    tid = rec.task.task_id
    expected = TaskStatus.WORKING
    version = rec.version
    for target in targets:
        legal = expected in (TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED) and target != expected
        try:
            out = store.update_status(tid, "alice", target)
        except InvalidTransition:
            assert not legal
        else:
            assert legal
            expected = target
            version += 1
            assert out.version == version
    final = store.get(tid, "alice")
    assert final.task.status is expected
    assert final.version == version


@given(st.lists(updates, max_size=6))
def test_random_variable_maps_merge_as_specified(batches: list[dict[str, Any]]) -> None:
    store, _ = new_store()
    tid = store.create("alice", "m").task.task_id
    model: dict[str, Any] = {}
    for batch in batches:
        for name, value in batch.items():
            if value is None:
                model.pop(name, None)
            else:
                model[name] = value
        assert store.set_variables(tid, "alice", batch).variables == model
    assert store.get(tid, "alice").variables == model


@given(st.dictionaries(names, json_values), updates)
def test_merge_variables_never_changes_its_inputs(
    current: dict[str, Any], incoming: dict[str, Any]
) -> None:
    before = (repr(current), repr(incoming))
    merged = merge_variables(current, incoming)
    assert (repr(current), repr(incoming)) == before
    for name, value in incoming.items():
        if value is None:
            assert name not in merged
        else:
            assert merged[name] is value
    for name in current.keys() - incoming.keys():
        assert merged[name] is current[name]


stamps = st.integers(min_value=0, max_value=253_402_300_799_999).map(format_timestamp)
tasks = st.builds(
    Task,
    task_id=st.text(max_size=40),
    status=st.sampled_from(list(TaskStatus)),
    created_at=stamps,
    last_updated_at=stamps,
    status_message=st.none() | st.text(max_size=20),
    ttl=st.none() | st.integers(min_value=0, max_value=10**12),
    poll_interval=st.none() | st.integers(min_value=0, max_value=10**6),
)
records = st.builds(
    TaskRecord,
    task=tasks,
    owner_id=st.text(max_size=20),
    variables=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    result=json_values,
    request_method=st.text(max_size=20),
    expires_at=st.integers(min_value=0, max_value=253_402_300_799_999),
    version=st.integers(min_value=0, max_value=10**9),
)


@given(records)
def test_records_round_trip_through_json(record: TaskRecord) -> None:
    data = record.to_json_bytes()
    back = TaskRecord.from_json_bytes(data, version=record.version)
    assert back == record
    assert back.to_json_bytes() == data  # the same record gives the same bytes


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_timestamps_round_trip(millis: int) -> None:
    assert parse_timestamp(format_timestamp(millis)) == millis


@given(owners, owners, st.text(max_size=8))
def test_keys_are_one_to_one_and_prefixes_are_exact(a: str, b: str, task: str) -> None:
    key = task_key(a, task)
    assert split_key(key) == (a, task)
    assert key.startswith(owner_prefix(b)) == (a == b)


class TaskStoreMachine(RuleBasedStateMachine):
    """Random operations by random owners (ids full of separators) against a model."""

    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.store, self.clock = new_store()
        self.model: dict[str, dict[str, Any]] = {}

    @rule(target=tasks, owner=owners, ttl=st.integers(min_value=1, max_value=50))
    def create(self, owner: str, ttl: int) -> str:
        rec = self.store.create(owner, "m", ttl_ms=ttl)
        self.model[rec.task.task_id] = {
            "owner": owner,
            "status": TaskStatus.WORKING,
            "variables": {},
            "version": 1,
            "expires_at": rec.expires_at,
        }
        return rec.task.task_id

    @rule(tid=tasks, owner=owners, status=st.sampled_from(list(TaskStatus)))
    def update(self, tid: str, owner: str, status: TaskStatus) -> None:
        m = self.model.get(tid)
        try:
            self.store.update_status(tid, owner, status)
        except NotFound:
            assert m is None or m["owner"] != owner
        except Expired:
            assert m is not None and self.clock.now_millis() > m["expires_at"]
        except InvalidTransition:
            assert m is not None and not m["status"].can_transition_to(status)
        else:
            assert m is not None and m["owner"] == owner
            assert self.clock.now_millis() <= m["expires_at"]
            assert m["status"].can_transition_to(status)
            m["status"] = status
            m["version"] += 1

    @rule(tid=tasks, owner=owners, batch=updates)
    def set_variables(self, tid: str, owner: str, batch: dict[str, Any]) -> None:
        m = self.model.get(tid)
        try:
            self.store.set_variables(tid, owner, batch)
        except NotFound:
            assert m is None or m["owner"] != owner
        except Expired:
            assert m is not None and self.clock.now_millis() > m["expires_at"]
        else:
            assert m is not None and m["owner"] == owner
            m["variables"] = merge_variables(m["variables"], batch)
            m["version"] += 1

    @rule(tid=tasks, stale=st.integers(min_value=1, max_value=3))
    def stale_write(self, tid: str, stale: int) -> None:
        m = self.model.get(tid)
        if m is None or self.clock.now_millis() > m["expires_at"] or stale == m["version"]:
            return
        try:
            self.store.set_variables(tid, m["owner"], {"x": 1}, expected_version=stale)
        except ConcurrentModification as exc:
            assert exc.actual_version == m["version"]
        else:
            raise AssertionError("a stale expected_version was accepted")

    @rule(millis=st.integers(min_value=0, max_value=30))
    def advance(self, millis: int) -> None:
        self.clock.advance(millis)

    @rule()
    def cleanup(self) -> None:
        now = self.clock.now_millis()
        gone = [t for t, m in self.model.items() if now > m["expires_at"]]
        assert self.store.cleanup_expired() == len(gone)
        for t in gone:
            del self.model[t]

    @invariant()
    def store_matches_model(self) -> None:
        by_owner: dict[str, set[str]] = {}
        for tid, m in self.model.items():
            rec = self.store.get(tid, m["owner"])
            assert (rec.task.status, rec.variables, rec.version) == (
                m["status"],
                m["variables"],
                m["version"],
            )
            by_owner.setdefault(m["owner"], set()).add(tid)
        for owner, tids in by_owner.items():
            assert {r.task.task_id for r in self.store.list(owner, limit=1000).tasks} == tids


TaskStoreMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25)
TestTaskStoreMachine = TaskStoreMachine.TestCase
