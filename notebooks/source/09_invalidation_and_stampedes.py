# %% [markdown]
# # 09 · How does the whiteboard go stale, and how do I stop a stampede?
#
# **Time:** 75 minutes. **You will:** measure how stale a TTL-only cache gets and compare it with
# deleting on every write; make cache-aside's stale-set race happen on purpose, every time, and
# fix it twice (versioned compare-and-set, leases); watch a hot key expire under load and send
# a crowd to the filing room, then stop the crowd four ways; and kill a whiteboard to count
# what write-behind loses.
#
# Every experiment runs twice: live (real commands from real threads, against fakeredis or
# your server) and simulated in virtual time.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import stampede as st
from simlab.live import invalidation as inv

r = simlab.connect()
clock = simlab.clock_for(r)
print(r.backend, "|", "virtual clock: jumps" if clock.controllable else
      "real clock: time compressed 20x")

# %% [markdown]
# ## 1. Delete on write, or let the TTL do it?
#
# Ten keys, each read 5 times a second and written once every 2 seconds. With **TTL only** a
# write changes the filing room and leaves the whiteboard's copy until it expires; with
# **delete on write** the writer also deletes the key. How many reads return a value the
# filing room has already replaced, and how long had it been outdated?

# %%
events = st.staleness_events(10, read_rate=5.0, write_rate=0.5, duration=10.0, seed=1)
live = pd.DataFrame([inv.staleness_live(r, clock, events, policy=p, ttl=t, time_scale=0.05)
                     for p, t in (("ttl", 0.5), ("ttl", 2.0), ("delete", 2.0))])
live

# %% [markdown]
# Under TTL only, a key read `l` times a second hits with probability `l·T / (1 + l·T)`, and a
# hit is stale when an update (rate `mu`) came since the fill: `1 - (1 - e^(-mu·T)) / (mu·T)`
# of hits. Their product is the share of *reads* that are stale. The formula (line), the
# simulation (dots) and the live run (crosses):

# %%
grid = np.logspace(-1.3, 1.3, 50)
big = st.staleness_events(50, read_rate=5.0, write_rate=0.5, duration=60.0, seed=2)
points = [0.1, 0.5, 2.0, 8.0]
sim = [st.simulate_staleness(big, policy="ttl", ttl=t)["stale_share"] for t in points]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(grid, [st.ttl_only_staleness(5.0, 0.5, t)["stale_share"] for t in grid],
        label="TTL only: formula")
ax.plot(points, sim, "o", label="TTL only: simulation")
ax.plot(live["ttl"][:2], live["stale_share"][:2], "x", ms=10, label="TTL only: live")
deleted = [st.simulate_staleness(big, policy="delete", ttl=t)["stale_share"] for t in points]
ax.plot(points, deleted, "s", color="black", label="delete on write: simulation")
ax.axhline(live["stale_share"].iloc[2], color="black", ls=":", label="delete on write (live)")
ax.set(xscale="log", title="Stale reads against TTL (5 reads/s, 0.5 writes/s per key)",
       xlabel="TTL (s, log scale)", ylabel="share of reads that are stale")
ax.legend();

# %% [markdown]
# The simulation's table: how many reads were stale and how old their value was (the live
# table above has `mean_stale_age_s` too), and what delete-on-write pays in hit ratio.

# %%
pd.DataFrame([st.simulate_staleness(big, policy=pol, ttl=t)
              for pol in ("ttl", "delete") for t in points]).round(3)

# %% [markdown]
# Deleting on write brings staleness to zero here, at the cost of a few more misses. But only
# in this simple world: with concurrent readers, deleting is not enough, as the next section
# shows.
#
# ## Exercise 1: how stale is a TTL-only key?
#
# A key is read 12 times a minute (0.2 a second), the filing room changes it about once a
# minute (`mu = 1/60` per second), and it is cached for 30 s without deletes. What share of
# its **reads** return an outdated value?

# %%
# BEGIN SOLUTION
# LEARNER: stale_share = None
import math
l, mu, T = 0.2, 1 / 60, 30.0
stale_share = l * T / (1 + l * T) * (1 - (1 - math.exp(-mu * T)) / (mu * T))
# END SOLUTION
simlab.checks.check_stale_read_share(stale_share)

# %% [markdown]
# ## 2. The stale-set race
#
# Cache-aside with delete-on-write has a known race. A reader misses and reads the row
# (version 1); before it writes the whiteboard, a writer updates the row (version 2) and
# deletes the key; then the reader's SET lands, with version 1, and stays until its TTL.
# Usually the window is microseconds wide; a slow network or a garbage-collection pause
# widens it. Here two real clients (threads) run it with the reader paused exactly there:

# %%
race = pd.DataFrame([inv.stale_set_race(r, fix) for fix in inv.FIXES]).set_index("fix")
race[["reader_read", "fill_landed", "served", "served_value", "filing_room", "stale"]]

# %% [markdown]
# Without a fix the whiteboard serves the old email for the rest of its TTL. Two fixes, each
# in the same certain interleaving:
#
# - **cas**, a versioned compare-and-set: values carry the row's version; the writer leaves a
#   *tombstone* with the new version instead of a bare delete; a Lua script fills only if no
#   newer version is stored, so the reader's late version 1 is refused.
# - **lease**, as in Facebook's memcache (Nishtala et al., NSDI 2013): a miss gets a token
#   (`SET key:lease token NX PX`), a fill is accepted only with a valid token (Lua), and the
#   writer's delete removes the lease too, so the late fill's token is no longer valid. A
#   second reader that misses while the lease is out waits instead of querying: the same
#   mechanism damps stampedes.
#
# How often does the race strike without the pause? Three readers and a writer at random,
# each reader pausing up to 2 ms between its read and its fill (counts vary run to run):

# %%
pd.DataFrame([inv.race_frequency(r, fix, readers=3, reads=60, writes=20, seed=3)
              for fix in inv.FIXES]).set_index("fix")

# %% [markdown]
# ## 3. The stampede
#
# A hot key read 1,000 times a second expires. Its recompute (a report, a join) takes 100 ms.
# Until the first recompute fills the key, *every* request misses and starts the same query:
# about `rate x recompute` = 100 of them at once. The mitigations:
#
# | strategy | how | cost |
# | --- | --- | --- |
# | none | every miss recomputes | a spike of ~rate x recompute queries |
# | lock | `SET key:lock token NX PX`; the others poll; the owner releases (Lua compares the token) | waiters wait a recompute |
# | xfetch | recompute early with probability `exp(-tau / (beta * delta))` at `tau` before expiry | a few extra recomputes |
# | swr | a soft TTL inside the value: past it, serve stale while one client refreshes | stale reads |
#
# Simulated, the filing-room load around the first expiry (at 2 s):

# %%
runs = {s: st.simulate_stampede(rate=1000, recompute=0.1, ttl=2.0, duration=10.0,
                                strategy=s, seed=1) for s in st.STRATEGIES}
fig, ax = plt.subplots(figsize=(8, 4))
# lock and swr each start one query at the expiry: drawn thick and thin so that both show
styles = {"none": {}, "lock": {"lw": 5, "alpha": 0.5}, "xfetch": {}, "swr": {"ls": "--"}}
for name, run in runs.items():
    load = run.load(bin_s=0.02)
    near = load[(load["time"] > 1.0) & (load["time"] < 2.6)]
    ax.step(near["time"], near["queries_per_s"], where="post", label=name,
            **styles.get(name, {}))
ax.set(title="Filing-room queries around the expiry (simulated, 1,000 req/s, 100 ms recompute)",
       xlabel="time (s)", ylabel="queries started per second")
ax.legend();

# %%
pd.DataFrame([run.summary() for run in runs.values()]).set_index("strategy")[
    ["recomputations", "max_concurrent_recomputations", "p99_ms", "stale_reads", "waits"]]

# %% [markdown]
# `none` starts about 100 queries per expiry; `lock` exactly one, but the waiters' p99 is a
# recompute long; XFetch recomputes *before* the expiry (nobody waits) at the price of a
# few extra queries; SWR never makes anyone wait and pays with stale reads.
#
# **XFetch in theory.** A request `tau` seconds before expiry recomputes with probability
# `exp(-tau / (beta*delta))`. Under Poisson requests at rate `l`, the first trigger comes on
# average `beta*delta*(ln(l*beta*delta) + 0.577)` before expiry, and while it runs (`delta`)
# others trigger too: `e^(1/beta)` recomputations per expiry. Against the simulation:

# %%
rows = []
for beta in (1.0, 2.0):
    theory = st.xfetch_expected(1000, 0.02, beta)
    got = st.simulate_stampede(rate=1000, recompute=0.02, ttl=0.5, duration=150,
                               strategy="xfetch", beta=beta, seed=4).summary()
    rows.append({"beta": beta, "recomputes/expiry (theory)": theory["recomputations_per_expiry"],
                 "recomputes/expiry (sim)": got["recomputations_per_expiry"],
                 "lead ms (theory)": theory["lead_time_s"] * 1000,
                 "lead ms (sim)": got["mean_lead_s"] * 1000})
pd.DataFrame(rows).round(3)

# %% [markdown]
# **Keys set together expire together.** 500 keys warmed at the same moment with a TTL of
# 60 s all come back to the filing room at once, every minute. A random extra of up to 10%
# on each TTL spreads them out:

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
for jitter in (0.0, 0.1):
    starts = st.jitter_recomputes(n_keys=500, ttl=60.0, jitter=jitter, recompute=0.1,
                                  duration=300.0, seed=1)
    ax.hist(starts, bins=np.arange(0, 300, 1.0), histtype="step", label=f"jitter {jitter:.0%}")
ax.set(yscale="log", title="Refills of 500 keys set together (TTL 60 s)",
       xlabel="time (s)", ylabel="refills per second (log scale)")
ax.legend();

# %% [markdown]
# **Live, beside its simulation.** Twelve real clients (threads) read a hot key with a TTL of
# 0.4 s and a recompute of 50 ms, for one second each strategy. Here the crowd is at most the
# number of clients. Dashed: the same hot key simulated at the request rate the live run
# reached, with at most 12 requests in progress (`clients=12`). Timings depend on this machine:

# %%
live_runs = {s: inv.live_stampede(r, s) for s in st.STRATEGIES}
twins = {s: st.simulate_stampede(rate=run.summary()["requests"] / 1.0, recompute=0.05,
                                 ttl=0.4, duration=1.0, strategy=s, clients=12, seed=1)
         for s, run in live_runs.items()}
fig, axes = plt.subplots(2, 2, figsize=(9, 5.5), sharex=True, sharey=True)
for ax, s in zip(axes.flat, st.STRATEGIES):
    for run, style, label in ((live_runs[s], "-", "live"), (twins[s], "--", "simulated")):
        load = run.load(bin_s=0.02)
        ax.step(load["time"], load["queries_per_s"], style, where="post", label=label)
    ax.set(title=s, xlabel="time (s)", ylabel="queries started per second")
axes[0, 0].legend()
fig.suptitle("Filing-room queries, live (12 clients) and simulated (TTL 0.4 s, 50 ms recompute)")
fig.tight_layout()

# %%
columns = ["requests", "recomputations", "max_concurrent_recomputations", "stale_reads"]
rows = [{**run.summary(), "source": source}
        for source, group in (("live", live_runs), ("simulated", twins))
        for run in group.values()]
pd.DataFrame(rows).set_index(["strategy", "source"])[columns].sort_index()

# %% [markdown]
# ## Exercise 2: release only your own lock
#
# A lock holder that takes longer than the lock's TTL loses the lock; another client takes
# it. If the first one then deletes the key, it deletes the *other* client's lock. Write
# `release(r, lock_key, token)` that deletes the lock only if it still holds `token`, and
# returns whether it did. The check makes the lock change hands between your round trips.

# %%
# BEGIN SOLUTION
# LEARNER: def release(r, lock_key, token):
# LEARNER:     ...
# LEARNER:
# LEARNER: release = None  # delete this line when you have written the function
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def release(r, lock_key, token):
    return bool(r.eval(RELEASE_LUA, 1, lock_key, token))
# END SOLUTION


simlab.checks.check_release(release)

# %% [markdown]
# ## Exercise 3: how big is the crowd?
#
# A key is read 2,000 times a second; its recompute takes 250 ms. With no protection, how many
# recomputations start at one expiry?

# %%
# BEGIN SOLUTION
# LEARNER: concurrent = None
concurrent = 2000 * 0.25
# END SOLUTION
simlab.checks.check_stampede_size(concurrent)

# %% [markdown]
# ## 4. Write-through and write-behind
#
# **Write-through** writes the filing room first, then the whiteboard, then says "saved": the
# filing room always has what was acknowledged. **Write-behind** writes the whiteboard (the
# value and a queue entry, in one MULTI/EXEC), says "saved", and a flusher moves the queue to
# the filing room every 50 ms: fast, but for up to 50 ms the data exists only on the
# whiteboard. We start a private server without persistence and kill it (SIGKILL) after 300
# acknowledged writes:

# %%
try:
    modes = inv.write_modes(writes=400, kill_after=300, flush_interval=0.05)
except simlab.live.RedisServerNotFound:
    print("No redis-server on this machine, so this is simulated instead of killed for real.")
    modes = pd.DataFrame([st.simulate_write_behind_crash(rate=1000, flush_interval=0.05,
                                                         crash_at=0.3, seed=1)]).set_index("mode")
modes

# %% [markdown]
# Write-through loses nothing acknowledged; write-behind loses what arrived since the last
# flush. The window (how long a write lived only on the whiteboard) is the price of its speed.
#
# ## Exercise 4: what does a crash cost, on average?
#
# Writes arrive at 200 a second, and write-behind flushes every 0.5 s. The whiteboard
# crashes at a random moment. How many acknowledged writes are lost, on average?

# %%
# BEGIN SOLUTION
# LEARNER: expected_lost = None
expected_lost = 200 * 0.5 / 2
# END SOLUTION
simlab.checks.check_write_behind_loss(expected_lost)

# %% [markdown]
# ## What to remember
#
# - TTL-only staleness is the hit ratio times `1 - (1 - e^(-mu T)) / (mu T)`; delete-on-write
#   removes it, except for the stale-set race.
# - The race (read old, writer deletes, late SET) is fixed by fills that cannot go backwards:
#   versions with a compare-and-set, or leases that a delete invalidates.
# - A hot key's expiry sends `rate x recompute` queries at once. A lock makes it one (and
#   makes others wait); XFetch recomputes early with a few extra queries; stale-while-
#   revalidate serves stale data; jitter keeps keys set together from expiring together.
# - Write-behind acknowledges before the filing room has the data: a crash loses the queue.
#
# **Next:** [10_durability](10_durability.ipynb): can I keep data only in Redis?

# %%
if clock.controllable:
    clock.uninstall()
simlab.cleanup(r);
