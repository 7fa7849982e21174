# %% [markdown]
# # 02 · How much faster is the whiteboard, really?
#
# **Time:** 45 minutes. **You will:** time thousands of real GETs on the whiteboard and real
# indexed SELECTs in the filing room; read latency as a distribution (histogram, CDF, p50, p95,
# p99) rather than one average; fit a model to your measurements; and see why the *tail*
# matters more when a page needs many lookups.
#
# Measurements depend on your machine. The cells that time things are marked so that the
# notebook checker does not compare their numbers; everything simulated is seeded.

# %%
import matplotlib.pyplot as plt
import numpy as np

import simlab
from simlab.live import time_whiteboard_gets

r = simlab.connect()
room = simlab.filing_room()
print(simlab.backend_banner(r, room))

# %% [markdown]
# ## Measure both
#
# 3,000 GETs of 100-byte values on the whiteboard, and 3,000 primary-key SELECTs of random
# users in the filing room (an index lookup, the best case a database has).

# %%
rng = np.random.default_rng(2)
board = time_whiteboard_gets(r, 3000, value_size=100, seed=2)
users = rng.integers(1, room.n_users + 1, size=3000)
filing = room.time_get_user(users)
samples = {f"whiteboard ({r.backend.split(' (')[0]})": board, f"filing room ({room.kind})": filing}
simlab.plots.percentile_table(samples)

# %% [markdown]
# ## Look at the whole distribution
#
# A mean hides the slow requests that users notice. The histogram shows the shape; the CDF
# reads off any percentile: follow the 0.99 line across to find the p99. Both use a log axis,
# because latencies spread over orders of magnitude.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
simlab.plots.latency_hist(samples, ax=left, title="Measured latency: histogram")
simlab.plots.latency_cdf(samples, ax=right, title="Measured latency: CDF")
right.axhline(0.99, color="grey", lw=0.8, ls=":")
plt.tight_layout()

# %% [markdown]
# **Read this with care.** Here both sit in the same process or on the same machine: with
# fakeredis the whiteboard is Python code in this notebook, and SQLite is a library reading a
# file the operating system already holds in memory, so the two can be close. In production
# the filing room is across a network, on a server shared with every other request, with
# queries heavier than one primary-key lookup; the whiteboard is across the network too, but
# answers from memory with one hash lookup. Even a real Redis and a real PostgreSQL on one idle
# machine come out nearly equal for a primary-key read (measured on the course's machine:
# 0.14 ms and 0.15 ms medians). What makes the filing room slow in production is distance,
# load and heavier queries; that is what the cache saves.
#
# The simulation's presets, each with its source:

# %%
for name in ("redis-loopback", "redis-lan", "postgres-loopback", "postgres-indexed", "disk-read"):
    print(simlab.preset(name), end="\n\n")

# %% [markdown]
# ## A model of your own measurements
#
# A log-normal distribution, fixed by its median and p99, describes service latencies well
# enough for planning. Fit one to each measurement and compare its CDF with the data.

# %%
fitted = {label: simlab.LogNormal.fit(values) for label, values in samples.items()}
ax = simlab.plots.latency_cdf(samples, title="Measurements and their log-normal fits")
for label, model in fitted.items():
    x = np.logspace(np.log10(model.quantile(0.001)), np.log10(model.quantile(0.999)), 200)
    ax.plot(x * 1e3, model.cdf(x), "--", label=f"fit: {model!r}")
ax.legend(fontsize=8);

# %% [markdown]
# ## Exercise 1: how many times faster?
#
# Using the measured arrays `board` and `filing`, compute how many times longer the filing
# room's **median** is than the whiteboard's.

# %%
# BEGIN SOLUTION
# LEARNER: speedup = None
speedup = np.median(filing) / np.median(board)
# END SOLUTION
simlab.checks.check_speedup(speedup, board, filing)

# %% [markdown]
# ## The tail under fan-out
#
# A page rarely needs one lookup. If it needs ten, fetched in parallel, it waits for the
# **slowest** of the ten. A lookup slower than its p99 happens to 1 request in 100, but to
# many more pages. Simulated with the production presets:

# %%
model = simlab.preset("postgres-indexed")
single = model.sample(200_000, rng=1)
pages = {f"{n} lookups per page": simlab.fanout_latency(model, n, 200_000, seed=1)
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
# - Describe latency by its distribution: p50 for the typical request, p99 for the tail.
# - Measured here, in-process, the gap can be small; across a network and under load the
#   filing room's median and especially its tail grow far beyond the whiteboard's.
# - A log-normal with the measured median and p99 is a serviceable model.
# - Fan-out multiplies the tail: with 10 lookups, about 1 page in 10 meets a p99-slow one.
#
# **Next:** [03_cache_aside](03_cache_aside.ipynb): putting the whiteboard in front of the
# filing room.
