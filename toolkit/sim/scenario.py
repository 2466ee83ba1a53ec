"""Scenarios: a workload plus the store, data store, latency model, background tasks and
sampling it runs against, loadable from TOML files.

A scenario file has the tables ``[workload]`` (with ``[workload.arrival]``,
``[workload.keys]`` and the distributions ``value_bytes``, ``ttl_ms``, ``max_idle_ms``),
``[store]`` (the fields of :class:`~toolkit.StorageConfig`), ``[data_store]``, ``[latency]``,
``[background]`` and ``[sampling]``, plus top-level ``name`` and ``description``; every key is
optional. An error names the dotted key and, for a file, its line.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import StorageConfig
from ..errors import ConfigError, plain_fields, to_plain
from .distributions import KIND_FIELDS, PARAMETERS, Distribution
from .errors import ScenarioError, check_bool, check_choice, check_int, check_str
from .latency import LatencyModel
from .workload import KEY_KIND_FIELDS, KEY_PARAMETERS, Arrival, KeyPopularity, Workload

__all__ = [
    "DataStoreSpec",
    "Background",
    "Sampling",
    "Scenario",
    "load_scenario",
    "find_key_line",
    "DATA_STORE_KINDS",
]

#: Backing stores a scenario can use: none, SQLite write-through, a write-behind queue.
DATA_STORE_KINDS: tuple[str, ...] = ("null", "sqlite", "write_behind")


@dataclass(frozen=True, slots=True)
class DataStoreSpec:
    """The backing data store (Layer 3) of a scenario.

    ``kind``: ``null`` (nothing persisted), ``sqlite`` (write-through to the SQLite database
    at ``path``; ``:memory:`` keeps it in memory) or ``write_behind`` (a queue in front of
    ``inner``, ``sqlite`` or ``null``, storing writes ``write_delay_ms`` after they were made,
    ``write_batch_size`` per round trip, coalescing repeated writes of a key when
    ``write_coalescing``; ``queue_capacity`` 0 leaves the queue's default). The simulation
    runs the write-behind flusher every ``flush_interval_ms``.
    """

    kind: str = "null"
    path: str = ":memory:"
    inner: str = "sqlite"
    write_delay_ms: int = 1000
    write_batch_size: int = 100
    write_coalescing: bool = True
    queue_capacity: int = 0
    flush_interval_ms: int = 1000

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        object.__setattr__(self, "kind", check_choice("kind", self.kind, DATA_STORE_KINDS))
        object.__setattr__(self, "inner", check_choice("inner", self.inner, ("sqlite", "null")))
        check_str("path", self.path)
        if not self.path:
            raise ScenarioError("path", "must not be empty (use ':memory:')")
        check_int("write_delay_ms", self.write_delay_ms)
        check_int("write_batch_size", self.write_batch_size, minimum=1)
        check_bool("write_coalescing", self.write_coalescing)
        check_int("queue_capacity", self.queue_capacity)
        check_int("flush_interval_ms", self.flush_interval_ms, minimum=1)


@dataclass(frozen=True, slots=True)
class Background:
    """Background tasks: the expiry sweep, ``evict_expired(expiry_sweep_percentage, now)``
    every ``expiry_sweep_interval_ms`` (0 = never), as Hazelcast's 5 s / 10 %."""

    expiry_sweep_interval_ms: int = 5000
    expiry_sweep_percentage: int = 10

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        check_int("expiry_sweep_interval_ms", self.expiry_sweep_interval_ms)
        check_int("expiry_sweep_percentage", self.expiry_sweep_percentage)
        if self.expiry_sweep_percentage > 100:
            raise ScenarioError(
                "expiry_sweep_percentage", f"must be in 0..100, got {self.expiry_sweep_percentage}"
            )


@dataclass(frozen=True, slots=True)
class Sampling:
    """How often the timeline is sampled (``interval_ms``), and whether each sample counts
    the expired-but-present entries (``expired_present``: a scan of the expirable entries)."""

    interval_ms: int = 1000
    expired_present: bool = True

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        check_int("interval_ms", self.interval_ms, minimum=1)
        check_bool("expired_present", self.expired_present)


def _unknown(key: Any, names: list[str]) -> str:
    """The message for an unknown key: the closest known name first, then all of them."""
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"is not a known key; {hint}expected one of: {', '.join(names)}"


def _store_config(data: Any) -> StorageConfig:
    if isinstance(data, StorageConfig):
        return data
    if not isinstance(data, dict):
        raise ScenarioError("", f"must be a table, got {data!r}")
    names = [f.name for f in fields(StorageConfig)]
    for key, value in data.items():
        if key not in names:
            raise ScenarioError(str(key), _unknown(key, names))
        try:
            StorageConfig(**{key: value})
        except ConfigError as exc:
            raise ScenarioError(str(key), str(exc)) from None
    return StorageConfig(**data)


def _build(
    cls: type[Any], data: Any, nested: Mapping[str, Callable[[Any], Any]] | None = None
) -> Any:
    """``cls(**data)`` with unknown keys refused and nested tables built by ``nested``."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ScenarioError("", f"must be a table, got {data!r}")
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise ScenarioError(str(key), _unknown(key, names))
        if nested and key in nested:
            try:
                value = nested[key](value)
            except ScenarioError as exc:
                raise exc.within(key) from None
        kwargs[key] = value
    return cls(**kwargs)


def _workload(data: Any) -> Workload:
    return _build(  # type: ignore[no-any-return]
        Workload,
        data,
        {
            "arrival": lambda d: _build(Arrival, d),
            "keys": lambda d: _build(KeyPopularity, d),
            "value_bytes": Distribution.parse,
            "ttl_ms": Distribution.parse,
            "max_idle_ms": Distribution.parse,
        },
    )


_SECTIONS: dict[str, Callable[[Any], Any]] = {
    "workload": _workload,
    "store": _store_config,
    "data_store": lambda d: _build(DataStoreSpec, d),
    "latency": lambda d: _build(LatencyModel, d),
    "background": lambda d: _build(Background, d),
    "sampling": lambda d: _build(Sampling, d),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything one simulation run needs; :func:`toolkit.sim.run` runs it.

    ``source`` is the file the scenario was loaded from (None when built in code); relative
    trace paths were resolved against its folder.
    """

    name: str = "scenario"
    description: str = ""
    workload: Workload = field(default_factory=Workload)
    store: StorageConfig = field(default_factory=StorageConfig)
    data_store: DataStoreSpec = field(default_factory=DataStoreSpec)
    latency: LatencyModel = field(default_factory=LatencyModel)
    background: Background = field(default_factory=Background)
    sampling: Sampling = field(default_factory=Sampling)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        check_str("name", self.name)
        if not self.name:
            raise ScenarioError("name", "must not be empty")
        check_str("description", self.description)
        for name, cls in (
            ("workload", Workload),
            ("store", StorageConfig),
            ("data_store", DataStoreSpec),
            ("latency", LatencyModel),
            ("background", Background),
            ("sampling", Sampling),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ScenarioError(name, f"must be a {cls.__name__}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Scenario:
        """A scenario from the parsed form of a scenario file (missing keys take defaults).

        Raises :class:`~toolkit.sim.ScenarioError` naming the dotted key of a bad value.
        """
        if not isinstance(data, Mapping):
            raise ScenarioError("", f"a scenario must be a table, got {data!r}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in _SECTIONS:
                try:
                    kwargs[key] = _SECTIONS[key](value)
                except ScenarioError as exc:
                    raise exc.within(key) from None
            elif key in ("name", "description"):
                kwargs[key] = value
            else:
                known = ["name", "description", *_SECTIONS]
                raise ScenarioError(str(key), _unknown(key, known))
        return cls(**kwargs, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The scenario-file form: :meth:`from_dict` of it gives an equal scenario."""
        w = self.workload
        store = {k: v for k, v in self.store.as_dict().items() if v is not None}
        return {
            "name": self.name,
            "description": self.description,
            "workload": {
                "seed": w.seed,
                "duration_ms": w.duration_ms,
                "clients": w.clients,
                "read_fraction": w.read_fraction,
                "write_on_miss": w.write_on_miss,
                "arrival": asdict(w.arrival),
                "keys": asdict(w.keys),
                "value_bytes": w.value_bytes.as_dict(),
                "ttl_ms": w.ttl_ms.as_dict(),
                "max_idle_ms": w.max_idle_ms.as_dict(),
            },
            "store": store,
            "data_store": asdict(self.data_store),
            "latency": asdict(self.latency),
            "background": asdict(self.background),
            "sampling": asdict(self.sampling),
        }

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A copy with dotted keys replaced: ``{"store.max_entry_count": 1000}``.

        Raises :class:`~toolkit.sim.ScenarioError` for an unknown key or a bad value.
        """
        if not isinstance(overrides, Mapping):
            raise TypeError(
                "with_overrides needs a mapping of dotted keys to values, "
                f"got {type(overrides).__name__}"
            )
        data = self.to_dict()
        # A distribution's new kind first: it drops the old kind's fields, not those set here.
        for dotted, value in sorted(overrides.items(), key=lambda kv: not kv[0].endswith(".kind")):
            set_dotted(data, dotted, to_plain(value))
        if self.source is not None:  # a trace path given here is relative to the file too
            _resolve_trace(data, Path(self.source).resolve().parent)
        return Scenario.from_dict(data, source=self.source)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted = "a.b"``, creating tables as needed."""
    parts = _split_key(dotted)
    if not parts or any(not p for p in parts):
        raise ScenarioError(dotted, "is not a valid dotted key")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            if isinstance(child, (int, float)) and parts[0] == "workload" and i == 1:
                child = node[part] = Distribution.parse(child).as_dict()
            else:
                raise ScenarioError(".".join(parts[: i + 1]), f"is a value ({child!r}), not a table")
        node = child
    node[parts[-1]] = value
    if len(parts) == 3 and parts[0] == "workload" and parts[2] == "kind" and isinstance(value, str):
        # A table changing kind keeps only the fields the new kind reads, so
        # --set workload.ttl_ms.kind=uniform does not trip over the old constant's value.
        if parts[1] == "keys":
            dropped = set(KEY_PARAMETERS).difference(KEY_KIND_FIELDS.get(value, KEY_PARAMETERS))
        elif parts[1] == "arrival":
            dropped = set() if value == "trace" else {"trace"}
        else:
            dropped = set(PARAMETERS).difference(KIND_FIELDS.get(value, ()))
        for name in dropped:
            node.pop(name, None)


def _resolve_trace(data: dict[str, Any], folder: Path) -> None:
    workload = data.get("workload") if isinstance(data, dict) else None
    arrival = workload.get("arrival") if isinstance(workload, dict) else None
    if isinstance(arrival, dict) and isinstance(arrival.get("trace"), str) and arrival["trace"]:
        p = Path(arrival["trace"])
        if not p.is_absolute():
            arrival["trace"] = str((folder / p).resolve())


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a TOML file.

    Raises :class:`~toolkit.sim.ScenarioError` whose message names the file, the line and
    the dotted key of a bad or unknown value (``flagship.toml:12: workload.keys.alpha: must
    be > 0, got -1``), or the line and column of a TOML syntax error.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("", f"cannot read scenario file: {exc.strerror}", str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
        raise ScenarioError("", f"invalid TOML: {exc}", str(p), line) from None
    _resolve_trace(data, p.parent)
    try:
        return Scenario.from_dict(data, source=str(p))
    except ScenarioError as exc:
        raise exc.at(str(p), find_key_line(text, exc.key)) from None


# --- locating a key in TOML text ------------------------------------------------------------


def _split_key(key: str) -> list[str]:
    """``a."b.c".d`` -> ``["a", "b.c", "d"]`` (dots inside quotes kept)."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    for ch in key:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf).strip())
    return parts


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _bracket_depth(text: str) -> int:
    depth = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def find_key_line(text: str, key: str) -> int | None:
    """The 1-based line of TOML ``text`` where dotted ``key`` is set (``tomllib`` keeps no
    line numbers). A key inside an inline table gives that table's line; a key that is not in
    the text gives the line of its nearest enclosing table, or None."""
    if not key:
        return None
    target = _split_key(key)
    table: list[str] = []
    best_line: int | None = None
    best_depth = 0
    pending = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if pending > 0:
            pending += _bracket_depth(line)
            continue
        if not line:
            continue
        if line.startswith("["):
            inner = line.strip("[]").strip()
            table = _split_key(inner)
            if target[: len(table)] == table and len(table) > best_depth:
                best_line, best_depth = lineno, len(table)
            continue
        if "=" not in line:
            continue
        lhs, rhs = line.split("=", 1)
        full = table + _split_key(lhs)
        pending = max(0, _bracket_depth(rhs))
        if full == target:
            return lineno
        if target[: len(full)] == full:
            rest = target[len(full) :]
            if re.search(rf"(^|[{{,\s]){re.escape(rest[-1])}\s*=", rhs):
                return lineno
            if len(full) > best_depth:
                best_line, best_depth = lineno, len(full)
        elif full[: len(target)] == target and len(target) > best_depth:
            best_line, best_depth = lineno, len(target)
    return best_line
