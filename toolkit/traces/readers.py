"""Trace readers: libCacheSim's ``oracleGeneral`` binary format, a CSV format with a header,
and the Twitter cache-trace CSV layout; plus an in-memory trace.

Every reader follows :class:`TraceReader`: ``chunks()`` yields arrays of
:data:`~toolkit.traces.requests.REQUEST_DTYPE` of at most ``chunk_size`` requests, so a trace
of any length is streamed. Malformed input raises
:class:`~toolkit.traces.errors.TraceFormatError` naming the record (binary) or line (text).

Text formats name keys by strings; the readers map them to dense integer ids in order of first
appearance (``reader.key_names[i]`` is the text of id ``i``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgumentError
from .errors import TraceFormatError
from .requests import REQUEST_DTYPE, Op, empty_requests, parse_op

__all__ = [
    "TraceReader",
    "OracleGeneralReader",
    "CsvTraceReader",
    "TwitterTraceReader",
    "InMemoryTrace",
    "ORACLE_GENERAL_DTYPE",
    "FORMATS",
    "DEFAULT_CHUNK_SIZE",
    "open_trace",
    "as_reader",
    "read_requests",
    "normalize_format",
]

#: One oracleGeneral record: little-endian, packed, 24 bytes. Times are seconds;
#: ``next_access_vtime`` is the request index of the next access (-1 or INT64_MAX: none).
ORACLE_GENERAL_DTYPE = np.dtype(
    [
        ("clock_time", "<u4"),
        ("obj_id", "<u8"),
        ("obj_size", "<u4"),
        ("next_access_vtime", "<i8"),
    ]
)
assert ORACLE_GENERAL_DTYPE.itemsize == 24

#: The formats :func:`open_trace` knows, by canonical name.
FORMATS: tuple[str, ...] = ("oracleGeneral", "csv", "twitter")

#: Requests per chunk unless a reader is told otherwise.
DEFAULT_CHUNK_SIZE = 1 << 18

_INT64_MAX = np.iinfo(np.int64).max
_UINT32_MAX = int(np.iinfo(np.uint32).max)


@runtime_checkable
class TraceReader(Protocol):
    """A source of requests, read in chunks.

    ``source`` names where the requests come from, ``format`` is one of :data:`FORMATS` (or
    ``"memory"``), ``n_requests`` is the number of requests when known without a pass (else
    None) and ``has_next_access`` tells whether the ``next_access`` field is filled in.
    """

    @property
    def source(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def n_requests(self) -> int | None: ...

    @property
    def has_next_access(self) -> bool: ...

    def chunks(self) -> Iterator[np.ndarray]:
        """Arrays of :data:`REQUEST_DTYPE`, in trace order, each at most ``chunk_size`` long."""
        ...


def _check_chunk_size(chunk_size: int) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidArgumentError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    return chunk_size


class OracleGeneralReader:
    """libCacheSim's ``oracleGeneral`` binary trace: packed 24-byte little-endian records of
    uint32 time (s), uint64 object id, uint32 size (bytes), int64 next access (request index).

    Times become milliseconds (``time * 1000``); a next access of -1 or INT64_MAX becomes -1.
    Raises :class:`TraceFormatError` when the file size is not a multiple of 24 bytes (a
    truncated file or another record layout), naming the incomplete record; ``OSError`` when
    the file cannot be read.
    """

    RECORD_BYTES = ORACLE_GENERAL_DTYPE.itemsize

    def __init__(self, path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path = Path(path)
        self.chunk_size = _check_chunk_size(chunk_size)
        nbytes = self.path.stat().st_size
        self._n = self._check_size(nbytes)

    def _check_size(self, nbytes: int) -> int:
        whole, rest = divmod(nbytes, self.RECORD_BYTES)
        if rest:
            raise TraceFormatError(
                f"file size {nbytes} bytes is not a multiple of the {self.RECORD_BYTES}-byte "
                f"oracleGeneral record: the record is truncated ({rest} of {self.RECORD_BYTES} "
                "bytes; a truncated file or another record layout)",
                str(self.path),
                record=whole,
            )
        return whole

    @property
    def source(self) -> str:
        """The file path."""
        return str(self.path)

    @property
    def format(self) -> str:
        """``"oracleGeneral"``."""
        return "oracleGeneral"

    @property
    def n_requests(self) -> int:
        """Number of records in the file."""
        return self._n

    @property
    def has_next_access(self) -> bool:
        """Always True: the format carries the next access of every request."""
        return True

    def raw_chunks(self) -> Iterator[np.ndarray]:
        """The records as they are on disk (:data:`ORACLE_GENERAL_DTYPE`), chunk by chunk."""
        n = self._check_size(self.path.stat().st_size)
        done = 0
        with open(self.path, "rb") as f:
            while done < n:
                want = min(self.chunk_size, n - done)
                raw = np.fromfile(f, dtype=ORACLE_GENERAL_DTYPE, count=want)
                if len(raw) < want:
                    raise TraceFormatError(
                        "file ended early (it shrank while being read)",
                        str(self.path),
                        record=done + len(raw),
                    )
                done += want
                yield raw

    def chunks(self) -> Iterator[np.ndarray]:
        """Arrays of :data:`REQUEST_DTYPE`, at most ``chunk_size`` requests each."""
        for raw in self.raw_chunks():
            out = np.empty(len(raw), dtype=REQUEST_DTYPE)
            np.multiply(raw["clock_time"], 1000, out=out["time_ms"], casting="unsafe")
            out["key"] = raw["obj_id"]
            out["size"] = raw["obj_size"]
            out["op"] = Op.READ
            out["ttl_ms"] = 0
            nxt = raw["next_access_vtime"]
            out["next_access"] = nxt
            none = nxt < 0
            none |= nxt == _INT64_MAX
            np.copyto(out["next_access"], -1, where=none)
            yield out

    def __repr__(self) -> str:
        return f"OracleGeneralReader({str(self.path)!r}, n_requests={self._n})"


class _KeyTable:
    """Dense integer ids for text keys, in order of first appearance."""

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def id_of(self, name: str) -> int:
        ids = self.ids
        i = ids.get(name)
        if i is None:
            i = ids[name] = len(self.names)
            self.names.append(name)
        return i


def _millis_from_seconds(text: str, what: str, source: str, line: int) -> int:
    """Whole milliseconds from a decimal number of seconds (>= 0)."""
    try:
        return int(text) * 1000 if text.isdigit() else _float_millis(text)
    except ValueError:
        raise TraceFormatError(
            f"{what} must be a number of seconds >= 0, got {text!r}", source, line
        ) from None


def _float_millis(text: str) -> int:
    x = float(text)
    if not math.isfinite(x) or x < 0:
        raise ValueError(text)
    return int(round(x * 1000))


def _non_negative_int(text: str, what: str, source: str, line: int, limit: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= limit:
        raise TraceFormatError(f"{what} must be an integer in 0..{limit}, got {text!r}", source, line)
    return value


#: CSV header names (lower case) and the field each gives, with its unit.
_CSV_COLUMNS: dict[str, tuple[str, str]] = {
    "time": ("time", "s"),
    "timestamp": ("time", "s"),
    "time_s": ("time", "s"),
    "clock_time": ("time", "s"),
    "time_ms": ("time", "ms"),
    "key": ("key", ""),
    "obj_id": ("key", ""),
    "object": ("key", ""),
    "id": ("key", ""),
    "op": ("op", ""),
    "operation": ("op", ""),
    "size": ("size", ""),
    "obj_size": ("size", ""),
    "bytes": ("size", ""),
    "ttl": ("ttl", "s"),
    "ttl_s": ("ttl", "s"),
    "ttl_ms": ("ttl", "ms"),
    "next_access": ("next", ""),
    "next_access_vtime": ("next", ""),
}


class CsvTraceReader:
    """A CSV trace whose first line names the columns.

    Known columns (case-insensitive): time as ``time``/``timestamp``/``time_s`` (seconds,
    decimals allowed) or ``time_ms``; ``key`` (or ``obj_id``, ``object``, ``id``); ``op``
    (``get``, ``set``, ``delete``, ... see :func:`~toolkit.traces.requests.parse_op`); ``size``
    (bytes); ``ttl``/``ttl_s`` (seconds) or ``ttl_ms``; ``next_access`` (request index, -1 =
    none). Only the key is required: without a time column request ``i`` happens at ``i`` ms (a
    logical clock), without size every request is 1 byte, without op every request is a read,
    without ttl there is no per-request TTL. Other columns are ignored; blank lines are skipped.

    Raises :class:`TraceFormatError` naming the line for a header without a key column, a
    column given twice, a line with the wrong number of fields, a bad number or an unknown op.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        delimiter: str = ",",
    ) -> None:
        self.path = Path(path)
        self.chunk_size = _check_chunk_size(chunk_size)
        self.delimiter = delimiter
        self._keys = _KeyTable()
        with open(self.path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
        self._columns = self._parse_header(header)

    def _parse_header(self, header: list[str] | None) -> dict[str, tuple[int, str]]:
        src = str(self.path)
        if not header or not any(h.strip() for h in header):
            raise TraceFormatError("missing header line naming the columns", src, 1)
        columns: dict[str, tuple[int, str]] = {}
        names: dict[str, str] = {}
        for i, raw_name in enumerate(header):
            name = raw_name.strip().lower()
            known = _CSV_COLUMNS.get(name)
            if known is None:
                continue
            field, unit = known
            if field in columns:
                raise TraceFormatError(
                    f"columns {names[field]!r} and {raw_name.strip()!r} both give the {field}",
                    src,
                    1,
                )
            columns[field] = (i, unit)
            names[field] = raw_name.strip()
        if "key" not in columns:
            raise TraceFormatError(
                f"header {header!r} has no key column (expected one of: key, obj_id, object, id)",
                src,
                1,
            )
        self._n_fields = len(header)
        return columns

    @property
    def source(self) -> str:
        """The file path."""
        return str(self.path)

    @property
    def format(self) -> str:
        """``"csv"``."""
        return "csv"

    @property
    def n_requests(self) -> None:
        """Unknown until the file is read: None."""
        return None

    @property
    def has_next_access(self) -> bool:
        """Whether the header has a ``next_access`` column."""
        return "next" in self._columns

    @property
    def key_names(self) -> list[str]:
        """The text of each key id seen so far (id ``i`` is ``key_names[i]``)."""
        return self._keys.names

    def chunks(self) -> Iterator[np.ndarray]:
        """Arrays of :data:`REQUEST_DTYPE`, at most ``chunk_size`` requests each."""
        src = str(self.path)
        cols = self._columns
        n_fields = self._n_fields
        key_col = cols["key"][0]
        time_col, time_unit = cols.get("time", (-1, ""))
        op_col = cols.get("op", (-1, ""))[0]
        size_col = cols.get("size", (-1, ""))[0]
        ttl_col, ttl_unit = cols.get("ttl", (-1, ""))
        next_col = cols.get("next", (-1, ""))[0]
        id_of = self._keys.id_of
        index = 0
        rows: list[tuple[int, int, int, int, int, int]] = []
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            next(reader, None)
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != n_fields:
                    raise TraceFormatError(
                        f"expected {n_fields} fields as in the header, got {len(row)}: {row!r}",
                        src,
                        line,
                    )
                if time_col < 0:
                    t = index
                elif time_unit == "ms":
                    t = _non_negative_int(row[time_col], "time_ms", src, line, _INT64_MAX)
                else:
                    t = _millis_from_seconds(row[time_col], "time", src, line)
                key = id_of(row[key_col])
                op = parse_op(row[op_col], src, line) if op_col >= 0 else Op.READ
                size = (
                    _non_negative_int(row[size_col], "size", src, line, _UINT32_MAX) if size_col >= 0 else 1
                )
                if ttl_col < 0:
                    ttl = 0
                elif ttl_unit == "ms":
                    ttl = _non_negative_int(row[ttl_col], "ttl_ms", src, line, _INT64_MAX)
                else:
                    ttl = _millis_from_seconds(row[ttl_col], "ttl", src, line)
                if next_col >= 0:
                    try:
                        nxt = int(row[next_col])
                    except ValueError:
                        raise TraceFormatError(
                            f"next_access must be an integer, got {row[next_col]!r}", src, line
                        ) from None
                    if nxt < 0:
                        nxt = -1
                else:
                    nxt = -1
                rows.append((t, key, size, int(op), ttl, nxt))
                index += 1
                if len(rows) >= self.chunk_size:
                    yield np.array(rows, dtype=REQUEST_DTYPE)
                    rows = []
        if rows:
            yield np.array(rows, dtype=REQUEST_DTYPE)

    def __repr__(self) -> str:
        return f"CsvTraceReader({str(self.path)!r})"


class TwitterTraceReader:
    """The Twitter cache-trace layout: CSV without a header, seven fields per line:
    timestamp (s), anonymized key, key size, value size, client id, operation, TTL (s).

    A request's size is key size + value size (bytes); its TTL is per request (ms). Ops are
    mapped by :func:`~toolkit.traces.requests.parse_op` (get/gets read; set, add, replace, cas,
    append, prepend, incr, decr write; delete deletes). Raises :class:`TraceFormatError`
    naming the line for a wrong field count, a bad number or an unknown op.
    """

    N_FIELDS = 7

    def __init__(self, path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path = Path(path)
        self.chunk_size = _check_chunk_size(chunk_size)
        self._keys = _KeyTable()
        if not self.path.is_file():
            raise FileNotFoundError(f"no trace file at {str(self.path)!r}")

    @property
    def source(self) -> str:
        """The file path."""
        return str(self.path)

    @property
    def format(self) -> str:
        """``"twitter"``."""
        return "twitter"

    @property
    def n_requests(self) -> None:
        """Unknown until the file is read: None."""
        return None

    @property
    def has_next_access(self) -> bool:
        """Always False: the layout has no next-access field."""
        return False

    @property
    def key_names(self) -> list[str]:
        """The text of each key id seen so far (id ``i`` is ``key_names[i]``)."""
        return self._keys.names

    def chunks(self) -> Iterator[np.ndarray]:
        """Arrays of :data:`REQUEST_DTYPE`, at most ``chunk_size`` requests each."""
        src = str(self.path)
        id_of = self._keys.id_of
        rows: list[tuple[int, int, int, int, int, int]] = []
        with open(self.path, encoding="utf-8", newline="") as f:
            for line_no, text in enumerate(f, start=1):
                text = text.rstrip("\r\n")
                if not text.strip():
                    continue
                fields = text.split(",")
                if len(fields) > self.N_FIELDS:
                    # A key may itself hold commas: the other six fields are fixed.
                    fields = [fields[0], ",".join(fields[1:-5]), *fields[-5:]]
                if len(fields) != self.N_FIELDS:
                    raise TraceFormatError(
                        f"expected {self.N_FIELDS} fields (timestamp, key, key size, value "
                        f"size, client id, operation, TTL), got {len(fields)}: {text!r}",
                        src,
                        line_no,
                    )
                ts, key, ksize, vsize, _client, op_name, ttl_text = fields
                t = _millis_from_seconds(ts, "timestamp", src, line_no)
                size = _non_negative_int(ksize, "key size", src, line_no, _UINT32_MAX)
                size += _non_negative_int(vsize, "value size", src, line_no, _UINT32_MAX)
                if size > _UINT32_MAX:
                    raise TraceFormatError(
                        f"key size + value size must be <= {_UINT32_MAX}, got {size}",
                        src,
                        line_no,
                    )
                op = parse_op(op_name, src, line_no)
                ttl = _millis_from_seconds(ttl_text, "TTL", src, line_no)
                rows.append((t, id_of(key), size, int(op), ttl, -1))
                if len(rows) >= self.chunk_size:
                    yield np.array(rows, dtype=REQUEST_DTYPE)
                    rows = []
        if rows:
            yield np.array(rows, dtype=REQUEST_DTYPE)

    def __repr__(self) -> str:
        return f"TwitterTraceReader({str(self.path)!r})"


class InMemoryTrace:
    """A trace held in memory as one :data:`REQUEST_DTYPE` array (tests, notebooks).

    ``has_next_access`` defaults to whether any ``next_access`` is >= 0. Raises
    :class:`~toolkit.errors.InvalidArgumentError` when ``requests`` is not such an array.
    """

    def __init__(
        self,
        requests: np.ndarray,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        has_next_access: bool | None = None,
        source: str = "<memory>",
    ) -> None:
        if not isinstance(requests, np.ndarray) or requests.dtype != REQUEST_DTYPE:
            raise InvalidArgumentError(
                f"requests must be a numpy array of REQUEST_DTYPE, got {type(requests).__name__}"
                + (f" of dtype {requests.dtype}" if isinstance(requests, np.ndarray) else "")
            )
        self.requests = requests
        self.chunk_size = _check_chunk_size(chunk_size)
        self._has_next = (
            bool((requests["next_access"] >= 0).any()) if has_next_access is None else bool(has_next_access)
        )
        self._source = source

    @property
    def source(self) -> str:
        """A description of where the array came from."""
        return self._source

    @property
    def format(self) -> str:
        """``"memory"``."""
        return "memory"

    @property
    def n_requests(self) -> int:
        """Length of the array."""
        return len(self.requests)

    @property
    def has_next_access(self) -> bool:
        """Whether ``next_access`` is filled in."""
        return self._has_next

    def chunks(self) -> Iterator[np.ndarray]:
        """Views of the array, at most ``chunk_size`` requests each."""
        step = self.chunk_size
        for start in range(0, len(self.requests), step):
            yield self.requests[start : start + step]

    def __repr__(self) -> str:
        return f"InMemoryTrace(n_requests={len(self.requests)}, source={self._source!r})"


def normalize_format(name: str) -> str:
    """The canonical name of a trace format (case, ``-`` and ``_`` ignored).

    Raises :class:`~toolkit.errors.InvalidArgumentError` for an unknown format.
    """
    wanted = str(name).strip().lower().replace("-", "").replace("_", "")
    for fmt in FORMATS:
        if fmt.lower() == wanted:
            return fmt
    raise InvalidArgumentError(f"unknown trace format {name!r}; expected one of: {FORMATS}")


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    if "oraclegeneral" in name or name.endswith(".bin"):
        return "oracleGeneral"
    if name.endswith(".csv"):
        return "csv"
    raise InvalidArgumentError(
        f"cannot tell the format of {str(path)!r} from its name; pass format= one of {FORMATS}"
    )


def open_trace(
    path: str | os.PathLike[str],
    format: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> TraceReader:
    """A reader for the trace at ``path``.

    ``format`` is one of :data:`FORMATS`; None guesses from the name (``oracleGeneral`` in the
    name or ``.bin``: oracleGeneral; ``.csv``: csv). Raises
    :class:`~toolkit.errors.InvalidArgumentError` for an unknown format,
    :class:`TraceFormatError` for a malformed file, ``OSError`` for a missing one.
    """
    p = Path(path)
    fmt = _guess_format(p) if format is None else normalize_format(format)
    if fmt == "oracleGeneral":
        return OracleGeneralReader(p, chunk_size)
    if fmt == "csv":
        return CsvTraceReader(p, chunk_size)
    return TwitterTraceReader(p, chunk_size)


def as_reader(
    trace: TraceReader | np.ndarray | str | os.PathLike[str],
    format: str | None = None,
) -> TraceReader:
    """Accept a reader, a :data:`REQUEST_DTYPE` array or a path (opened with ``format``)."""
    if isinstance(trace, np.ndarray):
        return InMemoryTrace(trace)
    if isinstance(trace, (str, os.PathLike)):
        return open_trace(trace, format)
    if isinstance(trace, TraceReader):
        return trace
    raise InvalidArgumentError(f"trace must be a TraceReader, a REQUEST_DTYPE array or a path, got {trace!r}")


def read_requests(
    trace: TraceReader | np.ndarray | str | os.PathLike[str],
    format: str | None = None,
) -> np.ndarray:
    """The whole trace as one :data:`REQUEST_DTYPE` array (it must fit in memory)."""
    reader = as_reader(trace, format)
    if isinstance(reader, InMemoryTrace):
        return reader.requests
    parts = list(reader.chunks())
    if not parts:
        return empty_requests(0)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
