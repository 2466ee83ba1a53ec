"""Sub-commands ``replay`` and ``mrc``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this module's sub-commands to ``sub`` (an argparse sub-parsers object)."""
    del sub


__all__ = ["register", "argparse"]
