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
# # 07 · Trace replay and miss-ratio curves
#
# **Question:** given a recording of the requests a cache received (a *trace*), how much
# memory would it need for a given miss ratio, and how far is each eviction policy from the
# best any policy could do?
#
# You will learn:
# * the trace format of the cache research community (libCacheSim's `oracleGeneral`) and a
#   synthetic Zipf trace written in it;
# * the **miss-ratio curve** (MRC): miss ratio against cache size, for LRU in one pass over
#   the trace (Mattson's stack distances), for other policies by one replay per size;
# * **Belady's** optimal policy (evict the entry whose next request is farthest away): it
#   needs the future, so no real cache can run it, but it bounds what any policy can reach;
# * replaying the trace through the real record store (sampled LRU, TTL, observers) and
#   checking it against the exact reference.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from toolkit import traces

FAST = os.environ.get("TOOLKIT_FAST", "1") != "0"
N_REQUESTS = 100_000 if FAST else 1_000_000
N_OBJECTS = 10_000
pd.set_option("display.width", 140)
workdir = tempfile.TemporaryDirectory()

# %% [markdown]
# ## A synthetic trace
# 10,000 objects of 100 B to 10 KB, requested with Zipf(0.9) popularity at 1,000 requests
# per second, all reads. `write_synthetic_trace` writes it in `oracleGeneral`: a binary
# record per request (time, object id, size, and the index of the object's **next**
# request, which Belady needs). We read it back as any recorded trace would be read.

# %%
path = Path(workdir.name) / "zipf.oracleGeneral.bin"
generated = traces.write_synthetic_trace(path, N_REQUESTS, N_OBJECTS, alpha=0.9, seed=7,
                                         size_range=(100, 10_000))
trace = traces.open_trace(path)
requests = traces.read_requests(trace)

# %%
# NBVAL_CHECK_OUTPUT
keys, counts = np.unique(requests["key"], return_counts=True)
ranked = np.sort(counts)[::-1]
print("requests:", len(requests), "| distinct objects:", len(keys),
      "| duration s:", round(float(requests["time_ms"][-1]) / 1000, 1))
top = ranked[: len(ranked) // 100].sum() / len(requests)
print("requests to the top 1% of objects:", round(float(top), 3))
print("objects requested once:", round(float((counts == 1).mean()), 3))
print("first requests:")
print(pd.DataFrame(requests[:5]).to_string(index=False))
print("same requests as generated:", bool((requests["key"] == generated["key"]).all()),
      "| time stamps differ:", bool((requests["time_ms"] != generated["time_ms"]).any()))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.loglog(np.arange(1, len(ranked) + 1), ranked, ".", markersize=3, label="trace")
ax.loglog([1, len(ranked)], [ranked[0], ranked[0] * len(ranked) ** -0.9], "--",
          label="slope -0.9 (Zipf α)")
ax.set_xlabel("object rank (1 = most requested)")
ax.set_ylabel("requests")
ax.set_title("Popularity of the trace's objects")
ax.legend()
plt.show()

# %% [markdown]
# One detail to keep in mind: `oracleGeneral` stores time in whole **seconds**, so the
# 1,000 requests of each second come back with the same time stamp (`time_ms` is a multiple
# of 1,000). The miss-ratio curves below only use the order of requests; the store, which
# reads time stamps, will care.
#
# ## Miss-ratio curves
# For LRU one pass is enough: a read hits an LRU cache of `C` objects exactly when fewer
# than `C` distinct other objects were requested since the same object's previous request
# (its *stack distance*). So one pass yields the whole curve. FIFO, LFU and Belady are not
# *stack algorithms*; they are replayed once per size, exactly.

# %%
CAPACITIES = [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000]
POLICIES = ["lru", "fifo", "lfu", "belady"]
curves = pd.concat([traces.miss_ratio_curve(requests, CAPACITIES, policy=p) for p in POLICIES])
lru_by_replay = traces.miss_ratio_curve(requests, CAPACITIES, policy="lru", method="replay")
table = curves.pivot(index="capacity", columns="policy", values="miss_ratio")
table.columns = table.columns.str.lower()
table = table[POLICIES]

# %%
# NBVAL_CHECK_OUTPUT
print(curves.groupby("policy", sort=False).method.first().to_string())
print(table.round(3).to_string())

# %%
lru_stack = curves[curves.policy.str.lower() == "lru"].miss_ratio.to_numpy()
assert np.array_equal(lru_stack, lru_by_replay.miss_ratio.to_numpy()), "one pass = replay"
for policy in ["lru", "fifo", "lfu"]:
    assert (table["belady"] <= table[policy]).all(), f"Belady is optimal, {policy} cannot beat it"
assert table["lru"].is_monotonic_decreasing and table["belady"].is_monotonic_decreasing

# %% [markdown]
# ## How far from optimal?
# The same miss ratio needs a different amount of memory under each policy. Reading the
# curves sideways answers a sizing question: *how many objects must the cache hold for at
# most 40 % misses?*

# %%
def size_for(curve, target):
    """The smallest capacity (interpolated on a log scale) whose miss ratio is <= target."""
    caps = np.log(curve.index.to_numpy(dtype=float))
    ratios = curve.to_numpy()
    return float(np.exp(np.interp(-target, -ratios, caps)))


# %%
# NBVAL_CHECK_OUTPUT
TARGET = 0.40
needed = pd.Series({p: size_for(table[p], TARGET) for p in POLICIES}, name="objects needed")
print(f"capacity for a {TARGET:.0%} miss ratio:")
print(needed.round(0).astype(int).to_string())
print("LRU needs", round(needed["lru"] / needed["belady"], 2), "x the optimum's memory")
gap = (table["lru"] - table["belady"])
print("largest LRU - Belady gap:", round(float(gap.max()), 3), "at", int(gap.idxmax()), "objects")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
traces.plot_mrc(curves, ax=ax1)
ax1.axhline(TARGET, color="grey", linestyle=":", linewidth=1)
ax1.set_xlabel("cache size (objects, log scale)")
ax1.set_ylabel("miss ratio (misses / reads)")
ax1.set_title("Miss-ratio curves of a Zipf(0.9) trace")
for p in ["lru", "fifo", "lfu"]:
    ax2.plot(table.index, (table[p] - table["belady"]) * 100, marker="o", label=p.upper())
ax2.set_xscale("log")
ax2.set_ylim(bottom=0)
ax2.set_xlabel("cache size (objects, log scale)")
ax2.set_ylabel("miss ratio above Belady (points)")
ax2.set_title("Distance from the optimum")
ax2.legend()
plt.show()

# %% [markdown]
# On this trace LFU is the best real policy (popularity does not change, so counting wins)
# and FIFO the worst; LRU sits up to 21 points above Belady, FIFO up to 25, LFU up to 11.
# The gap narrows towards both ends: a tiny cache misses almost everything whatever it does,
# and a cache that holds the whole footprint misses only first requests.
#
# ## Through the real store
# `replay_store` drives a `DefaultRecordStore` with a `ManualClock` that follows the trace's
# time stamps: a read is `get(key, touch=True)`, a miss writes the object (cache-aside), and
# the store's own eviction runs (TTLs, max-idle and observers take part too when the trace
# or the configuration has them). We replay it with the store's exact LRU (`LRU_EXACT`, an
# ordered list) and with sampled LRU (5 and 15 samples), which compares the entries'
# `last_access_time`, on the trace as read from the file (a 1 s clock) and on the same
# requests with their original millisecond time stamps.

# %%
STORE_CAPACITIES = [100, 1_000] if FAST else [100, 500, 1_000, 5_000]
RUNS = [("file (1 s clock)", requests, "lru_exact", None),
        ("file (1 s clock)", requests, "lru", 15),
        ("generated (1 ms clock)", generated, "lru", 15),
        ("generated (1 ms clock)", generated, "lru", 5)]
rows = []
for capacity in STORE_CAPACITIES:
    for clock_name, reqs, policy, samples in RUNS:
        result = traces.replay_store(reqs, capacity, policy=policy, sample_count=samples,
                                     seed=1)
        rows.append({"capacity": capacity, "trace": clock_name, "policy": policy,
                     "samples": samples or "-", "store": result.miss_ratio,
                     "exact LRU": table.loc[capacity, "lru"],
                     "belady": table.loc[capacity, "belady"]})
store_runs = pd.DataFrame(rows)
store_runs["store - exact"] = store_runs["store"] - store_runs["exact LRU"]

# %%
# NBVAL_CHECK_OUTPUT
print(store_runs.round(4).to_string(index=False))

# %% [markdown]
# The store's exact LRU reproduces the reference exactly. Sampled LRU with millisecond time
# stamps lands within a fraction of a point. On the file's 1 s clock it is worse at small
# sizes: a cache of 100 objects holds only the last fraction of a second, where every entry
# has the *same* `last_access_time`, so the sample cannot tell old from new and evicts at
# random among them. (A real store's clock is much finer than its request rate; a replay
# should keep the finest time stamps the trace has.)

# %%
exact = store_runs[store_runs.policy == "lru_exact"]
assert np.allclose(exact["store"], exact["exact LRU"]), "LRU_EXACT = the reference LRU"
fine = store_runs[store_runs.trace.str.startswith("generated")]
assert (fine["store - exact"].abs() <= 0.02).all(), "sampled LRU tracks exact LRU"
coarse = store_runs[(store_runs.trace.str.startswith("file")) & (store_runs.policy == "lru")]
assert (coarse["store"].to_numpy() >= fine[fine.samples == 15]["store"].to_numpy()).all()
assert (store_runs["store"] >= store_runs["belady"]).all(), "the store cannot beat Belady"

# %% [markdown]
# ## What we saw
# * A trace plus a replayer answers capacity questions without running the real system:
#   the miss-ratio curve shows the memory each miss ratio costs.
# * LRU's whole curve costs one pass (stack distances), and matches replay exactly; other
#   policies need one replay per size.
# * Belady's clairvoyant policy is the floor: every real policy sits above it, and the gap
#   is what better policies (or more memory) could still win.
# * The record store's exact LRU reproduces the reference, and its sampled LRU lands within
#   a fraction of a point of it, provided the trace's time stamps are fine enough to order
#   the accesses: the curve computed offline then predicts the store's behaviour.
# * The same replays run from the command line: `python -m toolkit replay TRACE --policy lru
#   --capacity N --json`.
