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
# # 05 · Persistence: write-through vs write-behind
#
# **Question:** memory is fast and forgetful; a database is slow and durable. Layer 3 of
# the store decides when a write reaches the database. What does each choice cost per
# write, how many writes reach the database, and what does a crash lose?
#
# You will learn:
# * **write-through** (`SQLiteDataStore`): every put is a committed SQLite transaction
#   before it returns, so it is durable and pays a round trip;
# * **write-behind** (`WriteBehindDataStore`): a put is queued and returns at memory speed;
#   the queue is stored later, in batches, and repeated writes of a key **coalesce** into one;
# * the **dirty** flag: a record whose latest write is not in the database yet, and what a
#   crash before the flush loses;
# * **read-through**: after a restart, a read that misses memory loads from the database;
# * the trade-off as the write delay grows: fewer database writes, more data at risk.

# %%
import os
import tempfile
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit import ManualClock, RecordStoreFactory, StorageConfig, metadata_frame, plots
from toolkit.datastores import SQLiteDataStore, WriteBehindDataStore
from toolkit.sim import load_scenario, run, sweep

FAST = os.environ.get("TOOLKIT_FAST", "1") != "0"
DURATION_MS = 20_000 if FAST else 120_000  # simulated time of each run
SAVE_FIGURES = os.environ.get("TOOLKIT_SAVE_FIGURES") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
pd.set_option("display.width", 140)
workdir = tempfile.TemporaryDirectory()
DB = Path(workdir.name) / "shop.db"
COLUMNS = ["value", "version", "last_update_time", "last_stored_time", "dirty"]

# %% [markdown]
# ## Write-through: durable on return
# A record store over a SQLite file. Each put writes the row, in its own transaction, before
# memory changes; the record is clean at once (`last_stored_time` = the write's time).

# %%
# NBVAL_CHECK_OUTPUT
clock = ManualClock(1_000)
through = SQLiteDataStore(DB, clock=clock)
carts = RecordStoreFactory(StorageConfig(), through, clock=clock).create("carts", 0)
carts.put("alice", {"items": 1})
clock.advance(500)
carts.put("alice", {"items": 2})
print(metadata_frame(carts, COLUMNS).to_string())
print("rows in SQLite:", through.row_count("carts"), "| round trips:", through.stats.write_batches)
through.close()

# %% [markdown]
# ## Write-behind: queued, coalesced, batched
# A new process opens the same file through a write-behind queue: a write is stored 2 s
# after it was made, up to 100 rows per transaction, coalesced per key.
#
# First, a **read-through**: `alice` is not in this process's memory, so the read misses and
# loads her row from SQLite. Then `bob` is written five times and `carol` once: two keys
# are queued, four writes were coalesced away, and nothing has reached SQLite yet: both
# records are **dirty**.

# %%
# NBVAL_CHECK_OUTPUT
clock = ManualClock(10_000)
inner = SQLiteDataStore(DB, clock=clock)
behind = WriteBehindDataStore(inner, clock, write_delay_millis=2_000, write_batch_size=100)
carts = RecordStoreFactory(StorageConfig(), behind, clock=clock).create("carts", 0)
print("read-through alice ->", carts.get("alice").value, "| loads:", carts.stats.loads)
for n in range(5):
    carts.put("bob", {"items": n})
    clock.advance(100)
carts.put("carol", {"items": 9})
print(metadata_frame(carts, COLUMNS).to_string())
print("queued:", behind.pending_operation_count(), "| coalesced:", behind.stats.coalesced,
      "| rows in SQLite:", inner.row_count("carts"), "| bob loadable:", behind.is_loadable("bob"))

# %% [markdown]
# While `bob`'s write is queued he is not *loadable*: if memory dropped him, a read would be
# answered from the queue, never from the older row in SQLite. Two seconds after the first
# queued write, the flusher stores both rows in one transaction and tells the record store,
# which marks them clean.

# %%
# NBVAL_CHECK_OUTPUT
clock.advance(2_000)
print("stored now:", behind.flush_due(), "| round trips:", behind.stats.write_batches)
print(metadata_frame(carts, COLUMNS).to_string())

# %% [markdown]
# ## A crash before the flush
# `dave` arrives and `carol` changes; then the process dies before the next flush. What
# survives is what is in the file: we open it from a new process (a new `SQLiteDataStore` and
# record store, empty memory), without flushing the old one, and read every key through.

# %%
carts.put("dave", {"items": 3})
carts.put("carol", {"items": 10})
at_risk = sorted(metadata_frame(carts).query("dirty").index)

restarted_clock = ManualClock(20_000)
survivor = SQLiteDataStore(DB, clock=restarted_clock)
restarted = RecordStoreFactory(StorageConfig(), survivor, clock=restarted_clock).create("carts", 0)
after_restart = {}
for key in ["alice", "bob", "carol", "dave"]:
    record = restarted.get(key)
    after_restart[key] = None if record is None else record.value

behind.reset()  # the dead process's queue is gone with it
behind.close()

# %%
# NBVAL_CHECK_OUTPUT
before = {k: r.value for k, r in carts.storage().snapshot_iter()}
crash = pd.DataFrame({"in memory before the crash": before, "read after restart": after_restart})
print(crash.to_string())
print("dirty at the crash:", at_risk, "| loads after restart:", restarted.stats.loads)
survivor.close()

# %%
assert at_risk == ["carol", "dave"]
assert after_restart["dave"] is None, "never flushed: lost"
assert after_restart["carol"] == {"items": 9}, "the flushed value survives, the newer one is lost"
assert after_restart["bob"] == {"items": 4} and after_restart["alice"] == {"items": 2}

# %% [markdown]
# Exactly the dirty records lost their latest write. Write-behind's promise is bounded
# loss, not none: at most what was written in the last `write_delay` (plus a flush period).
#
# ## When the database refuses one write
# A flush stores a batch in one transaction, so one row that cannot be stored fails the
# whole batch. Hazelcast then stores the batch one entry at a time, so that one bad entry
# does not hold back the others, and `WriteBehindDataStore` does the same. The bad entry
# here is a classic bug: a cart is changed *after* its `put` (the queue holds the same
# object as the record), and a `Decimal` price has no canonical encoding.

# %%
# NBVAL_CHECK_OUTPUT
clock = ManualClock(30_000)
inner = SQLiteDataStore(DB, clock=clock)
with WriteBehindDataStore(inner, clock, write_delay_millis=1_000, write_batch_size=100) as wb:
    carts = RecordStoreFactory(StorageConfig(), wb, clock=clock).create("carts", 0)
    erin_cart = {"items": 1}
    carts.put("erin", erin_cart)
    carts.put("frank", {"items": 2})
    carts.put("gina", {"items": 3})
    erin_cart["price"] = Decimal("9.99")  # mutated after the put: the bug
    clock.advance(1_000)
    refused_flush = wb.flush_due()
    still_queued = [op.key for op in wb.queued()]
    print("stored:", refused_flush, "| still queued:", still_queued,
          "| failed round trips:", wb.stats.failures)
    print("error:", wb.last_error)
    print(metadata_frame(carts, COLUMNS).to_string())
    erin_cart["price"] = "9.99"  # fixed: the next flush stores it
    clock.advance(100)
    fixed_flush = wb.flush_due()
    print("stored:", fixed_flush, "| still queued:", wb.pending_operation_count())

# %%
assert refused_flush == 2 and still_queued == ["erin"], "the others are not held back"
assert wb.stats.failures == 2, "the batch, then erin alone (the flush then passes over her)"
assert fixed_flush == 1 and inner.closed

# %% [markdown]
# The batch failed, was tried one cart at a time, and only `erin` stayed queued (and dirty,
# and readable from the queue), with the error kept in `last_error`: two failed round trips,
# the batch and `erin` alone, since the rest of that flush passes over her. Once the value
# can be encoded again, the next flush stores it. A `DataStoreError` is different: it says the
# database itself is failing (locked, disk full), so the batch stays queued whole and is
# retried by the next flush, without a round trip per entry.
#
# ## At scale: a simulated workload
# The scenario `write-through-vs-write-behind.toml`: 4 clients, 1,000 requests per simulated
# second, half of them writes, to 5,000 Zipf-popular keys (α = 1.1, so a few keys are
# written very often). The latency model charges 2 ms per database round trip and 0.02 ms
# per row. We run it write-through, and write-behind with a 2 s delay (flushed every 0.5 s,
# 100 rows per batch), keeping every operation to read the put latencies. We sample every
# 0.1 s: the dirty count is a sawtooth that drops at each flush, and a sample that fell on
# every flush would see only its low points.

# %%
scenario = load_scenario(ROOT / "data" / "scenarios" / "write-through-vs-write-behind.toml")
print(scenario.description)
scenario = scenario.with_overrides(
    {"workload.duration_ms": DURATION_MS, "sampling.interval_ms": 100}
)
modes = {"write-through": {"data_store.kind": "sqlite"},
         "write-behind": {"data_store.kind": "write_behind"}}
results = {m: run(scenario.with_overrides(o), record_operations=True) for m, o in modes.items()}


def describe(result):
    ops = result.operations
    puts = ops[ops.op == "put"].latency_ms
    s = result.summary
    return {
        "client writes": s["writes"],
        "rows written to SQLite": s["backing_writes"],
        "round trips": s["backing_batches"],
        "put latency mean ms": puts.mean(),
        "put latency p99 ms": puts.quantile(0.99),
        "mean dirty entries": result.timeline.pending_writes.mean(),
        "peak dirty entries": s["peak_pending_writes"],
        "hit ratio": s["hit_ratio"],
    }


# %%
# NBVAL_CHECK_OUTPUT
comparison = pd.DataFrame({m: describe(r) for m, r in results.items()})
print(comparison.astype(float).round(3).to_string())

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
timelines = {m: r.timeline for m, r in results.items()}
plots.plot_timelines_overlay(timelines, "backing_writes", ax=ax1,
                            ylabel="rows written to SQLite per 0.1 s")
ax1.set_ylim(bottom=0)
ax1.set_title("Database writes: every client write vs coalesced batches")
plots.plot_timelines_overlay(timelines, "pending_writes", ax=ax2,
                       ylabel="dirty entries (would be lost by a crash)")
ax2.set_ylim(bottom=0)
ax2.set_title("Data at risk over time")
plt.show()

# %%
wt, wb = comparison["write-through"], comparison["write-behind"]
assert wt["rows written to SQLite"] == wt["client writes"], "write-through stores every write"
assert wb["rows written to SQLite"] < 0.5 * wt["rows written to SQLite"], "coalescing"
assert wb["round trips"] < wt["round trips"] / 50, "batching"
assert wb["put latency p99 ms"] < wt["put latency mean ms"] / 10
assert wt["peak dirty entries"] == 0 and wb["peak dirty entries"] > 0
assert wt["hit ratio"] == wb["hit ratio"], "the same answers either way"

# %% [markdown]
# Write-through stores every client write, one round trip each, and every put waits for it
# (2.1 ms). Write-behind's puts cost a queue append (0.09 ms); the hot keys are written many
# times per 2 s and reach SQLite once, so far fewer rows are written, in a few dozen round
# trips. The price is the right-hand curve: a few hundred keys whose latest write exists
# only in memory at any moment.
#
# ## The trade-off: how long to wait?
# A longer write delay coalesces more writes into one, and leaves more of them at risk. We
# sweep the delay of the write-behind queue.

# %%
DELAYS = [0, 250, 1_000, 2_000, 5_000, 10_000]
delays = sweep(
    scenario.with_overrides({"data_store.kind": "write_behind"}),
    {"data_store.write_delay_ms": DELAYS},
    timelines=True,
)
mean_dirty = delays.timelines.groupby("data_store.write_delay_ms").pending_writes.mean()
trade = delays.summary.set_index("data_store.write_delay_ms")[
    ["writes", "backing_writes", "backing_batches", "peak_pending_writes"]
].assign(mean_dirty=mean_dirty, written_share=lambda t: t.backing_writes / t.writes)

# %%
# NBVAL_CHECK_OUTPUT
print(trade.astype(float).round(3).to_string())

# %%
fig, ax1 = plt.subplots(figsize=(8, 4.5), layout="constrained")
seconds = trade.index / 1000
ax1.plot(seconds, trade.backing_writes, "o-", color="tab:blue",
         label="rows written to SQLite (write-behind)")
ax1.axhline(comparison.loc["rows written to SQLite", "write-through"], color="tab:blue",
            linestyle=":", label="rows written to SQLite (write-through)")
ax1.set_xlabel("write delay (s)")
ax1.set_ylabel(f"rows written in {DURATION_MS // 1000} s")
ax1.set_ylim(bottom=0)
ax2 = ax1.twinx()
ax2.plot(seconds, trade.mean_dirty, "s--", color="tab:red", label="mean dirty entries (at risk)")
ax2.set_ylabel("dirty entries: lost by a crash")
ax2.set_ylim(bottom=0)
lines = ax1.get_lines() + ax2.get_lines()
ax1.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
ax1.set_title("Write-behind: fewer database writes, more data at risk")
if SAVE_FIGURES:
    (ROOT / "docs" / "figures").mkdir(parents=True, exist_ok=True)
    fig.savefig(ROOT / "docs" / "figures" / "05_persistence.png", dpi=100)
plt.show()

# %%
assert trade.backing_writes.is_monotonic_decreasing, "a longer delay coalesces more"
assert trade.mean_dirty.is_monotonic_increasing, "and leaves more at risk"
assert (trade.backing_writes < comparison.loc["rows written to SQLite", "write-through"]).all()

# %% [markdown]
# Even with no delay at all, write-behind halves the rows written: it batches what arrives
# between two flushes (every 0.5 s) and coalesces the repeats among them. Longer delays keep
# saving rows, and the data at risk grows in step: a crash loses about the distinct keys
# written during the last delay. Hazelcast's default `write-delay-seconds` is 5.
#
# ## What we saw
# * Write-through: every put is durable when it returns, at one database round trip each.
# * Write-behind: puts at memory speed, far fewer rows and round trips (coalescing and
#   batching), and a window of dirty records that a crash loses: exactly the records whose
#   latest write had not been flushed.
# * A queued write is never shadowed by the stale row (`is_loadable` is False), and after a
#   restart read-through brings back what was stored.
# * A batch the database refuses is stored one entry at a time: only the bad entry stays
#   queued (and dirty) until it can be stored.
# * The write delay is the dial between database load and data at risk.
