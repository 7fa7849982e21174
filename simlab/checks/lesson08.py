"""Checks for lesson 08 (eviction)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _verdict, _missing, _answer, _how_far, _near, _short


def _keys_that_fit(maxmemory, key_length, value_size, ttl) -> int:
    """The largest key count whose modelled data set fits in ``maxmemory`` (bisection)."""
    from .. import redis_memory as mem

    def fits(n):
        return n == 0 or mem.dataset_bytes(np.full(n, key_length), np.full(n, value_size),
                                           np.full(n, ttl)) <= maxmemory

    low, high = 0, maxmemory // mem.entry_bytes(key_length, value_size, has_ttl=ttl,
                                                 shared_integers=False) + 1
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def check_keys_that_fit(answer, maxmemory: int = 10 * 2**20, value_size: int = 100,
                        key_length: int = 12, ttl: bool = True) -> Verdict:
    """08: how many keys of ``key_length`` bytes with ``value_size``-byte values (and a TTL)
    fit in ``maxmemory`` bytes, by the memory model (buckets included)."""
    from .. import redis_memory as mem
    value, verdict = _answer(answer, "keys")
    if verdict is not None:
        return verdict
    per_key = mem.entry_bytes(key_length, value_size, has_ttl=ttl, shared_integers=False)
    n = _keys_that_fit(maxmemory, key_length, value_size, ttl)
    if abs(value - n) <= 0.01 * n:
        return _verdict(True, f"About {n:,} keys: {per_key} bytes each plus the hash tables' "
                        f"buckets, for {value_size}-byte values.")
    buckets = mem.BUCKET * mem.table_size(n)
    known = [
        (maxmemory // (key_length + value_size), "counts only the key's and the value's own "
         "bytes.", "each key costs more than its bytes: a dict entry, an object header, the "
         "TTL's entry. entry_bytes gives the total."),
        (maxmemory // per_key, "leaves no room for the buckets.", "two tables (keys, and keys "
         "with a TTL), 8 bytes a bucket, a power of two at or above the key count."),
        ((maxmemory - buckets) // per_key, "counts one table's buckets.", "a key with a TTL "
         "sits in two tables: the keys, and the keys with a TTL."),
        ((maxmemory - 2 * buckets) // mem.entry_bytes(key_length, value_size, has_ttl=False,
                                                      shared_integers=False),
         "leaves out the TTL's cost.", "entry_bytes(..., has_ttl=True): a TTL adds an entry."),
        ((10 * 10**6 - 2 * buckets) // per_key, "uses 10 MB (10^6 bytes each).",
         "10 MiB is 10 x 2^20 bytes."),
    ]
    for wrong, said, hint in known:
        if _near(value, wrong, rtol=0.005) and not abs(wrong - n) <= 0.01 * n:
            return _verdict(False, "", f"{value:,.0f} keys {said}", hint)
    return _verdict(False, "", f"{value:,.0f} keys is {_how_far(value, n)}.",
                    f"bytes per key from simlab.redis_memory.entry_bytes({key_length}, "
                    f"{value_size}, has_ttl={ttl}, shared_integers=False), and leave room for "
                    "the buckets (8 bytes each, two tables, a power of two at or above the key "
                    "count).")


def check_scan_policy(choice, evidence, results) -> Verdict:
    """08: the best policy for a workload with scans, with its hit ratio as evidence.

    ``results`` maps policy name to the simulated hit ratio of the regular (non-scan) reads.
    """
    missing = _missing(choice, "choice")
    if missing is not None:
        return missing
    given = results
    if hasattr(results, "items") and hasattr(results, "get"):   # a dict, or a Series of it
        results = dict(results.items())
    if not isinstance(results, dict) or not results or not all(
            isinstance(r, (int, float, np.integer, np.floating)) and not isinstance(r, bool)
            and r == r for r in results.values()):
        return _verdict(False, "", f"results is {_short(given)}, not the table of hit "
                        "ratios by policy.", "pass the `results` the cell above made, as the "
                        "exercise's last line does.")
    if isinstance(choice, str):    # "allkeys-LFU " names the policy as well as "allkeys-lfu"
        choice = next((p for p in results if str(p).lower() == choice.strip().lower()), choice)
    if not isinstance(choice, str) or choice not in results:
        return _verdict(False, "", f"{_short(choice)} is not one of the policies simulated: "
                        f"{', '.join(results)}.", "set choice to one of those names, a string.")
    best = max(results, key=results.get)
    if choice != best:
        return _verdict(False, "", f"{choice} keeps {results[choice]:.1%} of regular reads as "
                        f"hits; another policy does better.",
                        "compare the hit ratios in `results`: which one is highest, and why?")
    value, verdict = _answer(evidence, "evidence")
    if verdict is not None:
        return verdict
    if abs(value - results[best]) < 0.005:
        return _verdict(True, f"{best}: {results[best]:.1%} of regular reads hit, "
                        f"{100 * (results[best] - min(results.values())):.1f} percentage "
                        "points more than the worst policy. Frequency survives a scan; recency "
                        "does not.")
    if abs(value / 100 - results[best]) < 0.005:
        return _verdict(False, "", f"your evidence {value:.4g} looks like a percentage.",
                        "give the hit ratio as a share between 0 and 1, as in `results`.")
    other = next((p for p in results if p != best and abs(value - results[p]) < 0.005), None)
    if other is not None:
        return _verdict(False, "", f"your evidence is {other}'s hit ratio, not {best}'s.",
                        "quote the number from `results` for the policy you chose.")
    return _verdict(False, "", f"your evidence {value:.4g} is not {best}'s hit ratio in "
                    "`results`.", "quote the number from `results` for the policy you chose: "
                    "results[choice].")
