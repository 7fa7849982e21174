"""Checks for lesson 05 (ttl and expiry)."""
from __future__ import annotations

import math

from ._common import Verdict, _verdict, _answer


def check_ttl_for_staleness(ttl, update_rate: float, target: float = 0.01) -> Verdict:
    """05: a fixed TTL giving at most ``target`` stale hits, and not needlessly short."""
    from ..theory import stale_share_fixed_ttl
    value, verdict = _answer(ttl, "ttl")
    if verdict is not None:
        return verdict
    if not 0 < value < float("inf"):
        return _verdict(False, "", f"a TTL must be a positive number of seconds; got {value}.")
    stale = stale_share_fixed_ttl(value, update_rate)
    # A TTL rounded as this check prints it (12.1 s) passes: within half a unit of the
    # share's last printed digit (1.00% stands for up to 1.005%).
    if stale > target * (1 + 0.005):
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
    if abs(value - want) < 1e-3:
        return _verdict(True, f"{want:.4f}: per TTL cycle one miss, then on average {x:g} "
                        "hits.")
    known = [
        (1 - 1 / x, "counts the miss as one of the rate * ttl requests of the cycle.",
         "the miss comes first, and starts the cycle; rate * ttl more requests follow it."),
        (1 / (1 + x), "is the share that missed.", "the question asks for the share that hit."),
        # 1 - exp(-x) is within a hair of 1 for a large x: exactly 1 is the other mistake
        (1 - math.exp(-x) if value != 1.0 else math.nan, "is the hit ratio of a sliding TTL "
         "(each read restarts it): a miss only after a gap longer than the TTL.", "with a "
         "fixed TTL the key expires ttl seconds after its fill however often it is read: one "
         "miss per cycle."),
        (1.0, "would mean no read ever misses.", "every TTL cycle starts with one miss."),
        (x, "is a number of requests, not a share.", "divide hits by all requests of a cycle."),
        (100 * want, "looks like a percentage.", "give a share between 0 and 1."),
    ]
    for wrong, said, hint in known:
        if abs(value - wrong) < 1e-3 * max(1.0, abs(wrong)):
            return _verdict(False, "", f"{value:.4g} {said}", hint)
    return _verdict(False, "", f"{value:.4g} is {'too high' if value > want else 'too low'}.",
                    "one miss starts a cycle of ttl seconds in which rate * ttl requests hit; "
                    "the share that hit is hits over all requests of the cycle.")
