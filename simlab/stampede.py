"""Invalidation and stampedes in virtual time: stale reads, a hot key expiring under load, and
what write-behind loses in a crash.

* :func:`simulate_staleness` and :func:`ttl_only_staleness`: reads and writes on a set of keys,
  cached with a TTL only or deleted on every write; the share of reads that return an outdated
  value and how long it had been outdated, simulated and by formula.
* :func:`simulate_stampede`: one hot key, Poisson requests, a recompute (the filing room's
  expensive query) of ``recompute`` seconds, and a strategy for the moment the key expires:
  ``none`` (every miss recomputes), ``lock`` (one recomputes, the others wait), ``xfetch``
  (probabilistic early recomputation, Vattani, Chierichetti and Lowenstein, VLDB 2015) or
  ``swr`` (stale-while-revalidate: a soft TTL inside the value, a hard TTL on the key).
  :func:`xfetch_expected` gives XFetch's recomputations per expiry and lead time in closed form.
* :func:`simulate_write_behind_crash`: writes acknowledged by the whiteboard and flushed to the
  filing room in batches; a crash loses what was not flushed yet.

The live counterparts (real clients, threads, a real or fake Redis) are in
:mod:`simlab.live.invalidation`; they return the same shapes.
"""
from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd

from . import _validate as v
from ._random import resolve_seed, stream
from .theory import stale_share_fixed_ttl

STRATEGIES = ("none", "lock", "xfetch", "swr")
EULER_GAMMA = 0.5772156649015329

# outcome codes of a request to the hot key
HIT, MISS, WAIT, EARLY, STALE = 0, 1, 2, 3, 4
OUTCOMES = ("hit", "miss", "wait", "early", "stale")


# ------------------------------------------------------------------------ staleness

def ttl_only_staleness(read_rate: float, update_rate: float, ttl: float) -> dict:
    """Staleness of one key cached with a fixed TTL that nobody deletes on a write.

    Reads arrive as a Poisson stream of ``read_rate`` per second and the filing room changes
    the key as a Poisson stream of ``update_rate`` per second. A cycle is one miss and about
    ``l T`` hits, so the hit ratio is ``l T / (1 + l T)``; a hit at age ``a`` is stale when an
    update came since the fill (probability ``1 - exp(-mu a)``), and hits fall uniformly over
    the TTL (:func:`simlab.theory.stale_share_fixed_ttl`).

    Returns
    -------
    dict
        ``stale_share`` (of all reads), ``stale_share_of_hits``, ``hit_ratio`` and
        ``mean_stale_age_s`` (how long a stale read's value had been outdated, on average).
    """
    lam = v.positive_real("read_rate", read_rate)
    mu = v.positive_real("update_rate", update_rate)
    ttl = v.positive_real("ttl", ttl)
    hit_ratio = lam * ttl / (1 + lam * ttl)
    of_hits = stale_share_fixed_ttl(ttl, mu)
    # E[(a - U)+] for a ~ U(0, T), U ~ Exp(mu): T/2 - of_hits/mu; divided by P(stale)
    age = (ttl / 2 - of_hits / mu) / of_hits if of_hits > 0 else 0.0
    return {"stale_share": hit_ratio * of_hits, "stale_share_of_hits": of_hits,
            "hit_ratio": hit_ratio, "mean_stale_age_s": age}


def staleness_events(n_keys: int, read_rate: float, write_rate: float, duration: float,
                     seed: int | None = None) -> pd.DataFrame:
    """Reads and writes on ``n_keys`` keys, each key with Poisson reads (``read_rate`` per
    second) and Poisson writes (``write_rate`` per second), sorted by time: columns ``time``
    (s), ``key`` (int), ``write`` (bool). The same events drive the simulation and the live
    run."""
    n_keys = v.positive_int("n_keys", n_keys)
    lam = v.positive_real("read_rate", read_rate)
    mu = v.nonnegative_real("write_rate", write_rate)
    duration = v.positive_real("duration", duration)
    seed = resolve_seed(seed)
    total = n_keys * (lam + mu) * duration
    v.events("the staleness run", total, "one event per read or write", "use fewer keys, "
             "lower rates or a shorter duration")
    rng = stream(seed, "arrivals")
    n = rng.poisson(total)
    times = np.sort(rng.uniform(0, duration, n))
    keys = rng.integers(0, n_keys, n)
    writes = rng.random(n) < mu / (lam + mu)
    df = pd.DataFrame({"time": times, "key": keys, "write": writes})
    df.attrs["seed"] = seed
    return df


def simulate_staleness(events: pd.DataFrame, *, policy: str, ttl: float) -> dict:
    """Cache-aside over ``events`` (from :func:`staleness_events`) in virtual time.

    Parameters
    ----------
    policy : {"ttl", "delete"}
        ``ttl``: a write changes only the filing room, the whiteboard's copy lives until its
        TTL. ``delete``: a write also deletes the key (delete-on-write).
    ttl : float
        Seconds a filled value lives.

    Returns
    -------
    dict
        ``policy``, ``ttl``, ``reads``, ``hit_ratio``, ``stale_reads``, ``stale_share`` (of
        reads) and ``mean_stale_age_s`` (seconds since the filing room changed, per stale read).
    """
    v.choice("policy", policy, ("ttl", "delete"))
    ttl = v.positive_real("ttl", ttl)
    version: dict = {}         # key -> the filing room's version
    changed: dict = {}         # (key, version) -> when that version was written
    cached: dict = {}          # key -> (version, expires at)
    reads = hits = stale = 0
    ages = 0.0
    for t, k, is_write in zip(events["time"].to_numpy(), events["key"].to_numpy(),
                              events["write"].to_numpy()):
        if is_write:
            version[k] = version.get(k, 0) + 1
            changed[(k, version[k])] = t
            if policy == "delete":
                cached.pop(k, None)
            continue
        reads += 1
        entry = cached.get(k)
        if entry is not None and t < entry[1]:
            hits += 1
            if entry[0] < version.get(k, 0):
                stale += 1
                ages += t - changed[(k, entry[0] + 1)]
        else:
            cached[k] = (version.get(k, 0), t + ttl)
    return _staleness_row(policy, ttl, reads, hits, stale, ages)


def _staleness_row(policy, ttl, reads, hits, stale, ages) -> dict:
    return {"policy": policy, "ttl": ttl, "reads": reads,
            "hit_ratio": hits / reads if reads else float("nan"),
            "stale_reads": stale, "stale_share": stale / reads if reads else float("nan"),
            "mean_stale_age_s": float(ages / stale) if stale else 0.0}


# ------------------------------------------------------------------------ the stampede

def xfetch_probability(tau: float, beta: float, delta: float) -> float:
    """Probability that one XFetch request ``tau`` seconds before expiry recomputes:
    ``exp(-tau / (beta * delta))`` (the trigger ``now - delta * beta * ln(rand()) >= expiry``)."""
    tau = v.nonnegative_real("tau", tau)
    beta = v.positive_real("beta", beta)
    delta = v.positive_real("delta", delta)
    return math.exp(-tau / (beta * delta))


def xfetch_expected(rate: float, recompute: float, beta: float = 1.0) -> dict:
    """XFetch's recomputations per expiry and lead time under Poisson requests.

    Requests ``tau`` before expiry trigger as a Poisson stream of intensity
    ``rate * exp(-tau / (beta * delta))``. Let ``X = rate*beta*delta*exp(-L/(beta*delta))`` at
    the first trigger's lead time ``L``: ``X`` is exponential with mean 1, so
    ``E[L] = beta*delta*(ln(rate*beta*delta) + gamma)`` (Euler's gamma). While the first
    recompute runs (``delta`` seconds) the old value is still served and triggers more, on
    average ``X (e^(1/beta) - 1)``: ``e^(1/beta)`` recomputations per expiry in all.

    Valid when ``rate * beta * delta`` is large (say > 10: the first trigger almost surely comes
    more than ``delta`` before expiry) and the TTL is long against ``beta * delta``.
    """
    lam = v.positive_real("rate", rate)
    delta = v.positive_real("recompute", recompute)
    beta = v.positive_real("beta", beta)
    scale = beta * delta
    return {"recomputations_per_expiry": math.exp(1 / beta),
            "lead_time_s": scale * (math.log(lam * scale) + EULER_GAMMA),
            "rate_beta_delta": lam * scale}


class StampedeRun:
    """What happened around a hot key: one row per request and one per filing-room query.

    Attributes
    ----------
    requests : pandas.DataFrame
        ``time`` (s), ``outcome`` (hit, miss, wait, early, stale), ``latency`` (s).
    queries : pandas.DataFrame
        ``start``, ``end`` (s) of each recompute, ``lead`` (seconds before the expiry of the
        value it replaced; negative after it) and ``cycle`` (recomputes that overlap in time
        share a cycle: one expiry).
    params : dict
        The run's parameters (``strategy``, ``rate``... and ``seed``).
    """

    def __init__(self, requests: pd.DataFrame, queries: pd.DataFrame, params: dict):
        self.requests, self.queries, self.params = requests, queries, dict(params)

    def summary(self, *, bin_s: float = 0.1) -> dict:
        """``requests``, ``recomputations``, ``max_concurrent_recomputations``,
        ``db_queries_per_s_peak`` (query starts in the busiest ``bin_s`` window, per second),
        ``stale_reads``, ``waits``, ``p99_ms``, ``cycles`` (expiries that led to a recompute),
        ``recomputations_per_expiry``, ``mean_lead_s`` and the seed."""
        q, req = self.queries, self.requests
        cycles = int(q["cycle"].nunique()) if len(q) else 0
        first = q.groupby("cycle")["lead"].first() if len(q) else pd.Series(dtype=float)
        lat = req["latency"].to_numpy()
        return {"strategy": self.params["strategy"], "requests": int(len(req)),
                "recomputations": int(len(q)),
                "max_concurrent_recomputations": peak_concurrency(q["start"], q["end"]),
                "db_queries_per_s_peak": peak_rate(q["start"], bin_s),
                "stale_reads": int((req["outcome"] == "stale").sum()),
                "waits": int((req["outcome"] == "wait").sum()),
                "p99_ms": float(np.percentile(lat, 99) * 1000) if len(lat) else float("nan"),
                "cycles": cycles,
                "recomputations_per_expiry": len(q) / cycles if cycles else float("nan"),
                "mean_lead_s": float(first.mean()) if cycles else float("nan"),
                "seed": self.params.get("seed")}

    def load(self, *, bin_s: float = 0.05) -> pd.DataFrame:
        """Filing-room queries started per second, in bins of ``bin_s`` seconds: ``time``,
        ``queries_per_s``."""
        bin_s = v.positive_real("bin_s", bin_s)
        end = max(float(self.params["duration"]), bin_s)
        edges = np.arange(0.0, end + bin_s, bin_s)
        counts, _ = np.histogram(self.queries["start"].to_numpy(), bins=edges)
        return pd.DataFrame({"time": edges[:-1], "queries_per_s": counts / bin_s})


def peak_concurrency(starts, ends) -> int:
    """The most intervals ``[start, end)`` open at one time."""
    starts, ends = np.asarray(starts, float), np.asarray(ends, float)
    if not len(starts):
        return 0
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((steps, times))      # at a tie, an end closes before a start opens
    return int(np.cumsum(steps[order]).max())


def peak_rate(starts, bin_s: float = 0.1) -> float:
    """Events per second in the busiest window of ``bin_s`` seconds (sliding, not binned)."""
    bin_s = v.positive_real("bin_s", bin_s)
    s = np.sort(np.asarray(starts, float))
    if not len(s):
        return 0.0
    inside = np.searchsorted(s, s + bin_s, side="left") - np.arange(len(s))
    return float(inside.max() / bin_s)


def _check_stampede(rate, recompute, ttl, duration, strategy, beta, clients, grace, poll,
                    whiteboard):
    v.choice("strategy", strategy, STRATEGIES)
    out = dict(rate=v.positive_real("rate", rate),
               recompute=v.positive_real("recompute", recompute),
               ttl=v.positive_real("ttl", ttl), duration=v.positive_real("duration", duration),
               strategy=strategy, beta=v.positive_real("beta", beta),
               clients=None if clients is None else v.positive_int("clients", clients),
               grace=None if grace is None else v.positive_real("grace", grace),
               poll=v.positive_real("poll", poll),
               whiteboard=v.nonnegative_real("whiteboard", whiteboard))
    v.events("the stampede run", out["rate"] * out["duration"], "one per request",
             "lower --rate or --duration")
    return out


def simulate_stampede(*, rate: float, recompute: float, ttl: float, duration: float,
                      strategy: str = "none", beta: float = 1.0, clients: int | None = None,
                      grace: float | None = None, poll: float = 0.01,
                      whiteboard: float = 0.0005, seed: int | None = None) -> StampedeRun:
    """A hot key under Poisson requests, in virtual time.

    The key is filled at time 0. A recompute takes ``recompute`` seconds (the filing room's
    query) and fills the key with a TTL of ``ttl`` from when it ends.

    Parameters
    ----------
    rate : float
        Requests per second (Poisson).
    recompute, ttl, duration : float
        Seconds.
    strategy : {"none", "lock", "xfetch", "swr"}
        ``none``: every request that misses recomputes. ``lock``: the first miss takes a lock
        and recomputes, the others poll every ``poll`` seconds until the value is back.
        ``xfetch``: a request recomputes early when ``now - recompute*beta*ln(rand()) >=
        expiry``, serving itself the new value. ``swr``: after the soft TTL (``ttl``) the old
        value is served (a stale read) while one background refresh runs; the hard TTL is
        ``ttl + grace``; past it, as ``none``.
    beta : float
        XFetch's eagerness (> 0; 1 is the paper's default).
    clients : int, optional
        At most this many requests in progress at once (the application's threads); the others
        queue. Default: no limit.
    grace : float, optional
        SWR's hard TTL beyond the soft one (default: ``10 * recompute``).
    whiteboard : float
        Seconds of one whiteboard round trip.
    seed : int, optional
        Seed for arrivals and XFetch's draws; stored in ``params``.

    Returns
    -------
    StampedeRun
    """
    p = _check_stampede(rate, recompute, ttl, duration, strategy, beta, clients, grace, poll,
                        whiteboard)
    p["grace"] = 10 * p["recompute"] if p["grace"] is None else p["grace"]
    p["seed"] = resolve_seed(seed)
    rng = stream(p["seed"], "arrivals")
    n = rng.poisson(p["rate"] * p["duration"])
    arrivals = np.sort(rng.uniform(0, p["duration"], n))
    # XFetch's -delta * beta * ln(rand()) for every request, drawn once
    lead = -p["recompute"] * p["beta"] * np.log1p(-stream(p["seed"], "policy").random(n))
    requests, queries = _HotKey(p, arrivals, lead).run()
    return StampedeRun(requests, queries, p)


class _HotKey:
    """The state of one hot key and the filing room's recomputes of it."""

    def __init__(self, p, arrivals, lead):
        self.p, self.t, self.lead = p, arrivals, lead
        self.delta, self.wb = p["recompute"], p["whiteboard"]
        self.present, self.expires, self.soft = True, p["ttl"], p["ttl"]
        if p["strategy"] == "swr":
            self.expires = p["ttl"] + p["grace"]
        self.inflight: list = []           # end times of running recomputes (a heap)
        self.queries: list = []            # (start, end, lead, cycle)
        self.cycle = -1
        self.outcome = np.zeros(len(arrivals), dtype=np.int8)
        self.latency = np.full(len(arrivals), self.wb)

    def _fill_until(self, now):
        extra = self.p["grace"] if self.p["strategy"] == "swr" else 0.0
        while self.inflight and self.inflight[0] <= now:
            end = heapq.heappop(self.inflight)
            self.present, self.soft = True, end + self.p["ttl"]
            self.expires = end + self.p["ttl"] + extra

    def _recompute(self, now):
        if not self.inflight:
            self.cycle += 1
        end = now + self.wb + self.delta
        self.queries.append((now, end, self.expires - now, self.cycle))
        heapq.heappush(self.inflight, end)
        return end

    def _fresh_until(self, i):
        """With nothing in flight: the first request at or after ``i`` that is not a plain
        hit (``len`` if none)."""
        s = self.p["strategy"]
        limit = self.soft if s == "swr" else self.expires
        j = int(np.searchsorted(self.t, limit, side="left"))
        if s == "xfetch" and j > i:
            trig = np.flatnonzero(self.t[i:j] + self.lead[i:j] >= self.expires)
            if len(trig):
                j = i + int(trig[0])
        return max(j, i)

    def run(self):
        n, t = len(self.t), self.t
        pool = [] if self.p["clients"] else None
        i = 0
        while i < n:
            if pool is None and not self.inflight and self.present:
                j = self._fresh_until(i)
                i = j               # rows i..j-1 stay hits at whiteboard latency
                if i >= n:
                    break
            now, wait = float(t[i]), 0.0
            if pool is not None:
                if len(pool) >= self.p["clients"]:
                    free = heapq.heappop(pool)
                    wait = max(0.0, free - now)
                    now += wait
            self._fill_until(now)
            code, service = self._serve(i, now)
            self.outcome[i], self.latency[i] = code, wait + service
            if pool is not None:
                heapq.heappush(pool, now + service)
            i += 1
        return self._tables()

    def _serve(self, i, now):
        s, wb = self.p["strategy"], self.wb
        fresh = self.present and now < self.expires
        if s == "swr" and fresh:
            if now < self.soft:
                return HIT, wb
            if not self.inflight:
                self._recompute(now)        # in the background: the reader is not held up
            return STALE, wb
        if s == "xfetch" and fresh:
            if now + self.lead[i] < self.expires:
                return HIT, wb
            return EARLY, self._recompute(now) + wb - now
        if fresh:
            return HIT, wb
        self.present = False
        if s == "lock" and self.inflight:
            ready = self.inflight[0]
            polls = math.ceil(max(0.0, ready - now) / self.p["poll"] - 1e-9)
            return WAIT, polls * self.p["poll"] + wb
        return MISS, self._recompute(now) + wb - now

    def _tables(self):
        requests = pd.DataFrame({
            "time": self.t,
            "outcome": pd.Categorical.from_codes(self.outcome, categories=OUTCOMES),
            "latency": self.latency})
        queries = pd.DataFrame(self.queries, columns=["start", "end", "lead", "cycle"])
        return requests, queries


# ------------------------------------------------------------------------ write-behind

def simulate_write_behind_crash(*, rate: float, flush_interval: float, crash_at: float,
                                seed: int | None = None) -> dict:
    """Writes acknowledged by the whiteboard at Poisson ``rate`` per second, flushed to the
    filing room every ``flush_interval`` seconds; the whiteboard crashes at ``crash_at``.

    Returns ``acknowledged``, ``in_filing_room``, ``lost`` (acknowledged, never flushed),
    ``expected_lost`` (``rate * (crash_at mod flush_interval)``) and the window each flushed
    write spent only on the whiteboard (``window_mean_ms``, ``window_max_ms``)."""
    rate = v.positive_real("rate", rate)
    every = v.positive_real("flush_interval", flush_interval)
    crash = v.positive_real("crash_at", crash_at)
    seed = resolve_seed(seed)
    rng = stream(seed, "arrivals")
    acks = np.sort(rng.uniform(0, crash, rng.poisson(rate * crash)))
    last_flush = math.floor(crash / every) * every
    flushed = acks[acks <= last_flush]
    window = (np.floor(flushed / every) + 1) * every - flushed
    return {"mode": "write-behind (simulated)", "acknowledged": int(len(acks)),
            "in_filing_room": int(len(flushed)), "lost": int(len(acks) - len(flushed)),
            "expected_lost": rate * (crash - last_flush),
            "window_mean_ms": float(window.mean() * 1000) if len(window) else 0.0,
            "window_max_ms": float(window.max() * 1000) if len(window) else 0.0,
            "seed": seed}


# ------------------------------------------------------------------------ jitter

def jitter_recomputes(*, n_keys: int, ttl: float, jitter: float, recompute: float,
                      duration: float, seed: int | None = None) -> np.ndarray:
    """Start times of the recomputes of ``n_keys`` hot keys all set at time 0, each
    recomputed (once, under a lock) as soon as it expires, with TTLs drawn uniformly from
    ``[ttl, ttl * (1 + jitter)]``. With ``jitter=0`` every key expires at the same moment, on
    every cycle; jitter spreads the refills out, and they drift further apart each cycle."""
    n_keys = v.positive_int("n_keys", n_keys)
    ttl = v.positive_real("ttl", ttl)
    jitter = v.nonnegative_real("jitter", jitter)
    recompute = v.nonnegative_real("recompute", recompute)
    duration = v.positive_real("duration", duration)
    rng = stream(resolve_seed(seed), "ttl")
    cycles = int(duration / ttl) + 1
    v.events("the jitter run", n_keys * cycles, "one per refill", "use fewer keys")
    lives = ttl * (1 + jitter * rng.random((cycles, n_keys))) + recompute
    starts = np.cumsum(lives, axis=0) - recompute
    return np.sort(starts[starts < duration])
