"""The trace layer's error, :class:`TraceFormatError`, raised for malformed trace input."""

from __future__ import annotations

from ..errors import ToolkitError

__all__ = ["TraceFormatError"]


class TraceFormatError(ToolkitError, ValueError):
    """A trace file is malformed: truncated, of the wrong record size, or with a bad line.

    ``source`` is the file (or None), ``line`` the 1-based line of a text trace, ``record`` the
    0-based record number of a binary trace (either may be None) and ``reason`` what is wrong.
    The message names all that are known, e.g. ``trace.csv: line 7: unknown op 'frob'``.
    """

    def __init__(
        self,
        reason: str,
        source: str | None = None,
        line: int | None = None,
        record: int | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.record = record
        parts = []
        if source is not None:
            parts.append(str(source))
        if line is not None:
            parts.append(f"line {line}")
        if record is not None:
            parts.append(f"record {record}")
        parts.append(reason)
        super().__init__(": ".join(parts))
