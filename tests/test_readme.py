"""The README's Python examples run as written (docs that cannot drift)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from .readme import README, ROOT, code_blocks, section

# The sections whose examples have tests of their own (which also check what they produce).
TESTED_ELSEWHERE = ("Persistence", "Simulation", "Trace replay", "The task store")


def _blocks() -> list[str]:
    text = README.read_text()
    for title in TESTED_ELSEWHERE:
        text = text.replace(section(title), "")
    return code_blocks(text)


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    head = text[: text.index("\n## ", text.index("make test"))]
    assert "make demo" in head and "make test" in head
    assert head.index("make demo") < head.index("make test")


def test_readme_test_command_is_what_ci_runs() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    code = _blocks()[index]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(cwd)
        plt.close("all")
