"""Storage keys: ``{owner}:{task}`` with both parts escaped.

Each part is percent-encoded (everything but ``A-Z a-z 0-9 _ . - ~``), so neither contains the
``:`` separator and the mapping is one-to-one: the prefix ``owner_prefix("a")`` (``"a:"``)
matches the keys of owner ``"a"`` and of nobody else, even when another owner id is
``"a:b"`` (its keys start ``"a%3Ab:"``). :func:`split_key` decodes a key so the store can
re-check the owner.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

__all__ = ["task_key", "owner_prefix", "split_key", "SEPARATOR"]

SEPARATOR = ":"


def _escape(part: str) -> str:
    return quote(part, safe="")


def task_key(owner_id: str, task_id: str) -> str:
    """The storage key of ``task_id`` owned by ``owner_id``."""
    return f"{_escape(owner_id)}{SEPARATOR}{_escape(task_id)}"


def owner_prefix(owner_id: str) -> str:
    """The prefix shared by every key of ``owner_id`` and by no other owner's keys."""
    return f"{_escape(owner_id)}{SEPARATOR}"


def split_key(key: str) -> tuple[str, str] | None:
    """``(owner_id, task_id)`` of a key made by :func:`task_key`, or None for any other key."""
    parts = key.split(SEPARATOR)
    if len(parts) != 2:
        return None
    owner, task = parts
    if _escape(unquote(owner)) != owner or _escape(unquote(task)) != task:
        return None
    return unquote(owner), unquote(task)
