# %% [markdown]
# # The Whiteboard: Redis as a cache, learned by measuring
#
# Picture a busy office. Every answer lives in the **filing room** at the end of the corridor:
# complete, durable, and a walk away. By the door hangs a **whiteboard**. Whoever fetches an
# answer that people keep asking for writes it there, so the next person glances at the board
# instead of walking. The board is small, and now and then someone wipes it.
#
# That is this whole course in one picture: the filing room is your **database**, the
# whiteboard is **Redis**. Each notebook asks one question about the whiteboard and answers it
# twice:
#
# 1. with a **real run**: real Redis commands (against *fakeredis*, an in-process stand-in, or a
#    real Redis server when you have one) and a real database (SQLite, or PostgreSQL);
# 2. with a **simulation** (the `simlab` package): the same experiment in virtual time, at any
#    scale, with the theory drawn over it.
#
# Then it plots the two side by side, so you can see where they agree and why.
#
# **Time:** 10 minutes. **You will:** see which backends you are using, learn how the
# exercises check themselves, and find your way around.

# %% [markdown]
# ## Which whiteboard, which filing room?
#
# `simlab.connect()` gives you the whiteboard. With nothing set up it is fakeredis, running
# inside this notebook: nothing to install. If the environment variable `REDIS_URL` points at
# a real server (Binder starts one for you), you get that instead. The filing room is SQLite
# unless `DATABASE_URL` names a PostgreSQL database.

# %%
import simlab

r = simlab.connect()
room = simlab.filing_room()
print(simlab.backend_banner(r, room))

# %% [markdown]
# Both answer straight away. A first taste, one command each:

# %%
r.set(simlab.key("hello"), "whiteboard")
print("whiteboard says:", r.get(simlab.key("hello")))
print("filing room says:", room.get_user(1)["name"])
r.delete(simlab.key("hello"));

# %% [markdown]
# Every key this course writes starts with `wb:` (that is what `simlab.key(...)` adds), so the
# course never touches anything else on a real server, and `simlab.cleanup(r)` can remove
# exactly what the course made. simlab also refuses to flush or reconfigure a server it did not
# start itself; the destructive experiments (eviction, restarts) use a private server that
# simlab starts and stops.

# %% [markdown]
# ## The course
#
# | notebook | question | time |
# | --- | --- | --- |
# | `01_redis_basics` | What is in the whiteboard? | 60 min |
# | `02_whiteboard_vs_filing_room` | How much faster is it, really? | 45 min |
# | `03_cache_aside` | How does the whiteboard take load off the filing room? | 60 min |
# | `04_hit_ratio_curves` | How big must the whiteboard be? | 60 min |
# | `05_ttl_and_expiry` | How do I make data expire by itself, and what does it cost? | 60 min |
# | `06_rate_limiting` | How do I count requests per user per window? | 60 min |
# | `07_queues` | How do I hand slow work to a worker? | 60 min |
# | `08_eviction` | What happens when the whiteboard is full? | 75 min |
# | `09_invalidation_and_stampedes` | How does the whiteboard go stale? | 75 min |
# | `10_durability` | Can I keep data only in Redis? | 45 min |
# | `11_scaling_out` | What if one whiteboard is not enough? | 60 min |
# | `12_capstone` | Can I design the caching for a real app? | 90 min |
#
# All thirteen notebooks, 00 to 12, are here (the README keeps the list, with run times).

# %% [markdown]
# ## How the exercises work
#
# An exercise gives you a cell with `None` where your answer goes. Replace it, run the cell,
# and a check in `simlab.checks` tells you kindly whether you have it, with a hint if not.
# Nothing is graded and nothing breaks: a wrong answer prints a hint, never a traceback.
#
# Try it. In the analogy, which one is Redis: the filing room or the whiteboard?

# %%
# BEGIN SOLUTION
# LEARNER: answer = None  # "filing room" or "whiteboard"
answer = "whiteboard"
# END SOLUTION
simlab.checks.check_analogy(answer)

# %% [markdown]
# ## What to remember
#
# - The database is the filing room (complete, durable, slow to reach); Redis is the
#   whiteboard (fast, small, wiped now and then).
# - Each lesson measures a real run and a simulation, and plots them together.
# - Your keys live under `wb:<your name>:` (`simlab.key(...)` builds them); simlab never
#   flushes a server it did not start.
#
# **Next:** [01_redis_basics](01_redis_basics.ipynb), what you can write on the whiteboard.
