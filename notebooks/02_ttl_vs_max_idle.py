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
# # 02 · TTL vs max-idle
#
# **Question:** an entry can leave memory because too much time passed since it was last
# *written* (TTL, time-to-live) or since it was last *touched* (max-idle). Which keys does
# each limit remove, what does each cost in memory and hits, and why does a hot key survive
# max-idle but never TTL?
#
# You will learn:
# * the two clocks: TTL counts from the last **write** and no read extends it; max-idle
#   counts from the last **access** (a read with touch, or a write);
# * how a cache-aside workload behaves under TTL only, max-idle only and both: size and cost
#   over time, and expirations **by reason**;
# * that under TTL every popular key is refilled once per TTL period, all together if they
#   were loaded together, while under max-idle popular keys stay and the long tail leaves;
# * how to check from the outside, with the operation log, that no expired entry was ever
#   served.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from toolkit import ManualClock, RecordStoreFactory, StorageConfig, plots
from toolkit.lessons import audit_expiry
from toolkit.sim import load_scenario, run

FAST = os.environ.get("TOOLKIT_FAST", "1") != "0"
DURATION_MS = 60_000 if FAST else 180_000  # simulated time of each run
SAVE_FIGURES = os.environ.get("TOOLKIT_SAVE_FIGURES") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
pd.set_option("display.width", 140)

# %% [markdown]
# ## One hot key, two clocks
# Before simulating, the whole idea in a few lines. A key is written once at t = 0 and then
# read (with touch) every second. Under a 15 s TTL the reads do not help: the entry expires
# 15 s after its write and the next read misses (and, cache-aside, writes it again). Under a
# 5 s max-idle every read restarts the idle clock, so the entry never expires.

# %%
def misses_of_hot_key(config, seconds=40):
    clock = ManualClock()
    store = RecordStoreFactory(config, clock=clock).create("hot", 0)
    store.put("hot", "value")
    missed = []
    for _ in range(seconds):
        clock.advance(1_000)
        if store.get("hot", touch=True) is None:
            missed.append(clock.now_millis() // 1000)
            store.put("hot", "value")  # cache-aside: refill on a miss
    return missed, store.stats


# %%
# NBVAL_CHECK_OUTPUT
ttl_missed, ttl_stats = misses_of_hot_key(StorageConfig(default_ttl_millis=15_000))
idle_missed, idle_stats = misses_of_hot_key(StorageConfig(default_max_idle_millis=5_000))
print("TTL 15 s      : missed at t =", ttl_missed, "s;", ttl_stats.expirations_ttl, "TTL expiries")
print("max-idle 5 s  : missed at t =", idle_missed, "s;",
      idle_stats.expirations_max_idle, "max-idle expiries")

# %%
assert ttl_missed == [16, 32] and idle_missed == []

# %% [markdown]
# (Expiry is strict: at t = 15 s exactly the entry is still live; at 16 s it is not.)
#
# ## The workload
# The scenario `ttl-vs-max-idle.toml`: 4 clients send 1,000 requests per simulated second
# to Zipf-popular keys (α = 0.8: a few keys take a large share of the reads, a long tail is
# read now and then). We widen the key space to 10,000 keys and make the workload pure
# **cache-aside** (`read_fraction = 1`): a key is written only when a read misses, so a
# popular key is written once and then only read. (With regular writes, as in the scenario
# file, a popular key's TTL restarts at every write.)
#
# Three variants of the same requests (the same seed): a 15 s TTL, a 5 s max-idle, and both.
# No size limit, so every removal is an expiry. The background sweep runs every 5 s over 10 %
# of the expirable entries (Hazelcast's defaults).

# %%
KEY_COUNT = 10_000
base = load_scenario(ROOT / "data" / "scenarios" / "ttl-vs-max-idle.toml")
print(base.description)
base = base.with_overrides({
    "workload.duration_ms": DURATION_MS,
    "workload.read_fraction": 1.0,
    "workload.keys.key_count": KEY_COUNT,
})
TTL_MS, IDLE_MS = 15_000, 5_000
variants = {
    "TTL 15 s": {"workload.ttl_ms": TTL_MS, "workload.max_idle_ms": 0},
    "max-idle 5 s": {"workload.ttl_ms": 0, "workload.max_idle_ms": IDLE_MS},
    "both": {"workload.ttl_ms": TTL_MS, "workload.max_idle_ms": IDLE_MS},
}
results = {name: run(base.with_overrides(o), record_operations=True) for name, o in variants.items()}

# %%
# NBVAL_CHECK_OUTPUT
MIB = 1024 * 1024
summary = pd.DataFrame({name: r.summary for name, r in results.items()}).T.astype(
    {"mean_size": float, "mean_expired_present": float, "mean_cost_bytes": float}
)
summary["mean_live"] = summary.mean_size - summary.mean_expired_present
summary["mean_cost_mib"] = summary.mean_cost_bytes / MIB
columns = ["hit_ratio", "mean_size", "mean_live", "mean_expired_present", "mean_cost_mib",
           "expired_ttl", "expired_max_idle"]
print(summary[columns].astype(float).round(3).to_string())

# %% [markdown]
# The TTL keeps every entry 15 s after its fill, read or not, so it holds the most live
# entries and hits most. Max-idle drops an entry 5 s after its last read: the rarely read
# keys leave early, popular ones never. With both, an entry leaves at whichever deadline
# comes first. Each run also holds **expired entries nobody has removed yet**
# (`mean_expired_present`): they are found only by a read or by the sweep (10 % every 5 s),
# and under max-idle many of them are tail keys that nobody reads. They still cost memory.
# Notebook 04 is about that.

# %%
timelines = {
    name: r.timeline.assign(
        live=r.timeline["size"] - r.timeline.expired_present,
        cost_mib=r.timeline.cost_bytes / MIB,
    )
    for name, r in results.items()
}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
plots.plot_timelines_overlay(timelines, "live", ax=ax1, ylabel="live entries")
for (name, timeline), line in zip(timelines.items(), ax1.get_lines()):
    ax1.plot(timeline.time_ms / 1000, timeline.expired_present, linestyle="--",
             color=line.get_color(), label=f"{name}: expired, not removed")
ax1.legend(fontsize=7, ncol=2)
ax1.set_ylabel("entries in memory")
ax1.set_title("Live and expired-but-present entries")
plots.plot_timelines_overlay(timelines, "cost_mib", ax=ax2,
                            ylabel="estimated cost (MiB)")
ax2.set_title("Memory held (all entries in memory)")
ax1.set_ylim(bottom=0)
ax2.set_ylim(bottom=0)
plt.show()

# %% [markdown]
# Under TTL nothing expires for the first 15 s, so the live count overshoots, then the
# first fills all expire together and it settles. Under max-idle the live count settles
# after 5 s, but the expired-and-unremoved entries keep piling up: by the end they outnumber
# the live ones, and they are why max-idle saves less memory than its live count suggests.
#
# Expirations by reason make the difference plain: one reason per single-limit run; with
# both limits, most entries leave by max-idle (the tail) and the rest by TTL (the keys read
# often enough never to idle out).

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), sharey=True, layout="constrained")
for ax, (name, timeline) in zip(axes, timelines.items()):
    plots.plot_expirations(timeline, ax=ax)
    ax.set_title(f"Expirations: {name}")
plt.show()

# %% [markdown]
# ## Which keys leave, and why
# The runs kept every operation (`record_operations=True`). `audit_expiry` replays that log
# against the two rules, independently of the store, and says for every read what state its
# entry should have been in: `live`, expired by `ttl` or by `max_idle`, or `absent` (never
# written yet). A correct store hits exactly the live reads.

# %%
audits = {
    name: audit_expiry(
        r.operations,
        ttl_ms=variants[name]["workload.ttl_ms"],
        max_idle_ms=variants[name]["workload.max_idle_ms"],
    )
    for name, r in results.items()
}

# %%
# NBVAL_CHECK_OUTPUT
for name, audit in audits.items():
    table = pd.crosstab(audit.state, audit.hit.map({True: "hit", False: "miss"}))
    print(f"--- {name}\n{table.to_string()}")

# %%
for name, audit in audits.items():
    served_expired = audit[audit.hit & (audit.state != "live")]
    missed_live = audit[~audit.hit & (audit.state == "live")]
    assert served_expired.empty, f"{name}: an expired entry was served"
    assert missed_live.empty, f"{name}: a live entry was missing"
assert results["TTL 15 s"].summary["expired_max_idle"] == 0
assert results["max-idle 5 s"].summary["expired_ttl"] == 0

# %% [markdown]
# Now group the misses on keys that had been written (the *refills*) by key popularity:
# keys are ranked 0 (most popular) to 9,999. The 20 hottest keys are read several times a
# second each; the tail, a few times a minute (most of its keys twice a minute or less).

# %%
BANDS = [(0, 20, "hot: ranks 0-19"), (20, 500, "warm: 20-499"),
         (500, KEY_COUNT, f"tail: 500-{KEY_COUNT - 1}")]


def refills_by_band(audit):
    refills = audit[~audit.hit & audit.state.isin(["ttl", "max_idle"])]
    out = {}
    for low, high, label in BANDS:
        band = refills[(refills.key >= low) & (refills.key < high)]
        counts = band.state.value_counts()
        out[label] = {
            "ttl": int(counts.get("ttl", 0)) / (high - low),
            "max_idle": int(counts.get("max_idle", 0)) / (high - low),
        }
    return pd.DataFrame(out).T


refills = {name: refills_by_band(audit) for name, audit in audits.items()}

# %%
# NBVAL_CHECK_OUTPUT
for name, table in refills.items():
    print(f"--- {name}: refills per key over {DURATION_MS // 1000} s\n{table.round(2).to_string()}")

# %% [markdown]
# Under max-idle the hot keys are never refilled; under TTL they are refilled every 15 s
# like clockwork. The timing is the second cost: every hot key was filled in the first
# moments of the run, so they all expire in the same instant and miss together (a *refill
# storm* that a real cache would send to its database all at once). Below, left: the misses
# of the 20 hottest keys over time (max-idle's only spike is the cold start at t = 0).

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
bins = np.arange(0, DURATION_MS / 1000 + 0.5, 0.5)
styles = {"TTL 15 s": ("tab:blue", "-", 2.5), "max-idle 5 s": ("tab:orange", "-", 1.5),
          "both": ("tab:green", ":", 2.0)}
for name, r in results.items():
    ops = r.operations
    hot_misses = ops[(ops.op == "get") & ~ops.hit.astype(bool) & (ops.key < 20)]
    counts, _ = np.histogram(hot_misses.time_ms / 1000, bins=bins)
    colour, style, width = styles[name]
    ax1.step(bins[:-1], counts, where="post", color=colour, linestyle=style, linewidth=width,
             label=name)
ax1.set_xlabel("simulated time (s)")
ax1.set_ylabel("misses per 0.5 s")
ax1.set_title("Misses of the 20 hottest keys")
ax1.legend(fontsize=8)

table = refills["both"]
positions = np.arange(len(table))
ax2.bar(positions, table["ttl"], color="tab:orange", label="expired by TTL")
ax2.bar(positions, table["max_idle"], bottom=table["ttl"], color="tab:purple",
        label="expired by max-idle")
ax2.set_xticks(positions, table.index)
ax2.set_ylabel(f"refills per key in {DURATION_MS // 1000} s")
ax2.set_title("Both limits: why each popularity band is refilled")
ax2.legend(fontsize=8)
if SAVE_FIGURES:
    (ROOT / "docs" / "figures").mkdir(parents=True, exist_ok=True)
    fig.savefig(ROOT / "docs" / "figures" / "02_ttl_vs_max_idle.png", dpi=100)
plt.show()

# %%
hot = "hot: ranks 0-19"
assert refills["max-idle 5 s"].loc[hot].sum() == 0, "a hot key never idles out"
assert refills["TTL 15 s"].loc[hot, "ttl"] >= DURATION_MS // TTL_MS - 1, "TTL refills hot keys"
both = refills["both"]
assert both.loc[hot, "max_idle"] == 0 and both.loc[hot, "ttl"] > 0
tail = BANDS[-1][2]
assert both.loc[tail, "max_idle"] > 3 * both.loc[tail, "ttl"], "the tail leaves by max-idle"

# %% [markdown]
# ## What we saw
# * TTL bounds how **stale** an entry can be (time since its write); max-idle bounds how
#   long an **unused** entry holds memory (time since its last access). They answer different
#   questions, so Hazelcast and this store let you set both, per entry or store-wide.
# * Under TTL alone a hot key is refilled once per TTL period however often it is read,
#   and keys loaded together expire together. Under max-idle alone a hot key stays forever:
#   fine for memory, but its value may be arbitrarily old.
# * With both, the tail leaves by max-idle and the hot keys by TTL: each limit removes the
#   keys it was meant for.
# * The operation log lets us check the store from outside: every hit was a live entry, and
#   every miss on a written key was an expired one.
