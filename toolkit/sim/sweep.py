"""Parameter sweeps: run a scenario over a grid of overrides, serially, in a process pool or
on Dask distributed, and collect one tidy table (one row per run).

Every grid point is a full run with its own seed (``workload.seed`` is just another key), so
points that differ only in store settings see the same requests (common random numbers).
Rows come back in grid order whatever the executor, so every executor gives the same table.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import pandas as pd

from ..errors import ToolkitError, to_plain
from ..progress import progress_enabled
from .errors import ScenarioError
from .runner import run
from .scenario import Scenario

__all__ = [
    "sweep",
    "SweepResult",
    "parse_assignment",
    "grid_points",
    "run_point",
    "value_label",
    "EXECUTORS",
]

#: Named executors; anything else passed as ``executor`` is taken as a Dask scheduler address.
EXECUTORS: tuple[str, ...] = ("serial", "process", "dask")


@dataclass
class SweepResult:
    """``summary``: one row per grid point (the overridden keys, then the run's summary);
    ``timelines``: every run's timeline with the overridden keys as extra columns (None unless
    asked for)."""

    summary: pd.DataFrame
    timelines: pd.DataFrame | None = None


def _parse_value(text: str) -> Any:
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, list[Any]]:
    """``"store.max_entry_count=1000,2000"`` -> ``("store.max_entry_count", [1000, 2000])``.

    Values are read as TOML values (``1000``, ``0.5``, ``true``, ``"x"``, ``[0, 5000]``; a
    comma inside double quotes or brackets belongs to the value); anything else is a bare
    string (``lru``). Raises :class:`~toolkit.sim.ScenarioError` without ``=`` or values.
    """
    if "=" not in text:
        raise ScenarioError(text, "a --set needs KEY=VALUE[,VALUE...]")
    key, _, values = text.partition("=")
    key = key.strip()
    if not key:
        raise ScenarioError(text, "a --set needs a key before '='")
    parts = _split_values(values)
    if not "".join(parts).strip():
        raise ScenarioError(key, "a --set needs at least one value after '='")
    if any(not v.strip() for v in parts):
        raise ScenarioError(key, f"has an empty value in {values!r} (two commas, or one at an end)")
    return key, [_parse_value(v) for v in parts]


def _split_values(text: str) -> list[str]:
    """``text`` split at the commas that are not inside double quotes or brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for ch in text:
        if ch == "," and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
        if escaped:
            escaped = False
        elif quoted:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    parts.append("".join(current))
    return parts


def grid_points(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest.

    A key's values are any sequence or array (a list, a range, ``np.arange(...)``, a pandas
    Series); numpy values count as the Python values they hold."""
    keys = list(grid)
    axes = []
    for key in keys:
        values = grid[key]
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise ScenarioError(key, f"grid values must be a non-empty list, got {values!r}")
        plain = [to_plain(v) for v in values]
        if not plain:
            raise ScenarioError(key, f"grid values must be a non-empty list, got {values!r}")
        axes.append(plain)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def value_label(value: Any) -> Any:
    """How a swept value appears in the tables: itself, or for a list or a table its JSON
    text (``[0, 5000]``), so that a column holds one hashable value per row (a CSV cell,
    something to group and plot by)."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def run_point(
    base: Mapping[str, Any],
    overrides: Mapping[str, Any],
    timelines: bool = False,
    source: str | None = None,
    keep_going: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Run the scenario ``base`` (its :meth:`~toolkit.sim.Scenario.to_dict` form) with
    ``overrides``; return (the summary row, the timeline or None). ``source`` is the
    scenario's file (a relative trace path in ``overrides`` is resolved against its folder,
    as :meth:`~toolkit.sim.Scenario.with_overrides` does). With ``keep_going`` a run that
    fails with a :class:`~toolkit.errors.ToolkitError` gives a row of the overrides and its
    ``error`` (type and message), and a row that ran has ``error`` None. Picklable for
    workers."""
    scenario = Scenario.from_dict(base, source=source).with_overrides(overrides)
    labels = {key: value_label(value) for key, value in overrides.items()}
    try:
        result = run(scenario)
    except ToolkitError as exc:
        if not keep_going:
            raise
        return {**labels, "error": f"{type(exc).__name__}: {exc}"}, None
    row = {**labels, **result.summary}
    if keep_going:
        row["error"] = None
    timeline = None
    if timelines:
        timeline = result.timeline.copy()
        for i, (key, value) in enumerate(labels.items()):
            timeline.insert(i, key, value)
    return row, timeline


def _dask_client(executor: Any, jobs: int) -> tuple[Any, list[Any]]:
    """(a distributed Client, the objects to close afterwards)."""
    try:
        import distributed
    except ImportError:
        raise ToolkitError(
            "the dask executor needs dask[distributed]; install the 'dask' extra "
            "(pip install -e '.[dask]')"
        ) from None
    if isinstance(executor, distributed.Client):
        return executor, []
    if executor == "dask":
        import logging

        cluster = distributed.LocalCluster(
            n_workers=max(1, jobs),
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # a failing run is reported once, by sweep()
        )
        client = distributed.Client(cluster)
        return client, [client, cluster]
    try:
        client = distributed.Client(str(executor))
    except (OSError, ValueError, TypeError) as exc:  # a malformed or unreachable address
        raise ToolkitError(
            f"cannot use the Dask scheduler at {executor!r}: {exc} (an address looks like "
            "tcp://host:8786)"
        ) from None
    return client, [client]


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Iterable[Any]],
    *,
    jobs: int = 1,
    executor: Any = None,
    progress: bool | None = False,
    timelines: bool = False,
    keep_going: bool = False,
) -> SweepResult:
    """Run ``scenario`` at every point of ``grid`` (dotted key -> values).

    A run that fails raises its error (a parallel sweep finishes the other runs, then
    raises the error of the first failing point in grid order, as a serial sweep does);
    with ``keep_going`` every point gets a row, and the last column, ``error``, holds the
    failure of those that failed (their measures are NaN) and None for the others.

    ``executor``: ``"serial"``, ``"process"`` (a pool of ``jobs`` processes), ``"dask"`` (a
    local Dask cluster of ``jobs`` workers), a Dask scheduler address, or a
    ``distributed.Client``; None picks ``"process"`` when ``jobs > 1``, else ``"serial"``.
    ``progress`` shows a tqdm bar of runs (None: only when standard error is a terminal).
    Every point is validated before any runs; a bad key or
    value raises :class:`~toolkit.sim.ScenarioError`. Dask is imported only when asked for
    (:class:`~toolkit.errors.ToolkitError` when it is not installed).
    """
    if not isinstance(scenario, Scenario):
        hint = " (load_scenario(path) reads a file)" if isinstance(scenario, str) else ""
        raise TypeError(f"sweep() needs a Scenario{hint}, got {type(scenario).__name__}")
    if not isinstance(grid, Mapping):
        raise TypeError(
            f"the grid must map dotted keys to lists of values, got {type(grid).__name__}"
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ScenarioError("jobs", f"must be an integer >= 1, got {jobs!r}")
    if not (executor is None or isinstance(executor, str) or hasattr(executor, "submit")):
        raise ScenarioError(
            "executor",
            f"must be one of {', '.join(EXECUTORS)}, a Dask scheduler address or a "
            f"distributed.Client, got {executor!r}",
        )
    if isinstance(executor, str) and executor not in EXECUTORS and ":" not in executor:
        raise ScenarioError(
            "executor",
            f"must be one of {', '.join(EXECUTORS)} or a Dask scheduler address "
            f"(tcp://host:8786), got {executor!r}",
        )
    points = grid_points(grid)
    seen: dict[str, dict[str, Any]] = {}
    for point in points:
        same = repr(scenario.with_overrides(point).to_dict())
        if same in seen:  # a value given twice, or two spellings of one (LRU and lru)
            raise ScenarioError(
                ", ".join(point),
                f"the grid points {seen[same]} and {point} are the same run; give each value once",
            )
        seen[same] = point
    base = scenario.to_dict()
    source = scenario.source
    kind = executor if executor is not None else ("process" if jobs > 1 else "serial")
    n = len(points)
    results: list[tuple[dict[str, Any], pd.DataFrame | None] | None] = [None] * n
    from tqdm.auto import tqdm  # imported here: a notebook that never sweeps needs no widget

    # A parallel sweep runs every point, then raises the error of the first point in grid
    # order that failed: the one a serial sweep would have stopped at.
    failed: dict[int, BaseException] = {}
    bar = tqdm(total=n, disable=not progress_enabled(progress), desc=scenario.name, unit="run")
    try:
        if kind == "serial":
            for i, point in enumerate(points):
                results[i] = run_point(base, point, timelines, source, keep_going)
                bar.update(1)
        elif kind == "process":
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures: dict[Future[Any], int] = {
                    pool.submit(run_point, base, point, timelines, source, keep_going): i
                    for i, point in enumerate(points)
                }
                for fut in as_completed(futures):
                    error = fut.exception()
                    if error is None:
                        results[futures[fut]] = fut.result()
                    else:
                        failed[futures[fut]] = error
                    bar.update(1)
        else:
            client, to_close = _dask_client(kind, jobs)
            try:
                import distributed

                dfuts = client.map(
                    run_point, [base] * n, points, [timelines] * n, [source] * n,
                    [keep_going] * n, pure=False,
                )
                for _ in distributed.as_completed(dfuts):
                    bar.update(1)
                for i, dfut in enumerate(dfuts):
                    if dfut.status == "error":
                        failed[i] = dfut.exception()
                    else:
                        results[i] = dfut.result()
            finally:
                for obj in to_close:
                    obj.close()
    finally:
        bar.close()
    if failed:
        raise failed[min(failed)]
    rows = [r[0] for r in results if r is not None]
    columns = None
    if keep_going:  # the same columns, in the same order, whichever points failed
        ran = next((row for row in rows if row["error"] is None), None)
        measures = [k for k in (ran or {}) if k not in grid and k != "error"]
        columns = [*grid, *measures, "error"]
    summary = pd.DataFrame(rows, columns=columns)
    tl = None
    if timelines:
        frames = [r[1] for r in results if r is not None and r[1] is not None]
        tl = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return SweepResult(summary, tl)
