"""The examples of the README's trace replay section run as written."""

from __future__ import annotations

import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from toolkit.cli import main

from .readme import README as DOC
from .readme import code_blocks, section


def _blocks(language: str) -> list[str]:
    return code_blocks(section("Trace replay"), language)


def test_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        plt.close("all")
    assert (tmp_path / "zipf.oracleGeneral").exists()
    assert (tmp_path / "mrc.png").exists()


def test_cli_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = [
        line
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.startswith("python -m toolkit ")
    ]
    assert len(lines) >= 6
    for line in lines:
        argv = shlex.split(line, comments=True)[3:]
        assert main(argv) == 0, line
    assert (tmp_path / "mrc-out" / "mrc.csv").exists()
    assert '"miss_ratio"' in capsys.readouterr().out
