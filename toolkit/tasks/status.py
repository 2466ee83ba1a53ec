"""The task lifecycle: :class:`TaskStatus` and the transitions it allows.

``working`` and ``input_required`` may move to each other and to any terminal status
(``completed``, ``failed``, ``cancelled``); a terminal status moves nowhere; a move to the
status a task already has is refused.
"""

from __future__ import annotations

import enum
from typing import Any

from .errors import InvalidInput, InvalidTransition

__all__ = ["TaskStatus", "check_transition", "parse_status"]


class TaskStatus(enum.StrEnum):
    """Where a task is in its lifecycle; each value is its lowercase wire name."""

    WORKING = "working"
    INPUT_REQUIRED = "input_required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``: the task will not change again."""
        return self in _TERMINAL

    def can_transition_to(self, other: TaskStatus) -> bool:
        """Whether a task in this status may move to ``other`` (never to itself)."""
        return other is not self and not self.is_terminal() and isinstance(other, TaskStatus)


_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


def parse_status(value: Any) -> TaskStatus:
    """Return ``value`` as a :class:`TaskStatus` (a member or its wire name); raise
    :class:`~toolkit.tasks.InvalidInput` naming anything else."""
    if isinstance(value, TaskStatus):
        return value
    if isinstance(value, str):
        try:
            return TaskStatus(value)
        except ValueError:
            pass
    choices = ", ".join(s.value for s in TaskStatus)
    raise InvalidInput(f"unknown task status {value!r}; expected one of: {choices}")


def check_transition(task_id: str, current: TaskStatus, target: TaskStatus) -> None:
    """Raise :class:`~toolkit.tasks.InvalidTransition` unless ``current`` may move to
    ``target``."""
    if current.can_transition_to(target):
        return
    if current.is_terminal():
        action = (
            f"the task is in the terminal status {current.value!r} and cannot change; "
            "create a new task instead"
        )
    else:
        action = f"the task is already {target.value!r}; no update is needed"
    raise InvalidTransition(task_id, current.value, target.value, action)
