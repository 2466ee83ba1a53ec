"""Errors of the task store and of its storage backends.

:class:`TaskError` and its subclasses are what :class:`~toolkit.tasks.GenericTaskStore` raises.
:class:`BackendError` and its subclasses are what a
:class:`~toolkit.tasks.StorageBackend` raises; the task store translates them into task errors
(a version conflict becomes :class:`ConcurrentModification`, a missing key :class:`NotFound`).

Messages name the bad value; :class:`NotFound` never names an owner, so a caller cannot learn
that a task exists for someone else.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError, ToolkitError

__all__ = [
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
]


class TaskError(ToolkitError):
    """Base class of every error the task store raises."""


class NotFound(TaskError):
    """No task with this id exists for the calling owner.

    Raised alike when the task does not exist and when it belongs to another owner; the
    message names the task id only.
    """

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} not found")
        self.task_id = task_id


class Expired(TaskError):
    """The task's TTL has passed (``expires_at``, ms since the epoch); it can no longer change."""

    def __init__(self, task_id: str, expires_at: int) -> None:
        super().__init__(
            f"task {task_id!r} expired at {expires_at} ms; it can no longer be changed"
        )
        self.task_id = task_id
        self.expires_at = expires_at


class InvalidTransition(TaskError):
    """A status change the lifecycle forbids.

    ``suggested_action`` is a sentence for the caller; it contains the word "terminal" when the
    task is already finished and "already" when the task is in the requested status.
    """

    def __init__(
        self, task_id: str, from_status: str, to_status: str, suggested_action: str
    ) -> None:
        super().__init__(
            f"task {task_id!r} cannot move from {from_status!r} to {to_status!r}: "
            f"{suggested_action}"
        )
        self.task_id = task_id
        self.from_status = from_status
        self.to_status = to_status
        self.suggested_action = suggested_action


class NotReady(TaskError):
    """The task has no result to give: it is not in a terminal status, or none was stored."""

    def __init__(self, task_id: str, status: str, reason: str) -> None:
        super().__init__(f"result of task {task_id!r} (status {status!r}) is not ready: {reason}")
        self.task_id = task_id
        self.status = status
        self.reason = reason


class ResourceExhausted(TaskError):
    """The owner already holds ``limit`` tasks (expired ones count until they are cleaned up)."""

    def __init__(self, owner_id: str, count: int, limit: int) -> None:
        super().__init__(
            f"owner {owner_id!r} holds {count} tasks; max_tasks_per_owner is {limit}"
        )
        self.owner_id = owner_id
        self.count = count
        self.limit = limit


class VariableSizeExceeded(TaskError):
    """The merged variables (or a result) would exceed ``max_variable_size_bytes``."""

    def __init__(self, task_id: str, what: str, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"{what} of task {task_id!r} would be {size_bytes} bytes of compact JSON; "
            f"max_variable_size_bytes is {limit_bytes}"
        )
        self.task_id = task_id
        self.what = what
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class ConcurrentModification(TaskError):
    """Another writer changed the task between this operation's read and its write.

    Nothing was written. The store never retries on its own: re-read and try again if the
    change still makes sense.
    """

    def __init__(self, task_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"task {task_id!r} was modified concurrently: expected version "
            f"{expected_version}, found version {actual_version}"
        )
        self.task_id = task_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StorageFull(TaskError):
    """The storage backend is at capacity and refused the write."""


class StoreError(TaskError):
    """The storage backend failed, or a stored record could not be decoded.

    The backend's own exception, if any, is the ``__cause__``.
    """


class AccessDenied(TaskError):
    """An anonymous owner (``""`` or ``"local"``) while ``allow_anonymous`` is False."""


class InvalidInput(TaskError, InvalidArgumentError):
    """An argument is malformed or out of range (TTL, status, variable depth or string length,
    page limit, cursor)."""


class BackendError(ToolkitError):
    """Base class of the errors a storage backend raises."""


class KeyNotFound(BackendError):
    """No record is stored under ``key``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no record under key {key!r}")
        self.key = key


class VersionConflict(BackendError):
    """``put_if_version`` found version ``actual`` where ``expected`` was required."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"version conflict on key {key!r}: expected {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class CapacityExceeded(BackendError):
    """The backend is full and refuses to store one more record."""
