"""Checks for lesson 06 (rate limiting)."""
from __future__ import annotations

import inspect
import re
from datetime import datetime, timezone

from ._common import (Verdict, _verdict, _answer, _function, _how_far, _num,
                      _raised, _short, RAISED)
from ._race import RaceLab, READS, describe_race, read_then_write


def _keys_without_expiry(admin, last) -> str | None:
    """Probe between round trips: a counter key with no TTL is where a crash would leave it."""
    for name in admin.scan_iter(match="*"):
        if admin.ttl(name) == -1:
            after = f" after `{last}`" if last is not None else ""
            return (f"{name} had no expiry{after}: if the app server crashed right there, "
                    "that key would never expire and would stay in memory forever")
    return None


class _NotADecision(Exception):
    """``allow`` returned something other than True or False (raised by the check, never by
    the learner's code, so it is reported as what it is, not as an error of theirs)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _decision(value):
    """``value`` when it is a bool (numpy's too), else :class:`_NotADecision`: checked as soon
    as ``allow`` returns, before the check counts or compares the answers."""
    import numpy as np
    if isinstance(value, (bool, np.bool_)):
        return value
    raise _NotADecision(value)


def _not_a_decision(value) -> Verdict:
    forgot = " (did you forget `return`?)" if value is None else ""
    return _verdict(False, "", f"allow must return True or False; it returned "
                    f"{_short(value)}{forgot}.", "return the comparison itself, like "
                    "`return count <= limit`.")


def _builtin(allow) -> Verdict | None:
    """A built-in (print, len...) passed as ``allow``: never a limiter."""
    if inspect.isbuiltin(allow):
        name = getattr(allow, "__name__", "a built-in")
        return _verdict(False, "", f"allow is Python's built-in `{name}`, not a limiter: it "
                        "does not return True or False.", "pass the function you defined "
                        "with def allow(r, user, limit, window, now):")
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
    if problem is None:
        problem = _builtin(allow)
    if problem is not None:
        return problem
    start = 1_000_000.0
    with RaceLab() as lab:
        lab.probe = _keys_without_expiry

        def ask(*args):                     # one call, its answer checked at once
            return _decision(lab.call(allow, *args))

        try:
            first = [ask("alice", 5, 1.0, start + 0.2) for _ in range(7)]
            past = _expiry_long_past(lab.trips)
            if past is not None:            # EXPIREAT from the virtual `now`: 1970 to Redis
                return _absolute_expiry_past(lab, *past)
            if first != [True] * 5 + [False] * 2:
                if not _wrote(lab.trips):   # nothing counted: not a TTL too short
                    return _nothing_counted(lab.trips, first)
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
            edge = [ask("alice", 5, 1.0, start + 1.01) for _ in range(6)]
            if edge != [True] * 5 + [False]:
                if _expired_early(lab, edge, 5):
                    return _ttl_in_milliseconds("in the next window, 6 requests", edge,
                                                _script_expires_at(lab.trips))
                return _verdict(False, "", f"in the next window the requests gave {edge}.",
                                "put the window number, int(now // window), in the key.")
            if [ask("bob", 5, 1.0, start + 0.2) for _ in range(5)] != [True] * 5:
                return _verdict(False, "", "bob was refused because of alice's requests.",
                                "put the user in the key too.")
            # A minute's window: the window argument used, the key kept for the rest of its
            # window (not milliseconds: PEXPIRE for EXPIRE) and not for ages.
            base = MINUTE * (int(start // MINUTE) + 1)          # a minute's window starts
            before = set(lab.keys())
            minute = [ask("dave", 3, MINUTE, base + s) for s in (5, 15, 25, 35)]
            if minute != [True] * 3 + [False]:
                if _expired_early(lab, minute, 3):     # a TTL of milliseconds, and a pause
                    return _ttl_in_milliseconds(f"with a {MINUTE:g} s window and a limit of "
                                                "3, four requests 10 s apart", minute,
                                                _script_expires_at(lab.trips))
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
            if not ask("dave", 3, MINUTE, base + MINUTE + 5):
                return _verdict(False, "", f"the next {MINUTE:g} s window refused dave's "
                                "first request.", "put the window number, int(now // "
                                "window), in the key.")
            lab.probe = None
            sequential = len(lab.trips)
            results = [ok for batch in lab.run(
                lambda c: _decision(allow(c, "carol", 20, 1.0, start + 0.5)), 8, 10)
                for ok in batch]
        except _NotADecision as wrong:
            return _not_a_decision(wrong.value)
        except RAISED as exc:
            return _raised("allow", exc)
        findings = list(lab.probe_findings)
        past = _expiry_long_past(lab.trips)
        if past is not None:
            return _absolute_expiry_past(lab, *past)
        loose = _count_then_expire_outside_multi(lab.trips[:sequential])
        race = [f for f in read_then_write(lab.trips[sequential:]) if _on_the_count(f)]
        order = _expire_before_count(lab.trips[:sequential])
        ttl_first = _ttl_then_expire(lab.trips[:sequential])
        forever = [k for k in lab.keys() if lab.admin.pttl(k) == -1]
    if not sequential:
        return _verdict(False, "", "allow sent no command to the r it was given.",
                        "use the r parameter of allow (the check passes its own client).")
    if race or sum(results) != 20:
        how = describe_race(race) or "more than one client acted on the same count"
        return _verdict(False, "", f"8 clients calling at once got {sum(results)} requests "
                        f"through a limit of 20: {how}. Read-then-write is not atomic.",
                        "let Redis count: INCR returns the new count in the same step, so "
                        "compare that with the limit.")
    if findings and order is not None:
        expire, count, together = order
        return _verdict(False, "", f"`{expire}` came before `{count}`: EXPIRE on a key that "
                        "does not exist yet does nothing (it returned 0), so the counter INCR "
                        "then made had no expiry.", "INCR first, then EXPIRE, "
                        + ("in the same transaction." if together else
                           "in one transaction: r.pipeline(transaction=True)."))
    if findings and ttl_first is not None:
        key, count, expire = ttl_first
        return _verdict(False, "", f"{key} had no expiry from `{count}` until `{expire}`, "
                        "with a TTL check in its own round trip in between: if the app server "
                        "crashed there, that key would never expire and would stay in memory "
                        "forever.", "send INCR and EXPIRE together in one transaction "
                        "(r.pipeline(transaction=True)), with EXPIRE ... NX if the key should "
                        "keep its first expiry.")
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


#: Commands that write no key (with READS): a call that sends only these counts nothing.
_NO_WRITE = frozenset("""MULTI EXEC DISCARD WATCH UNWATCH TIME PING ECHO SCAN KEYS DBSIZE INFO
    OBJECT MEMORY RANDOMKEY""".split())


def _wrote(trips) -> bool:
    """Whether any command the learner sent may have written a key (an unknown command is
    taken to have written one, so "nothing was counted" is said only when it is sure)."""
    return any(c[0] not in READS and c[0] not in _NO_WRITE for t in trips for c in t.commands)


def _nothing_counted(trips, got: list) -> Verdict:
    """The first window went wrong and no command wrote a key: nothing was counted (``allow``
    returns a constant, or reads only), which is not a TTL too short."""
    what = f"7 requests in one window with a limit of 5 gave {got}"
    through = " and every request got through" if all(got) else ""
    if not trips:
        return _verdict(False, "", f"{what}: allow sent no command to the r it was given, so "
                        f"nothing was counted in Redis{through}.", "on the r parameter, INCR "
                        "a key per user and window (int(now // window) in its name) and "
                        "compare the new count with the limit.")
    names = sorted({c[0] for t in trips for c in t.commands if c[0] in READS}) or \
        sorted({c[0] for t in trips for c in t.commands})
    return _verdict(False, "", f"{what}: allow only read from Redis ({', '.join(names)}) and "
                    f"wrote nothing, so nothing was counted{through}.", "INCR a key per user "
                    "and window (int(now // window) in its name) and compare the new count "
                    "with the limit.")


_EXPIRY_ONLY = _EXPIRES | {"PERSIST"}


def _on_the_count(found) -> bool:
    """Whether a read-then-write found by :func:`read_then_write` acts on the count: a value
    read (not a TTL) and a value written (not only an expiry). TTL, then EXPIRE if it was -1,
    leaves the count right: its flaw is the key without expiry in between, which the probe
    reports."""
    return found.read_name not in ("TTL", "PTTL") and \
        found.write_command()[0] not in _EXPIRY_ONLY


def _replies(trip) -> list:
    """One reply per command of ``trip``: a command queued in MULTI gets its place in EXEC's
    reply (None where there is none)."""
    out = [trip.replies[i] if i < len(trip.replies) else None
           for i in range(len(trip.commands))]
    queued = None
    for i, command in enumerate(trip.commands):
        if command[0] == "MULTI":
            queued = []
        elif command[0] in ("EXEC", "DISCARD"):
            results = out[i] if command[0] == "EXEC" and isinstance(out[i], list) else []
            for j, at in enumerate(queued or ()):
                out[at] = results[j] if j < len(results) else None
            queued = None
        elif queued is not None:
            queued.append(i)
    for at in queued or ():                 # a MULTI never executed: no replies
        out[at] = None
    return out


def _by_call(trips) -> dict:
    calls: dict = {}
    for trip in trips:
        if trip.client is not None:
            calls.setdefault((trip.client, trip.call), []).append(trip)
    return calls


def _expire_before_count(trips) -> tuple | None:
    """``(expire, count, together)`` for the first call that gave a key an expiry before the
    key existed (EXPIRE replied 0: it did nothing), then counted it, which made the key, and
    ended that round trip with the key still without an expiry; ``together`` when EXPIRE and
    the count were in one MULTI/EXEC. None if there is none."""
    for mine in _by_call(trips).values():
        pending: dict = {}          # key -> (EXPIRE command, trip, transaction) that did nothing
        for trip in mine:
            replies, block, made = _replies(trip), None, {}
            for i, command in enumerate(trip.commands):
                name = command[0]
                if name == "MULTI":
                    block = i
                elif name in ("EXEC", "DISCARD"):
                    block = None
                if len(command) < 2:
                    continue
                key = command[1]
                if name in ("EXPIRE", "PEXPIRE") and len(command) == 3 and \
                        replies[i] is not None and replies[i] in (0, False) and key not in made:
                    pending[key] = (" ".join(command), id(trip), block)
                elif name in _COUNTS and key in pending:
                    expire, where, was = pending.pop(key)
                    made[key] = (expire, " ".join(command),
                                 where == id(trip) and was is not None and was == block)
                elif name not in READS:
                    pending.pop(key, None)      # made some other way, or its expiry set
                    made.pop(key, None)
            if made:
                return next(iter(made.values()))
    return None


def _ttl_then_expire(trips) -> tuple | None:
    """``(key, count, expire)`` for the first call whose count made a key (INCR replied 1),
    read its TTL in a later round trip and gave it an expiry in a later one still: the key
    had none in between."""
    for mine in _by_call(trips).values():
        counted, read = {}, {}
        for n, trip in enumerate(mine):
            replies = _replies(trip)
            for i, command in enumerate(trip.commands):
                name = command[0]
                if len(command) < 2:
                    continue
                key = command[1]
                if name in _COUNTS and str(replies[i]) == (command[2] if len(command) > 2
                                                          else "1"):
                    counted.setdefault(key, (n, " ".join(command)))
                elif name in ("TTL", "PTTL") and key in counted and counted[key][0] < n:
                    read.setdefault(key, n)
                elif name in _EXPIRES and key in read and read[key] < n:
                    return key, counted[key][1], " ".join(command)
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
    """A hint that is true of ``value``: a mistake named only where the value matches it (one
    user's log and an answer in MB are the same factor with a million users: both are
    named), else what the answer is made of."""
    if not value > 0:
        return "memory is a positive number of bytes."
    if value == float("inf"):
        return "memory is a finite number of bytes: print the pieces of your calculation."

    def near(other, rtol=0.002):
        return abs(value - other) <= rtol * other

    units = [unit for unit, size in (("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3),
                                     ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10))
             if abs(value * size - want) <= 0.02 * want]
    unit = f"{units[0]}, or like " if units else ""
    if near(counter + limit * entry):
        return (f"that looks like {unit}one user's log: give the answer in bytes, for all the "
                "users together.")
    if near(limit * entry):
        return (f"that looks like {unit}one user's entries: count each user's key "
                "(BYTES_PER_COUNTER) too, and give the answer in bytes, for all the users "
                "together.")
    if units:
        return f"that looks like {units[0]}: give the answer in bytes."
    if near(8 * want, 0.02):
        return "that looks like bits: give the answer in bytes (8 bits each)."
    if near(users * limit * entry):
        return "did you count each user's key itself (BYTES_PER_COUNTER), beside its entries?"
    if near(users * counter):
        return ("that looks like one counter per user, a fixed window's memory: a sliding log "
                "keeps `limit` entries (BYTES_PER_LOG_ENTRY each) per user besides its key.")
    if near(users * (counter + entry)):
        return ("that looks like one entry per user: a full log holds `limit` entries per "
                "user.")
    if near(users * limit * counter) or near(users * limit * (counter + entry)):
        return ("that looks like one key (BYTES_PER_COUNTER) per entry: a user's log is one "
                "key, a sorted set, holding its `limit` entries.")
    return "per user: one key (BYTES_PER_COUNTER) plus `limit` entries (BYTES_PER_LOG_ENTRY " \
           "each); then multiply by the users."
