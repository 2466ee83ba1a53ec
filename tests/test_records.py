"""Records and metadata (the seed's acceptance criteria for RecordMetadata), expiry types,
CRDT values and the cost estimate."""

from __future__ import annotations

import sys

import pytest

from toolkit import (
    CallerProvenance,
    ExpiryPolicy,
    ExpiryReason,
    InvalidArgumentError,
    LwwValue,
    OrMapEntry,
    OrMapValue,
    OrTombstones,
    Record,
    RecordMetadata,
    SizedValue,
    Timestamp,
    estimate_cost,
)
from toolkit.records import RECORD_OVERHEAD_BYTES, value_size


def test_new_sets_every_field() -> None:
    md = RecordMetadata.new(1_000, 64)
    assert (md.version, md.creation_time, md.last_access_time, md.last_update_time) == (
        0, 1_000, 1_000, 1_000
    )
    assert (md.last_stored_time, md.hits, md.cost) == (0, 0, 64)
    assert (md.ttl_millis, md.max_idle_millis) == (0, 0)


def test_on_access_counts_a_hit_and_moves_access_time() -> None:
    md = RecordMetadata.new(1_000, 0)
    md.on_access(1_500)
    md.on_access(1_700)
    assert md.hits == 2
    assert md.last_access_time == 1_700
    assert md.last_update_time == 1_000
    assert md.version == 0


def test_on_update_bumps_version_and_restarts_both_clocks() -> None:
    md = RecordMetadata.new(1_000, 0)
    md.on_update(2_000)
    assert md.version == 1
    assert md.last_update_time == 2_000
    assert md.last_access_time == 2_000
    assert md.creation_time == 1_000
    assert md.hits == 0


def test_dirty_until_stored_and_again_after_an_update() -> None:
    md = RecordMetadata.new(0, 0)
    assert md.is_dirty()  # never stored, even at time 0
    md.on_store(0)
    assert not md.is_dirty()
    assert md.last_stored_time == 0
    md.on_update(0)  # a second write in the same millisecond is still a new write
    assert md.is_dirty()
    md.on_store(5)
    assert not md.is_dirty()
    assert md.last_stored_time == 5


def test_copy_is_independent() -> None:
    md = RecordMetadata.new(10, 3)
    md.ttl_millis = 7
    twin = md.copy()
    assert twin == md
    twin.on_access(11)
    assert twin != md
    assert md.hits == 0


@pytest.mark.parametrize(
    ("ttl", "idle", "update", "access", "now", "expected"),
    [
        (100, 0, 0, 0, 100, ExpiryReason.NOT_EXPIRED),  # strict: exactly at the limit is live
        (100, 0, 0, 0, 101, ExpiryReason.TTL),
        (0, 50, 0, 40, 90, ExpiryReason.NOT_EXPIRED),
        (0, 50, 0, 40, 91, ExpiryReason.MAX_IDLE),
        (100, 50, 0, 0, 200, ExpiryReason.MAX_IDLE),  # idle deadline (50) passed first
        (100, 500, 0, 0, 600, ExpiryReason.TTL),  # TTL deadline (100) passed first
        (100, 100, 0, 0, 150, ExpiryReason.TTL),  # a tie reports TTL
        (0, 0, 0, 0, 10**12, ExpiryReason.NOT_EXPIRED),
    ],
)
def test_expiry_reason(ttl: int, idle: int, update: int, access: int, now: int,
                       expected: ExpiryReason) -> None:
    md = RecordMetadata(0, 0, access, update, 0, 0, 0, ttl, idle)
    assert md.expiry_reason(now) is expected


def test_expiry_deadline() -> None:
    assert RecordMetadata(0, 0, 0, 0, 0, 0, 0, 0, 0).expiry_deadline() is None
    assert RecordMetadata(0, 0, 30, 10, 0, 0, 0, 100, 0).expiry_deadline() == 110
    assert RecordMetadata(0, 0, 30, 10, 0, 0, 0, 100, 20).expiry_deadline() == 50
    assert RecordMetadata(0, 0, 30, 10, 0, 0, 0, 0, 20).expiry_deadline() == 50


def test_expiry_policy() -> None:
    assert ExpiryPolicy.NONE == ExpiryPolicy(0, 0)
    assert ExpiryPolicy(ttl_millis=5).max_idle_millis == 0
    with pytest.raises(InvalidArgumentError, match="ttl_millis.*-5"):
        ExpiryPolicy(ttl_millis=-5)
    with pytest.raises(InvalidArgumentError, match="max_idle_millis.*2.5"):
        ExpiryPolicy(max_idle_millis=2.5)  # type: ignore[arg-type]


def test_only_client_and_crdt_merge_write_through() -> None:
    assert {p for p in CallerProvenance if p.writes_through} == {
        CallerProvenance.CLIENT, CallerProvenance.CRDT_MERGE
    }


def test_lww_merge_keeps_the_later_write() -> None:
    early = LwwValue("a", Timestamp(10, 0, "n1"))
    late = LwwValue("b", Timestamp(10, 1, "n0"))
    assert early.merge(late) is late
    assert late.merge(early) is late
    assert Timestamp.from_json(late.timestamp.to_json()) == late.timestamp
    assert late.timestamp.to_json() == {"millis": 10, "counter": 1, "nodeId": "n0"}


def test_record_equality_and_repr() -> None:
    a = Record("v", RecordMetadata.new(1, 2))
    b = Record("v", RecordMetadata.new(1, 2))
    assert a == b
    assert "value='v'" in repr(a)


def test_sized_placeholder_is_accounted_not_allocated() -> None:
    big = SizedValue(10_000_000)
    assert sys.getsizeof(big) < 200
    assert value_size(big) == 10_000_000
    assert estimate_cost("k", big) == sys.getsizeof("k") + 10_000_000 + RECORD_OVERHEAD_BYTES
    with pytest.raises(InvalidArgumentError, match="nbytes"):
        SizedValue(-1)
    for tag in ("x", True, None, 1.0):
        with pytest.raises(InvalidArgumentError, match=f"tag must be an int, got {tag!r}"):
            SizedValue(5, tag)  # type: ignore[arg-type]


def test_cost_counts_key_value_and_record() -> None:
    small = estimate_cost("k", "v")
    assert small > RECORD_OVERHEAD_BYTES
    assert estimate_cost("k", "v" * 1000) - small == 999
    assert estimate_cost("k" * 101, "v") - small == 100
    nested = {"a": [1, 2, {"b": "x" * 500}]}
    assert estimate_cost("k", nested) > small + 500


def test_cost_of_crdt_values_grows_with_content() -> None:
    ts = Timestamp(1)
    one = OrMapValue((OrMapEntry("x", "t1", ts),))
    two = OrMapValue((OrMapEntry("x", "t1", ts), OrMapEntry("y" * 100, "t2", ts)))
    assert value_size(two) > value_size(one)
    assert value_size(OrTombstones(("a", "b"))) > value_size(OrTombstones(()))
    assert value_size(LwwValue("z" * 300, ts)) > 300
