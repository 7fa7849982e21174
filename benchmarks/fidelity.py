"""The Redis model beside a private redis-server, request for request, on real-like traces.

Each trace is replayed as cache-aside (``simlab.eviction.replay``, one piece of redis-py code)
against a private ``redis-server`` (each read one Lua step: GET, and SET on a miss; pipelined
batches of 100; keys ``item:<n>``, 64-byte values, 60% of the keys with a TTL), and then the
same requests at the times they were sent against ``model://`` (simlab's Redis model behind
redis-py, on a virtual clock). Printed: hit ratio, keys held and evictions, server beside
model, and whether each is within the tolerances the tests use: hit ratio within 1.5 points
(model and model charged with the server's client buffers), keys within 5% and evictions within
10% of the charged model (uncharged, the model may hold the buffers' worth of keys more and
evict that many fewer).

    python benchmarks/fidelity.py                  # the full table (about an hour: the
                                                   # model answers ~3,000 scripts a second)
    python benchmarks/fidelity.py --requests 30000 # trace slices, faster

The CloudPhysics trace is read from ``../shared/traces/cloudphysics.txt`` (beside the
repository) when it is there.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import simlab
from simlab.eviction import compare_replay
from simlab.traces import first, real_like, with_values

ROOT = Path(__file__).resolve().parents[1]
CLOUDPHYSICS = ROOT.parent / "shared" / "traces" / "cloudphysics.txt"
POLICIES = [("allkeys-lru", 5), ("allkeys-lru", 10), ("allkeys-lfu", 5),
            ("allkeys-random", 5), ("volatile-ttl", 5)]
BUDGETS = [400_000, 900_000, 1_500_000]
HIT_POINTS, KEYS_SHARE, EVICTIONS_SHARE = 0.015, 0.05, 0.10


def traces(requests):
    out = {}
    if CLOUDPHYSICS.is_file():
        w = simlab.read_trace(CLOUDPHYSICS)
        out["cloudphysics"] = with_values(first(w, requests) if requests else w, seed=0)
    out["real-like"] = real_like(requests or 100_000, seed=1)
    return out


def within(row):
    """(hit ratio, keys, evictions) within tolerance, as ``tests/test_fidelity_traces.py``."""
    hit = all(abs(row["real_hit_ratio"] - row[f"{s}_hit_ratio"]) <= HIT_POINTS
              for s in ("model", "charged"))
    buffer_keys = row["real_other_bytes"] / (row["model_bytes"] / max(row["model_keys"], 1))
    keys_slack = KEYS_SHARE * row["real_keys"]
    surplus = row["model_keys"] - row["real_keys"]
    keys = (abs(row["real_keys"] - row["charged_keys"]) <= keys_slack
            and -keys_slack <= surplus <= keys_slack + buffer_keys)
    ev_slack = EVICTIONS_SHARE * max(row["real_evictions"], 1)
    shortfall = row["real_evictions"] - row["model_evictions"]
    ev = (abs(row["real_evictions"] - row["charged_evictions"]) <= ev_slack
          and -ev_slack <= shortfall <= ev_slack + buffer_keys)
    return hit, keys, ev


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=0,
                        help="replay only the first N requests of each trace (0: all)")
    parser.add_argument("--paced-requests", type=int, default=20_000,
                        help="requests of the paced runs (5,000 requests a second)")
    args = parser.parse_args(argv)
    if not simlab.live.redis_server_binary():
        print("fidelity: no redis-server binary on the PATH; install one (apt install "
              "redis-server) to compare the model with a real server.")
        return 0
    rows = []
    for name, w in traces(args.requests).items():
        runs = [(p, s, b, None, w) for p, s in POLICIES for b in BUDGETS]
        paced = first(w, args.paced_requests)
        runs += [(p, s, b, 5000.0, paced) for p, s in POLICIES for b in BUDGETS]
        for policy, samples, budget, rate, trace in runs:
            tic = time.time()
            row = compare_replay(trace, policy, budget, samples=samples, rate=rate, seed=1,
                                 buffers=True)
            row["trace"] = name
            rows.append(row)
            print(f"  {name} {policy}/{samples} {budget:,} B {'paced' if rate else 'unpaced'}: "
                  f"{time.time() - tic:.0f} s", file=sys.stderr, flush=True)
    print("| trace | policy | samples | maxmemory | pacing | requests | hit ratio server | "
          "model | keys server | model | charged | evictions server | model | charged | "
          "OOM server | model | buffers KB | same outcome | within |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
          "---: | ---: | ---: | ---: | ---: | ---: | --- |")
    failures = 0
    for r in rows:
        ok = within(r)
        failures += not all(ok)
        marks = "/".join("yes" if x else "NO" for x in ok)
        print(f"| {r['trace']} | {r['policy']} | {r['samples']} | {r['maxmemory']:,} | "
              f"{'5,000/s' if r['rate'] else 'none'} | {r['requests']:,} | "
              f"{r['real_hit_ratio']:.4f} | {r['model_hit_ratio']:.4f} | "
              f"{r['real_keys']:,} | {r['model_keys']:,} | {r['charged_keys']:,} | "
              f"{r['real_evictions']:,} | {r['model_evictions']:,} | "
              f"{r['charged_evictions']:,} | {r['real_oom_errors']:,} | "
              f"{r['model_oom_errors']:,} | {r['real_other_bytes'] / 1000:.1f} | "
              f"{r['same_outcome']:.1%} | {marks} |")
    print(f"\n{len(rows) - failures} of {len(rows)} runs within all three tolerances "
          f"(hit ratio {HIT_POINTS * 100:.1f} points / keys {KEYS_SHARE:.0%} / evictions "
          f"{EVICTIONS_SHARE:.0%}).")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
