"""The ``replay``, ``mrc`` and ``trace-gen`` sub-commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.cli import main
from toolkit.traces import read_requests, replay, replay_store, synthetic_requests


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "t.oracleGeneral"
    assert (
        main(
            [
                "trace-gen",
                str(path),
                "--requests",
                "5000",
                "--objects",
                "400",
                "--alpha",
                "0.9",
                "--seed",
                "3",
                "--max-size",
                "50",
                "--rate",
                "1",
            ]
        )
        == 0
    )
    return path


def test_trace_gen_is_the_library_writer(trace_file: Path) -> None:
    expected = synthetic_requests(5000, 400, 0.9, seed=3, size_range=(1, 50), requests_per_second=1.0)
    back = read_requests(trace_file)
    assert np.array_equal(back["key"], expected["key"])
    assert np.array_equal(back["size"], expected["size"])


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "belady"])
def test_replay_json_matches_the_library(
    trace_file: Path, policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(trace_file), "--policy", policy, "--capacity", "40", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = replay(trace_file, policy, 40).as_dict()
    for key in ("requests", "misses", "miss_ratio", "byte_miss_ratio", "hits", "evictions"):
        assert got[key] == want[key], key
    assert got["requests"] == 5000


def test_replay_through_store_json(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "replay",
        str(trace_file),
        "--format",
        "oracleGeneral",
        "--capacity",
        "40",
        "--through-store",
        "--sample-count",
        "41",
        "--json",
    ]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["mode"] == "store" and got["sample_count"] == 41
    assert got["misses"] == replay(trace_file, "lru", 40).misses  # full sample = exact LRU
    assert got["misses"] == replay_store(trace_file, 40, sample_count=41).misses


def test_replay_by_bytes_prints_a_summary(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(trace_file), "--capacity-bytes", "2000"]) == 0
    out = capsys.readouterr().out
    assert "lru (exact) at 2000 bytes" in out and "miss ratio" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--capacity", "0"], "capacity"),
        (["--policy", "arc", "--capacity", "5"], "exact policy must be one of"),
        (["--policy", "belady", "--through-store", "--capacity", "5"], "--through-store policy"),
    ],
)
def test_replay_errors_exit_2(
    trace_file: Path, argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(trace_file), *argv]) == 2
    assert match in capsys.readouterr().err


def test_replay_names_a_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("key,op\na,get\nb,frob\n")
    assert main(["replay", str(bad), "--capacity", "5"]) == 2
    assert "line 3: unknown op 'frob'" in capsys.readouterr().err


def test_mrc_writes_csv_and_png(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mrc"
    assert main(["mrc", str(trace_file), "--capacities", "5,50,200", "--out", str(out)]) == 0
    df = pd.read_csv(out / "mrc.csv")
    assert df["capacity"].tolist() == [5, 50, 200]
    assert df["misses"].tolist() == [replay(trace_file, "lru", c).misses for c in (5, 50, 200)]
    png = (out / "mrc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert "wrote" in capsys.readouterr().out


def test_mrc_out_is_checked_first_and_written_whole(
    trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["mrc", str(trace_file), "--capacities", "5,50", "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    out = tmp_path / "mrc"
    assert main(["mrc", str(trace_file), "--capacities", "5,50", "--out", str(out)]) == 0
    assert main(["mrc", str(trace_file), "--capacities", "5,50,200", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["mrc.csv", "mrc.png"]  # no staging left
    assert len(pd.read_csv(out / "mrc.csv")) == 3


def test_mrc_other_policy_by_bytes(trace_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "fifo"
    argv = [
        "mrc",
        str(trace_file),
        "--policy",
        "fifo",
        "--by",
        "bytes",
        "--points",
        "5",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    df = pd.read_csv(out / "mrc.csv")
    assert (df["policy"] == "fifo").all() and (df["by"] == "bytes").all()


def test_module_entry_point(trace_file: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "replay", str(trace_file), "--capacity", "40", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["misses"] == replay(trace_file, "lru", 40).misses
