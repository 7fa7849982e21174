"""Exercise checks: kind feedback, never a bare traceback.

Each ``check_*`` prints one short verdict (and a hint when the answer is not there yet) and
returns ``True`` or ``False``. With ``SIMLAB_STRICT_CHECKS=1`` in the environment (how the test
suite runs the solution notebooks), a wrong answer raises ``AssertionError`` instead, so a
broken solution cannot pass silently.
"""
from __future__ import annotations

import os

import numpy as np

GOOD = "✅ "
NOT_YET = "🟡 Not yet: "


class Verdict:
    """The result of a check: true when the answer is right. It shows nothing by itself in a
    notebook (the check has already printed its feedback)."""

    def __init__(self, ok: bool, message: str):
        self.ok, self.message = bool(ok), message

    def __bool__(self):
        return self.ok

    def __eq__(self, other):
        return bool(self) == bool(other)

    def __hash__(self):
        return hash(self.ok)

    def __repr__(self):
        return f"Verdict({self.ok})"

    def _ipython_display_(self):  # the printed feedback is the display
        pass


def _verdict(ok: bool, praise: str, problem: str = "", hint: str = "") -> Verdict:
    if ok:
        print(GOOD + praise)
        return Verdict(True, praise)
    message = NOT_YET + problem + (f"\n   Hint: {hint}" if hint else "")
    if os.environ.get("SIMLAB_STRICT_CHECKS") == "1":
        raise AssertionError(message)
    print(message)
    return Verdict(False, message)


def _missing(answer, what: str):
    if answer is None or answer is Ellipsis:
        return _verdict(False, "", f"{what} is still None.", "replace None with your answer and "
                        "run the cell again.")
    return None


def _answer(answer, what):
    """``(value, None)`` for a usable number, or ``(None, verdict)`` for the check to return."""
    missing = _missing(answer, what)
    if missing is not None:
        return None, missing
    value = _number(answer, what)
    if value is None:
        return None, Verdict(False, "not a number")
    return value, None


def _number(answer, what):
    try:
        return float(answer)
    except (TypeError, ValueError):
        _verdict(False, "", f"{what} should be a number; got {answer!r}.")
        return None


# --- 00 -----------------------------------------------------------------------------------

def check_analogy(answer) -> Verdict:
    """00: which one is Redis in the analogy?"""
    missing = _missing(answer, "answer")
    if missing is not None:
        return missing
    text = str(answer).strip().lower()
    return _verdict("whiteboard" in text,
                    "Right: Redis is the whiteboard by the door, fast and small.",
                    f"{answer!r} is not what the course calls Redis.",
                    "one is complete and slow to reach, the other is by the door.")


# --- 01 -----------------------------------------------------------------------------------

def check_session(r, name: str = "wb:session:alice") -> Verdict:
    """01: a session hash with ``user`` = alice that expires in about 30 minutes."""
    kind = r.type(name)
    if kind == "none":
        return _verdict(False, "", f"there is no key {name!r} yet.",
                        "use r.hset(name, mapping={...}) and then r.expire(name, seconds).")
    if kind != "hash":
        return _verdict(False, "", f"{name!r} is a {kind}, not a hash.",
                        "delete it (r.delete) and store the session with HSET.")
    fields = r.hgetall(name)
    if fields.get("user") != "alice":
        return _verdict(False, "", f"the hash's 'user' field is {fields.get('user')!r}.",
                        "the session belongs to user 'alice'.")
    ttl = r.ttl(name)
    if ttl == -1:
        return _verdict(False, "", "the session never expires (TTL is -1).",
                        "call r.expire(name, 30 * 60) after writing it.")
    return _verdict(1700 <= ttl <= 1800, f"The session will vanish by itself in {ttl} s.",
                    f"the TTL is {ttl} s; a 30-minute session needs about 1800 s.")


def check_view_counter(count_view, r, *, threads: int = 8, per_thread: int = 50) -> Verdict:
    """01: ``count_view(r, page)`` must count every view even when threads race."""
    missing = _missing(count_view, "count_view")
    if missing is not None:
        return missing
    from .live.basics import run_clients
    page = "check-page"
    name = f"wb:views:{page}"
    r.delete(name)
    try:
        run_clients(lambda: [count_view(r, page) for _ in range(per_thread)], threads)
    except Exception as exc:  # report it kindly, never as a traceback
        return _verdict(False, "", f"count_view raised {type(exc).__name__}: {exc}")
    got = int(r.get(name) or 0)
    want = threads * per_thread
    r.delete(name)
    return _verdict(got == want, f"All {want} views counted by {threads} threads at once.",
                    f"{threads} threads made {want} views but the counter says {got}.",
                    f"the key must be {name!r}; an atomic INCR cannot lose updates.")


# --- 02 -----------------------------------------------------------------------------------

def check_speedup(answer, whiteboard_samples, filing_room_samples) -> Verdict:
    """02: the ratio of median filing-room time to median whiteboard time."""
    value, verdict = _answer(answer, "speedup")
    if verdict is not None:
        return verdict
    want = float(np.median(filing_room_samples) / np.median(whiteboard_samples))
    return _verdict(np.isclose(value, want, rtol=0.02),
                    f"The filing room's median is {want:.2f}x the whiteboard's here.",
                    f"{value:.3g} is not the ratio of the two medians ({want:.3g}).",
                    "np.median(room) / np.median(board); medians, not means.")


def check_fanout(answer, lookups: int = 10, quantile: float = 0.99) -> Verdict:
    """02: chance that a page of ``lookups`` independent lookups meets a p99-slow one."""
    value, verdict = _answer(answer, "p_slow_page")
    if verdict is not None:
        return verdict
    want = 1 - quantile ** lookups
    return _verdict(abs(value - want) < 0.005,
                    f"{want:.1%} of pages wait for at least one slow lookup: tails add up.",
                    f"{value:.4g} is not it.",
                    "the page is fast only if all 10 lookups are fast: 1 - 0.99 ** 10.")


# --- 03 -----------------------------------------------------------------------------------

def check_db_share(answer, table) -> Verdict:
    """03: the share of reads in ``table`` that went to the filing room."""
    value, verdict = _answer(answer, "db_share")
    if verdict is not None:
        return verdict
    reads = table[table["outcome"] != "write"]
    want = float((reads["outcome"] == "miss").mean())
    return _verdict(abs(value - want) < 1e-9,
                    f"{want:.1%} of reads reached the filing room; the rest stayed at the door.",
                    f"{value:.4g} is not the share of reads that missed ({want:.4g}).",
                    "(reads['outcome'] == 'miss').mean(), with reads the rows that are not writes.")


def check_cache_aside(get_product) -> Verdict:
    """03: ``get_product(r, lookup, product_id)`` must follow cache-aside."""
    missing = _missing(get_product, "get_product")
    if missing is not None:
        return missing
    import fakeredis

    r = fakeredis.FakeRedis(decode_responses=True)
    calls = []

    def lookup(product_id):
        calls.append(product_id)
        return {"id": product_id, "name": f"Product {product_id}"}

    try:
        first = get_product(r, lookup, 7)
        second = get_product(r, lookup, 7)
        get_product(r, lookup, 8)
    except Exception as exc:
        return _verdict(False, "", f"get_product raised {type(exc).__name__}: {exc}")
    if first != {"id": 7, "name": "Product 7"} or second != first:
        return _verdict(False, "", f"get_product returned {first!r} then {second!r}.",
                        "return the product dict itself, decoded from JSON on a hit.")
    if calls != [7, 8]:
        return _verdict(False, "", f"the filing room was asked for {calls}; it should see "
                        "7 once and 8 once.", "check the whiteboard first and fill it on a miss.")
    ttl = r.ttl("wb:product:7")
    return _verdict(0 < ttl <= 600, "Cache-aside, done: one filing-room trip per product.",
                    f"wb:product:7 has TTL {ttl}; give cached products a TTL of at most 600 s.",
                    "r.set(name, json.dumps(product), ex=600).")


# --- 04 -----------------------------------------------------------------------------------

def check_smallest_size(answer, curve, target: float = 0.9) -> Verdict:
    """04: the smallest size in ``curve`` (size, hit_ratio) reaching ``target``."""
    missing = _missing(answer, "smallest")
    if missing is not None:
        return missing
    ok = curve[curve["hit_ratio"] >= target]
    want = int(ok["size"].min()) if len(ok) else None
    return _verdict(answer == want,
                    f"{want:,} keys is the smallest whiteboard with {target:.0%} hits here.",
                    f"{answer!r} is not the smallest size reaching {target:.0%}.",
                    "filter the curve's rows with hit_ratio >= target, then take the smallest size.")


def check_alpha_prediction(prediction, hit_low_alpha, hit_high_alpha) -> Verdict:
    """04: predict whether raising alpha moves the curve 'up' or 'down'."""
    missing = _missing(prediction, "prediction")
    if missing is not None:
        return missing
    truth = "up" if hit_high_alpha > hit_low_alpha else "down"
    return _verdict(str(prediction).strip().lower() == truth,
                    f"Right, {truth}: more skew puts more requests on the few hot keys "
                    f"({hit_low_alpha:.1%} -> {hit_high_alpha:.1%}).",
                    f"the simulation says {truth} ({hit_low_alpha:.1%} -> {hit_high_alpha:.1%}).",
                    "with more skew, do the hottest keys get more or fewer requests?")


# --- 08 -----------------------------------------------------------------------------------

def check_keys_that_fit(answer, maxmemory: int = 10 * 2**20, value_size: int = 100,
                        key_length: int = 12, ttl: bool = True) -> Verdict:
    """08: how many keys of ``key_length`` bytes with ``value_size``-byte values (and a TTL)
    fit in ``maxmemory`` bytes, by the memory model (buckets included)."""
    from . import redis_memory as mem
    value, verdict = _answer(answer, "keys")
    if verdict is not None:
        return verdict
    per_key = mem.entry_bytes(key_length, value_size, has_ttl=ttl, shared_integers=False)
    n = maxmemory // per_key
    while n > 0 and mem.dataset_bytes(np.full(n, key_length), np.full(n, value_size),
                                      np.full(n, ttl)) > maxmemory:
        n -= max(1, n // 1000)
    return _verdict(abs(value - n) <= 0.03 * n,
                    f"About {n:,} keys: {per_key} bytes each plus the hash tables' buckets, "
                    f"for {value_size}-byte values.",
                    f"{value:,.0f} keys is off (the model says about {n:,}).",
                    "bytes per key from simlab.redis_memory.entry_bytes(12, 100, has_ttl=True, "
                    "shared_integers=False), and leave room for the buckets (8 bytes each, two "
                    "tables, a power of two at or above the key count).")

def check_scan_policy(choice, evidence, results) -> Verdict:
    """08: the best policy for a workload with scans, with its hit ratio as evidence.

    ``results`` maps policy name to the simulated hit ratio of the regular (non-scan) reads.
    """
    missing = _missing(choice, "choice")
    if missing is not None:
        return missing
    if choice not in results:
        return _verdict(False, "", f"{choice!r} is not one of the policies simulated: "
                        f"{', '.join(results)}.")
    best = max(results, key=results.get)
    if choice != best:
        return _verdict(False, "", f"{choice} keeps {results[choice]:.1%} of regular reads as "
                        f"hits; another policy does better.",
                        "compare the hit ratios in `results`: which one is highest, and why?")
    value, verdict = _answer(evidence, "evidence")
    if verdict is not None:
        return verdict
    return _verdict(abs(value - results[best]) < 0.005,
                    f"{best}: {results[best]:.1%} of regular reads hit, "
                    f"{results[best] - min(results.values()):.1%} more than the worst policy. "
                    "Frequency survives a scan; recency does not.",
                    f"your evidence {value:.4g} is not {best}'s hit ratio ({results[best]:.4g}).",
                    "quote the number from `results` for the policy you chose.")


# --- 05 -----------------------------------------------------------------------------------

def check_ttl_for_staleness(ttl, update_rate: float, target: float = 0.01) -> Verdict:
    """05: a fixed TTL giving at most ``target`` stale hits, and not needlessly short."""
    from .analysis import stale_share_fixed_ttl
    value, verdict = _answer(ttl, "ttl")
    if verdict is not None:
        return verdict
    if value <= 0:
        return _verdict(False, "", f"a TTL must be positive; got {value}.")
    stale = stale_share_fixed_ttl(value, update_rate)
    if stale > target * (1 + 1e-6):
        return _verdict(False, "", f"with a TTL of {value:.3g} s, {stale:.2%} of hits are stale "
                        f"(the target is {target:.0%}).", "shorter: stale_share_fixed_ttl(ttl, "
                        "update_rate) tells you the share for any TTL.")
    if stale < 0.8 * target:
        return _verdict(False, "", f"{value:.3g} s meets the target ({stale:.2%} stale) but a "
                        "longer TTL would too, and would hit more often.",
                        "find the longest TTL that stays at or below the target.")
    return _verdict(True, f"A TTL of {value:.3g} s gives {stale:.2%} stale hits: as long as "
                    "the target allows.")


def check_fixed_ttl_hit_ratio(answer, rate: float = 2.0, ttl: float = 10.0) -> Verdict:
    """05: the hit ratio of one key read ``rate`` times a second with a fixed TTL."""
    value, verdict = _answer(answer, "hit_ratio")
    if verdict is not None:
        return verdict
    x = rate * ttl
    want = x / (1 + x)
    return _verdict(abs(value - want) < 1e-3,
                    f"{want:.4f}: per TTL cycle one miss, then on average {x:g} hits.",
                    f"{value:.4g} is not it.",
                    "one miss starts a cycle of ttl seconds in which rate * ttl requests hit.")


# --- 06 -----------------------------------------------------------------------------------

def check_fixed_window(allow) -> Verdict:
    """06: ``allow(r, user, limit, window, now) -> bool``, a fixed-window limiter on Redis:
    the limit inside a window, a fresh count in the next, and no extra requests when eight
    clients call it at once."""
    missing = _missing(allow, "allow")
    if missing is not None:
        return missing
    import fakeredis
    r = fakeredis.FakeRedis(decode_responses=True)
    start = 1_000_000.0
    try:
        first = [allow(r, "alice", 5, 1.0, start + 0.2) for _ in range(7)]
        if first != [True] * 5 + [False] * 2:
            return _verdict(False, "", f"7 requests in one window with a limit of 5 gave "
                            f"{first}; expected 5 allowed, then 2 refused.",
                            "INCR the window's counter and compare the result with the limit.")
        edge = [allow(r, "alice", 5, 1.0, start + 1.01) for _ in range(6)]
        if edge != [True] * 5 + [False]:
            return _verdict(False, "", f"in the next window the requests gave {edge}.",
                            "put the window number, int(now // window), in the key.")
        if [allow(r, "bob", 5, 1.0, start + 0.2) for _ in range(5)] != [True] * 5:
            return _verdict(False, "", "bob was refused because of alice's requests.",
                            "put the user in the key too.")
        from .live.basics import run_clients
        results = [ok for batch in run_clients(
            lambda: [allow(r, "carol", 20, 1.0, start + 0.5) for _ in range(10)], 8)
            for ok in batch]
    except Exception as exc:
        return _verdict(False, "", f"allow raised {type(exc).__name__}: {exc}")
    if sum(results) != 20:
        return _verdict(False, "", f"8 clients at once got {sum(results)} requests through a "
                        "limit of 20.", "read-then-write is not atomic; INCR is.")
    ttl = r.pttl(next(iter(r.scan_iter(match="*carol*")), "missing"))
    if ttl < 0:
        return _verdict(False, "", "the counter keys never expire, so they pile up forever.",
                        "give each window's key a TTL (EXPIRE) in the same transaction.")
    return _verdict(True, "Your fixed window passes the edge tests and holds under "
                    "concurrency; its keys clean themselves up.")


def check_sliding_log_memory(answer, users: int = 1_000_000, limit: int = 100) -> Verdict:
    """06: bytes for ``users`` users each holding ``limit`` entries in a sliding log."""
    from .ratelimit import BYTES_PER_COUNTER, BYTES_PER_LOG_ENTRY
    value, verdict = _answer(answer, "memory_bytes")
    if verdict is not None:
        return verdict
    want = users * (BYTES_PER_COUNTER + limit * BYTES_PER_LOG_ENTRY)
    return _verdict(abs(value - want) <= 0.05 * want,
                    f"About {want / 1e9:.1f} GB: a log per user grows with the limit; a "
                    f"counter would take {users * BYTES_PER_COUNTER / 1e6:.0f} MB.",
                    f"{value:,.0f} bytes is not it (expected about {want:,.0f}).",
                    "per user: one key (BYTES_PER_COUNTER) plus `limit` entries "
                    "(BYTES_PER_LOG_ENTRY each).")


# --- 07 -----------------------------------------------------------------------------------

def check_pool_size(workers, arrival_rate: float, service_mean: float,
                    target_p95: float = 1.0, seed: int = 7) -> Verdict:
    """07: the smallest number of workers whose 95th-percentile wait is under ``target_p95``
    (checked by simulating 50,000 jobs with ``seed``)."""
    from .queueing import queue_summary, simulate_queue
    missing = _missing(workers, "workers")
    if missing is not None:
        return missing
    if not isinstance(workers, (int, np.integer)) or workers <= 0:
        return _verdict(False, "", f"workers should be a positive whole number; got {workers!r}.")

    def p95(c):
        if arrival_rate * service_mean >= c:
            return float("inf")
        return queue_summary(simulate_queue(arrival_rate=arrival_rate, service_mean=service_mean,
                                            workers=int(c), jobs=50_000, seed=seed))["p95_wait_s"]

    mine = p95(workers)
    if mine >= target_p95:
        return _verdict(False, "", f"with {workers} workers the p95 wait is "
                        f"{'unbounded' if mine == float('inf') else f'{mine:.2f} s'}.",
                        "more workers: the load is arrival_rate * service_mean workers' worth.")
    fewer = p95(workers - 1) if workers > 1 else float("inf")
    if fewer < target_p95:
        return _verdict(False, "", f"{workers} workers work ({mine:.2f} s), but "
                        f"{workers - 1} do too ({fewer:.2f} s).", "find the smallest pool.")
    return _verdict(True, f"{workers} workers: p95 wait {mine:.2f} s; with {workers - 1} it "
                    f"would be {'unbounded' if fewer == float('inf') else f'{fewer:.2f} s'}.")


def check_crash_safe_take(take) -> Verdict:
    """07: ``take(r, queue, processing)`` must move a job atomically into the processing list
    (so a crash cannot lose it) and return it, or None when the queue is empty."""
    missing = _missing(take, "take")
    if missing is not None:
        return missing
    import fakeredis
    r = fakeredis.FakeRedis(decode_responses=True)
    r.lpush("q", "job-1", "job-2")
    try:
        job = take(r, "q", "q:processing:w1")
        empty_after = None
        if job is not None:
            r.lpush("q:other", "x")
            take(r, "q", "q:processing:w1")
            empty_after = take(r, "q", "q:processing:w1")
    except Exception as exc:
        return _verdict(False, "", f"take raised {type(exc).__name__}: {exc}")
    if job != "job-1":
        return _verdict(False, "", f"take returned {job!r}; the oldest job is 'job-1'.",
                        "LPUSH adds on the left, so take from the right (RIGHT -> LEFT).")
    held = r.lrange("q:processing:w1", 0, -1)
    if "job-1" not in held:
        return _verdict(False, "", "the job is not in the processing list: if the worker "
                        "crashes now, it is lost.", "use LMOVE/BLMOVE, which moves it in one "
                        "atomic step.")
    if empty_after is not None:
        return _verdict(False, "", f"on an empty queue take returned {empty_after!r}, "
                        "not None.", "BLMOVE with a small timeout returns None when empty.")
    # the worker "crashes" (no acknowledgement); recovery puts the jobs back
    while r.lmove("q:processing:w1", "q", "RIGHT", "RIGHT"):
        pass
    return _verdict(r.llen("q") == 2, "Crash-safe: the job waits in the processing list "
                    "until it is acknowledged, and recovery puts it back.",
                    "after recovery the jobs should be back in the queue.")
