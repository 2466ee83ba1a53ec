"""Read the README by section, for the tests that run its examples."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def section(title_prefix: str) -> str:
    """The README section whose ``## `` heading starts with ``title_prefix`` (up to the next
    ``## `` heading)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title_prefix)}.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        raise AssertionError(f"README.md has no section starting '## {title_prefix}'")
    return match.group(0)


def code_blocks(text: str, language: str = "python") -> list[str]:
    """The fenced code blocks of ``language`` in ``text``."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
