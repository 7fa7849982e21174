"""Checks for lesson 11 (scaling out: hash slots, the hot shard, a near cache)."""
from __future__ import annotations

import math
import re

import numpy as np

from ._common import Verdict, _answer, _how_far, _missing, _near, _short, _verdict


def _numbers(tag: str) -> list:
    """The whole numbers a hash tag names, as ints: ``user-42``, ``user:42``, ``user_42``,
    ``u42``, ``42`` and ``user:00042`` all name 42 (a hyphen after a letter or a digit
    separates words). A hyphen that starts the tag or follows a separator is a minus sign:
    ``user:-42`` and ``-42`` name -42."""
    found = []
    for match in re.finditer(r"(?<![0-9])[0-9]+", tag):
        start = match.start()
        minus = (start > 0 and tag[start - 1] == "-"
                 and (start == 1 or not tag[start - 2].isalnum()))
        found.append(-int(match.group()) if minus else int(match.group()))
    return found


def _whole(user_id):
    """``user_id`` as an int when it is a whole number (42, "42"), else as it is."""
    try:
        return int(str(user_id).strip())
    except ValueError:
        return user_id


def check_same_slot(cart_key, profile_key, user_id=42) -> Verdict:
    """11: two key names for user ``user_id``'s cart and profile that land in the same hash
    slot (so one MULTI or MGET can use both) without putting every user in that slot."""
    from ..sharding import hash_tag, key_slot

    for what, value in (("cart_key", cart_key), ("profile_key", profile_key)):
        missing = _missing(value, what)
        if missing is not None:
            return missing
        if not isinstance(value, (str, bytes)):
            return _verdict(False, "", f"{what} should be a key name (a string); got "
                            f"{_short(value)}.")
    as_bytes = [k.encode() if isinstance(k, str) else bytes(k) for k in (cart_key, profile_key)]
    if as_bytes[0] == as_bytes[1]:
        return _verdict(False, "", "the two names are the same key.",
                        "the cart and the profile are two different keys.")
    if key_slot(cart_key) != key_slot(profile_key):
        if "{}" in str(cart_key) + str(profile_key):
            return _verdict(False, "", "the keys land in different slots: an empty tag {} is "
                            "ignored, and the whole key is hashed.",
                            "put the part both keys share between the braces.")
        return _verdict(False, "", "the keys land in different slots.",
                        "only the part between { and } is hashed when there is one: give both "
                        "keys the same hash tag (simlab.sharding.key_slot shows the slot).")
    if hash_tag(cart_key) == as_bytes[0] or hash_tag(profile_key) == as_bytes[1]:
        return _verdict(False, "", "the keys share a slot, but without a hash tag: by luck of "
                        "the hash, not by design.", "put the part both keys share between "
                        "{ and }: only that part is hashed.")
    tag = hash_tag(cart_key).decode("utf-8", "replace")
    numbers = _numbers(tag)
    want = _whole(user_id)
    if numbers and want not in numbers:
        return _verdict(False, "", f"same slot, but the tag {{{tag}}} names another number, "
                        f"not user {user_id}: it would be the slot of someone else's keys.",
                        f"put user {user_id}'s own id in the tag, as a whole number.")
    if want not in numbers:
        return _verdict(False, "", f"same slot, but the tag {{{tag}}} does not name the user: "
                        "every user's cart and profile would share that one slot (and node).",
                        "put the user id in the tag, so each user gets a slot of their own.")
    return _verdict(True, f"Both keys hash only {{{tag}}}: slot {key_slot(cart_key)}, and "
                    "another user's keys go elsewhere.")


def check_hot_shard_ratio(answer, n_shards: int = 100, n_keys: int = 100_000,
                          alpha: float = 1.0) -> Verdict:
    """11: the least the hottest key's shard carries, as a multiple of the mean load per shard,
    under Zipf(``alpha``) over ``n_keys`` keys on ``n_shards`` shards."""
    from ..workloads import zipf_probabilities

    value, verdict = _answer(answer, "ratio")
    if verdict is not None:
        return verdict
    top = float(zipf_probabilities(n_keys, alpha)[0])
    want = top * n_shards
    if abs(value - want) <= 0.02 * want:
        return _verdict(True, f"At least {want:.3g} times the mean: that key alone, and more "
                        "shards only lower the mean.")
    known = [(top, "is the key's share of all requests.", "the mean shard gets 1 / n_shards "
              "of the requests: divide by that."),
             (1.0 / n_shards, "is the mean shard's share.", "compare the hottest key's share "
              "with it."),
             (top * 100, "looks like a percentage.", "give the ratio, not a percentage."),
             (1.0, "would be a perfectly balanced cluster.", "look at the hottest key's share "
              "(simlab.workloads.zipf_probabilities).")]
    for wrong, said, hint in known:
        if _near(value, wrong, rtol=0.02) and not abs(wrong - want) <= 0.02 * want:
            return _verdict(False, "", f"{value:.3g} {said}", hint)
    return _verdict(False, "", f"{value:.3g} is {_how_far(value, want)}.",
                    "the hottest key's share of requests divided by the mean shard's share.")


def check_near_cache_size(answer, workload, target: float = 0.5) -> Verdict:
    """11: the smallest near cache (in keys, LRU) that answers at least ``target`` of
    ``workload``'s reads locally; within 10% above the smallest passes."""
    from ..curves import lru_curve

    value, verdict = _answer(answer, "size")
    if verdict is not None:
        return verdict
    if isinstance(answer, bool) or not math.isfinite(value) or value != int(value) or value < 1:
        return _verdict(False, "", f"size should be a whole number of keys, 1 or more; got "
                        f"{_short(answer)}.")
    size = int(value)
    from ..workloads import Workload
    if not isinstance(workload, Workload):
        return _verdict(False, "", f"the reads are {_short(workload)}, not a simlab workload.",
                        "pass reads, the workload simlab.zipf made, as the exercise's last "
                        "line does (if the name now holds something else, run the cell that "
                        "makes reads again).")
    unique = int(np.unique(workload.keys).size)
    curve = lru_curve(workload, sizes=list(range(1, unique + 1)))
    ratios = curve["hit_ratio"].to_numpy()
    reachable = np.flatnonzero(ratios >= target)
    if reachable.size == 0:
        return _verdict(False, "", "no near cache reaches that share on this workload.")
    want = int(reachable[0]) + 1
    got = float(ratios[min(size, unique) - 1])
    if got < target:
        return _verdict(False, "", f"with {size:,} key{'s' * (size != 1)} the near cache "
                        f"answers less than {target:.0%} of the reads.", "look for the first size on the LRU "
                        "curve (simlab.lru_curve) whose hit ratio reaches the target.")
    if size > 1.1 * want:
        return _verdict(False, "", f"{size:,} keys reach the target, but {_how_far(size, want)}"
                        " for the smallest size that does.",
                        "a smaller near cache also gets there: every key kept costs memory in "
                        "every client.")
    return _verdict(True, f"About {want:,} keys in each client answer {target:.0%} of the "
                    "reads without a round trip.")
