"""Task records and their canonical JSON form.

A :class:`TaskRecord` is what the store keeps per task: the public :class:`Task`, its owner,
variables, result, request method, expiry time and the backend version it was read at. The
JSON form uses camelCase keys (``task``, ``ownerId``, ``variables``, ``result``,
``requestMethod``, ``expiresAt``; inside ``task``: ``taskId``, ``status``, ``createdAt``,
``lastUpdatedAt``, ``statusMessage``, ``ttl``, ``pollInterval``), sorted, compact, UTF-8: the
same record always gives the same bytes. The version is not part of the JSON: the backend
keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .status import TaskStatus
from .timestamps import format_timestamp, parse_timestamp
from .variables import canonical_json

__all__ = ["Task", "TaskRecord", "TaskPage"]


@dataclass(frozen=True, slots=True)
class Task:
    """The public view of a task.

    ``created_at`` and ``last_updated_at`` are RFC 3339 UTC strings with milliseconds;
    ``ttl`` and ``poll_interval`` are milliseconds.
    """

    task_id: str
    status: TaskStatus
    created_at: str
    last_updated_at: str
    status_message: str | None = None
    ttl: int | None = None
    poll_interval: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this task (camelCase keys)."""
        return {
            "taskId": self.task_id,
            "status": self.status.value,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "statusMessage": self.status_message,
            "ttl": self.ttl,
            "pollInterval": self.poll_interval,
        }

    @classmethod
    def from_dict(cls, obj: Any) -> Task:
        """The task of a JSON object made by :meth:`to_dict`; ``ValueError`` if malformed."""
        d = _object(obj, "task")
        created = _str(d, "createdAt")
        updated = _str(d, "lastUpdatedAt")
        parse_timestamp(created)
        parse_timestamp(updated)
        return cls(
            task_id=_str(d, "taskId"),
            status=TaskStatus(_str(d, "status")),
            created_at=created,
            last_updated_at=updated,
            status_message=_opt_str(d, "statusMessage"),
            ttl=_opt_int(d, "ttl"),
            poll_interval=_opt_int(d, "pollInterval"),
        )


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task with everything the store keeps about it.

    ``expires_at`` is milliseconds since the epoch; ``result`` None means "no result";
    ``version`` is the backend version the record was read or written at (0 for a record not
    read from a backend).
    """

    task: Task
    owner_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    request_method: str = ""
    expires_at: int = 0
    version: int = 0

    def is_expired(self, now_millis: int) -> bool:
        """Whether the TTL has passed at ``now_millis``: strictly after ``expires_at``."""
        return now_millis > self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this record, without the version."""
        return {
            "task": self.task.to_dict(),
            "ownerId": self.owner_id,
            "variables": self.variables,
            "result": self.result,
            "requestMethod": self.request_method,
            "expiresAt": format_timestamp(self.expires_at),
        }

    def to_json_bytes(self) -> bytes:
        """The canonical JSON bytes of this record (deterministic; no version)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any, version: int = 0) -> TaskRecord:
        """The record of a JSON object made by :meth:`to_dict`; ``ValueError`` if malformed."""
        d = _object(obj, "record")
        variables = d.get("variables")
        if not isinstance(variables, dict):
            raise ValueError(f"record field 'variables' must be an object, got {variables!r:.80}")
        if "result" not in d:
            raise ValueError("record field 'result' is missing")
        return cls(
            task=Task.from_dict(d.get("task")),
            owner_id=_str(d, "ownerId"),
            variables=variables,
            result=d["result"],
            request_method=_str(d, "requestMethod"),
            expires_at=parse_timestamp(_str(d, "expiresAt")),
            version=version,
        )

    @classmethod
    def from_json_bytes(cls, data: bytes, version: int = 0) -> TaskRecord:
        """The record encoded in ``data`` (as written by :meth:`to_json_bytes`), at
        ``version``; ``ValueError`` if the bytes are not such a record."""
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"not a JSON task record: {exc}") from exc
        return cls.from_dict(obj, version)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of an owner's tasks, newest first; pass ``next_cursor`` (the last task id of
    this page, or None on the last page) to get the next one."""

    tasks: list[TaskRecord]
    next_cursor: str | None = None


def _object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{what} must be a JSON object, got {obj!r:.80}")
    return obj


def _str(d: dict[str, Any], name: str) -> str:
    value = d.get(name)
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, got {value!r:.80}")
    return value


def _opt_str(d: dict[str, Any], name: str) -> str | None:
    value = d.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string or null, got {value!r:.80}")
    return value


def _opt_int(d: dict[str, Any], name: str) -> int | None:
    value = d.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"field {name!r} must be an integer or null, got {value!r:.80}")
    return value
