"""Storage backends for the task store: the contract and three implementations."""

from .base import StorageBackend, VersionedRecord
from .memory import InMemoryBackend
from .record_store import DEFAULT_RETENTION_MS, RecordStoreBackend
from .sqlite import SQLiteBackend

__all__ = [
    "StorageBackend",
    "VersionedRecord",
    "InMemoryBackend",
    "SQLiteBackend",
    "RecordStoreBackend",
    "DEFAULT_RETENTION_MS",
]
