# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The task store: lifecycle, owners and compare-and-swap
#
# **Question:** a long-running job ("call this tool", "run this report") needs a record that
# many clients poll and update. How does a store keep such records correct when owners must
# not see each other's tasks and several clients update the same task at once?
#
# You will learn:
# * the task **lifecycle**: `working` ⇄ `input_required` → `completed` / `failed` /
#   `cancelled`, and why a terminal task never changes again;
# * **owner isolation**: a wrong owner gets `NotFound`, never "forbidden", and the storage key
#   escapes both parts so no owner id can reach another owner's key;
# * **TTL**: an expired task is still readable (so a client learns it expired) until
#   `cleanup_expired` removes it;
# * that the rules live in `GenericTaskStore`, so the same script gives the same answers on an
#   in-memory dict, on SQLite and on this toolkit's own three-layer record store;
# * **compare-and-swap (CAS)**: every write names the version it read; how often that write
#   loses a race as the number of concurrent clients grows (a SimPy simulation).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from toolkit import ManualClock, RecordStoreFactory, StorageConfig
from toolkit.tasks import (
    ConcurrentModification,
    GenericTaskStore,
    InMemoryBackend,
    InvalidTransition,
    NotFound,
    NotReady,
    RecordStoreBackend,
    SQLiteBackend,
    TaskStatus,
    owner_prefix,
    simulate_cas_contention,
)

FAST = os.environ.get("TOOLKIT_FAST", "1") != "0"
DURATION_MS = 8_000 if FAST else 60_000  # simulated time of each contention run
pd.set_option("display.width", 140)

# %% [markdown]
# ## The lifecycle
# Five statuses. The two live ones may move to each other and to any terminal one; a terminal
# status moves nowhere, and a "move" to the status a task already has is refused too (it
# would hide a client bug). The table reads *row may move to column*.

# %%
# NBVAL_CHECK_OUTPUT
statuses = list(TaskStatus)
allowed = pd.DataFrame(
    [["yes" if a.can_transition_to(b) else "." for b in statuses] for a in statuses],
    index=[s.value for s in statuses],
    columns=[s.value for s in statuses],
)
print(allowed.to_string())

# %% [markdown]
# Walk one task through it. Time comes from a `ManualClock` that starts at
# 2026-01-01T00:00:00Z, so the timestamps below are exact. Each successful write returns the
# record at its new **version** (1 at creation, +1 per write).

# %%
clock = ManualClock(1_767_225_600_000)
store = GenericTaskStore(InMemoryBackend(clock=clock), clock=clock)

history = []


def note(step, record):
    history.append(
        {
            "step": step,
            "status": record.task.status.value,
            "version": record.version,
            "message": record.task.status_message or "-",
            "variables": dict(sorted(record.variables.items())),
            "updated": record.task.last_updated_at,
        }
    )


job = store.create("alice", "reports/run", ttl_ms=60_000)
tid = job.task.task_id
note("create", job)
clock.advance(1_500)
note("progress", store.set_variables(tid, "alice", {"progress": 0.4, "stage": "fetch"}))
clock.advance(1_000)
note("ask", store.update_status(tid, "alice", TaskStatus.INPUT_REQUIRED, "which region?"))
clock.advance(4_000)
note("answer", store.update_status(tid, "alice", TaskStatus.WORKING, "region=eu"))
note("progress", store.set_variables(tid, "alice", {"progress": 0.9, "stage": None}))
clock.advance(2_000)
done = store.complete_with_result(tid, "alice", TaskStatus.COMPLETED, "done", {"rows": 42})
note("complete", done)

# %%
# NBVAL_CHECK_OUTPUT
print(pd.DataFrame(history).to_string(index=False))

# %% [markdown]
# Setting a variable to `None` deleted it (`stage` is gone). The result is ready only once
# the task is terminal, and a terminal task refuses every further change, with a suggested
# action that says why.

# %%
early = store.create("alice", "reports/run")
try:
    store.get_result(early.task.task_id, "alice")
except NotReady as err:
    print("NotReady while", err.status)
try:
    store.update_status(tid, "alice", TaskStatus.WORKING)
except InvalidTransition as err:
    print(f"InvalidTransition {err.from_status} -> {err.to_status}: {err.suggested_action}")
print("result:", store.get_result(tid, "alice"))

# %%
assert store.get(tid, "alice").task.status.is_terminal()
assert store.get_result(tid, "alice") == {"rows": 42}
assert [h["version"] for h in history] == [1, 2, 3, 4, 5, 6]

# %% [markdown]
# ## Owner isolation
# Every task is stored under `{owner}:{task}` with **both parts percent-escaped**. Without the
# escaping, owner `"alice"` listing the prefix `alice:` would also see the keys of an owner
# called `"alice:ops"`. With it, that owner lives under `alice%3Aops:`. And after decoding a
# record, the store checks its `ownerId` once more: a wrong owner gets `NotFound`, exactly as
# if the task did not exist, so probing reveals nothing.

# %%
ops = store.create("alice:ops", "jobs/nightly")
for owner in ["alice", "alice:ops", "mallory"]:
    print(f"{owner!r:12} -> prefix {owner_prefix(owner)!r}")


def who_can_read(task_id):
    seen = {}
    for owner in ["alice", "alice:ops", "mallory"]:
        try:
            store.get(task_id, owner)
            seen[owner] = "reads it"
        except NotFound:
            seen[owner] = "NotFound"
    return seen


# %%
# NBVAL_CHECK_OUTPUT
isolation = pd.DataFrame(
    {"alice's report": who_can_read(tid), "alice:ops's job": who_can_read(ops.task.task_id)}
)
print(isolation.to_string())
print("tasks listed:", {o: len(store.list(o).tasks) for o in ["alice", "alice:ops", "mallory"]})

# %%
assert len(store.list("alice").tasks) == 2 and len(store.list("alice:ops").tasks) == 1
assert store.list("mallory").tasks == []
assert (isolation.loc["mallory"] == "NotFound").all()

# %% [markdown]
# ## TTL: expired, still readable, then cleaned up
# The report was created with a 60 s TTL at t = 0. Once that has passed, writes are refused
# (`Expired`) but `get` still returns the record, so a polling client learns *that* it
# expired rather than getting a puzzling `NotFound`. `cleanup_expired` then removes it.

# %%
clock.set(1_767_225_600_000 + 60_001)
print("report expired:", store.get(tid, "alice").is_expired(clock.now_millis()))
print("removed by cleanup:", store.cleanup_expired())
print("alice's tasks left:", len(store.list("alice").tasks))

# %% [markdown]
# ## Same rules, three backends
# A backend only stores versioned bytes (`get`, `put`, `put_if_version`, `delete`,
# `list_by_prefix`, `cleanup_expired`). So one script gives the same outcome on a dict, on
# SQLite and on the toolkit's own three layers: `RecordStoreBackend` keeps each task as an
# entry of a `DefaultRecordStore`, its version is the record's `metadata.version + 1` and its
# TTL is the record's per-entry `ExpiryPolicy`.

# %%
def script(backend, clock):
    """Run a fixed story on a fresh store over ``backend``; return what each step saw."""
    s = GenericTaskStore(backend, clock=clock)
    out = {}
    t = s.create("bob", "tools/call", ttl_ms=10_000).task.task_id
    out["v after create"] = s.get(t, "bob").version
    s.set_variables(t, "bob", {"n": 1})
    out["v after 1 write"] = s.get(t, "bob").version
    try:
        s.set_variables(t, "bob", {"n": 2}, expected_version=1)
        out["stale write"] = "written"
    except ConcurrentModification as err:
        out["stale write"] = f"refused ({err.expected_version} vs {err.actual_version})"
    try:
        s.get(t, "eve")
        out["other owner"] = "reads it"
    except NotFound:
        out["other owner"] = "NotFound"
    clock.advance(10_001)
    out["expired"] = s.get(t, "bob").is_expired(clock.now_millis())
    out["cleaned up"] = s.cleanup_expired()
    return out


def record_store_backend(clock):
    rs = RecordStoreFactory(StorageConfig(), clock=clock).create("tasks", 0)
    return RecordStoreBackend(rs, clock=clock)


outcomes = {}
c = ManualClock(0)
outcomes["InMemoryBackend"] = script(InMemoryBackend(clock=c), c)
c = ManualClock(0)
with SQLiteBackend(":memory:") as sqlite_backend:
    outcomes["SQLiteBackend"] = script(sqlite_backend, c)
c = ManualClock(0)
outcomes["RecordStoreBackend"] = script(record_store_backend(c), c)

# %%
# NBVAL_CHECK_OUTPUT
backends = pd.DataFrame(outcomes)
print(backends.to_string())

# %%
assert backends.nunique(axis=1).eq(1).all(), "every backend must behave the same"

# %% [markdown]
# ## Two clients, one task
# Client A and client B both read the task at version 2 and both want to add one to a
# counter. B writes first (version 3). A's write names version 2, so it is refused with
# `ConcurrentModification` and nothing is written: without the version check A would
# silently overwrite B's increment (a *lost update*). The store never retries by itself: A
# reads again and retries.

# %%
clock = ManualClock(0)
store = GenericTaskStore(InMemoryBackend(clock=clock), clock=clock)
counter = store.create("pool", "jobs/count")
cid = counter.task.task_id
store.set_variables(cid, "pool", {"count": 0})

a_read = store.get(cid, "pool")
b_read = store.get(cid, "pool")
store.set_variables(cid, "pool", {"count": b_read.variables["count"] + 1},
                    expected_version=b_read.version)
try:
    store.set_variables(cid, "pool", {"count": a_read.variables["count"] + 1},
                        expected_version=a_read.version)
except ConcurrentModification as err:
    print(f"A refused: read version {err.expected_version}, found {err.actual_version}")
a_again = store.get(cid, "pool")
store.set_variables(cid, "pool", {"count": a_again.variables["count"] + 1},
                    expected_version=a_again.version)
print("count:", store.get(cid, "pool").variables["count"])

# %%
assert store.get(cid, "pool").variables["count"] == 2  # both increments, none lost

# %% [markdown]
# ## Contention grows with concurrency
# `simulate_cas_contention` runs that pattern in SimPy: each client thinks (exponential,
# mean 50 ms), picks one of the shared tasks at random, reads it, spends 5 ms (the round
# trip and the work), then writes with the version it read, retrying at once on a conflict.
# We vary the number of clients, for 4 and for 16 shared tasks.
#
# A back-of-envelope model: a write conflicts if some other client wrote the same task
# during its 5 ms window. The other $n-1$ clients write about once per
# $\text{think} + \text{latency}$ each, spread over $T$ tasks, so
# $p \approx 1 - \exp\!\big(-\tfrac{(n-1)\,L}{(\text{think}+L)\,T}\big)$.
# Retries come without thinking time, so where conflicts are frequent the simulation should
# sit above it; where they are rare, the few dozen conflicts of a short run put it on either
# side.

# %%
THINK_MS, LATENCY_MS = 50.0, 5.0
CLIENTS = [1, 2, 4, 8, 16, 32]
TASKS = [4, 16]

rows, runs = [], {}
for n_tasks in TASKS:
    for n_clients in CLIENTS:
        result = simulate_cas_contention(
            n_clients, n_tasks, think_time_ms=THINK_MS, op_latency_ms=LATENCY_MS,
            duration_ms=DURATION_MS, seed=1,
        )
        runs[(n_tasks, n_clients)] = result
        row = result.summary()
        row["committed_per_s"] = result.committed / (DURATION_MS / 1000)
        row["model_rate"] = 1 - np.exp(
            -(n_clients - 1) * LATENCY_MS / ((THINK_MS + LATENCY_MS) * n_tasks)
        )
        row["lost_updates"] = result.committed - sum(result.final_counts)
        rows.append(row)
contention = pd.DataFrame(rows)

# %%
# NBVAL_CHECK_OUTPUT
columns = ["n_tasks", "n_clients", "attempts", "committed", "conflicts", "conflict_rate",
           "model_rate", "lost_updates"]
print(contention[columns].round(3).to_string(index=False))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
for n_tasks, colour in zip(TASKS, ["tab:red", "tab:blue"]):
    part = contention[contention.n_tasks == n_tasks]
    ax1.plot(part.n_clients, part.conflict_rate, "o-", color=colour,
             label=f"simulated, {n_tasks} tasks")
    ax1.plot(part.n_clients, part.model_rate, "--", color=colour,
             label=f"model, {n_tasks} tasks")
    ax2.plot(part.n_clients, part.committed_per_s, "o-", color=colour, label=f"{n_tasks} tasks")
ax1.set_xscale("log", base=2)
ax1.set_xticks(CLIENTS, [str(n) for n in CLIENTS])
ax1.set_xlabel("concurrent clients")
ax1.set_ylabel("conflicts per write attempt")
ax1.set_title("CAS conflict rate vs concurrency")
ax1.legend(fontsize=8)
ax2.set_xscale("log", base=2)
ax2.set_xticks(CLIENTS, [str(n) for n in CLIENTS])
ax2.set_xlabel("concurrent clients")
ax2.set_ylabel("committed updates per simulated second")
ax2.set_title("Throughput still grows, but retries cost attempts")
ax2.legend(fontsize=8)
plt.show()

# %% [markdown]
# Where do the conflicts fall? With 32 clients on 4 tasks, only a minority of updates commit
# at the first attempt, and a long tail needs many: each retry is another read and another
# round trip, which is what a client's latency budget has to absorb (and why hot shared
# records are split, or updates are queued per task, in busy systems).

# %%
busy = pd.DataFrame(runs[(4, 32)].rows())
tries = busy[busy.outcome == "committed"].attempt + 1
fig, ax = plt.subplots(figsize=(7, 3.5))
counts = tries.value_counts().sort_index()
ax.bar(counts.index, counts.values, color="tab:red", label="32 clients, 4 tasks")
ax.set_xlabel("attempts needed by one update")
ax.set_ylabel("updates")
ax.set_title("Attempts per committed update")
ax.legend()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("first-try share:", round((tries == 1).mean(), 3),
      "| mean attempts per update:", round(tries.mean(), 3), "| most:", int(tries.max()))

# %%
for n_tasks in TASKS:
    rates = contention[contention.n_tasks == n_tasks].conflict_rate.to_numpy()
    assert rates[0] == 0.0, "one client never conflicts"
    assert np.all(np.diff(rates) >= 0), f"conflict rate must grow with clients ({n_tasks} tasks)"
    assert rates[-1] > 5 * rates[1] > 0
few, many = (contention[contention.n_tasks == t].conflict_rate.to_numpy()[1:] for t in TASKS)
assert np.all(few > many), "more tasks spread the clients out: fewer conflicts"
assert (contention.lost_updates == 0).all(), "CAS loses no acknowledged update"
assert (busy.outcome != "gave_up").all()

# %% [markdown]
# ## What we saw
# * The lifecycle is a small state machine; terminal means final, and refusals say why.
# * Isolation is in the key scheme *and* in a second check of the stored owner; a wrong owner
#   sees exactly what a missing task looks like.
# * The task store's rules do not depend on the backend: a dict, SQLite and the toolkit's own
#   record store (versions from `metadata.version`, TTL from a per-entry `ExpiryPolicy`)
#   give the same answers.
# * Compare-and-swap turns a lost update into a refused write. Its price is retries: the
#   conflict rate grows with the number of clients per task, roughly as
#   $1 - e^{-(n-1)L/((\text{think}+L)T)}$, and every committed update is still counted once.
