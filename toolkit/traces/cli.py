"""Sub-commands ``replay``, ``mrc`` and ``trace-gen``.

* ``python -m toolkit replay TRACE --policy lru --capacity N [--capacity-bytes B]
  [--through-store] [--sample-count K] [--json]``: one replay; ``--json`` prints the
  :class:`~toolkit.traces.replay.ReplayResult` fields (``requests``, ``misses``,
  ``miss_ratio``, ...).
* ``python -m toolkit mrc TRACE --out DIR``: a miss-ratio curve written as ``mrc.csv`` and
  ``mrc.png`` in DIR.
* ``python -m toolkit trace-gen OUT --requests N --objects M --alpha A``: a synthetic trace.

Bad input prints ``error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import EvictionPolicy
from ..errors import InvalidArgumentError, ToolkitError
from ..progress import add_progress_option
from .readers import FORMATS, normalize_format

__all__ = ["register"]

_EXACT = ("lru", "fifo", "lfu", "belady")
_STORE = tuple(p.value for p in EvictionPolicy)


def _format_arg(text: str) -> str:
    try:
        return normalize_format(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _capacities_arg(text: str) -> list[int]:
    try:
        caps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"capacities must be comma-separated ints, got {text!r}") from None
    if not caps or min(caps) < 1:
        raise argparse.ArgumentTypeError(f"capacities must be ints >= 1, got {text!r}")
    return caps


def _add_trace_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="the trace file")
    p.add_argument(
        "--format",
        type=_format_arg,
        default=None,
        help=f"one of {', '.join(FORMATS)} (default: guessed from the file name)",
    )
    add_progress_option(p)


def _fail(exc: BaseException) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _replay(args: argparse.Namespace) -> int:
    from .replay import replay, replay_store

    policy = args.policy.strip().lower()
    try:
        if args.through_store:
            if policy not in _STORE:
                raise InvalidArgumentError(
                    f"--through-store policy must be one of {', '.join(_STORE)}, got {policy!r}"
                )
            result = replay_store(
                args.trace,
                args.capacity,
                args.capacity_bytes,
                policy=policy,
                sample_count=args.sample_count,
                seed=args.seed,
                ttl_millis=args.ttl_ms,
                max_idle_millis=args.max_idle_ms,
                format=args.format,
                progress=args.progress,
            )
        else:
            if policy not in _EXACT:
                raise InvalidArgumentError(
                    f"exact policy must be one of {', '.join(_EXACT)} (or use --through-store "
                    f"for {', '.join(_STORE)}), got {policy!r}"
                )
            result = replay(
                args.trace,
                policy,
                args.capacity,
                args.capacity_bytes,
                format=args.format,
                recompute_next=args.recompute_next,
                progress=args.progress,
            )
    except (ToolkitError, OSError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    else:
        bound = []
        if result.capacity:
            bound.append(f"{result.capacity} objects")
        if result.capacity_bytes:
            bound.append(f"{result.capacity_bytes} bytes")
        print(
            f"{result.policy} ({result.mode}) at {' and '.join(bound) or 'no bound'}: "
            f"{result.requests} requests, {result.reads} reads, {result.misses} misses, "
            f"miss ratio {result.miss_ratio:.4f}, byte miss ratio {result.byte_miss_ratio:.4f} "
            f"({result.elapsed_s:.2f} s)"
        )
    return 0


def _mrc(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..outdir import Staging, out_folder, report
    from .mrc import miss_ratio_curve, plot_mrc

    try:
        out = out_folder(args.out)
        df = miss_ratio_curve(
            args.trace,
            args.capacities,
            policy=args.policy,
            by=args.by,
            method=args.method,
            points=args.points,
            format=args.format,
            progress=args.progress,
        )
    except (ToolkitError, OSError) as exc:
        return _fail(exc)
    with Staging(out, ("mrc.csv", "mrc.png")) as staging:
        df.to_csv(staging.path / "mrc.csv", index=False)
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_mrc(df, ax)
        ax.set_title(f"{Path(args.trace).name}: {df['policy'].iloc[0]} miss-ratio curve")
        fig.tight_layout()
        fig.savefig(staging.path / "mrc.png", dpi=120)
        plt.close(fig)
        csv_path, png_path = staging.publish()
    report(
        [
            df[["capacity", "misses", "miss_ratio", "byte_miss_ratio"]].round(4).to_string(index=False),
            f"wrote {csv_path} and {png_path}",
        ]
    )
    return 0


def _trace_gen(args: argparse.Namespace) -> int:
    from .writer import write_synthetic_trace

    try:
        requests = write_synthetic_trace(
            args.out,
            args.requests,
            args.objects,
            args.alpha,
            format=args.format,
            seed=args.seed,
            requests_per_second=args.rate,
            size_range=(args.min_size, args.max_size),
            ttl_millis=args.ttl_ms,
            write_fraction=args.write_fraction,
            delete_fraction=args.delete_fraction,
        )
    except (ToolkitError, OSError) as exc:
        return _fail(exc)
    print(
        f"wrote {len(requests)} requests over {args.objects} objects "
        f"(Zipf alpha {args.alpha}, seed {args.seed}) to {args.out} as {args.format}"
    )
    return 0


def register(sub: Any) -> None:
    """Add this module's sub-commands to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser(
        "replay",
        help="replay a trace through an exact policy or the record store",
        description="Replay a trace; print the miss ratio (or every counter with --json).",
    )
    _add_trace_args(p)
    p.add_argument(
        "--policy",
        default="lru",
        help=f"exact: {', '.join(_EXACT)}; with --through-store: {', '.join(_STORE)}",
    )
    p.add_argument("--capacity", type=int, default=0, help="capacity in objects")
    p.add_argument("--capacity-bytes", type=int, default=0, help="capacity in bytes")
    p.add_argument(
        "--through-store",
        action="store_true",
        help="replay through DefaultRecordStore (TTL, sampled eviction) instead",
    )
    p.add_argument("--sample-count", type=int, default=None, help="eviction sample (store)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (store)")
    p.add_argument("--ttl-ms", type=int, default=None, help="default TTL in ms (store)")
    p.add_argument("--max-idle-ms", type=int, default=None, help="default max-idle (store)")
    p.add_argument(
        "--recompute-next",
        action="store_true",
        help="compute next accesses from the keys instead of the trace's field (belady)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_replay)

    p = sub.add_parser(
        "mrc",
        help="miss-ratio curve of a trace (CSV and PNG)",
        description="Compute a miss-ratio curve; write mrc.csv and mrc.png to --out.",
    )
    _add_trace_args(p)
    p.add_argument("--policy", default="lru", help=f"one of {', '.join(_EXACT)}")
    p.add_argument("--by", choices=("objects", "bytes"), default="objects")
    p.add_argument("--capacities", type=_capacities_arg, default=None, help="e.g. 10,100,1000")
    p.add_argument("--points", type=int, default=20, help="capacities when none are given")
    p.add_argument("--method", choices=("auto", "stack", "replay"), default="auto")
    p.add_argument("--out", required=True, help="folder for mrc.csv and mrc.png")
    p.set_defaults(func=_mrc)

    p = sub.add_parser(
        "trace-gen",
        help="write a synthetic Zipf trace",
        description="Write a synthetic trace (deterministic for a seed).",
    )
    p.add_argument("out", help="the file to write")
    p.add_argument("--format", type=_format_arg, default="oracleGeneral")
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--alpha", type=float, default=1.0, help="Zipf exponent (0: uniform)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    p.add_argument("--min-size", type=int, default=1, help="smallest object size (bytes)")
    p.add_argument("--max-size", type=int, default=1, help="largest object size (bytes)")
    p.add_argument("--ttl-ms", type=int, default=0, help="per-request TTL in ms (0: none)")
    p.add_argument("--write-fraction", type=float, default=0.0)
    p.add_argument("--delete-fraction", type=float, default=0.0)
    p.set_defaults(func=_trace_gen)
