"""The Python examples of the README's simulation section run as written, and it documents
every scenario key."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from .readme import README as DOC
from .readme import ROOT, code_blocks, section


def _blocks() -> list[str]:
    return code_blocks(section("Simulation"))


def test_the_doc_has_an_example() -> None:
    assert _blocks(), "the README's simulation section lost its python example"


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_doc_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks()[index], f"{DOC}:block{index}", "exec"), {"__name__": "__doc__"})
    plt.close("all")
    assert (tmp_path / "flagship-20s.png").exists()


def test_doc_lists_every_scenario_key() -> None:
    from dataclasses import fields

    from toolkit import StorageConfig
    from toolkit.sim import (
        Arrival,
        Background,
        DataStoreSpec,
        Distribution,
        KeyPopularity,
        LatencyModel,
        Sampling,
        Workload,
    )

    text = section("Simulation")
    for cls in (Arrival, KeyPopularity, Workload, Distribution, StorageConfig, DataStoreSpec,
                LatencyModel, Background, Sampling):
        for f in fields(cls):
            documented = re.search(rf"[`.]{f.name}[`\]]", text)
            assert documented, f"{cls.__name__}.{f.name} is not in the README's simulation section"
