# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Three layers, one clock
#
# **Question:** what does a Hazelcast-style store know about each entry, and how does that
# knowledge change as we read, write and wait?
#
# You will learn:
# * how the three layers fit: the **storage engine** (Layer 1) holds records, the **record
#   store** (Layer 2) adds metadata, expiry and eviction, the **data store** (Layer 3) persists;
# * what each metadata field means (`version`, `hits`, the three times, `cost`, `dirty`);
# * why a read *with touch* keeps an entry alive under max-idle but never under TTL;
# * how observers see every change, and that **expiry is not eviction**.
#
# Time comes from a `ManualClock`: nothing happens unless we advance it, so every number
# below is exact and the notebook is a test.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from toolkit import (
    ExpiryPolicy,
    ManualClock,
    PrintingObserver,
    RecordStoreFactory,
    StorageConfig,
    metadata_frame,
    plots,
)
from toolkit.sim import load_scenario, run

FAST = os.environ.get("TOOLKIT_FAST", "1") != "0"  # sizes the simulated preview at the end
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
pd.set_option("display.width", 140)

# %% [markdown]
# ## Build a store
# The factory wires the layers: a `HashMapStorage` engine, a `NullDataStore` (no persistence
# yet, so every record stays *dirty*: its latest write is stored nowhere), and our observer.
# Store-wide defaults: entries live at most 10 s after their last write (TTL) and at most
# 4 s without being touched (max-idle); at most 3 entries.

# %%
clock = ManualClock()
printer = PrintingObserver(clock)
config = StorageConfig(default_ttl_millis=10_000, default_max_idle_millis=4_000, max_entry_count=3)
store = RecordStoreFactory(config, observers=[printer], clock=clock).create("sessions", 0)
print(store)
print("Layer 1:", type(store.storage()).__name__, "| Layer 3:", type(store.map_data_store()).__name__)

# %% [markdown]
# ## Write, read with touch, update
# A put creates a record at version 0. A read with `touch=True` counts a hit and restarts the
# idle clock; an update bumps the version and restarts both clocks.

# %%
store.put("alice", "cart:1")
store.put("bob", "cart:7", ExpiryPolicy(ttl_millis=2_500))  # a per-entry TTL wins over the default
clock.advance(1_000)
store.get("alice", touch=True)
previous = store.put("alice", "cart:2")
print("previous value of alice:", previous)

# %%
# NBVAL_CHECK_OUTPUT
print(metadata_frame(store).drop(columns=["cost", "last_stored_time"]).to_string())

# %%
alice = store.get("alice")
assert alice is not None and alice.metadata.version == 1 and alice.metadata.hits == 1
assert alice.metadata.last_update_time == 1_000

# %% [markdown]
# ## Let time pass
# At t = 3 s, `bob` is past its own 2.5 s TTL. Reading it returns nothing: the store
# removes it on the spot (*lazy expiry*) and tells observers why.

# %%
clock.advance(2_000)
print("bob ->", store.get("bob"))

# %% [markdown]
# `alice` was last written at t = 1 s. Reading her *with touch* every 2 s keeps her alive
# under max-idle (4 s) — but not past the TTL, which counts from her last **write** and is
# never extended by reads: she is gone once more than 10 s have passed since t = 1 s.

# %%
for _ in range(5):
    clock.advance(2_000)
    rec = store.get("alice", touch=True)
    print(f"t={clock.now_millis()} ms: alice is", "live" if rec else "gone")

# %%
# NBVAL_CHECK_OUTPUT
print(store.stats)

# %% [markdown]
# ## Fill past capacity: eviction
# Four fresh keys into a store that holds three: after each put the store evicts by sampled
# LRU. The key just written is never the victim while anything else is there.

# %%
for name in ["carol", "dave", "erin", "frank"]:
    clock.advance(100)
    store.put(name, f"cart:{name}")

# %%
# NBVAL_CHECK_OUTPUT
table = metadata_frame(store)
print(table[["value", "version", "hits", "creation_time", "last_access_time"]].to_string())
print("size:", store.size(), "| cost bytes:", store.owned_entry_cost())

# %%
assert store.size() <= config.max_entry_count
assert store.exists_in_memory("frank")
assert store.stats.evictions == 1 and store.stats.expirations_ttl == 2

# %% [markdown]
# ## What we saw
# * The record store keeps metadata beside every value; the engine only stores records.
# * Reads with touch move `last_access_time` and `hits`; writes move `version` and both clocks.
# * Expired entries are never served; observers hear `expire (TTL)` or `expire (MAX_IDLE)` —
#   and `evict` only when a live entry had to make room.
# * With a `NullDataStore` every record is *dirty*: notebook 05 adds a real backing store.

# %% [markdown]
# ## Next: the same store under load
# Everything above also happens when thousands of clients hit the store. The flagship
# scenario (`data/scenarios/flagship.toml`) runs a cache in front of SQLite in SimPy: 8
# clients, 2,000 requests per simulated second to Zipf-popular keys, half the entries with a
# 10 s TTL, all with an 8 s max-idle, 8,000 entries of memory under sampled LRU, writes
# stored 5 s later by a write-behind queue. The store reads a `SimClock` instead of our
# `ManualClock`; nothing else changes. Each panel below is the subject of a later notebook:
# expiry (02, 04), eviction (03), write-behind (05).

# %%
flagship = load_scenario(ROOT / "data" / "scenarios" / "flagship.toml")
flagship = flagship.with_overrides({"workload.duration_ms": 40_000 if FAST else 120_000})
result = run(flagship)

# %%
# NBVAL_CHECK_OUTPUT
keys = ["requests", "hit_ratio", "peak_size", "evictions", "expired_ttl", "expired_max_idle",
        "backing_writes", "backing_batches"]
print(pd.Series({k: result.summary[k] for k in keys}).astype(float).round(3).to_string())

# %%
plots.plot_timeline(result.timeline, title="The flagship scenario, second by second")
plt.show()

# %%
assert result.summary["peak_size"] <= flagship.store.max_entry_count
assert result.summary["backing_batches"] < result.summary["backing_writes"] / 50
