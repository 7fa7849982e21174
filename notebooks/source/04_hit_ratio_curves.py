# %% [markdown]
# # 04 · How big must the whiteboard be?
#
# **Time:** 60 minutes. **You will:** see how skewed popularity makes a small whiteboard
# useful; draw the exact LRU hit-ratio curve for every size in one pass; lay the theory (Che's
# approximation) over it; compare LRU, LFU, FIFO and Random; put confidence bands on a
# simulation; separate the warm-up from the steady state; and pick the cheapest size for a
# target.
#
# Everything here is simulation: virtual time, seeded, at a scale a real server would take
# minutes to replay.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab

N_KEYS = 100_000

# %% [markdown]
# ## Skew: a few keys get most requests
#
# Under a Zipf law the key of rank *i* is requested in proportion to 1 / i^alpha. With
# alpha = 0 every key is equally popular; around 1, typical of web caches, the top 1% of keys
# take a large share of all requests. That share is what a small whiteboard can serve.

# %%
alphas = (0.0, 0.6, 0.8, 1.0, 1.2)
popularity = {f"alpha = {a}": simlab.workloads.zipf_probabilities(N_KEYS, a) for a in alphas}
simlab.plots.popularity(popularity, title=f"Zipf popularity over {N_KEYS:,} keys")
top = pd.Series({name: p[: N_KEYS // 100].sum() for name, p in popularity.items()},
                name="share of requests to the top 1% of keys")
top.round(3).to_frame()

# %% [markdown]
# ## The exact curve, every size in one pass
#
# Simulating LRU once per size would be slow. Mattson's observation (1970): for each request,
# count the distinct keys requested since the same key's last request, its *stack distance*.
# An LRU whiteboard of C keys hits exactly the requests whose distance is below C. One pass
# over the trace (O(n log n) here) gives the whole curve.

# %%
workload = simlab.zipf(N_KEYS, 1.0, 1_000_000, seed=1)
curve = simlab.lru_curve(workload)          # every size on a log grid, one pass
probe = [100, 1000, 10_000]
print("hits from stack distances :", simlab.lru_curve(workload, probe)["hits"].tolist())
print("hits from one run per size:", simlab.engine.hit_counts(workload, probe).tolist())

# %% [markdown]
# ## Theory over it: Che's approximation
#
# For independent requests with known popularity, Che et al. (2002) model LRU with one
# number, the *characteristic time* T: a key stays on the whiteboard if it is requested again
# within T. T solves sum_i (1 - e^(-p_i T)) = C, and the hit ratio is
# sum_i p_i (1 - e^(-p_i T)). FIFO and Random share a similar fixed point, and perfect LFU
# simply keeps the C most popular keys.
#
# The simulated curve includes the cold start of 1,000,000 requests; the theory is for the
# steady state, so at large sizes the simulation sits a little below it.

# %%
p = simlab.workloads.zipf_probabilities(N_KEYS, 1.0)
sizes = curve["size"].to_numpy()
few = sizes[::3]                            # the theory is smooth: every third size is enough
theory = {policy: simlab.theory.theory_curve(p, few, policy)
          for policy in ("lru", "fifo", "perfect-lfu")}
simlab.plots.hit_ratio_curve({
    "LRU, exact (stack distances)": (sizes, curve["hit_ratio"]),
    "LRU theory (Che)": (few, theory["lru"]),
    "FIFO/Random theory (fixed point)": (few, theory["fifo"]),
    "perfect LFU theory": (few, theory["perfect-lfu"]),
}, title="Hit ratio against size, Zipf 1.0 over 100,000 keys");

# %% [markdown]
# ## Policies compared
#
# The same workload through each policy, one simulation per size and policy. Under
# independent requests, frequency is the best predictor of the future. *Perfect LFU*, which
# remembers every key's count even after evicting it, ends up holding the most popular keys
# and wins; plain LFU forgets a key's count when it leaves, so a key evicted early struggles
# to get back in. LRU comes next, and FIFO and Random, which ignore hits, trail. FIFO and
# Random land almost on top of each other (the theory gives them the same fixed point): the
# markers tell them apart.

# %%
grid = simlab.curves.log_sizes(N_KEYS, 12)
shorter = simlab.zipf(N_KEYS, 1.0, 150_000, seed=1)
policies = {}
for policy in simlab.POLICIES:
    hits = simlab.engine.hit_counts(shorter, grid, policy=policy, seed=1)
    policies[policy] = (grid, hits / len(shorter))
simlab.plots.hit_ratio_curve(policies, title="Policies compared, per-size simulation, "
                             "Zipf 1.0, 150,000 requests");

# %% [markdown]
# ## How sure are we? Replications and confidence bands
#
# One run is one sample. Repeat the experiment with different seeds and report the mean and a
# 95% confidence interval (Student's t). How wide the interval is depends on how long each run
# is: below, six seeds each of runs of 2,000, 20,000 and 200,000 requests. On a 0-1 axis
# every one of these bands is thinner than the line, so the left panel zooms in on one size
# (1,000 keys): each dot is one seed, the bar is the 95% interval of their mean. The right
# panel shows the interval's half-width at every size: ten times more requests make it about
# three times narrower (1/sqrt(n)). Short runs also sit lower: they are mostly warm-up (next
# section).

# %%
band_sizes = [10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000]
lengths = (2_000, 20_000, 200_000)


def experiment_of(requests):
    def experiment(seed):
        w = simlab.zipf(N_KEYS, 1.0, requests, seed=seed)
        return dict(zip(band_sizes, simlab.lru_curve(w, band_sizes)["hit_ratio"]))
    return experiment


bands = {n: simlab.curves.replicate(experiment_of(n), seeds=range(6)) for n in lengths}
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
for i, n in enumerate(lengths):
    runs = bands[n].attrs["runs"][1000]            # the 6 seeds' hit ratios at 1,000 keys
    b = bands[n].loc[1000]
    left.plot(np.full(6, i) + np.linspace(-0.15, 0.15, 6), runs, ".", color="grey")
    left.errorbar(i, b["mean"], yerr=[[b["mean"] - b["low"]], [b["high"] - b["mean"]]],
                  fmt="o", color="tab:blue", capsize=8, lw=2)
left.set(xticks=range(3), xticklabels=[f"{n:,}" for n in lengths],
         title="Hit ratio at 1,000 keys: 6 seeds (dots), mean and 95% interval",
         xlabel="requests per run", ylabel="hit ratio (zoomed)")
left.grid(True, alpha=0.3)
for n, b in bands.items():
    right.plot(band_sizes, (b["high"] - b["low"]) / 2, "o-", label=f"runs of {n:,} requests")
right.set(xscale="log", yscale="log", title="Half-width of the 95% interval",
          xlabel="whiteboard size (keys, log scale)", ylabel="± hit ratio (log scale)")
right.grid(True, which="both", alpha=0.3)
right.legend()
plt.show()
pd.concat({f"{n:,} requests": b.loc[[100, 1000, 10_000], ["mean", "low", "high"]]
           for n, b in bands.items()}, axis=1).round(4)

# %% [markdown]
# ## Warm-up against steady state
#
# A new whiteboard is empty. Measured from the first request, the hit ratio is lower than
# what the whiteboard delivers once warm. Always say which one you report.

# %%
run = simlab.simulate(workload, cache_size=10_000, filing_room=0.0, seed=1)
warm = simlab.hit_ratio_over_time(run, window=20_000)
ax = warm.plot(x="request", y="hit_ratio", legend=False, figsize=(7, 4))
ax.axhline(simlab.theory.che_hit_ratio(p, 10_000), ls="--", color="grey", label="Che, steady state")
ax.set(title="Warm-up of a 10,000-key LRU whiteboard (Zipf 1.0)", xlabel="requests so far",
       ylabel="hit ratio (per 20,000 requests)")
ax.legend()
s = simlab.summarize(run, warmup_share=0.2)
print(f"from the first request: {s['hit_ratio']:.4f}; after the first 20%: "
      f"{s['hit_ratio_after_warmup']:.4f}; Che: {simlab.theory.che_hit_ratio(p, 10_000):.4f}")

# %% [markdown]
# ## The working set
#
# How many distinct keys has the service touched so far? With skew, the count keeps growing
# (the long tail), but the keys that matter arrive early.

# %%
ws = simlab.curves.unique_keys_over_time(workload)
ax = ws.plot(x="requests", y="unique_keys", legend=False, figsize=(7, 4))
ax.set(title="Distinct keys requested so far (Zipf 1.0, 100,000 keys)",
       xlabel="requests so far", ylabel="distinct keys");

# %% [markdown]
# ## What does it cost?
#
# Memory costs money, and so do filing-room queries. Say each cached entry is a rendered
# fragment of 50 KB, whiteboard memory costs $10 per GB-month, the service takes 5,000
# requests per second, and each query per second the filing room must sustain costs $0.10 a
# month. A bigger whiteboard costs more memory and saves queries: the total has a minimum.
# (The prices are illustrative; put in your own.)

# %%
costs = simlab.cost.cost_table(simlab.lru_curve(workload, simlab.curves.log_sizes(N_KEYS, 60)),
                          bytes_per_key=50_000, dollars_per_gb_month=10, request_rate=5000,
                          dollars_per_db_qps_month=0.10)
best = simlab.cost.cheapest_size(costs)
ax = costs.rename(columns={"memory_cost": "whiteboard memory", "db_cost": "filing-room load",
                           "total_cost": "total"}).plot(
    x="size", y=["whiteboard memory", "filing-room load", "total"], logx=True, figsize=(7, 4))
ax.axvline(best["size"], ls=":", color="grey")
ax.set(title="Monthly cost against whiteboard size (illustrative prices)",
       xlabel="whiteboard size (keys, log scale)", ylabel="cost ($ per month)")
print(f"cheapest: {int(best['size']):,} keys, hit ratio {best['hit_ratio']:.3f}, "
      f"${best['total_cost']:.0f}/month")

# %% [markdown]
# ## Try it: sliders
#
# Move alpha, the size and the policy; the curve and the marked point are recomputed each time
# (100,000 requests, in well under a second). If widgets do not run where you read this, the
# static figure below the sliders shows the same thing for alpha = 0.8 and 1.2.

# %%
import ipywidgets as widgets


def explore(alpha=1.0, cache_size=1000, policy="lru"):
    w = simlab.zipf(20_000, alpha, 100_000, seed=7)
    grid = simlab.curves.log_sizes(20_000, 12)
    hits = simlab.engine.hit_counts(w, grid + [cache_size], policy=policy, seed=7) / len(w)
    fig, ax = plt.subplots(figsize=(7, 4))
    simlab.plots.hit_ratio_curve({f"{policy.upper()}, alpha = {alpha}": (grid, hits[:-1])},
                                 ax=ax, title="Explore: hit ratio against size")
    ax.plot([cache_size], [hits[-1]], "o", color="black")
    ax.annotate(f"{hits[-1]:.1%}", (cache_size, hits[-1]), textcoords="offset points",
                xytext=(8, -12))
    plt.show()


wide = widgets.Layout(width="520px")
# twelve log-spaced sizes a decade, rounded to two digits: 10, 12, 15, ... 1000 ... 20000
size_options = sorted({int(float(f"{s:.2g}")) for s in 10 ** (np.arange(12, 52) / 12)} | {20_000})
widgets.interact(explore,
                 alpha=widgets.FloatSlider(value=1.0, min=0.0, max=1.6, step=0.1,
                                           continuous_update=False, layout=wide),
                 cache_size=widgets.SelectionSlider(options=size_options, value=1000,
                                                    description="size (keys)",
                                                    continuous_update=False, layout=wide,
                                                    style={"description_width": "initial"}),
                 policy=widgets.Dropdown(options=list(simlab.POLICIES), value="lru"));

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for a in (0.8, 1.2):
    w = simlab.zipf(20_000, a, 100_000, seed=7)
    grid = simlab.curves.log_sizes(20_000, 12)
    ax.plot(grid, simlab.engine.hit_counts(w, grid) / len(w), label=f"LRU, alpha = {a}")
ax.set(xscale="log", ylim=(0, 1), title="Static view: the curve for two values of alpha",
       xlabel="whiteboard size (keys, log scale)", ylabel="hit ratio")
ax.grid(True, which="both", alpha=0.3)
ax.legend();

# %% [markdown]
# ## Exercise 1: the smallest whiteboard for 90% hits
#
# Using the exact curve below (alpha = 1.0, 100,000 keys, on a fine grid of sizes), find the
# smallest size whose hit ratio reaches 0.90.

# %%
fine = simlab.lru_curve(workload, simlab.curves.log_sizes(N_KEYS, 200))
# BEGIN SOLUTION
# LEARNER: smallest = None
smallest = int(fine.loc[fine["hit_ratio"] >= 0.90, "size"].min())
# END SOLUTION
simlab.checks.check_smallest_size(smallest, fine, target=0.90)

# %% [markdown]
# ## Exercise 2: predict, then check
#
# With the size fixed at 1,000 keys, does the hit ratio go **up** or **down** when alpha rises
# from 0.8 to 1.2? Write your prediction first, then run the cell: it simulates both.

# %%
# BEGIN SOLUTION
# LEARNER: prediction = None  # "up" or "down"
prediction = "up"
# END SOLUTION
low, high = (simlab.engine.hit_counts(simlab.zipf(N_KEYS, a, 200_000, seed=2), [1000])[0] / 200_000
             for a in (0.8, 1.2))
simlab.checks.check_alpha_prediction(prediction, low, high)

# %% [markdown]
# ## What to remember
#
# - Skew is what makes a small whiteboard worth having: the hit ratio depends on alpha.
# - The exact LRU curve for every size comes from one pass (stack distances).
# - Che's approximation predicts the steady-state LRU curve from the popularity alone.
# - Under independent requests perfect LFU > LFU > LRU > FIFO ≈ Random; real traces, whose
#   popularity drifts, can reverse that order.
# - Report the warm-up and the steady state separately, with a confidence interval.
# - The cheapest size balances memory against filing-room load.
#
# **Next:** [05_ttl_and_expiry](05_ttl_and_expiry.ipynb): data that expires by itself.
