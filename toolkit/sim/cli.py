"""Sub-commands ``demo``, ``run`` and ``sweep``.

``run SCENARIO.toml --out DIR`` writes ``timeline.csv``, ``summary.json`` and PNG figures;
``sweep SCENARIO.toml --set KEY=V1,V2 ... --out DIR`` writes ``sweep.csv`` (one row per run)
and a comparison figure. Errors in the scenario or the options are printed with the key and
line they concern, and the exit status is 2.

``--out`` is handled by :mod:`toolkit.outdir`: checked before the run, written all at once.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..outdir import Staging, out_folder, report
from ..progress import add_progress_option

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    """A store with a ManualClock: write, read, advance time, print the metadata table."""
    import pandas as pd

    from .. import EventCounter, ExpiryPolicy, ManualClock, RecordStoreFactory, StorageConfig

    clock = ManualClock()
    counter = EventCounter(keep_log=True)
    store = RecordStoreFactory(
        StorageConfig(default_ttl_millis=10_000, default_max_idle_millis=4_000, max_entry_count=3),
        observers=[counter],
        clock=clock,
    ).create("demo", 0)
    store.put("alpha", "first")
    store.put("beta", {"n": 1}, ExpiryPolicy(ttl_millis=2_500))
    clock.advance(1_000)
    store.put("alpha", "second")
    store.get("alpha", touch=True)
    clock.advance(2_000)
    store.get("beta")
    store.put("gamma", 3)
    store.put("delta", 4)
    clock.advance(3_500)
    store.get("gamma", touch=True)
    store.evict_expired(100, clock.now_millis())
    pd.set_option("display.width", 160)
    table = pd.DataFrame(store.metadata_rows())
    print(f"t = {clock.now_millis()} ms")
    print(table.to_string(index=False))
    print("events:", dict(counter.counts))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "metadata.csv", index=False)
        print(f"wrote {out / 'metadata.csv'}")
    return 0


def _jsonable(value: Any) -> Any:
    """Plain JSON values: NaN becomes null, numpy scalars become Python numbers."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _overrides(assignments: list[str], single: bool) -> dict[str, Any]:
    from .errors import ScenarioError
    from .sweep import parse_assignment

    out: dict[str, Any] = {}
    for text in assignments:
        key, values = parse_assignment(text)
        if single and len(values) != 1:
            raise ScenarioError(key, f"run takes one value per --set, got {values!r}")
        if key in out:  # the later one would silently win
            raise ScenarioError(key, "is given twice with --set; give its values once")
        out[key] = values[0] if single else values
    return out


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


#: The files ``run`` writes (``operations.csv`` only with ``--operations``).
RUN_FILES: tuple[str, ...] = (
    "timeline.csv",
    "operations.csv",
    "summary.json",
    "timeline.png",
    "memory.png",
    "hit_ratio.png",
    "expirations.png",
    "pending_writes.png",
    "latency.png",
)
#: The files ``sweep`` writes (``timelines.csv`` only with ``--timelines``, ``sweep.png`` when
#: there is a figure to draw).
SWEEP_FILES: tuple[str, ...] = ("sweep.csv", "timelines.csv", "sweep.png")


def _run(args: argparse.Namespace) -> int:
    """Run one scenario; write its timeline, summary and figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plots
    from ..errors import ToolkitError
    from .runner import run
    from .scenario import load_scenario

    try:
        scenario = load_scenario(args.scenario)
        if args.set:
            scenario = scenario.with_overrides(_overrides(args.set, single=True))
        out = out_folder(args.out)  # before the run: a folder that cannot be written fails now
        result = run(scenario, record_operations=args.operations, progress=args.progress)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    timeline = result.timeline
    sizes = {"timeline.csv": f" ({len(timeline)} rows)"}
    with Staging(out, RUN_FILES) as staging:
        at = staging.path
        timeline.to_csv(at / "timeline.csv", index=False)
        if result.operations is not None:
            result.operations.to_csv(at / "operations.csv", index=False)
            sizes["operations.csv"] = f" ({len(result.operations)} rows)"
        summary = {k: _jsonable(v) for k, v in result.summary.items()}
        (at / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        _save(plots.plot_timeline(timeline, title=scenario.name), at / "timeline.png")
        for name, panel in (
            ("memory", plots.plot_size_and_cost),
            ("hit_ratio", plots.plot_hit_ratio),
            ("expirations", plots.plot_expirations),
            ("pending_writes", plots.plot_pending_writes),
            ("latency", plots.plot_latency),
        ):
            fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
            panel(timeline, ax)
            _save(fig, at / f"{name}.png")
        written = staging.publish()
    s = result.summary
    report(
        [f"wrote {path}{sizes.get(path.name, '')}" for path in written]
        + [
            f"{scenario.name}: {s['requests']} requests in {s['duration_ms'] / 1000:g} s "
            f"simulated ({result.wall_seconds:.1f} s wall); hit ratio {s['hit_ratio']:.3f}; "
            f"evictions {s['evictions']}; expired ttl {s['expired_ttl']} / max-idle "
            f"{s['expired_max_idle']}; backing writes {s['backing_writes']}; "
            f"p99 latency {s['latency_p99_ms']:.3f} ms"
        ]
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """Run a scenario over a grid of --set values; write one tidy CSV and a figure."""
    import matplotlib

    matplotlib.use("Agg")

    from ..errors import ToolkitError
    from .runner import SUMMARY_METRICS
    from .scenario import load_scenario
    from .sweep import sweep

    try:
        scenario = load_scenario(args.scenario)
        grid = _overrides(args.set or [], single=False)
        if args.metric not in SUMMARY_METRICS:
            import difflib

            close = difflib.get_close_matches(args.metric, SUMMARY_METRICS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ToolkitError(
                f"--metric {args.metric!r} is not a summary column; {hint}expected one of: "
                + ", ".join(SUMMARY_METRICS)
            )
        out = out_folder(args.out)
        result = sweep(
            scenario,
            grid,
            jobs=args.jobs,
            executor=args.executor,
            progress=args.progress,
            timelines=args.timelines,
            keep_going=args.keep_going,
        )
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame = result.summary
    sizes = {"sweep.csv": f" ({len(frame)} rows)"}
    with Staging(out, SWEEP_FILES) as staging:
        frame.to_csv(staging.path / "sweep.csv", index=False)
        if result.timelines is not None:
            result.timelines.to_csv(staging.path / "timelines.csv", index=False)
            sizes["timelines.csv"] = f" ({len(result.timelines)} rows)"
        why_no_figure = _sweep_figure(grid, frame, args.metric, staging.path / "sweep.png")
        written = staging.publish()
    report(
        [f"wrote {path}{sizes.get(path.name, '')}" for path in written]
        + ([f"no sweep.png: {why_no_figure}; see sweep.csv"] if why_no_figure else [])
    )
    if "error" in frame and frame["error"].notna().any():
        failed = frame["error"].dropna()
        print(
            f"error: {len(failed)} of {len(frame)} runs failed (the error column of sweep.csv); "
            f"the first: {failed.iloc[0]}",
            file=sys.stderr,
        )
        return 1
    return 0


def _sweep_figure(grid: dict[str, list[Any]], frame: Any, metric: str, path: Path) -> str:
    """Draw ``metric`` over the swept keys into ``path``; return why not ("" when drawn)."""
    import matplotlib.pyplot as plt

    from .. import plots
    from .sweep import grid_points, value_label

    grid = {k: [value_label(v) for v in values] for k, values in grid.items()}  # as in frame
    varying = [k for k, v in grid.items() if len(v) > 1 and k != "workload.seed"]
    if not varying:
        if len(grid.get("workload.seed", ())) > 1:
            return "only workload.seed (the replications) has two or more values"
        return "no swept key has two or more values"
    if "error" in frame and frame["error"].notna().all():
        return f"all {len(frame)} runs failed"
    if metric not in frame or frame[metric].isna().all():
        why = " (the hit ratio needs reads)" if metric == "hit_ratio" else ""
        return (f"{metric} has no values in these runs{why}; pick another summary column with "
                "--metric")
    x, by, panels = _sweep_layout(grid, varying)
    combos = grid_points({k: grid[k] for k in panels})  # [{}] without panel keys
    if len(combos) > _MAX_PANELS:
        return (f"{len(combos)} panels (one per value of {', '.join(panels)}) is more than "
                f"{_MAX_PANELS}")
    cols = min(3, len(combos))
    rows = -(-len(combos) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(7 if cols == 1 else 4.5 * cols, 4 if rows == 1 else 3.5 * rows),
        layout="constrained", squeeze=False, sharey=True,
    )
    for ax, combo in zip(axes.flat, combos, strict=False):
        part = frame
        for key, value in combo.items():
            part = part[part[key] == value]
        plots.plot_comparison(part, x, metric, by=by, ax=ax, ylabel=metric.replace("_", " "))
        if combo:
            ax.set_title(", ".join(f"{k.split('.')[-1]} = {v}" for k, v in combo.items()), fontsize=9)
    for ax in list(axes.flat)[len(combos):]:
        ax.set_visible(False)
    _save(fig, path)
    return ""


#: The most panels sweep.png draws (one per combination of the keys beyond the first two).
_MAX_PANELS = 12


def _sweep_layout(grid: dict[str, list[Any]], varying: list[str]) -> tuple[str, str | None, list[str]]:
    """(the x axis: the first key whose values are all numbers, not bools, else the first
    key; the key drawn as one line per value; the keys drawn as one panel per value)."""
    numeric = [
        k for k in varying
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in grid[k])
    ]
    x = numeric[0] if numeric else varying[0]
    rest = [k for k in varying if k != x]
    return x, (rest[0] if rest else None), rest[1:]


def register(sub: Any) -> None:
    """Add this module's sub-commands to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser("demo", help="a short record-store demo on a manual clock")
    p.add_argument("--out", default=None, help="folder for the metadata table")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "run",
        help="run one scenario: timeline.csv, summary.json and figures",
        description="Run a scenario file; write timeline.csv, summary.json and PNG figures.",
    )
    p.add_argument("scenario", help="scenario file (TOML), e.g. data/scenarios/flagship.toml")
    p.add_argument("--out", required=True, help="folder for the results")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set store.max_entry_count=2000 (repeatable)",
    )
    p.add_argument(
        "--operations", action="store_true", help="also write operations.csv (one row per op)"
    )
    add_progress_option(p, "a progress bar of simulated seconds")
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of --set values: one tidy sweep.csv",
        description="Run a scenario at every combination of the --set values.",
    )
    p.add_argument("scenario", help="scenario file (TOML)")
    p.add_argument("--out", required=True, help="folder for sweep.csv and sweep.png")
    p.add_argument(
        "--set", action="append", metavar="KEY=V1,V2,...", required=True,
        help="a grid axis, e.g. --set store.max_entry_count=1000,2000,4000 (repeatable)",
    )
    p.add_argument("--jobs", type=int, default=1, help="parallel runs (default 1)")
    p.add_argument(
        "--executor", default=None, metavar="{serial,process,dask,ADDRESS}",
        help="where runs go: serial, process (a process pool; the default with --jobs > 1), "
        "dask (a local Dask cluster) or a Dask scheduler address (tcp://host:8786)",
    )
    p.add_argument("--timelines", action="store_true", help="also write every timeline")
    p.add_argument(
        "--keep-going", action="store_true",
        help="run every point even when some fail: their rows hold the error (exit status 1)",
    )
    p.add_argument(
        "--metric", default="hit_ratio", metavar="COLUMN",
        help="the summary column sweep.png draws (default hit_ratio), e.g. mean_expired_present",
    )
    add_progress_option(p, "a progress bar of runs")
    p.set_defaults(func=_sweep)
