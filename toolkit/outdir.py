"""An output folder for the command line: checked before the work, written all at once.

A command checks its ``--out`` folder before it runs (:func:`out_folder`), writes its files
into a :class:`Staging` folder inside it, and moves them into place together
(:meth:`Staging.publish`), replacing the files it wrote in an earlier call and removing
those it does not write this time; other files are left alone. So the folder never mixes
two calls' results, even after an interrupted one. :func:`report` prints what was written.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import ToolkitError

__all__ = ["out_folder", "Staging", "report"]


def out_folder(text: str) -> Path:
    """The ``--out`` folder, created now (before any run, so a bad one fails at once)."""
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise ToolkitError(f"--out {text!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryDirectory(dir=out, prefix=".staging-")
    except OSError as exc:
        raise ToolkitError(f"--out {text!r} cannot be written: {exc.strerror or exc}") from None
    probe.cleanup()
    return out


class Staging:
    """A staging folder inside ``out``; :meth:`publish` moves what was written there into
    ``out``, first removing the command's ``owned`` files that this call did not write."""

    def __init__(self, out: Path, owned: Sequence[str]) -> None:
        self.out = out
        self.owned = owned
        self._tmp = tempfile.TemporaryDirectory(dir=out, prefix=".staging-")
        self.path = Path(self._tmp.name)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()

    def publish(self) -> list[Path]:
        written = {p.name for p in self.path.iterdir()}
        for name in self.owned:
            if name not in written:
                stale = self.out / name
                if stale.is_file():
                    stale.unlink()
        moved = []
        for name in self.owned:
            if name in written:
                os.replace(self.path / name, self.out / name)
                moved.append(self.out / name)
        return moved


def report(lines: Sequence[str]) -> None:
    """Print ``lines``; a reader that stops early (``| head``) ends the output quietly."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
