# %% [markdown]
# # 06 · How do I count requests per user per window?
#
# **Time:** 60 minutes. **You will:** build four rate limiters on Redis (fixed window, sliding
# log, sliding counter, token bucket), each atomic; put them on a window's edge and see which
# one lets twice the limit through; break a limiter by splitting it into two commands; and
# compare the four on accuracy and memory per user.
#
# A rate limit is a whiteboard job: a counter per user that many servers share, that must be
# fast, and that should clean itself up. Each limiter reads the time from a clock; with fakeredis
# the clock stands still until we move it, so we can stand exactly on a window's edge.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import ratelimit
from simlab.live.ratelimit import edge_demo, limit_race, limiter

r = simlab.connect()
clock = simlab.clock_for(r, frozen=True)
print(r.backend, "|", "frozen virtual clock" if clock.controllable else "wall clock")

# %% [markdown]
# ## Four ways to count
#
# | algorithm | Redis state per user | one decision |
# | --- | --- | --- |
# | fixed window | a counter per window, `wb:<you>:rl:...:<window number>` | `INCR` + `EXPIRE` in one MULTI/EXEC |
# | sliding log | a sorted set of request times | drop old, `ZCARD`, `ZADD` if under the limit, in one Lua script |
# | sliding counter | this window's and the last window's counters | a Lua script: weight the last one by its overlap |
# | token bucket | a hash: tokens left, last refill | a Lua script: refill, take one |
#
# Ten requests per second allowed. Twelve requests 10 ms before a window's edge, twelve 10 ms
# after:

# %%
demos = [edge_demo(limiter(name, r, limit=10, window=1.0, clock=clock), clock,
                   before=12, after=12, user=f"demo-{name}") for name in ratelimit.ALGORITHMS]
pd.DataFrame(demos).set_index("algorithm")

# %% [markdown]
# The fixed window resets at the edge, so 20 requests pass in about 20 ms: twice the limit.
# The sliding log remembers the last second exactly and refuses the second burst. The sliding
# counter estimates (it lets a few through); the token bucket refills only 0.2 tokens in 20 ms.
# One burst is not the whole story, though: the minute of traffic below shows each limiter's
# worst second.

# %% [markdown]
# ## Why each decision must be one step
#
# The tempting fixed window reads the count (`GET`), decides in Python, then writes the count
# plus one (`SET`). Eight clients at once, one user, a limit of 50:

# %%
pd.DataFrame([limit_race(r, atomic=False), limit_race(r, atomic=True)]).set_index("atomic")

# %% [markdown]
# Between the `GET` and the `SET`, other clients read the same count: they all decide "yes",
# and their writes overwrite each other, so the counter falls behind and keeps saying "yes".
# `INCR` returns the new count, so deciding on *its* answer is atomic; scripts and MULTI/EXEC
# make longer decisions atomic.

# %% [markdown]
# ## Simulated: a burst at every edge
#
# One user sends a steady 15 requests per second, plus a burst of 10 just before and 10 just
# after every window edge. Which requests does each limiter let through? (Ticks are requests;
# tall ones are allowed.)

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 4), sharex=True)
for ax, name in zip(axes, ("fixed-window", "sliding-log")):
    out = ratelimit.simulate_ratelimit(name, limit=10, window=1.0, rate=15.0, duration=3.2,
                                       pattern="edge-burst", seed=0)
    t, ok = out["times"], out["decisions"]
    ax.vlines(t[~ok], 0, 0.4, color="lightgrey", label="refused")
    ax.vlines(t[ok], 0, 1, color="tab:blue", label="allowed")
    ax.set(yticks=[], title=f"{name}: most allowed in any 1-s interval = "
                            f"{out['max_in_any_window']} (limit 10)")
    for edge in (1, 2, 3):
        ax.axvline(edge, color="black", lw=0.8, ls=":")
axes[0].legend(loc="upper right", fontsize=8)
axes[1].set_xlabel("time (s); dotted lines are window edges")
plt.tight_layout()

# %% [markdown]
# ## Accuracy and memory, all four
#
# A minute of that traffic through each limiter: how many got through, the worst 1-second
# interval, and the Redis memory one user's state takes at its largest.

# %%
table = ratelimit.compare_algorithms(limit=10, window=1.0, rate=15.0, duration=60.0,
                                     pattern="edge-burst", seed=0)
table

# %% [markdown]
# Read the `max_in_any_window` column: the most requests let through in any 1-second interval,
# with a limit of 10.
#
# - **Sliding log: 10.** Only the log holds the limit in every interval; it remembers every
#   request's time.
# - **Fixed window: 20.** Twice the limit, across an edge, as in the live run at the top. (The
#   3.2-second plot above has three edges and caught 19 at most; over the minute's 60 edges
#   the worst interval reaches 20.)
# - **Sliding counter: 15.** Not exact. It guesses how many of the last window's requests fall
#   in the last second by assuming they were spread evenly over that window. Our bursts sit at
#   the very end of each window, so it under-counts them and lets half as many again through.
#   On traffic without such bursts the guess is close; the guarantee is "at most about 1.5x
#   here", not "exactly the limit".
# - **Token bucket: 19.** The bucket holds up to 10 tokens and refills 10 a second, so a full
#   bucket plus a second of refill lets up to 19-20 requests pass in one second. That is the
#   design, not a bug: it limits the *average* rate (over the minute it allowed about 10 a
#   second, like the others) and deliberately allows a burst the size of the bucket. A smaller
#   bucket allows smaller bursts.

# %%
per_user = ratelimit.compare_algorithms(limit=100, window=60.0, rate=3.0, duration=600.0,
                                        pattern="poisson", seed=1)["memory_bytes"]
ax = (per_user * 1_000_000 / 1e9).plot.bar(figsize=(7, 4), rot=0, logy=True)
ax.set(title="Memory for 1,000,000 active users (limit 100 per minute)",
       xlabel="algorithm", ylabel="GB (log scale)");

# %% [markdown]
# ## Exercise 1: write a fixed-window limiter
#
# Write `allow(r, user, limit, window, now)` that returns True when the request may pass. The
# check stands on window edges, mixes users, looks between your commands (where a crash would
# strike) for a key without an expiry, and calls it from eight clients at once that take turns
# command by command. Use the window number `int(now // window)` in the key, and make the
# count and its expiry atomic. `now` is the caller's clock, not Redis's (the check passes a
# virtual one, in 1970): use it for the window number only, and give the key a relative TTL,
# which Redis counts on its own clock.

# %%
# BEGIN SOLUTION
# LEARNER: def allow(r, user, limit, window, now):
# LEARNER:     ...
# LEARNER:
# LEARNER: allow = None  # delete this line when you have written the function
def allow(r, user, limit, window, now):
    name = simlab.key("rl", "mine", user, int(now // window))
    pipe = r.pipeline(transaction=True)
    pipe.incr(name)
    pipe.expire(name, int(window) + 1)
    count, _ = pipe.execute()
    return count <= limit
# END SOLUTION


simlab.checks.check_fixed_window(allow)

# %% [markdown]
# ## Exercise 2: what does exactness cost?
#
# A sliding log keeps one sorted-set entry per allowed request in the window. How many bytes
# does it need for 1,000,000 users, each at a limit of 100? Use `ratelimit.BYTES_PER_COUNTER`
# (the key) and `ratelimit.BYTES_PER_LOG_ENTRY` (each entry).

# %%
# BEGIN SOLUTION
# LEARNER: memory_bytes = None
memory_bytes = 1_000_000 * (ratelimit.BYTES_PER_COUNTER + 100 * ratelimit.BYTES_PER_LOG_ENTRY)
# END SOLUTION
simlab.checks.check_sliding_log_memory(memory_bytes)

# %% [markdown]
# ## What to remember
#
# - A fixed window is one counter and cheap, but allows up to 2x the limit across an edge.
# - A sliding log is exact and costs memory in proportion to the limit.
# - A sliding counter (two counters) is cheap and close on smooth traffic, but bursts at window
#   edges fool it (15 in a second at a limit of 10 here); a token bucket limits the average
#   rate and allows bursts up to the bucket's size (19 in a second here).
# - Make each decision one atomic step: decide on INCR's answer, or use MULTI/EXEC or Lua.
#
# **Next:** [07_queues](07_queues.ipynb).

# %%
if clock.controllable:
    clock.uninstall()
simlab.cleanup(r);
