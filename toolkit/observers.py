"""Mutation observers: how everything outside Layer 2 learns what happened.

:class:`MutationObserver` is the protocol; :class:`BaseMutationObserver` is a no-op base to
subclass; :class:`CompositeMutationObserver` fans out to many; :class:`EventCounter` counts.
Expiry (``on_expire``) is reported apart from eviction (``on_evict``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from .records import ExpiryReason, Record

__all__ = [
    "MutationObserver",
    "BaseMutationObserver",
    "CompositeMutationObserver",
    "EventCounter",
    "PrintingObserver",
]


@runtime_checkable
class MutationObserver(Protocol):
    """Receives every mutation of a record store."""

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None: ...

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None: ...

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None: ...

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None: ...

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None: ...

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None: ...

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None: ...

    def on_clear(self) -> None: ...

    def on_reset(self) -> None: ...

    def on_destroy(self, is_shutdown: bool) -> None: ...


class BaseMutationObserver:
    """An observer that ignores everything; subclass it and override what you need."""

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        """A new key was stored (``old_value`` is None for a primary put)."""

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None:
        """An existing key got a new value."""

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        """A key was removed by the user."""

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        """A live key was evicted to respect a size or cost limit (or by ``evict``)."""

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        """An expired key was removed (lazily on access, or by a sweep)."""

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        """A missing key was loaded from the backing data store."""

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None:
        """A put arrived by replication."""

    def on_clear(self) -> None:
        """The store is about to be cleared."""

    def on_reset(self) -> None:
        """The store is about to be reset."""

    def on_destroy(self, is_shutdown: bool) -> None:
        """The store is about to be destroyed."""


class CompositeMutationObserver(BaseMutationObserver):
    """Fans every notification out to its observers, in the order they were added."""

    __slots__ = ("observers",)

    def __init__(self, observers: Iterable[MutationObserver] = ()) -> None:
        self.observers: list[MutationObserver] = list(observers)

    def add(self, observer: MutationObserver) -> None:
        """Register one more observer."""
        self.observers.append(observer)

    def __len__(self) -> int:
        return len(self.observers)

    def __bool__(self) -> bool:
        return bool(self.observers)

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        for o in self.observers:
            o.on_put(key, record, old_value, is_backup)

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None:
        for o in self.observers:
            o.on_update(key, record, old_value, new_value, is_backup)

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        for o in self.observers:
            o.on_remove(key, record, is_backup)

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        for o in self.observers:
            o.on_evict(key, record, is_backup)

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        for o in self.observers:
            o.on_expire(key, record, reason, is_backup)

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        for o in self.observers:
            o.on_load(key, record, is_backup)

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None:
        for o in self.observers:
            o.on_replication_put(key, record, populate_index)

    def on_clear(self) -> None:
        for o in self.observers:
            o.on_clear()

    def on_reset(self) -> None:
        for o in self.observers:
            o.on_reset()

    def on_destroy(self, is_shutdown: bool) -> None:
        for o in self.observers:
            o.on_destroy(is_shutdown)


class EventCounter(BaseMutationObserver):
    """Counts notifications by event name (``put``, ``update``, ``expire:ttl``, ...).

    ``log`` keeps the last events as ``(event, key)`` when ``keep_log`` is true, so a notebook
    can print what the observer saw.
    """

    def __init__(self, keep_log: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        self.keep_log = keep_log
        self.log: list[tuple[str, Any]] = []

    def _seen(self, event: str, key: Any = None) -> None:
        self.counts[event] += 1
        if self.keep_log:
            self.log.append((event, key))

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        self._seen("put_backup" if is_backup else "put", key)

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None:
        self._seen("update", key)

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        self._seen("remove_backup" if is_backup else "remove", key)

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        self._seen("evict", key)

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        self._seen(f"expire:{reason.value}", key)

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        self._seen("load", key)

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None:
        self._seen("replication_put", key)

    def on_clear(self) -> None:
        self._seen("clear")

    def on_reset(self) -> None:
        self._seen("reset")

    def on_destroy(self, is_shutdown: bool) -> None:
        self._seen("destroy")


class PrintingObserver(BaseMutationObserver):
    """Prints one line per notification (for notebooks and the REPL).

    With a ``clock`` each line starts with the time in milliseconds; ``out`` is any callable
    taking a string (default :func:`print`).
    """

    def __init__(self, clock: Any = None, out: Any = print) -> None:
        self.clock = clock
        self.out = out

    def _say(self, text: str) -> None:
        prefix = f"t={self.clock.now_millis():>6} ms  " if self.clock is not None else ""
        self.out(prefix + text)

    def on_put(self, key: Any, record: Record, old_value: Any, is_backup: bool) -> None:
        self._say(f"put      {key!r} = {record.value!r}" + (" (backup)" if is_backup else ""))

    def on_update(
        self, key: Any, record: Record, old_value: Any, new_value: Any, is_backup: bool
    ) -> None:
        self._say(f"update   {key!r}: {old_value!r} -> {new_value!r} "
                  f"(version {record.metadata.version})")

    def on_remove(self, key: Any, record: Record, is_backup: bool) -> None:
        self._say(f"remove   {key!r}")

    def on_evict(self, key: Any, record: Record, is_backup: bool) -> None:
        self._say(f"evict    {key!r}")

    def on_expire(self, key: Any, record: Record, reason: ExpiryReason, is_backup: bool) -> None:
        self._say(f"expire   {key!r} ({reason.name})")

    def on_load(self, key: Any, record: Record, is_backup: bool) -> None:
        self._say(f"load     {key!r} = {record.value!r}")

    def on_replication_put(self, key: Any, record: Record, populate_index: bool) -> None:
        self._say(f"replica  {key!r}")

    def on_clear(self) -> None:
        self._say("clear")

    def on_reset(self) -> None:
        self._say("reset")

    def on_destroy(self, is_shutdown: bool) -> None:
        self._say("destroy")
