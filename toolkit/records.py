"""Records and their metadata, expiry types, the seed's CRDT values, and the cost estimate.

A :class:`Record` is a value plus its :class:`RecordMetadata`. Metadata times are integer
milliseconds from the store's :class:`~toolkit.clocks.Clock`.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import InvalidArgumentError, check_non_negative_int, plain_fields

__all__ = [
    "RecordMetadata",
    "Record",
    "ExpiryPolicy",
    "ExpiryReason",
    "CallerProvenance",
    "Timestamp",
    "LwwValue",
    "OrMapEntry",
    "OrMapValue",
    "OrTombstones",
    "SizedValue",
    "estimate_cost",
    "value_size",
    "RECORD_OVERHEAD_BYTES",
]


class ExpiryReason(enum.Enum):
    """Why a record is (or is not) expired."""

    NOT_EXPIRED = "not_expired"
    TTL = "ttl"
    MAX_IDLE = "max_idle"


class CallerProvenance(enum.Enum):
    """Where a write comes from; only CLIENT and CRDT_MERGE writes reach the data store."""

    CLIENT = "client"
    BACKUP = "backup"
    REPLICATION = "replication"
    LOAD = "load"
    CRDT_MERGE = "crdt_merge"

    @property
    def writes_through(self) -> bool:
        """True when a write of this provenance is passed on to the backing data store."""
        return self is CallerProvenance.CLIENT or self is CallerProvenance.CRDT_MERGE


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """Per-entry expiry: ``ttl_millis`` from the last write, ``max_idle_millis`` from the last
    access. 0 means "use the store-wide default" (which may itself be 0: never)."""

    ttl_millis: int = 0
    max_idle_millis: int = 0

    NONE: ClassVar[ExpiryPolicy]

    def __post_init__(self) -> None:
        if type(self.ttl_millis) is not int or type(self.max_idle_millis) is not int:
            plain_fields(self)  # np.int64(5) is 5
        check_non_negative_int("ttl_millis", self.ttl_millis)
        check_non_negative_int("max_idle_millis", self.max_idle_millis)


ExpiryPolicy.NONE = ExpiryPolicy(0, 0)


class RecordMetadata:
    """What the store knows about a record besides its value.

    Times are milliseconds. ``version`` starts at 0 and grows by one per update; ``hits``
    counts touching reads; ``cost`` estimates the bytes of key, value and record;
    ``ttl_millis`` and ``max_idle_millis`` are the effective per-entry limits (0 = none).
    ``frequency`` is scratch state for policies that keep their own counter (aged LFU).
    """

    __slots__ = (
        "version",
        "creation_time",
        "last_access_time",
        "last_update_time",
        "last_stored_time",
        "stored_version",
        "hits",
        "cost",
        "ttl_millis",
        "max_idle_millis",
        "frequency",
    )

    def __init__(
        self,
        version: int = 0,
        creation_time: int = 0,
        last_access_time: int = 0,
        last_update_time: int = 0,
        last_stored_time: int = 0,
        hits: int = 0,
        cost: int = 0,
        ttl_millis: int = 0,
        max_idle_millis: int = 0,
    ) -> None:
        self.version = version
        self.creation_time = creation_time
        self.last_access_time = last_access_time
        self.last_update_time = last_update_time
        self.last_stored_time = last_stored_time
        self.stored_version = -1
        self.hits = hits
        self.cost = cost
        self.ttl_millis = ttl_millis
        self.max_idle_millis = max_idle_millis
        self.frequency = 0

    @classmethod
    def new(cls, now: int, cost: int) -> RecordMetadata:
        """Metadata of a record created at ``now``: version 0, no hits, never stored."""
        return cls(0, now, now, now, 0, 0, cost)

    def on_access(self, now: int) -> None:
        """A touching read at ``now``: one more hit, and the idle clock restarts."""
        self.hits += 1
        self.last_access_time = now

    def on_update(self, now: int) -> None:
        """A write at ``now``: version + 1; the TTL and idle clocks restart."""
        self.version += 1
        self.last_update_time = now
        self.last_access_time = now

    def on_store(self, now: int) -> None:
        """The backing store now holds this record's latest write."""
        self.last_stored_time = now
        self.stored_version = self.version

    def is_dirty(self) -> bool:
        """True while the latest write is not yet in the backing store."""
        return self.stored_version != self.version

    def copy(self) -> RecordMetadata:
        """Return an independent copy."""
        md = RecordMetadata.__new__(RecordMetadata)
        md.version = self.version
        md.creation_time = self.creation_time
        md.last_access_time = self.last_access_time
        md.last_update_time = self.last_update_time
        md.last_stored_time = self.last_stored_time
        md.stored_version = self.stored_version
        md.hits = self.hits
        md.cost = self.cost
        md.ttl_millis = self.ttl_millis
        md.max_idle_millis = self.max_idle_millis
        md.frequency = self.frequency
        return md

    def expiry_deadline(self) -> int | None:
        """The last millisecond at which the record is still live, or None if it never expires.

        Expiry is strict: the record is expired at ``now`` when ``now > deadline``.
        """
        ttl = self.ttl_millis
        idle = self.max_idle_millis
        if ttl:
            d = self.last_update_time + ttl
            if idle:
                d2 = self.last_access_time + idle
                return d2 if d2 < d else d
            return d
        if idle:
            return self.last_access_time + idle
        return None

    def expiry_reason(self, now: int) -> ExpiryReason:
        """Which limit has passed at ``now``; when both have, the one whose deadline came first
        (TTL on a tie)."""
        ttl = self.ttl_millis
        idle = self.max_idle_millis
        ttl_late = ttl and now - self.last_update_time > ttl
        idle_late = idle and now - self.last_access_time > idle
        if ttl_late:
            if idle_late and self.last_access_time + idle < self.last_update_time + ttl:
                return ExpiryReason.MAX_IDLE
            return ExpiryReason.TTL
        if idle_late:
            return ExpiryReason.MAX_IDLE
        return ExpiryReason.NOT_EXPIRED

    def as_dict(self) -> dict[str, Any]:
        """The metadata as a plain dict (one row of a metadata table)."""
        return {
            "version": self.version,
            "creation_time": self.creation_time,
            "last_access_time": self.last_access_time,
            "last_update_time": self.last_update_time,
            "last_stored_time": self.last_stored_time,
            "hits": self.hits,
            "cost": self.cost,
            "ttl_millis": self.ttl_millis,
            "max_idle_millis": self.max_idle_millis,
            "dirty": self.is_dirty(),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordMetadata):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"RecordMetadata({fields})"


class Record:
    """A stored value together with its metadata."""

    __slots__ = ("value", "metadata")

    def __init__(self, value: Any, metadata: RecordMetadata) -> None:
        self.value = value
        self.metadata = metadata

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self.value == other.value and self.metadata == other.metadata

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record(value={self.value!r}, metadata={self.metadata!r})"


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """A hybrid logical clock timestamp: wall millis, logical counter, node id (total order)."""

    millis: int
    counter: int = 0
    node_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """The seed's camelCase JSON form."""
        return {"millis": self.millis, "counter": self.counter, "nodeId": self.node_id}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Timestamp:
        """Inverse of :meth:`to_json`."""
        return cls(int(obj["millis"]), int(obj["counter"]), str(obj["nodeId"]))


@dataclass(frozen=True, slots=True)
class LwwValue:
    """A last-write-wins register: the value with the greater timestamp wins a merge."""

    value: Any
    timestamp: Timestamp

    def merge(self, other: LwwValue) -> LwwValue:
        """Return the winner of the two writes."""
        return other if other.timestamp > self.timestamp else self


@dataclass(frozen=True, slots=True)
class OrMapEntry:
    """One tagged entry of an observed-remove map."""

    value: Any
    tag: str
    timestamp: Timestamp


@dataclass(frozen=True, slots=True)
class OrMapValue:
    """An observed-remove map record: its tagged entries."""

    records: tuple[OrMapEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class OrTombstones:
    """Tombstone tags of removed observed-remove map entries."""

    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SizedValue:
    """A placeholder value for simulations: ``nbytes`` are accounted, none allocated.

    ``tag`` tells versions of a placeholder apart (a simulation can store a write counter).
    Raises :class:`~toolkit.errors.InvalidArgumentError` for a negative or non-int ``nbytes``
    or a ``tag`` that is not an int.
    """

    nbytes: int
    tag: int = 0

    def __post_init__(self) -> None:
        if type(self.nbytes) is not int or type(self.tag) is not int:
            plain_fields(self)  # np.int64(5) is 5
        check_non_negative_int("nbytes", self.nbytes)
        if type(self.tag) is not int:
            raise InvalidArgumentError(f"SizedValue tag must be an int, got {self.tag!r}")


# --- cost ----------------------------------------------------------------------------------

_getsizeof = sys.getsizeof
_DICT_ENTRY_BYTES = 48  # a hash-table slot plus its share of the index table, CPython 3.11

#: Bytes a record costs besides its key and value: the Record and RecordMetadata objects, the
#: table entry, and the per-record time stamps.
RECORD_OVERHEAD_BYTES: int = (
    _getsizeof(Record(None, RecordMetadata()))
    + _getsizeof(RecordMetadata())
    + _DICT_ENTRY_BYTES
    + 2 * _getsizeof(10**12)
)

_SCALARS = (str, bytes, int, float, bool, type(None))
_CONTAINERS = (list, tuple, set, frozenset)
_INT_BYTES = _getsizeof(1)  # an int below 2**30 in magnitude
_ASCII_BASE = _getsizeof("")  # a compact ASCII str is this plus one byte per character
_SMALL_INT = 1 << 30


def _items_size(items: Iterable[Any], depth: int) -> int:
    """:func:`value_size` of each of ``items``, summed: the common scalars sized here, without
    a call (``sys.getsizeof`` is slow)."""
    total = 0
    for v in items:
        tv = type(v)
        if tv is int and -_SMALL_INT < v < _SMALL_INT:
            total += _INT_BYTES
        elif tv is str and v.isascii():
            total += _ASCII_BASE + len(v)
        else:
            total += value_size(v, depth)
    return total


def value_size(value: Any, _depth: int = 0) -> int:
    """Estimate the bytes held by ``value`` (containers are followed 16 levels deep)."""
    t = type(value)
    if t is SizedValue:
        return value.nbytes  # type: ignore[no-any-return]
    if t in _SCALARS:
        return _getsizeof(value)
    if _depth > 16:
        return _getsizeof(value)
    d = _depth + 1
    if t is dict:
        return _getsizeof(value) + _items_size(value, d) + _items_size(value.values(), d)
    if t in _CONTAINERS:
        return _getsizeof(value) + _items_size(value, d)
    if t is LwwValue:
        return _getsizeof(value) + value_size(value.value, d) + 64
    if t is OrMapValue:
        return _getsizeof(value) + sum(
            value_size(e.value, d) + _getsizeof(e.tag) + 96 for e in value.records
        )
    if t is OrTombstones:
        return _getsizeof(value) + sum(_getsizeof(tag) for tag in value.tags)
    return _getsizeof(value)


def estimate_cost(key: Any, value: Any) -> int:
    """Estimated bytes of one entry: key, value and the record's own overhead."""
    t = type(key)
    if t is int and -_SMALL_INT < key < _SMALL_INT:
        size = _INT_BYTES
    elif t is str and key.isascii():
        size = _ASCII_BASE + len(key)
    else:
        size = _getsizeof(key)
    t = type(value)
    if t is SizedValue:
        return size + value.nbytes + RECORD_OVERHEAD_BYTES
    if t is int and -_SMALL_INT < value < _SMALL_INT:
        return size + _INT_BYTES + RECORD_OVERHEAD_BYTES
    if t is str or t is bytes or t is float or t is int:
        return size + _getsizeof(value) + RECORD_OVERHEAD_BYTES
    return size + value_size(value) + RECORD_OVERHEAD_BYTES
