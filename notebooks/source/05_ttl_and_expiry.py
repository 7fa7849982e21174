# %% [markdown]
# # 05 · How do I make data expire by itself, and what does it cost?
#
# **Time:** 60 minutes. **You will:** read TTLs the way Redis reports them; build one-time
# passwords, sliding sessions and flash messages that clean up after themselves; see how a TTL
# trades hits against stale reads, with the formulas over the simulation; watch keys that
# expire together hit the filing room together, and jitter spread them out; and find out how
# long expired keys linger in a real server's memory.
#
# **Time travel.** With fakeredis, simlab gives you a clock you can move: `clock.advance(300)`
# makes a five-minute code expire at once. A real server runs on the wall clock, so with one
# this notebook uses TTLs a thousand times shorter and waits.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab.live.expiry import OTP, Flash, Sessions

r = simlab.connect()
clock = simlab.clock_for(r)
FAST = clock.controllable          # fakeredis: jump; real server: scale TTLs down and wait
scale = 1 if FAST else 1 / 1000


def wait(seconds):
    clock.advance(seconds) if FAST else time.sleep(seconds)


print(r.backend, "|", "virtual clock: jumps" if FAST else "real clock: short TTLs, real waits")

# %% [markdown]
# ## Reading a TTL
#
# `TTL` answers the seconds left, rounded to the nearest second; `PTTL` the milliseconds.
# Two special answers: **-1**, the key exists but never expires; **-2**, there is no such key.

# %%
r.set(simlab.key("forever"), "x")
r.set(simlab.key("soon"), "x", px=1800)
pd.Series({"no expiry (TTL)": r.ttl(simlab.key("forever")),
           "missing key (TTL)": r.ttl(simlab.key("nobody")),
           "PX 1800 (TTL)": r.ttl(simlab.key("soon")),
           "PX 1800 (PTTL)": r.pttl(simlab.key("soon"))}, name="answer").to_frame()

# %% [markdown]
# A real Redis rounds to the nearest second, `(ms + 500) / 1000`, so 1,799 ms left reads as
# 2; fakeredis may round down instead. Use PTTL when the exact time matters.

# %% [markdown]
# ## One-time passwords
#
# A code that is valid for five minutes, allows three wrong guesses, and works once. The
# expiry is the TTL; the attempt counter has the same TTL; "works once" is a transaction that
# marks the code as used only if nobody else did first (WATCH, then MULTI/EXEC). The marker
# keeps the code's TTL, so a second try is told "used", and later "expired".

# %%
otp = OTP(r, ttl=300 * scale, max_attempts=3, seed=7)
code = otp.send("ada")
print("wrong code   ->", otp.verify("ada", "0000" if code != "0000" else "1111"))
print("right code   ->", otp.verify("ada", code))
print("same again   ->", otp.verify("ada", code))
code = otp.send("ada")
wait(301 * scale)
print("5 min later  ->", otp.verify("ada", code))

# %% [markdown]
# ## Sessions that slide, messages that vanish
#
# A session should last 30 minutes *since the last visit*: each access runs `EXPIRE` again.
# A flash message ("Saved!") is shown once: `GETDEL` reads and deletes in one step.

# %%
sessions = Sessions(r, ttl=1800 * scale)
token = sessions.create("ada", theme="dark")
for visit in range(3):
    wait(1000 * scale)                          # 16 minutes between visits
    print(f"visit {visit + 1}: {sessions.get(token)}")
wait(1900 * scale)
print("after 32 idle minutes:", sessions.get(token))
flash = Flash(r)
flash.put("ada", "Profile saved!")
print("first look:", flash.take("ada"), "| second look:", flash.take("ada"))

# %% [markdown]
# ## A TTL trades hits for freshness
#
# Simulated now: 1,000 reads a second over 10,000 keys (Zipf 0.9), a whiteboard big enough for
# everything, so keys leave only by expiring. For a key read `l` times a second:
#
# - **fixed TTL** (set at the fill): each cycle is one miss followed by about `l·T` hits, so the
#   hit ratio is `l·T / (1 + l·T)`;
# - **sliding TTL** (restarted by each hit): a read hits if the previous one came within `T`,
#   so `1 - exp(-l·T)`.
#
# Summed over the keys' popularity, the formulas (lines) against the simulation (dots):

# %%
p = simlab.workloads.zipf_probabilities(10_000, 0.9)
ttls = [0.1, 0.3, 1, 3, 10, 30, 100]
fig, ax = plt.subplots(figsize=(7, 4))
for mode in ("fixed", "sliding"):
    grid = np.logspace(-1, 2, 60)
    ax.plot(grid, [simlab.theory.ttl_hit_ratio(p, 1000, t, mode) for t in grid], label=f"{mode}: formula")
    sim = [simlab.summarize(simlab.simulate(
        simlab.zipf(10_000, 0.9, 150_000, rate=1000.0, ttl=t, seed=4), cache_size=20_000,
        whiteboard=0.0, filing_room=0.0, ttl_mode=mode, seed=1), warmup_share=0.3)[
        "hit_ratio_after_warmup"] for t in ttls]
    ax.plot(ttls, sim, "o", label=f"{mode}: simulation")
ax.set(xscale="log", ylim=(0, 1), title="Hit ratio against TTL (1,000 reads/s, Zipf 0.9)",
       xlabel="TTL (s, log scale)", ylabel="hit ratio")
ax.grid(True, which="both", alpha=0.3)
ax.legend();

# %% [markdown]
# ## …and what it costs: stale reads
#
# If another system changes a key in the filing room and nobody deletes the whiteboard's copy,
# hits return the old value until the TTL runs out. With updates arriving at `mu` per second
# per key, a fixed-TTL hit is stale with probability `1 - (1 - exp(-mu·T)) / (mu·T)`.

# %%
update_rate = 1 / 600                      # each key changes about every 10 minutes
grid = np.logspace(-1, 3, 60)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(grid, [simlab.theory.stale_share_fixed_ttl(t, update_rate) for t in grid], label="formula")
points = [3, 30, 300]
ax.plot(points, [simlab.theory.stale_share(simlab.simulate(
    simlab.zipf(2000, 0.9, 100_000, rate=200.0, ttl=float(t), seed=5), cache_size=5000,
    whiteboard=0.0, filing_room=0.0, seed=1), update_rate) for t in points], "o",
    label="simulation")
ax.axhline(0.01, color="grey", ls=":", label="1% of hits")
ax.set(xscale="log", yscale="log", title="Stale hits against TTL (one update per key per 10 min)",
       xlabel="TTL (s, log scale)", ylabel="share of hits that are stale (log scale)")
ax.legend();

# %% [markdown]
# ## Exercise 1: one key's hit ratio
#
# A key is read twice a second and cached with a fixed TTL of 10 s. What share of its reads
# hit? (Use the formula; no simulation needed.)

# %%
# BEGIN SOLUTION
# LEARNER: hit_ratio = None
hit_ratio = (2 * 10) / (1 + 2 * 10)
# END SOLUTION
simlab.checks.check_fixed_ttl_hit_ratio(hit_ratio, rate=2.0, ttl=10.0)

# %% [markdown]
# ## Exercise 2: a TTL for at most 1% stale reads
#
# Each key changes about every 10 minutes (`update_rate = 1/600` per second). Choose the
# longest fixed TTL for which at most 1% of hits are stale. `simlab.theory.stale_share_fixed_ttl(ttl,
# update_rate)` tells you the share for any TTL.

# %%
# BEGIN SOLUTION
# LEARNER: ttl = None
from scipy.optimize import brentq
ttl = brentq(lambda t: simlab.theory.stale_share_fixed_ttl(t, update_rate) - 0.01, 0.01, 1e4)
# END SOLUTION
simlab.checks.check_ttl_for_staleness(ttl, update_rate, target=0.01)

# %% [markdown]
# ## Keys that expire together come back together
#
# When a service starts, it fills the whiteboard in a rush; with one fixed TTL all those keys
# expire in the same second, and the filing room takes the rush again, every TTL. Spreading each
# TTL at random by ±50% (jitter) smooths the load.

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for jitter in (0.0, 0.5):
    w = simlab.zipf(5000, 0.6, 150_000, rate=1000.0, ttl=30.0, ttl_jitter=jitter, seed=2)
    load = simlab.results.db_load_over_time(simlab.simulate(w, cache_size=10_000, whiteboard=0.0,
                                                    filing_room=0.0, seed=1), bin_s=1.0)
    ax.plot(load["time"], load["with_whiteboard"], label=f"TTL 30 s, jitter ±{jitter:.0%}")
ax.set(title="Filing-room load after a cold start (1,000 reads/s over 5,000 keys)",
       xlabel="time (s)", ylabel="filing-room queries per second")
ax.legend();

# %% [markdown]
# ## How long do expired keys stay in memory?
#
# Redis removes an expired key when someone touches it (lazy) or when its **active expire
# cycle** finds it: ten times a second it looks at 20 keys with a TTL at a time, and keeps
# looking while more than 10% of those had expired, within 25 ms. So when many keys expire at
# once, a backlog of expired-but-present keys builds up before the cycle catches up. `DBSIZE`
# counts them; fakeredis never does (it hides expired keys). Below: 20,000 keys whose deadlines
# fall over one second, nobody reading them, and `DBSIZE` every 20 ms. The experiment is one
# piece of redis-py code: it runs on simlab's Redis model (`model://`, which runs Redis's
# active cycle on a virtual clock) and, with a `redis-server` binary, on a private real server
# too; without one you still send real Redis commands, to the model.

# %%
source = "both" if simlab.live.redis_server_binary() else "model"   # real: about 3 s
runs = simlab.expiry.expiry_experiment(ttl_keys=20_000, persistent_keys=0, source=source)
fig, ax = plt.subplots(figsize=(8, 4))
for name, run in runs.groupby("source"):
    ax.plot(run["time"], run["expired_present"], label=name)
ax.axvspan(0, 1, color="grey", alpha=0.15, label="deadlines fall here")
ax.set(title="Expired keys still in memory (20,000 keys expiring over 1 s)",
       xlabel="time since the first deadline (s)", ylabel="expired keys not yet removed")
ax.legend();

# %% [markdown]
# ## What to remember
#
# - `SET ... EX/PX` and the key deletes itself; `TTL` says -1 (no expiry) or -2 (gone).
# - OTPs: TTL + attempt counter + a single-use transaction. Sessions: EXPIRE on every access.
#   Flash messages: GETDEL.
# - A longer TTL means more hits and more stale reads: `l·T/(1+l·T)` hits, and about `mu·T/2`
#   stale for small `mu·T`. Choose it from the update rate you can tolerate.
# - Keys filled together expire together: add jitter to TTLs.
# - Expired keys linger until touched or found by the active cycle; memory and `DBSIZE` count
#   them meanwhile.
#
# **Next:** [06_rate_limiting](06_rate_limiting.ipynb).

# %%
if FAST:
    clock.uninstall()
simlab.cleanup(r);
