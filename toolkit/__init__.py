"""The storage-layers toolkit: a Hazelcast-style three-layer key-value store with pluggable
clocks, a SimPy simulation layer, trace replay and a task store.

Every public name is re-exported here; nothing else lives in this module.
"""

from .clocks import Clock, ManualClock, SimClock, SystemClock
from .config import EvictionPolicy, ExpiryStrategy, StorageConfig
from .datastores import DataStoreStats, MapDataStore, NullDataStore, SQLiteDataStore, WriteBehindDataStore
from .engine import FetchResult, HashMapStorage, IterationCursor, StorageEngine
from .errors import (
    ConfigError,
    DataStoreError,
    InvalidArgumentError,
    QueueFullError,
    ToolkitError,
    UnsupportedValueError,
)
from .factory import RecordStoreFactory
from .observers import (
    BaseMutationObserver,
    CompositeMutationObserver,
    EventCounter,
    MutationObserver,
    PrintingObserver,
)
from .record_store import DefaultRecordStore, RecordStore, StoreStats
from .records import (
    CallerProvenance,
    ExpiryPolicy,
    ExpiryReason,
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
from .tables import metadata_frame

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "SystemClock",
    "ManualClock",
    "SimClock",
    "StorageConfig",
    "EvictionPolicy",
    "ExpiryStrategy",
    "MapDataStore",
    "NullDataStore",
    "DataStoreStats",
    "SQLiteDataStore",
    "WriteBehindDataStore",
    "StorageEngine",
    "HashMapStorage",
    "IterationCursor",
    "FetchResult",
    "ToolkitError",
    "InvalidArgumentError",
    "ConfigError",
    "UnsupportedValueError",
    "DataStoreError",
    "QueueFullError",
    "RecordStoreFactory",
    "MutationObserver",
    "BaseMutationObserver",
    "CompositeMutationObserver",
    "EventCounter",
    "PrintingObserver",
    "RecordStore",
    "DefaultRecordStore",
    "StoreStats",
    "Record",
    "RecordMetadata",
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
    "metadata_frame",
]
