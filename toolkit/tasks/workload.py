"""A SimPy workload: clients racing to update shared tasks with compare-and-swap.

Each of ``n_clients`` clients loops: think (exponential, mean ``think_time_ms``), pick one of
``n_tasks`` shared tasks at random, then read-modify-write it: read the task and its version,
spend ``op_latency_ms`` (the round trip and the work), and write ``count + 1`` with
``expected_version`` set to the version read. If another client wrote in between, the write
raises :class:`~toolkit.tasks.ConcurrentModification` and the client retries at once (read
again, wait again), up to ``max_retries`` times. Every attempt is one :class:`CasAttempt` row,
so ``pd.DataFrame(run.attempts)`` gives the timeline and the conflict rate can be plotted
against concurrency.

The environment counts milliseconds; the task store reads it through
``SimClock(env, millis_per_unit=1)``. Randomness comes from one ``numpy`` generator per client,
spawned from ``seed``: the same arguments give the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import simpy

from ..clocks import Clock, SimClock
from ..errors import InvalidArgumentError, check_non_negative_int
from .backends.base import StorageBackend
from .backends.memory import InMemoryBackend
from .config import StoreConfig, TaskSecurityConfig
from .errors import ConcurrentModification
from .store import GenericTaskStore

__all__ = ["CasAttempt", "ContentionRun", "simulate_cas_contention"]

_OWNER = "sim-client-pool"


@dataclass(frozen=True, slots=True)
class CasAttempt:
    """One read-modify-write attempt.

    ``time_ms`` is when the write was tried; ``attempt`` counts from 0 (first try) within one
    update; ``outcome`` is ``"committed"``, ``"conflict"`` or ``"gave_up"`` (a conflict after
    which the client stops retrying); ``read_version`` is the version the client read and
    ``actual_version`` the one it found at write time.
    """

    time_ms: int
    client: int
    task: int
    attempt: int
    outcome: str
    read_version: int
    actual_version: int


@dataclass(slots=True)
class ContentionRun:
    """What one run did: every attempt, and each task's final ``count`` (the committed writes
    that reached it, so ``sum(final_counts) == committed``: no acknowledged write was lost)."""

    n_clients: int
    n_tasks: int
    attempts: list[CasAttempt] = field(default_factory=list)
    final_counts: list[int] = field(default_factory=list)

    @property
    def committed(self) -> int:
        """Updates that were written."""
        return sum(1 for a in self.attempts if a.outcome == "committed")

    @property
    def conflicts(self) -> int:
        """Writes refused by compare-and-swap (each retried or given up)."""
        return sum(1 for a in self.attempts if a.outcome != "committed")

    @property
    def retries(self) -> int:
        """Attempts that were retries (attempt > 0)."""
        return sum(1 for a in self.attempts if a.attempt > 0)

    @property
    def conflict_rate(self) -> float:
        """Conflicts per write attempt (0.0 when nothing was attempted)."""
        total = len(self.attempts)
        return self.conflicts / total if total else 0.0

    def rows(self) -> list[dict[str, Any]]:
        """The attempts as plain dicts (one row each), for ``pd.DataFrame``."""
        return [asdict(a) for a in self.attempts]

    def summary(self) -> dict[str, Any]:
        """One row: clients, tasks, attempts, committed, conflicts, retries, conflict_rate."""
        return {
            "n_clients": self.n_clients,
            "n_tasks": self.n_tasks,
            "attempts": len(self.attempts),
            "committed": self.committed,
            "conflicts": self.conflicts,
            "retries": self.retries,
            "conflict_rate": self.conflict_rate,
        }


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgumentError(f"{name} must be a number > 0, got {value!r}")


def simulate_cas_contention(
    n_clients: int,
    n_tasks: int,
    think_time_ms: float,
    op_latency_ms: float,
    duration_ms: int,
    seed: int,
    backend: StorageBackend | Callable[[Clock], StorageBackend] | None = None,
    max_retries: int = 100,
) -> ContentionRun:
    """Run ``n_clients`` clients against ``n_tasks`` shared tasks for ``duration_ms``
    simulated milliseconds; return every attempt (see the module docs).

    ``backend`` (default: a fresh :class:`~toolkit.tasks.InMemoryBackend`) should be empty;
    it may also be a callable that builds one from the simulation's clock, which a backend
    that keeps time itself needs (a :class:`~toolkit.tasks.RecordStoreBackend` whose record
    store must run on simulated time).
    No update starts after ``duration_ms``; one in flight finishes (with its retries), and
    the tasks live long enough for that, so none expires during the run.
    """
    check_non_negative_int("n_clients", n_clients)
    check_non_negative_int("n_tasks", n_tasks)
    check_non_negative_int("seed", seed)
    check_non_negative_int("max_retries", max_retries)
    if n_tasks < 1:
        raise InvalidArgumentError(f"n_tasks must be >= 1, got {n_tasks}")
    _check_positive("think_time_ms", think_time_ms)
    if isinstance(op_latency_ms, bool) or not isinstance(op_latency_ms, (int, float)) or (
        op_latency_ms < 0
    ):
        raise InvalidArgumentError(f"op_latency_ms must be a number >= 0, got {op_latency_ms!r}")
    _check_positive("duration_ms", duration_ms)
    check_non_negative_int("duration_ms", duration_ms)

    env = simpy.Environment()
    clock = SimClock(env, millis_per_unit=1)
    if backend is None:
        backend = InMemoryBackend(clock=clock)
    elif not isinstance(backend, StorageBackend) and callable(backend):
        backend = backend(clock)
    ttl = duration_ms + (max_retries + 1) * (math.ceil(op_latency_ms) + 1) + 1
    store = GenericTaskStore(
        backend,
        config=StoreConfig(default_ttl_ms=ttl, max_ttl_ms=max(ttl, StoreConfig().max_ttl_ms)),
        security=TaskSecurityConfig(max_tasks_per_owner=max(n_tasks, 1)),
        clock=clock,
    )
    task_ids = [store.create(_OWNER, "sim/update").task.task_id for _ in range(n_tasks)]
    for task_id in task_ids:
        store.set_variables(task_id, _OWNER, {"count": 0})
    run = ContentionRun(n_clients, n_tasks)
    streams = np.random.SeedSequence(seed).spawn(max(n_clients, 1))

    def client(index: int, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(float(rng.exponential(think_time_ms)))
            if env.now >= duration_ms:
                return
            task = int(rng.integers(n_tasks))
            task_id = task_ids[task]
            for attempt in range(max_retries + 1):
                record = store.get(task_id, _OWNER)
                yield env.timeout(op_latency_ms)
                now = clock.now_millis()
                try:
                    written = store.set_variables(
                        task_id,
                        _OWNER,
                        {"count": record.variables["count"] + 1, "last_client": index},
                        expected_version=record.version,
                    )
                except ConcurrentModification as exc:
                    outcome = "conflict" if attempt < max_retries else "gave_up"
                    run.attempts.append(
                        CasAttempt(now, index, task, attempt, outcome, record.version,
                                   exc.actual_version)
                    )
                    continue
                run.attempts.append(
                    CasAttempt(now, index, task, attempt, "committed", record.version,
                               written.version - 1)
                )
                break

    for index in range(n_clients):
        env.process(client(index, np.random.default_rng(streams[index])))
    env.run()
    run.final_counts = [store.get(t, _OWNER).variables["count"] for t in task_ids]
    return run
