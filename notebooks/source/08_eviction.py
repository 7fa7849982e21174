# %% [markdown]
# # 08 · What happens when the whiteboard is full?
#
# **Time:** 75 minutes. **You will:** hit the memory limit and read Redis's refusal; see what
# each eviction policy keeps; find out why Redis's LRU is *approximately* LRU and measure by
# how much; watch the LFU counter grow and fade; learn what a key costs in bytes; and pick a
# policy for a workload that scans.
#
# fakeredis has no memory limit at all (it stores `maxmemory` and never evicts), so every
# experiment here is written once against a redis-py client and runs on simlab's **Redis
# model** served at `model://`, which follows the server's source (`evict.c`): memory in bytes,
# sampling, a 16-entry pool, a one-second LRU clock, a logarithmic LFU counter. With a
# `redis-server` binary the same code also runs on a **private redis-server** that simlab
# starts and stops itself, and each table has a `source` column: `model` or `real`. Without
# one you still send real Redis commands (CONFIG SET, INFO, OBJECT FREQ...), to the model.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import eviction

REAL = simlab.live.redis_server_binary() is not None
SOURCE = "both" if REAL else "model"        # where the experiments run
print("private redis-server:", "available, experiments run on the model AND a real server"
      if REAL else "not found: the experiments run on the model, through redis-py (install "
      "redis-server to see a real server beside it)")

# %% [markdown]
# ## When nothing may be evicted: `noeviction`
#
# `noeviction` is Redis's default. When memory is above `maxmemory`, writes are refused with
# an error, while reads (and deletes) keep working. A cache that runs out of room this way
# starts failing every fill.

# %%
eviction.fill_until_oom("noeviction", limit=500_000, source=SOURCE).set_index("source")

# %% [markdown]
# The real server takes fewer keys than the model for the same limit: its own connection
# buffers (tens of kilobytes while a client talks to it) count against `maxmemory` too.

# %% [markdown]
# ## What a key costs
#
# `maxmemory` counts bytes, not keys. A key costs far more than its value: a hash-table entry,
# the key's own string, the value object, a share of the table's buckets, and a second entry
# if it has a TTL. Each piece is rounded up to the allocator's size classes.

# %%
memory = eviction.memory_per_key((10, 100, 1000), n_keys=1000, source=SOURCE)
memory.pivot(index=["value_bytes", "ttl"], columns="source", values="bytes_per_key")

# %%
ax = memory[memory["source"] == "model"].pivot(index="value_bytes", columns="ttl",
                                               values="bytes_per_key").plot.bar(figsize=(7, 4),
                                                                                rot=0)
ax.set(title="Memory per key in Redis (model; 12-byte key names)",
       xlabel="value size (bytes)", ylabel="bytes per key")
ax.legend(["no TTL", "with a TTL"]);

# %% [markdown]
# ## Approximated LRU against true LRU
#
# Exact LRU would need a linked list through every key. Redis instead samples a few keys
# (`maxmemory-samples`, 5 by default), keeps the best candidates in a 16-entry pool, and evicts
# the one idle longest, with idle time measured by a clock that ticks once a second.
#
# The experiment: write 8 batches of 250 keys, one second apart; freeze `maxmemory` at the
# memory in use; write as many new keys as half the old ones. True LRU evicts exactly the 4
# oldest batches. What does Redis keep of each batch?
#
# Nobody waits the 8 seconds: each key is written with `RESTORE ... IDLETIME n`, which sets
# the age Redis's LRU clock would have given it (the model answers `RESTORE` the same way).

# %%
size = dict(batch_size=250, new_keys=1000)
runs = pd.concat([
    eviction.batch_survival("allkeys-lru", 5, source=SOURCE, **size),
    eviction.batch_survival("allkeys-lru", 10, **size),
    eviction.batch_survival("allkeys-random", 5, **size)])
runs["run"] = runs["source"] + " " + runs["policy"] + ", samples " + runs["samples"].astype(str)
survival = eviction.true_lru_survival(**size).to_frame().join(
    runs.pivot(index="batch", columns="run", values="share"))
ax = survival.plot.bar(figsize=(9, 4), rot=0, width=0.85)
ax.set(title="Share of each batch kept after eviction (batch 0 is the oldest)",
       xlabel="batch (written one second apart)", ylabel="share of the batch still present")
ax.legend(fontsize=8);

# %% [markdown]
# With 5 samples Redis keeps a blurred LRU: some of the oldest keys survive and some recent
# ones go. With 10 samples it is closer to the true order; random eviction ignores age
# entirely. The model samples the way Redis does, runs of neighbouring hash-table buckets, and
# the course's tests check it against a real server within 0.10 per batch, at 5,000 keys a
# batch. This lesson writes 250 keys a batch to stay quick, and at that size a real server
# (when one ran above) keeps fewer old keys than the model: its client buffers, tens of KB,
# count against a `maxmemory` of under 200 KB here, and the model leaves client buffers out.
# The shape is the same: the oldest batches go first, blurred.

# %% [markdown]
# ## The LFU counter: logarithmic, and fading
#
# LFU needs a frequency per key, in 8 bits. Redis makes the counter *logarithmic*: a new key
# starts at 5, and each access adds one with probability 1 / ((counter - 5) × `lfu-log-factor`
# + 1). Every `lfu-decay-time` minutes without access, it loses one. Below, `OBJECT FREQ` on
# the model after N reads of a key. The counter grows at random, so each line is the median
# of 10 keys and its band their range; the stars are single keys measured on a real server
# for the default factor, and land inside the band (at 1,000 reads one key may read 16,
# another 23).

# %%
counts = [1, 10, 100, 1000, 10_000]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
for factor in (1, 10, 100):
    growth = eviction.lfu_counter_after(counts, lfu_log_factor=factor, runs=10)
    line, = left.plot(growth["accesses"], growth["median"], "o-",
                      label=f"lfu-log-factor {factor}")
    left.fill_between(growth["accesses"], growth["low"], growth["high"],
                      color=line.get_color(), alpha=0.15)
left.plot([100, 1000, 10_000, 100_000], [9, 22, 55, 145], "k*", ms=12,
          label="one key on a real server, factor 10")
left.set(xscale="log", title="LFU counter after N accesses", xlabel="accesses (log scale)",
         ylabel="counter (0-255)")
left.legend()
cache = simlab.redis_cache.RedisCache("allkeys-lfu", None, lfu_decay_time=1, rng=1)
cache.put("k", 0.0, None, 10)
for _ in range(10_000):
    cache.get("k", 0.0)
minutes = np.arange(0, 61)
right.plot(minutes, [cache.lfu_counter("k", m * 60.0) for m in minutes])
right.set(title="Decay: the same key left alone (lfu-decay-time 1)",
          xlabel="minutes without access", ylabel="counter");

# %% [markdown]
# ## Each policy's hit ratio
#
# A cache-aside workload (Zipf 1.0 over 5,000 keys, 5,000 requests, 100-byte values, every key
# with a TTL of an hour, so the `volatile-*` policies may evict any key) against a whiteboard of
# 250 kB, through each of the eight policies. `noeviction` keeps whatever came first and then
# refuses every fill; the others keep evicting.
#
# The requests go out in pipelined batches of 100 (the batch's reads, then a SET for each miss,
# as concurrent clients would do). With a private server they go to a real Redis first, and
# the model replays exactly those batches at the same times: compare the `real` and `model`
# columns.

# %%
w = simlab.zipf(5_000, 1.0, 5_000, value_size=100, ttl=3600.0, seed=3)
rows = []
for p in simlab.REDIS_POLICIES:
    figures = eviction.by_source(eviction.cache_aside(w, p, 250_000, source=SOURCE, seed=1))
    rows += [{"policy": p, "source": s, "hit ratio": f["hit_ratio"], "keys kept": f["keys"],
              "fills refused": f["oom_errors"]} for s, f in figures.iterrows()]
pd.DataFrame(rows).pivot(index="policy", columns="source").round(4)

# %% [markdown]
# `noeviction` does well here only because this workload never changes: the keys that arrive
# first are mostly the popular ones, and they stay popular. Its fills are refused from the
# moment memory is full, so any key that becomes popular later (a new product, today's news)
# is never cached, and every write that needs memory fails. The `volatile-*` policies act like
# their `allkeys-*` twins here because every key has a TTL; without TTLs they would have
# nothing to evict and behave like `noeviction`. With a private server, model and real server
# agree within a point or two; the real server keeps slightly fewer keys (its connection
# buffers count against `maxmemory` too).

# %% [markdown]
# ## Try it: sliders over the Redis model
#
# Pick a policy, a `maxmemory` and `maxmemory-samples`; the model runs 100,000 requests of a
# workload like the one above (Zipf 1.0 over 20,000 keys, 100-byte values, a TTL of an hour; each miss
# fills at once, as a Lua script would) and draws the hit ratio over the run, 5,000 requests
# at a time. Here the model is called directly, compiled, not through redis-py: a redraw takes
# a fraction of a second. If widgets do
# not run where you read this, the static figure below the sliders shows every policy at a
# few sizes.

# %%
import ipywidgets as widgets

slider_w = simlab.zipf(20_000, 1.0, 100_000, value_size=100, ttl=3600.0, seed=3)


def explore_policy(policy="allkeys-lru", maxmemory=1_000_000, samples=5):
    df = simlab.simulate(slider_w, policy=policy, maxmemory=maxmemory, samples=samples,
                               whiteboard=0.0, filing_room=0.0, seed=1)
    hits = (df["outcome"] == "hit").to_numpy().reshape(-1, 5_000).mean(axis=1)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(np.arange(1, len(hits) + 1) * 5_000, hits, marker="o")
    a = df.attrs
    ax.set(ylim=(0, 1), xlabel="requests", ylabel="hit ratio (per 5,000 requests)",
           title=f"{policy}, {maxmemory:,} B, samples {samples}: hit ratio "
                 f"{hits.mean():.3f}, {a['keys_at_end']:,} keys kept, "
                 f"{a['evictions']:,} evictions, {a['oom_errors']:,} fills refused")
    ax.grid(True, alpha=0.3)
    plt.show()


wide = widgets.Layout(width="640px")
style = {"description_width": "initial"}
memory_options = [100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 1_500_000,
                  2_000_000, 3_000_000]
widgets.interact(explore_policy,
                 policy=widgets.Dropdown(options=list(simlab.REDIS_POLICIES),
                                         value="allkeys-lru", description="policy",
                                         layout=wide, style=style),
                 maxmemory=widgets.SelectionSlider(options=memory_options, value=1_000_000,
                                                   description="maxmemory (bytes)",
                                                   continuous_update=False, layout=wide,
                                                   style=style),
                 samples=widgets.SelectionSlider(options=[1, 2, 3, 5, 10, 20, 64], value=5,
                                                 description="maxmemory-samples",
                                                 continuous_update=False, layout=wide,
                                                 style=style));

# %%
fig, ax = plt.subplots(figsize=(9, 4))
sizes = [200_000, 500_000, 1_000_000, 2_000_000]
for p in simlab.REDIS_POLICIES:
    ratios = [simlab.summarize(simlab.simulate(slider_w, policy=p, maxmemory=m,
                                                     whiteboard=0.0, filing_room=0.0,
                                                     seed=1))["hit_ratio"] for m in sizes]
    ax.plot(sizes, ratios, marker="o", label=p,
            ls="--" if p.startswith("volatile") else "-")
ax.set(xscale="log", ylim=(0, 1), xlabel="maxmemory (bytes, log scale)", ylabel="hit ratio",
       title="Static view: every policy at four sizes (samples 5, 100,000 requests)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(ncol=2, fontsize="small")
plt.show()

# %% [markdown]
# ## The same comparison on a real-like trace
#
# Zipf draws every request independently. Real traces do not: a key comes back microseconds
# later, a backup scans thousands of keys once, many keys are asked for only once, and the
# popular keys change over the day. `simlab.traces.real_like` makes a trace with all four
# (seeded, in a second). Its first 4,000 requests are replayed request for request (each batch's
# GETs, then a SET for each miss, 64-byte values) against a 150 kB whiteboard.

# %%
from simlab.traces import real_like

trace = real_like(4_000, seed=1)
rows = []
for p in ("allkeys-lru", "allkeys-lfu", "allkeys-random"):
    figures = eviction.by_source(eviction.replay(trace, p, 150_000, mode="plain",
                                                 source=SOURCE, seed=1))
    rows += [{"policy": p, "source": s, "hit ratio": f["hit_ratio"]}
             for s, f in figures.iterrows()]
pd.DataFrame(rows).pivot(index="policy", columns="source", values="hit ratio").round(4)

# %% [markdown]
# With a `redis-server` on this machine the table shows the model beside a private server;
# without one it shows the model only. On the real CloudPhysics block trace (113,872 requests,
# not shipped with the course) the course's fidelity report (`make fidelity`) measured, for
# allkeys-lru with 400,000 bytes, a hit ratio of 0.1735 on the server and 0.1744 in the model
# (2,146 and 2,154 keys held), and with 1,500,000 bytes 0.2513 and 0.2471.

# %% [markdown]
# ## When a scan comes through
#
# Now a Zipf 0.9 workload over 5,000 keys, but every 2,000 requests a report reads 1,500 keys
# once each (a scan), against a 200 kB whiteboard. Under LRU those one-off keys are the most recent, so they push out the popular
# ones. LFU's counter remembers that the popular keys are popular.

# %%
scans = eviction.scan_experiment(n_keys=5000, requests=4000, every=2000, length=1500,
                                 maxmemory=200_000)           # on the model
results = dict(zip(scans["policy"], scans["hit_ratio"]))
ax = pd.Series(results).plot.bar(figsize=(7, 4), rot=0)
ax.set(title="Hit ratio of the regular reads with periodic scans (model, 200 kB whiteboard)",
       xlabel="policy", ylabel="hit ratio of non-scan reads", ylim=(0, 1))
for i, value in enumerate(results.values()):
    ax.annotate(f"{value:.1%}", (i, value), ha="center", va="bottom")

# %% [markdown]
# ## Exercise: choose a policy, and say why with a number
#
# For the workload with scans above, which policy should the whiteboard use? Set `choice` to
# its name and `evidence` to its hit ratio on the regular reads (from `results`).

# %%
# BEGIN SOLUTION
# LEARNER: choice = None
# LEARNER: evidence = None
choice = max(results, key=results.get)
evidence = results[choice]
# END SOLUTION
simlab.checks.check_scan_policy(choice, evidence, results)

# %% [markdown]
# ## Exercise 2: how many keys fit?
#
# A whiteboard gets 10 MiB (10 x 2^20 bytes) for its data set. How many keys named like
# `key:00000001` (12 bytes), with 100-byte values and a TTL each, fit? Use
# `simlab.redis_memory.entry_bytes` for a key's bytes and remember the buckets: two tables
# (keys, and keys with a TTL), 8 bytes a bucket, a power of two at or above the key count.

# %%
from simlab import redis_memory

# BEGIN SOLUTION
# LEARNER: keys = None
per_key = redis_memory.entry_bytes(12, 100, has_ttl=True, shared_integers=False)
# about 45,000 keys fit, so each table has 65,536 (2**16) buckets
keys = (10 * 2**20 - 2 * 8 * 2**16) // per_key
# END SOLUTION
simlab.checks.check_keys_that_fit(keys)

# %% [markdown]
# ## What to remember
#
# - `maxmemory` is in bytes; a small key costs about 90 bytes, a TTL about 40 more.
# - `noeviction` (the default) refuses writes when full; reads and deletes still work.
# - Redis's LRU and LFU are approximations: sampled keys and a 16-entry pool; LRU measures
#   idle time with a clock that ticks once a second, LFU's counter decays by the minute.
#   More samples give a sharper LRU at more CPU per eviction.
# - LFU's counter is logarithmic and decays; it resists scans that flush an LRU cache.
# - `volatile-*` policies only evict keys with a TTL, and act like `noeviction` without them.
#
# **Next:** [09_invalidation_and_stampedes](09_invalidation_and_stampedes.ipynb).
