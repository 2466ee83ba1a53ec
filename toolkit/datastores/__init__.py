"""Layer 3: data stores behind record stores."""

from .base import DataStoreStats, MapDataStore, NullDataStore, StoredListener

__all__ = ["MapDataStore", "NullDataStore", "DataStoreStats", "StoredListener"]
