"""Layer 3: data stores behind record stores.

:class:`NullDataStore` persists nothing; :class:`SQLiteDataStore` writes through to one SQLite
file; :class:`WriteBehindDataStore` queues writes and stores them later, in batches, through a
write-through store. Keys and values are stored in the canonical encoding of
:mod:`toolkit.datastores.codec`.
"""

from .base import DataStoreStats, MapDataStore, NullDataStore, StoredListener
from .batch import BatchStore, StoreOp
from .codec import SUPPORTED_TYPES, decode_key, decode_value, encode_key, encode_value
from .sqlite_store import SYNCHRONOUS_MODES, SQLiteDataStore
from .write_behind import WriteBehindDataStore, flush_process

__all__ = [
    "MapDataStore",
    "NullDataStore",
    "DataStoreStats",
    "StoredListener",
    "SQLiteDataStore",
    "SYNCHRONOUS_MODES",
    "WriteBehindDataStore",
    "flush_process",
    "StoreOp",
    "BatchStore",
    "encode_value",
    "decode_value",
    "encode_key",
    "decode_key",
    "SUPPORTED_TYPES",
]
