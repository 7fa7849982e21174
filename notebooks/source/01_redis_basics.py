# %% [markdown]
# # 01 · What is in the whiteboard?
#
# **Time:** 60 minutes. **You will learn:** Redis's core commands on strings (SET, GET, DEL,
# EXISTS, TTL with EX and PX, NX); why INCR matters when many clients write at once; lists,
# hashes, sets and sorted sets; pub/sub; how to name keys; and why you list keys with SCAN,
# not KEYS.
#
# Redis is a server that keeps a dictionary in memory: you give it a key, it gives you the
# value. Every command here is sent through the real redis-py client, to fakeredis or to a real
# server, whichever `simlab.connect()` found.

# %%
import simlab
from simlab.live.basics import counter_race, pubsub_demo

r = simlab.connect()
print(r.backend)
simlab.cleanup(r);  # start from a clean slate (only the course's own keys)

# %% [markdown]
# ## Strings: SET, GET, EXISTS, DEL
#
# A string value can be text, a number or bytes (up to 512 MB, though a whiteboard entry is
# usually small). `GET` of a missing key answers `None`: that is what a *miss* looks like.

# %%
name = simlab.key("greeting")
r.set(name, "hello")
print("GET    ->", r.get(name))
print("EXISTS ->", r.exists(name))
print("DEL    ->", r.delete(name), "key removed")
print("GET    ->", r.get(name), "(a miss)")

# %% [markdown]
# ## Keys that expire: EX, PX and TTL
#
# `SET ... EX 300` keeps a value for 300 seconds; `PX` counts in milliseconds. `TTL` answers
# the seconds left, `-1` for a key that never expires and `-2` for a key that is not there.
# Nobody has to clean up: the key simply stops existing.

# %%
otp = simlab.key("otp", "user123")
r.set(otp, "4821", ex=300)
r.set(simlab.key("forever"), "1")
print("TTL of the OTP      :", r.ttl(otp), "s")
print("PTTL of the OTP     :", r.pttl(otp), "ms")
print("TTL without expiry  :", r.ttl(simlab.key("forever")))
print("TTL of a missing key:", r.ttl(simlab.key("nothing-here")))

# %% [markdown]
# A key with a 50 ms lifetime, checked before and after it runs out:

# %%
import time

flash = simlab.key("flash")
r.set(flash, "saved!", px=50)
print("right away:", r.get(flash))
time.sleep(0.08)  # NBVAL: timing-dependent but with a wide margin
print("80 ms later:", r.get(flash))

# %% [markdown]
# ## Only if absent: NX
#
# `SET ... NX` writes only when the key does not exist yet, and tells you whether it did. It is
# how two clients agree on who goes first (a lock, a one-time token).

# %%
lock = simlab.key("lock", "report")
print("first client gets the lock :", r.set(lock, "client-1", nx=True, px=5000))
print("second client gets the lock:", r.set(lock, "client-2", nx=True, px=5000))
print("holder:", r.get(lock))

# %% [markdown]
# ## Counting with many clients at once: GET + SET against INCR
#
# A page-view counter. The tempting code reads the value, adds one, and writes it back: two
# commands. Between them another client can read the same old value, and one of the two
# updates is lost. `INCR` does the read, the addition and the write inside Redis as one step,
# which no other command can interleave with.
#
# Four threads add 1 two hundred times each; the total should be 800.

# %%
racy = counter_race(r, method="get_set", workers=4, per_worker=200)
atomic = counter_race(r, method="incr", workers=4, per_worker=200)
for result in (racy, atomic):
    print(f"{result['method']:>8}: expected {result['expected']}, got {result['actual']}, "
          f"lost {result['lost_updates']}")

# %% [markdown]
# The exact number lost changes from run to run (it depends on how the threads interleave),
# but GET + SET loses updates and INCR never does.

# %% [markdown]
# ## More than strings
#
# Redis values can be data structures, each with its own commands:
#
# | type | what it is | typical use |
# | --- | --- | --- |
# | list | a sequence, push and pop at both ends | a queue of jobs (notebook 07) |
# | hash | a small dictionary under one key | a user's session, an object's fields |
# | set | unique members | tags, who is online |
# | sorted set | members with a score, kept in order | leaderboards, time windows (notebook 06) |

# %%
jobs = simlab.key("jobs")
r.rpush(jobs, "email:1", "email:2", "resize:7")
print("list   :", r.lrange(jobs, 0, -1), "| LPOP ->", r.lpop(jobs))

user = simlab.key("user", 42, "profile")
r.hset(user, mapping={"name": "Ada", "plan": "pro"})
print("hash   :", r.hgetall(user), "| HGET plan ->", r.hget(user, "plan"))

online = simlab.key("online")
r.sadd(online, "ada", "alan", "ada")
print("set    :", sorted(r.smembers(online)), "| SISMEMBER alan ->", r.sismember(online, "alan"))

board = simlab.key("leaderboard")
r.zadd(board, {"ada": 120, "alan": 95, "grace": 130})
print("zset   :", r.zrevrange(board, 0, 1, withscores=True), "(top two)")

# %% [markdown]
# ## Pub/sub: a message to whoever listens
#
# A client can `SUBSCRIBE` to a channel and receive every message `PUBLISH`ed to it from then
# on. Nothing is stored: a subscriber that is not listening misses the message. (For work that
# must not be lost, use a list as a queue, as in notebook 07.)

# %%
print("received:", pubsub_demo(r))

# %% [markdown]
# ## Naming keys, and finding them
#
# Use `:` to build names from parts, most general first: `user:42:profile`. A prefix groups a
# service's keys and lets you find them. The course's prefix is `wb:` followed by your own
# namespace, so that a class can share one Redis: `simlab.key("user", 42, "profile")` gives
# `wb:<you>:user:42:profile`, and `simlab.cleanup(r)` deletes only your keys.
#
# `KEYS pattern` walks the whole key space in one go and blocks the server meanwhile: with
# millions of keys, every other client waits. `SCAN` walks it in small steps with a cursor, so
# the server keeps serving. Use `scan_iter` in redis-py.

# %%
for i in range(25):
    r.set(simlab.key("item", i), i)
found = sorted(r.scan_iter(match=simlab.key("item", "*"), count=10))
print(len(found), "keys found with SCAN, e.g.", found[:3])

# %% [markdown]
# ## Exercise 1: a session that expires by itself
#
# Store Alice's session as a **hash** at `simlab.key("session", "alice")` (the cell below
# builds that name for you) with the field `user` set to
# `alice` (add any other fields you like), and make it expire in **30 minutes**.

# %%
session = simlab.key("session", "alice")
# BEGIN SOLUTION
# LEARNER: ...  # your commands here: r.hset(...), r.expire(...)
r.hset(session, mapping={"user": "alice", "theme": "dark"})
r.expire(session, 30 * 60)
# END SOLUTION
simlab.checks.check_session(r)

# %% [markdown]
# ## Exercise 2: a counter that never loses a view
#
# Write `count_view(r, page)` so that it adds one view of `page` to the key
# `simlab.key("views", page)`. The check calls it from 8 clients at once, on a server of its own, and
# makes them take turns command by command: a gap between reading and writing always shows.

# %%
# BEGIN SOLUTION
# LEARNER: def count_view(r, page):
# LEARNER:     ...  # one command is enough
# LEARNER:
# LEARNER: count_view = None  # delete this line when you have written the function
def count_view(r, page):
    r.incr(simlab.key("views", page))
# END SOLUTION


simlab.checks.check_view_counter(count_view, r)

# %% [markdown]
# ## What to remember
#
# - `SET`/`GET`/`DEL`/`EXISTS`; `GET` of a missing key is a miss (`None`).
# - `EX`/`PX` make a key expire by itself; `TTL` answers -1 (no expiry) or -2 (no key).
# - `NX` writes only if absent; `INCR` is atomic, GET-then-SET is not.
# - Lists, hashes, sets and sorted sets each fit a job; pub/sub does not keep messages.
# - Name keys `service:type:id`; list them with `SCAN`, never `KEYS` on a busy server.
#
# **Next:** [02_whiteboard_vs_filing_room](02_whiteboard_vs_filing_room.ipynb): how much faster
# is the whiteboard, really?

# %%
simlab.cleanup(r);
