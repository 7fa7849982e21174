# %% [markdown]
# # 10 · Can I keep data only on the whiteboard?
#
# **Time:** 60 minutes. **You will:** crash real Redis servers with `kill -9` in the middle of
# a stream of writes and count the acknowledged writes that did not come back, for each
# persistence setting; see why a process crash and a power cut lose different things; measure
# what durability costs in throughput, latency and restart time; fail over to a replica and
# count again; watch a cache climb back after a restart; and end with the course's own
# "Redis vs the database" table, built from numbers this course measured.
#
# The whiteboard gets wiped: that was one of the warnings the course started from. Here we
# wipe it on purpose. Every crash happens to a **private redis-server** that simlab starts in
# a temporary folder, crashes, restarts on the same folder and removes. Beside every
# measurement sits a model of it (`simlab.durability`), and the figures of a **reference
# run** (`data/durability_reference.json`) made on the course's machine with this command:
#
# ```
# .venv/bin/python -m simlab.live.durability data/durability_reference.json
# ```

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import durability
from simlab.live import durability as live

REAL = simlab.live.redis_server_binary() is not None
ref = live.load_reference()
print("private redis-server:", "available: the crashes below are real, the reference run "
      "beside them" if REAL else "not found: this notebook shows the model and the reference "
      "run's figures (install redis-server to crash servers of your own)")
print(f"reference run: {ref['date']}, redis-server {ref['machine']['redis_server']}, "
      f"{ref['machine']['cpus']} cores shared with other work (load average "
      f"{ref['machine']['load_average'][0]:.0f})")

# %% [markdown]
# ## 1. A process crash
#
# Redis can keep a copy of the whiteboard on disk in two ways:
#
# - **RDB**: a snapshot of everything, written by a forked child every so often (`save 60
#   1000`: after 60 seconds if at least 1000 keys changed; here `save 1 1`, so that it happens
#   within the experiment);
# - **AOF**, the append-only file: every write is appended to a log, and `appendfsync` says
#   how often Redis forces the log onto the disk with `fsync`: `always` (before it answers),
#   `everysec` (once a second, in the background) or `no` (whenever the kernel gets to it).
#
# The experiment: one client writes `wb:dur:0`, `wb:dur:1`, ... at 2,000 writes a second and
# logs every write the server acknowledged. At a random moment the server gets `kill -9`: no
# chance to save anything. It is restarted on the same folder, and we count the acknowledged
# writes that are missing. `model_lost` is what the model predicts. (RDB's crash comes halfway
# through a snapshot cycle after its first snapshot, about 3 s in; the others' within their
# first 0.6 s.)

# %%
if REAL:
    crashes = live.crash_table(write_rate=2000, duration=0.6, seed=10, rdb_phase=0.5)
    crash_source = "this run"
else:
    crashes = ref["process_crash"]
    crash_source = "reference run"
crashes[["acknowledged", "lost", "model_lost", "restart_s", "write_p99_ms", "crash_at"]].round(3)

# %%
ax = crashes[["acknowledged", "lost"]].plot.bar(figsize=(8, 4), rot=0, logy=True)
ax.set(title=f"kill -9 in the middle of a stream of writes ({crash_source})",
       xlabel="persistence", ylabel="writes (log scale)");

# %% [markdown]
# Without persistence the restarted server is empty: every write is gone. With RDB the writes
# since the last snapshot are gone. With **every** AOF policy, even `appendfsync no`, nothing
# acknowledged is lost. Why, when `everysec` only forces the file to disk once a second?
#
# Because Redis calls `write()` on the AOF before it sends the reply. Once `write()` returns,
# the bytes are in the operating system's **page cache**: memory that belongs to the kernel,
# not to the Redis process. Killing the process does not touch it; the kernel writes those
# pages to the disk a few seconds later as it always does, and the restarted server reads them
# back (from the page cache, even before they reach the disk). `fsync` matters only when the
# kernel itself goes down: that is the next section.

# %% [markdown]
# ### Exercise 1: which settings survived?
#
# Set `survivors` to the set of policies that lost **no** acknowledged write in the crash
# table above (for example `{"none", "rdb"}`).

# %%
# BEGIN SOLUTION
# LEARNER: survivors = None
survivors = set(crashes.index[crashes["lost"] == 0])
# END SOLUTION
simlab.checks.check_survivors(survivors, crashes)

# %% [markdown]
# ### RDB: the writes since the last snapshot
#
# Redis checks its `save` points ten times a second and compares whole seconds, so with
# `save 1 1` and a steady stream of writes a snapshot starts every 2 seconds. A crash loses the
# writes since the last snapshot that **completed**: anything from nothing to a whole period,
# half a period on average. The reference run crashed a server 20 times at moments spread
# evenly over the snapshot cycle. Whenever no snapshot was in progress, the count lost equals
# `INFO persistence`'s `rdb_changes_since_last_save` read just before the crash; a crash
# during a snapshot loses that many, or fewer if the snapshot reached the disk first.

# %%
rdb = ref["rdb_crashes"]
period = durability.snapshot_period(1)
phase = np.arange(len(rdb)) / len(rdb)
ax = plt.figure(figsize=(8, 4)).gca()
ax.plot(phase * period, rdb["lost"], "o", label="measured (reference run): writes lost")
ax.axhline(rdb["lost"].mean(), color="C0", ls=":", label="measured mean")
ax.axhline(rdb["model_lost"].mean(), color="C1", label="model: write rate x period / 2")
ax.set(title="RDB with save 1 1, 1,000 writes a second: a crash at each point of the cycle",
       xlabel="crash moment within the 2-second snapshot cycle (s, shifted)",
       ylabel="acknowledged writes lost")
ax.legend(fontsize=8)
idle = ~rdb["save_in_progress"]
print(f"mean lost {rdb['lost'].mean():,.0f}, model {rdb['model_lost'].mean():,.0f}; "
      f"lost == rdb_changes_since_last_save in "
      f"{(rdb['lost'] == rdb['changes_since_save'])[idle].sum()} of the {idle.sum()} crashes "
      "with no snapshot in progress")

# %% [markdown]
# ## 2. A machine crash: what the page cache held
#
# When the machine loses power, the page cache goes too. What Redis had written but the
# kernel had not yet put on the disk is lost:
#
# - `appendfsync always`: nothing acknowledged (each write is on disk before the reply);
# - `everysec`: about the last second (up to 2 seconds if the disk is slow: Redis then
#   postpones writes rather than stall);
# - `no`: whatever the kernel has not written back. Linux writes a dirty page back once it is
#   older than `vm.dirty_expire_centisecs`, checking every `vm.dirty_writeback_centisecs`:
#   up to half a minute with the defaults.
#
# **This part is the model; nothing below cuts the power.** A real test needs a filesystem
# that can drop what was not fsync-ed (LazyFS), or a disk one can cut (a loop device or
# `dm-flakey`), which need root and kernel modules that a course machine or a laptop does not
# offer. The kernel's settings are read from this machine:

# %%
print("this machine:", durability.kernel_writeback())
losses = durability.loss_table(write_rates=(100, 1_000, 10_000), save_seconds=60)
losses.round(2)

# %%
rates = np.logspace(1, 5, 17)
ax = plt.figure(figsize=(8, 4)).gca()
for policy in ("rdb", "aof-no", "aof-everysec"):
    ax.plot(rates, [durability.expected_loss(policy, x, "machine", save_seconds=60)
                    for x in rates], label=policy + (" (save 60 1)" if policy == "rdb" else ""))
ax.set(xscale="log", yscale="log", title="Writes lost by a power cut at a random moment "
       "(model; AOF always: none)", xlabel="write rate (writes a second, log scale)",
       ylabel="acknowledged writes lost (log scale)")
ax.legend();

# %% [markdown]
# ### Exercise 2: a power cut under `everysec`
#
# A service writes 2,000 times a second with `appendfsync everysec`. The machine loses power
# at a random moment. How many acknowledged writes are lost, on average? Set `lost`.

# %%
# BEGIN SOLUTION
# LEARNER: lost = None
lost = 2000 * durability.loss_window("aof-everysec", "machine")["mean"]
# END SOLUTION
simlab.checks.check_machine_crash_loss(lost, write_rate=2000, policy="aof-everysec")

# %% [markdown]
# ## 3. The price
#
# ### Writes
#
# One client writes back to back for a moment under each policy, on a private server whose
# files are in this machine's temporary folder. `always` waits for the disk on every write.

# %%
if REAL:
    price = live.price_table(seconds=0.2)
    price_source = "this run"
else:
    price = ref["price"]
    price_source = "reference run"
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
price["writes_per_s"].plot.bar(ax=left, rot=0, logy=True)
left.set(title=f"Writes a second, one client ({price_source})", xlabel="persistence",
         ylabel="writes a second (log scale)")
price[["p50_ms", "p99_ms"]].plot.bar(ax=right, rot=0, logy=True)
right.set(title="Write latency", xlabel="persistence", ylabel="ms (log scale)")
price.round(3)

# %% [markdown]
# `always` is bounded by how fast this disk completes an `fsync`: a few hundred a second on a
# shared cloud disk, many thousands on a local NVMe drive with a power-loss-protected cache.
# `everysec` and `no` stay close to no persistence, until the disk falls behind. (On a shared
# machine the numbers move from run to run; the reference run's are below.)

# %%
ref["price"].round(3)

# %% [markdown]
# ### Restarts
#
# A restarted Redis answers nothing (`LOADING`) until it has read its whole file. RDB is a
# compact binary image; an AOF without its RDB preamble replays every command. The reference
# run measured both up to a few hundred megabytes, on a busy shared machine: the points
# scatter with the other work, and an idle machine can load ten times faster or more (with a
# server, this notebook adds a small size of its own: compare its squares with the lines).
# Read the plot per data set, not per megabyte: the same keys make an RDB file several times
# smaller than an AOF, so RDB's line sits higher per megabyte, and yet the same data set
# loads sooner from RDB.

# %%
loads = ref["load_time"].assign(source="reference run")
if REAL:
    mine = pd.DataFrame([live.load_time(fmt, 50_000) for fmt in ("rdb", "aof")])
    loads = pd.concat([loads, mine.assign(source="this run")], ignore_index=True)
ax = plt.figure(figsize=(8, 4)).gca()
for (fmt, source), rows in loads.groupby(["format", "source"]):
    ax.plot(rows["disk_bytes"] / 1e6, rows["load_s"], "o-" if source == "reference run"
            else "s", label=f"{fmt.upper()}, {source}")
ax.set(xscale="log", yscale="log", title="Time to load the data set at restart",
       xlabel="file on disk (MB, log scale)", ylabel="load time (s, log scale)")
ax.legend()
loads.round(3)

# %% [markdown]
# ### AOF rewrite
#
# An AOF keeps every write, so a key written 20 times is in it 20 times. `BGREWRITEAOF` (run
# by itself when the file has doubled: `auto-aof-rewrite-percentage 100`) writes a fresh file
# with one command per key, in a forked child.

# %%
rewrite = live.aof_rewrite(keys=1000, updates=20) if REAL else ref["aof_rewrite"]
print(f"{rewrite['writes']:,} writes to {rewrite['keys']:,} keys: AOF "
      f"{rewrite['aof_bytes_before'] / 1e6:.2f} MB before the rewrite, "
      f"{rewrite['aof_bytes_after'] / 1e6:.2f} MB after, in {rewrite['rewrite_s']:.2f} s")

# %% [markdown]
# ### Exercise 3: how long is a 5 GB restart?
#
# A whiteboard's RDB file is 5 GB (5e9 bytes). From the reference run's RDB load times
# (`ref["load_time"]`), fit a straight line (`durability.fit_load_rate(sizes, seconds)`) and
# predict the load time with `durability.restart_seconds`. Set `seconds`.

# %%
# BEGIN SOLUTION
# LEARNER: seconds = None
rows = ref["load_time"][ref["load_time"]["format"] == "rdb"]
fit = durability.fit_load_rate(rows["disk_bytes"], rows["load_s"])
seconds = float(durability.restart_seconds(5e9, **fit))
# END SOLUTION
simlab.checks.check_restart_time(seconds, ref["load_time"], 5e9, fmt="rdb")

# %% [markdown]
# ## 4. Replication is not durability either
#
# A replica receives the primary's writes **after** the primary has answered the client.
# Kill the primary, promote the replica (`REPLICAOF NO ONE`), and whatever was still on its
# way is lost: write rate x replication lag. On loopback the lag is a fraction of a
# millisecond, so little or nothing is lost; across a network, under load, or while the
# replica is resyncing, it is more. `INFO replication`'s offsets bound the loss: the bytes the
# primary had sent that the replica never got.
#
# One more trap, found while writing this lesson: right after a replica's first full sync, the
# primary holds the stream back until the replica's first acknowledgement (up to a second). A
# primary killed in that second lost every write it had acknowledged since, even with the
# replica listed as `online`. `failover` starts writing only once a first write is confirmed
# by `WAIT`.
#
# `WAIT 1 timeout` after a write blocks until one replica has it: what was acknowledged
# *and* waited for survives the failover, at the price of a round trip to the replica on
# every write (and it still does not fsync anything).
#
# Three failovers below (with a server: yours now; without: the reference run). First a
# replica that keeps up: the primary is killed right after the writes and nothing is lost.
# Then a replica that falls behind, as one behind a congested link or in a long pause would:
# it is stopped (`SIGSTOP`) for the last 0.3 s of a stream of 64 KB writes, which the primary
# keeps acknowledging; the primary is killed, the replica resumes and is promoted. The kernel
# still delivers the few megabytes it had buffered for the replica; the rest of what the
# primary acknowledged is gone, and `lost` equals `bound_writes`, the loss the offsets
# predict. Last, the same with `WAIT 1 100` after every write: the writes the replica had not
# confirmed were never acknowledged, and none of the acknowledged ones is lost; look at what
# that did to `writes_per_s`.

# %%
failovers = live.failovers() if REAL else ref["failover"]
failovers.round(3)

# %%
print("model: a lag of 1 ms at 2,000 writes a second loses about",
      durability.replication_loss(2000, 1e-3), "writes; a lag of 1 s:",
      durability.replication_loss(2000, 1.0))

# %% [markdown]
# ## 5. What this means for a cache
#
# A cache can be rebuilt: everything on it is a copy of the filing room. After a restart
# without persistence it starts empty, and every request misses until the popular keys are
# back; the filing room takes that load at once. With an RDB snapshot it starts warm. Below,
# the simulation (Zipf 1.0 over 10,000 keys, a whiteboard of 1,000), and, with a server, the
# same on a private real one with the filing room behind it.

# %%
w = simlab.zipf(n_keys=10_000, alpha=1.0, n_requests=20_000, seed=10)
cold = simlab.hit_ratio_over_time(simlab.simulate(w, policy="lru", cache_size=1000, seed=1),
                                  window=1000)
fig, (ax, load) = plt.subplots(1, 2, figsize=(12, 4))
warm = cold["hit_ratio"].iloc[-5:].mean()
ax.plot(cold["request"], cold["hit_ratio"], label="simulated, restarted empty")
ax.axhline(warm, color="C0", ls=":", label="simulated, restarted warm (RDB)")
load.plot(cold["request"], (1 - cold["hit_ratio"]) * 1000, label="simulated, restarted empty")
load.axhline((1 - warm) * 1000, color="C0", ls=":", label="simulated, restarted warm (RDB)")
if REAL:
    room = simlab.filing_room()
    small = simlab.zipf(n_keys=500, alpha=1.0, n_requests=600, seed=10)
    for policy, style in (("none", "C2o-"), ("rdb", "C3s-")):
        curve = live.cold_start(policy, small, room, window=60)
        label = f"real server, {policy} (500 keys; requests x 20)"
        ax.plot(curve["request"] * 20, curve["hit_ratio"], style, ms=4, label=label)
        load.plot(curve["request"] * 20, curve["db_queries"] * 1000 / 60, style, ms=4,
                  label=label)
    room.close()
ax.set(title="Hit ratio after a restart", xlabel="requests since the restart",
       ylabel="hit ratio", ylim=(0, 1))
load.set(title="The filing room's load after a restart",
         xlabel="requests since the restart", ylabel="queries per 1,000 requests", ylim=(0, None))
ax.legend(fontsize=8)
load.legend(fontsize=8);

# %% [markdown]
# Every miss in the climb is a query on the filing room: after an empty restart, it gets the
# full load for a while (notebook 03's "without the whiteboard" line). If it cannot take that,
# the cache needs RDB (a warm start) or a gradual return of traffic. What about data that
# exists **only** on the whiteboard?
#
# | data | rebuildable? | what it needs |
# | --- | --- | --- |
# | cached copies | yes, from the filing room | nothing, or RDB for a warm start |
# | sessions (05) | no: users are logged out | AOF `everysec` (a second of logins at worst) |
# | rate-limit counters (06) | mostly: a reset gives everyone a fresh window once | nothing, or RDB |
# | queues (07) | no: jobs vanish | AOF `everysec` at least; `always` (or the database) if a job must never be lost |

# %% [markdown]
# ## 6. Redis vs the database, from this course's measurements
#
# Every cell below comes from a measurement made in this course (or the cited source), and the
# table is generated by code from the tables above.

# %%
durability.comparison_table(crashes, price, source=crash_source)

# %% [markdown]
# ## What to remember
#
# - Without persistence, a restart is empty. Treat the whiteboard as a copy, unless you
#   configure it otherwise.
# - A **process** crash loses no acknowledged write with any AOF policy: `write()` already put
#   it in the page cache. RDB loses the writes since the last completed snapshot.
# - A **machine** crash loses the page cache: about a second with `everysec`, up to half a
#   minute with `no`, nothing acknowledged with `always`, which costs an `fsync` per write.
# - Restarts take time in proportion to the data set; RDB loads faster than a plain AOF.
# - Replication is asynchronous: a failover can lose what the replica had not received.
#   `WAIT` narrows that window and is not an fsync.
# - Data that only lives on the whiteboard (sessions, queues) needs persistence chosen for
#   it; a cache needs at most a warm start.
#
# **Next:** [11_scaling_out](11_scaling_out.ipynb): one whiteboard is not enough.
