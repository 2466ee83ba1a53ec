"""Task variables: validation of incoming JSON values, the merge rule, and the size measure.

A value is JSON: None, bool, int, float (finite), str, list, or dict with str keys. Containers
may nest at most ``max_depth`` levels (a scalar has depth 0, ``[1]`` and ``{"a": 1}`` depth 1),
and no string, value or key, may be longer than ``max_string_length`` characters. The check
walks the value iteratively and stops at the first level past the limit, so a deeply nested
"depth bomb" (or a cyclic structure) is refused without recursion.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInput

__all__ = ["validate_value", "validate_variables", "merge_variables", "canonical_json", "json_size"]


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value: compact, keys sorted, UTF-8, no NaN."""
    return json.dumps(
        value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def json_size(value: Any) -> int:
    """The size in bytes of ``value``'s canonical JSON."""
    return len(canonical_json(value))


def _check_string(text: str, where: str, max_string_length: int) -> None:
    if len(text) > max_string_length:
        raise InvalidInput(
            f"{where} holds a string of {len(text)} characters; "
            f"max_string_length is {max_string_length}"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{where} holds a string that is not valid Unicode") from None


def validate_value(where: str, value: Any, max_depth: int, max_string_length: int) -> None:
    """Raise :class:`~toolkit.tasks.InvalidInput` (naming ``where`` and the path inside the
    value) unless ``value`` is a JSON value within the depth and string-length limits."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        t = type(item)
        if item is None or t is bool or t is int:
            continue
        if t is float:
            if not math.isfinite(item):
                raise InvalidInput(f"{path} is {item!r}; JSON numbers must be finite")
            continue
        if t is str:
            _check_string(item, path, max_string_length)
            continue
        if t is list or t is dict:
            if depth + 1 > max_depth:
                raise InvalidInput(
                    f"{path} nests containers more than {max_depth} levels deep; "
                    f"max_variable_depth is {max_depth}"
                )
            if t is list:
                for i, child in enumerate(item):
                    stack.append((child, f"{path}[{i}]", depth + 1))
            else:
                for key, child in item.items():
                    if type(key) is not str:
                        raise InvalidInput(f"{path} has a non-string key {key!r}")
                    _check_string(key, f"{path} (key {key[:40]!r})", max_string_length)
                    stack.append((child, f"{path}[{key[:40]!r}]", depth + 1))
            continue
        raise InvalidInput(
            f"{path} is a {t.__name__} ({item!r:.80}); expected None, bool, int, float, str, "
            "list or dict"
        )


def validate_variables(
    variables: Any, max_depth: int, max_string_length: int
) -> dict[str, Any]:
    """Check an incoming variable map (names: str; values: JSON or None for "delete") and
    return it as a plain dict; raise :class:`~toolkit.tasks.InvalidInput` naming the first
    bad name or value."""
    if not isinstance(variables, Mapping):
        raise InvalidInput(f"variables must be a mapping of name to value, got {variables!r:.80}")
    out: dict[str, Any] = {}
    for name, value in variables.items():
        if type(name) is not str:
            raise InvalidInput(f"variable names must be str, got {name!r}")
        _check_string(name, f"variable name {name[:40]!r}", max_string_length)
        validate_value(f"variable {name[:40]!r}", value, max_depth, max_string_length)
        out[name] = value
    return out


def merge_variables(current: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """A new map: ``current`` with each ``incoming`` name set to its value, or removed when
    the value is None. Neither argument is changed."""
    merged = dict(current)
    for name, value in incoming.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
