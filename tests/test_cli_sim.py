"""Tests for the run and sweep sub-commands (toolkit.sim.cli)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.cli import main
from toolkit.sim import TIMELINE_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "data" / "scenarios"

SMALL = """\
name = "small"

[workload]
seed = 3
duration_ms = 3_000
read_fraction = 0.9
write_on_miss = true

[workload.keys]
kind = "zipf"
key_count = 2_000

[workload.ttl_ms]
kind = "constant"
value = 1_000

[store]
max_entry_count = 300
"""


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_run_writes_timeline_summary_and_figures(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out)]) == 0
    timeline = pd.read_csv(out / "timeline.csv")
    assert list(timeline.columns) == list(TIMELINE_COLUMNS)
    assert timeline["time_ms"].tolist() == [1000, 2000, 3000]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "small" and summary["requests"] == timeline["requests"].sum()
    for name in ("timeline", "memory", "hit_ratio", "expirations", "pending_writes", "latency"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert "hit ratio" in captured.out
    assert captured.err == ""  # no progress bar unless standard error is a terminal
    assert main(["run", str(small), "--out", str(out), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "small:" in err and "/3.00 [" in err  # the bar, in simulated seconds
    assert pd.read_csv(out / "timeline.csv").equals(timeline)


def test_run_with_overrides_and_operations(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(small), "--out", str(out), "--set", "workload.duration_ms=1000",
            "--operations"]
    assert main(args) == 0
    assert len(pd.read_csv(out / "timeline.csv")) == 1
    ops = pd.read_csv(out / "operations.csv")
    assert set(ops["op"]) <= {"get", "put"} and len(ops) > 0


def test_run_reports_scenario_errors_with_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("max_entry_count = 300", "max_entry_count = -300"))
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:18: store.max_entry_count:" in err
    assert not (tmp_path / "o").exists()
    assert main(["run", str(SCENARIOS / "flagship.toml"), "--out", str(tmp_path / "o"),
                 "--set", "workload.seed=1,2"]) == 2
    assert "one value per --set" in capsys.readouterr().err


def test_sweep_writes_one_tidy_csv(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(small), "--set", "store.max_entry_count=100,300",
            "--set", "store.eviction_policy=lru,random", "--set", "workload.seed=1,2",
            "--out", str(out), "--timelines"]
    assert main(args) == 0
    assert capsys.readouterr().err == ""  # no bar: standard error is not a terminal
    frame = pd.read_csv(out / "sweep.csv")
    assert len(frame) == 8
    assert list(frame.columns[:3]) == [
        "store.max_entry_count", "store.eviction_policy", "workload.seed"]
    assert frame["hit_ratio"].between(0, 1).all()
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(out / "timelines.csv")) == 8 * 3


def test_sweep_figure_draws_a_panel_per_value_of_a_third_key(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A third swept key is not pooled with the seeds: each of its values gets a panel.
    import matplotlib.pyplot as plt

    from toolkit.sim import cli

    shown: list[tuple[int, list[str]]] = []
    save = cli._save

    def spy(fig: Any, path: Path) -> None:
        axes = [ax for ax in fig.axes if ax.get_visible()]
        shown.append((len(axes), [ax.get_title() for ax in axes]))
        save(fig, path)

    cli._save = spy  # type: ignore[assignment]
    try:
        args = ["sweep", str(small), "--set", "workload.write_on_miss=true,false",
                "--set", "store.max_entry_count=100,300", "--set", "workload.keys.key_count=300,2000",
                "--set", "store.eviction_policy=lru,random", "--out", str(tmp_path / "three")]
        assert main(args) == 0
        # x is the capacity (a bool is not a number line), lines by write_on_miss, a panel
        # per (key_count, eviction_policy)
        assert shown[-1] == (4, ["key_count = 300, eviction_policy = lru",
                                 "key_count = 300, eviction_policy = random",
                                 "key_count = 2000, eviction_policy = lru",
                                 "key_count = 2000, eviction_policy = random"])
        assert (tmp_path / "three" / "sweep.png").exists()
        args = ["sweep", str(small), "--set", "workload.seed=1,2", "--out", str(tmp_path / "seeds")]
        assert main(args) == 0
        assert "no sweep.png: only workload.seed (the replications) has two" in capsys.readouterr().out
        assert not (tmp_path / "seeds" / "sweep.png").exists()
    finally:
        cli._save = save  # type: ignore[assignment]
        plt.close("all")


def test_sweep_shows_progress_and_uses_processes(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(small), "--set", "workload.seed=1,2", "--jobs", "2",
            "--out", str(out), "--progress"]
    assert main(args) == 0
    assert "2/2" in capsys.readouterr().err  # the tqdm bar
    assert len(pd.read_csv(out / "sweep.csv")) == 2


def test_sweep_errors(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", str(small), "--set", "store.max_entry_cont=1,2", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "store.max_entry_cont" in capsys.readouterr().err
    args = ["sweep", str(small), "--set", "workload.seed=1,2", "--set", "workload.seed=3",
            "--out", str(tmp_path)]
    assert main(args) == 2
    assert "workload.seed: is given twice" in capsys.readouterr().err
    args = ["sweep", str(small), "--set", "workload.seed=1", "--executor", "tcp:/bad",
            "--out", str(tmp_path / "x")]
    assert main(args) == 2
    assert "cannot use the Dask scheduler at 'tcp:/bad'" in capsys.readouterr().err


def test_python_dash_m_runs_the_flagship_quickly(tmp_path: Path) -> None:
    out = tmp_path / "flagship"
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "run", str(SCENARIOS / "flagship.toml"),
         "--out", str(out), "--set", "workload.duration_ms=5000"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "timeline.csv").exists() and (out / "timeline.png").exists()


def test_makefile_demo_runs_the_flagship() -> None:
    text = (ROOT / "Makefile").read_text()
    assert "$(PY) -m toolkit run data/scenarios/flagship.toml --out results/flagship" in text


def test_run_replaces_its_earlier_files_and_leaves_others_alone(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--operations"]) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["run", str(small), "--out", str(out), "--set", "workload.seed=5"]) == 0
    assert not (out / "operations.csv").exists()  # the first run's: not this one's
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "summary.json").read_text())["seed"] == 5
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {"timeline.csv", "summary.json", "notes.txt"} | {f"{n}.png" for n in _PANELS}
    )  # no staging folder left behind
    printed = capsys.readouterr().out
    assert f"wrote {out / 'timeline.csv'} (" in printed and "operations.csv" not in printed


_PANELS = ("timeline", "memory", "hit_ratio", "expirations", "pending_writes", "latency")


def test_an_interrupted_run_leaves_the_earlier_results_whole(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit import plots

    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_latency", interrupted)  # the last figure
    assert main(["run", str(small), "--out", str(out), "--set", "workload.seed=9"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_out_folder_that_cannot_be_written_fails_before_the_run(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.sim import runner

    def no_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ran although the results could not be written")

    monkeypatch.setattr(runner, "run", no_run)
    monkeypatch.setattr(sys.modules["toolkit.sim.sweep"], "run", no_run)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["run", str(small), "--out", str(a_file)]) == 2
    assert f"--out '{a_file}' is a file, not a folder" in capsys.readouterr().err
    args = ["sweep", str(small), "--set", "workload.seed=1,2", "--out", str(a_file / "sub")]
    assert main(args) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_sweep_draws_the_metric_asked_for(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writes_only = tmp_path / "writes.toml"
    writes_only.write_text(SMALL.replace("read_fraction = 0.9", "read_fraction = 0.0"))
    base = ["sweep", str(writes_only), "--set", "store.max_entry_count=100,300"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "no sweep.png: hit_ratio has no values in these runs" in printed
    assert not (tmp_path / "a" / "sweep.png").exists()
    assert main([*base, "--metric", "mean_size", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*base, "--metric", "mean_sise", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "--metric 'mean_sise' is not a summary column; did you mean 'mean_size'?" in err
    assert not (tmp_path / "c").exists()


def test_a_reader_that_stops_early_does_not_break_the_run(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", str(small), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head -1` does once it has its line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert "BrokenPipeError" not in err
    assert {f"{n}.png" for n in _PANELS} <= {p.name for p in out.iterdir()}


def test_sweep_keep_going_writes_every_row_and_exits_1(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sweep", str(small), "--set", "data_store.kind=write_behind",
            "--set", "data_store.write_coalescing=false", "--set", "data_store.inner=null",
            "--set", "data_store.write_delay_ms=60000", "--set", "data_store.queue_capacity=5,1000000",
            "--out", str(tmp_path / "o")]
    assert main(args) == 2  # without --keep-going: the first failure ends the sweep
    assert "queue is full (5 of 5" in capsys.readouterr().err
    assert not (tmp_path / "o" / "sweep.csv").exists()
    assert main([*args, "--keep-going"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 runs failed" in err and "QueueFullError" in err
    frame = pd.read_csv(tmp_path / "o" / "sweep.csv")
    assert frame["error"].notna().tolist() == [True, False]
    assert frame["hit_ratio"].notna().tolist() == [False, True]
    every = [a.replace("queue_capacity=5,1000000", "queue_capacity=5,6") for a in args]
    assert main([*every, "--keep-going", "--metric", "backing_writes"]) == 1
    assert "no sweep.png: all 2 runs failed" in capsys.readouterr().out


def test_sweep_of_list_values_writes_its_table_and_figure(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "lists"
    args = ["sweep", str(small), "--set", "workload.ttl_ms.kind=choice",
            "--set", "workload.ttl_ms.values=[0,500],[0,2000]", "--timelines", "--out", str(out)]
    assert main(args) == 0
    frame = pd.read_csv(out / "sweep.csv")
    assert frame["workload.ttl_ms.values"].tolist() == ["[0, 500]", "[0, 2000]"]
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(out / "timelines.csv")["workload.ttl_ms.values"].nunique() == 2
