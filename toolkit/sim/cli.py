"""Sub-commands ``demo``, ``run`` and ``sweep``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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


def register(sub: Any) -> None:
    """Add this module's sub-commands to ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser("demo", help="the flagship run (a short store demo for now)")
    p.add_argument("--out", default=None, help="folder for the figures and tables")
    p.set_defaults(func=_demo)
