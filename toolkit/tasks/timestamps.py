"""RFC 3339 timestamps with millisecond precision, e.g. ``2026-01-01T00:00:00.000Z``.

Task timestamps are written from integer milliseconds since the Unix epoch (the clock's
``now_millis``) and read back to the same integer, exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_timestamp", "parse_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def format_timestamp(millis: int) -> str:
    """``millis`` (ms since the epoch, >= 0) as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    if isinstance(millis, bool) or not isinstance(millis, int) or millis < 0:
        raise ValueError(f"timestamp must be a non-negative int of milliseconds, got {millis!r}")
    moment = _EPOCH + timedelta(milliseconds=millis)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def parse_timestamp(text: str) -> int:
    """The milliseconds since the epoch written by :func:`format_timestamp`; raise
    ``ValueError`` naming ``text`` if it is not in that exact form."""
    if not isinstance(text, str) or _PATTERN.fullmatch(text) is None:
        raise ValueError(f"expected an RFC 3339 UTC timestamp like 2026-01-01T00:00:00.000Z, "
                         f"got {text!r}")
    moment = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + int(text[20:23])
