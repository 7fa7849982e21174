"""Checks for lesson 06 (rate limiting)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _missing, _answer


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
        from ..live.basics import run_clients
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
    from ..ratelimit import BYTES_PER_COUNTER, BYTES_PER_LOG_ENTRY
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
