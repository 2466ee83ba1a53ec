"""The task store: long-running tasks with a lifecycle, owner isolation, TTL and variables,
kept in any versioned key-value :class:`StorageBackend` with compare-and-swap writes.

Quick start::

    from toolkit.tasks import GenericTaskStore, InMemoryBackend, TaskStatus

    store = GenericTaskStore(InMemoryBackend())
    record = store.create("alice", "tools/call")
    store.set_variables(record.task.task_id, "alice", {"progress": 0.5})
    store.complete_with_result(
        record.task.task_id, "alice", TaskStatus.COMPLETED, "done", {"ok": True}
    )
"""

from .backends import (
    DEFAULT_RETENTION_MS,
    InMemoryBackend,
    RecordStoreBackend,
    SQLiteBackend,
    StorageBackend,
    VersionedRecord,
)
from .config import ANONYMOUS_OWNERS, StoreConfig, TaskSecurityConfig
from .errors import (
    AccessDenied,
    BackendError,
    CapacityExceeded,
    ConcurrentModification,
    Expired,
    InvalidInput,
    InvalidTransition,
    KeyNotFound,
    NotFound,
    NotReady,
    ResourceExhausted,
    StorageFull,
    StoreError,
    TaskError,
    VariableSizeExceeded,
    VersionConflict,
)
from .keys import owner_prefix, split_key, task_key
from .records import Task, TaskPage, TaskRecord
from .status import TaskStatus
from .store import GenericTaskStore
from .workload import CasAttempt, ContentionRun, simulate_cas_contention

__all__ = [
    "TaskStatus",
    "StoreConfig",
    "TaskSecurityConfig",
    "ANONYMOUS_OWNERS",
    "GenericTaskStore",
    "Task",
    "TaskRecord",
    "TaskPage",
    "StorageBackend",
    "VersionedRecord",
    "InMemoryBackend",
    "SQLiteBackend",
    "RecordStoreBackend",
    "DEFAULT_RETENTION_MS",
    "task_key",
    "owner_prefix",
    "split_key",
    "TaskError",
    "NotFound",
    "Expired",
    "InvalidTransition",
    "NotReady",
    "ResourceExhausted",
    "VariableSizeExceeded",
    "ConcurrentModification",
    "StorageFull",
    "StoreError",
    "AccessDenied",
    "InvalidInput",
    "BackendError",
    "KeyNotFound",
    "VersionConflict",
    "CapacityExceeded",
    "CasAttempt",
    "ContentionRun",
    "simulate_cas_contention",
]
