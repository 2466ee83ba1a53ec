"""Trace readers, writers and fast replay.

Read libCacheSim's ``oracleGeneral`` binary traces, CSV traces with a header and the Twitter
cache-trace layout in chunks (:func:`open_trace`); draw synthetic Zipf traces
(:func:`synthetic_requests`, :func:`write_synthetic_trace`); replay a trace through exact
reference policies (:func:`replay`: LRU, FIFO, LFU, Belady) or through the real record store
(:func:`replay_store`); compute miss-ratio curves (:func:`miss_ratio_curve`, one pass for LRU)
and plot them (:func:`plot_mrc`).
"""

from .errors import TraceFormatError
from .mrc import (
    MRC_COLUMNS,
    byte_stack_distances,
    default_capacities,
    miss_ratio_curve,
    plot_mrc,
    stack_distances,
)
from .policies import (
    EXACT_POLICIES,
    BeladyPolicy,
    ExactPolicy,
    FifoPolicy,
    LfuPolicy,
    LruPolicy,
    ReplayCounters,
    make_policy,
)
from .readers import (
    DEFAULT_CHUNK_SIZE,
    FORMATS,
    ORACLE_GENERAL_DTYPE,
    CsvTraceReader,
    InMemoryTrace,
    OracleGeneralReader,
    TraceReader,
    TwitterTraceReader,
    as_reader,
    normalize_format,
    open_trace,
    read_requests,
)
from .replay import ReplayResult, replay, replay_store, with_next_access
from .requests import (
    REQUEST_DTYPE,
    Op,
    empty_requests,
    next_access_indices,
    parse_op,
    previous_access_indices,
)
from .writer import (
    synthetic_requests,
    write_csv,
    write_oracle_general,
    write_synthetic_trace,
    write_trace,
    write_twitter,
)

__all__ = [
    "TraceFormatError",
    "REQUEST_DTYPE",
    "Op",
    "parse_op",
    "empty_requests",
    "previous_access_indices",
    "next_access_indices",
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
    "synthetic_requests",
    "write_oracle_general",
    "write_csv",
    "write_twitter",
    "write_trace",
    "write_synthetic_trace",
    "ReplayCounters",
    "ExactPolicy",
    "LruPolicy",
    "FifoPolicy",
    "LfuPolicy",
    "BeladyPolicy",
    "EXACT_POLICIES",
    "make_policy",
    "ReplayResult",
    "replay",
    "replay_store",
    "with_next_access",
    "stack_distances",
    "byte_stack_distances",
    "default_capacities",
    "miss_ratio_curve",
    "plot_mrc",
    "MRC_COLUMNS",
]
