"""The simulation layer's error, :class:`ScenarioError`, and the checks that raise it.

Every check names the bad field by its dotted scenario key (``workload.keys.alpha``) and the
value it got; :func:`toolkit.sim.load_scenario` adds the file and the line of that key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["ScenarioError"]


class ScenarioError(ConfigError):
    """A workload or scenario value is invalid.

    ``key`` is the dotted scenario key (``store.max_entry_count``), ``reason`` what is wrong
    with it, ``source`` the scenario file (or None) and ``line`` the 1-based line of the key in
    that file (or None when it cannot be found).
    """

    def __init__(
        self, key: str, reason: str, source: str | None = None, line: int | None = None
    ) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.source is not None:
            where = f"{self.source}:{self.line}: " if self.line else f"{self.source}: "
        elif self.line:
            where = f"line {self.line}: "
        return f"{where}{self.key}: {self.reason}" if self.key else f"{where}{self.reason}"

    def within(self, prefix: str) -> ScenarioError:
        """The same error with its key moved under ``prefix`` (``keys.alpha`` ->
        ``workload.keys.alpha``)."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (prefix or self.key)
        return ScenarioError(key, self.reason, self.source, self.line)

    def at(self, source: str | None, line: int | None) -> ScenarioError:
        """The same error located in ``source`` at ``line``."""
        return ScenarioError(self.key, self.reason, source, line)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScenarioError, (self.key, self.reason, self.source, self.line))


def check_int(key: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum`` (and <= ``maximum`` when
    given); else :class:`ScenarioError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(key, f"must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ScenarioError(key, f"must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ScenarioError(key, f"must be <= {maximum:,}, got {value!r}")
    return value


def check_number(
    key: str,
    value: Any,
    minimum: float = 0.0,
    maximum: float = math.inf,
    strict_minimum: bool = False,
) -> float:
    """``value`` as a float if it is a finite number in range; else :class:`ScenarioError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(key, f"must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise ScenarioError(key, f"must be a finite number, got {value!r}")
    if strict_minimum and v <= minimum:
        raise ScenarioError(key, f"must be > {minimum:g}, got {value!r}")
    if v < minimum:
        raise ScenarioError(key, f"must be >= {minimum:g}, got {value!r}")
    if v > maximum:
        raise ScenarioError(key, f"must be <= {maximum:g}, got {value!r}")
    return v


def check_bool(key: str, value: Any) -> bool:
    """``value`` if it is a bool; else :class:`ScenarioError`."""
    if not isinstance(value, bool):
        raise ScenarioError(key, f"must be true or false, got {value!r}")
    return value


def check_str(key: str, value: Any) -> str:
    """``value`` if it is a str; else :class:`ScenarioError`."""
    if not isinstance(value, str):
        raise ScenarioError(key, f"must be a string, got {value!r}")
    return value


def check_choice(key: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` normalised (lower case, ``-`` as ``_``) if it is one of ``choices``."""
    if isinstance(value, str):
        wanted = value.strip().lower().replace("-", "_")
        if wanted in choices:
            return wanted
    raise ScenarioError(key, f"must be one of {', '.join(choices)}; got {value!r}")
