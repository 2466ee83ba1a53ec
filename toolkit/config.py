"""Store-wide configuration: :class:`StorageConfig` and the policy enums it names."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import ConfigError, plain_fields

__all__ = ["StorageConfig", "EvictionPolicy", "ExpiryStrategy"]


class _NamedEnum(enum.Enum):
    @classmethod
    def parse(cls, value: Any) -> Any:
        """Accept a member or its (case-insensitive) name or value; refuse anything else."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            wanted = value.strip().lower().replace("-", "_")
            for member in cls:
                if wanted in (member.value, member.name.lower()):
                    return member
        choices = ", ".join(m.value for m in cls)
        raise ConfigError(f"unknown {cls.__name__} {value!r}; expected one of: {choices}")


class EvictionPolicy(_NamedEnum):
    """How a victim is chosen when the store is over its size or cost limit.

    The sampled policies (LRU, LFU, LFU_AGED, RANDOM, FIFO) look at ``eviction_sample_count``
    random entries, as Hazelcast and Redis do. LRU_EXACT and LFU_EXACT keep a full ordering
    (reference policies for comparison). NONE never evicts.
    """

    LRU = "lru"
    LFU = "lfu"
    LFU_AGED = "lfu_aged"
    RANDOM = "random"
    FIFO = "fifo"
    LRU_EXACT = "lru_exact"
    LFU_EXACT = "lfu_exact"
    NONE = "none"

    @property
    def sampled(self) -> bool:
        """Whether the policy picks its victim from a random sample of the engine."""
        return self not in (EvictionPolicy.LRU_EXACT, EvictionPolicy.LFU_EXACT, EvictionPolicy.NONE)


class ExpiryStrategy(_NamedEnum):
    """How ``evict_expired`` finds expired entries (lazy expiry on access always applies).

    SCAN walks every entry (the seed's way, O(n) per sweep); CURSOR walks a resumable cursor
    over the expirable entries only (Hazelcast's ClearExpiredRecordsTask, Redis 6's active
    expire cycle); DEADLINE pops a deadline heap (amortized O(K log n) for K expired entries).
    """

    SCAN = "scan"
    CURSOR = "cursor"
    DEADLINE = "deadline"


def _check_int(name: str, value: Any, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"StorageConfig.{name} must be an int, got {value!r}")
    if value < minimum:
        raise ConfigError(f"StorageConfig.{name} must be >= {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Configuration applied to every record store a factory creates.

    The seed's three fields default to 0 (no TTL, no max-idle, no count limit). Times are
    milliseconds; ``max_cost_bytes`` 0 means unbounded. Policies may be given by name
    (``"lru"``); a bad value raises :class:`~toolkit.errors.ConfigError` naming it.
    """

    default_ttl_millis: int = 0
    default_max_idle_millis: int = 0
    max_entry_count: int = 0
    eviction_policy: EvictionPolicy = EvictionPolicy.LRU
    eviction_sample_count: int = 15
    max_cost_bytes: int = 0
    expiry_strategy: ExpiryStrategy = ExpiryStrategy.CURSOR
    lfu_log_factor: int = 10
    lfu_decay_millis: int = 60_000
    sampling_seed: int | None = None

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        _check_int("default_ttl_millis", self.default_ttl_millis)
        _check_int("default_max_idle_millis", self.default_max_idle_millis)
        _check_int("max_entry_count", self.max_entry_count)
        _check_int("eviction_sample_count", self.eviction_sample_count, minimum=1)
        _check_int("max_cost_bytes", self.max_cost_bytes)
        _check_int("lfu_log_factor", self.lfu_log_factor)
        _check_int("lfu_decay_millis", self.lfu_decay_millis)
        if self.sampling_seed is not None:
            _check_int("sampling_seed", self.sampling_seed)
        object.__setattr__(self, "eviction_policy", EvictionPolicy.parse(self.eviction_policy))
        object.__setattr__(self, "expiry_strategy", ExpiryStrategy.parse(self.expiry_strategy))

    def with_changes(self, **changes: Any) -> StorageConfig:
        """A copy with some fields replaced (validated again); unknown names are refused."""
        names = {f.name for f in fields(self)}
        for name in changes:
            if name not in names:
                raise ConfigError(f"StorageConfig has no field {name!r}; fields: {sorted(names)}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (enum members as their names), e.g. for a results table."""
        out = asdict(self)
        out["eviction_policy"] = self.eviction_policy.value
        out["expiry_strategy"] = self.expiry_strategy.value
        return out
