"""The latency model: simulated milliseconds charged per operation from what the layers did.

Nothing sleeps. The runner reads the data store's :class:`~toolkit.DataStoreStats` before and
after each operation and charges the difference: a load round trip, a write round trip (a
write-through put), rows written, writes queued. The write-behind flusher's batches are
charged the same way, to background time (``flush_ms``), not to a client.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import plain_fields
from .errors import check_number

__all__ = ["LatencyModel"]


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Costs in simulated milliseconds (all >= 0).

    ``memory_hit_ms``: a read served from memory. ``memory_miss_ms``: a read that found
    nothing in memory (before any load). ``memory_write_ms``: a put into memory.
    ``load_ms`` per load round trip to the backing store and ``load_per_key_ms`` per row it
    returned. ``write_ms`` per write round trip (one per write-through operation, one per
    flushed batch) and ``write_per_row_ms`` per row written or deleted. ``queue_ms`` per
    write accepted into a write-behind queue.
    """

    memory_hit_ms: float = 0.05
    memory_miss_ms: float = 0.05
    memory_write_ms: float = 0.08
    load_ms: float = 2.0
    load_per_key_ms: float = 0.01
    write_ms: float = 2.0
    write_per_row_ms: float = 0.02
    queue_ms: float = 0.01

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        for name in self.__dataclass_fields__:
            check_number(name, getattr(self, name))

    def charge(
        self,
        base_ms: float,
        loads: int = 0,
        keys_loaded: int = 0,
        write_batches: int = 0,
        rows_written: int = 0,
        queued: int = 0,
    ) -> float:
        """``base_ms`` plus the cost of the given data-store work (counts of one operation)."""
        return (
            base_ms
            + loads * self.load_ms
            + keys_loaded * self.load_per_key_ms
            + write_batches * self.write_ms
            + rows_written * self.write_per_row_ms
            + queued * self.queue_ms
        )
