"""Trace readers and writers: round trips, chunking and malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import InvalidArgumentError, ToolkitError
from toolkit.traces import (
    ORACLE_GENERAL_DTYPE,
    REQUEST_DTYPE,
    CsvTraceReader,
    InMemoryTrace,
    Op,
    OracleGeneralReader,
    TraceFormatError,
    TraceReader,
    TwitterTraceReader,
    next_access_indices,
    open_trace,
    parse_op,
    previous_access_indices,
    read_requests,
    synthetic_requests,
    write_csv,
    write_oracle_general,
    write_synthetic_trace,
    write_twitter,
)


@pytest.fixture(scope="module")
def mixed() -> np.ndarray:
    """A small trace with sizes, TTLs, writes and deletes; times on whole seconds."""
    return synthetic_requests(
        3_000,
        300,
        0.8,
        seed=11,
        requests_per_second=1.0,
        size_range=(20, 400),
        ttl_millis=(1_000, 30_000),
        write_fraction=0.2,
        delete_fraction=0.05,
    )


# --- synthetic generator ------------------------------------------------------------------


def test_synthetic_is_deterministic_for_a_seed() -> None:
    a = synthetic_requests(2_000, 100, 1.0, seed=3, size_range=(1, 50))
    b = synthetic_requests(2_000, 100, 1.0, seed=3, size_range=(1, 50))
    c = synthetic_requests(2_000, 100, 1.0, seed=4, size_range=(1, 50))
    assert np.array_equal(a, b)
    assert not np.array_equal(a["key"], c["key"])


def test_synthetic_shape_and_fields() -> None:
    req = synthetic_requests(
        10_000,
        500,
        1.2,
        seed=1,
        requests_per_second=100.0,
        size_range=(10, 20),
        ttl_millis=5_000,
        write_fraction=0.3,
    )
    assert req.dtype == REQUEST_DTYPE and len(req) == 10_000
    assert req["key"].min() >= 1 and req["key"].max() <= 500
    assert np.array_equal(req["time_ms"], np.arange(10_000) * 10)
    assert (req["ttl_ms"] == 5_000).all()
    assert 10 <= req["size"].min() and req["size"].max() <= 20
    # One size per object.
    for key in np.unique(req["key"])[:20]:
        assert len(np.unique(req["size"][req["key"] == key])) == 1
    writes = (req["op"] == Op.WRITE).mean()
    assert 0.27 < writes < 0.33
    assert not (req["op"] == Op.DELETE).any()
    # Zipf: the hottest object gets far more than a uniform share.
    counts = np.bincount(req["key"].astype(np.int64))
    assert counts.max() > 20 * len(req) / 500


def test_synthetic_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="n_requests"):
        synthetic_requests(0, 10)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        synthetic_requests(10, 10, -1.0)
    with pytest.raises(InvalidArgumentError, match="size_range"):
        synthetic_requests(10, 10, size_range=(5, 2))
    with pytest.raises(InvalidArgumentError, match="write_fraction"):
        synthetic_requests(10, 10, write_fraction=0.7, delete_fraction=0.6)


def test_next_and_previous_access() -> None:
    keys = np.array([5, 7, 5, 5, 9, 7], dtype=np.uint64)
    assert next_access_indices(keys).tolist() == [2, 5, 3, -1, -1, -1]
    assert previous_access_indices(keys).tolist() == [-1, -1, 0, 2, -1, 1]


def test_parse_op_names_the_bad_op() -> None:
    assert parse_op("GET") is Op.READ
    assert parse_op(" cas ") is Op.WRITE
    assert parse_op("delete") is Op.DELETE
    with pytest.raises(TraceFormatError, match=r"t\.csv: line 4: unknown op 'frob'"):
        parse_op("frob", "t.csv", 4)


# --- oracleGeneral --------------------------------------------------------------------------


def test_oracle_general_round_trip(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.oracleGeneral"
    assert write_oracle_general(path, mixed) == len(mixed)
    assert path.stat().st_size == 24 * len(mixed)
    reader = open_trace(path)
    assert isinstance(reader, OracleGeneralReader) and isinstance(reader, TraceReader)
    assert reader.n_requests == len(mixed) and reader.has_next_access
    back = read_requests(reader)
    assert np.array_equal(back["time_ms"], mixed["time_ms"])  # whole seconds survive
    assert np.array_equal(back["key"], mixed["key"])
    assert np.array_equal(back["size"], mixed["size"])
    assert np.array_equal(back["next_access"], mixed["next_access"])
    assert (back["op"] == Op.READ).all() and (back["ttl_ms"] == 0).all()


def test_oracle_general_layout_is_packed_little_endian(tmp_path: Path) -> None:
    req = synthetic_requests(3, 2, seed=0, requests_per_second=1.0, size_range=7)
    path = tmp_path / "x.bin"
    write_oracle_general(path, req)
    raw = path.read_bytes()
    assert ORACLE_GENERAL_DTYPE.itemsize == 24
    t, key, size, nxt = (
        int.from_bytes(raw[24:28], "little"),
        int.from_bytes(raw[28:36], "little"),
        int.from_bytes(raw[36:40], "little"),
        int.from_bytes(raw[40:48], "little", signed=True),
    )
    assert (t, key, size, nxt) == (1, int(req["key"][1]), 7, int(req["next_access"][1]))


def test_oracle_general_streams_in_chunks(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.oracleGeneral"
    write_oracle_general(path, mixed)
    chunks = list(OracleGeneralReader(path, chunk_size=700).chunks())
    assert [len(c) for c in chunks] == [700, 700, 700, 700, 200]
    assert np.array_equal(np.concatenate(chunks)["key"], mixed["key"])


def test_oracle_general_maps_int64_max_to_no_next_access(tmp_path: Path) -> None:
    raw = np.zeros(2, dtype=ORACLE_GENERAL_DTYPE)
    raw["obj_id"] = [1, 2]
    raw["obj_size"] = 1
    raw["next_access_vtime"] = [np.iinfo(np.int64).max, -1]
    path = tmp_path / "m.bin"
    raw.tofile(path)
    assert read_requests(path)["next_access"].tolist() == [-1, -1]


def test_truncated_oracle_general_names_the_record(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.oracleGeneral"
    write_oracle_general(path, mixed[:10])
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(TraceFormatError, match="record 9") as info:
        OracleGeneralReader(path)
    assert info.value.record == 9
    assert "19 of 24 bytes" in str(info.value)
    assert isinstance(info.value, ToolkitError)


def test_wrong_record_size_is_refused(tmp_path: Path) -> None:
    # Twenty-byte records (another layout) do not divide into 24-byte records.
    path = tmp_path / "other.bin"
    path.write_bytes(bytes(20 * 7))
    with pytest.raises(TraceFormatError, match="not a multiple of the 24-byte"):
        open_trace(path)


def test_empty_oracle_general_is_an_empty_trace(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert len(read_requests(path)) == 0


# --- CSV --------------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.csv"
    assert write_csv(path, mixed) == len(mixed)
    reader = open_trace(path)
    assert isinstance(reader, CsvTraceReader) and reader.has_next_access
    back = read_requests(reader)
    for field in ("time_ms", "size", "op", "ttl_ms", "next_access"):
        assert np.array_equal(back[field], mixed[field]), field
    names = np.array(reader.key_names)[back["key"].astype(np.int64)]
    assert names.tolist() == [str(k) for k in mixed["key"].tolist()]


def test_csv_chunks_keep_key_ids(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.csv"
    write_csv(path, mixed)
    one = read_requests(CsvTraceReader(path))
    many = np.concatenate(list(CsvTraceReader(path, chunk_size=128).chunks()))
    assert np.array_equal(one, many)


def test_csv_optional_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text("Key,Colour\nalpha,red\nbeta,blue\nalpha,green\n\n")
    back = read_requests(CsvTraceReader(path))
    assert back["key"].tolist() == [0, 1, 0]
    assert back["time_ms"].tolist() == [0, 1, 2]  # one ms per request without a time column
    assert back["size"].tolist() == [1, 1, 1]
    assert (back["op"] == Op.READ).all() and (back["ttl_ms"] == 0).all()
    assert (back["next_access"] == -1).all()


def test_csv_seconds_and_ops(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,key,op,size,ttl\n1.5,a,get,10,2\n2,a,SET,12,0.25\n3,b,delete,0,0\n")
    back = read_requests(path)
    assert back["time_ms"].tolist() == [1500, 2000, 3000]
    assert back["op"].tolist() == [Op.READ, Op.WRITE, Op.DELETE]
    assert back["ttl_ms"].tolist() == [2000, 250, 0]
    assert back["size"].tolist() == [10, 12, 0]


@pytest.mark.parametrize(
    ("body", "line", "match"),
    [
        ("time_ms,key,size\n0,a,1\n5,b\n", 3, "expected 3 fields"),
        ("time_ms,key,size\n0,a,1\n5,b,big\n", 3, "size must be an integer"),
        ("time_ms,key,size\n0,a,1\n1,a,1\n-3,b,1\n", 4, "time_ms must be an integer"),
        ("time,key\n0,a\nsoon,b\n", 3, "time must be a number of seconds"),
        ("key,op\na,get\nb,frob\n", 3, "unknown op 'frob'"),
        ("time,value\n0,a\n", 1, "no key column"),
        ("time,time_ms,key\n0,0,a\n", 1, "both give the time"),
        ("", 1, "missing header"),
    ],
)
def test_bad_csv_names_the_line(tmp_path: Path, body: str, line: int, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(TraceFormatError, match=match) as info:
        read_requests(CsvTraceReader(path))
    assert info.value.line == line
    assert f"line {line}" in str(info.value)
    assert str(path) in str(info.value)


# --- Twitter ------------------------------------------------------------------------------


def test_twitter_layout_with_ttl(tmp_path: Path) -> None:
    path = tmp_path / "cluster.sort"
    path.write_text(
        "0,q:q:1:8WTfjZU,10,19,1,get,0\n"
        "0,q:q:1:8WTfjZU,10,21,1,set,3600\n"
        "2,other,5,100,7,gets,0\n"
        "3,q:q:1:8WTfjZU,10,21,1,delete,0\n"
        "4,with,comma,5,1,3,add,60\n"
    )
    reader = open_trace(path, format="twitter")
    assert isinstance(reader, TwitterTraceReader) and not reader.has_next_access
    back = read_requests(reader)
    assert back["time_ms"].tolist() == [0, 0, 2000, 3000, 4000]
    assert back["key"].tolist() == [0, 0, 1, 0, 2]
    assert reader.key_names == ["q:q:1:8WTfjZU", "other", "with,comma"]
    assert back["size"].tolist() == [29, 31, 105, 31, 6]
    assert back["op"].tolist() == [Op.READ, Op.WRITE, Op.READ, Op.DELETE, Op.WRITE]
    assert back["ttl_ms"].tolist() == [0, 3_600_000, 0, 0, 60_000]


def test_twitter_round_trip(tmp_path: Path, mixed: np.ndarray) -> None:
    path = tmp_path / "t.twr"
    write_twitter(path, mixed)
    reader = TwitterTraceReader(path, chunk_size=1000)
    back = read_requests(reader)
    assert np.array_equal(back["time_ms"], mixed["time_ms"])
    assert np.array_equal(back["size"], mixed["size"])  # sizes >= 20 hold the key text
    assert np.array_equal(back["op"], mixed["op"])
    assert np.array_equal(back["ttl_ms"], mixed["ttl_ms"] // 1000 * 1000)
    names = np.array(reader.key_names)[back["key"].astype(np.int64)]
    assert names.tolist() == [f"k{k}" for k in mixed["key"].tolist()]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("1,k,3,4,0,get\n", "expected 7 fields"),
        ("1,k,3,x,0,get,0\n", "value size must be an integer"),
        ("1,k,3,4,0,touch,0\n", "unknown op 'touch'"),
        ("1,k,3,4,0,get,-5\n", "TTL must be a number of seconds"),
    ],
)
def test_bad_twitter_line_is_named(tmp_path: Path, line: str, match: str) -> None:
    path = tmp_path / "bad.twr"
    path.write_text("0,a,1,1,0,get,0\n" + line)
    with pytest.raises(TraceFormatError, match=match) as info:
        read_requests(open_trace(path, "twitter"))
    assert info.value.line == 2


# --- opening ----------------------------------------------------------------------------------


def test_open_trace_formats(tmp_path: Path, mixed: np.ndarray) -> None:
    requests = write_synthetic_trace(tmp_path / "g.csv", 100, 10, format="csv", seed=2)
    assert np.array_equal(read_requests(tmp_path / "g.csv")["size"], requests["size"])
    with pytest.raises(InvalidArgumentError, match="cannot tell the format"):
        open_trace(tmp_path / "trace.dat")
    with pytest.raises(InvalidArgumentError, match="unknown trace format"):
        open_trace(tmp_path / "g.csv", format="parquet")
    assert isinstance(open_trace(tmp_path / "g.csv", "CSV"), CsvTraceReader)
    with pytest.raises(FileNotFoundError):
        open_trace(tmp_path / "missing.bin")


def test_in_memory_trace_checks_its_array() -> None:
    with pytest.raises(InvalidArgumentError, match="REQUEST_DTYPE"):
        InMemoryTrace(np.zeros(3))
    req = synthetic_requests(10, 3, seed=0)
    trace = InMemoryTrace(req, chunk_size=4)
    assert [len(c) for c in trace.chunks()] == [4, 4, 2]
    assert trace.n_requests == 10 and trace.has_next_access
