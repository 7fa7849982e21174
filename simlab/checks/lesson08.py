"""Checks for lesson 08 (eviction)."""
from __future__ import annotations

import numpy as np

from ._common import Verdict, _verdict, _missing, _answer


def check_keys_that_fit(answer, maxmemory: int = 10 * 2**20, value_size: int = 100,
                        key_length: int = 12, ttl: bool = True) -> Verdict:
    """08: how many keys of ``key_length`` bytes with ``value_size``-byte values (and a TTL)
    fit in ``maxmemory`` bytes, by the memory model (buckets included)."""
    from .. import redis_memory as mem
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
