"""Checks for lesson 09 (invalidation and stampedes)."""
from __future__ import annotations

import math

import numpy as np

from ._common import (Verdict, _answer, _function, _how_far, _near, _num, _raised, _short,
                      _verdict, RAISED)
from ._race import RaceLab


def check_stale_read_share(answer, read_rate: float = 0.2, update_rate: float = 1 / 60,
                           ttl: float = 30.0) -> Verdict:
    """09: share of all reads of one key that are stale under a fixed TTL and no deletes."""
    from ..stampede import ttl_only_staleness

    value, verdict = _answer(answer, "stale_share")
    if verdict is not None:
        return verdict
    model = ttl_only_staleness(read_rate, update_rate, ttl)
    want = model["stale_share"]
    # right to 1%, or rounded to two decimals (0.18): the nearest mistake is 15% away
    if _near(value, want, rtol=0.01) or _near(value, round(want, 2), rtol=1e-9):
        return _verdict(True, f"About {want:.0%} of reads are stale: the hit ratio times the "
                        "share of hits that come after an update.")
    approximations = (model["hit_ratio"] * update_rate * ttl / 2, update_rate * ttl / 2)
    # the two mistakes lie within 1% of each other here: an exact formula's value first
    if any(_near(value, a, rtol=1e-4) for a in approximations):
        hint = "mu*T/2 is the small-mu*T approximation; use 1 - (1 - exp(-mu*T)) / (mu*T)."
    elif _near(value, model["stale_share_of_hits"], rtol=0.01):
        hint = "that is the share of hits; misses read the filing room and are never stale."
    elif any(_near(value, a, rtol=0.01) for a in approximations):
        hint = "mu*T/2 is the small-mu*T approximation; use 1 - (1 - exp(-mu*T)) / (mu*T)."
    elif value > 1 or value < 0:
        hint = "a share is between 0 and 1."
    else:
        hint = "hit ratio l*T/(1+l*T), times the stale share of hits 1-(1-exp(-mu*T))/(mu*T)."
    return _verdict(False, "", f"{_num(value)} is {_how_far(value, want)}.", hint)


LOCK_MS = 30_000        # the locks the check sets live this long: long enough to outlast it
MAX_TRIPS = 64          # the round trips of one release the swap is tried after, at most


class _SwapAfterTrip:
    """A probe: right after the learner's ``k``-th round trip, if the lock still holds
    ``token``, it expires and another client takes it (the lab writes ``other``)."""

    def __init__(self, token, other, k):
        self.token, self.other, self.k = token, other, k
        self.seen: list = []
        self.swapped = self.after = None

    def __call__(self, admin, last):
        if last is not None and (not self.seen or self.seen[-1] is not last):
            self.seen.append(last)
            if len(self.seen) == self.k and admin.get("lock") == self.token:
                admin.set("lock", self.other, px=LOCK_MS)
                self.swapped, self.after = True, last
        return None


class _Untouched:
    """A probe: another client's lock must hold its token between any two round trips (a
    lock deleted and put back is free in between: a third client could take it)."""

    def __init__(self, other):
        self.other = other

    def __call__(self, admin, last):
        if last is not None and admin.get("lock") != self.other:
            return (f"after `{last}` another client's lock was gone, so a third client could "
                    "have taken it")
        return None


def _is_bool(said) -> bool:
    """True or False, as Python or numpy gives it, or the 1 or 0 a script returns. Anything
    else is named before the check compares it (an array's truth value raises, and so does
    the repr of a number of 5,000 digits)."""
    if isinstance(said, (bool, np.bool_)):
        return True
    return isinstance(said, (int, np.integer)) and said in (0, 1)


def _not_bool(said) -> Verdict:
    return _verdict(False, "", f"release must return True or False; it returned "
                    f"{_short(said)}.", "return whether it deleted the lock.")


def check_release(release) -> Verdict:
    """09: ``release(r, lock_key, token) -> bool``: delete the lock only if it holds ``token``,
    and return whether it did.

    The check runs it on a private server: it must delete its own lock (True), leave another
    client's lock alone between every two of its round trips and with its TTL (False), and
    stay right when the lock expires and is taken by another client right after any one of
    its round trips (each tried in turn, on calls of their own, up to :data:`MAX_TRIPS`: a
    compare in one trip and a delete in a later one always meets the swap in between)."""
    problem = _function(release, "release")
    if problem is not None:
        return problem
    import secrets
    mine = f"tok-{secrets.token_hex(4)}"
    theirs = mine + "7"          # yours is a prefix of theirs: a substring match is caught
    with RaceLab() as lab:
        try:
            lab.admin.set("lock", mine, px=LOCK_MS)
            said = lab.call(release, "lock", mine, client=1)
            if lab.admin.exists("lock"):
                return _verdict(False, "", "release of your own lock left it in place.",
                                "delete the key when its value equals your token.")
            if not _is_bool(said):
                return _not_bool(said)
            if not said:
                return _verdict(False, "", f"release deleted its own lock but returned "
                                f"{said!r}.", "return whether it deleted the lock: True here.")
            lab.admin.set("lock", theirs, px=LOCK_MS)
            lab.probe = _Untouched(theirs)
            said = lab.call(release, "lock", mine, client=2)
            lab.probe = None
            findings = list(lab.probe_findings)
            if lab.admin.get("lock") != theirs:
                return _verdict(False, "", "release deleted a lock that held another "
                                "client's token.", "compare the lock's value with your "
                                "token before deleting.")
            if findings:
                return _verdict(False, "", findings[0] + ".", "never take the lock away and "
                                "put it back: compare, and delete only your own, in one step.")
            left = lab.admin.pttl("lock")
            if left < 0:
                return _verdict(False, "", "another client's lock lost its expiry: release "
                                "wrote it back without a TTL, and it would never expire.",
                                "leave a lock that is not yours untouched.")
            if not LOCK_MS - 5_000 <= left <= LOCK_MS:
                return _verdict(False, "", "release changed the expiry of another client's "
                                "lock: its holder counts on the TTL it set.",
                                "leave a lock that is not yours untouched.")
            if not _is_bool(said):
                return _not_bool(said)
            if said:
                return _verdict(False, "", f"release left another client's lock alone (right) "
                                f"but returned {said!r}.", "return whether it deleted the "
                                "lock: False here.")
            # The swap after each round trip in turn, until a call ends before the trip
            # tried (a release may take more trips on a later call than on its first).
            for k in range(1, MAX_TRIPS + 1):
                lab.admin.set("lock", mine, px=LOCK_MS)
                swap = lab.probe = _SwapAfterTrip(mine, theirs, k)
                said = lab.call(release, "lock", mine, client=2 + k)
                lab.probe = None
                kept = lab.admin.get("lock")
                if swap.swapped and kept != theirs:
                    return _verdict(False, "", f"your lock expired right after `{swap.after}`, "
                                    "another client took it, and release then deleted the "
                                    "other client's lock.", "compare and delete in one step: "
                                    "a Lua script with GET and DEL (r.register_script), or "
                                    "WATCH plus MULTI/EXEC.")
                if not _is_bool(said):
                    return _not_bool(said)
                if bool(said) != (kept is None and not swap.swapped):
                    return _verdict(False, "", f"release returned {said!r}, but it "
                                    f"{'left the lock alone' if kept else 'deleted the lock'}.",
                                    "return whether it deleted the lock.")
                if len(swap.seen) < k:
                    break
        except RAISED as exc:
            return _raised("release", exc)
    return _verdict(True, "Your release deletes only its own lock, even when the lock changes "
                    "hands between two round trips, and says whether it did.")


def check_stampede_size(answer, rate: float = 2000.0, recompute: float = 0.25) -> Verdict:
    """09: recomputations started at one expiry with no protection."""
    value, verdict = _answer(answer, "concurrent")
    if verdict is not None:
        return verdict
    want = rate * recompute
    if _near(value, want, rtol=0.05):
        return _verdict(True, "Right: every request in the recompute's window misses and "
                        "queries the filing room.")
    if _near(value, rate / recompute, rtol=0.01):
        hint = "multiply, don't divide: requests per second times seconds the query takes."
    elif _near(value, rate * recompute * 1000, rtol=0.05):
        hint = "the recompute time in seconds, not milliseconds: requests per second times " \
               "seconds."
    elif _near(value, rate, rtol=0.01) or _near(value, 1.0, rtol=0.01):
        hint = "only requests that arrive while the first recompute runs miss: how many is that?"
    else:
        hint = "count the requests that arrive before the first recompute fills the key."
    return _verdict(False, "", f"{_num(value)} is {_how_far(value, want)}.", hint)


def check_write_behind_loss(answer, rate: float = 200.0, flush_interval: float = 0.5) -> Verdict:
    """09: acknowledged writes a crash at a random moment loses, on average, under
    write-behind flushing every ``flush_interval`` seconds."""
    value, verdict = _answer(answer, "expected_lost")
    if verdict is not None:
        return verdict
    want = rate * flush_interval / 2
    if _near(value, want, rtol=0.02):
        return _verdict(True, "Right: on average a crash lands halfway between two flushes.")
    if _near(value, rate * flush_interval, rtol=0.02):
        hint = "that is the worst case, a crash just before a flush; on average it lands halfway."
    elif math.isclose(value, 0.0, abs_tol=1e-9):
        hint = "write-behind acknowledges before the filing room has the write."
    elif _near(value, want * 1000, rtol=0.02) or _near(value, 2 * want * 1000, rtol=0.02):
        hint = "the flush interval in seconds, not milliseconds."
    else:
        hint = "writes per second times the time since the last flush, on average."
    return _verdict(False, "", f"{_num(value)} is {_how_far(value, want)}.", hint)
