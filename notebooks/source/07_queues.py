# %% [markdown]
# # 07 · How do I hand slow work to a worker?
#
# **Time:** 60 minutes. **You will:** see what a user waits for when slow work is done inline
# and when it is queued; run worker processes that take jobs from a Redis list; kill one in the
# middle of a job, for real, and see the plain queue lose it while the reliable queue does not;
# then size a pool of workers with queueing theory, and watch a backlog grow without bound.
#
# Workers are separate processes here, so they need a Redis they can reach over the network:
# your `REDIS_URL`, a private redis-server, or, if neither is there, fakeredis served over TCP
# from this notebook.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import simlab
from simlab import queueing
from simlab.live.queues import JobQueue, QueueServer, crash_experiments, user_latency

server = QueueServer()
r = server.client()
print("queue server:", server.kind)

# %% [markdown]
# ## What the user waits for
#
# A sign-up sends a welcome email (20 ms of work here; seconds in real life). Done inline, the
# user waits for it. Queued, the API pushes a job (`LPUSH`) and answers at once; a worker sends
# the email later.

# %%
lat = user_latency(r, requests=40, work_s=0.02)
simlab.plots.percentile_table({"inline (do the work)": lat["inline"],
                               "queued (LPUSH a job)": lat["queued"]})

# %% [markdown]
# ## Workers
#
# A worker loops: `BRPOP` (block until a job arrives, then take it), do the work, record it.
# Two workers, twenty jobs of 50 ms:

# %%
with JobQueue(server) as q:
    for _ in range(20):
        q.enqueue(0.05)
    q.start_worker()
    q.start_worker()
    q.wait_until_done(timeout=20)
    print(q.report(20))

# %% [markdown]
# ## A worker killed mid-job
#
# `BRPOP` removes the job from Redis the moment the worker takes it. If the worker dies while
# working (a deploy, an out-of-memory kill, a crash), the job is gone.
#
# The **reliable queue** takes the job with `BLMOVE` into the worker's own *processing list*,
# in one atomic step, and removes it from there (`LREM`) only when the work is done. A recovery
# step moves the jobs of dead workers (whose heartbeat key has expired) back to the queue.
#
# Below, for each kind: six jobs of 0.15 s, a worker killed (SIGKILL, not a polite request) in
# the middle of its first job, then a fresh worker.

# %%
crashes = crash_experiments(server, work_s=0.15)    # both kinds at once, on two queues
# the id of the job the worker held when it was killed (job ids start at 0)
crashes.rename(columns={"killed_during_job": "id of the job held when killed"})

# %% [markdown]
# The plain queue lost the job the worker held. The reliable queue lost nothing, but the
# killed job was *started* twice: delivery is "at least once", so a job's work must be safe to
# repeat (idempotent), the subject of a later lesson.

# %% [markdown]
# ## How long do jobs wait? Queueing theory
#
# Jobs arrive at random (Poisson, `lambda` per second); each takes a random time (mean `1/mu`);
# `c` workers serve them in order. With exponential work times the mean wait has a formula,
# Erlang's C. The simulation against it, for a growing load:

# %%
c, mean = 4, 0.1
loads = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]
rows = []
for rho in loads:
    df = queueing.simulate_queue(arrival_rate=rho * c / mean, service_mean=mean, workers=c,
                                 jobs=30_000, seed=1)
    rows.append({"utilisation": rho, "simulated": df["wait"].mean() * 1e3,
                 "Erlang C": queueing.erlang_c_wait(rho * c / mean, mean, c) * 1e3})
waits = pd.DataFrame(rows).set_index("utilisation")
ax = waits.plot(style=["o", "-"], logy=True, figsize=(7, 4))
ax.set(title="Mean wait for a worker (4 workers, 100 ms jobs)",
       xlabel="utilisation (arrival rate x mean work / workers)", ylabel="mean wait (ms, log)");

# %% [markdown]
# Waits stay small until the workers are busy most of the time, then climb steeply: at 95%
# utilisation a job waits far longer than its own work.

# %% [markdown]
# The same question from the other side: the load is fixed (30 jobs a second of 100 ms each,
# so at least 3 workers are needed) and you choose how many workers to run. Each extra worker
# past the minimum cuts the wait sharply, then hardly at all:

# %%
rows = []
for workers_c in range(4, 10):
    df = queueing.simulate_queue(arrival_rate=30, service_mean=mean, workers=workers_c,
                                 jobs=20_000, seed=4)
    rows.append({"workers": workers_c, "simulated": df["wait"].mean() * 1e3,
                 "Erlang C": queueing.erlang_c_wait(30, mean, workers_c) * 1e3})
by_workers = pd.DataFrame(rows).set_index("workers")
ax = by_workers.plot(style=["o", "-"], logy=True, figsize=(7, 4))
ax.set(title="Mean wait against the number of workers (30 jobs/s, 100 ms each)",
       xlabel="workers", ylabel="mean wait (ms, log)");

# %% [markdown]
# Little's law ties the numbers together:
# jobs in the system = arrival rate x time in the system.

# %%
df = queueing.simulate_queue(arrival_rate=30, service=simlab.LogNormal(0.08, 0.5), workers=4,
                             jobs=50_000, seed=2)
s = queueing.queue_summary(df)
print(f"measured jobs in system L = {s['littles_L']:.3f}; "
      f"lambda x W = {s['littles_lambda_W']:.3f}  (log-normal work: Little holds for any)")

# %% [markdown]
# ## When arrivals outrun the workers
#
# Four workers finish at most 40 jobs a second. At 50 a second, the queue grows by about 10
# a second, forever: no amount of waiting catches up. Only more workers (or less work) do.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for rate in (35, 50):
    df = queueing.simulate_queue(arrival_rate=rate, service_mean=0.1, workers=4, jobs=20_000,
                                 seed=3)
    q = queueing.queue_length(df)
    ax.plot(q["time"], q["waiting"], label=f"{rate} jobs/s (capacity 40/s)")
ax.set(title="Jobs waiting in the queue", xlabel="time (s)", ylabel="jobs waiting")
ax.legend();

# %% [markdown]
# ## Crashes at scale
#
# Busy workers crash at 0.5 per second each (restarting after a second). How many jobs does
# each queue lose?

# %%
kw = dict(arrival_rate=20, service_mean=0.1, workers=4, jobs=5000, crash_rate=0.5, seed=1)
at_scale = pd.DataFrame([queueing.queue_summary(queueing.simulate_queue(**kw)),
                         queueing.queue_summary(queueing.simulate_queue(reliable=True, **kw))],
                        index=["plain (BRPOP)", "reliable (BLMOVE)"])   # one row per queue
at_scale["mean wait (ms)"] = at_scale["mean_wait_s"] * 1e3
at_scale["p95 wait (ms)"] = at_scale["p95_wait_s"] * 1e3
at_scale[["processed", "lost", "redelivered", "mean wait (ms)", "p95 wait (ms)"]].round(1)

# %% [markdown]
# ## Exercise 1: size the pool
#
# Uploaded videos arrive at 5 a second and making each one's thumbnails takes 2 s on average
# (exponential). What is the smallest number of workers for which, in the long run, 95% of jobs
# wait less than one second? (Ten workers would be busy all the time: how many more?)
#
# Erlang C answers it: a job waits at all with probability `queueing.erlang_c(c, a)` (`a` =
# arrival rate x mean work), and longer than `t` with `C(c, a) * exp(-(c/mean - rate) * t)`;
# `queueing.erlang_c_wait_quantile(rate, mean, c, 0.95)` solves that for the 95th percentile.
# Check your answer by simulation (`queueing.simulate_queue(..., jobs=50_000, seed=s)` and
# `queueing.queue_summary`) with several seeds: near the line, one run can land on either side.

# %%
# BEGIN SOLUTION
# LEARNER: workers = None
workers = next(c for c in range(11, 40)
               if queueing.erlang_c_wait_quantile(5, 2.0, c, 0.95) < 1.0)
print("simulated p95 waits (s), four seeds:",
      [round(queueing.queue_summary(queueing.simulate_queue(
          arrival_rate=5, service_mean=2.0, workers=workers, jobs=50_000, seed=s))[
          "p95_wait_s"], 2) for s in range(4)])
# END SOLUTION
simlab.checks.check_pool_size(workers, arrival_rate=5, service_mean=2.0)

# %% [markdown]
# ## Exercise 2: make a worker crash-safe
#
# Write `take(r, queue, processing)` that takes the oldest job from `queue` and, in the same
# atomic step, puts it in `processing`; it returns the job, or None if the queue stays empty
# for 0.1 s. (Jobs are pushed with LPUSH.) The check looks between your commands, where a
# worker could crash, and runs eight workers at once that take turns command by command.

# %%
# BEGIN SOLUTION
# LEARNER: def take(r, queue, processing):
# LEARNER:     ...
# LEARNER:
# LEARNER: take = None  # delete this line when you have written the function
def take(r, queue, processing):
    return r.blmove(queue, processing, 0.1, "RIGHT", "LEFT")
# END SOLUTION


simlab.checks.check_crash_safe_take(take)

# %% [markdown]
# ## What to remember
#
# - Queue slow work: the user waits for an `LPUSH`, not for the work.
# - `BRPOP` loses a job if its worker dies mid-job; `BLMOVE` into a processing list, acknowledge
#   with `LREM`, and recover dead workers' lists: nothing is lost, some jobs run twice.
# - Waiting time explodes as utilisation nears 100% (Erlang C); beyond 100% the backlog grows
#   forever.
# - Little's law: jobs in the system = arrival rate x time in the system.
#
# **Next:** [08_eviction](08_eviction.ipynb): what happens when the whiteboard is full.

# %%
server.close()
