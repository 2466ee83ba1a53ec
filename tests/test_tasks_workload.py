"""The SimPy compare-and-swap contention workload (toolkit.tasks.workload)."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import pytest

from toolkit import DefaultRecordStore, SimClock
from toolkit.clocks import Clock
from toolkit.errors import InvalidArgumentError
from toolkit.tasks import (
    CasAttempt,
    RecordStoreBackend,
    SQLiteBackend,
    StorageBackend,
    simulate_cas_contention,
)

ARGS = {"n_tasks": 4, "think_time_ms": 50, "op_latency_ms": 5, "duration_ms": 3000}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = simulate_cas_contention(8, seed=11, **ARGS)
    b = simulate_cas_contention(8, seed=11, **ARGS)
    c = simulate_cas_contention(8, seed=12, **ARGS)
    assert a.attempts == b.attempts and a.final_counts == b.final_counts
    assert [astuple(x) for x in a.attempts] != [astuple(x) for x in c.attempts]


def test_conflict_rate_grows_with_the_number_of_clients() -> None:
    runs = [simulate_cas_contention(n, seed=3, **ARGS) for n in (1, 2, 8, 32)]
    rates = [run.conflict_rate for run in runs]
    assert rates[0] == 0.0 and runs[0].conflicts == 0
    assert all(low < high for low, high in zip(rates, rates[1:], strict=False)), rates
    assert runs[-1].conflict_rate > 0.3


def test_no_acknowledged_write_is_lost() -> None:
    run = simulate_cas_contention(16, seed=5, **ARGS)
    assert run.conflicts > 0
    assert sum(run.final_counts) == run.committed
    assert run.retries == run.conflicts  # every conflict was retried (max_retries not reached)
    assert len(run.attempts) == run.committed + run.conflicts


def test_rows_become_a_dataframe() -> None:
    run = simulate_cas_contention(4, seed=1, **ARGS)
    frame = pd.DataFrame(run.attempts)
    assert list(frame.columns) == [
        "time_ms",
        "client",
        "task",
        "attempt",
        "outcome",
        "read_version",
        "actual_version",
    ]
    assert len(frame) == len(run.attempts) == len(pd.DataFrame(run.rows()))
    assert set(frame["outcome"]) <= {"committed", "conflict", "gave_up"}
    assert frame["time_ms"].is_monotonic_increasing
    first_tries = frame[frame["attempt"] == 0]
    assert first_tries["time_ms"].max() <= ARGS["duration_ms"] + ARGS["op_latency_ms"]
    assert set(frame["task"]) <= set(range(ARGS["n_tasks"]))
    conflicts = frame[frame["outcome"] != "committed"]
    assert (conflicts["actual_version"] > conflicts["read_version"]).all()
    committed = frame[frame["outcome"] == "committed"]
    assert (committed["actual_version"] == committed["read_version"]).all()
    summary = run.summary()
    assert summary["attempts"] == len(frame)
    assert summary["conflict_rate"] == pytest.approx(run.conflicts / len(frame))


def test_giving_up_after_max_retries() -> None:
    run = simulate_cas_contention(32, seed=2, max_retries=0, **ARGS)
    outcomes = {a.outcome for a in run.attempts}
    assert outcomes == {"committed", "gave_up"}
    assert run.retries == 0
    assert sum(run.final_counts) == run.committed


@pytest.mark.parametrize("kind", ["sqlite", "record-store"])
def test_other_backends_give_the_same_run(kind: str) -> None:
    closers: list[SQLiteBackend] = []

    def build(clock: Clock) -> StorageBackend:
        assert isinstance(clock, SimClock)
        if kind == "sqlite":
            backend = SQLiteBackend(":memory:", clock=clock)
            closers.append(backend)
            return backend
        return RecordStoreBackend(DefaultRecordStore("tasks", clock=clock))

    reference = simulate_cas_contention(6, seed=9, **ARGS)
    other = simulate_cas_contention(6, seed=9, backend=build, **ARGS)
    for backend in closers:
        backend.close()
    assert other.attempts == reference.attempts
    assert other.final_counts == reference.final_counts


def test_an_empty_backend_instance_can_be_passed() -> None:
    with SQLiteBackend(":memory:") as backend:
        run = simulate_cas_contention(3, seed=4, backend=backend, **ARGS)
        assert len(backend.list_by_prefix("")) == ARGS["n_tasks"]
    assert run.committed > 0


def test_zero_clients_do_nothing() -> None:
    run = simulate_cas_contention(0, seed=0, **ARGS)
    assert run.attempts == [] and run.conflict_rate == 0.0
    assert run.final_counts == [0] * ARGS["n_tasks"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_clients", -1),
        ("n_tasks", 0),
        ("think_time_ms", 0),
        ("op_latency_ms", -1),
        ("duration_ms", 0),
        ("duration_ms", 1.5),
        ("seed", -3),
        ("max_retries", -1),
    ],
)
def test_bad_arguments_are_named(name: str, value: object) -> None:
    kwargs: dict[str, object] = {"n_clients": 2, "seed": 0, **ARGS, name: value}
    with pytest.raises(InvalidArgumentError, match=name):
        simulate_cas_contention(**kwargs)  # type: ignore[arg-type]


def test_attempt_rows_are_frozen_records() -> None:
    row = CasAttempt(1, 0, 0, 0, "committed", 2, 2)
    with pytest.raises(AttributeError):
        row.time_ms = 5  # type: ignore[misc]
