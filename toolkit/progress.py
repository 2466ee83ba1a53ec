"""Progress bars for long runs (replays, simulations): tqdm on a terminal (a widget in
JupyterLab), silent elsewhere unless asked for."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["add_progress_option", "progress_bar", "progress_enabled"]


def progress_enabled(progress: bool | None) -> bool:
    """``progress`` itself when given; None means "only when stderr is a terminal".

    Raises :class:`~toolkit.errors.InvalidArgumentError` for anything but True, False or None.
    """
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty is not None and isatty())
    if type(progress) is not bool:
        raise InvalidArgumentError(f"progress must be True, False or None, got {progress!r}")
    return progress


def progress_bar(
    total: float | None, progress: bool | None, desc: str, unit: str = "req"
) -> tqdm:
    """A tqdm bar over ``total`` units (None: unknown), disabled unless
    :func:`progress_enabled` says otherwise; call ``update(n)`` and ``close()``."""
    from tqdm.auto import tqdm  # imported when used: a widget in JupyterLab, text elsewhere

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=not progress_enabled(progress),
        leave=False,
        dynamic_ncols=True,
    )


def add_progress_option(parser: argparse.ArgumentParser, what: str = "a progress bar") -> None:
    """Add ``--progress/--no-progress`` to a command (``args.progress``: True, False or None,
    the value :func:`progress_enabled` takes)."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"show {what} on standard error (default: only on a terminal)",
    )
