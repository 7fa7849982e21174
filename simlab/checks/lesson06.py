"""Checks for lesson 06 (rate limiting)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ._common import (Verdict, _verdict, _answer, _function, _how_far, _num,
                      _raised, RAISED)
from ._race import RaceLab, describe_race, read_then_write


def _keys_without_expiry(admin, last) -> str | None:
    """Probe between round trips: a counter key with no TTL is where a crash would leave it."""
    for name in admin.scan_iter(match="*"):
        if admin.ttl(name) == -1:
            after = f" after `{last}`" if last is not None else ""
            return (f"{name} had no expiry{after}: if the app server crashed right there, "
                    "that key would never expire and would stay in memory forever")
    return None


MINUTE = 60.0
TTL_WINDOWS = 5     # a counter kept longer than this many windows: a needless TTL


def check_fixed_window(allow) -> Verdict:
    """06: ``allow(r, user, limit, window, now) -> bool``, a fixed-window limiter on Redis.

    The check runs it on a private server: the limit inside a window, a fresh count in the
    next, users kept apart, a second window length (a minute: the key must live for the rest
    of its window, and not for many windows), no key without an expiry between any two round
    trips (where a crash would leave it), and the exact limit when eight clients call it at
    once, taking turns command by command so that a read-then-write always lets extra
    requests through.

    ``now`` is a virtual clock in January 1970, far from the server's: an expiry must be
    relative (EXPIRE, or SET ... NX EX), which Redis counts on its own clock. An absolute one
    computed from ``now`` (EXPIREAT, or SET with EXAT) is long past to Redis, which deletes
    the key at once; the check names that command.
    """
    problem = _function(allow, "allow")
    if problem is not None:
        return problem
    start = 1_000_000.0
    with RaceLab() as lab:
        lab.probe = _keys_without_expiry
        try:
            first = [lab.call(allow, "alice", 5, 1.0, start + 0.2) for _ in range(7)]
            past = _expiry_long_past(lab.trips)
            if past is not None:            # EXPIREAT from the virtual `now`: 1970 to Redis
                return _absolute_expiry_past(lab, *past)
            if first != [True] * 5 + [False] * 2:
                if _expired_early(lab, first, 5):
                    return _ttl_in_milliseconds("7 requests in one window with a limit of 5",
                                                first, _script_expires_at(lab.trips))
                return _verdict(False, "", f"7 requests in one window with a limit of 5 gave "
                                f"{first}; expected 5 allowed, then 2 refused.",
                                "INCR the window's counter and compare the result with the "
                                "limit.")
            longest = max(_ttls_s(lab).values(), default=0.0)
            if longest > TTL_WINDOWS * 1.0:
                return _too_long(1.0, longest)
            edge = [lab.call(allow, "alice", 5, 1.0, start + 1.01) for _ in range(6)]
            if edge != [True] * 5 + [False]:
                if _expired_early(lab, edge, 5):
                    return _ttl_in_milliseconds("in the next window, 6 requests", edge,
                                                _script_expires_at(lab.trips))
                return _verdict(False, "", f"in the next window the requests gave {edge}.",
                                "put the window number, int(now // window), in the key.")
            if [lab.call(allow, "bob", 5, 1.0, start + 0.2) for _ in range(5)] != [True] * 5:
                return _verdict(False, "", "bob was refused because of alice's requests.",
                                "put the user in the key too.")
            # A minute's window: the window argument used, the key kept for the rest of its
            # window (not milliseconds: PEXPIRE for EXPIRE) and not for ages.
            base = MINUTE * (int(start // MINUTE) + 1)          # a minute's window starts
            before = set(lab.keys())
            minute = [lab.call(allow, "dave", 3, MINUTE, base + s) for s in (5, 15, 25, 35)]
            if minute != [True] * 3 + [False]:
                return _verdict(False, "", f"with a {MINUTE:g} s window and a limit of 3, four "
                                f"requests 10 s apart inside one window gave {minute}; "
                                "expected 3 allowed, then 1 refused.", "the window number is "
                                "int(now // window): use the window argument, not a fixed "
                                "length.")
            made = _ttls_s(lab, set(lab.keys()) - before)      # the minute's new keys
            rest = MINUTE - 35                     # of the window, after the last request
            if made and min(made.values()) < rest - 1:
                left = min(made.values())
                said = (f"{left * 1000:.0f} ms" if left < 1 else f"{left:,.0f} s")
                return _verdict(False, "", f"with a {MINUTE:g} s window, the counter "
                                f"expires {said} after the window's fourth request, "
                                f"{rest:g} s before its window ends: the count would "
                                "start again inside the window.", "EXPIRE takes seconds "
                                "(PEXPIRE milliseconds); keep the key for the rest of "
                                "its window at least.")
            if made and max(made.values()) > TTL_WINDOWS * MINUTE:
                return _too_long(MINUTE, max(made.values()))
            if not lab.call(allow, "dave", 3, MINUTE, base + MINUTE + 5):
                return _verdict(False, "", f"the next {MINUTE:g} s window refused dave's "
                                "first request.", "put the window number, int(now // "
                                "window), in the key.")
            lab.probe = None
            sequential = len(lab.trips)
            results = [ok for batch in lab.run(
                lambda c: allow(c, "carol", 20, 1.0, start + 0.5), 8, 10) for ok in batch]
        except RAISED as exc:
            return _raised("allow", exc)
        findings = list(lab.probe_findings)
        past = _expiry_long_past(lab.trips)
        if past is not None:
            return _absolute_expiry_past(lab, *past)
        loose = _count_then_expire_outside_multi(lab.trips[:sequential])
        race = read_then_write(lab.trips[sequential:])
        forever = [k for k in lab.keys() if lab.admin.pttl(k) == -1]
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
    if loose is not None:
        return _verdict(False, "", f"`{loose}` went in one pipeline but not in one "
                        "transaction (no MULTI/EXEC): the server runs them as separate "
                        "commands, other clients' commands can come in between, and a server "
                        "crash or failover in between keeps the count and loses its expiry.",
                        "r.pipeline(transaction=True) (redis-py's default), or a Lua script.")
    if forever:
        return _verdict(False, "", "the counter keys never expire, so they pile up forever.",
                        "give each window's key a TTL (EXPIRE) in the same transaction.")
    return _verdict(True, "Your fixed window passes the edge tests, holds under concurrency "
                    "and never leaves a key without an expiry.")


_COUNTS = frozenset({"INCR", "INCRBY", "INCRBYFLOAT", "DECR", "DECRBY"})
_EXPIRES = frozenset({"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"})


def _count_then_expire_outside_multi(trips) -> str | None:
    """The first round trip that counted a key and then gave it an expiry, both outside
    MULTI/EXEC (a pipeline with ``transaction=False``), as text; None if there is none."""
    for trip in trips:
        counted, in_multi = {}, False
        for command in trip.commands:
            name = command[0]
            if name == "MULTI":
                in_multi = True
            elif name in ("EXEC", "DISCARD"):
                in_multi = False
            elif in_multi or len(command) < 2:
                continue
            elif name in _COUNTS:
                counted[command[1]] = " ".join(command)
            elif name in _EXPIRES and command[1] in counted:
                return f"{counted[command[1]]} | {' '.join(command)}"
    return None


def _ttls_s(lab, keys=None) -> dict:
    """Seconds each key (all on the lab's server by default) has left; keys without a TTL
    are left out (the probe and the final check catch those)."""
    keys = lab.keys() if keys is None else keys
    left = {k: lab.admin.pttl(k) for k in keys}
    return {k: ms / 1000 for k, ms in left.items() if ms >= 0}


def _too_long(window: float, left: float) -> Verdict:
    return _verdict(False, "", f"with a {window:g} s window, a counter lives another "
                    f"{left:,.0f} s, {left / window:,.0f} windows: a dead window's key stays in "
                    "memory long after it counts for anything.", "a TTL of about one window "
                    "is enough.")


def _expired_early(lab, got: list, limit: int) -> bool:
    """Whether more than ``limit`` got through because the counters expire within
    milliseconds (PEXPIRE given seconds)."""
    left = [lab.admin.pttl(k) for k in lab.keys("*")]
    return sum(got) > limit and max(left, default=-2) < 100


def _ttl_in_milliseconds(what: str, got: list, script_at: str | None = None) -> Verdict:
    """The counters expired before their window ended: a relative TTL far too short (PEXPIRE
    given seconds, a TTL of 0), or, when ``script_at`` names it, an absolute time in a script
    (the commands sent directly are judged by :func:`_expiry_long_past` first)."""
    if script_at is not None:
        return _verdict(False, "", f"{what} gave {got}: your script's {script_at} sets an "
                        "absolute expiry time, and one computed from `now` (a virtual clock "
                        "here) is long past by Redis's clock, so Redis deleted the counter at "
                        "once.", _RELATIVE_HINT)
    return _verdict(False, "", f"{what} gave {got}: the counter was gone before its window "
                    "ended, so the count started again.", "EXPIRE takes whole seconds "
                    "(PEXPIRE milliseconds), and a TTL of 0 deletes the key; keep the key for "
                    "the rest of its window at least.")


#: Before 2000-01-01 UTC: a time every server's clock has passed, the real one or the
#: notebook's virtual one (which starts today). The check's `now` is in January 1970.
_LONG_AGO = 946_684_800.0
_RELATIVE_HINT = ("`now` is the caller's clock (here a virtual one), not Redis's: use it only "
                  "for the window number, and give the key a relative TTL with EXPIRE, which "
                  "Redis counts on its own clock.")


def _expiry_long_past(trips) -> tuple | None:
    """``(command, seconds)`` for the first absolute expiry time the learner's commands set
    that is long past on any server's clock (EXPIREAT, PEXPIREAT, or SET and GETEX with EXAT
    or PXAT: a timestamp computed from the check's virtual `now`, or a relative TTL given to
    EXPIREAT); None if there is none."""
    for trip in trips:
        for command in trip.commands:
            name, at = command[0], None
            if name in ("EXPIREAT", "PEXPIREAT") and len(command) > 2:
                at, unit = command[2], 1000 if name == "PEXPIREAT" else 1
            elif name in ("SET", "GETEX"):
                options = [word.upper() for word in command[3 if name == "SET" else 2:]]
                for i, word in enumerate(options[:-1]):
                    if word in ("EXAT", "PXAT"):
                        at, unit = options[i + 1], 1000 if word == "PXAT" else 1
                        break
            try:
                seconds = float(at) / unit if at is not None else None
            except ValueError:
                continue
            if seconds is not None and seconds < _LONG_AGO:
                return " ".join(command), seconds, "milliseconds" if unit > 1 else "seconds"
    return None


def _absolute_expiry_past(lab, command: str, seconds: float, unit: str) -> Verdict:
    """An absolute expiry time long past: Redis deleted the key at once (every request then
    counts as the first), or a later INCR made it again without any expiry."""
    try:
        when = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%B %Y")
    except (OverflowError, OSError, ValueError):
        when = "long ago"
    else:
        when = f"in {when}"
    kept = any(lab.admin.pttl(k) == -1 for k in lab.keys())
    after = ("and the counter made again after it never expires" if kept else
             "and every request counted as the first")
    return _verdict(False, "", f"`{command}` sets an absolute expiry time (Unix {unit}) "
                    f"{when} by Redis's clock: long past, so Redis deleted the key at once "
                    f"{after}.", _RELATIVE_HINT)


def _script_expires_at(trips) -> str | None:
    """The absolute-expiry command (EXPIREAT, PEXPIREAT, EXAT, PXAT) a Lua script the
    learner sent mentions, if any."""
    for trip in trips:
        for command in trip.commands:
            if command[0] in ("EVAL", "EVAL_RO", "SCRIPT") and len(command) > 1:
                text = command[2] if command[0] == "SCRIPT" and len(command) > 2 else command[1]
                found = re.search(r"\b(P?EXPIREAT|EXAT|PXAT)\b", text, re.IGNORECASE)
                if found:
                    return found.group(1).upper()
    return None


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
    return _verdict(False, "", f"{_num(value)} bytes is {_how_far(value, want)}.",
                    _memory_hint(value, want, users, limit, BYTES_PER_COUNTER,
                                 BYTES_PER_LOG_ENTRY))


def _memory_hint(value, want, users, limit, counter, entry) -> str:
    per_user = counter + limit * entry
    if not value > 0:
        return "memory is a positive number of bytes."
    for unit, size in (("GB", 10 ** 9), ("MB", 10 ** 6), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if abs(value * size - want) <= 0.02 * want:
            return f"that looks like {unit}: give the answer in bytes."
    if abs(value - users * limit * entry) <= 0.002 * want:
        return "did you count each user's key itself (BYTES_PER_COUNTER), beside its entries?"
    if abs(value - per_user) <= 0.002 * per_user or value < want / 1e3:
        return "that looks like one user's log: multiply by the number of users."
    if value > want:
        return "count one key per user (BYTES_PER_COUNTER) and `limit` entries per user, " \
               "not one key per entry."
    return "per user: one key (BYTES_PER_COUNTER) plus `limit` entries (BYTES_PER_LOG_ENTRY " \
           "each); then multiply by the users."
