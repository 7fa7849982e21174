# %% [markdown]
# # 02 · How much faster is the whiteboard, really?
#
# **Time:** 45 minutes. **You will:** time real reads on the whiteboard and real queries in a
# filing room that holds a small shop (100,000 users, 10,000 products, a million orders); read
# latency as a distribution (histogram, CDF, p50, p95, p99) rather than one average; and find
# out what actually makes a cache worth having: **work**, **load** and **distance**.
#
# Measurements depend on your machine. The cells that time things are marked so that the
# notebook checker does not compare their numbers; everything simulated is seeded.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab.live.shop import CATEGORIES, load_curves, shop as open_shop, time_cached_gets

r = simlab.connect()
shop = open_shop()          # data/shop.sqlite, or the shop in PostgreSQL with DATABASE_URL
print(f"Whiteboard:   {r.backend}\nFiling room:  {shop.backend}")
whiteboard = r.backend.split(" (")[0].split(" at ")[0]
rng = np.random.default_rng(2)

# %% [markdown]
# ## The honest answer first: one row by its key
#
# The cheapest thing a database does is fetch one row by its primary key: an index lookup.
# Time 1,000 of them for random users, and 1,000 GETs of the same user, cached as JSON on the
# whiteboard (each GET includes the `json.loads` that turns it back into a dict).

# %%
user_ids = rng.integers(1, shop.n_users + 1, size=1000)
pk = shop.time("user", user_ids)
cached_user = time_cached_gets(r, shop.get_user(42), 1000, name=simlab.key("shop", "user", 42))
simlab.plots.percentile_table({f"filing room: user by key ({shop.kind})": pk,
                               f"whiteboard: cached user ({whiteboard})": cached_user})

# %% [markdown]
# **Nearly a draw, and on the default path the filing room wins.** With fakeredis and SQLite
# both sit inside this notebook's process and no network is involved. SQLite is compiled C
# reading pages the operating system already holds in memory; fakeredis is Python code that
# encodes each command in Redis's wire protocol, parses it and runs a Python version of the
# command, so the in-process SQLite lookup is *faster* than the in-process "Redis". With a real
# Redis and a real PostgreSQL on one idle machine, both pay the same loopback round trip and
# come out nearly equal (measured on the course's machine: 0.048 ms and 0.064 ms medians).
#
# So for a single key lookup on an idle local database a cache buys almost nothing. Caches win
# in real systems for three other reasons, each measured or simulated below:
#
# 1. **Work:** most queries do far more than fetch one row.
# 2. **Load:** a database shared by many clients queues them; its latency climbs with load.
# 3. **Distance:** the database is often further away than the cache.
#
# ## Look at the whole distribution
#
# A mean hides the slow requests that users notice. The histogram shows the shape; the CDF
# reads off any percentile: follow the 0.99 line across to find the p99. Both use a log axis,
# because latencies spread over orders of magnitude.

# %%
lookups = {f"user by key ({shop.kind})": pk, f"cached user ({whiteboard})": cached_user}
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
simlab.plots.latency_hist(lookups, ax=left, title="One row by key: histogram")
simlab.plots.latency_cdf(lookups, ax=right, title="One row by key: CDF")
right.axhline(0.99, color="grey", lw=0.8, ls=":")
plt.tight_layout()

# %% [markdown]
# A log-normal distribution, fixed by its median and p99, describes service latencies well
# enough for planning. Fit one to each measurement and compare its CDF with the data.

# %%
fitted = {label: simlab.LogNormal.fit(values) for label, values in lookups.items()}
ax = simlab.plots.latency_cdf(lookups, title="Measurements and their log-normal fits")
for label, model in fitted.items():
    x = np.logspace(np.log10(model.quantile(0.001)), np.log10(model.quantile(0.999)), 200)
    ax.plot(x * 1e3, model.cdf(x), "--", label=f"fit: median {model.median_ * 1e3:.3f} ms, "
            f"p99 {model.p99 * 1e3:.3f} ms")
ax.legend(fontsize=8);

# %% [markdown]
# ## 1. Work: a join and an aggregate
#
# A shop's pages ask for more than one row. Two typical queries:
#
# - **a join**: a user's last 10 orders with the products' names (`orders JOIN products`,
#   served by an index on `orders (user_id, created_at)`);
# - **an aggregate**: a dashboard, orders and revenue per month over the last twelve months
#   for one category: about 25,000 orders read and summed, even with a covering index.
#
# The dashboard's answer is twelve rows. Once computed it can sit on the whiteboard as JSON,
# and one GET returns it.

# %%
join = shop.time("orders", rng.integers(1, shop.n_users + 1, size=300))
dashboard = shop.time("dashboard", CATEGORIES)
print("the books dashboard, first three months:", shop.dashboard("books")[:3])
cached = time_cached_gets(r, shop.dashboard("books"), 1000, name=simlab.key("shop", "dashboard", "books"))
work = {f"user by key ({shop.kind})": pk, f"last 10 orders, join ({shop.kind})": join,
        f"dashboard, aggregate ({shop.kind})": dashboard,
        f"cached dashboard, one GET ({whiteboard})": cached}
ax = simlab.plots.latency_cdf(work, title="Work: what each query costs (measured)")
ax.legend(fontsize=8)
simlab.plots.percentile_table(work)

# %% [markdown]
# ## Exercise 1: how much does caching the dashboard save?
#
# Using the measured arrays `dashboard` (the aggregate query) and `cached` (one GET of its
# cached result), compute how many times longer the query's **median** is than the GET's.

# %%
# BEGIN SOLUTION
# LEARNER: speedup = None
speedup = np.median(dashboard) / np.median(cached)
# END SOLUTION
simlab.checks.check_speedup(speedup, cached, dashboard)

# %% [markdown]
# This holds on every backend: fakeredis or Redis, SQLite or PostgreSQL. The key lookup was a
# draw; the aggregate is hundreds of times slower than reading its cached answer, because the
# whiteboard stores the *result* of the work, not the rows it was computed from.
#
# ## 2. Load: many clients at once
#
# A database serves every client of the application at once. Each client here sends a
# request, waits for the answer, pauses 2 ms and sends the next; with more clients than the
# server has cores, requests queue. The model is the **finite-source M/G/c queue** (the
# machine-repairman model, `simlab.live.shop.closed_loop_latency`): `c` servers answering in arrival order,
# each request taking a service time drawn from *your measurements* above. The filing room
# gets one server per core of this machine; Redis runs commands on one thread, so it gets one.
# With a real PostgreSQL and a real Redis the same experiment also runs for real, with up to
# 64 client threads, each on its own connection.

# %%
load = load_curves(shop, r, dashboard, cached, think_s=0.002)
CLIENTS = sorted(load["clients"].unique())

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
for ax, stat in zip(axes, ("p50_ms", "p99_ms")):
    for (label, how), part in load.groupby(["system", "how"], sort=False):
        ax.plot(part["clients"], part[stat], "-o" if how == "model" else "s:",
                label=f"{label}, {how}", ms=4)
    ax.set(xscale="log", yscale="log", xlabel="concurrent clients (log scale)",
           ylabel=f"{stat[:3]} latency (ms, log scale)",
           title=f"Load: {stat[:3]} latency against concurrent clients")
    ax.set_xticks(CLIENTS, [str(c) for c in CLIENTS])
    ax.grid(True, which="both", alpha=0.3)
axes[0].legend(fontsize=7)
plt.tight_layout()
load.pivot_table(index="clients", columns=["system", "how"], values="p50_ms").round(3)

# %% [markdown]
# Each line is flat while the servers keep up and bends upwards at its **knee**, where the
# clients ask for more than the servers can do: from there every extra client adds its whole
# service time to everybody's wait. The dashboard query holds a core for milliseconds, so
# its knee comes after a client or two; one GET holds a real Redis server's thread for a few
# microseconds (fakeredis, in Python, takes tens), so the whiteboard stays flat far longer. A cache does not only answer faster: it takes the
# load that would queue in the filing room.
#
# ## 3. Distance: the round trip
#
# Everything so far ran on one machine. In production each query also pays a network round
# trip, and the database may be further away than the cache. The presets the course uses,
# each with its source:

# %%
for name in simlab.latency.PRESETS:
    print(simlab.preset(name), end="\n\n")

# %% [markdown]
# Add one round trip, drawn from the presets, to each measured query (seeded draws; the
# measurements are yours):

# %%
distances = {"same host": "net-same-host", "same zone": "net-same-zone",
             "cross-region": "net-cross-region"}
queries = {"cached dashboard (GET)": cached, "user by key": pk, "last 10 orders": join,
           "dashboard query": dashboard}
table = pd.DataFrame({
    where: {query: np.median(simlab.latency.Empirical(samples).sample(5000, rng=1)
                             + simlab.preset(name).sample(5000, rng=2)) * 1e3
            for query, samples in queries.items()}
    for where, name in distances.items()})
ax = table.plot.bar(figsize=(8, 4), logy=True, rot=0)
ax.set(ylabel="median latency with one round trip (ms, log scale)", xlabel="query",
       title="Distance: measured query time plus one network round trip")
ax.grid(True, axis="y", which="both", alpha=0.3)
table.round(3)

# %% [markdown]
# Across a zone the round trip (about 0.3 ms) already dwarfs a key lookup, and across regions
# (about 150 ms) it dwarfs everything: a whiteboard in the application's own zone, holding
# what a far-away database would answer, saves the whole trip on every hit.
#
# ## The tail under fan-out
#
# A page rarely needs one lookup. If it needs ten, fetched in parallel, it waits for the
# **slowest** of the ten. A lookup slower than its p99 happens to 1 request in 100, but to
# many more pages. Simulated with the `postgres-indexed` preset:

# %%
model = simlab.preset("postgres-indexed")
pages = {f"{n} lookups per page": simlab.latency.fanout_latency(model, n, 50_000, seed=1)
         for n in (1, 10, 100)}
ax = simlab.plots.latency_cdf(pages, title="Page latency when a page waits for its slowest "
                              "lookup (postgres-indexed preset)")
ax.axvline(model.quantile(0.99) * 1e3, color="grey", ls=":", label="single lookup's p99")
ax.legend()
print(f"share of 10-lookup pages slower than one lookup's p99: "
      f"{np.mean(pages['10 lookups per page'] > model.quantile(0.99)):.3f}")

# %% [markdown]
# ## Exercise 2: how often does a page meet the tail?
#
# Each lookup is independently slower than its p99 with probability 0.01. What is the
# probability that a page of 10 lookups meets **at least one** such slow lookup? Give a
# number (compare it with the simulated share above).

# %%
# BEGIN SOLUTION
# LEARNER: p_slow_page = None
p_slow_page = 1 - 0.99 ** 10
# END SOLUTION
simlab.checks.check_fanout(p_slow_page)

# %% [markdown]
# ## What to remember
#
# - For one row by its key, on an idle machine next to the application, a database is about
#   as fast as Redis (in-process SQLite even beats in-process fakeredis).
# - Caches win on **work** (the cached result of an aggregate is hundreds of times cheaper
#   than computing it), **load** (the filing room queues long before the whiteboard does) and
#   **distance** (the whiteboard can sit closer than the database).
# - Describe latency by its distribution: p50 for the typical request, p99 for the tail;
#   fan-out multiplies the tail.
#
# **Next:** [03_cache_aside](03_cache_aside.ipynb): putting the whiteboard in front of the
# filing room.

# %%
shop.close()
