"""The workload model: who sends which requests, when, with what values and expiry.

A :class:`Workload` is plain validated data. :func:`client_streams` turns it into one
:class:`RequestStream` per client, each drawing its requests in blocks from its own seeded
numpy generators (one per purpose, from ``SeedSequence.spawn``): the request stream depends on
the workload and its seed only, never on the store, so runs that differ in store configuration
see the same requests (common random numbers).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import plain_fields
from .distributions import Distribution
from .errors import (
    ScenarioError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_str,
)

__all__ = [
    "Arrival",
    "KeyPopularity",
    "Workload",
    "RequestBlock",
    "RequestStream",
    "Trace",
    "TraceStream",
    "read_trace",
    "zipf_cdf",
    "client_streams",
    "ARRIVAL_KINDS",
    "KEY_KINDS",
    "KEY_KIND_FIELDS",
]

#: Arrival processes: Poisson (exponential gaps), constant rate, or a replayed trace.
ARRIVAL_KINDS: tuple[str, ...] = ("poisson", "constant", "trace")
#: Key popularity models.
KEY_KINDS: tuple[str, ...] = ("uniform", "zipf", "hotset", "shifting_hotset", "scan", "unique")
#: The fields each key popularity kind reads.
KEY_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "uniform": ("key_count",),
    "zipf": ("key_count", "alpha"),
    "hotset": ("key_count", "hot_fraction", "hot_probability"),
    "shifting_hotset": ("key_count", "hot_fraction", "hot_probability", "shift_every_ms"),
    "scan": ("key_count",),
    "unique": (),
}
#: The most keys a ``zipf`` popularity draws from (its table takes 8 bytes a key).
MAX_ZIPF_KEYS = 100_000_000
#: Every kind-specific field of :class:`KeyPopularity`.
KEY_PARAMETERS: tuple[str, ...] = (
    "key_count", "alpha", "hot_fraction", "hot_probability", "shift_every_ms"
)

_BLOCK = 8192


@dataclass(frozen=True, slots=True)
class Arrival:
    """When requests arrive.

    ``kind``: ``poisson`` (exponential gaps), ``constant`` (evenly spaced) or ``trace`` (the
    times of the file at ``trace``). ``rate_per_s`` is the total rate over all clients
    (requests per simulated second). With ``closed_loop`` a client waits for its previous
    request's latency before its next gap starts (so the rate is an upper bound).
    """

    kind: str = "poisson"
    rate_per_s: float = 1000.0
    closed_loop: bool = False
    trace: str = ""

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        object.__setattr__(self, "kind", check_choice("kind", self.kind, ARRIVAL_KINDS))
        check_number("rate_per_s", self.rate_per_s, strict_minimum=True)
        check_bool("closed_loop", self.closed_loop)
        check_str("trace", self.trace)
        if self.kind == "trace" and not self.trace:
            raise ScenarioError("trace", "must name a trace file when kind = 'trace'")
        if self.kind != "trace" and self.trace:
            raise ScenarioError(
                "trace", f"applies only to kind = 'trace' (this arrival is {self.kind}), got {self.trace!r}"
            )


@dataclass(frozen=True, slots=True)
class KeyPopularity:
    """Which keys requests name (integers ``0 .. key_count - 1``).

    * ``uniform``: every key equally likely.
    * ``zipf``: key of rank ``r`` (0 the most popular) with probability proportional to
      ``1 / (r + 1) ** alpha`` (bounded to ``key_count`` keys).
    * ``hotset``: with probability ``hot_probability`` a key of the hot set (the first
      ``hot_fraction`` of the keys), else one of the others; uniform within each.
    * ``shifting_hotset``: a hot set that moves to the next ``hot_fraction`` of the key space
      every ``shift_every_ms``: yesterday's hot keys keep their high hit counts, which is
      where LFU loses to LRU.
    * ``scan``: each client names the keys in order (wrapping around), from its own offset
      (``read_fraction`` still decides whether a request reads or writes).
    * ``unique``: every request names a key never named before (``key_count`` unused).

    A field another kind reads (``alpha`` for ``hotset``, say) is refused rather than
    silently ignored (:data:`KEY_KIND_FIELDS`).
    """

    kind: str = "uniform"
    key_count: int = 10_000
    alpha: float = 1.0
    hot_fraction: float = 0.1
    hot_probability: float = 0.9
    shift_every_ms: int = 0

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        kind = check_choice("kind", self.kind, KEY_KINDS)
        object.__setattr__(self, "kind", kind)
        check_int("key_count", self.key_count, minimum=1)
        check_number("alpha", self.alpha, strict_minimum=True)
        check_number("hot_fraction", self.hot_fraction, maximum=1.0, strict_minimum=True)
        check_number("hot_probability", self.hot_probability, maximum=1.0)
        check_int("shift_every_ms", self.shift_every_ms)
        if kind == "shifting_hotset" and self.shift_every_ms <= 0:
            raise ScenarioError(
                "shift_every_ms",
                f"must be > 0 for a shifting_hotset, got {self.shift_every_ms!r}",
            )
        if kind == "zipf" and self.key_count > MAX_ZIPF_KEYS:
            raise ScenarioError(
                "key_count",
                f"must be <= {MAX_ZIPF_KEYS:,} for zipf keys (a table of one probability per key, "
                f"8 bytes each, is kept), got {self.key_count!r}",
            )
        own = KEY_KIND_FIELDS[kind]
        for name in KEY_PARAMETERS:
            value = getattr(self, name)
            if name not in own and value != _KEY_DEFAULTS[name]:
                fields_of = ", ".join(own) if own else "none"
                raise ScenarioError(
                    name, f"does not apply to {kind} keys (their fields: {fields_of}), got {value!r}"
                )

    @property
    def hot_count(self) -> int:
        """Keys in the hot set (at least 1)."""
        return max(1, min(self.key_count, int(round(self.hot_fraction * self.key_count))))


_KEY_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclass_fields(KeyPopularity) if f.name in KEY_PARAMETERS
}


def _default_value_bytes() -> Distribution:
    return Distribution.constant(1024)


def _no_expiry() -> Distribution:
    return Distribution.constant(0)


@dataclass(frozen=True, slots=True)
class Workload:
    """What the clients do for ``duration_ms`` of simulated time.

    ``clients`` independent clients share the arrival rate. A request is a read (``get`` with
    touch) with probability ``read_fraction``, else a write (``put``) of a
    :class:`~toolkit.SizedValue` of ``value_bytes`` bytes with an
    :class:`~toolkit.ExpiryPolicy` of ``ttl_ms`` and ``max_idle_ms`` (0 = the store default).
    With ``write_on_miss`` a read that finds nothing writes the key (cache-aside). ``seed``
    seeds every random stream of the workload.
    """

    arrival: Arrival = field(default_factory=Arrival)
    keys: KeyPopularity = field(default_factory=KeyPopularity)
    clients: int = 1
    read_fraction: float = 0.8
    write_on_miss: bool = False
    value_bytes: Distribution = field(default_factory=_default_value_bytes)
    ttl_ms: Distribution = field(default_factory=_no_expiry)
    max_idle_ms: Distribution = field(default_factory=_no_expiry)
    duration_ms: int = 60_000
    seed: int = 0

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        for name, cls in (
            ("arrival", Arrival),
            ("keys", KeyPopularity),
            ("value_bytes", Distribution),
            ("ttl_ms", Distribution),
            ("max_idle_ms", Distribution),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ScenarioError(
                    name, f"must be a {cls.__name__}, got {getattr(self, name)!r}"
                )
        check_int("clients", self.clients, minimum=1)
        check_number("read_fraction", self.read_fraction, maximum=1.0)
        check_bool("write_on_miss", self.write_on_miss)
        check_int("duration_ms", self.duration_ms, minimum=1)
        check_int("seed", self.seed)

    @property
    def expected_requests(self) -> float:
        """Requests the arrival rate gives over the duration (open loop; traces excluded)."""
        return self.arrival.rate_per_s * self.duration_ms / 1000.0


class RequestBlock(NamedTuple):
    """A block of requests as plain Python sequences (one item per request).

    ``gaps`` (ms) are the times from the previous request of the same client; ``keys`` are
    before any hot-set shift; ``reads`` is True for a read; ``values``, ``ttls`` and
    ``idles`` are the value size (bytes), TTL and max-idle (ms) a write would use.
    """

    gaps: Iterable[float]
    keys: Iterable[Any]
    reads: Iterable[bool]
    values: Iterable[int]
    ttls: Iterable[int]
    idles: Iterable[int]


class RequestStream:
    """The requests of one client, drawn in blocks from its own generators.

    Every random quantity has its own generator (gaps, keys, operations, sizes, TTLs,
    max-idles), so changing, say, the read fraction leaves the keys unchanged.
    """

    def __init__(
        self,
        workload: Workload,
        client: int,
        seed: np.random.SeedSequence,
        zipf_cdf: np.ndarray | None = None,
        block_size: int = _BLOCK,
    ) -> None:
        self.workload = workload
        self.client = client
        self.block_size = block_size
        gen = np.random.Generator
        pcg = np.random.PCG64
        (
            self._rng_gap,
            self._rng_key,
            self._rng_op,
            self._rng_size,
            self._rng_ttl,
            self._rng_idle,
        ) = (gen(pcg(s)) for s in seed.spawn(6))
        self._zipf_cdf = zipf_cdf
        self._drawn = 0

    def _gaps(self, n: int) -> Iterable[float]:
        arrival = self.workload.arrival
        clients = self.workload.clients
        base_ms = 1000.0 / arrival.rate_per_s
        if arrival.kind == "constant":
            # Request i of this client is due at first + i * period: gaps are taken between
            # those times, so the clock lands on each exactly instead of drifting by the
            # rounding of a running sum (a request due at the end would fall out of the run).
            period = base_ms * clients
            first = base_ms * (self.client + 1)
            i = np.arange(self._drawn - 1, self._drawn + n, dtype=float)
            times = first + i * period
            if self._drawn == 0:
                times[0] = 0.0
            return np.diff(times).tolist()  # type: ignore[no-any-return]
        gaps: list[float] = self._rng_gap.exponential(base_ms * clients, size=n).tolist()
        return gaps

    def _keys(self, n: int) -> list[Any]:
        kp = self.workload.keys
        kind = kp.kind
        rng = self._rng_key
        count = kp.key_count
        if kind == "uniform":
            return rng.integers(0, count, size=n).tolist()  # type: ignore[no-any-return]
        if kind == "zipf":
            assert self._zipf_cdf is not None
            u = rng.random(n)
            ranks = np.searchsorted(self._zipf_cdf, u, side="right")
            return np.minimum(ranks, count - 1).tolist()  # type: ignore[no-any-return]
        if kind in ("hotset", "shifting_hotset"):
            hot = kp.hot_count
            is_hot = rng.random(n) < kp.hot_probability
            hot_keys = rng.integers(0, hot, size=n)
            if hot < count:
                cold_keys = hot + rng.integers(0, count - hot, size=n)
            else:
                cold_keys = hot_keys
            return np.where(is_hot, hot_keys, cold_keys).tolist()  # type: ignore[no-any-return]
        start = self._drawn
        clients = self.workload.clients
        if kind == "scan":
            offset = self.client * count // clients
            return ((np.arange(start, start + n) + offset) % count).tolist()  # type: ignore[no-any-return]
        # unique: client c names c, c + clients, c + 2 * clients, ...
        return (np.arange(start, start + n) * clients + self.client).tolist()  # type: ignore[no-any-return]

    def _dist(self, dist: Distribution, rng: np.random.Generator, n: int) -> Iterable[int]:
        if dist.is_constant:
            return itertools.repeat(dist.first_value(), n)
        values: list[int] = dist.sample(rng, n).tolist()
        return values

    def next_block(self) -> RequestBlock:
        """The next ``block_size`` requests."""
        n = self.block_size
        w = self.workload
        gaps = self._gaps(n)
        keys = self._keys(n)
        if w.read_fraction >= 1.0:
            reads: Iterable[bool] = itertools.repeat(True, n)
        elif w.read_fraction <= 0.0:
            reads = itertools.repeat(False, n)
        else:
            reads = (self._rng_op.random(n) < w.read_fraction).tolist()
        block = RequestBlock(
            gaps,
            keys,
            reads,
            self._dist(w.value_bytes, self._rng_size, n),
            self._dist(w.ttl_ms, self._rng_ttl, n),
            self._dist(w.max_idle_ms, self._rng_idle, n),
        )
        self._drawn += n
        return block

    def __iter__(self) -> Iterator[RequestBlock]:
        while True:
            yield self.next_block()


@dataclass(frozen=True, slots=True)
class Trace:
    """A request trace: times (ms, non-decreasing), keys, read flags, optional value sizes."""

    times_ms: list[float]
    keys: list[Any]
    reads: list[bool]
    value_bytes: list[int] | None

    def __len__(self) -> int:
        return len(self.times_ms)


_READ_OPS = {"get", "read", "r"}
_WRITE_OPS = {"put", "set", "write", "w"}


def read_trace(path: str | Path) -> Trace:
    """Read a CSV trace of ``time_ms,op,key[,value_bytes]`` lines.

    A line naming the columns before the first request is skipped, as are blank lines and
    lines starting with ``#``; times are non-negative and never decrease. ``op`` is
    ``get``/``read`` or ``put``/``write``; a key of digits becomes an int.
    Raises :class:`~toolkit.sim.ScenarioError` (key ``workload.arrival.trace``) naming the
    file and line of a malformed line, or a missing file.
    """
    p = Path(path)
    key = "workload.arrival.trace"
    try:
        text = p.read_text()
    except OSError as exc:
        raise ScenarioError(key, f"cannot read trace {str(p)!r}: {exc.strerror}") from None
    times: list[float] = []
    keys: list[Any] = []
    reads: list[bool] = []
    sizes: list[int] = []
    with_sizes: bool | None = None
    last = 0.0
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if not times and cells[0].lower() in ("time_ms", "time", "timestamp"):
            continue  # the header, before the first request

        def bad(reason: str, lineno: int = lineno) -> ScenarioError:
            return ScenarioError(key, f"{p}:{lineno}: {reason}")

        if len(cells) not in (3, 4):
            raise bad(f"expected time_ms,op,key[,value_bytes], got {len(cells)} fields")
        try:
            t = float(cells[0])
        except ValueError:
            raise bad(f"time_ms must be a number, got {cells[0]!r}") from None
        if not 0 <= t < math.inf:
            raise bad(f"time_ms must be a finite number >= 0, got {cells[0]}")
        if not t >= last:
            raise bad(f"time_ms must not decrease ({last:g} then {cells[0]})")
        op = cells[1].lower()
        if op in _READ_OPS:
            is_read = True
        elif op in _WRITE_OPS:
            is_read = False
        else:
            raise bad(f"op must be get or put, got {cells[1]!r}")
        if not cells[2]:
            raise bad("key must not be empty")
        has_size = len(cells) == 4
        if with_sizes is None:
            with_sizes = has_size
        elif with_sizes != has_size:
            raise bad("every line must have the same number of fields")
        if has_size:
            if not cells[3].isdigit():
                raise bad(f"value_bytes must be a non-negative integer, got {cells[3]!r}")
            sizes.append(int(cells[3]))
        times.append(t)
        keys.append(int(cells[2]) if cells[2].isdigit() else cells[2])
        reads.append(is_read)
        last = t
    if not times:
        raise ScenarioError(key, f"{p}: the trace has no requests")
    return Trace(times, keys, reads, sizes if with_sizes else None)


class TraceStream:
    """The requests of a trace as blocks (one client); sizes, TTLs and max-idles the trace
    does not give are drawn from the workload's distributions."""

    def __init__(
        self, workload: Workload, trace: Trace, seed: np.random.SeedSequence,
        block_size: int = _BLOCK,
    ) -> None:
        self.workload = workload
        self.trace = trace
        self.client = 0
        self.block_size = block_size
        gen = np.random.Generator
        pcg = np.random.PCG64
        self._rng_size, self._rng_ttl, self._rng_idle = (gen(pcg(s)) for s in seed.spawn(3))
        self._pos = 0
        self._last = 0.0

    def _dist(self, dist: Distribution, rng: np.random.Generator, n: int) -> Iterable[int]:
        if dist.is_constant:
            return itertools.repeat(dist.first_value(), n)
        values: list[int] = dist.sample(rng, n).tolist()
        return values

    def __iter__(self) -> Iterator[RequestBlock]:
        trace = self.trace
        w = self.workload
        while self._pos < len(trace):
            lo = self._pos
            hi = min(lo + self.block_size, len(trace))
            n = hi - lo
            times = trace.times_ms[lo:hi]
            gaps = np.diff(np.asarray([self._last, *times])).tolist()
            self._last = times[-1]
            sizes: Iterable[int]
            if trace.value_bytes is not None:
                sizes = trace.value_bytes[lo:hi]
            else:
                sizes = self._dist(w.value_bytes, self._rng_size, n)
            self._pos = hi
            yield RequestBlock(
                gaps,
                trace.keys[lo:hi],
                trace.reads[lo:hi],
                sizes,
                self._dist(w.ttl_ms, self._rng_ttl, n),
                self._dist(w.max_idle_ms, self._rng_idle, n),
            )


def zipf_cdf(key_count: int, alpha: float) -> np.ndarray:
    """The cumulative probabilities of a Zipf law over ``key_count`` ranks."""
    weights = np.arange(1, key_count + 1, dtype=float) ** -alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def client_streams(
    workload: Workload, seed: np.random.SeedSequence, trace: Trace | None = None
) -> list[RequestStream | TraceStream]:
    """One request stream per client, each seeded by its own child of ``seed``.

    A trace workload has a single stream replaying ``trace`` (which must then be given).
    """
    children = seed.spawn(workload.clients)
    if workload.arrival.kind == "trace":
        if trace is None:
            raise ScenarioError("workload.arrival.trace", "a trace workload needs its trace")
        return [TraceStream(workload, trace, children[0])]
    cdf = None
    if workload.keys.kind == "zipf":
        cdf = zipf_cdf(workload.keys.key_count, workload.keys.alpha)
    return [RequestStream(workload, c, children[c], cdf) for c in range(workload.clients)]
