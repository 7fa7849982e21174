"""Notebook 12's shop: a recorded day of traffic, a caching design, and its score.

The day (:func:`make_day`, seeded) is what the shop's web servers saw in 24 hours: product
pages and user dashboards (reads), price changes and orders (writes: an order changes its
product's stock and its user's dashboard), with a daily cycle, three partner accounts that
call the API in bursts right at the agreed rate, a scraper far above it, and a ten-minute
flash sale at 20:00 that sends most of the traffic to one product while its stock changes
with every order. :func:`load_day` builds it once into ``data/capstone_day.npz``.

A design is a dict (see :data:`EXAMPLE`). :func:`simulate_day` runs it on the whole day with
the course's engine (:func:`simlab.simulate`) and the rate limiters of lesson 06
(:class:`simlab.ratelimit.Limiter`); :func:`run_live` runs it for real on a slice, against a
Redis client and the shop in the filing room. Both return the same measures, and
:func:`score` holds them against :data:`TARGETS`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate as v
from .results import Outcome

SEED = 20261201
DAY = 86_400.0
N_PRODUCTS = 10_000
N_USERS = 100_000
PRODUCT, DASHBOARD, PRICE_CHANGE, ORDER = 0, 1, 2, 3
KINDS = ("product page", "dashboard", "price change", "order")
HOT_PRODUCT = 4_242
SALE_START, SALE_END = 20 * 3600.0, 20 * 3600.0 + 600.0
PARTNERS = (1, 2, 3)                 # user ids of the API partners
SCRAPER = 99_999
AGREED = {"limit": 20, "window": 10.0}   # the rate agreed with every user: 20 per 10 s
VALUE_BYTES = 2_000                 # a rendered product page or dashboard
DAY_S = 86_400
PRICE_PER_GB_MONTH = 12.0           # US dollars, a managed cache's order of magnitude
FILING_ROOM = {"median": 5e-3, "p99": 30e-3}   # a page's queries from the same zone, loaded

TARGETS = {
    "p99_ms": 22.0,              # p99 read latency, milliseconds
    "peak_db_qps": 60,           # busiest second at the filing room, queries per second
    "stale_share": 0.02,         # share of reads served an outdated page
    "memory_mb": 64.0,           # whiteboard memory (its monthly cost at PRICE_PER_GB_MONTH)
    "wrongly_refused": 0,        # requests refused from a user within the agreed rate
    # the scraper's requests let through per second: the agreed 2 a second, and a tenth more
    # for the edges of the windows
    "scraper_per_s": 2.2,
}

EXAMPLE = {
    "cache": ["product page", "dashboard"],        # which reads use the whiteboard
    "ttl": {"product page": 300, "dashboard": 60},  # seconds
    "size_mb": 32,                                  # the whiteboard's maxmemory
    "policy": "lru",                                # lru, lfu, fifo or random
    "invalidation": "delete",                       # "delete" on write, or "ttl" only
    "stampede": "lock",                             # "lock" (one fill per key) or "none"
    "rate_limit": {"algorithm": "fixed-window", "limit": 20, "window": 10},
}


# ---------------------------------------------------------------- the day

def _daily_times(rng, n: int) -> np.ndarray:
    """``n`` sorted times over one day, busiest mid-afternoon, quietest before dawn."""
    grid = np.linspace(0.0, DAY, 1441)
    density = 1.0 + 0.8 * np.sin(2 * np.pi * (grid / DAY - 0.375))
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    return np.sort(np.interp(rng.random(n), cdf / cdf[-1], grid))


def _zipf_draw(rng, n_items: int, alpha: float, n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n_items + 1) ** alpha
    ids = rng.permutation(n_items)   # popularity is not the id order
    return ids[np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")
               .clip(0, n_items - 1)]


def make_day(seed: int = SEED, n_background: int = 1_000_000, sale_requests: int = 400_000):
    """One day of the shop's traffic, sorted by time.

    Parameters
    ----------
    seed : int
        Everything is drawn from it (independent streams per part of the day).
    n_background : int
        Requests of ordinary shoppers over the day (the daily cycle).
    sale_requests : int
        Requests of the flash sale (20:00 to 20:10), on :data:`HOT_PRODUCT`.

    Returns
    -------
    dict of numpy arrays
        ``t`` (seconds since midnight), ``kind`` (:data:`KINDS` index), ``product`` (the
        product a page, price change or order is about; -1 for a dashboard), ``user``.
    """
    n_background = v.positive_int("n_background", n_background)
    sale_requests = v.positive_int("sale_requests", sale_requests)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    parts = [_background(streams[0], n_background), _sale(streams[1], sale_requests),
             _partners(streams[2]), _scraper(streams[3])]
    day = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.argsort(day["t"], kind="stable")
    return {name: col[order] for name, col in day.items()}


def _background(rng, n):
    t = _daily_times(rng, n)
    kind = rng.choice(4, size=n, p=[0.70, 0.26, 0.02, 0.02]).astype(np.int8)
    product = _zipf_draw(rng, N_PRODUCTS, 0.9, n).astype(np.int32)
    product[kind == DASHBOARD] = -1
    user = _zipf_draw(rng, N_USERS - 10, 0.7, n).astype(np.int32) + 4  # not partners/scraper
    return {"t": t, "kind": kind, "product": product, "user": user}


def _sale(rng, n):
    t = np.sort(rng.uniform(SALE_START, SALE_END, n))
    kind = np.where(rng.random(n) < 0.01, ORDER, PRODUCT).astype(np.int8)  # 1% buy
    product = np.full(n, HOT_PRODUCT, dtype=np.int32)
    user = _zipf_draw(rng, N_USERS - 10, 0.5, n).astype(np.int32) + 4
    return {"t": t, "kind": kind, "product": product, "user": user}


def _partners(rng):
    """Each partner: 18 requests in the first second of every 10 s, for four hours (never more
    than the agreed 20 in any 10 s)."""
    parts = []
    for i, user in enumerate(PARTNERS):
        start = 6 * 3600.0 * (i + 1) + rng.uniform(0, 10)
        periods = start + 10.0 * np.arange(4 * 360)
        # the same offsets every period: any 10 s then holds exactly one burst's 18
        t = (periods[:, None] + np.sort(rng.uniform(0, 1, 18))[None, :]).ravel()
        parts.append((t, np.full(t.size, user, dtype=np.int32)))
    t = np.concatenate([p[0] for p in parts])
    return {"t": t, "kind": np.zeros(t.size, np.int8),
            "product": rng.integers(0, N_PRODUCTS, t.size).astype(np.int32),
            "user": np.concatenate([p[1] for p in parts])}


def _scraper(rng):
    """One user walking the whole catalogue at 10 requests a second for an hour, at 03:00."""
    t = 3 * 3600.0 + np.cumsum(rng.exponential(0.1, 36_000))
    return {"t": t, "kind": np.zeros(t.size, np.int8),
            "product": (np.arange(t.size) % N_PRODUCTS).astype(np.int32),
            "user": np.full(t.size, SCRAPER, dtype=np.int32)}


def day_path() -> Path:
    """``capstone_day.npz`` in the course's data folder (``SIMLAB_DATA``, else ``data/`` in a
    checkout, else a user cache folder: the filing room's rule, without importing the live
    layer, which the simulation does not need)."""
    import os

    env = os.environ.get("SIMLAB_DATA")
    repo = Path(__file__).resolve().parents[1] / "data"
    folder = Path(env) if env else repo if repo.is_dir() else Path.home() / ".cache" / "simlab"
    return folder / "capstone_day.npz"


def load_day(path=None) -> dict:
    """The recorded day from ``data/capstone_day.npz``, made on first use (a few seconds)."""
    path = Path(path) if path else day_path()
    if not path.exists():
        save_day(path)
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def save_day(path, seed: int = SEED) -> Path:
    """Make the day and write it to ``path`` (atomically: a half-written file is never seen)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{np.random.default_rng().integers(1 << 30)}.tmp")
    with open(tmp, "wb") as file:
        np.savez(file, **make_day(seed))
    tmp.replace(path)
    return path


def describe(day: dict) -> pd.DataFrame:
    """Requests of each kind and their share of the day."""
    kinds = pd.Categorical.from_codes(day["kind"], KINDS)
    table = pd.Series(kinds).value_counts().reindex(KINDS).rename("requests").to_frame()
    table["share"] = table["requests"] / len(kinds)
    return table


# ---------------------------------------------------------------- the design

def check_design(design) -> dict:
    """The design with its values checked; raises ``ValueError`` naming the field."""
    if not isinstance(design, dict):
        raise TypeError(f"design must be a dict like simlab.capstone.EXAMPLE, got "
                        f"{type(design).__name__}")
    unknown = set(design) - set(EXAMPLE)
    if unknown:
        raise ValueError(f"design has fields the course does not know: {sorted(unknown)}; "
                         f"the fields are {list(EXAMPLE)}")
    out = {**EXAMPLE, **design}
    if isinstance(out["cache"], str) or not isinstance(out["cache"], (list, tuple, set)):
        raise TypeError(f"design['cache'] must be a list of what to cache (of {list(KINDS[:2])}"
                        f"), got {out['cache']!r}")
    for field, example in (("ttl", EXAMPLE["ttl"]), ("rate_limit", EXAMPLE["rate_limit"])):
        if not isinstance(out[field], dict):
            raise TypeError(f"design[{field!r}] must be a dict like {example!r}, got "
                            f"{out[field]!r}")
    cache = list(out["cache"])
    for name in cache:
        v.choice("design['cache'] entry", name, KINDS[:2])
    ttl = dict(out["ttl"])
    for name in cache:
        if name not in ttl:
            raise ValueError(f"design['ttl'] has no TTL for {name!r}, which you cache")
        v.positive_real(f"design['ttl'][{name!r}]", ttl[name])
    out["size_mb"] = v.positive_real("design['size_mb']", out["size_mb"])
    v.choice("design['policy']", out["policy"], ("lru", "lfu", "fifo", "random"))
    v.choice("design['invalidation']", out["invalidation"], ("delete", "ttl"))
    v.choice("design['stampede']", out["stampede"], ("lock", "none"))
    rl = dict(out["rate_limit"])
    v.choice("design['rate_limit']['algorithm']", rl.get("algorithm"),
             ("fixed-window", "sliding-log", "sliding-counter", "token-bucket"))
    rl["limit"] = v.positive_int("design['rate_limit']['limit']", rl.get("limit"))
    rl["window"] = v.positive_real("design['rate_limit']['window']", rl.get("window"))
    if rl["window"] > DAY_S:
        raise ValueError(f"design['rate_limit']['window'] must be at most a day ({DAY_S:,} s), "
                         f"got {rl['window']!r}")
    for field, known in (("ttl", KINDS[:2]), ("rate_limit", ("algorithm", "limit", "window"))):
        extra = sorted(set(out[field]) - set(known), key=str)
        if extra:
            raise ValueError(f"design[{field!r}] has entries the course does not know: {extra}; "
                             f"it takes {list(known)}")
    out.update(cache=cache, ttl=ttl, rate_limit=rl)
    return out


def entry_bytes() -> int:
    """Bytes one cached page costs on the whiteboard (key, value, TTL: lesson 08's model)."""
    from .redis_memory import entry_bytes as model
    return model(len("wb:learner:product:4242"), VALUE_BYTES, has_ttl=True)


# ---------------------------------------------------------------- the rate limit

def window_counts(t: np.ndarray, user: np.ndarray, window: float) -> np.ndarray:
    """For each request, how many requests its user sent in the ``window`` seconds up to and
    including it (vectorised: one sort, two searches)."""
    order = np.lexsort((t, user))
    stamp = user[order].astype(np.float64) * 1e6 + t[order]   # a day < 1e6 s: users apart
    counts = np.empty(t.size, dtype=np.int64)
    counts[order] = np.arange(t.size) - np.searchsorted(stamp, stamp - window, side="right") + 1
    return counts


_LIMITED: dict = {}   # the same day and limiter give the same decisions: computed once


def apply_rate_limit(day: dict, rate_limit: dict) -> dict:
    """As :func:`_rate_limit`, remembered for the last few (day, limiter) pairs."""
    tag = (id(day["t"]), rate_limit["algorithm"], rate_limit["limit"],
           float(rate_limit["window"]))
    held = _LIMITED.get(tag)
    if held is None or held[0] is not day["t"]:
        if len(_LIMITED) >= 8:
            _LIMITED.clear()
        held = _LIMITED[tag] = (day["t"], _rate_limit(day, rate_limit))
    return held[1]


def _rate_limit(day: dict, rate_limit: dict) -> dict:
    """``allowed`` (bool per request), ``wrongly_refused`` (refused while the user was within
    the agreed rate), ``refused``, ``scraper_per_s`` (:func:`scraper_per_s`). Users who never
    come near the limit are not run through a limiter (they cannot be refused)."""
    from .ratelimit import Limiter

    t, user = day["t"], day["user"]
    limit, window = rate_limit["limit"], float(rate_limit["window"])
    near = window_counts(t, user, 2 * window) >= max(1, limit // 2)
    allowed = np.ones(t.size, dtype=bool)
    # One sort groups each user's requests, in time order (the day is sorted by time and the
    # sort is stable): a search per user instead of a scan of the day per user, which took
    # half a minute when a small limit puts every user near it.
    rows = np.flatnonzero(np.isin(user, np.unique(user[near])))
    rows = rows[np.argsort(user[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(user[rows])) + 1
    for mine in np.split(rows, bounds) if rows.size else ():
        allow = Limiter(rate_limit["algorithm"], limit, window).allow
        allowed[mine] = [allow(x) for x in t[mine].tolist()]
    within = window_counts(t, user, AGREED["window"]) <= AGREED["limit"]
    return {"allowed": allowed, "refused": int((~allowed).sum()),
            "wrongly_refused": int((~allowed & within).sum()),
            "scraper_per_s": scraper_per_s(t, user, allowed)}


def scraper_per_s(t: np.ndarray, user: np.ndarray, allowed: np.ndarray) -> float:
    """The scraper's requests let through, per second of its run (from its first request to
    its last); 0 when the requests hold none of the scraper's."""
    scraper = user == SCRAPER
    if scraper.sum() < 2:
        return 0.0
    span = t[scraper].max() - t[scraper].min()
    return float(allowed[scraper].sum() / span) if span > 0 else 0.0


# ---------------------------------------------------------------- the whole day, simulated

def _workload(day, design, allowed):
    """The design's cache-aside workload: the cached reads (keys: products, then users'
    dashboards) and, with delete-on-write, a DEL for every key a write changes."""
    from .workloads import GET, DEL, Workload

    t, kind, product, user = day["t"], day["kind"], day["product"], day["user"]
    key = np.where(kind == DASHBOARD, N_PRODUCTS + user, product).astype(np.int64)
    cached = np.zeros(t.size, dtype=bool)
    ttl = np.full(t.size, np.nan)
    for name in design["cache"]:
        mine = kind == KINDS.index(name)
        cached |= mine
        ttl[mine] = design["ttl"][name]
    reads = cached & allowed
    rows = [(t[reads], key[reads], np.full(reads.sum(), GET, np.int8), ttl[reads])]
    if design["invalidation"] == "delete":
        writes = allowed & (kind >= PRICE_CHANGE)
        if "product page" in design["cache"]:
            rows.append((t[writes], product[writes].astype(np.int64),
                         np.full(writes.sum(), DEL, np.int8), np.full(writes.sum(), np.nan)))
        orders = writes & (kind == ORDER)
        if "dashboard" in design["cache"]:
            rows.append((t[orders], N_PRODUCTS + user[orders].astype(np.int64),
                         np.full(orders.sum(), DEL, np.int8), np.full(orders.sum(), np.nan)))
    tt, kk, oo, ll = (np.concatenate(c) for c in zip(*rows))
    order = np.lexsort((-oo, tt))   # a write and a read at the same instant: the write first
    n_keys = N_PRODUCTS + N_USERS
    return Workload(keys=kk[order], ops=oo[order], times=tt[order],
                    sizes=np.full(tt.size, VALUE_BYTES, np.int64), ttls=ll[order],
                    key_names=np.arange(n_keys).astype(str),
                    params={"generator": "capstone day"}), order


def _stale_hits(df_time, keys, outcome, write_t, write_key) -> np.ndarray:
    """Hits served from a fill older than the key's last write (per request, bool)."""
    t = np.concatenate([df_time, write_t])
    k = np.concatenate([keys, write_key])
    is_write = np.concatenate([np.zeros(df_time.size, bool), np.ones(write_t.size, bool)])
    is_fill = np.concatenate([outcome == Outcome.MISS, np.zeros(write_t.size, bool)])
    order = np.lexsort((~is_write, t, k))    # per key in time; a write before a read
    base = k[order] * 1e6                     # group-wise running maxima
    last_write = np.maximum.accumulate(np.where(is_write[order], base + t[order], base - 1))
    last_fill = np.maximum.accumulate(np.where(is_fill[order], base + t[order], base - 1))
    stale = np.zeros(t.size, bool)
    stale[order] = last_write > last_fill
    return stale[:df_time.size] & (outcome == Outcome.HIT)


def simulate_day(design, day=None, *, seed: int = 12) -> dict:
    """Run ``design`` on the whole recorded day in virtual time; see :func:`score`.

    Returns
    -------
    dict
        ``p99_ms``, ``peak_db_qps``, ``stale_share``, ``memory_mb``, ``monthly_cost``,
        ``wrongly_refused``, ``refused``, ``scraper_per_s``, ``hit_ratio``, ``requests``,
        ``db_per_second``
        (a Series of filing-room queries per second over the day) and ``elapsed_s``.
    """
    from .engine import simulate
    from .latency import LogNormal

    tic = time.perf_counter()
    design = check_design(design)
    day = load_day() if day is None else day
    limit = apply_rate_limit(day, design["rate_limit"])
    allowed = limit["allowed"]
    kind, t = day["kind"], day["t"]
    room = LogNormal(**FILING_ROOM)
    rng = np.random.default_rng(seed)
    reads = allowed & (kind <= DASHBOARD)
    capacity = max(1, int(design["size_mb"] * 1e6 // entry_bytes()))
    db_times = [t[allowed & (kind >= PRICE_CHANGE)]]          # writes go to the filing room
    latencies, stale, hits, n_reads = [], 0, 0, int(reads.sum())
    if design["cache"]:
        w, _ = _workload(day, design, allowed)
        df = simulate(w, policy=design["policy"], cache_size=capacity,
                      whiteboard="redis-lan", filing_room=room, seed=seed)
        get = w.ops == 0
        outcome = df["outcome"].cat.codes.to_numpy()
        query = outcome == Outcome.MISS
        if design["stampede"] == "lock":    # one fill per key: the others wait for it
            query &= ~df["inflight"].to_numpy()
        db_times.append(w.times[query])
        latencies.append(df["latency"].to_numpy()[get])
        hits = int((outcome == Outcome.HIT).sum())
        stale = int(_stale_hits(w.times[get], w.keys[get], outcome[get], *_writes(day,
                                allowed, design)).sum())
    uncached = reads & ~np.isin(kind, [KINDS.index(n) for n in design["cache"]])
    db_times.append(t[uncached])
    latencies.append(room.sample(int(uncached.sum()), rng))   # straight to the filing room
    per_second = np.bincount(np.concatenate(db_times).astype(np.int64), minlength=int(DAY))
    lat = np.concatenate(latencies)
    memory_mb = design["size_mb"] if design["cache"] else 0.0
    return _plain({
            "p99_ms": float(np.quantile(lat, 0.99) * 1e3), "peak_db_qps": int(per_second.max()),
            "stale_share": stale / max(1, n_reads), "memory_mb": float(memory_mb),
            "monthly_cost": memory_mb / 1000 * PRICE_PER_GB_MONTH,
            "wrongly_refused": limit["wrongly_refused"], "refused": limit["refused"],
            "scraper_per_s": limit["scraper_per_s"], "hit_ratio": hits / max(1, n_reads),
            "requests": int(t.size),
            "db_per_second": pd.Series(per_second, name="filing-room queries"),
            "elapsed_s": time.perf_counter() - tic})


def _plain(result: dict) -> dict:
    """``result`` with NumPy scalars as Python numbers (a learner who prints the dict reads
    ``0.0``, not ``np.float64(0.0)``)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in result.items()}


def _writes(day, allowed, design):
    """(times, keys) of the writes that change a cached page, whatever the invalidation."""
    kind, t = day["kind"], day["t"]
    writes = allowed & (kind >= PRICE_CHANGE)
    orders = writes & (kind == ORDER)
    times = np.concatenate([t[writes], t[orders]])
    keys = np.concatenate([day["product"][writes].astype(np.int64),
                           N_PRODUCTS + day["user"][orders].astype(np.int64)])
    return times, keys


# ---------------------------------------------------------------- scoring

def score(result: dict, targets: dict | None = None) -> pd.DataFrame:
    """One row per target: the measured value, the target and whether it is met."""
    targets = {**TARGETS, **(targets or {})}
    rows = []
    for name, target in targets.items():
        value = result[name]
        rows.append({"target": name, "measured": value, "at most": target,
                     "met": bool(value <= target)})
    return pd.DataFrame(rows).set_index("target")


# ---------------------------------------------------------------- a slice, for real

class _SliceClock:
    """The recorded time of the request being served: the live limiters read it."""

    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t


def day_slice(day: dict, start: float, n: int) -> dict:
    """``n`` requests of the day from time ``start`` on."""
    i = int(np.searchsorted(day["t"], start))
    return {name: col[i:i + n] for name, col in day.items()}


def run_live(design, r, shop, requests: dict) -> dict:
    """Serve ``requests`` (a :func:`day_slice`) for real: the live rate limiter of lesson 06
    on ``r``, cache-aside with the design's TTLs on ``r`` in front of the shop in the filing
    room (both pages run the shop's join, a user's recent orders: the product page's "recent
    buyers" box and the dashboard), writes
    that delete what they change, orders pushed on a Redis list for the workers.

    Returns the same measures as :func:`simulate_day` for the slice (``peak_db_qps`` over
    the slice's own seconds, as recorded; ``wrongly_refused`` as there), plus
    ``refused_orders`` and ``queue_length`` (the orders handed to the workers), so
    :func:`score` reads it too.
    """
    from .live.client import key as course_key
    from .live.ratelimit import limiter as make_limiter

    design = check_design(design)
    clock = _SliceClock()
    rl = design["rate_limit"]
    limiter = make_limiter(rl["algorithm"], r, limit=rl["limit"], window=rl["window"],
                           clock=clock)
    cached = {KINDS.index(n): design["ttl"][n] for n in design["cache"]}
    queue = course_key("capstone", "orders")
    r.delete(queue)
    page_keys = set()
    latencies, db_at, stale, n_reads, hits, refused = [], [], 0, 0, 0, 0
    changed_at, filled_at = {}, {}
    refused_at = np.zeros(len(requests["t"]), dtype=bool)
    for i, (t, kind, product, user) in enumerate(zip(requests["t"], requests["kind"],
                                                     requests["product"], requests["user"])):
        clock.t = float(t)
        if not limiter.allow(int(user)):
            refused += 1
            refused_at[i] = True
            continue
        name = (course_key("capstone", "dashboard", int(user)) if kind == DASHBOARD
                else course_key("capstone", "product", int(product)))
        if kind >= PRICE_CHANGE:
            db_at.append(t)
            touched = [course_key("capstone", "product", int(product))]
            if kind == ORDER:
                touched.append(course_key("capstone", "dashboard", int(user)))
                r.lpush(queue, f"{int(user)}:{int(product)}")
            for k in touched:
                changed_at[k] = t
            if design["invalidation"] == "delete":
                r.delete(*touched)
            continue
        n_reads += 1
        tic = time.perf_counter()
        value = r.get(name) if kind in cached else None
        if value is not None:
            hits += 1
            stale += changed_at.get(name, -1.0) > filled_at.get(name, -1.0)
        else:
            db_at.append(t)
            value = _page(shop, kind, int(product), int(user))
            if kind in cached:
                r.set(name, value, ex=max(1, int(cached[kind])))
                filled_at[name] = t
                page_keys.add(name)
        latencies.append(time.perf_counter() - tic)
    memory = sum(int(r.strlen(k)) for k in page_keys if r.exists(k))
    per_second = np.bincount((np.asarray(db_at) - requests["t"][0]).astype(np.int64))
    result = {"p99_ms": float(np.quantile(latencies, 0.99) * 1e3) if latencies else 0.0,
              "peak_db_qps": int(per_second.max()) if per_second.size else 0,
              "stale_share": stale / max(1, n_reads), "hit_ratio": hits / max(1, n_reads),
              "memory_mb": memory / 1e6, "refused": refused, "requests": len(requests["t"]),
              "wrongly_refused": int((refused_at & (window_counts(
                  requests["t"], requests["user"], AGREED["window"]) <= AGREED["limit"])).sum()),
              "scraper_per_s": scraper_per_s(requests["t"], requests["user"], ~refused_at),
              "refused_orders": int((refused_at & (requests["kind"] == ORDER)).sum()),
              "queue_length": int(r.llen(queue))}
    r.delete(queue, *page_keys)
    return _plain(result)


def _page(shop, kind: int, product: int, user: int) -> bytes:
    """The page as the app would render it, from the filing room: ``VALUE_BYTES`` of JSON."""
    import json

    if kind == DASHBOARD:
        body = {"user": user, "orders": shop.recent_orders(user % shop.n_users + 1, 5)}
    else:
        body = {"product": product, "buyers": shop.recent_orders(product % shop.n_users + 1, 3)}
    text = json.dumps(body, default=str).encode()
    return (text + b" " * VALUE_BYTES)[:max(len(text), VALUE_BYTES)]
