"""Checks for lesson 01 (redis basics)."""
from __future__ import annotations

import redis

from ._common import Verdict, _verdict, _missing, _function, _raised, _short, RAISED
from ._race import PYTHON_LOCK, SETS, RaceLab, describe_race, read_then_write
from ..live.client import key


def check_session(r, name: str | None = None) -> Verdict:
    """01: a session hash with ``user`` = alice that expires in about 30 minutes."""
    name = key("session", "alice") if name is None else name
    missing = _missing(r, "r")
    if missing is not None:
        return missing
    if not all(callable(getattr(r, m, None)) for m in ("type", "hgetall", "ttl")):
        return _not_a_client(r)
    try:
        kind = r.type(name)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hash":
            fields = {(k.decode() if isinstance(k, bytes) else k):
                      (v.decode() if isinstance(v, bytes) else v)
                      for k, v in r.hgetall(name).items()}
            ttl = r.ttl(name)
    except RAISED as exc:  # a closed or wrong client: one line, never a traceback
        return _raised("reading the session", exc)
    if kind == "none":
        return _verdict(False, "", f"there is no key {name!r}: it was never written, or it "
                        "has expired already (a TTL of 0 or less deletes it at once).",
                        "use r.hset(name, mapping={...}) and then r.expire(name, seconds), "
                        "for 30 minutes, in seconds.")
    if kind != "hash":
        return _verdict(False, "", f"{name!r} is a {kind}, not a hash.",
                        "delete it (r.delete) and store the session with HSET.")
    if "user" not in fields:
        others = ", ".join(repr(f) for f in list(fields)[:3]) + (" ..." if len(fields) > 3
                                                                  else "")
        return _verdict(False, "", f"the hash has no 'user' field (its fields: {others}).",
                        "the session belongs to user 'alice': store it in the field 'user'.")
    if fields["user"] != "alice":
        return _verdict(False, "", f"the hash's 'user' field is {_short(fields['user'])}.",
                        "the session belongs to user 'alice'.")
    if ttl == -1:
        return _verdict(False, "", "the session never expires (TTL is -1).",
                        "call r.expire(name, seconds) after writing it.")
    if ttl < 1700:
        return _verdict(False, "", f"the TTL is {ttl} s: the session would end too soon.",
                        "EXPIRE takes seconds: how many seconds are there in 30 minutes?")
    if ttl > 1800 * 100:
        hint = ("EXPIRE takes seconds, not milliseconds (that is PEXPIRE): how many seconds "
                "are there in 30 minutes?")
    else:
        hint = "30 minutes at most: how many seconds is that?"
    return _verdict(ttl <= 1800, f"The session will vanish by itself in {ttl} s.",
                    f"the TTL is {ttl} s: the session would live too long.", hint)


def _not_a_client(r) -> Verdict:
    """``r`` is not a Redis client: say what it is, and what likely replaced it."""
    if isinstance(r, bool):
        why = (" r.expire returns True or False: did `r = r.expire(...)` replace your "
               "client?")
    elif isinstance(r, int):
        why = (" r.hset returns the number of fields it set: did `r = r.hset(...)` replace "
               "your client?")
    else:
        why = ""
    kind = type(r).__name__
    return _verdict(False, "", f"r is {_short(r)}, {'an' if kind[0] in 'aeiou' else 'a'} "
                    f"{kind}, not a Redis client: the check needs the client r to read the "
                    f"session.{why}",
                    "run the cell with r = simlab.connect() again, and call r.hset(...) "
                    "without assigning its result to r.")


def check_view_counter(count_view, r=None, *, threads: int = 8, per_thread: int = 20) -> Verdict:
    """01: ``count_view(r, page)`` must count every view even when clients race.

    The check runs it on a private server (``r`` is not used, so a real server is never
    touched) through clients that take turns command by command: every client sends its next
    command before any sends the one after, so a read-then-write always loses updates. A lock
    in Python makes the clients wait for each other one call at a time (they are threads of
    one process), so the check also reads the log for a value read and written back (by
    whatever commands: a script that only reads, DEL then INCRBY...), and counts a view of
    another client in each gap between two round trips of one call, which no such lock holds
    back, as it holds back no other app server.
    """
    problem = _function(count_view, "count_view")
    if problem is not None:
        return problem
    page = "check-page"
    name = key("views", page)
    with RaceLab() as lab:
        try:
            lab.run(lambda c: count_view(c, page), threads, per_thread)
            kind = lab.admin.type(name)
            got = lab.admin.get(name) if kind == "string" else None
            lab.call(count_view, page, client=threads + 1)    # one more view, alone
            after = lab.admin.get(name) if lab.admin.type(name) == "string" else None
            race = read_then_write(lab.trips, {name}, writes=SETS, values=True)
            sent = len(lab.trips)
            # a view between two round trips, only for a function that adds one view a call:
            # one that adds two (INCR twice) is wrong whatever happens in between
            one_a_call = (got == str(threads * per_thread)
                          and after == str(threads * per_thread + 1))
            lost = None if race or not one_a_call else _lost_between(
                lab, count_view, page, name, client=threads + 2)
        except redis.WatchError:
            return _verdict(False, "", "count_view raised WatchError: WATCH saw another "
                            "client change a watched key before EXEC, so the transaction "
                            "did not run.", "catch redis.WatchError and start again from "
                            "WATCH, in a loop until EXEC succeeds.")
        except RAISED as exc:
            return _raised("count_view", exc)
        lock = _redis_lock(lab.trips, name)
        watched = any("WATCH" in trip.names for trip in lab.trips)
        others = [k for k in lab.keys() if k != name]
        locked = lab.turns_broken
    want = threads * per_thread
    if not sent:
        return _verdict(False, "", "count_view sent no command to the r it was given.",
                        "use the r parameter of count_view (the check passes its own client).")
    if kind == "none":
        wrote = ", ".join(k if len(k) <= 60 else k[:57] + "..." for k in others[:3])
        return _verdict(False, "", f"nothing was stored at {name}; count_view " + (
                        f"wrote {wrote}." if wrote else "stored nothing."),
                        "the key is simlab.key('views', page)." if wrote else "each call "
                        "should add one view to simlab.key('views', page) with a command "
                        "that writes.")
    if kind != "string" or not _count(got):
        held = f"the string {_short(got)}" if kind == "string" else f"a {kind}"
        return _verdict(False, "", f"{name} holds {held}, not a count.",
                        "a counter is a string holding an integer (INCR makes one).")
    got = _shown_count(got)
    retry = "when EXEC fails (WatchError), start again from WATCH, in a loop until EXEC " \
        "succeeds, so every view counts."
    if race:
        outcome = (f"the counter says {got}: " if got != want else
                   "the count came out right this time, but ")
        first = min(race, key=lambda f: (f.value is None, f.read.seq))
        if lock is None:
            aside, then, hint = PYTHON_LOCK, "lets updates be lost", (
                "use one command that reads and writes, so no client can act in between.")
        else:
            aside = ("(your lock in Redis keeps the others out only until it expires, and a "
                     "slow call can outlast it)" if lock == "expires" else
                     "(your lock in Redis keeps out only the clients that take it, and if "
                     "its holder crashes it is never released)")
            then, hint = "is safe only while the lock is held", (
                "a lock costs several round trips a view; one command that reads and writes "
                "needs no lock and cannot lose updates.")
        return _verdict(False, "", f"{threads} clients counted {want} views and {outcome}"
                        f"{describe_race(race, aside=aside)}. {first.read_name} then "
                        f"{first.how()} {then}.", hint)
    if isinstance(got, int) and 0 <= got < want:
        return _verdict(False, "", f"{threads} clients counted {want} views and the counter "
                        f"says {got}: updates were lost.", retry if watched else
                        "one command that reads and writes cannot lose updates.")
    if got == want and str(after) != str(want + 1):
        return _verdict(False, "", f"after {want} views the counter said {want}, but one more "
                        "view left " + (f"it at {_shown_count(after)}" if _count(after)
                                        else "no count there") + ": a count must come from "
                        "the views, not be written in.", "each call should add exactly one view.")
    if lost is not None:
        (first, then), rose, watched_call = lost
        moved = f"went up by {rose}" if rose > 0 else "did not go up" if rose == 0 else \
            "went down"
        why = ("; a lock in Redis holds back only the clients that take it" if lock else
               "; a lock in Python holds back only the threads of one process, not another "
               "app server" if locked else "")
        hint = retry if watched_call else ("use one command that reads and writes, so no "
                                           "client can act in between.")
        return _verdict(False, "", f"another client counted a view between two round trips "
                        f"of one count_view call ({_names(first)}, then {_names(then)}): two "
                        f"views, and the count {moved}{why}.", hint)
    return _verdict(got == want, f"All {want} views counted by {threads} clients taking turns "
                    "command by command.",
                    f"{threads} clients counted {want} views and the counter says {got}.",
                    "each call should add exactly one view.")


#: Gaps between round trips of one call in which check_view_counter counts another view.
_GAPS = 12


def _count(value) -> bool:
    """A count as the lab's admin client reads it back: a string of digits."""
    return isinstance(value, str) and value.lstrip("-").isdigit()


def _shown_count(value):
    """A count read back (a string of digits) as an int, or as words when it is too long to
    print; anything else cut short."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        digits = len(value.lstrip("-"))
        return int(value) if digits <= 30 else f"a number of {digits:,} digits"
    return value if value is None else _short(value)


def _redis_lock(trips, name):
    """How the learner's function takes a lock in Redis, from the log: "expires" for SET ...
    NX with an expiry (or an EXPIRE on the lock key), "forever" for SET ... NX or SETNX
    without; None when it takes none. A SET ... NX of the counter itself starts the count
    and is no lock."""
    locks, expiring = set(), set()
    for trip in trips:
        if trip.client is None:
            continue
        for command in trip.commands:
            op, target = command[0], command[1] if len(command) > 1 else None
            if target is None or target == name:
                continue
            flags = {w.upper() for w in command[3:]}
            if op == "SETNX" or (op == "SET" and "NX" in flags):
                locks.add(target)
                if flags & {"EX", "PX", "EXAT", "PXAT"}:
                    expiring.add(target)
            elif op in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "SETEX", "PSETEX"):
                expiring.add(target)
    if not locks:
        return None
    return "expires" if locks & expiring else "forever"


def _names(trip) -> str:
    names = trip.names
    return " ".join(names[:4]) + (" ..." if len(names) > 4 else "")


def _lost_between(lab, count_view, page, name, client):
    """The first gap between two round trips of one ``count_view`` call where a view counted
    by another client (INCR, which no lock of the learner's holds back) did not make the count
    go up by two: ``((trip before, trip after), how much it rose, whether the call WATCHed)``;
    None when there is no such gap."""
    failed = []

    def other_view(admin):
        try:
            admin.incr(name)
        except Exception as exc:  # not a count at that moment: this gap proves nothing
            failed.append(exc)

    for after in range(1, _GAPS + 1):
        before, first = lab.admin.get(name), len(lab.trips)
        _, gap = lab.interrupt(count_view, page, act=other_view, after=after, client=client)
        now = lab.admin.get(name) if lab.admin.type(name) == "string" else None
        if gap is None or failed or not (_count(before) and _count(now)):
            return None
        if int(now) != int(before) + 2:
            watched = any("WATCH" in trip.names for trip in lab.trips[first:])
            return gap, int(now) - int(before), watched
    return None
