"""The one place that wires the layers: :class:`RecordStoreFactory` (and the config it uses)."""

from __future__ import annotations

from collections.abc import Iterable

from .clocks import Clock, SystemClock
from .config import StorageConfig
from .datastores.base import MapDataStore, NullDataStore
from .engine import HashMapStorage
from .errors import InvalidArgumentError
from .observers import CompositeMutationObserver, MutationObserver
from .record_store import DefaultRecordStore, _seed_for

__all__ = ["RecordStoreFactory", "StorageConfig"]


class RecordStoreFactory:
    """Creates fully wired record stores that share one config, data store, observer list and
    clock: a :class:`HashMapStorage` engine per store, the given observers behind a
    :class:`CompositeMutationObserver`."""

    def __init__(
        self,
        config: StorageConfig | None = None,
        data_store: MapDataStore | None = None,
        observers: Iterable[MutationObserver] = (),
        clock: Clock | None = None,
    ) -> None:
        self.config = StorageConfig() if config is None else config
        if not isinstance(self.config, StorageConfig):
            raise InvalidArgumentError(f"config must be a StorageConfig, got {config!r}")
        self.data_store: MapDataStore = NullDataStore() if data_store is None else data_store
        self.observers: list[MutationObserver] = list(observers)
        self.clock: Clock = SystemClock() if clock is None else clock

    def create(self, map_name: str, partition_id: int = 0) -> DefaultRecordStore:
        """A new record store for ``(map_name, partition_id)``."""
        seed = _seed_for(self.config.sampling_seed, str(map_name), partition_id)
        return DefaultRecordStore(
            map_name,
            partition_id,
            HashMapStorage(seed, shuffle=self.config.eviction_policy.sampled),
            self.data_store,
            CompositeMutationObserver(self.observers),
            self.config,
            self.clock,
        )
