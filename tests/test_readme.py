"""The README's Python examples run as written (docs that cannot drift)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


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
