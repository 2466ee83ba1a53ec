"""Command line: ``python -m toolkit {demo,run,sweep,replay,mrc} ...``.

Each area registers its own sub-commands: :mod:`toolkit.sim.cli` (run, sweep, demo) and
:mod:`toolkit.traces.cli` (replay, mrc).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    from .sim import cli as sim_cli
    from .traces import cli as traces_cli

    parser = argparse.ArgumentParser(
        prog="python -m toolkit",
        description="Storage-layers toolkit: simulate, sweep and replay workloads.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sim_cli.register(sub)
    traces_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
