"""Exception classes shared by every layer.

Every refused operation raises a subclass of :class:`ToolkitError` whose message names the bad
value and what was expected; a refused operation changes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "ToolkitError",
    "InvalidArgumentError",
    "ConfigError",
    "UnsupportedValueError",
    "DataStoreError",
    "QueueFullError",
]


class ToolkitError(Exception):
    """Base class of every error raised by the toolkit."""


class InvalidArgumentError(ToolkitError, ValueError):
    """An argument is out of range or of the wrong kind (negative TTL, percentage > 100, ...)."""


class ConfigError(InvalidArgumentError):
    """A configuration value (store config, scenario file) is invalid."""


class UnsupportedValueError(InvalidArgumentError, TypeError):
    """A value cannot be stored by the configured data store (it has no canonical encoding)."""


class DataStoreError(ToolkitError):
    """The backing data store failed (I/O, database error)."""


class QueueFullError(ToolkitError):
    """A write-behind queue is at capacity and refuses the write."""


def to_plain(value: Any) -> Any:
    """A numpy scalar or array (``np.int64(5)``, ``np.bool_(True)``, ``np.arange(3)``) or a
    pandas Series or Index as the Python value(s) it holds, also inside a list or tuple;
    anything else unchanged. Values taken from numpy or pandas in a notebook then pass the
    same checks as Python's."""
    t = type(value)
    if t.__module__.partition(".")[0] in ("numpy", "pandas") and hasattr(value, "tolist"):
        return value.tolist()
    if t is list or t is tuple:
        items = [to_plain(v) for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            return t(items)
    return value


def plain_fields(obj: Any) -> None:
    """Replace numpy values in the fields of the (frozen) dataclass ``obj`` by :func:`to_plain`."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        plain = to_plain(value)
        if plain is not value:
            object.__setattr__(obj, f.name, plain)


def check_non_negative_int(name: str, value: object) -> int:
    """Return ``value`` if it is a non-negative ``int`` (not ``bool``); raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {value!r}")
    return value


def check_percentage(value: object) -> int:
    """Return ``value`` if it is an int percentage in 0..100; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"percentage must be an int in 0..100, got {value!r}")
    if not 0 <= value <= 100:
        raise InvalidArgumentError(f"percentage must be in 0..100, got {value!r}")
    return value
