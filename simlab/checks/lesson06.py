"""Checks for lesson 06 (rate limiting)."""
from __future__ import annotations

from ._common import Verdict, _verdict, _answer, _function, _how_far, _raised
from ._race import RaceLab, describe_race, read_then_write


def _keys_without_expiry(admin, last) -> str | None:
    """Probe between round trips: a counter key with no TTL is where a crash would leave it."""
    for name in admin.scan_iter(match="*"):
        if admin.ttl(name) == -1:
            after = f" after `{last}`" if last is not None else ""
            return (f"{name} had no expiry{after}: if the app server crashed right there, "
                    "that key would never expire and would stay in memory forever")
    return None


def check_fixed_window(allow) -> Verdict:
    """06: ``allow(r, user, limit, window, now) -> bool``, a fixed-window limiter on Redis.

    The check runs it on a private server: the limit inside a window, a fresh count in the
    next, users kept apart, no key without an expiry between any two round trips (where a
    crash would leave it), and the exact limit when eight clients call it at once, taking turns
    command by command so that a read-then-write always lets extra requests through.
    """
    problem = _function(allow, "allow")
    if problem is not None:
        return problem
    start = 1_000_000.0
    with RaceLab() as lab:
        lab.probe = _keys_without_expiry
        try:
            first = [lab.call(allow, "alice", 5, 1.0, start + 0.2) for _ in range(7)]
            if first != [True] * 5 + [False] * 2:
                return _verdict(False, "", f"7 requests in one window with a limit of 5 gave "
                                f"{first}; expected 5 allowed, then 2 refused.",
                                "INCR the window's counter and compare the result with the "
                                "limit.")
            edge = [lab.call(allow, "alice", 5, 1.0, start + 1.01) for _ in range(6)]
            if edge != [True] * 5 + [False]:
                return _verdict(False, "", f"in the next window the requests gave {edge}.",
                                "put the window number, int(now // window), in the key.")
            if [lab.call(allow, "bob", 5, 1.0, start + 0.2) for _ in range(5)] != [True] * 5:
                return _verdict(False, "", "bob was refused because of alice's requests.",
                                "put the user in the key too.")
            lab.probe = None
            sequential = len(lab.trips)
            results = [ok for batch in lab.run(
                lambda c: allow(c, "carol", 20, 1.0, start + 0.5), 8, 10) for ok in batch]
        except Exception as exc:
            return _raised("allow", exc)
        findings = list(lab.probe_findings)
        race = read_then_write(lab.trips[sequential:])
        carol = lab.keys("*carol*")
        ttl = lab.admin.pttl(carol[0]) if carol else -2
    if not sequential:
        return _verdict(False, "", "allow sent no command to the r it was given.",
                        "use the r parameter of allow (the check passes its own client).")
    if race or sum(results) != 20:
        how = describe_race(race) if race else "more than one client acted on the same count"
        return _verdict(False, "", f"8 clients calling at once got {sum(results)} requests "
                        f"through a limit of 20: {how}. Read-then-write is not atomic.",
                        "let Redis count: INCR returns the new count in the same step, so "
                        "compare that with the limit.")
    if findings:
        return _verdict(False, "", findings[0] + ".", "send INCR and EXPIRE together in one "
                        "transaction: r.pipeline(transaction=True), or a Lua script.")
    if ttl < 0:
        return _verdict(False, "", "the counter keys never expire, so they pile up forever.",
                        "give each window's key a TTL (EXPIRE) in the same transaction.")
    return _verdict(True, "Your fixed window passes the edge tests, holds under concurrency "
                    "and never leaves a key without an expiry.")


def check_sliding_log_memory(answer, users: int = 1_000_000, limit: int = 100) -> Verdict:
    """06: bytes for ``users`` users each holding ``limit`` entries in a sliding log."""
    from ..ratelimit import BYTES_PER_COUNTER, BYTES_PER_LOG_ENTRY
    value, verdict = _answer(answer, "memory_bytes")
    if verdict is not None:
        return verdict
    want = users * (BYTES_PER_COUNTER + limit * BYTES_PER_LOG_ENTRY)
    ok = abs(value - want) <= 0.002 * want
    if ok:
        return _verdict(True, f"About {want / 1e9:.1f} GB: a log per user grows with the "
                        f"limit; a counter would take {users * BYTES_PER_COUNTER / 1e6:.0f} MB.")
    return _verdict(False, "", f"{value:,.0f} bytes is {_how_far(value, want)}.",
                    _memory_hint(value, want, users, limit, BYTES_PER_COUNTER,
                                 BYTES_PER_LOG_ENTRY))


def _memory_hint(value, want, users, limit, counter, entry) -> str:
    per_user = counter + limit * entry
    if abs(value - users * limit * entry) <= 0.002 * want:
        return "did you count each user's key itself (BYTES_PER_COUNTER), beside its entries?"
    if abs(value - per_user) <= 0.002 * per_user or value < want / 1e3:
        return "that looks like one user's log: multiply by the number of users."
    if value > want:
        return "count one key per user (BYTES_PER_COUNTER) and `limit` entries per user, " \
               "not one key per entry."
    return "per user: one key (BYTES_PER_COUNTER) plus `limit` entries (BYTES_PER_LOG_ENTRY " \
           "each); then multiply by the users."
