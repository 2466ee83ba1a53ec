"""Configuration of the task store: limits (:class:`StoreConfig`) and access rules
(:class:`TaskSecurityConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["StoreConfig", "TaskSecurityConfig", "ANONYMOUS_OWNERS"]

#: Owner ids that mean "nobody in particular"; refused unless ``allow_anonymous`` is True.
ANONYMOUS_OWNERS: frozenset[str] = frozenset({"", "local"})


def _check_positive_int(cls: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{cls}.{name} must be an int, got {value!r}")
    if value < 1:
        raise ConfigError(f"{cls}.{name} must be >= 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Limits the task store enforces on every backend.

    * ``max_variable_size_bytes``: the compact JSON (UTF-8) of a task's merged variables, and
      of a result, may be at most this many bytes.
    * ``default_ttl_ms``: the TTL of a task created without one (milliseconds).
    * ``max_ttl_ms``: a larger requested TTL is refused, never clamped.
    * ``max_variable_depth``: containers (lists, objects) may nest at most this many levels in
      one value; a scalar has depth 0, ``[1]`` depth 1.
    * ``max_string_length``: no string (value or object key) inside a value may be longer,
      in characters.

    Every field must be an int >= 1 and ``default_ttl_ms <= max_ttl_ms``; otherwise
    :class:`~toolkit.errors.ConfigError` names the field and the value.
    """

    max_variable_size_bytes: int = 1_048_576
    default_ttl_ms: int = 3_600_000
    max_ttl_ms: int = 86_400_000
    max_variable_depth: int = 10
    max_string_length: int = 65_536

    def __post_init__(self) -> None:
        for name in (
            "max_variable_size_bytes",
            "default_ttl_ms",
            "max_ttl_ms",
            "max_variable_depth",
            "max_string_length",
        ):
            _check_positive_int("StoreConfig", name, getattr(self, name))
        if self.default_ttl_ms > self.max_ttl_ms:
            raise ConfigError(
                f"StoreConfig.default_ttl_ms ({self.default_ttl_ms}) must not exceed "
                f"max_ttl_ms ({self.max_ttl_ms})"
            )


@dataclass(frozen=True, slots=True)
class TaskSecurityConfig:
    """Who may create tasks and how many.

    * ``max_tasks_per_owner``: an owner holding this many stored tasks (expired ones included,
      until ``cleanup_expired`` removes them) cannot create another.
    * ``allow_anonymous``: whether the anonymous owners ``""`` and ``"local"`` may create
      tasks.
    """

    max_tasks_per_owner: int = 100
    allow_anonymous: bool = False

    def __post_init__(self) -> None:
        _check_positive_int("TaskSecurityConfig", "max_tasks_per_owner", self.max_tasks_per_owner)
        if not isinstance(self.allow_anonymous, bool):
            raise ConfigError(
                f"TaskSecurityConfig.allow_anonymous must be a bool, got {self.allow_anonymous!r}"
            )
