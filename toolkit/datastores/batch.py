"""Batched writes: :class:`StoreOp` (one queued write or delete) and the :class:`BatchStore`
protocol a backing store implements to store many of them in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidArgumentError, check_non_negative_int

__all__ = ["StoreOp", "BatchStore", "MAX_MILLIS", "check_millis", "check_keys"]

#: The largest time (ms) a backing store keeps: SQLite's largest INTEGER.
MAX_MILLIS: int = 2**63 - 1


def check_millis(name: str, value: object) -> int:
    """Return ``value`` if it is an int time in 0..:data:`MAX_MILLIS`; raise
    :class:`~toolkit.errors.InvalidArgumentError` naming it otherwise."""
    check_non_negative_int(name, value)
    assert isinstance(value, int)
    if value > MAX_MILLIS:
        raise InvalidArgumentError(f"{name} must be <= {MAX_MILLIS}, got {value!r}")
    return value


def check_keys(keys: object) -> None:
    """Raise :class:`~toolkit.errors.InvalidArgumentError` unless ``keys`` is an iterable of
    keys (a str or bytes is one key, not a sequence of them)."""
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise InvalidArgumentError(f"keys must be a sequence of keys, got {keys!r}")


class StoreOp:
    """One write (``value`` is not None) or delete (``value`` is None) of a key of a map.

    ``expiration_time`` is absolute milliseconds (0 = never); ``is_backup`` selects the backup
    rows; ``due`` is when a write-behind queue may store it (ms) and ``seq`` its sequence
    number (1, 2, ... in the order operations were queued). ``checked`` is True when the
    store's ``check_value`` accepted ``value`` and said it needs no second check (a write-behind
    queue sets it; ``store_batch`` may then encode the value directly).
    """

    __slots__ = ("map_name", "key", "value", "expiration_time", "is_backup", "due", "seq", "checked")

    def __init__(
        self,
        map_name: str,
        key: Any,
        value: Any,
        expiration_time: int = 0,
        is_backup: bool = False,
        due: int = 0,
        seq: int = 0,
        checked: bool = False,
    ) -> None:
        self.map_name = map_name
        self.key = key
        self.value = value
        self.expiration_time = expiration_time
        self.is_backup = is_backup
        self.due = due
        self.seq = seq
        self.checked = checked

    @property
    def is_delete(self) -> bool:
        """True for a delete."""
        return self.value is None

    def __repr__(self) -> str:
        kind = "delete" if self.value is None else f"write {self.value!r}"
        role = " backup" if self.is_backup else ""
        return (
            f"StoreOp(#{self.seq} {kind} {self.map_name!r}{role}[{self.key!r}], "
            f"expires={self.expiration_time}, due={self.due})"
        )


@runtime_checkable
class BatchStore(Protocol):
    """A backing store that can apply many operations in one atomic round trip."""

    def store_batch(self, ops: Sequence[StoreOp], now: int) -> None:
        """Apply ``ops`` in order, all or nothing.

        Raises :class:`~toolkit.errors.DataStoreError` (nothing applied) if the batch fails,
        :class:`~toolkit.errors.UnsupportedValueError` if a value cannot be encoded.
        """
        ...
