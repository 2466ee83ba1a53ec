"""Layer 3: the codec, one contract suite run against every data store, and the specifics of
the SQLite write-through store and the write-behind queue."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from toolkit import (
    DataStoreError,
    DataStoreStats,
    DefaultRecordStore,
    InvalidArgumentError,
    ManualClock,
    MapDataStore,
    NullDataStore,
    QueueFullError,
    SimClock,
    UnsupportedValueError,
)
from toolkit.datastores import (
    SQLiteDataStore,
    StoreOp,
    WriteBehindDataStore,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    flush_process,
    sqlite_store,
)
from toolkit.datastores.codec import MAX_DEPTH, check_value, encode_plain
from toolkit.datastores.write_behind import _Queued
from toolkit.records import (
    LwwValue,
    OrMapEntry,
    OrMapValue,
    OrTombstones,
    SizedValue,
    Timestamp,
)

# --- values every persistent store must round-trip -------------------------------------------

SAMPLE_VALUES: list[Any] = [
    "text",
    "",
    "ünïcødé \u2603 \ud800",  # a lone surrogate too
    0,
    -(10**30),
    1.5,
    -0.0,
    float("inf"),
    True,
    False,
    [1, "two", None, [3.0]],
    {"a": 1, "b": [True, None]},
    {"$looks_tagged": 1},
    {"$tuple": [1, 2]},
    {1: "int key", (2, "t"): "tuple key", "s": "str key"},
    (1, (2, [3]), "x"),
    (),
    b"\x00\xffbytes",
    SizedValue(4096, tag=7),
    Timestamp(10, 2, "node-a"),
    LwwValue({"nested": [1, (2,)]}, Timestamp(5, 1, "n1")),
    OrMapEntry(b"v", "tag-1", Timestamp(3)),
    OrMapValue((OrMapEntry(1, "t1", Timestamp(1)), OrMapEntry({"x": 2}, "t2", Timestamp(2, 1)))),
    OrTombstones(("t1", "t2")),
]

UNSUPPORTED_VALUES: list[Any] = [
    {1, 2},
    frozenset({1}),
    object(),
    1j,
    bytearray(b"x"),
    np.int64(3),
    [1, {2}],
    {"k": object()},
]


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same types, all the way down (so 1 and True, or [] and () differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


# --- codec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", SAMPLE_VALUES, ids=lambda v: type(v).__name__)
def test_codec_round_trips_every_supported_type(value: Any) -> None:
    text = encode_value(value)
    assert isinstance(text, str)
    assert same_value(decode_value(text), value)


def test_codec_round_trips_nan() -> None:
    assert math.isnan(decode_value(encode_value(float("nan"))))
    assert decode_value(encode_value(float("-inf"))) == float("-inf")


def test_codec_is_canonical() -> None:
    assert encode_value({"b": 1, "a": 2}) == encode_value({"a": 2, "b": 1}) == '{"a":2,"b":1}'
    assert encode_value({2: "x", 1: "y"}) == encode_value({1: "y", 2: "x"})
    assert encode_value([1, 2]) != encode_value((1, 2))
    assert encode_value(1) != encode_value(True) != encode_value(1.0)
    assert encode_value(SizedValue(10, 1)) == '{"$sized":[10,1]}'


def test_codec_values_beyond_orjson_fall_back_to_the_standard_encoder() -> None:
    # Ints beyond 64 bits and lone surrogates are outside orjson; the value still round-trips.
    for value in ([2**64, -(2**70)], {"big": 10**40}, ["\ud800"], {"s": "\udfff x"}):
        assert same_value(decode_value(encode_value(value)), value)
    assert encode_value({"é": "ü"}) == '{"é":"ü"}'  # values: UTF-8 text


def test_codec_key_text_stays_ascii_escaped() -> None:
    # Keys are database keys: their text must not change between versions of the encoder.
    assert encode_key(("é", 1)) == '{"$tuple":["\\u00e9",1]}'
    assert encode_key("é") == '"\\u00e9"'
    assert encode_key((1.5e-7,)) == '{"$tuple":[1.5e-07]}'
    assert encode_key((0.25,)) == '{"$tuple":[0.25]}'


def test_codec_keys_equal_in_python_are_one_key() -> None:
    # A dict holds one of True, 1 and 1.0 (and of 0.0, -0.0 and 0): the store must too, or a
    # write under one and a read under another would see different rows.
    assert encode_key(True) == encode_key(1) == encode_key(1.0) == "1"
    assert encode_key(False) == encode_key(-0.0) == encode_key(0.0) == encode_key(0) == "0"
    assert encode_key((True, 2.0, ("x", -0.0))) == encode_key((1, 2, ("x", 0)))
    assert encode_key(1e16) == "10000000000000000"
    assert encode_key(0.5) == "0.5" and encode_key(float("inf")) != encode_key(2**1024)
    for a, b in [(1, 1.0), (True, 1), ((1,), (1.0,)), (0.0, -0.0)]:
        assert a == b and encode_key(a) == encode_key(b)
    assert decode_key(encode_key(True)) == 1


def test_codec_ints_beyond_the_decimal_limit_are_tagged() -> None:
    # Python converts ints of more than 4300 digits to and from decimal text only if told
    # to: such an int is written as hex, as a value, inside one, and as a key.
    huge, limit = 10**5000, 10**4300
    for value in (huge, -huge, [1, huge], {"n": -huge}, (huge,), limit, limit - 1):
        assert same_value(decode_value(encode_value(value)), value)
        assert check_value(value) in (True, False)
    assert encode_value(limit - 1) == str(limit - 1)  # 4300 digits: decimal
    assert encode_value(limit) == f'{{"$int":"{hex(limit)}"}}'
    assert encode_plain([limit]) == encode_value([limit])
    for key in (huge, (huge, 1)):
        assert decode_key(encode_key(key)) == key


def test_codec_sized_value_fields_must_be_ints() -> None:
    bad = object.__new__(SizedValue)  # SizedValue() itself refuses such a tag
    object.__setattr__(bad, "nbytes", 5)
    object.__setattr__(bad, "tag", "x")
    for value in (bad, [bad], {"v": bad}):
        with pytest.raises(UnsupportedValueError, match="SizedValue fields must be"):
            check_value(value)
        with pytest.raises(UnsupportedValueError, match="SizedValue fields must be"):
            encode_value(value)


def test_codec_keys_are_typed_and_canonical() -> None:
    assert encode_key("1") == '"1"'
    assert encode_key(1) == "1"
    assert encode_key((1, "a")) == '{"$tuple":[1,"a"]}'
    for key in ["k", 7, -3, (1, "a"), b"raw", ("nested", (1, 2))]:
        assert same_value(decode_key(encode_key(key)), key)


@pytest.mark.parametrize("value", UNSUPPORTED_VALUES, ids=lambda v: type(v).__name__)
def test_codec_refuses_unsupported_values_naming_them(value: Any) -> None:
    with pytest.raises(UnsupportedValueError) as info:
        encode_value(value)
    message = str(info.value)
    assert "cannot store" in message
    assert "supported types" in message


def test_codec_names_the_inner_offender() -> None:
    with pytest.raises(UnsupportedValueError, match=r"contains \{2\}.*type set"):
        encode_value([1, {2}])


def test_codec_refuses_cyclic_and_too_deep_values() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(UnsupportedValueError, match="nested deeper"):
        encode_value(cyclic)
    deep: Any = 0
    for _ in range(150):
        deep = [deep]
    with pytest.raises(UnsupportedValueError):
        encode_value(deep)


def test_codec_refuses_unhashable_keys() -> None:
    with pytest.raises(UnsupportedValueError, match="hashable"):
        encode_key([1, 2])
    with pytest.raises(UnsupportedValueError, match="key"):
        encode_key(frozenset({1}))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=16)
)
json_like = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.dictionaries(st.integers() | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_like)
def test_codec_round_trips_json_like_values(value: Any) -> None:
    text = encode_value(value)
    assert same_value(decode_value(text), value)
    assert encode_value(decode_value(text)) == text  # canonical: re-encoding is stable


def plain_reference(value: Any, depth: int = 0) -> bool:
    """What check_value calls plain JSON, written out plainly: scalars, finite floats, and
    lists and str-keyed dicts (no key starting with "$") of them, nested at most MAX_DEPTH."""
    t = type(value)
    if t in (str, int, bool, type(None)):
        return True
    if t is float:
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if t is list:
        return all(plain_reference(x, depth + 1) for x in value)
    if t is dict:
        return all(
            type(k) is str and not k.startswith("$") and plain_reference(x, depth + 1)
            for k, x in value.items()
        )
    return False


def nested(value: Any, depth: int) -> Any:
    """``value`` inside ``depth`` alternating dicts and lists."""
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


check_scalars = json_scalars | st.floats() | st.sampled_from([math.nan, math.inf, -math.inf])
check_keys_ = st.text(max_size=3) | st.sampled_from(["$", "$a", "a$", ""]) | st.integers()
check_like = st.recursive(
    check_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(check_keys_, children, max_size=4)
        | st.dictionaries(st.text(max_size=3), st.lists(children, max_size=3), max_size=3)
    ),
    max_leaves=20,
)


@given(check_like)
@example({"$a": 1})
@example({"a": [1, (2,)]})
@example({"a": math.inf})
@example({1: "a"})
@example({"a": b"x"})
@example({"a": {"$b": [1]}})
@example({"a": [1, "b"], "c": None})
@example({"$": 1})  # the edges of "starts with $": "$" itself, and "#" and "%" either side
@example({"%": 1, "#": 2})
@example({"a": {"$": 1}})
@example({"a": [{"%": 1, "#": 2}]})
def test_codec_check_value_knows_plain_values(value: Any) -> None:
    # True exactly for plain JSON, which encode_plain then writes as encode_value would;
    # False for a supported value that needs tagging (a tuple, bytes, nan, a "$" key, ...)
    plain = check_value(value)
    assert plain is plain_reference(value)
    if plain:
        assert encode_plain(value) == encode_value(value)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
@pytest.mark.parametrize("top", ["list", "dict", "list in a dict"])
def test_codec_check_value_counts_depth_from_the_top(depth: int, top: str) -> None:
    # plain up to MAX_DEPTH containers deep, refused (as encode_value refuses it) beyond
    value = {
        "list": lambda: nested(1, depth),
        "dict": lambda: {"top": nested(1, depth - 1)},
        "list in a dict": lambda: {"top": [nested(1, depth - 2)]},
    }[top]()
    if depth > MAX_DEPTH:
        for check in (check_value, encode_value):
            with pytest.raises(UnsupportedValueError, match="nested"):
                check(value)
    else:
        assert check_value(value) is True and plain_reference(value)
        assert check_value(nested(1.5, depth - 1)) is True
        assert check_value(nested(math.nan, depth - 1)) is False


@pytest.mark.parametrize("bad", UNSUPPORTED_VALUES, ids=lambda v: type(v).__name__)
def test_codec_check_value_refuses_what_encode_value_refuses(bad: Any) -> None:
    for value in (bad, {"k": bad}, {"k": [1, bad]}, [bad], {"$k": bad}):
        with pytest.raises(UnsupportedValueError, match="cannot store"):
            check_value(value)


@given(st.dictionaries(st.text(max_size=4), st.integers(), max_size=6))
def test_codec_dict_encoding_ignores_insertion_order(d: dict[str, int]) -> None:
    reversed_d = dict(reversed(list(d.items())))
    assert encode_value(d) == encode_value(reversed_d)


# --- helpers: stores used by the contract suite ----------------------------------------------


class DictStore:
    """A minimal write-through store without ``store_batch`` (write-behind's fallback path)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, bool, Any], Any] = {}
        self.stats = DataStoreStats()
        self.closed = False

    def add(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        self.rows[(map_name, False, key)] = value
        self.stats.writes += 1
        return True

    def add_backup(self, map_name: str, key: Any, value: Any, expiration_time: int, now: int) -> bool:
        self.rows[(map_name, True, key)] = value
        return True

    def remove(self, map_name: str, key: Any, now: int) -> bool:
        self.rows.pop((map_name, False, key), None)
        return True

    def remove_backup(self, map_name: str, key: Any, now: int) -> bool:
        self.rows.pop((map_name, True, key), None)
        return True

    def load(self, map_name: str, key: Any) -> Any | None:
        return self.rows.get((map_name, False, key))

    def load_all(self, map_name: str, keys: Sequence[Any]) -> list[tuple[Any, Any]]:
        return [(k, self.rows[(map_name, False, k)]) for k in keys if (map_name, False, k) in self.rows]

    def check_value(self, value: Any) -> None:
        encode_value(value)

    def close(self) -> None:
        self.closed = True


class FlakyStore:
    """Wraps a store; its ``store_batch`` fails as a whole (DataStoreError) while
    ``failures_left`` > 0, and refuses (UnsupportedValueError, nothing stored) a batch with an
    operation on a key in ``refused`` ((map, is_backup, key) triples) or a write of a value in
    ``refused_values``. ``before`` runs first, so a test can act while a batch is in flight;
    ``sizes`` lists the sizes of the batches tried."""

    def __init__(self, inner: SQLiteDataStore) -> None:
        self.inner = inner
        self.failures_left = 0
        self.refused: set[tuple[str, bool, Any]] = set()
        self.refused_values: list[Any] = []
        self.calls = 0
        self.sizes: list[int] = []
        self.before: Callable[[], None] | None = None

    def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
        self.calls += 1
        self.sizes.append(len(ops))
        if self.before is not None:
            before, self.before = self.before, None
            before()
        if self.failures_left > 0:
            self.failures_left -= 1
            raise DataStoreError("injected failure")
        for op in ops:
            if (op.map_name, op.is_backup, op.key) in self.refused:
                raise UnsupportedValueError(f"refused key {op.key!r}")
            if op.value is not None and op.value in self.refused_values:
                raise UnsupportedValueError(f"refused value {op.value!r}")
        self.inner.store_batch(ops, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Harness:
    """One data store under test, with how to make its writes durable and reopen it."""

    kind: str
    store: Any
    clock: ManualClock
    settle: Callable[[], None]

    @property
    def persists(self) -> bool:
        return self.kind != "null"


def make_harness(kind: str, tmp_path: Path) -> Harness:
    clock = ManualClock(1_000)
    if kind == "null":
        store: Any = NullDataStore()
        return Harness(kind, store, clock, lambda: None)
    sqlite = SQLiteDataStore(tmp_path / "contract.db", clock)
    if kind == "sqlite":
        return Harness(kind, sqlite, clock, lambda: None)
    wb = WriteBehindDataStore(sqlite, clock, write_delay_millis=500, write_batch_size=7)
    return Harness(kind, wb, clock, wb.hard_flush)


@pytest.fixture(params=["null", "sqlite", "write_behind"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = make_harness(request.param, tmp_path)
    with h.store:
        yield h


@pytest.fixture(params=["sqlite", "write_behind"])
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = make_harness(request.param, tmp_path)
    with h.store:
        yield h


# --- the contract: every data store ----------------------------------------------------------


class TestEveryDataStore:
    def test_is_a_map_data_store_with_fresh_stats(self, any_store: Harness) -> None:
        assert isinstance(any_store.store, MapDataStore)
        assert isinstance(any_store.store.stats, DataStoreStats)
        assert all(v == 0 for v in any_store.store.stats.as_dict().values())
        assert any_store.store.is_null() is (not any_store.persists)

    def test_nothing_pending_after_settling(self, any_store: Harness) -> None:
        s = any_store.store
        now = any_store.clock.now_millis()
        s.add("m", "k", "v", 0, now)
        s.remove("m", "gone", now)
        any_store.settle()
        assert s.pending_operation_count() == 0
        assert s.is_loadable("k", "m") and s.is_loadable("k")
        assert s.soft_flush() == 0
        s.hard_flush()
        s.reset()

    def test_flush_key_of_a_clean_key_changes_nothing(self, any_store: Harness) -> None:
        s = any_store.store
        s.flush_key("m", "k", "v", False)
        assert s.pending_operation_count() == 0

    def test_listener_registration_is_accepted(self, any_store: Harness) -> None:
        seen: list[Any] = []
        any_store.store.add_stored_listener("m", lambda k, v, now: seen.append(k))
        assert seen == []

    def test_stats_copy_and_minus(self, any_store: Harness) -> None:
        s = any_store.store
        before = s.stats.copy()
        s.add("m", "k", "v", 0, 1_000)
        any_store.settle()
        delta = s.stats.minus(before)
        assert delta.writes == (1 if any_store.persists else 0)
        assert before.writes == 0


class TestPersistentContract:
    def test_every_supported_value_round_trips(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        for i, value in enumerate(SAMPLE_VALUES):
            assert s.add("m", i, value, 0, now) is (persistent.kind == "sqlite")
        persistent.settle()
        for i, value in enumerate(SAMPLE_VALUES):
            assert same_value(s.load("m", i), value), value

    def test_overwrite_then_remove(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        s.add("m", "k", "v1", 0, now)
        s.add("m", "k", "v2", 0, now)
        persistent.settle()
        assert s.load("m", "k") == "v2"
        s.remove("m", "k", now)
        persistent.settle()
        assert s.load("m", "k") is None

    def test_maps_and_key_types_are_kept_apart(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        s.add("a", "k", "in a", 0, now)
        s.add("b", "k", "in b", 0, now)
        s.add("a", 1, "int one", 0, now)
        s.add("a", "1", "str one", 0, now)
        s.add("a", (1, "t"), "tuple", 0, now)
        persistent.settle()
        assert s.load("a", "k") == "in a" and s.load("b", "k") == "in b"
        assert s.load("a", 1) == "int one" and s.load("a", "1") == "str one"
        assert s.load("a", (1, "t")) == "tuple"
        assert s.load("c", "k") is None

    def test_backups_are_kept_apart_from_primaries(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        s.add_backup("m", "k", "backup", 0, now)
        persistent.settle()
        assert s.load("m", "k") is None
        s.add("m", "k", "primary", 0, now)
        s.remove_backup("m", "k", now)
        persistent.settle()
        assert s.load("m", "k") == "primary"

    def test_load_all_and_remove_all_many_keys(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        for i in range(1_200):
            s.add("m", i, f"v{i}", 0, now)
        persistent.settle()
        wanted = [5, 1_199, 5, -1, *range(600, 1_150)]
        got = s.load_all("m", wanted)
        assert got == [(k, f"v{k}") for k in [5, 1_199, *range(600, 1_150)]]
        s.remove_all("m", list(range(0, 1_200, 2)))
        persistent.settle()
        assert dict(s.load_all("m", range(1_200))) == {i: f"v{i}" for i in range(1, 1_200, 2)}
        assert s.load_all("m", []) == []

    def test_expired_rows_are_not_loaded(self, persistent: Harness) -> None:
        s, clock = persistent.store, persistent.clock
        now = clock.now_millis()
        s.add("m", "short", "x", now + 100, now)
        s.add("m", "forever", "y", 0, now)
        persistent.settle()
        clock.advance(100)  # strict: live at the deadline itself
        assert s.load("m", "short") == "x"
        clock.advance(1)
        assert s.load("m", "short") is None
        assert s.load_all("m", ["short", "forever"]) == [("forever", "y")]

    @pytest.mark.parametrize("bad", UNSUPPORTED_VALUES[:4], ids=lambda v: type(v).__name__)
    def test_unsupported_value_is_refused_before_anything_changes(
        self, persistent: Harness, bad: Any
    ) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        s.add("m", "k", "old", 0, now)
        persistent.settle()
        before = s.stats.copy()
        with pytest.raises(UnsupportedValueError, match="cannot store"):
            s.add("m", "k", bad, 0, now)
        with pytest.raises(UnsupportedValueError):
            s.add_backup("m", "k", bad, 0, now)
        with pytest.raises(UnsupportedValueError):
            s.check_value(bad)
        assert s.pending_operation_count() == 0
        assert s.stats == before
        persistent.settle()
        assert s.load("m", "k") == "old"

    def test_unsupported_key_is_refused(self, persistent: Harness) -> None:
        with pytest.raises(UnsupportedValueError, match="key"):
            persistent.store.add("m", frozenset({1}), "v", 0, 0)
        assert persistent.store.load("m", frozenset({1})) is None

    def test_none_value_and_bad_map_name_are_refused(self, persistent: Harness) -> None:
        with pytest.raises(InvalidArgumentError, match="None"):
            persistent.store.add("m", "k", None, 0, 0)
        with pytest.raises(InvalidArgumentError, match="map_name"):
            persistent.store.add(7, "k", "v", 0, 0)
        with pytest.raises(InvalidArgumentError, match="expiration_time"):
            persistent.store.add("m", "k", "v", -5, 0)
        with pytest.raises(InvalidArgumentError, match="expiration_time"):
            persistent.store.add("m", "k", "v", 2**63, 0)
        assert persistent.store.pending_operation_count() == 0

    def test_stats_count_what_reached_the_backing_store(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        for i in range(10):
            s.add("m", i, SizedValue(100), 0, now)
        s.remove("m", 99, now)
        persistent.settle()
        assert s.stats.writes == 10 and s.stats.deletes == 1
        assert s.stats.bytes_written == 1_000
        assert s.stats.write_batches >= 1
        s.load("m", 1)
        s.load("m", 99)
        assert s.stats.loads == 2 and s.stats.keys_loaded == 1
        # a load_all of 1,200 keys takes three round trips (500 keys each) in either store
        assert len(s.load_all("m", list(range(1_200)))) == 10
        assert s.stats.loads == 5 and s.stats.keys_loaded == 11

    def test_bytes_written_are_utf8_bytes(self, persistent: Harness) -> None:
        s, now = persistent.store, persistent.clock.now_millis()
        s.add("m", "ascii", {"k": "abc"}, 0, now)
        persistent.settle()
        ascii_bytes = s.stats.bytes_written
        assert ascii_bytes == len(encode_value({"k": "abc"}))
        s.add("m", "utf8", {"k": "日本語"}, 0, now)  # 3 characters, 9 bytes
        persistent.settle()
        assert s.stats.bytes_written - ascii_bytes == len(encode_value({"k": "日本語"}).encode())
        assert s.stats.bytes_written - ascii_bytes == ascii_bytes + 6

    def test_closed_store_refuses_work(self, persistent: Harness) -> None:
        persistent.store.close()
        persistent.store.close()  # idempotent
        with pytest.raises(DataStoreError, match="closed"):
            persistent.store.add("m", "k", "v", 0, 0)


# --- SQLite specifics --------------------------------------------------------------------------


def test_sqlite_uses_wal_and_checks_synchronous(tmp_path: Path) -> None:
    with SQLiteDataStore(tmp_path / "a.db") as s:
        assert s.journal_mode == "wal" and s.synchronous == "NORMAL"
    with SQLiteDataStore(tmp_path / "b.db", synchronous="full") as s:
        assert s.synchronous == "FULL"
        assert s.add("m", "k", "v", 0, 0) is True
    with pytest.raises(InvalidArgumentError, match="OFF"):
        SQLiteDataStore(tmp_path / "c.db", synchronous="OFF")
    with pytest.raises(InvalidArgumentError, match="path"):
        SQLiteDataStore(42)  # type: ignore[arg-type]


def test_sqlite_new_store_over_the_same_file_sees_everything(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    with SQLiteDataStore(path) as s:
        for i, value in enumerate(SAMPLE_VALUES):
            s.add("m", i, value, 0, 0)
        s.add("other", "k", "v", 0, 0)
        s.add_backup("m", "b", "backup", 0, 0)
        s.remove("m", 0, 0)
    with SQLiteDataStore(path) as s:
        assert s.load("m", 0) is None
        for i, value in enumerate(SAMPLE_VALUES[1:], start=1):
            assert same_value(s.load("m", i), value)
        assert s.load("other", "k") == "v"
        assert s.load_backup("m", "b") == "backup"
        assert s.row_count("m") == len(SAMPLE_VALUES) - 1
        assert s.row_count(is_backup=True) == 1


def test_sqlite_in_memory_and_from_another_thread() -> None:
    with SQLiteDataStore(":memory:") as s:
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for i in range(50):
                    s.add("m", i, i, 0, 0)
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)

        t = threading.Thread(target=writer)
        t.start()
        t.join()
        assert errors == []
        assert s.row_count("m") == 50


def test_sqlite_purge_expired(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with SQLiteDataStore(tmp_path / "p.db", clock) as s:
        s.add("m", "a", 1, 100, 0)
        s.add("m", "b", 2, 0, 0)
        s.add_backup("m", "c", 3, 50, 0)
        assert s.purge_expired(100) == 1  # c expired (50 < 100), a is live at its deadline
        clock.set(101)
        assert s.purge_expired() == 1
        assert s.row_count() == 1 and s.load("m", "b") == 2


def test_sqlite_store_batch_counts_the_bytes_and_kinds_of_a_mixed_batch(tmp_path: Path) -> None:
    # bytes_written is the UTF-8 size of each stored value (a SizedValue's nbytes), whatever
    # the mix of writes, deletes, backups, checked values and non-ASCII text in one batch
    values = ["é", {"k": "日本"}, SizedValue(300, 1), [1, "a"], ("t",), 7]
    ops = [StoreOp("m", i, v, 0, i % 2 == 1, 0, i, check_value(v)) for i, v in enumerate(values)]
    ops.insert(2, StoreOp("m", 0, None))  # a delete between writes
    ops.append(StoreOp("m", "b", None, is_backup=True))
    expected = sum(
        v.nbytes if isinstance(v, SizedValue) else len(encode_value(v).encode()) for v in values
    )
    with SQLiteDataStore(tmp_path / "mixed.db", ManualClock(0)) as s:
        s.store_batch(ops, 5)
        assert (s.stats.bytes_written, s.stats.writes, s.stats.deletes) == (expected, 6, 2)
        assert s.stats.write_batches == 1
        assert s.load("m", 2) == SizedValue(300, 1) and s.load("m", 0) is None
        assert s.load_backup("m", 1) == {"k": "日本"} and s.load("m", 1) is None


def test_sqlite_store_batch_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    with SQLiteDataStore(path) as s:
        raw = sqlite3.connect(path)
        raw.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.key = '\"boom\"' "
            "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        )
        raw.commit()
        raw.close()
        ops = [StoreOp("m", "ok", 1), StoreOp("m", "gone", None), StoreOp("m", "boom", 2)]
        with pytest.raises(DataStoreError, match="boom refused"):
            s.store_batch(ops, 0)
        assert s.stats.failures == 1 and s.stats.writes == 0
        assert s.load("m", "ok") is None
        with pytest.raises(UnsupportedValueError):
            s.store_batch([StoreOp("m", "ok", 1), StoreOp("m", "bad", {1})], 0)
        assert s.load("m", "ok") is None
        s.store_batch([StoreOp("m", "ok", 1), StoreOp("m", "ok", 2), StoreOp("m", "x", None)], 5)
        assert s.load("m", "ok") == 2
        assert (s.stats.writes, s.stats.deletes, s.stats.write_batches) == (2, 1, 1)


def _with_another_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` while a second thread is alive (it waits for ``work`` to finish)."""
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        return work()
    finally:
        done.set()
        other.join()


def test_sqlite_store_batch_groups_rows_per_statement_while_other_threads_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While other threads run, a batch is a handful of statements, not one per row: Python's
    # sqlite3 gives up the GIL around every statement, and a flusher thread beside a busy
    # writer gets it back only every switch interval, so one statement per row starved it.
    # Alone, one prepared INSERT per row is faster, and the rows are the same.
    n = 1_000
    ops = [StoreOp("m", i % 700, {"n": i}) for i in range(n)]  # 300 keys written twice
    ops += [StoreOp("m", 5, None), StoreOp("m", 6, 6, is_backup=True), StoreOp("m", 7, "x")]
    ops += [StoreOp("m", 10 + i, None) for i in range(600)]  # 600 deletes, then 60 more
    ops += [StoreOp(f"m{i % 3}", i, None) for i in range(60)]  # over three other maps
    ops += [StoreOp("m", 12, "back")]
    ops += [StoreOp("t", i, i) for i in range(427)]  # with the put before: 200 + 200 + 28
    puts = sum(op.value is not None for op in ops)

    def run(s: SQLiteDataStore) -> list[str]:
        statements: list[str] = []
        s._conn.set_trace_callback(statements.append)  # type: ignore[union-attr]
        s.store_batch(ops, 3)
        s._conn.set_trace_callback(None)  # type: ignore[union-attr]
        # the same rows as one write-through operation each, later writes of a key winning
        expected: dict[tuple[str, bool, Any], Any] = {}
        for op in ops:
            expected[(op.map_name, op.is_backup, op.key)] = op.value
        for (m, backup, key), value in expected.items():
            assert (s.load_backup if backup else s.load)(m, key) == value, (m, key)
        assert s.row_count() == sum(not b and v is not None for (_, b, _), v in expected.items())
        assert (s.stats.writes, s.stats.deletes, s.stats.write_batches) == (puts, len(ops) - puts, 1)
        return [q.split()[0] for q in statements if q.startswith(("INSERT", "DELETE"))]

    with SQLiteDataStore(tmp_path / "many.db") as s:
        # 1000 puts in 5 INSERTs; a delete; 2 single puts; 600 + 3 x 20 deletes in one
        # statement per map and 500 keys; the last 428 puts in 3 INSERTs
        assert _with_another_thread(lambda: run(s)) == (
            ["INSERT"] * 5 + ["DELETE", "INSERT", "INSERT"] + ["DELETE"] * 5 + ["INSERT"] * 3
        )
    monkeypatch.setattr(sqlite_store, "_threads_running", lambda: 1)
    with SQLiteDataStore(tmp_path / "alone.db") as s:
        assert run(s).count("INSERT") == puts  # one prepared statement, run once per row
    monkeypatch.undo()
    with SQLiteDataStore(tmp_path / "one.db", rows_per_insert=1) as s:
        assert _with_another_thread(lambda: run(s)).count("INSERT") == puts
    with pytest.raises(InvalidArgumentError, match="rows_per_insert must be >= 1, got 0"):
        SQLiteDataStore(tmp_path / "bad.db", rows_per_insert=0)


def test_sqlite_refuses_a_database_of_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version=99")
    raw.close()
    with pytest.raises(DataStoreError, match="schema version 99"):
        SQLiteDataStore(path)


def test_sqlite_migrates_schema_1_keys_equal_in_python_to_one_row(tmp_path: Path) -> None:
    # Schema 1 wrote True, 1.0 and 1 as three keys; schema 2 has one: the row stored last
    # wins, as the last write would have in memory. Other rows are left as they were.
    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for table in ("entries", "backup_entries"):
        raw.execute(
            f"CREATE TABLE {table} (map_name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
            " expiration_time INTEGER NOT NULL DEFAULT 0, stored_time INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY (map_name, key)) WITHOUT ROWID"
        )
    rows = [
        ("m", "true", '"from True"', 0, 30),
        ("m", "1.0", '"from 1.0"', 0, 20),
        ("m", "1", '"from 1"', 0, 10),
        ("m", "2.0", '"two"', 500, 5),
        ("m", '{"$tuple":[false,"x"]}', '"tuple"', 0, 1),
        ("m", '"s"', '"string"', 0, 1),
        ("other", "1", '"other map"', 0, 1),
    ]
    raw.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?)", rows)
    raw.execute("INSERT INTO backup_entries VALUES ('m', '3.0', '\"backup\"', 0, 1)")
    raw.execute("PRAGMA user_version=1")
    raw.close()
    with SQLiteDataStore(path, ManualClock(0)) as s:
        assert s.load("m", 1) == s.load("m", True) == s.load("m", 1.0) == "from True"
        assert s.load_entry("m", 2) == ("two", 500)
        assert s.load("m", (0, "x")) == "tuple" and s.load("m", "s") == "string"
        assert s.load("other", 1) == "other map" and s.load_backup("m", 3) == "backup"
        assert s.row_count("m") == 4 and s.row_count() == 5
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
    raw.close()
    with SQLiteDataStore(path, ManualClock(0)) as s:  # opening again changes nothing
        assert s.row_count("m") == 4 and s.load("m", 1) == "from True"


def test_sqlite_wraps_database_errors(tmp_path: Path) -> None:
    with pytest.raises(DataStoreError, match="cannot open"):
        SQLiteDataStore(tmp_path / "missing-dir" / "x.db")


# --- write-behind specifics --------------------------------------------------------------------


@pytest.fixture
def wb_parts(tmp_path: Path) -> Iterator[tuple[WriteBehindDataStore, SQLiteDataStore, ManualClock]]:
    clock = ManualClock(0)
    sqlite = SQLiteDataStore(tmp_path / "wb.db", clock)
    wb = WriteBehindDataStore(sqlite, clock, write_delay_millis=1_000, write_batch_size=100)
    with wb:
        yield wb, sqlite, clock


def test_write_behind_respects_the_delay(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    assert wb.add("m", "k", "v", 0, clock.now_millis()) is False
    assert wb.pending_operation_count() == 1 and wb.next_due() == 1_000
    clock.set(999)
    assert wb.flush_due() == 0
    assert sqlite.load("m", "k") is None
    assert wb.load("m", "k") == "v"  # answered from the queue
    clock.set(1_000)
    assert wb.flush_due() == 1
    assert sqlite.load("m", "k") == "v"
    assert wb.pending_operation_count() == 0 and wb.next_due() is None
    assert wb.stats.queued == 1 and wb.stats.writes == 1 and wb.stats.write_batches == 1


def test_write_behind_coalescing_keeps_the_first_due_time(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    for i in range(10):
        wb.add("m", "hot", i, 0, clock.now_millis())
        clock.advance(100)
    wb.add("m", "cold", "c", 0, clock.now_millis())
    assert wb.pending_operation_count() == 2
    assert (wb.stats.queued, wb.stats.coalesced) == (11, 9)
    assert [op.key for op in wb.queued()] == ["hot", "cold"]
    clock.set(1_000)  # due 1000 ms after the first write, not after the last
    assert wb.flush_due() == 1
    assert sqlite.load("m", "hot") == 9 and sqlite.load("m", "cold") is None
    assert wb.stats.writes == 1 and sqlite.stats.writes == 1


def test_write_behind_without_coalescing_stores_every_write_in_order(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(
        SQLiteDataStore(tmp_path / "nc.db", clock), clock, 10, write_coalescing=False
    ) as wb:
        for i in range(10):
            wb.add("m", "k", i, 0, 0)
        wb.remove("m", "k", 0)
        wb.add("m", "k", "last", 0, 0)
        assert wb.pending_operation_count() == 12 and wb.stats.coalesced == 0
        assert wb.load("m", "k") == "last"
        assert wb.flush_due(10) == 12
        assert (wb.stats.writes, wb.stats.deletes) == (11, 1)
        assert wb.inner.load("m", "k") == "last"


def test_write_behind_stores_in_batches(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    wb.write_batch_size = 100
    for i in range(250):
        wb.add("m", i, i, 0, 0)
    assert wb.flush_due(1_000) == 250
    assert wb.stats.write_batches == 3 and sqlite.stats.write_batches == 3
    assert sqlite.row_count("m") == 250


def test_write_behind_full_queue_refuses_and_changes_nothing(tmp_path: Path) -> None:
    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "full.db", clock)
    with WriteBehindDataStore(inner, clock, 100, write_coalescing=False, queue_capacity=3) as wb:
        for i in range(3):
            wb.add("m", "k", i, 0, 0)
        snapshot = [(op.key, op.value, op.seq) for op in wb.queued()]
        stats = wb.stats.copy()
        with pytest.raises(QueueFullError, match=r"full \(3 of 3.*'k'"):
            wb.add("m", "k", 99, 0, 0)
        with pytest.raises(QueueFullError):
            wb.remove("m", "k", 0)
        with pytest.raises(QueueFullError):
            wb.remove_all("m", ["a"])
        assert [(op.key, op.value, op.seq) for op in wb.queued()] == snapshot
        assert wb.stats.refused == 3
        stats.refused = 3
        assert wb.stats == stats
        assert wb.load("m", "k") == 2
        wb.flush_due(100)
        wb.add("m", "k", 99, 0, 100)  # room again
        assert wb.pending_operation_count() == 1


def test_write_behind_remove_all_is_all_or_nothing(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(
        SQLiteDataStore(tmp_path / "ra.db", clock),
        clock,
        0,
        write_coalescing=False,
        queue_capacity=4,
    ) as wb:
        wb.add("m", "x", 1, 0, 0)
        with pytest.raises(QueueFullError):
            wb.remove_all("m", ["a", "b", "c", "d"])
        assert wb.pending_operation_count() == 1
        wb.remove_all("m", ["a", "b", "c"])
        assert wb.pending_operation_count() == 4


def test_coalescing_queue_is_not_bounded_by_capacity(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "c.db", clock), clock, 0, queue_capacity=2) as wb:
        for i in range(5):
            wb.add("m", i, i, 0, 0)
        assert wb.pending_operation_count() == 5


def test_write_behind_never_serves_a_stale_row(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    sqlite.add("m", "k", "stale", 0, 0)
    sqlite.add("m", "d", "stale", 0, 0)
    assert wb.is_loadable("k", "m")
    wb.add("m", "k", "new", 0, 0)
    wb.remove("m", "d", 0)
    assert not wb.is_loadable("k", "m") and not wb.is_loadable("k")
    assert not wb.is_loadable("d", "m")
    assert wb.is_loadable("k", "other-map")
    assert wb.load("m", "k") == "new"
    assert wb.load("m", "d") is None
    assert wb.load_all("m", ["k", "d", "k"]) == [("k", "new")]
    assert wb.stats.queue_reads == 4 and wb.stats.loads == 0
    wb.hard_flush()
    assert wb.is_loadable("k", "m") and wb.load("m", "k") == "new" and wb.load("m", "d") is None
    assert wb.stats.loads == 2


def test_write_behind_is_loadable_answers_for_the_write_add_just_handed_over(wb_parts: Any) -> None:
    # A record store asks right after its put, while the write is still handed over (not yet
    # queued): the answer must be the queue's own, per map and for keys equal in Python.
    wb, sqlite, clock = wb_parts
    wb.add("m", 1, "one", 0, 0)
    assert wb._incoming and wb.is_loadable(1, "other-map")  # the same key of another map
    wb.add("m", 1, "one again", 0, 0)
    assert wb._incoming and not wb.is_loadable(1, "m") and not wb.is_loadable(1)
    wb.add("m", "k", "v", 0, 0)
    assert wb._incoming and wb.is_loadable("j", "m") and wb.is_loadable("1", "m")
    wb.add("m", "k", "v2", 0, 0)
    assert not wb.is_loadable(True, "m") and not wb.is_loadable(1.0, "m")  # equal to 1
    assert not wb.is_loadable("k", "m") and wb.load("m", "k") == "v2"
    wb.hard_flush()
    assert wb.is_loadable(1, "m") and wb.is_loadable("k", "m") and sqlite.load("m", 1) == "one again"


def test_write_behind_is_loadable_for_an_unhashable_key_as_the_other_stores_are(
    wb_parts: Any,
) -> None:
    # such a key can be neither queued nor stored: True, with or without writes in its map
    wb, sqlite, clock = wb_parts
    assert wb.is_loadable(["k"], "m") and wb.is_loadable(["k"])
    wb.remove("m", "j", 0)  # queued through the general path: map "m" has queued keys now
    wb.add("m", "k", "v", 0, 0)
    assert wb.pending_operation_count() == 2  # the hand-over queued as well
    assert wb.is_loadable(["k"], "m") and wb.is_loadable(["k"]) and wb.is_loadable({"k": 1}, "m")
    assert sqlite.is_loadable(["k"], "m") and NullDataStore().is_loadable(["k"], "m")
    assert not wb.is_loadable("k", "m") and not wb.is_loadable("j")


def test_write_behind_queued_write_past_its_expiry_is_not_loaded(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    sqlite.add("m", "k", "old row", 0, 0)
    wb.add("m", "k", "v", 50, 0)
    clock.set(50)
    assert wb.load("m", "k") == "v"
    clock.set(51)
    assert wb.load("m", "k") is None


def test_soft_flush_marks_everything_due(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    assert wb.soft_flush() == 0
    wb.add("m", "a", 1, 0, 0)
    wb.add("m", "b", 2, 0, 0)
    assert wb.soft_flush() == 2
    wb.add("m", "c", 3, 0, 0)  # after the soft flush: waits for its delay
    assert wb.flush_due(1) == 2
    assert sqlite.load("m", "b") == 2 and sqlite.load("m", "c") is None
    wb.hard_flush()
    assert sqlite.load("m", "c") == 3 and wb.pending_operation_count() == 0


def test_failed_batch_is_kept_and_retried(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "f.db", clock))
    with WriteBehindDataStore(flaky, clock, 10, write_batch_size=2, write_coalescing=False) as wb:  # type: ignore[arg-type]
        for i in range(5):
            wb.add("m", "k", i, 0, 0)
        flaky.failures_left = 2
        assert wb.flush_due(10) == 0
        assert wb.stats.failures == 1 and isinstance(wb.last_error, DataStoreError)
        assert wb.pending_operation_count() == 5
        assert [op.value for op in wb.queued()] == [0, 1, 2, 3, 4]
        assert wb.load("m", "k") == 4 and not wb.is_loadable("k", "m")
        with pytest.raises(DataStoreError, match="5 operations still queued"):
            wb.hard_flush()
        assert wb.stats.failures == 2
        assert wb.flush_due(10) == 5
        assert flaky.inner.load("m", "k") == 4
        assert wb.stats.writes == 5 and wb.pending_operation_count() == 0


def test_a_refused_operation_does_not_hold_back_the_others(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "r.db", clock))
    with WriteBehindDataStore(flaky, clock, 10, write_batch_size=2) as wb:  # type: ignore[arg-type]
        heard: list[str] = []
        wb.add_stored_listener("m", lambda key, value, now: heard.append(key))
        for key in "abcde":
            wb.add("m", key, key.upper(), 0, 0)
        flaky.refused.add(("m", False, "b"))
        # the batch holding "b" is refused, then tried one operation at a time; the flush
        # then passes over "b" (not tried again until the next flush) and goes on
        assert wb.flush_due(10) == 4
        assert flaky.sizes == [2, 1, 1, 2, 1]
        assert [op.key for op in wb.queued()] == ["b"] and heard == ["a", "c", "d", "e"]
        assert isinstance(wb.last_error, UnsupportedValueError) and "'b'" in str(wb.last_error)
        assert (wb.stats.writes, wb.stats.write_batches, wb.stats.failures) == (4, 3, 2)
        assert wb.load("m", "b") == "B" and not wb.is_loadable("b", "m")
        assert [flaky.inner.load("m", k) for k in "abcde"] == ["A", None, "C", "D", "E"]
        with pytest.raises(DataStoreError, match="1 operations still queued") as info:
            wb.hard_flush()
        assert isinstance(info.value.__cause__, UnsupportedValueError)
        flaky.refused.clear()
        assert wb.flush_due(10) == 1 and heard[-1] == "b"
        assert flaky.inner.load("m", "b") == "B" and wb.pending_operation_count() == 0


@pytest.mark.parametrize(
    ("coalescing", "batch_size"), [(True, 1), (False, 1), (False, 2), (True, 2)]
)
def test_a_refused_key_does_not_stop_the_flush_whatever_the_batch_size(
    tmp_path: Path, coalescing: bool, batch_size: int
) -> None:
    # the refused key's operations fill whole batches at the front of the queue (one a
    # batch, or two of "b" in a non-coalescing batch of two): the flush passes over them
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "s.db", clock))
    wb = WriteBehindDataStore(
        flaky, clock, 0, batch_size, write_coalescing=coalescing  # type: ignore[arg-type]
    )
    wb.add("m", "b", "B1", 0, 0)
    wb.add("m", "b", "B2", 0, 0)
    for key in "xyz":
        wb.add("m", key, key.upper(), 0, 0)
    flaky.refused.add(("m", False, "b"))
    assert wb.flush_due(0) == 3
    assert [flaky.inner.load("m", k) for k in "bxyz"] == [None, "X", "Y", "Z"]
    assert [op.value for op in wb.queued()] == (["B2"] if coalescing else ["B1", "B2"])
    assert wb.load("m", "b") == "B2" and not wb.is_loadable("b", "m")
    with pytest.raises(DataStoreError, match="still queued"):
        wb.close()  # refused again: nothing dropped, nothing closed
    assert not wb.closed and wb.pending_operation_count() == (1 if coalescing else 2)
    flaky.refused.clear()
    wb.close()
    with SQLiteDataStore(tmp_path / "s.db", clock) as reopened:
        assert [reopened.load("m", k) for k in "bxyz"] == ["B2", "X", "Y", "Z"]


def test_hard_flush_stores_the_other_keys_before_raising_for_a_refused_one(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "h.db", clock))
    wb = WriteBehindDataStore(flaky, clock, 1_000, 1)  # type: ignore[arg-type]
    for key in "abc":
        wb.add("m", key, key.upper(), 0, 0)
    flaky.refused.add(("m", False, "a"))
    with pytest.raises(DataStoreError, match="1 operations still queued"):
        wb.hard_flush()
    assert [op.key for op in wb.queued()] == ["a"]
    assert flaky.inner.load("m", "b") == "B" and flaky.inner.load("m", "c") == "C"
    wb.reset()
    wb.close()


def test_a_refused_operation_holds_back_the_later_operations_of_its_key(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "o.db", clock))
    with WriteBehindDataStore(flaky, clock, 10, 10, write_coalescing=False) as wb:  # type: ignore[arg-type]
        wb.add("m", "k", 0, 0, 0)
        wb.add("m", "j", 1, 0, 0)
        wb.add("m", "k", 2, 0, 0)
        flaky.refused_values.append(0)
        assert wb.flush_due(10) == 1  # "j"; k=2 waits behind the refused k=0
        assert [(op.key, op.value) for op in wb.queued()] == [("k", 0), ("k", 2)]
        assert flaky.inner.load("m", "j") == 1 and flaky.inner.load("m", "k") is None
        assert wb.load("m", "k") == 2
        flaky.refused_values.clear()
        assert wb.flush_due(10) == 2
        assert flaky.inner.load("m", "k") == 2  # stored in order: the newest write wins


class _Scripted(FlakyStore):
    """A store whose n-th ``store_batch`` raises the n-th error of ``script`` (None: stores)."""

    def __init__(self, inner: SQLiteDataStore, script: list[Exception | None]) -> None:
        super().__init__(inner)
        self.script = script

    def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
        self.sizes.append(len(ops))
        error = self.script.pop(0) if self.script else None
        if error is not None:
            raise error
        self.inner.store_batch(ops, now)


def test_a_failing_store_is_not_tried_one_operation_at_a_time(tmp_path: Path) -> None:
    clock = ManualClock(0)
    down = DataStoreError("database is locked")
    refusal = UnsupportedValueError("refused")
    # a DataStoreError on the batch: the store itself fails, no one-by-one retries
    store = _Scripted(SQLiteDataStore(tmp_path / "d.db", clock), [down])
    with WriteBehindDataStore(store, clock, 10, 10) as wb:  # type: ignore[arg-type]
        for key in "abc":
            wb.add("m", key, 1, 0, 0)
        assert wb.flush_due(10) == 0 and store.sizes == [3] and wb.stats.failures == 1
        assert wb.flush_due(10) == 3
    # refused, then "a" refused alone, then the store fails on "b": "c" is not tried
    store = _Scripted(SQLiteDataStore(tmp_path / "e.db", clock), [refusal, refusal, down])
    with WriteBehindDataStore(store, clock, 10, 10) as wb:  # type: ignore[arg-type]
        for key in "abc":
            wb.add("m", key, 1, 0, 0)
        assert wb.flush_due(10) == 0 and store.sizes == [3, 1, 1]
        assert [op.key for op in wb.queued()] == ["a", "b", "c"] and wb.last_error is down
        assert wb.stats.failures == 3
        assert wb.flush_due(10) == 3 and store.sizes == [3, 1, 1, 3]


def test_a_value_mutated_after_its_write_is_refused_alone(tmp_path: Path) -> None:
    # values must not be mutated once written; one that is, and no longer encodes, is kept
    # queued with a clear error while the rest of its batch is stored
    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "v.db", clock)
    with WriteBehindDataStore(inner, clock, 10, 10) as wb:
        value = {"n": 1}
        wb.add("m", "bad", value, 0, 0)
        wb.add("m", "good", 2, 0, 0)
        value["n"] = {1, 2}  # type: ignore[assignment]
        assert wb.flush_due(10) == 1 and inner.load("m", "good") == 2
        assert isinstance(wb.last_error, UnsupportedValueError)
        assert "type set has no canonical encoding" in str(wb.last_error)
        assert [op.key for op in wb.queued()] == ["bad"]
        value["n"] = 3
        assert wb.flush_due(10) == 1 and inner.load("m", "bad") == {"n": 3}


def test_failed_coalesced_write_superseded_meanwhile_is_dropped(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "f2.db", clock))
    with WriteBehindDataStore(flaky, clock, 10) as wb:  # type: ignore[arg-type]
        wb.add("m", "k", "first", 0, 0)
        wb.add("m", "other", "o", 0, 0)
        flaky.failures_left = 1
        flaky.before = lambda: None if wb.add("m", "k", "second", 0, 5) else None  # in flight
        assert wb.flush_due(10) == 0
        assert [op.value for op in wb.queued()] == ["o", "second"]
        assert wb.load("m", "k") == "second"
        wb.hard_flush()
        assert flaky.inner.load("m", "k") == "second" and flaky.inner.load("m", "other") == "o"


def test_listeners_hear_only_the_newest_primary_write(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    heard: list[tuple[Any, Any, int]] = []
    wb.add_stored_listener("m", lambda k, v, now: heard.append((k, v, now)))
    wb.add("m", "a", 1, 0, 0)
    wb.add_backup("m", "b", 2, 0, 0)
    wb.remove("m", "c", 0)
    wb.add("other", "a", 3, 0, 0)
    wb.flush_due(1_000)
    assert heard == [("a", 1, 1_000)]
    with pytest.raises(InvalidArgumentError):
        wb.add_stored_listener("m", "not callable")  # type: ignore[arg-type]


def test_listener_is_not_called_when_a_newer_write_is_queued(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(
        SQLiteDataStore(tmp_path / "l.db", clock),
        clock,
        0,
        write_batch_size=1,
        write_coalescing=False,
    ) as wb:
        heard: list[Any] = []
        wb.add_stored_listener("m", lambda k, v, now: heard.append(v))
        wb.add("m", "k", "a", 0, 0)
        wb.add("m", "k", "b", 0, 0)
        wb.flush_due(0)
        assert heard == ["b"] and wb.stats.write_batches == 2


def test_flush_key_keeps_the_queued_write_staged(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    sqlite.add("m", "k", "stale", 0, 0)
    value = ["queued"]
    wb.add("m", "k", value, 0, 0)
    wb.flush_key("m", "k", value, False)
    assert wb.stats.staged == 1 and wb.pending_operation_count() == 1
    assert wb.load("m", "k") is value
    wb.flush_key("m", "k", "never handed to add", False)  # not turned into a write
    assert wb.load("m", "k") is value and wb.stats.queued == 1
    wb.flush_key("m", "absent", "x", False)  # nothing queued: nothing to keep
    assert wb.stats.staged == 2 and wb.load("m", "absent") is None
    wb.hard_flush()
    assert sqlite.load("m", "k") == ["queued"]


def test_reset_drops_the_queue(wb_parts: Any) -> None:
    wb, sqlite, clock = wb_parts
    wb.add("m", "k", 1, 0, 0)
    wb.reset()
    assert wb.pending_operation_count() == 0 and wb.is_loadable("k", "m")
    wb.hard_flush()
    assert sqlite.load("m", "k") is None


def test_close_flushes_and_closes_the_inner_store(tmp_path: Path) -> None:
    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "close.db", clock)
    wb = WriteBehindDataStore(inner, clock, 60_000)
    wb.add("m", "k", "v", 0, 0)
    with wb:
        pass
    assert wb.closed and inner.closed
    with SQLiteDataStore(tmp_path / "close.db") as again:
        assert again.load("m", "k") == "v"
    keep = SQLiteDataStore(tmp_path / "close.db", clock)
    with WriteBehindDataStore(keep, clock, close_inner=False):
        pass
    assert not keep.closed
    keep.close()


def test_close_reports_what_could_not_be_stored(tmp_path: Path) -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "cf.db", clock))
    wb = WriteBehindDataStore(flaky, clock, 0)  # type: ignore[arg-type]
    wb.add("m", "k", 1, 0, 0)
    flaky.failures_left = 1
    with pytest.raises(DataStoreError, match="1 operations still queued"):
        wb.close()
    # Nothing is closed and nothing dropped: the write is still readable and queued, and a
    # later close (the store has recovered) stores it.
    assert not wb.closed and not flaky.inner.closed
    assert wb.pending_operation_count() == 1 and wb.load("m", "k") == 1
    wb.close()
    assert wb.closed and flaky.inner.closed and wb.pending_operation_count() == 0
    with SQLiteDataStore(tmp_path / "cf.db", clock) as again:
        assert again.load("m", "k") == 1


def test_close_after_a_transient_failure_loses_nothing(tmp_path: Path) -> None:
    # A database locked by another connection during the final flush: close raises, the
    # queue stays, and once the lock is gone a second close stores every write.
    clock = ManualClock(0)
    path = tmp_path / "locked.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path, clock, timeout_millis=0), clock, 1_000)
    for i in range(3):
        wb.add("m", i, {"n": i}, 0, 0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DataStoreError, match="3 operations still queued"):
        wb.close()
    other.execute("ROLLBACK")
    other.close()
    assert wb.pending_operation_count() == 3
    wb.close()
    with SQLiteDataStore(path, clock) as reopened:
        assert reopened.load_all("m", [0, 1, 2]) == [(i, {"n": i}) for i in range(3)]


def test_a_failed_close_leaves_the_background_flusher_running(tmp_path: Path) -> None:
    clock = ManualClock(0)
    path = tmp_path / "locked2.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path, clock, timeout_millis=0), clock, 1_000)
    wb.add("m", "k", 1, 0, 0)
    wb.start_flusher(10)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DataStoreError, match="still queued"):
        wb.close()
    assert wb.flusher_running and not wb.closed
    wb.add("m", "j", 2, 0, 0)  # still open for writes
    other.execute("ROLLBACK")
    other.close()
    clock.set(1_000)
    deadline = time.monotonic() + 10
    while wb.pending_operation_count() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wb.pending_operation_count() == 0  # the flusher stored both
    wb.close()


def test_close_finishes_beside_a_busy_writer_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    # close() refuses writes once it has begun (as Hazelcast does at shutdown), so a writer
    # that never stops cannot keep it flushing for ever
    wb = WriteBehindDataStore(SQLiteDataStore(tmp_path / "busy.db"), write_delay_millis=1_000)
    acknowledged: dict[int, int] = {}
    refused: list[BaseException] = []

    def writer() -> None:
        i = 0
        while True:
            try:
                wb.add("m", i % 5_000, i, 0, 0)
            except DataStoreError as err:
                refused.append(err)
                return
            acknowledged[i % 5_000] = i
            i += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(0.2)
    closer = threading.Thread(target=wb.close)
    closer.start()
    closer.join(timeout=60)
    assert not closer.is_alive(), "close() did not finish beside a busy writer"
    thread.join(timeout=10)
    assert wb.closed and refused and "is clos" in str(refused[0])
    with SQLiteDataStore(tmp_path / "busy.db") as reopened:
        rows = dict(reopened.load_all("m", list(acknowledged)))
    assert rows == acknowledged  # every acknowledged write, the newest of each key


# add() with coalescing hands a write over without the lock; these pin what happens when
# close() begins between the hand-over and add() looking again (the race made deterministic).


def test_a_reader_without_the_lock_never_finds_a_write_between_hand_over_and_queue(
    tmp_path: Path,
) -> None:
    # is_loadable (and stats) read without the lock when nothing waits in the hand-over list,
    # so the list must keep its writes until they are queued: a reader racing a drain that
    # had already emptied it found a pending write in neither place and called it stored.
    wb = WriteBehindDataStore(SQLiteDataStore(tmp_path / "race.db"), ManualClock(0), 1_000)
    answers: list[bool] = []
    readers: list[threading.Thread] = []

    class ReadMidDrain(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: Any, op: Any) -> None:  # the drain queues one write
            super().__setitem__(key, op)
            if not readers:  # another thread asks about a write not queued yet
                reader = threading.Thread(target=lambda: answers.append(wb.is_loadable("b", "m")))
                readers.append(reader)
                reader.start()
                reader.join(0.2)  # at once without the lock; with it, after the drain

    wb._newest[("m", False)] = ReadMidDrain()  # map "m"'s primaries
    for key in ("a", "b", "c"):
        wb.add("m", key, 1, 0, 0)
    assert wb.pending_operation_count() == 3  # the drain: the reader runs as "a" is queued
    readers[0].join(10)
    assert answers == [False]  # "b" is queued, not stored
    wb.reset()
    wb.close()


@pytest.mark.parametrize("step", ["index", "queue", "queued"])
def test_an_interrupted_drain_keeps_the_writes_it_had_not_queued(tmp_path: Path, step: str) -> None:
    # A KeyboardInterrupt (Ctrl-C in a notebook) can land while a drain queues what add()
    # handed over: the writes already acknowledged but not queued yet must stay handed over
    # for the next drain, not be dropped with the ones queued. The third write is interrupted
    # as it is placed in the index of newest writes, or (after that) in the queue, or just
    # after it is in the queue (Python checks for a pending Ctrl-C as a call returns), before
    # it is flagged as queued: queued again, it is found there, not queued twice.
    path = tmp_path / "interrupted.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path), ManualClock(0), 0, close_inner=True)

    class InterruptIndex(dict):  # type: ignore[type-arg]
        armed = True

        def __setitem__(self, key: Any, op: Any) -> None:
            if InterruptIndex.armed and len(self) == 2:
                InterruptIndex.armed = False
                raise KeyboardInterrupt
            super().__setitem__(key, op)

    class InterruptQueue(deque):  # type: ignore[type-arg]
        armed = True

        def append(self, op: Any) -> None:
            if step == "queued":
                super().append(op)
            if InterruptQueue.armed and len(self) == 2 + (step == "queued"):
                InterruptQueue.armed = False
                raise KeyboardInterrupt
            if step != "queued":
                super().append(op)

    if step == "index":
        wb._newest[("m", False)] = InterruptIndex()
    else:
        wb._fifo = InterruptQueue()
    for key in range(5):
        assert wb.add("m", key, key * 10, 0, 0) is False  # acknowledged
    with pytest.raises(KeyboardInterrupt):
        wb.flush_due(0)
    assert len(wb._incoming) == 3  # the three not queued wait for the next drain
    assert [(op.key, op.seq) for op in wb.queued()] == [(k, k + 1) for k in range(5)]
    assert wb.stats.queued == 5 and wb.stats.coalesced == 0
    wb.close()
    with SQLiteDataStore(path) as reopened:
        assert dict(reopened.load_all("m", list(range(5)))) == {k: k * 10 for k in range(5)}


@pytest.mark.parametrize("coalescing", [True, False])
@pytest.mark.parametrize("at", ["recorded", "taken"])
def test_a_flush_interrupted_as_it_takes_a_batch_loses_nothing(
    tmp_path: Path, coalescing: bool, at: str
) -> None:
    # A Ctrl-C can land as a flush takes its batch off the queue: just after an operation is
    # recorded in the batch, or just after it has left the queue. What was taken goes back in
    # front, in order; a write made after the interrupt is queued, not merged into an
    # operation that has left the queue; the next flush stores everything.
    path = tmp_path / "take.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path), ManualClock(0), 0, write_coalescing=coalescing)

    class InterruptOnce(deque):  # type: ignore[type-arg]
        armed = False

        def popleft(self) -> Any:
            if InterruptOnce.armed and at == "recorded" and self[0].key == 1:
                InterruptOnce.armed = False
                raise KeyboardInterrupt
            op = super().popleft()
            if InterruptOnce.armed and at == "taken" and op.key == 1:
                InterruptOnce.armed = False
                raise KeyboardInterrupt
            return op

    wb._fifo = InterruptOnce()
    for key in range(3):
        wb.add("m", key, f"v{key}", 0, 0)
    assert wb.pending_operation_count() == 3
    InterruptOnce.armed = True
    with pytest.raises(KeyboardInterrupt):
        wb.hard_flush()
    assert [op.key for op in wb.queued()] == [0, 1, 2] and wb.stats.writes == 0
    wb.add("m", 1, "newer", 0, 0)  # acknowledged after the interrupt
    assert not wb.is_loadable(1, "m") and wb.load("m", 1) == "newer"
    assert wb.pending_operation_count() == (3 if coalescing else 4)
    wb.hard_flush()
    assert wb.pending_operation_count() == 0 and wb.is_loadable(1, "m")
    wb.close()
    with SQLiteDataStore(path) as reopened:
        assert dict(reopened.load_all("m", [0, 1, 2])) == {0: "v0", 1: "newer", 2: "v2"}


def test_a_drain_interrupted_at_a_new_maps_first_write_still_knows_the_map(tmp_path: Path) -> None:
    # is_loadable(key) with no map looks in every map the store has queued for: a map must be
    # known before its first write is in place, or a replayed write never adds it
    wb = WriteBehindDataStore(SQLiteDataStore(tmp_path / "maps.db"), ManualClock(0), 1_000)

    class InterruptOnce(dict):  # type: ignore[type-arg]
        armed = True

        def __setitem__(self, rows: Any, keys: Any) -> None:
            super().__setitem__(rows, keys)
            if InterruptOnce.armed and rows == ("n", False):  # map "n" known, its write not yet
                InterruptOnce.armed = False
                raise KeyboardInterrupt

    wb._newest = InterruptOnce()
    wb.add("m", 0, "a", 0, 0)
    wb.add("n", 1, "b", 0, 0)
    with pytest.raises(KeyboardInterrupt):
        wb.pending_operation_count()
    assert not wb.is_loadable(1) and wb.pending_operation_count() == 2
    assert (wb.stats.queued, wb.stats.coalesced) == (2, 0)
    wb.close()


def test_a_write_replayed_after_an_interrupt_supersedes_a_set_aside_write_once() -> None:
    # While a flush has set a refused key's write aside, a newer write of that key supersedes
    # it (coalesced once). Interrupted after that and queued again, it must not count twice.
    clock = ManualClock(0)
    wb = WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock, 1_000)
    refused = _Queued("m", "a", 0, 0, False, 0, 0, False)
    refused.queued = False  # set aside, as in such a flush
    wb._parked, wb._parked_keys = [refused], {("m", False, "a")}

    class InterruptOnce(dict):  # type: ignore[type-arg]
        armed = True

        def __setitem__(self, key: Any, op: Any) -> None:
            if InterruptOnce.armed:  # as the newer write is placed
                InterruptOnce.armed = False
                raise KeyboardInterrupt
            super().__setitem__(key, op)

    wb._newest[("m", False)] = InterruptOnce({"a": refused})
    wb.add("m", "a", 1, 0, 0)
    with pytest.raises(KeyboardInterrupt):
        wb.pending_operation_count()
    assert wb.pending_operation_count() == 1 and wb.load("m", "a") == 1
    assert (wb.stats.queued, wb.stats.coalesced) == (1, 1)
    wb._parked_keys = set()
    wb.reset()
    wb.close()


def test_an_interrupted_reset_drops_nothing_it_did_not_finish(tmp_path: Path) -> None:
    # reset() interrupted while it queues what was handed over (a KeyboardInterrupt) has
    # dropped nothing: the writes are stored by the close, and reset_epoch is even again
    path = tmp_path / "reset.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path), ManualClock(0), 1_000)

    class InterruptOnce(deque):  # type: ignore[type-arg]
        armed = False

        def append(self, op: Any) -> None:
            if InterruptOnce.armed:
                InterruptOnce.armed = False
                raise KeyboardInterrupt
            super().append(op)

    wb._fifo = InterruptOnce()
    wb.add("m", "a", 1, 0, 0)
    assert wb.pending_operation_count() == 1
    wb.add("m", "b", 2, 0, 0)  # handed over: the reset's drain queues it
    InterruptOnce.armed = True
    with pytest.raises(KeyboardInterrupt):
        wb.reset()
    assert wb.reset_epoch == 0 and not wb.is_loadable("a") and not wb.is_loadable("b")
    wb.close()
    with SQLiteDataStore(path) as reopened:
        assert dict(reopened.load_all("m", ["a", "b"])) == {"a": 1, "b": 2}


def test_a_write_handed_over_as_close_begins_is_stored_or_refused_never_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "handover.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path), ManualClock(0), 1_000)
    wb.add("m", "early", 1, 0, 0)

    class CloseThenHandOver(list):  # type: ignore[type-arg]
        def append(self, item: Any) -> None:  # close() ran just before the hand-over
            wb.close()
            super().append(item)
            assert wb.is_loadable("late")  # a read after the close queues nothing into it

    wb._incoming = CloseThenHandOver(wb._incoming)
    with pytest.raises(DataStoreError, match="is closed"):
        wb.add("m", "late", 2, 0, 0)
    assert wb._incoming == [] and wb.closed  # refused: taken back, nothing left behind
    with SQLiteDataStore(path) as reopened:
        assert reopened.load("m", "early") == 1 and reopened.load("m", "late") is None


def test_a_write_handed_over_before_close_runs_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "handover2.db"
    wb = WriteBehindDataStore(SQLiteDataStore(path), ManualClock(0), 1_000)

    class HandOverThenClose(list):  # type: ignore[type-arg]
        def append(self, item: Any) -> None:  # close() ran just after the hand-over
            super().append(item)
            wb.close()

    wb._incoming = HandOverThenClose(wb._incoming)
    assert wb.add("m", "k", "v", 0, 0) is False  # accepted: the close stored it
    assert wb.closed and wb.stats.writes == 1
    with SQLiteDataStore(path) as reopened:
        assert reopened.load("m", "k") == "v"


@pytest.mark.parametrize("when", ["while a batch is stored", "after the last batch"])
def test_a_write_handed_over_during_the_final_flush_is_stored(tmp_path: Path, when: str) -> None:
    # a writer that looked before close() began hands its write over during the final
    # flush, and a reader queues it: close() stores it too, so add() may acknowledge it
    path = tmp_path / "handover3.db"
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(path, clock))
    wb = WriteBehindDataStore(flaky, clock, 1_000)  # type: ignore[arg-type]
    wb.add("m", "first", 1, 0, 0)

    def late_write() -> None:
        wb._incoming.append(("m", "late", 2, 0, 0, True))  # as add() does
        assert not wb.is_loadable("late")  # the reader's look queues it

    if when == "while a batch is stored":
        flaky.before = late_write
    else:
        unpark = wb._unpark
        wb._unpark = lambda: (late_write(), setattr(wb, "_unpark", unpark), unpark())  # type: ignore[method-assign]
    wb.close()
    assert wb._incoming == [] and wb.closed
    with SQLiteDataStore(path) as reopened:
        assert reopened.load("m", "first") == 1 and reopened.load("m", "late") == 2


def test_a_write_handed_over_while_its_key_is_in_flight_keeps_it_dirty(tmp_path: Path) -> None:
    # the stored (older) write is not reported as the key's newest: the record stays dirty
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "dirty.db", clock))
    with WriteBehindDataStore(flaky, clock, 10) as wb:  # type: ignore[arg-type]
        heard: list[Any] = []
        wb.add_stored_listener("m", lambda k, v, now: heard.append(v))
        wb.add("m", "k", "first", 0, 0)
        flaky.before = lambda: wb.add("m", "k", "second", 0, 5)  # handed over, due at 15
        assert wb.flush_due(10) == 1
        assert heard == [] and not wb.is_loadable("k") and wb.load("m", "k") == "second"
        assert wb.flush_due(15) == 1 and heard == ["second"] and wb.is_loadable("k")


def test_write_behind_keeps_few_enough_attributes_for_fast_attribute_reads(tmp_path: Path) -> None:
    # CPython 3.11 keeps an object's attributes in a shared-key layout (which its attribute
    # reads are specialised for) only up to 29 of them: add() reads several on every put
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "a.db"), ManualClock(0)) as wb:
        wb.start_flusher(1_000)
        wb.add("m", "k", 1, 0, 0)
        assert len(vars(wb)) <= 29, sorted(vars(wb))


def test_add_queues_what_it_handed_over_before_the_list_grows_long(tmp_path: Path) -> None:
    # with nothing else reading the queue (a flusher thread starved of the GIL, or no flush
    # at all), a writer's hand-overs do not pile up: it queues them itself now and then
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "b.db", clock), clock, 10) as wb:
        longest = 0
        for i in range(5_000):
            wb.add("m", i % 700, i, 0, 0)
            longest = max(longest, len(wb._incoming))
        assert 0 < longest <= 512
        assert len(wb._fifo) == 700 and wb.stats.queued == 5_000


def test_reset_counts_the_writes_it_drops_as_queued(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "r.db", clock), clock, 10) as wb:
        for i in range(3):
            wb.add("m", i % 2, i, 0, 0)
        wb.reset()  # before anything else read the queue
        assert (wb.stats.queued, wb.stats.coalesced, wb.pending_operation_count()) == (3, 1, 0)
        wb.add("m", "k", "v", 0, 0)
        assert [op.seq for op in wb.queued()] == [4]  # numbered after the dropped ones


def test_write_coalescing_is_fixed_when_the_store_is_made(tmp_path: Path) -> None:
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "c.db"), ManualClock(0)) as wb:
        with pytest.raises(AttributeError):
            wb.write_coalescing = False  # type: ignore[misc]
        assert wb.write_coalescing is True


def test_stats_count_handed_over_writes_at_once(tmp_path: Path) -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "s.db", clock), clock, 10) as wb:
        stats = wb.stats
        for i in range(5):
            wb.add("m", i % 2, i, 0, 0)
        assert (wb.stats.queued, wb.stats.coalesced) == (5, 3)
        assert stats is wb.stats and wb.pending_operation_count() == 2
        wb.remove("m", 0, 0)  # a delete queued through the lock comes after them
        assert [(op.key, op.value) for op in wb.queued()] == [(0, None), (1, 3)]


def race_writers_readers_and_close(path: Path) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """Two writers hand writes over (int keys) while a reader queues them (load, is_loadable,
    stats) and a flusher stores them; then close(). Return the acknowledged writes (the
    newest of each key) and any read that went back in time."""
    wb = WriteBehindDataStore(SQLiteDataStore(path), write_delay_millis=0, write_batch_size=50)
    wb.start_flusher(1)
    acknowledged: dict[int, int] = {}
    stale: list[tuple[int, int]] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        i = 0
        while True:
            try:
                wb.add("m", w * 1_000 + i % 50, i, 0, 0)
            except DataStoreError:
                return
            acknowledged[w * 1_000 + i % 50] = i
            i += 1

    def reader() -> None:
        seen: dict[int, int] = {}
        while not stop.is_set():
            for key in (7, 1_007, 49):
                try:
                    value = wb.load("m", key)
                except DataStoreError:
                    return
                if value is not None:
                    if value < seen.get(key, -1):
                        stale.append((key, value))
                    seen[key] = value
                wb.is_loadable(key)
            wb.stats.queued  # noqa: B018 - reading stats queues what was handed over

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    time.sleep(0.3)
    wb.close()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert wb._incoming == []
    return acknowledged, stale


def test_writers_readers_and_close_race_without_losing_or_staling_a_write(tmp_path: Path) -> None:
    # every acknowledged write is in the database (the newest of each key), a refused one is
    # not, and no read ever went back in time
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for run in range(3):
            path = tmp_path / f"race-{run}.db"
            acknowledged, stale = race_writers_readers_and_close(path)
            assert not stale
            with SQLiteDataStore(path) as reopened:
                rows = dict(reopened.load_all("m", list(acknowledged)))
            assert rows == acknowledged
    finally:
        sys.setswitchinterval(old)


def test_a_record_marked_clean_beside_a_background_flusher_holds_the_stored_row(
    tmp_path: Path,
) -> None:
    # A record store over write-behind marks a record clean when its write is stored: from the
    # flusher's thread (the stored listener) or from put itself (is_loadable, asked while the
    # flusher may be queueing what was handed over). A clean record must hold the stored row.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    wrong: list[tuple[int, int, int, Any]] = []
    try:
        for run in range(30):
            wb = WriteBehindDataStore(
                SQLiteDataStore(tmp_path / f"dirty-{run}.db"),
                write_delay_millis=run % 2,
                write_batch_size=(1, 5, 100)[run % 3],
            )
            rs = DefaultRecordStore("m", data_store=wb)
            wb.start_flusher(1)
            end = time.monotonic() + 0.05
            n = 1_000  # a new int object per put: "is" tells writes apart
            while time.monotonic() < end:
                key = n % 10
                rs.put(key, n)
                record = rs.get(key)
                if record is not None and not record.metadata.is_dirty():
                    row = wb.inner.load("m", key)
                    if row != n:
                        wrong.append((run, key, n, row))
                n += 1
            wb.close()
    finally:
        sys.setswitchinterval(old)
    assert not wrong


def test_reset_then_close_gives_up_what_cannot_be_stored() -> None:
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(":memory:", clock))
    wb = WriteBehindDataStore(flaky, clock, 0)  # type: ignore[arg-type]
    wb.add("m", "k", 1, 0, 0)
    flaky.failures_left = 10**9
    with pytest.raises(DataStoreError):
        wb.close()
    wb.reset()  # the explicit way to drop what cannot be stored
    wb.close()
    assert wb.closed and flaky.inner.closed and wb.pending_operation_count() == 0


def test_fallback_without_store_batch_uses_the_protocol() -> None:
    clock = ManualClock(0)
    inner = DictStore()
    with WriteBehindDataStore(inner, clock, 0) as wb:  # type: ignore[arg-type]
        wb.add("m", "k", 1, 0, 0)
        wb.add_backup("m", "k", 2, 0, 0)
        wb.remove("m", "gone", 0)
        wb.flush_due(0)
        assert inner.rows == {("m", False, "k"): 1, ("m", True, "k"): 2}
        wb.remove_backup("m", "k", 0)
        wb.flush_due(0)
        assert inner.rows == {("m", False, "k"): 1}
        with pytest.raises(UnsupportedValueError):
            wb.add("m", "k", {1}, 0, 0)
    assert inner.closed


def test_write_behind_validates_its_arguments(tmp_path: Path) -> None:
    with SQLiteDataStore(tmp_path / "v.db") as inner:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"write_delay_millis": -1}, "write_delay_millis"),
            ({"write_batch_size": 0}, "write_batch_size"),
            ({"queue_capacity": 0}, "queue_capacity"),
            ({"write_coalescing": "yes"}, "write_coalescing"),
        ]
        for kwargs, match in cases:
            with pytest.raises(InvalidArgumentError, match=match):
                WriteBehindDataStore(inner, None, **kwargs)
        wb = WriteBehindDataStore(inner, None, close_inner=False)
        with pytest.raises(InvalidArgumentError, match="write-through"):
            WriteBehindDataStore(wb)  # type: ignore[arg-type]
        with pytest.raises(UnsupportedValueError, match="hashable"):
            wb.add("m", [1], "v", 0, 0)
        with pytest.raises(InvalidArgumentError, match="interval_millis"):
            wb.start_flusher(0)
        wb.close()
        assert "coalescing" in repr(wb)


def test_bad_times_and_keys_are_refused_by_name_and_change_nothing(tmp_path: Path) -> None:
    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "t.db", clock)
    wb = WriteBehindDataStore(inner, clock, 1_000, queue_capacity=2, write_coalescing=False)
    wb.add("m", "a", 1, 0, 0)
    assert wb.soft_flush() == 1
    for now in (None, "x", -1, 1.5):
        for store in (inner, wb):
            with pytest.raises(InvalidArgumentError, match=f"now must be .*got {now!r}"):
                store.add("m", "k", 1, 0, now)  # type: ignore[arg-type]
            with pytest.raises(InvalidArgumentError, match=f"now must be .*got {now!r}"):
                store.remove("m", "k", now)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="now must be .*got 'x'"):
        wb.flush_due("x")  # type: ignore[arg-type]
    wb.add("m", "b", 2, 0, 0)
    with pytest.raises(QueueFullError):
        wb.add("m", "c", 3, 0, 0)
    # refused operations take no sequence number and queue nothing
    assert wb.soft_flush() == 2 and wb.pending_operation_count() == 2
    assert inner.row_count() == 0
    for store in (inner, wb):
        with pytest.raises(InvalidArgumentError, match="keys must be a sequence of keys, got None"):
            store.remove_all("m", None)  # type: ignore[arg-type]
        # an unhashable key was never stored: nothing to load, nothing to skip loudly
        assert store.load("m", [1]) is None
        assert store.load_all("m", [[1], "a"]) == ([("a", 1)] if store is wb else [])
    wb.close()
    with pytest.raises(DataStoreError, match="closed"):
        inner.remove("m", [1], 0)  # a closed store says so, whatever the key


def test_background_flusher_stores_and_stops(tmp_path: Path) -> None:
    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "bg.db", clock)
    wb = WriteBehindDataStore(inner, clock, write_delay_millis=0, write_batch_size=50)
    heard = threading.Event()
    wb.add_stored_listener("m", lambda k, v, now: heard.set() if k == 499 else None)
    wb.start_flusher(interval_millis=2)
    assert wb.flusher_running
    with pytest.raises(InvalidArgumentError, match="already running"):
        wb.start_flusher(2)
    model: dict[int, int] = {}
    for i in range(500):
        wb.add("m", i, i, 0, 0)
        wb.add("m", i % 97, -i, 0, 0)
        model[i] = i
        model[i % 97] = -i
    assert heard.wait(5.0)
    deadline = time.monotonic() + 5.0
    while wb.pending_operation_count() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert wb.pending_operation_count() == 0
    wb.close()
    assert not wb.flusher_running and wb.last_error is None
    with SQLiteDataStore(tmp_path / "bg.db") as again:
        assert dict(again.load_all("m", range(500))) == model


def test_flush_process_drives_write_behind_in_a_simulation(tmp_path: Path) -> None:
    env = simpy.Environment()
    clock = SimClock(env, millis_per_unit=1)
    with WriteBehindDataStore(
        SQLiteDataStore(tmp_path / "sim.db", clock), clock, write_delay_millis=250
    ) as wb:
        stored_at: dict[Any, int] = {}
        wb.add_stored_listener("m", lambda k, v, now: None if stored_at.setdefault(k, now) else None)

        def writer(env: simpy.Environment) -> Any:
            for i in range(10):
                wb.add("m", i, i, 0, clock.now_millis())
                yield env.timeout(100)

        env.process(writer(env))
        env.process(flush_process(env, wb, 50, millis_per_unit=1))
        env.run(until=2_000)
        assert stored_at == {i: 100 * i + 250 for i in range(10)}
    with pytest.raises(InvalidArgumentError):
        flush_process(env, wb, 0)


def test_write_behind_marks_plain_writes_checked_and_stores_the_same_text(tmp_path: Path) -> None:
    clock = ManualClock(0)
    plain, tagged = {"a": [1, "é"], "b": None}, {"t": (1, 2)}
    with WriteBehindDataStore(SQLiteDataStore(tmp_path / "c.db", clock), clock, 10, 10) as wb:
        wb.add("m", "p", plain, 0, 0)
        wb.add("m", "t", tagged, 0, 0)
        ops = {op.key: op for op in wb.queued()}
        assert ops["p"].checked is True  # plain JSON: stored without a second check
        assert ops["t"].checked is False  # a tuple inside: the full encoder tags it
        wb.hard_flush()
        conn = wb.inner._connection()
        texts = dict(conn.execute("SELECT key, value FROM entries").fetchall())
    assert texts == {encode_key("p"): encode_value(plain), encode_key("t"): encode_value(tagged)}
    assert encode_plain(plain) == encode_value(plain)


# --- write-behind against a reference model (hypothesis state machine) -----------------------

WB_MAPS = ("a", "b")
WB_KEYS = (0, 1, 2)
WB_DELAY = 100
WB_BATCH = 3
WB_CAPACITY = 6


class WriteBehindMachine(RuleBasedStateMachine):
    """Random writes, deletes, clock steps, flushes and failing batches against a model of
    the queue (first-write order, due times, batches, retries) and of the rows stored."""

    coalescing = True

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(0)
        self.sqlite = SQLiteDataStore(":memory:", self.clock)
        self.flaky = FlakyStore(self.sqlite)
        self.wb = WriteBehindDataStore(
            self.flaky, self.clock, WB_DELAY, WB_BATCH, self.coalescing, WB_CAPACITY
        )
        # model: queued operations in order, [qk, value (None: delete), expiration, due]
        self.queue: list[list[Any]] = []
        self.rows: dict[tuple[str, bool, Any], tuple[Any, int]] = {}  # what is stored
        self.counter = 0
        self.writes = self.deletes = 0

    def teardown(self) -> None:
        # closing stores everything left: nothing acknowledged is lost
        self.flaky.failures_left = 0
        self.flaky.refused.clear()
        self.flaky.refused_values.clear()
        self.wb.close_inner = False
        self.wb.close()
        assert self._model_flush(True) >= 0
        self.rows_match()
        self.sqlite.close()

    # --- operations ---------------------------------------------------------------------------

    def _queue(self, qk: tuple[str, bool, Any], value: Any, exp: int) -> None:
        now = self.clock.now_millis()
        if self.coalescing:
            for op in self.queue:
                if op[0] == qk:  # a later write takes the queued one's value, keeps its place
                    op[1], op[2] = value, exp
                    return
        self.queue.append([qk, value, exp, now + WB_DELAY])

    def _full(self) -> bool:
        return not self.coalescing and len(self.queue) >= WB_CAPACITY

    @rule(m=st.sampled_from(WB_MAPS), key=st.sampled_from(WB_KEYS), backup=st.booleans(),
          expires=st.booleans())
    def write(self, m: str, key: int, backup: bool, expires: bool) -> None:
        self.counter += 1
        now = self.clock.now_millis()
        exp = now + 150 if expires else 0
        add = self.wb.add_backup if backup else self.wb.add
        if self._full():
            before = [(op.key, op.value, op.seq) for op in self.wb.queued()]
            with pytest.raises(QueueFullError):
                add(m, key, self.counter, exp, now)
            assert [(op.key, op.value, op.seq) for op in self.wb.queued()] == before
            return
        assert add(m, key, self.counter, exp, now) is False
        self._queue((m, backup, key), self.counter, exp)

    @rule(m=st.sampled_from(WB_MAPS), key=st.sampled_from(WB_KEYS), backup=st.booleans())
    def delete(self, m: str, key: int, backup: bool) -> None:
        now = self.clock.now_millis()
        remove = self.wb.remove_backup if backup else self.wb.remove
        if self._full():
            with pytest.raises(QueueFullError):
                remove(m, key, now)
            return
        remove(m, key, now)
        self._queue((m, backup, key), None, 0)

    @rule(ms=st.integers(0, 120))
    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule()
    def fail_next_batch(self) -> None:
        self.flaky.failures_left = 1

    @rule(m=st.sampled_from(WB_MAPS), key=st.sampled_from(WB_KEYS), backup=st.booleans())
    def refuse(self, m: str, key: int, backup: bool) -> None:
        self.flaky.refused.add((m, backup, key))

    @rule(pick=st.integers(0, WB_CAPACITY))
    def refuse_a_queued_write(self, pick: int) -> None:
        writes = [op[1] for op in self.queue if op[1] is not None]
        if writes:
            self.flaky.refused_values.append(writes[pick % len(writes)])

    @rule()
    def accept_all(self) -> None:
        self.flaky.refused.clear()
        self.flaky.refused_values.clear()

    def _model_flush(self, everything: bool) -> int:
        """Flush the model; return the operations stored, or -1 when the store failed as a
        whole (then nothing of the failing batch is stored and the flush ends).

        A refused key's operations are set aside (in queue order) for the rest of the flush:
        those the failed batch held, those right behind them at the front of the queue, and
        any other of the key that a later batch reaches. All go back to the front of the
        queue when the flush ends."""
        now = self.clock.now_millis()
        refused = self.flaky.refused
        stored = 0
        parked: list[Any] = []
        blocked: set[Any] = set()
        while self.queue:
            batch: list[Any] = []
            i = 0
            while i < len(self.queue) and len(batch) < WB_BATCH and (
                everything or self.queue[i][3] <= now
            ):
                op = self.queue[i]
                i += 1
                (parked if op[0] in blocked else batch).append(op)
            del self.queue[:i]
            if not batch:
                break
            if self.flaky.failures_left:
                self.queue[:0] = parked + batch
                return -1  # the store's batch fails and stays queued
            # the others of the batch are stored (one at a time when the batch was refused)
            held, done, refused_now = [], [], set()
            for op in batch:
                qk, value = op[0], op[1]
                if qk in refused_now or qk in refused or (
                    value is not None and value in self.flaky.refused_values
                ):
                    held.append(op)
                    refused_now.add(qk)  # a later operation of the key waits for this one
                else:
                    done.append(op)
            blocked |= refused_now
            parked += held
            while self.queue and self.queue[0][0] in refused_now:
                parked.append(self.queue.pop(0))
            for qk, value, exp, _ in done:
                if value is None:
                    self.rows.pop(qk, None)
                    self.deletes += 1
                else:
                    self.rows[qk] = (value, exp)
                    self.writes += 1
            stored += len(done)
        self.queue[:0] = parked
        return stored

    @rule()
    def flush_due(self) -> None:
        expected = self._model_flush(False)
        stored = self.wb.flush_due()
        if expected < 0:
            assert self.wb.last_error is not None and self.flaky.failures_left == 0
        else:
            assert stored == expected

    @rule()
    def soft_flush(self) -> None:
        self.wb.soft_flush()
        for op in self.queue:
            op[3] = 0

    @rule()
    def hard_flush(self) -> None:
        if self._model_flush(True) < 0 or self.queue:
            with pytest.raises(DataStoreError, match="still queued"):
                self.wb.hard_flush()
            assert self.flaky.failures_left == 0
        else:
            self.wb.hard_flush()
            assert not self.queue and self.wb.pending_operation_count() == 0

    # --- what must always hold ----------------------------------------------------------------

    @invariant()
    def queue_matches(self) -> None:
        assert self.wb.pending_operation_count() == len(self.queue)
        assert [((op.map_name, op.is_backup, op.key), op.value, op.expiration_time, op.due)
                for op in self.wb.queued()] == [tuple(op) for op in self.queue]

    @invariant()
    def rows_match(self) -> None:
        conn = self.sqlite._connection()
        stored = {}
        for backup, table in ((False, "entries"), (True, "backup_entries")):
            for m, k, v, exp in conn.execute(
                f"SELECT map_name, key, value, expiration_time FROM {table}"
            ):
                stored[(m, backup, decode_key(k))] = (decode_value(v), exp)
        assert stored == self.rows
        assert (self.wb.stats.writes, self.wb.stats.deletes) == (self.writes, self.deletes)

    @invariant()
    def reads_see_the_newest_write(self) -> None:
        now = self.clock.now_millis()
        for m in WB_MAPS:
            for key in WB_KEYS:
                qk = (m, False, key)
                queued = [op for op in self.queue if op[0] == qk]
                assert self.wb.is_loadable(key, m) is (not queued)
                if queued:
                    _, value, exp, _ = queued[-1]
                    expected = None if value is None or (exp and now > exp) else value
                else:
                    value, exp = self.rows.get(qk, (None, 0))
                    expected = None if value is None or (exp and now > exp) else value
                assert self.wb.load(m, key) == expected, (qk, self.queue)
            assert self.wb.is_loadable(key) is all(
                op[0] != (mm, False, key) for op in self.queue for mm in WB_MAPS
            )


class NonCoalescingWriteBehindMachine(WriteBehindMachine):
    coalescing = False


_WB_SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestWriteBehindMachine = WriteBehindMachine.TestCase
TestWriteBehindMachine.settings = _WB_SETTINGS
TestNonCoalescingWriteBehindMachine = NonCoalescingWriteBehindMachine.TestCase
TestNonCoalescingWriteBehindMachine.settings = _WB_SETTINGS


def test_an_interrupted_flush_keeps_its_batch_queued(tmp_path: Path) -> None:
    # Ctrl-C in a notebook while a batch is being stored: the batch goes back to the queue,
    # so the next flush (or close) stores it; nothing is stranded in the staging area.
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(tmp_path / "int.db", clock))
    wb = WriteBehindDataStore(flaky, clock, 0)  # type: ignore[arg-type]
    for i in range(5):
        wb.add("m", i, i, 0, 0)

    def interrupt() -> None:
        raise KeyboardInterrupt

    flaky.before = interrupt
    with pytest.raises(KeyboardInterrupt):
        wb.flush_due(0)
    assert wb.pending_operation_count() == 5 and [op.key for op in wb.queued()] == [0, 1, 2, 3, 4]
    assert flaky.inner.row_count() == 0
    # interrupted during the one-at-a-time pass after a refused batch: all of it back too
    flaky.refused_values = [3]
    calls = [0]

    def interrupt_third() -> None:  # the batch, then operation 0 alone, then operation 1
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        flaky.before = interrupt_third

    flaky.before = interrupt_third
    with pytest.raises(KeyboardInterrupt):
        wb.flush_due(0)
    assert calls[0] == 3 and flaky.inner.row_count() == 1  # operation 0 was stored
    assert wb.pending_operation_count() == 5
    flaky.refused_values = []
    assert wb.flush_due(0) == 5
    wb.close()
    with SQLiteDataStore(tmp_path / "int.db", clock) as s:
        assert s.load_all("m", range(5)) == [(i, i) for i in range(5)]


def test_a_value_changed_after_its_write_is_stored_canonically_or_refused(tmp_path: Path) -> None:
    import datetime

    clock = ManualClock(0)
    inner = SQLiteDataStore(tmp_path / "mut.db", clock)
    with WriteBehindDataStore(inner, clock, 10, 10) as wb:
        dated = {"a": 1}
        keyed = {"a": 1}
        wb.add("m", "dated", dated, 0, 0)
        wb.add("m", "keyed", keyed, 0, 0)
        dated["a"] = datetime.date(2024, 1, 2)  # not storable: refused, stays queued
        keyed["a"] = {1: "x"}  # storable, with its int key kept (tagged)
        assert wb.flush_due(10) == 1
        assert inner.load("m", "keyed") == {"a": {1: "x"}}
        assert [op.key for op in wb.queued()] == ["dated"]
        assert "date" in str(wb.last_error)
        dated["a"] = "2024-01-02"
        assert wb.flush_due(10) == 1


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda p: WriteBehindDataStore(SQLiteDataStore(p), 5000),  # meant write_delay_millis
         r"clock must be a Clock with now_millis\(\).*got 5000 \(the arguments are WriteBehind"),
        (lambda p: SQLiteDataStore(p, 5), r"clock must be a Clock.*got 5"),
        (lambda p: SQLiteDataStore(""), "path must not be empty"),
        (lambda p: WriteBehindDataStore(SQLiteDataStore(p), close_inner="no"), "close_inner must be a bool"),
        (lambda p: DefaultRecordStore("m", clock=5), "clock must be a Clock"),  # type: ignore[arg-type]
        (lambda p: DefaultRecordStore("m", data_store="x"), "data_store must be a MapDataStore"),  # type: ignore[arg-type]
        (lambda p: DefaultRecordStore("m", observer=5), "observer must be a MutationObserver"),  # type: ignore[arg-type]
    ],
)
def test_bad_parts_are_refused_when_the_store_is_built(tmp_path: Path, build: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        build(tmp_path / "x.db")


def test_write_behind_refuses_out_of_range_times_and_intervals() -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock) as wb:
        with pytest.raises(InvalidArgumentError, match="now"):
            wb.add("m", "k", 1, 0, 2**63)
        with pytest.raises(InvalidArgumentError, match=r"interval_millis must be in 1..86400000"):
            wb.start_flusher(10**13)
        assert wb.pending_operation_count() == 0 and not wb.flusher_running


@pytest.mark.parametrize("version", [0, 1, 2, 7])
def test_a_database_that_is_not_ours_is_refused_untouched(tmp_path: Path, version: int) -> None:
    path = tmp_path / "theirs.db"
    theirs = sqlite3.connect(path)
    theirs.execute("CREATE TABLE users (name TEXT)")
    theirs.execute(f"PRAGMA user_version={version}")
    theirs.commit()
    theirs.close()
    before = path.read_bytes()
    with pytest.raises(DataStoreError, match="not a data store of this toolkit|schema version 7"):
        SQLiteDataStore(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "theirs.db-wal").exists()
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello, this is not a database" * 100)
    with pytest.raises(DataStoreError, match="cannot open SQLite database"):
        SQLiteDataStore(not_a_db)


def _run_and_exit(script: str) -> str:
    """Run ``script`` in a new interpreter that then exits normally; return its standard
    output, having checked that it succeeded and wrote nothing to standard error."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


@pytest.mark.parametrize("flusher", [False, True])
def test_queued_writes_are_stored_when_the_interpreter_exits(tmp_path: Path, flusher: bool) -> None:
    path = tmp_path / "exit.db"
    script = f"""
from toolkit import DefaultRecordStore
from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore
wb = WriteBehindDataStore(SQLiteDataStore({str(path)!r}), write_delay_millis=60_000)
if {flusher}:
    wb.start_flusher(50)
store = DefaultRecordStore("m", data_store=wb)
for i in range(5):
    store.put(i, {{"n": i}})
print(wb.pending_operation_count())
"""  # no close(): a normal exit is a graceful shutdown
    assert _run_and_exit(script).strip() == "5"
    with SQLiteDataStore(path) as reopened:
        assert len(reopened.load_all("m", list(range(5)))) == 5


def test_a_record_store_that_is_gone_stops_listening() -> None:
    import gc

    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock, 0) as wb:
        heard: list[Any] = []
        wb.add_stored_listener("m", lambda key, value, now: heard.append(key))
        for _ in range(50):  # short-lived record stores over one long-lived data store
            DefaultRecordStore("m", data_store=wb, clock=clock).put("k", 1)
        gc.collect()
        survivor = DefaultRecordStore("m", data_store=wb, clock=clock)
        survivor.put("k", 2)
        assert len(wb._listeners["m"]) == 2  # the function, and the survivor's listener
        wb.flush_due(0)
        assert heard == ["k"] and not survivor.storage().get("k").metadata.is_dirty()  # type: ignore[union-attr]


def test_two_threads_closing_at_once_both_learn_that_it_failed() -> None:
    clock = ManualClock(0)

    class SlowDown(FlakyStore):
        def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
            time.sleep(0.2)
            raise DataStoreError("disk full")

    wb = WriteBehindDataStore(SlowDown(SQLiteDataStore(":memory:", clock)), clock, 0)  # type: ignore[arg-type]
    wb.add("m", "k", 1, 0, 0)
    outcomes: list[str] = []

    def close() -> None:
        try:
            wb.close()
            outcomes.append("returned")
        except DataStoreError:
            outcomes.append("raised")

    threads = [threading.Thread(target=close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes == ["raised", "raised"] and not wb.closed and wb.pending_operation_count() == 1
    wb.reset()
    wb.close()


def test_an_inner_store_that_is_down_is_not_asked_once_per_queued_write() -> None:
    clock = ManualClock(0)

    class Down(FlakyStore):
        def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
            self.calls += 1
            raise ConnectionError("no route to host")

    down = Down(SQLiteDataStore(":memory:", clock))
    wb = WriteBehindDataStore(down, clock, 0, 100)  # type: ignore[arg-type]
    for i in range(1_000):
        wb.add("m", i, i, 0, 0)
    assert wb.flush_due(0) == 0
    assert down.calls == 101  # the batch, then its operations one by one; then it stops
    assert wb.pending_operation_count() == 1_000 and [op.key for op in wb.queued()][:3] == [0, 1, 2]
    wb.reset()
    wb.close()


def test_loads_from_several_threads_are_counted_once_each(tmp_path: Path) -> None:
    # load_all counted the inner store's loads around its own call, which took in other
    # threads' loads too (counted twice); and counts updated outside a lock were lost.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        sqlite = SQLiteDataStore(tmp_path / "loads.db")
        wb = WriteBehindDataStore(sqlite, ManualClock(0), 0, close_inner=False)
        for key in range(50):
            wb.add("m", key, key, 0, 0)
        wb.hard_flush()  # every read below is a round trip
        before = (wb.stats.loads, wb.stats.keys_loaded, sqlite.stats.loads, sqlite.stats.keys_loaded)

        def reader(i: int) -> None:
            for j in range(300):
                if (i + j) % 2:
                    wb.load_all("m", [j % 50, (j + 1) % 50])
                else:
                    wb.load("m", j % 50)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = (wb.stats.loads, wb.stats.keys_loaded, sqlite.stats.loads, sqlite.stats.keys_loaded)
        loads, rows, inner_loads, inner_rows = (a - b for a, b in zip(after, before, strict=True))
        assert loads == inner_loads == 1_200 and rows == inner_rows == 1_800
        wb.close()
        sqlite.close()
    finally:
        sys.setswitchinterval(old)


def test_load_all_through_write_behind_over_null_counts_one_round_trip() -> None:
    with WriteBehindDataStore(NullDataStore(), ManualClock(0), 0) as wb:
        wb.load_all("m", [1, 2, 3])
        assert wb.stats.loads == 1


#: Two write-behind stores over one SQLite store at ``path``, left open (for the exit tests).
_TWO_STORES = """
from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore
inner = SQLiteDataStore({path!r})
first = WriteBehindDataStore(inner, write_delay_millis=60_000)
second = WriteBehindDataStore(inner, write_delay_millis=60_000)"""


def test_stores_sharing_an_inner_store_are_all_stored_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    script = _TWO_STORES.format(path=str(path)) + """
first.add("m", "a", 1, 0, 0)
second.add("m", "b", 2, 0, 0)
"""  # neither closed: at exit both queues are stored before the shared inner store closes
    _run_and_exit(script)
    with SQLiteDataStore(path) as reopened:
        assert reopened.load_all("m", ["a", "b"]) == [("a", 1), ("b", 2)]


def test_a_write_queued_during_a_flush_waits_behind_its_refused_key() -> None:
    # without coalescing a key's writes are stored in order: one queued while its key is set
    # aside in this flush must not overtake the refused one
    clock = ManualClock(0)
    flaky = FlakyStore(SQLiteDataStore(":memory:", clock))
    calls = {"n": 0}
    real = flaky.store_batch

    def store_batch(ops: Sequence[StoreOp], now: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # while "x" is being stored, the owner writes "b" again
            wb.add("m", "b", "B2", 0, 0)
        real(ops, now)

    flaky.store_batch = store_batch  # type: ignore[method-assign]
    wb = WriteBehindDataStore(flaky, clock, 0, 1, write_coalescing=False)  # type: ignore[arg-type]
    wb.add("m", "b", "B1", 0, 0)
    wb.add("m", "x", "X", 0, 0)
    flaky.refused_values.append("B1")
    assert wb.flush_due(0) == 1  # "x" only
    assert [op.value for op in wb.queued()] == ["B1", "B2"]
    assert flaky.inner.load("m", "b") is None
    flaky.refused_values.clear()
    assert wb.flush_due(0) == 2
    assert flaky.inner.load("m", "b") == "B2"
    wb.close()


def _hooked(hook: Callable[[int], None]) -> FlakyStore:
    """A FlakyStore over an in-memory SQLite store that calls ``hook(n)`` at the start of its
    n-th ``store_batch`` (set before the write-behind store binds it)."""
    flaky = FlakyStore(SQLiteDataStore(":memory:", ManualClock(0)))
    real = flaky.store_batch
    calls = {"n": 0}

    def store_batch(ops: Sequence[StoreOp], now: int) -> None:
        calls["n"] += 1
        hook(calls["n"])
        real(ops, now)

    flaky.store_batch = store_batch  # type: ignore[method-assign]
    return flaky


def test_soft_flush_makes_a_batch_in_flight_due_too() -> None:
    clock = ManualClock(0)
    holder: dict[str, Any] = {}

    def hook(n: int) -> None:
        if n == 1:
            holder["wb"].soft_flush()  # while the first batch is being stored (and then fails)
            holder["flaky"].failures_left = 1

    flaky = _hooked(hook)
    holder["flaky"] = flaky
    wb = holder["wb"] = WriteBehindDataStore(flaky, clock, 60_000, 1)  # type: ignore[arg-type]
    wb.add("m", "a", 1, 0, 0)
    wb.add("m", "b", 2, 0, 0)
    with pytest.raises(DataStoreError):
        wb.hard_flush()
    assert wb.flush_due(1) == 2  # both due now, the failed one included
    wb.close()


def test_a_parked_key_rewritten_during_the_flush_is_one_pending_write() -> None:
    clock = ManualClock(0)
    holder: dict[str, Any] = {}
    seen: dict[str, Any] = {}

    def hook(n: int) -> None:
        if n == 2:  # "k" is set aside (refused alone); now "y" is being stored
            wb = holder["wb"]
            wb.add("m", "k", "GOOD", 0, 0)
            seen["pending"] = wb.pending_operation_count()
            seen["queued"] = [(op.key, op.value) for op in wb.queued()]

    flaky = _hooked(hook)
    flaky.refused_values.append("BAD")
    wb = holder["wb"] = WriteBehindDataStore(flaky, clock, 0, 1)  # type: ignore[arg-type]
    wb.add("m", "k", "BAD", 0, 0)
    wb.add("m", "y", 2, 0, 0)
    assert wb.flush_due(0) == 2  # "y", then the rewrite of "k"
    assert seen == {"pending": 2, "queued": [("k", "GOOD")]}  # "y" in flight, "k" once
    assert flaky.inner.load("m", "k") == "GOOD" and wb.pending_operation_count() == 0
    assert wb.stats.coalesced == 1
    wb.close()


@pytest.mark.parametrize("at", ["recorded", "taken"])
def test_a_flush_interrupted_as_it_sets_a_refused_write_aside_loses_nothing(at: str) -> None:
    # A refused write is set aside for the rest of the flush; a Ctrl-C landing as it leaves
    # the queue (just before, or just after) must leave it queued once, and a later write of
    # its key must reach the store.
    flaky = FlakyStore(SQLiteDataStore(":memory:", ManualClock(0)))
    flaky.refused_values.append("BAD")
    wb = WriteBehindDataStore(flaky, ManualClock(0), 0, 10)  # type: ignore[arg-type]

    class InterruptOnce(deque):  # type: ignore[type-arg]
        seen = 0

        def popleft(self) -> Any:
            bad = self[0].value == "BAD"
            InterruptOnce.seen += bad
            second = bad and InterruptOnce.seen == 2  # taken for the batch, then set aside
            if second and at == "recorded":
                raise KeyboardInterrupt
            op = super().popleft()
            if second and at == "taken":
                raise KeyboardInterrupt
            return op

    wb._fifo = InterruptOnce()
    wb.add("m", "k", "BAD", 0, 0)
    wb.add("m", "y", 2, 0, 0)
    with pytest.raises(KeyboardInterrupt):
        wb.flush_due(0)
    assert [(op.key, op.value) for op in wb.queued()] == [("k", "BAD")]
    assert wb.pending_operation_count() == 1 and not wb.is_loadable("k", "m")
    wb.add("m", "k", "GOOD", 0, 0)
    assert wb.flush_due(0) == 1 and wb.pending_operation_count() == 0
    assert flaky.inner.load("m", "k") == "GOOD" and flaky.inner.load("m", "y") == 2
    wb.close()


def test_a_batch_stored_across_a_reset_leaves_its_record_clean() -> None:
    clock = ManualClock(0)
    holder: dict[str, Any] = {}

    def hook(n: int) -> None:
        if n == 1:
            holder["wb"].reset()  # drops the queue while this batch is being stored

    wb = holder["wb"] = WriteBehindDataStore(_hooked(hook), clock, 0)  # type: ignore[arg-type]
    store = DefaultRecordStore("m", data_store=wb, clock=clock)
    store.put("k", 1)
    wb.flush_due(0)
    assert wb.inner.inner.load("m", "k") == 1 and wb.is_loadable("k", "m")
    assert not store.storage().get("k").metadata.is_dirty()  # type: ignore[union-attr]
    wb.close()


def test_a_listener_that_raises_does_not_silence_the_others() -> None:
    clock = ManualClock(0)
    with WriteBehindDataStore(SQLiteDataStore(":memory:", clock), clock, 0) as wb:
        def broken(key: Any, value: Any, now: int) -> None:
            raise RuntimeError("listener bug")

        wb.add_stored_listener("m", broken)
        store = DefaultRecordStore("m", data_store=wb, clock=clock)
        store.put("k", 1)
        assert wb.flush_due(0) == 1  # no exception
        assert isinstance(wb.last_error, RuntimeError)
        assert not store.storage().get("k").metadata.is_dirty()  # type: ignore[union-attr]


def test_writes_still_coming_at_exit_are_refused_so_every_queue_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "busy-exit.db"
    script = _TWO_STORES.format(path=str(path)) + """
import threading
from toolkit import DataStoreError
second.add("m", "b", 2, 0, 0)
first.add("m", "a", 0, 0, 0)
def writer():
    i = 0
    while True:
        i += 1
        try:
            first.add("m", "a", i, 0, 0)
        except DataStoreError:
            return  # refused once the exit has begun
threading.Thread(target=writer, daemon=True).start()
"""  # the interpreter exits while the writer still writes
    for _ in range(3):
        path.unlink(missing_ok=True)
        _run_and_exit(script)
        with SQLiteDataStore(path) as reopened:
            assert reopened.load("m", "b") == 2 and reopened.load("m", "a") is not None
