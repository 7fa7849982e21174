"""Live experiments for notebook 09: stale reads, the stale-set race and its two fixes, the
stampede with real concurrent clients, and write-through against write-behind.

Every experiment runs real commands against the client it is given (fakeredis or a real
server) from real threads. The filing room here is :class:`VersionedRoom`, a small in-memory
table of versioned rows: its rows start the same on every run (so reruns give the same output),
it can make a query slow, and it counts queries in flight, which is what a stampede is made of.

The race of cache-aside (a reader fills the whiteboard with a value it read before a writer's
update and delete) is made certain, not likely: the reader pauses on an event between its read
and its fill, and the writer runs exactly in that pause.
"""
from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from .. import _validate as v
from ..stampede import STRATEGIES, StampedeRun, _staleness_row
from .client import key as course_key

FIXES = (None, "cas", "lease")
WAIT_LIMIT = 5.0        # seconds a paused thread waits for its partner before giving up

# Fill only with a version at least as new as the one stored (a value or a tombstone).
# KEYS[1] the key; ARGV: version, data, ttl in ms, "1" for a tombstone.
SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'data', ARGV[2], 'tomb', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
# A lease on a miss (Nishtala et al., NSDI 2013). KEYS: the key, its lease; ARGV: token, ms.
# Returns the token (fill with it), '' (the key is there now: read again) or nil (another
# reader holds the lease: wait and read again).
LEASE_GET = """
if redis.call('EXISTS', KEYS[1]) == 1 then return '' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return ARGV[1] end
return false
"""
# Fill only while holding a valid lease. KEYS: key, lease; ARGV: token, version, data, ttl ms.
LEASE_SET = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'data', ARGV[3], 'tomb', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
# Release a lock only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class VersionedRoom:
    """A filing room of versioned rows, in memory, safe to share between threads.

    Parameters
    ----------
    rows : dict, optional
        ``{item: value}``; every row starts at version 1.
    query_time : float
        Seconds one :meth:`read` takes (the expensive query of a stampede).

    Attributes
    ----------
    queries : int
        Reads so far. ``peak`` is the most reads in flight at once; ``log`` holds each read's
        ``(start, end)`` in seconds since the room was made.
    """

    def __init__(self, rows: dict | None = None, *, query_time: float = 0.0):
        self.query_time = v.nonnegative_real("query_time", query_time)
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self.rows = {item: (1, value) for item, value in (rows or {}).items()}
        self.changed_at: dict = {}
        self.queries = self.peak = self._inflight = 0
        self.log: list = []

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def read(self, item) -> tuple:
        """``(version, value)`` of ``item`` (``(0, None)`` if it has no row)."""
        with self._lock:
            self._inflight += 1
            self.peak = max(self.peak, self._inflight)
            start = self.now()
        try:
            if self.query_time:
                time.sleep(self.query_time)
            with self._lock:
                row = self.rows.get(item, (0, None))
        finally:
            with self._lock:
                self._inflight -= 1
                self.queries += 1
                self.log.append((start, self.now()))
        return row

    def write(self, item, value, *, at: float | None = None) -> int:
        """Store ``value`` as the next version of ``item``; return that version."""
        with self._lock:
            version = self.rows.get(item, (0, None))[0] + 1
            self.rows[item] = (version, value)
            self.changed_at[(item, version)] = self.now() if at is None else at
            return version

    def version(self, item) -> int:
        with self._lock:
            return self.rows.get(item, (0, None))[0]


# ------------------------------------------------------------------------ cache-aside, 3 ways

class _Scripts:
    """The scripts registered on one client (once per client)."""

    def __init__(self, r):
        self.set_if_newer = r.register_script(SET_IF_NEWER)
        self.lease_get = r.register_script(LEASE_GET)
        self.lease_set = r.register_script(LEASE_SET)
        self.release = r.register_script(RELEASE)


def scripts(r) -> _Scripts:
    got = r.__dict__.get("_simlab_invalidation_scripts")
    if got is None:
        got = r.__dict__["_simlab_invalidation_scripts"] = _Scripts(r)
    return got


def _cached(r, name):
    entry = r.hgetall(name)
    if not entry or entry.get("tomb") == "1":
        return None
    return int(entry["v"]), entry["data"]


def fetch(r, room: VersionedRoom, name: str, item, *, ttl: float, fix: str | None = None,
          pause=None) -> tuple:
    """Cache-aside read of ``item`` under key ``name``: ``(version, value, hit)``.

    ``fix``: None (fill with a plain write), ``"cas"`` (fill only if no newer version or
    tombstone is stored, in Lua) or ``"lease"`` (fill only with the lease this miss was
    given). ``pause()``, if given, runs between the filing-room read and the fill: where the
    race strikes.
    """
    v.choice("fix", fix, FIXES)
    ms = max(1, int(round(ttl * 1000)))
    found = _cached(r, name)
    if found is not None:
        return (*found, True)
    token = None
    if fix == "lease":
        token, found = _take_lease(r, name)
        if found is not None:
            return (*found, True)
    version, value = room.read(item)
    if pause is not None:
        pause()
    if fix == "cas":
        scripts(r).set_if_newer(keys=[name], args=[version, value, ms, "0"])
    elif fix == "lease":
        if token is not None:
            scripts(r).lease_set(keys=[name, name + ":lease"], args=[token, version, value, ms])
    else:
        pipe = r.pipeline(transaction=True)
        pipe.delete(name)
        pipe.hset(name, mapping={"v": version, "data": value, "tomb": "0"})
        pipe.pexpire(name, ms)
        pipe.execute()
    return version, value, False


def _take_lease(r, name, *, lease_ms: int = 2000, patience: float = 1.0):
    """``(token, None)`` with a lease, ``(None, (version, value))`` when the value appeared
    meanwhile, ``(None, None)`` when another reader kept the lease past ``patience``."""
    deadline = time.monotonic() + patience
    while True:
        token = uuid.uuid4().hex
        got = scripts(r).lease_get(keys=[name, name + ":lease"], args=[token, lease_ms])
        if got == token:
            return token, None
        if got == "":
            found = _cached(r, name)
            if found is not None:
                return None, found
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.002)


def invalidate(r, name: str, version: int, *, fix: str | None = None,
               tombstone_ttl: float = 60.0) -> None:
    """What a writer does to the whiteboard after updating the filing room to ``version``:
    delete the key (and, with leases, its lease, which invalidates the token); with ``cas``,
    leave a tombstone carrying the new version, so a slower reader's older fill is refused.
    The tombstone must outlive the slowest reader (``tombstone_ttl`` seconds)."""
    v.choice("fix", fix, FIXES)
    if fix == "cas":
        ms = max(1, int(round(tombstone_ttl * 1000)))
        scripts(r).set_if_newer(keys=[name], args=[version, "", ms, "1"])
    elif fix == "lease":
        r.delete(name, name + ":lease")
    else:
        r.delete(name)


def stale_set_race(r, fix: str | None = None, *, ttl: float = 60.0) -> dict:
    """The stale-set race, made certain with two real clients (threads).

    The reader misses and reads version 1 from the filing room, then pauses; the writer
    updates the row to version 2 and invalidates the key; then the reader fills. A later
    read shows what the whiteboard serves. Without a fix it serves version 1 until the TTL
    runs out; with ``"cas"`` or ``"lease"`` the late fill is refused.

    Returns
    -------
    dict
        ``fix``, ``reader_read`` (the version the reader read), ``fill_landed``, ``served``
        (the version a later read returns), ``filing_room`` (its version), ``stale``, and
        ``stale_for_s`` (how long the stale value would stay: its TTL, or 0).
    """
    v.choice("fix", fix, FIXES)
    room = VersionedRoom({1: "old email"})
    name = course_key("race", fix or "none", uuid.uuid4().hex[:8])
    read_done, go = threading.Event(), threading.Event()

    def pause():
        read_done.set()
        if not go.wait(WAIT_LIMIT):
            raise TimeoutError("the writer did not run within the reader's pause")

    def reader():
        try:
            return fetch(r, room, name, 1, ttl=ttl, fix=fix, pause=pause)
        finally:
            read_done.set()

    def writer():
        try:
            if not read_done.wait(WAIT_LIMIT):
                raise TimeoutError("the reader did not reach its pause")
            invalidate(r, name, room.write(1, "new email"), fix=fix)
        finally:
            go.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.submit(reader), pool.submit(writer)
        read, _ = first.result(), second.result()
    landed = _cached(r, name) is not None
    served, value, _ = fetch(r, room, name, 1, ttl=ttl, fix=fix)
    pttl = r.pttl(name)
    r.delete(name, name + ":lease")
    stale = served < room.version(1)
    return {"fix": fix or "none", "reader_read": read[0], "fill_landed": landed,
            "served": served, "served_value": value, "filing_room": room.version(1),
            "stale": stale, "stale_for_s": pttl / 1000 if stale and pttl > 0 else 0.0}


def race_frequency(r, fix: str | None = None, *, readers: int = 4, items: int = 3,
                   reads: int = 150, writes: int = 40, max_pause: float = 0.002,
                   ttl: float = 60.0, seed: int = 0) -> dict:
    """Readers and a writer at random, concurrently: how often a read hits a stale value.

    Each reader pauses a random time (up to ``max_pause`` s) between its filing-room read and
    its fill, as a slow network or a garbage-collection pause would. A hit is stale when the
    filing room held a newer version whose invalidation had finished before the read began
    (so the brief, inherent window between a writer's update and its delete is not counted:
    only a stale value that outlived its invalidation is). Random by nature: the counts vary
    between runs.

    Returns ``fix``, ``reads``, ``hits``, ``stale_hits``, ``stale_share`` (of hits) and
    ``writes``.
    """
    v.choice("fix", fix, FIXES)
    for what, value in (("readers", readers), ("items", items), ("reads", reads),
                        ("writes", writes)):
        v.positive_int(what, value)
    max_pause = v.nonnegative_real("max_pause", max_pause)
    room = VersionedRoom({i: "v1" for i in range(items)})
    run_id = uuid.uuid4().hex[:8]
    names = [course_key("racefreq", run_id, i) for i in range(items)]
    seeds = np.random.SeedSequence(seed).spawn(readers + 1)
    settled = [1] * items          # the newest version whose invalidation is done

    def read_loop(k):
        rng = np.random.default_rng(seeds[k])
        hits = stale = 0
        for _ in range(reads):
            i = int(rng.integers(items))
            before = settled[i]
            version, _, hit = fetch(r, room, names[i], i, ttl=ttl, fix=fix,
                                    pause=lambda: time.sleep(rng.uniform(0, max_pause)))
            if hit:
                hits += 1
                stale += version < before
            time.sleep(rng.uniform(0, max_pause))
        return hits, stale

    def write_loop():
        rng = np.random.default_rng(seeds[-1])
        for n in range(writes):
            i = int(rng.integers(items))
            version = room.write(i, f"v{n + 2}")
            invalidate(r, names[i], version, fix=fix)
            settled[i] = version
            time.sleep(rng.uniform(0, 4 * max_pause))

    with ThreadPoolExecutor(max_workers=readers + 1) as pool:
        futures = [pool.submit(read_loop, k) for k in range(readers)]
        w = pool.submit(write_loop)
        counts = [f.result() for f in futures]
        w.result()
    r.delete(*names, *[n + ":lease" for n in names])
    hits = sum(c[0] for c in counts)
    stale = sum(c[1] for c in counts)
    return {"fix": fix or "none", "reads": readers * reads, "hits": hits, "stale_hits": stale,
            "stale_share": stale / hits if hits else 0.0, "writes": writes}


# ------------------------------------------------------------------------ staleness, live

def staleness_live(r, clock, events: pd.DataFrame, *, policy: str, ttl: float,
                   time_scale: float = 1.0) -> dict:
    """Run ``events`` (from :func:`simlab.stampede.staleness_events`) against ``r``: reads
    through the whiteboard with a TTL, writes to a :class:`VersionedRoom` (and, with
    ``policy="delete"``, a DEL of the key).

    With a controllable clock (fakeredis) the clock jumps from event to event; with a real
    server the run takes ``duration * time_scale`` seconds of wall time, TTLs scaled alike.
    Returns the row :func:`simlab.stampede.simulate_staleness` returns, ages in event time.
    """
    v.choice("policy", policy, ("ttl", "delete"))
    ttl = v.positive_real("ttl", ttl)
    scale = 1.0 if clock.controllable else v.positive_real("time_scale", time_scale)
    ms = max(1, int(round(ttl * scale * 1000)))
    room = VersionedRoom()
    run_id = uuid.uuid4().hex[:8]
    start = clock.now()
    reads = hits = stale = 0
    ages = 0.0
    for t, k, is_write in zip(events["time"].to_numpy(), events["key"].to_numpy(),
                              events["write"].to_numpy()):
        _wait_until(clock, start + t * scale)
        name = course_key("stale", run_id, int(k))
        if is_write:
            room.write(int(k), "x", at=float(t))
            if policy == "delete":
                r.delete(name)
            continue
        reads += 1
        cached = r.get(name)
        if cached is not None:
            hits += 1
            version = int(cached)
            if version < room.version(int(k)):
                stale += 1
                ages += t - room.changed_at[(int(k), version + 1)]
        else:
            r.set(name, room.rows.get(int(k), (0, None))[0], px=ms)
    for k in range(int(events["key"].max()) + 1 if len(events) else 0):
        r.delete(course_key("stale", run_id, k))
    return _staleness_row(policy, ttl, reads, hits, stale, ages)


def _wait_until(clock, when):
    gap = when - clock.now()
    if gap <= 0:
        return
    if clock.controllable:
        clock.advance(gap)
    else:
        time.sleep(gap)


# ------------------------------------------------------------------------ the stampede, live

def acquire(r, name: str, *, ttl_ms: int) -> str | None:
    """``SET name token NX PX ttl_ms``: the token if this client got the lock, else None."""
    token = uuid.uuid4().hex
    return token if r.set(name, token, nx=True, px=ttl_ms) else None


def release(r, name: str, token: str) -> bool:
    """Delete the lock only if it still holds ``token`` (GET and DEL in one Lua script: a lock
    that expired and was taken by another client is left alone)."""
    return bool(scripts(r).release(keys=[name], args=[token]))


def live_stampede(r, strategy: str = "none", *, clients: int = 12, ttl: float = 0.4,
                  recompute: float = 0.05, duration: float = 1.0, think: float = 0.005,
                  beta: float = 1.0, grace: float | None = None, seed: int = 0) -> StampedeRun:
    """Real clients (threads) against one hot key whose recompute is slow.

    Each client reads the key in a loop (``think`` seconds between requests) for
    ``duration`` seconds; the key starts filled with a TTL of ``ttl``. A recompute is a
    :class:`VersionedRoom` read that takes ``recompute`` seconds.

    Strategies as in :func:`simlab.stampede.simulate_stampede`: ``none``; ``lock`` (``SET
    lock token NX PX``, the others poll every 5 ms; released by its owner only, in Lua);
    ``xfetch`` (the value carries its recompute time and expiry); ``swr`` (the value carries
    a soft expiry, the key a hard TTL of ``ttl + grace``; one client refreshes in the
    background under a lock while the others get the stale value).

    Returns
    -------
    StampedeRun
        The same tables as the simulation (``lead`` is NaN: live runs do not know it).
    """
    v.choice("strategy", strategy, STRATEGIES)
    clients = v.positive_int("clients", clients)
    for what, value in (("ttl", ttl), ("recompute", recompute), ("duration", duration),
                        ("beta", beta)):
        v.positive_real(what, value)
    think = v.nonnegative_real("think", think)
    grace = 10 * recompute if grace is None else v.positive_real("grace", grace)
    room = VersionedRoom({0: "expensive report"}, query_time=recompute)
    name = course_key("hot", strategy, uuid.uuid4().hex[:8])
    hot = _HotKeyClient(r, room, name, strategy, ttl=ttl, recompute=recompute, beta=beta,
                        grace=grace)
    hot.recompute()                            # filled at time 0, as in the simulation
    room.queries, room.log, room.peak = 0, [], 0
    t0 = room.now()
    seeds = np.random.SeedSequence(seed).spawn(clients)

    def client(k):
        rng = np.random.default_rng(seeds[k])
        rows = []
        while room.now() - t0 < duration:
            tic = room.now()
            outcome = hot.get(rng)
            rows.append((tic - t0, outcome, room.now() - tic))
            time.sleep(think * rng.uniform(0.5, 1.5))
        return rows

    with ThreadPoolExecutor(max_workers=clients) as pool:
        rows = [row for f in [pool.submit(client, k) for k in range(clients)]
                for row in f.result()]
    hot.join()
    r.delete(name, name + ":lock")
    requests = pd.DataFrame(rows, columns=["time", "outcome", "latency"]).sort_values(
        "time", ignore_index=True)
    requests["outcome"] = pd.Categorical(requests["outcome"],
                                         categories=("hit", "miss", "wait", "early", "stale"))
    queries = pd.DataFrame([(s - t0, e - t0) for s, e in room.log], columns=["start", "end"])
    queries = queries.sort_values("start", ignore_index=True)
    queries["lead"] = np.nan
    queries["cycle"] = _cycles(queries["start"].to_numpy(), queries["end"].to_numpy())
    params = {"strategy": strategy, "clients": clients, "ttl": ttl, "recompute": recompute,
              "duration": duration, "think": think, "beta": beta, "grace": grace,
              "seed": seed, "source": "live", "backend": getattr(r, "backend", "redis")}
    return StampedeRun(requests, queries, params)


def _cycles(starts, ends) -> np.ndarray:
    """Number the recomputes: a new cycle starts when none is running."""
    out = np.zeros(len(starts), dtype=int)
    running_until, cycle = -math.inf, -1
    for i, (s, e) in enumerate(zip(starts, ends)):
        if s >= running_until:
            cycle += 1
        running_until = max(running_until, e)
        out[i] = cycle
    return out


class _HotKeyClient:
    """One strategy's read path for the hot key, shared by the client threads."""

    def __init__(self, r, room, name, strategy, *, ttl, recompute, beta, grace):
        self.r, self.room, self.name, self.strategy = r, room, name, strategy
        self.ttl, self.delta, self.beta, self.grace = ttl, recompute, beta, grace
        self.lock = name + ":lock"
        self._background: list = []

    def recompute(self):
        _, value = self.room.read(0)
        now = time.monotonic()
        body = json.dumps({"value": value, "delta": self.delta, "expiry": now + self.ttl,
                           "soft": now + self.ttl})
        hard = self.ttl + (self.grace if self.strategy == "swr" else 0.0)
        self.r.set(self.name, body, px=max(1, int(hard * 1000)))

    def get(self, rng) -> str:
        raw = self.r.get(self.name)
        now = time.monotonic()
        if raw is not None:
            entry = json.loads(raw)
            if self.strategy == "xfetch" and \
                    now - entry["delta"] * self.beta * math.log(1 - rng.random()) >= \
                    entry["expiry"]:
                self.recompute()
                return "early"
            if self.strategy == "swr" and now >= entry["soft"]:
                self._refresh_in_background()
                return "stale"
            return "hit"
        if self.strategy == "lock":
            return self._with_lock()
        self.recompute()
        return "miss"

    def _with_lock(self) -> str:
        token = acquire(self.r, self.lock, ttl_ms=max(1, int(self.delta * 3000)))
        if token is not None:
            try:
                self.recompute()
            finally:
                release(self.r, self.lock, token)
            return "miss"
        deadline = time.monotonic() + 3 * self.delta + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if self.r.get(self.name) is not None:
                return "wait"
        self.recompute()                # the lock holder died: do it ourselves
        return "miss"

    def _refresh_in_background(self):
        token = acquire(self.r, self.lock, ttl_ms=max(1, int(self.delta * 3000)))
        if token is None:
            return

        def refresh():
            try:
                self.recompute()
            finally:
                release(self.r, self.lock, token)

        thread = threading.Thread(target=refresh, daemon=True)
        self._background.append(thread)
        thread.start()

    def join(self):
        for thread in self._background:
            thread.join(WAIT_LIMIT)


# ------------------------------------------------------------------------ write-behind

def write_modes(server=None, *, writes: int = 400, kill_after: int = 300,
                flush_interval: float = 0.05, pace: float = 0.001) -> pd.DataFrame:
    """Write-through and write-behind on a private server that is killed (SIGKILL) after
    ``kill_after`` acknowledged writes.

    Write-through writes the filing room first, then the whiteboard, then acknowledges.
    Write-behind writes the whiteboard (the value and a queue entry, in one MULTI/EXEC) and
    acknowledges; a flusher thread moves the queue to the filing room every
    ``flush_interval`` seconds. Each mode gets a fresh server from ``server()`` (default:
    :class:`simlab.PrivateRedis`), which raises ``RedisServerNotFound`` without a binary.

    Returns one row per mode: ``acknowledged``, ``in_filing_room``, ``lost`` (acknowledged
    but not in the filing room), ``window_mean_ms`` and ``window_max_ms`` (how long flushed
    writes existed only on the whiteboard).
    """
    from .server import PrivateRedis

    writes = v.positive_int("writes", writes)
    kill_after = v.positive_int("kill_after", kill_after)
    make = server or PrivateRedis
    rows = []
    for mode in ("write-through", "write-behind"):
        with make() as srv:
            rows.append(_one_mode(srv, mode, writes, kill_after, flush_interval, pace))
    return pd.DataFrame(rows).set_index("mode")


def _one_mode(srv, mode, writes, kill_after, flush_interval, pace) -> dict:
    import redis

    r = srv.client(socket_timeout=2)
    room: dict = {}
    flushed_at: dict = {}
    acked: dict = {}
    queue = "wb:behind:queue"
    stop = threading.Event()

    def flusher():
        while not stop.wait(flush_interval):
            try:
                batch = r.lpop(queue, 1000) or []
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                return
            now = time.perf_counter()
            for entry in batch:
                item, value = entry.split("=", 1)
                room[int(item)] = value
                flushed_at[int(item)] = now

    thread = threading.Thread(target=flusher, daemon=True)
    if mode == "write-behind":
        thread.start()
    for i in range(writes):
        if len(acked) == kill_after:
            os.kill(srv.pid, signal.SIGKILL)
        try:
            if mode == "write-through":
                room[i] = f"value {i}"
                flushed_at[i] = time.perf_counter()
                r.set(f"wb:behind:{i}", f"value {i}")
            else:
                pipe = r.pipeline(transaction=True)
                pipe.set(f"wb:behind:{i}", f"value {i}")
                pipe.rpush(queue, f"{i}=value {i}")
                pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            break
        acked[i] = time.perf_counter()
        time.sleep(pace)
    stop.set()
    if thread.is_alive():
        thread.join(WAIT_LIMIT)
    window = np.array([max(0.0, flushed_at[i] - acked[i]) for i in acked if i in flushed_at])
    return {"mode": mode, "acknowledged": len(acked),
            "in_filing_room": sum(1 for i in acked if i in room),
            "lost": sum(1 for i in acked if i not in room),
            "window_mean_ms": float(window.mean() * 1000) if len(window) else 0.0,
            "window_max_ms": float(window.max() * 1000) if len(window) else 0.0}
