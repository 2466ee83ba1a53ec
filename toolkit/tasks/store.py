"""The task store: every domain rule of tasks, over any :class:`StorageBackend`.

:class:`GenericTaskStore` owns the lifecycle, owner isolation, TTL, the variable merge and
every limit; the backend only stores versioned bytes. Every mutation follows one pattern:
read the record and its version, check the owner (a mismatch is :class:`NotFound`), refuse an
expired task (:class:`Expired`), validate, then write with ``put_if_version``. A version
conflict surfaces as :class:`ConcurrentModification`; the store never retries on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NoReturn

from ..clocks import Clock, SystemClock
from ..errors import ConfigError, check_non_negative_int
from .backends.base import StorageBackend
from .config import ANONYMOUS_OWNERS, StoreConfig, TaskSecurityConfig
from .errors import (
    AccessDenied,
    BackendError,
    CapacityExceeded,
    ConcurrentModification,
    Expired,
    InvalidInput,
    KeyNotFound,
    NotFound,
    NotReady,
    ResourceExhausted,
    StorageFull,
    StoreError,
    VariableSizeExceeded,
    VersionConflict,
)
from .keys import owner_prefix, split_key, task_key
from .records import Task, TaskPage, TaskRecord
from .status import TaskStatus, check_transition, parse_status
from .timestamps import format_timestamp
from .variables import json_size, merge_variables, validate_value, validate_variables

__all__ = ["GenericTaskStore"]

_Change = Callable[[TaskRecord, int], TaskRecord]


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, got {value!r:.80}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{name} is not valid Unicode: {value!r:.80}") from None
    return value


class GenericTaskStore:
    """Tasks of many owners in one :class:`StorageBackend` (``.backend``).

    ``config`` sets the limits (:class:`StoreConfig`), ``security`` the access rules
    (:class:`TaskSecurityConfig`), ``clock`` the time (default: wall time; read once per
    operation) and ``poll_interval_ms`` the poll interval suggested to clients.

    Times are milliseconds. Records are stored as canonical JSON under the key
    ``{owner}:{task}`` with both parts percent-escaped; the owner stored in the record is
    checked again on every read, so no owner id, whatever it contains, reaches another
    owner's tasks. Mutations accept ``expected_version`` (keyword): the write then happens only
    if the task is still at the version the caller read, which lets a caller make its own
    read-modify-write safe across a pause.
    """

    def __init__(
        self,
        backend: StorageBackend,
        config: StoreConfig | None = None,
        security: TaskSecurityConfig | None = None,
        clock: Clock | None = None,
        poll_interval_ms: int = 500,
    ) -> None:
        if not isinstance(backend, StorageBackend):
            raise ConfigError(f"backend must implement StorageBackend, got {backend!r}")
        config = StoreConfig() if config is None else config
        security = TaskSecurityConfig() if security is None else security
        if not isinstance(config, StoreConfig):
            raise ConfigError(f"config must be a StoreConfig, got {config!r}")
        if not isinstance(security, TaskSecurityConfig):
            raise ConfigError(f"security must be a TaskSecurityConfig, got {security!r}")
        if clock is not None and not callable(getattr(clock, "now_millis", None)):
            raise ConfigError(f"clock must have now_millis(), got {clock!r}")
        self.backend = backend
        self.config = config
        self.security = security
        self.clock: Clock = SystemClock() if clock is None else clock
        self.poll_interval_ms = check_non_negative_int("poll_interval_ms", poll_interval_ms)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _fail(exc: BackendError, task_id: str) -> NoReturn:
        if isinstance(exc, KeyNotFound):
            raise NotFound(task_id) from exc
        if isinstance(exc, VersionConflict):
            raise ConcurrentModification(task_id, exc.expected, exc.actual) from exc
        if isinstance(exc, CapacityExceeded):
            raise StorageFull(f"storage is full; task {task_id!r} not written: {exc}") from exc
        raise StoreError(f"storage backend failed on task {task_id!r}: {exc}") from exc

    def _decode(self, data: bytes, version: int, task_id: str) -> TaskRecord:
        try:
            return TaskRecord.from_json_bytes(data, version)
        except ValueError as exc:
            raise StoreError(f"stored record of task {task_id!r} is corrupt: {exc}") from exc

    def _read(self, task_id: str, owner_id: str) -> TaskRecord:
        _check_text("task_id", task_id)
        _check_text("owner_id", owner_id)
        try:
            stored = self.backend.get(task_key(owner_id, task_id))
        except BackendError as exc:
            self._fail(exc, task_id)
        record = self._decode(stored.data, stored.version, task_id)
        if record.owner_id != owner_id or record.task.task_id != task_id:
            raise NotFound(task_id)
        return record

    def _mutate(
        self, task_id: str, owner_id: str, change: _Change, expected_version: int | None
    ) -> TaskRecord:
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 1
        ):
            raise InvalidInput(f"expected_version must be an int >= 1, got {expected_version!r}")
        now = self.clock.now_millis()
        current = self._read(task_id, owner_id)
        if current.is_expired(now):
            raise Expired(task_id, current.expires_at)
        if expected_version is not None and current.version != expected_version:
            raise ConcurrentModification(task_id, expected_version, current.version)
        updated = change(current, now)
        data = updated.to_json_bytes()
        try:
            version = self.backend.put_if_version(
                task_key(owner_id, task_id), data, current.version, expires_at_ms=updated.expires_at
            )
        except BackendError as exc:
            self._fail(exc, task_id)
        return replace(updated, version=version)

    def _check_message(self, status_message: Any) -> str | None:
        if status_message is None:
            return None
        _check_text("status_message", status_message)
        if len(status_message) > self.config.max_string_length:
            raise InvalidInput(
                f"status_message has {len(status_message)} characters; "
                f"max_string_length is {self.config.max_string_length}"
            )
        return str(status_message)

    def _check_result(self, task_id: str, result: Any) -> None:
        cfg = self.config
        validate_value("result", result, cfg.max_variable_depth, cfg.max_string_length)
        size = json_size(result)
        if size > cfg.max_variable_size_bytes:
            raise VariableSizeExceeded(task_id, "result", size, cfg.max_variable_size_bytes)

    @staticmethod
    def _touch(record: TaskRecord, now: int, **task_changes: Any) -> Task:
        return replace(record.task, last_updated_at=format_timestamp(now), **task_changes)

    # --- operations ---------------------------------------------------------------------------

    def create(self, owner_id: str, request_method: str, ttl_ms: int | None = None) -> TaskRecord:
        """Create a ``working`` task for ``owner_id``; return its record (version 1).

        ``ttl_ms`` (default ``config.default_ttl_ms``) must be an int in 1..``max_ttl_ms``: a
        larger one is refused, never clamped. Raises :class:`AccessDenied` for an anonymous
        owner unless allowed, :class:`ResourceExhausted` when the owner already holds
        ``max_tasks_per_owner`` stored tasks (expired ones included), :class:`InvalidInput`
        for a bad argument.
        """
        _check_text("owner_id", owner_id)
        _check_text("request_method", request_method)
        if owner_id in ANONYMOUS_OWNERS and not self.security.allow_anonymous:
            raise AccessDenied(
                f"anonymous owner {owner_id!r} may not create tasks (allow_anonymous is False)"
            )
        if len(request_method) > self.config.max_string_length:
            raise InvalidInput(
                f"request_method has {len(request_method)} characters; "
                f"max_string_length is {self.config.max_string_length}"
            )
        if ttl_ms is None:
            ttl_ms = self.config.default_ttl_ms
        elif isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms < 1:
            raise InvalidInput(f"ttl_ms must be an int >= 1 (milliseconds), got {ttl_ms!r}")
        elif ttl_ms > self.config.max_ttl_ms:
            raise InvalidInput(f"ttl_ms {ttl_ms} exceeds max_ttl_ms {self.config.max_ttl_ms}")
        limit = self.security.max_tasks_per_owner
        count = self._count(owner_id)
        if count >= limit:
            raise ResourceExhausted(owner_id, count, limit)
        now = self.clock.now_millis()
        task_id = str(uuid.uuid4())
        stamp = format_timestamp(now)
        record = TaskRecord(
            task=Task(
                task_id, TaskStatus.WORKING, stamp, stamp, None, ttl_ms, self.poll_interval_ms
            ),
            owner_id=owner_id,
            variables={},
            result=None,
            request_method=request_method,
            expires_at=now + ttl_ms,
        )
        try:
            version = self.backend.put(
                task_key(owner_id, task_id), record.to_json_bytes(), expires_at_ms=record.expires_at
            )
        except BackendError as exc:
            self._fail(exc, task_id)
        return replace(record, version=version)

    def _count(self, owner_id: str) -> int:
        try:
            stored = self.backend.list_by_prefix(owner_prefix(owner_id))
        except BackendError as exc:
            raise StoreError(f"storage backend failed while counting tasks: {exc}") from exc
        count = 0
        for key, _ in stored:
            parts = split_key(key)
            if parts is not None and parts[0] == owner_id:
                count += 1
        return count

    def get(self, task_id: str, owner_id: str) -> TaskRecord:
        """The record of ``task_id`` if ``owner_id`` owns it, expired or not (check
        ``is_expired``); :class:`NotFound` otherwise."""
        return self._read(task_id, owner_id)

    def update_status(
        self,
        task_id: str,
        owner_id: str,
        status: TaskStatus | str,
        status_message: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> TaskRecord:
        """Move the task to ``status`` and set its ``status_message`` (None clears it).

        Raises :class:`InvalidTransition` for a move the lifecycle forbids, besides the
        errors every mutation may raise (:class:`NotFound`, :class:`Expired`,
        :class:`ConcurrentModification`, :class:`StorageFull`, :class:`StoreError`).
        """
        target = parse_status(status)
        message = self._check_message(status_message)

        def change(record: TaskRecord, now: int) -> TaskRecord:
            check_transition(task_id, record.task.status, target)
            task = self._touch(record, now, status=target, status_message=message)
            return replace(record, task=task)

        return self._mutate(task_id, owner_id, change, expected_version)

    def set_variables(
        self,
        task_id: str,
        owner_id: str,
        variables: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> TaskRecord:
        """Merge ``variables`` into the task's: each name is set to its value, or deleted when
        the value is None.

        Incoming values must be JSON within ``max_variable_depth`` and ``max_string_length``
        (:class:`InvalidInput`); the merged map's compact JSON must fit in
        ``max_variable_size_bytes`` (:class:`VariableSizeExceeded`). A refused merge writes
        nothing.
        """
        cfg = self.config
        incoming = validate_variables(variables, cfg.max_variable_depth, cfg.max_string_length)

        def change(record: TaskRecord, now: int) -> TaskRecord:
            merged = merge_variables(record.variables, incoming)
            size = json_size(merged)
            if size > cfg.max_variable_size_bytes:
                raise VariableSizeExceeded(task_id, "variables", size, cfg.max_variable_size_bytes)
            return replace(record, task=self._touch(record, now), variables=merged)

        return self._mutate(task_id, owner_id, change, expected_version)

    def set_result(
        self, task_id: str, owner_id: str, result: Any, *, expected_version: int | None = None
    ) -> TaskRecord:
        """Store ``result`` (a JSON value, not None) on the task without changing its status.

        The result is checked like a variable value and its compact JSON must fit in
        ``max_variable_size_bytes``. :meth:`get_result` hands it out once the task is terminal.
        """
        if result is None:
            raise InvalidInput("result must not be None (None means 'no result')")
        self._check_result(task_id, result)

        def change(record: TaskRecord, now: int) -> TaskRecord:
            return replace(record, task=self._touch(record, now), result=result)

        return self._mutate(task_id, owner_id, change, expected_version)

    def get_result(self, task_id: str, owner_id: str) -> Any:
        """The task's result; :class:`NotReady` unless the task is terminal and has one."""
        record = self._read(task_id, owner_id)
        status = record.task.status
        if not status.is_terminal():
            raise NotReady(task_id, status.value, "the task is not in a terminal status")
        if record.result is None:
            raise NotReady(task_id, status.value, "no result was stored")
        return record.result

    def complete_with_result(
        self,
        task_id: str,
        owner_id: str,
        status: TaskStatus | str,
        status_message: str | None,
        result: Any,
        *,
        expected_version: int | None = None,
    ) -> TaskRecord:
        """Move the task to the terminal ``status`` and store ``status_message`` and
        ``result`` (None: no result) in one compare-and-swap write: all or nothing."""
        target = parse_status(status)
        if not target.is_terminal():
            raise InvalidInput(
                f"complete_with_result needs a terminal status (completed, failed, cancelled), "
                f"got {target.value!r}"
            )
        message = self._check_message(status_message)
        if result is not None:
            self._check_result(task_id, result)

        def change(record: TaskRecord, now: int) -> TaskRecord:
            check_transition(task_id, record.task.status, target)
            task = self._touch(record, now, status=target, status_message=message)
            return replace(record, task=task, result=result)

        return self._mutate(task_id, owner_id, change, expected_version)

    def cancel(
        self,
        task_id: str,
        owner_id: str,
        status_message: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> TaskRecord:
        """Move the task to ``cancelled`` (:class:`InvalidTransition` if it is terminal)."""
        return self.update_status(
            task_id, owner_id, TaskStatus.CANCELLED, status_message,
            expected_version=expected_version,
        )

    def cleanup_expired(self) -> int:
        """Remove every stored task whose TTL has passed, for every owner; return how many."""
        now = self.clock.now_millis()
        try:
            return self.backend.cleanup_expired(now)
        except BackendError as exc:
            raise StoreError(f"storage backend failed while cleaning up: {exc}") from exc

    def list(self, owner_id: str, cursor: str | None = None, limit: int = 50) -> TaskPage:
        """A page of ``owner_id``'s stored tasks (expired ones included), newest first.

        ``limit`` (>= 1) caps the page; ``cursor`` is the ``next_cursor`` of the previous page
        (the id of its last task). Tasks created in the same millisecond are ordered by id.
        An unknown cursor is :class:`InvalidInput`.
        """
        _check_text("owner_id", owner_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be an int >= 1, got {limit!r}")
        if cursor is not None:
            _check_text("cursor", cursor)
        try:
            stored = self.backend.list_by_prefix(owner_prefix(owner_id))
        except BackendError as exc:
            raise StoreError(f"storage backend failed while listing tasks: {exc}") from exc
        records: list[TaskRecord] = []
        for key, item in stored:
            parts = split_key(key)
            if parts is None or parts[0] != owner_id:
                continue
            record = self._decode(item.data, item.version, parts[1])
            if record.owner_id == owner_id and record.task.task_id == parts[1]:
                records.append(record)
        records.sort(key=lambda r: (r.task.created_at, r.task.task_id), reverse=True)
        start = 0
        if cursor is not None:
            for i, record in enumerate(records):
                if record.task.task_id == cursor:
                    start = i + 1
                    break
            else:
                raise InvalidInput(f"unknown cursor {cursor!r}: no such task in this listing")
        page = records[start : start + limit]
        more = start + limit < len(records)
        return TaskPage(page, page[-1].task.task_id if more and page else None)

    def __repr__(self) -> str:
        return f"GenericTaskStore(backend={self.backend!r}, config={self.config!r})"
