# %% [markdown]
# # 11 · What if one whiteboard is not enough?
#
# **Time:** 75 minutes. **You will:** start a Redis Cluster of your own; find which node a key
# lives on, and why two keys sometimes cannot be used together; watch a client being
# redirected while data moves between nodes under load; kill a node and time its replica's
# takeover; see why the hottest key makes one node hotter the more nodes you add; and put a
# small cache inside the client, kept fresh by the server.
#
# A single whiteboard has one machine's memory and one core's worth of commands. Redis
# Cluster splits the keys over several masters, each with replicas standing by. This lesson
# runs a **real cluster** of six private redis-servers (three masters, three replicas) that
# simlab starts on this machine, and the **simulation** takes the same questions to hundreds
# of shards.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import sharding
from simlab.live import cluster as live_cluster

REAL = simlab.live.redis_server_binary() is not None
print("private redis-server:", "available, the lesson starts a real local cluster" if REAL
      else "not found: this notebook shows the simulation only (install redis-server to run "
      "a real cluster beside it)")

# %% [markdown]
# ## 1. A cluster of your own
#
# `PrivateCluster(masters=3, replicas=1)` starts six servers in cluster mode on free loopback
# ports, gives each master a third of the **16,384 hash slots**, attaches one replica to each
# master, and waits until every node reports `cluster_state:ok`. Its node timeout is one second
# (Redis's default is 15), so a failover below takes seconds, not minutes. The cluster stops
# at the end of the notebook, and its servers die with this kernel if it dies first.

# %%
cluster = None
if REAL:
    tic = time.perf_counter()
    cluster = live_cluster.PrivateCluster(masters=3, replicas=1, node_timeout=1000).start()
    rc = cluster.client()          # redis-py's RedisCluster, through simlab's guard
    print(f"cluster up in {time.perf_counter() - tic:.1f} s")  # NBVAL_IGNORE_OUTPUT
    display(cluster.nodes()[["role", "master", "slots"]])

# %% [markdown]
# ## 2. Hash slots
#
# Every key belongs to one slot: `CRC16(key) mod 16384`, with CRC16 in its XMODEM variant. If
# the key contains a **hash tag**, a non-empty part between the first `{` and the first `}`
# after it, only the tag is hashed. `simlab.sharding.key_slot` is a dozen lines; the server
# answers the same question with `CLUSTER KEYSLOT`. Do they agree?

# %%
examples = ["user:42", "user:43", "{user:42}:cart", "{user:42}:profile", "{}:cart",
            "a{b}{c}", "{{user}}", "über", "123456789"]
table = pd.DataFrame({"key": examples, "key_slot": [sharding.key_slot(k) for k in examples]})
if REAL:
    node = cluster.node_client(0)
    table["CLUSTER KEYSLOT"] = [node.cluster("KEYSLOT", k) for k in examples]
table

# %% [markdown]
# The course's tests compare the two on 100,000 random keys (tags, empty tags, stray braces,
# Unicode, binary). Now the keys per node: 100,000 keys spread over three masters almost
# evenly, whatever their popularity, because the slot ignores popularity.

# %%
load = sharding.shard_load(3, n_keys=100_000, alpha=1.0)
load.assign(key_share=load["keys"] / load["keys"].sum()).round(3)

# %% [markdown]
# **Multi-key commands.** `MGET`, `MSET`, transactions and Lua scripts work in a cluster only
# when all their keys are in one slot; otherwise the node answers `CROSSSLOT`. A hash tag
# forces keys into one slot, which is the fix, and also the price: everything under one tag
# sits on one node. Below, the keys per shard when every 1,000 keys share a tag, and when a
# fifth of the keys (hot and cold alike) share one tag; from a terminal,
# `simlab cluster --shards 30 --hash-tags 0.2` gives the same numbers.

# %%
if REAL:
    node = cluster.node_client(cluster.owner(sharding.key_slot("user:42:cart")))
    try:
        node.execute_command("MGET", "user:42:cart", "user:42:profile")
    except simlab.live.client.redis.exceptions.ResponseError as exc:
        print("without a tag:", str(exc)[:60])
    node = cluster.node_client(cluster.owner(sharding.key_slot("{user:42}:cart")))
    print("with a tag:   ", node.execute_command("MGET", "{user:42}:cart", "{user:42}:profile"))
pd.concat({"no tags": sharding.shard_table((3, 30), n_keys=100_000),
           "1,000 keys per tag": sharding.shard_table((3, 30), n_keys=100_000,
                                                     keys_per_tag=1000),
           "a fifth of the keys, one tag": sharding.shard_table((3, 30), n_keys=100_000,
                                                               hash_tags=0.2)})[
    ["keys_per_shard_max", "keys_per_shard_mean", "load_max_over_mean"]].round(2)

# %% [markdown]
# ### Exercise 1: one user's keys together
#
# Name user 42's cart and profile keys so that one `MGET` can read both in a cluster, without
# putting every user's keys in the same slot.

# %%
# BEGIN SOLUTION
# LEARNER: cart_key = None
# LEARNER: profile_key = None
cart_key = "shop:{user:42}:cart"
profile_key = "shop:{user:42}:profile"
# END SOLUTION
simlab.checks.check_same_slot(cart_key, profile_key, user_id=42)

# %% [markdown]
# ## 3. Following MOVED
#
# A node asked for a key in a slot it does not serve answers `MOVED <slot> <host>:<port>`.
# A plain client shows that error to you; redis-py's `RedisCluster` keeps a map of slots to
# nodes, follows the redirection and updates its map.

# %%
if REAL:
    key = simlab.key("moved-demo")
    rc.set(key, "here")
    elsewhere = next(i for i in range(3) if i != cluster.owner(sharding.key_slot(key)))
    try:
        cluster.node_client(elsewhere).get(key)
    except simlab.live.client.redis.exceptions.MovedError as exc:   # the reply "MOVED ..."
        print("plain client:   MOVED", exc)
    print("RedisCluster:  ", rc.get(key))

# %% [markdown]
# **Resharding under load.** Moving a slot takes four steps: the target marks it `IMPORTING`,
# the source `MIGRATING`, the keys go over with `MIGRATE`, and every master is told the new
# owner (`SETSLOT NODE`). Meanwhile a key not yet moved is served by the source; one already
# moved gets an `ASK` redirection (ask the target, this once); once the slot has moved, a
# `MOVED`. Below, 100 slots holding 2,000 keys move while a thread reads and writes exactly
# those keys as fast as it can.

# %%
if REAL:
    slots = range(0, 1000, 10)
    reshard = live_cluster.reshard_under_load(cluster, slots, target=1, per_slot=20, seed=1)
    moved = pd.DataFrame([reshard], index=["resharding under load"])   # counts stay whole
    display(moved.round(3))  # NBVAL_IGNORE_OUTPUT

# %% [markdown]
# The client followed every `MOVED` and `ASK` by itself: the application saw no error and no
# acknowledged write was lost (each key still holds its last acknowledged value, or a later
# one).

# %% [markdown]
# ## 4. Failover
#
# Now a master dies (`kill -9`). Its replica notices the silence, waits for the node timeout,
# asks the other masters for a vote, and promotes itself. Until then the dead master's slots
# are served by nobody. Replication is asynchronous: the master answers the client without
# waiting for its replica, and the write travels down its **replication stream** on its own;
# a write acknowledged but not yet received by the replica dies with the master.
#
# How much did the replica have? Both sides count the stream in bytes: the master's
# `master_repl_offset` and the replica's `slave_repl_offset` (`INFO replication`). When the
# replica takes over, its `second_repl_offset - 1` is exactly the byte where the dead
# master's stream stopped for it. Every write is a `SET` of a known key and value, with a
# known length in the stream, so the bytes tell which writes the replica had.
#
# On loopback the replica reads as fast as the master writes, and next to nothing is lost.
# To watch writes get lost, the experiment first stops the replica for 0.4 s (`SIGSTOP`), as
# a congested link or an overloaded replica would, while a thread writes 10 kB values to the
# doomed master's keys, each to a key of its own. Then the kill.

# %%
if REAL:
    master = cluster.owner(0)
    failover, failover_log = live_cluster.failover_under_load(
        cluster, master, stall=0.4, value_size=10_000, seed=2)
    display(pd.Series(failover).to_frame("failover under load"))  # NBVAL_IGNORE_OUTPUT
    display(cluster.nodes()[["role", "master", "slots", "running"]])  # NBVAL_IGNORE_OUTPUT

# %% [markdown]
# The writes the master acknowledged, counted two ways: from the offsets alone, and by reading
# every one of them back from the new master.

# %%
if REAL:
    f = failover
    behind = f["master_offset_before_kill"] - f["replica_offset_at_kill"]
    print(f"master's offset just before the kill: {f['master_offset_before_kill']:>12,} bytes\n"
          f"replica's offset when it took over:   {f['replica_offset_at_kill']:>12,} bytes\n"
          f"difference / {f['bytes_per_write']:,.0f} bytes per SET:    "
          f"{behind / f['bytes_per_write']:>12,.1f} writes\n"
          f"acknowledged writes, then missing:     {f['acknowledged_writes_lost']:>12,}\n"
          f"the same writes as the offsets say:    {f['lost_writes_match_offsets']!s:>12}"
          )  # NBVAL_IGNORE_OUTPUT

# %%
if REAL:
    log = failover_log.assign(bucket=(failover_log["t"] // 0.1) * 0.1,
                              lost=lambda d: d["acked_by_old_master"] & ~d["replicated"])
    per_100ms = log.groupby("bucket").agg(acknowledged=("ok", "sum"),
                                          lost=("lost", "sum"),
                                          failed=("ok", lambda ok: int((~ok).sum())))
    ax = per_100ms.rename(columns={"lost": "acknowledged, then lost",
                                   "failed": "failed (nobody serves the slot)"}).plot(
        figsize=(9, 3.5), style=["-", "-", ":"])
    ax.set(title="Writes to the killed master's keys, per 100 ms",
           xlabel="seconds since the load started", ylabel="writes per 100 ms");

# %% [markdown]
# The lost writes are the last ones the master acknowledged, the ones after the replica's
# offset, all of them and only them: the bytes between the two offsets are those `SET`s (the
# quick division misses the write or two the master ran between its `INFO` and the kill).
# The master's own idea of where its replica was (`slave0:...offset=` in its `INFO`, from the
# replica's `REPLCONF ACK` once a second) lags much further behind.
#
# The gap in the plot is the failover: the node timeout (1 s here, 15 s by default) plus an
# election. An application that cannot afford the loss can follow a write with `WAIT 1 100`:
# it returns once one replica has the write (or after 100 ms, saying how many replicas have
# it), at the price of the replica's round trip on every write.

# %% [markdown]
# ## 5. Hot keys: one shard serves the hottest key
#
# Slots balance *keys*, not *requests*. Under Zipf the single hottest key carries a fixed share
# of all requests, and one shard must serve all of it. With more shards the mean load per
# shard falls as 1/N; the hottest shard's load does not fall below the hottest key's share.
# First, live: 20,000 Zipf-distributed reads through the cluster, counted on each master, and
# the simulation's prediction for the same requests and the cluster's current slot map.

# %%
w = simlab.zipf(100_000, 1.0, 20_000, seed=5)
names = [f"item:{k}" for k in w.keys]
if REAL:
    live = live_cluster.load_per_master(cluster, names)
    owners, masters = live_cluster.slot_owner_array(cluster)
    same = sharding.key_slots(names)
    live["simulated share"] = np.bincount(owners[same], minlength=len(masters)) / len(names)
    display(live.round(3))  # NBVAL_IGNORE_OUTPUT

# %% [markdown]
# Now the simulation from 3 to 1,000 shards, with and without a near cache of 100 keys in
# each client (section 6).

# %%
counts = (3, 10, 30, 100, 300, 1000)
plain = sharding.shard_table(counts, n_keys=100_000, alpha=1.0)
near = sharding.shard_table(counts, n_keys=100_000, alpha=1.0, near_cache=100)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(counts, plain["load_max_over_mean"], "o-", label="no near cache")
ax.plot(counts, near["load_max_over_mean"], "s-", label="near cache of 100 keys per client")
ax.plot(counts, counts, "k:", label="the whole load on one shard")
ax.set(xscale="log", yscale="log", title="Hottest shard's load over the mean (Zipf 1.0, "
       "100,000 keys)", xlabel="shards (log scale)", ylabel="max / mean load (log scale)")
ax.legend();
plain.round(3)

# %% [markdown]
# ### Exercise 2: the floor under the hottest shard
#
# With 64 shards and Zipf 1.0 over 100,000 keys, the hottest key's shard carries *at least*
# how many times the mean load per shard?
# (`simlab.workloads.zipf_probabilities(n_keys, alpha)` gives each key's share of the requests,
# hottest first.)

# %%
# BEGIN SOLUTION
# LEARNER: ratio = None
ratio = simlab.workloads.zipf_probabilities(100_000, 1.0)[0] * 64
# END SOLUTION
simlab.checks.check_hot_shard_ratio(ratio, n_shards=64, n_keys=100_000, alpha=1.0)

# %% [markdown]
# The fixes: keep the hottest values in the clients (section 6), read them from replicas
# (`READONLY` on a replica connection, at the price of replication lag), or split a hot key
# into copies `item:1#0`...`item:1#7` that land on different shards and pick one at random.

# %% [markdown]
# ## 6. A cache in the client
#
# A client can keep a few values in its own memory, a **near cache**: no round trip at all.
# The danger is staleness, and Redis helps: with `CLIENT TRACKING ON` the server remembers
# which keys this client read and pushes an `invalidate` message when one changes. On a RESP3
# connection the message arrives on the same connection, after the reply it invalidates, so a
# client that reads pending messages before answering locally never serves a value whose
# invalidation has arrived. redis-py 5.1+ has this built in
# (`Redis(protocol=3, cache_config=CacheConfig(...))`) for Redis 7.4 or later;
# `simlab.live.near_cache.NearCache` does it by hand, so it runs on any Redis since 6.0.
#
# Below, a near cache of 200 keys in front of one private server, on 5,000 Zipf reads over
# 5,000 keys, against the simulated LRU hit ratio of exactly the same reads.

# %%
from simlab.live.near_cache import NearCache

reads = simlab.zipf(5_000, 1.0, 5_000, seed=6)
read_names = [simlab.key("near", k) for k in reads.keys]
simulated = float(simlab.lru_curve(reads, sizes=[200])["hit_ratio"].iloc[0])
two_tier = sharding.near_cache_model(5_000, 1.0, 200)      # Che's approximation, below
result = {"near hit ratio, simulated (LRU, same reads)": simulated,
          "near hit ratio, two-tier model": two_tier["near_hit_ratio"]}
if REAL:
    with simlab.PrivateRedis() as server:
        writer = server.client()
        writer.mset({simlab.key("near", k): k for k in range(5_000)})
        with NearCache(server.url, max_keys=200, owned=True) as nc:
            run = nc.run(read_names)
            stale = nc.staleness(writer, simlab.key("near", 0), rounds=50)
    result["near hit ratio, live"] = run["near_hit"].mean()
    result["near hit, median latency (µs)"] = run.loc[run["near_hit"], "latency"].median() * 1e6
    result["round trip, median latency (µs)"] = (
        run.loc[~run["near_hit"], "latency"].median() * 1e6)
    result["staleness window after a write, median (µs)"] = np.nanmedian(stale) * 1e6
    result["mean read latency, live (µs)"] = run["latency"].mean() * 1e6
    result["mean read latency, two-tier model with these latencies (µs)"] = 1e6 * \
        sharding.near_cache_model(5_000, 1.0, 200, near_latency=run.loc[
            run["near_hit"], "latency"].mean(), whiteboard_latency=run.loc[
            ~run["near_hit"], "latency"].mean())["mean_latency"]
pd.Series(result).round(4).to_frame("near cache")  # NBVAL_IGNORE_OUTPUT

# %% [markdown]
# The live hit ratio equals the simulated one exactly: both are LRU over the same reads. The
# two-tier model, which needs no reads at all (Che's approximation over the popularity), is
# within about half a point of both; with the latencies measured here, its mean read latency
# is the live one's up to the cost of looking in the near cache before a round trip. The
# staleness window is the time from a write's acknowledgement to its invalidation reaching the
# reader: tens of microseconds on loopback, a network's one-way latency in production.
#
# The two-tier model: what share of reads a near cache answers, and the mean read latency, for
# near caches of growing size (Che's approximation for LRU, the round trip measured above when
# there is a server).

# %%
trip = result.get("round trip, median latency (µs)", 100.0) * 1e-6
sizes = [0, 10, 30, 100, 300, 1000, 3000]
model = pd.DataFrame([sharding.near_cache_model(100_000, 1.0, s, near_latency=2e-6,
                                                whiteboard_latency=trip) for s in sizes],
                     index=pd.Index(sizes, name="near cache (keys)"))
ax = (model["mean_latency"] * 1e6).plot(marker="o", figsize=(7, 3.5), logx=False)
ax.set(title="Mean read latency with a near cache (Zipf 1.0, 100,000 keys)",
       xlabel="near cache size (keys)", ylabel="mean latency (µs)");
model[["near_hit_ratio"]].round(3).T

# %% [markdown]
# ### Exercise 3: how big a near cache?
#
# For the 5,000 reads above (`reads`), what is the smallest LRU near cache, in keys, that
# answers at least half of them locally? (`simlab.lru_curve(reads, sizes=...)`.)

# %%
# BEGIN SOLUTION
# LEARNER: size = None
curve = simlab.lru_curve(reads, sizes=list(range(1, 1001)))
size = int(curve.loc[curve["hit_ratio"] >= 0.5, "size"].iloc[0])
# END SOLUTION
simlab.checks.check_near_cache_size(size, reads, target=0.5)

# %%
if cluster is not None:
    cluster.stop()

# %% [markdown]
# ## What to remember
#
# - A cluster hashes each key (or its `{hash tag}`) to one of 16,384 slots; each master
#   serves ranges of slots. Multi-key commands need one slot: tags give that, at the price of
#   balance.
# - Clients follow `MOVED` and `ASK` by themselves; data can move under load without errors or
#   lost writes.
# - A dead master costs about the node timeout plus an election in errors for its slots, and
#   the acknowledged writes its replica had not yet received: the two replication offsets say
#   exactly which.
# - Slots balance keys, not requests: under Zipf the hottest shard's share does not shrink
#   with more shards. A near cache in each client takes the hottest keys off the cluster, and
#   server-assisted invalidation keeps it fresh within a one-way trip.
#
# **Next:** [12_capstone](12_capstone.ipynb): design the caching for a real app.
