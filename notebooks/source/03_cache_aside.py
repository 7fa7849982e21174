# %% [markdown]
# # 03 · How does the whiteboard take load off the filing room?
#
# **Time:** 60 minutes. **You will:** run the cache-aside pattern for real, step by step; replay
# a whole workload against the real whiteboard and filing room; simulate the same workload and
# see the two agree request by request; and measure what the whiteboard saves: latency, and
# queries the filing room never sees.
#
# **Cache-aside**, the most common way to use Redis as a cache: the application checks the
# whiteboard first. On a **hit** it answers from there. On a **miss** it reads the filing room,
# writes the answer on the whiteboard (with a TTL), and answers. Writes go to the filing room
# and wipe the whiteboard's copy, so the next read fetches the new value.

# %%
import matplotlib.pyplot as plt
import numpy as np

import simlab

r = simlab.connect()
room = simlab.filing_room()
simlab.cleanup(r)
print(simlab.backend_banner(r, room))

# %% [markdown]
# ## One user, traced
#
# Here is cache-aside in full, as a function of the whiteboard `r`, the filing room `room` and a
# user id. It is all the pattern is: five lines of logic.

# %%
import inspect

print(inspect.getsource(simlab.live.get_user))

# %% [markdown]
# `CacheAside.get_user` does exactly this, and also prints and times each step. The first call
# misses and walks to the filing room; the second is answered at the door.

# %%
app = simlab.CacheAside(r, room, ttl=300, verbose=True)
user = app.get_user(42)
print()
user_again = app.get_user(42)
print("\nsame answer both times:", user == user_again, "|", user["name"], user["email"])

# %% [markdown]
# A write goes to the filing room and deletes the whiteboard's copy, so the next read is a
# miss that fetches the new value, rather than a hit on an old one. (The filing room keeps this
# lesson's writes in a private copy of the rows they touch: the shared data, other learners and
# your next run of this notebook still see the original user.)

# %%
app.update_user(42, city="Lisbon")
print("before the write:", user["city"], "| after the write:", app.get_user(42)["city"])
app.verbose = False

# %% [markdown]
# ## A whole workload, for real
#
# Real traffic is skewed: a few users are asked for far more than others. A Zipf workload with
# alpha = 1 over 5,000 users, 4,000 requests (one in ten a write: the filing room updated, the
# whiteboard's copy deleted), replayed against the real whiteboard and filing room, one after
# another. Every request is recorded in a table.

# %%
workload = simlab.zipf(5000, 1.0, 4000, read_fraction=0.9, seed=3)
simlab.cleanup(r)
live = simlab.CacheAside(r, room, ttl=300).run(workload)
simlab.results.in_ms(live).head()     # the table keeps seconds; shown here in ms

# %% [markdown]
# ## The same workload, simulated
#
# `simlab.simulate` runs the same model in virtual time: the same requests, a whiteboard large
# enough for every key, and latencies drawn from the production presets. Requests are served
# one after another here too, so the hits and misses must match the live run exactly.

# %%
sim = simlab.simulate(workload, cache_size=10_000, seed=3)
same = (live["outcome"].to_numpy() == sim["outcome"].to_numpy()).mean()
print(f"requests with the same outcome, live and simulated: {same:.1%}")
print("live      :", {k: round(v, 3) for k, v in simlab.summarize(live).items()
                      if k in ("hit_ratio", "p50_ms", "p99_ms")})
print("simulated :", {k: round(v, 3) for k, v in simlab.summarize(sim).items()
                      if k in ("hit_ratio", "p50_ms", "p99_ms")})

# %% [markdown]
# ## Warm-up: the whiteboard starts empty
#
# At first every key is new and every read misses; as the popular users get written on the
# whiteboard, the hit ratio climbs towards its steady state. Live (the line) and simulated (the
# dots) lie on top of each other, so the right panel shows their difference window by window.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
simlab.plots.hit_ratio_over_time({"live": live, "simulated": sim}, window=200, ax=left,
                                 title="Cache-aside warm-up: hit ratio per 200 reads")
left.lines[1].set(linestyle="none", marker="o", markersize=4)   # simulated: dots on the line
windows = {name: simlab.hit_ratio_over_time(df, window=200) for name, df in
           {"live": live, "simulated": sim}.items()}
gap = windows["live"]["hit_ratio"] - windows["simulated"]["hit_ratio"]
right.plot(windows["live"]["request"], gap, "o-", markersize=4)
right.set(title="Live minus simulated, per 200 reads", xlabel="reads so far",
          ylabel="difference in hit ratio", ylim=(-0.1, 0.1))
right.axhline(0, color="grey", lw=0.8)
right.text(0.5, 0.85, f"largest gap: {gap.abs().max():.3f}", transform=right.transAxes,
           ha="center")
plt.tight_layout()

# %% [markdown]
# ## Latency with and without the whiteboard
#
# Without a whiteboard every read costs a filing-room query. With it, hits cost one
# whiteboard round trip and misses cost a little *more* than no cache at all (GET, query,
# SET). Whether the cache helps depends on how many reads hit.

# %%
sim_reads = sim[sim["outcome"] != "write"]
no_cache = simlab.preset("postgres-indexed").sample(len(sim_reads), rng=4)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
simlab.plots.latency_cdf({"with the whiteboard": sim_reads["latency"],
                          "filing room only": no_cache}, ax=left,
                         title="Simulated read latency (production presets)")
simlab.plots.latency_cdf({"hits": live.loc[live.outcome == "hit", "latency"],
                          "misses": live.loc[live.outcome == "miss", "latency"]}, ax=right,
                         title=f"Measured read latency ({room.kind} filing room)")
plt.tight_layout()

# %% [markdown]
# ## What the filing room no longer sees
#
# The load question: a service receives 2,000 reads per second (Poisson arrivals) over
# 50,000 users with alpha = 1, and the whiteboard holds 5,000 of them (LRU). How many queries
# per second reach the filing room, with and without the whiteboard?

# %%
busy = simlab.zipf(50_000, 1.0, 60_000, rate=2000.0, seed=5)
run = simlab.simulate(busy, cache_size=5000, seed=5)
load = simlab.results.db_load_over_time(run, bin_s=1.0).rename(columns={
    "without_whiteboard": "without the whiteboard", "with_whiteboard": "with the whiteboard"})
ax = load.plot(x="time", y=["without the whiteboard", "with the whiteboard"], figsize=(7, 4))
ax.set(title="Filing-room load, 2,000 reads/s, whiteboard of 5,000 keys",
       xlabel="time (s)", ylabel="filing-room queries per second", ylim=(0, None))
summary = simlab.summarize(run)
print(f"hit ratio {summary['hit_ratio']:.3f}: {summary['db_qps_without_cache']:.0f} -> "
      f"{summary['db_qps_with_cache']:.0f} queries/s")

# %% [markdown]
# ## Cache the expensive thing: the dashboard
#
# A user row is cheap for the filing room (notebook 02 measured it). What earns its place on
# the whiteboard is a result that costs real work: the shop's dashboard, orders and revenue
# per month for one category, an aggregate over about 25,000 orders. The same pattern around
# that query, with the twelve rows kept on the whiteboard as JSON for a minute:

# %%
import json
import time

from simlab.live.shop import shop as open_shop

shop = open_shop()          # the shop of notebook 02 (SQLite, or PostgreSQL with DATABASE_URL)


def get_dashboard(r, shop, category, ttl=60):
    name = simlab.key("dashboard", category)
    cached = r.get(name)
    if cached is not None:
        return json.loads(cached)
    rows = shop.dashboard(category)          # the aggregate: tens of milliseconds
    r.set(name, json.dumps(rows), ex=ttl)
    return rows


seconds = {"miss": [], "hit": []}
for category in ["books", "toys", "games"] * 6:      # 18 page views, 3 dashboards
    before, tic = shop.queries, time.perf_counter()
    get_dashboard(r, shop, category)
    seconds["miss" if shop.queries > before else "hit"].append(time.perf_counter() - tic)
miss_ms, hit_ms = (np.median(seconds[k]) * 1e3 for k in ("miss", "hit"))
print(f"{len(seconds['miss'])} misses (median {miss_ms:.2f} ms), {len(seconds['hit'])} hits "
      f"(median {hit_ms:.3f} ms): the filing room saves {miss_ms - hit_ms:.1f} ms of work per "
      f"hit and ran {shop.queries} aggregates for 18 page views")
shop.close()

# %% [markdown]
# ## Misses that overlap
#
# With requests arriving concurrently, a key is on the whiteboard only once its filing-room
# read completes. Reads of the same key arriving in between miss too, and each sends its own
# query. The slower the filing room, the more of these there are: keep this number in mind for
# the stampede lesson (notebook 09).

# %%
for db_ms in (1, 10, 100):
    overlap = simlab.simulate(busy, cache_size=5000, filing_room=db_ms / 1000, seed=5)
    print(f"filing room {db_ms:>3} ms: {overlap.attrs['inflight_misses']:>5} misses found "
          "their key already being fetched")

# %% [markdown]
# ## Exercise 1: how much reached the filing room?
#
# From the live table `live`, compute the share of **reads** (rows whose outcome is not
# `write`) that missed and went to the filing room.

# %%
# BEGIN SOLUTION
# LEARNER: db_share = None
reads = live[live["outcome"] != "write"]
db_share = (reads["outcome"] == "miss").mean()
# END SOLUTION
simlab.checks.check_db_share(db_share, live)

# %% [markdown]
# ## Exercise 2: write cache-aside yourself
#
# Products live in a filing room that you reach through `lookup(product_id)`, which returns a
# dict. Write `get_product(r, lookup, product_id)` that keeps each product on the whiteboard
# under `simlab.key("product", product_id)` as JSON, for at most 10 minutes. The check counts the trips to the
# filing room.

# %%
import json

# BEGIN SOLUTION
# LEARNER: def get_product(r, lookup, product_id):
# LEARNER:     ...  # check the whiteboard, on a miss ask lookup() and write the answer back
# LEARNER:
# LEARNER: get_product = None  # delete this line when you have written the function
def get_product(r, lookup, product_id):
    name = simlab.key("product", product_id)
    cached = r.get(name)
    if cached is not None:
        return json.loads(cached)
    product = lookup(product_id)
    r.set(name, json.dumps(product), ex=600)
    return product
# END SOLUTION


simlab.checks.check_cache_aside(get_product)

# %% [markdown]
# ## What to remember
#
# - Cache-aside: read the whiteboard; on a miss read the filing room and write the answer
#   back with a TTL; on a write, update the filing room and delete the whiteboard's copy.
# - The whiteboard starts empty: there is a warm-up before the steady-state hit ratio.
# - Hits are fast, misses cost slightly more than no cache; the win is the hit ratio.
# - The filing room's load drops to (1 - hit ratio) of the reads.
# - Concurrent misses on one key each query the filing room until the first fill lands.
#
# **Next:** [04_hit_ratio_curves](04_hit_ratio_curves.ipynb): how big must the whiteboard be?

# %%
simlab.cleanup(r)
room.restore();   # the filing room forgets this lesson's writes
