"""Tables for notebooks and reports: record metadata as a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["metadata_frame"]

DEFAULT_COLUMNS = (
    "value", "version", "hits", "creation_time", "last_access_time", "last_update_time",
    "last_stored_time", "ttl_millis", "max_idle_millis", "cost", "dirty", "expired",
)


def metadata_frame(store: Any, columns: Sequence[str] = DEFAULT_COLUMNS) -> pd.DataFrame:
    """One row per entry in memory, indexed by key, sorted by key (times in ms)."""
    rows = store.metadata_rows()
    frame = pd.DataFrame(rows, columns=["key", *columns])
    return frame.set_index("key").sort_index()
