"""The project's packaging stays coherent: environment.yml and pyproject.toml name the same
dependencies, and every public name of the design is importable from ``toolkit``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

import toolkit

ROOT = Path(__file__).resolve().parents[1]

# conda-forge splits dask[distributed] into two packages.
CONDA_NAMES = {"dask[distributed]": {"dask", "distributed"}}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;]", requirement, maxsplit=1)[0].strip().lower()


def _pyproject_requirements() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in ("test", "notebooks", "dask"):
        reqs += data["project"]["optional-dependencies"][extra]
    names: set[str] = set()
    for r in reqs:
        names |= CONDA_NAMES.get(_name(r), {_name(r)})
    return names


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(p) for p in dep["pip"] if not p.startswith("-e")}
        elif _name(dep) not in ("python", "pip"):
            names.add(_name(dep))
    return names


def test_environment_yml_and_pyproject_name_the_same_dependencies() -> None:
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_installs_the_package_itself() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_deps = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_deps
    assert "conda-forge" in env["channels"]


def test_python_floor_matches() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert data["project"]["requires-python"] == ">=3.11"
    assert "python>=3.11" in env["dependencies"]


DESIGN_NAMES = """
Clock SystemClock ManualClock SimClock RecordMetadata Record ExpiryPolicy ExpiryReason
CallerProvenance StorageEngine HashMapStorage IterationCursor FetchResult RecordStore
DefaultRecordStore MapDataStore NullDataStore MutationObserver CompositeMutationObserver
StorageConfig EvictionPolicy RecordStoreFactory
""".split()


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_design_names_are_importable_from_toolkit(name: str) -> None:
    assert hasattr(toolkit, name), name
    assert name in toolkit.__all__


def test_all_lists_only_existing_names() -> None:
    missing = [n for n in toolkit.__all__ if not hasattr(toolkit, n)]
    assert missing == []


def test_enum_members_are_spelled_as_the_design_says() -> None:
    assert {m.name for m in toolkit.ExpiryReason} == {"NOT_EXPIRED", "TTL", "MAX_IDLE"}
    assert {m.name for m in toolkit.CallerProvenance} == {
        "CLIENT", "BACKUP", "REPLICATION", "LOAD", "CRDT_MERGE"
    }
    assert {"LRU", "LFU", "RANDOM", "FIFO", "NONE"} <= {m.name for m in toolkit.EvictionPolicy}


def test_package_is_typed() -> None:
    assert (ROOT / "toolkit" / "py.typed").exists()
