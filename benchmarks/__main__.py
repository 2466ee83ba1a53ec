"""Run every benchmark script in turn: ``python -m benchmarks [--quick]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    status = 0
    for name in names:
        print(f"\n## {name}\n", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status |= int(module.main(argv) or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
